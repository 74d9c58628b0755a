"""Load test: concurrent visitors search the app on loopback while the model changes under them.

    .venv/bin/python scripts/load_test.py [--data-dir var] [--sessions 20] [--duration 60]

Works on a private copy of the deployment in --data-dir (its active model must exist: run
`python -m core build` first), so the original is never touched. In the copy it builds a second
version with a different number of topics, so that an answer mixing two versions could not pass
the check below, and activates the original again. Then it starts the app on a free port and
opens --sessions visitor sessions in headless Chromium, one browser context each. Each visitor
queries in a loop, with 1 to 3 s of thinking between queries. Two visitors in three search by
words, one in three by photo, alone or with words. The clock starts when every session has the
search form on screen. At a third of the run an admin applies new live weights; at two thirds,
the admin activates the second version.

Reported (and written to reports/load.json):
- queries answered and failed, where failed means no results within --timeout or an error on
  the page. Failed queries keep a screenshot in test-artifacts/;
- latency from the click on Search until the results are on screen, p50 and p99, and the
  server-side search time the app recorded;
- the CPU time the app server and Chromium used during the run: on one machine the visitors'
  browsers compete with the server for the same cores;
- the check: every search recorded during the run, computed again offline with the version and
  weights it was recorded with, gives the same ranking, so it was answered wholly from one version.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import Browser, Page, async_playwright
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from admin import auth, versions
from core.building.pipeline import build, copy_deployment
from core.reading.images import content_hash
from core.serving.answers import SearchRequest
from core.serving.engine import Query, SearchEngine
from core.serving.model import ModelParams
from core.serving.service import Service
from core.settings import REPO_ROOT, Settings, load_settings
from core.storage import database, store
from core.storage.searches import Search
from tests.browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    NEW_RESULTS_SCRIPT,
    RESULTS_CAPTION,
    SCRIPT_IDLE_SCRIPT,
    serve_app,
)

WORDS = ["цветы", "horse", "собака", "red apple", "музыка", "bird", "машина", "рыба", "fruit",
         "кошка", "tree", "guitar", "звезда", "ship", "яблоко", "house"]  # fmt: skip
PHOTOS = sorted((REPO_ROOT / "tests" / "fixtures" / "images").glob("*.jpg"))
PAGE_SIZE = 12  # results the search page asks for first


@dataclass
class Outcome:
    visitor: int
    kind: str  # "text", "photo" or "photo+text": what the visitor asked for
    started_s: float  # since the clock started
    latency_ms: float | None = None
    search_id: int | None = None
    error: str | None = None


def prepare(source: Settings, workdir: Path) -> tuple[Settings, str, str]:
    """The private copy with its original version active and a second one ready."""
    copy = copy_deployment(source, workdir / "data")
    with database.open_database(copy.database_url)() as session:
        original = store.active_version(session)
        if original is None:
            raise SystemExit(f"no active model in {source.data_dir}: run `python -m core build`")
        original_id, original_name = original.id, original.name
        topics = original.params["model"]["num_topics"]
    params = replace(ModelParams(), num_topics=max(2, topics // 2))
    print(f"Building a second version ({params.num_topics} topics) in the copy…", flush=True)
    second = build(copy, params=params).version_name
    with database.open_database(copy.database_url)() as session:
        store.activate_version(session, original_id)
        session.commit()
    return copy, original_name, second


async def run_visitors(
    url: str, sessions: int, duration: float, timeout: float, admin_events
) -> tuple[list[Outcome], dict[str, float]]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        pages = await asyncio.gather(*(open_visitor(browser, url) for _ in range(sessions)))
        print(f"{sessions} sessions have the search form; the clock starts.", flush=True)
        cpu_before = cpu_seconds()
        started = time.monotonic()
        outcomes: list[Outcome] = []
        await asyncio.gather(
            admin_events(started),
            *(
                visitor(page, number, started, duration, timeout, outcomes)
                for number, page in enumerate(pages)
            ),
        )
        elapsed = time.monotonic() - started
        cpu_after = cpu_seconds()
        await browser.close()
    cpu = {name: round(cpu_after[name] - cpu_before.get(name, 0.0), 1) for name in cpu_after}
    return outcomes, {"wall_s": round(elapsed, 1), **cpu}


def cpu_seconds() -> dict[str, float]:
    """CPU time used so far by the app server and by Chromium (all its processes), from /proc:
    where the machine's time goes when visitors and server share it."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"app_server_cpu_s": 0.0, "chromium_cpu_s": 0.0}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ")
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        if b"streamlit run" in command:
            used["app_server_cpu_s"] += seconds
        elif os.path.basename(command.split(b" ")[0]) == b"chromium":
            used["chromium_cpu_s"] += seconds
    return used


async def open_visitor(browser: Browser, url: str) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    await page.goto(url)
    await page.get_by_role("textbox", name="Words").wait_for(timeout=180_000)
    return page


async def visitor(
    page: Page, number: int, started: float, duration: float, timeout: float, outcomes: list
) -> None:
    """One visitor's queries until the clock runs out; consecutive queries always differ."""
    rng = random.Random(number)
    by_photo = number % 3 == 2
    query_number = number
    while (elapsed := time.monotonic() - started) < duration:
        text = WORDS[query_number % len(WORDS)]
        photo = PHOTOS[query_number % len(PHOTOS)] if by_photo else None
        if photo is not None and query_number % 2:
            text = ""
        kind = "text" if photo is None else ("photo+text" if text else "photo")
        outcome = Outcome(number, kind, round(elapsed, 2))
        try:
            outcome.latency_ms, outcome.search_id = await timed_search(page, text, photo, timeout)
        except Exception as error:  # a failed query is a result of the test, not its end
            outcome.error = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            await page.screenshot(path=ARTIFACTS / f"load-failure-{number}-{query_number}.png")
            await page.reload()
            await page.get_by_role("textbox", name="Words").wait_for(timeout=timeout * 1000)
        outcomes.append(outcome)
        query_number += 1
        await asyncio.sleep(rng.uniform(1, 3))


async def timed_search(
    page: Page, text: str, photo: Path | None, timeout: float
) -> tuple[float, int]:
    """Fill the form, click Search, wait for new results; the latency and the search's id."""
    caption = page.locator(RESULTS_CAPTION)
    before = await caption.inner_text() if await caption.count() else ""
    if photo is not None:
        await page.locator("input[type=file]").set_input_files(photo)
        await page.locator("[data-testid='stFileChipName']", has_text=photo.name).wait_for(
            timeout=timeout * 1000
        )
        await page.locator("[data-testid='stFileChipIconSpinner']").wait_for(
            state="detached", timeout=timeout * 1000
        )  # uploaded
    await page.get_by_role("textbox", name="Words").fill(text)
    clicked = time.perf_counter()
    await page.get_by_role("button", name="Search", exact=True).click()
    await page.wait_for_function(NEW_RESULTS_SCRIPT, arg=before, timeout=timeout * 1000)
    await page.wait_for_function(SCRIPT_IDLE_SCRIPT, timeout=timeout * 1000)
    latency_ms = (time.perf_counter() - clicked) * 1000
    if await page.locator("[data-testid='stException']").count():
        raise RuntimeError("the page shows an exception")
    found = re.search(r"search #(\d+)", await caption.inner_text())
    if found is None:
        raise RuntimeError("the results do not name a recorded search")
    return latency_ms, int(found.group(1))


def check_rankings(settings: Settings, first_search_id: int) -> dict:
    """Every search recorded since ``first_search_id``, computed again offline with the version
    and weights it was recorded with: how many give the same ranking, per version and weights."""
    service = Service(settings)  # for its text processor and photo vectorizer
    photos = {content_hash(path.read_bytes()): path.read_bytes() for path in PHOTOS}
    engines: dict[str, SearchEngine] = {}
    groups: dict[str, dict[str, int]] = {}
    with service.sessions() as session:
        searches = session.scalars(select(Search).where(Search.id >= first_search_id)).all()
        for recorded in searches:
            if recorded.version_name not in engines:
                version = store.get_version(session, recorded.version_name)
                engines[recorded.version_name] = SearchEngine(
                    Path(version.artifact_dir),
                    version.name,
                    service.processor,
                    service.vectorizer_for(service.backbone_of(version)),
                )
            query = Query(text=recorded.text, image=photos.get(recorded.image_hash))
            again = engines[recorded.version_name].search(
                SearchRequest(query, len(recorded.result_ids) or PAGE_SIZE, recorded.weights)
            )
            same = [hit.id for hit in again.hits] == recorded.result_ids
            key = f"{recorded.version_name} {json.dumps(recorded.weights, sort_keys=True)}"
            group = groups.setdefault(key, {"searches": 0, "same_ranking": 0, "with_photo": 0})
            group["searches"] += 1
            group["same_ranking"] += same
            group["with_photo"] += recorded.image_hash is not None
    return groups


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (no interpolation: a reported p99 is a measured latency)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))]


def summarize(outcomes: list[Outcome], server_ms: list[float], groups: dict, events: dict) -> dict:
    answered = [o for o in outcomes if o.error is None]
    latencies = [o.latency_ms for o in answered]
    return {
        "queries": len(outcomes),
        "answered": len(answered),
        "failed": len(outcomes) - len(answered),
        "by_kind": {k: sum(o.kind == k for o in outcomes) for k in ("text", "photo", "photo+text")},
        "latency_ms_p50": round(statistics.median(latencies)) if latencies else None,
        "latency_ms_p99": round(percentile(latencies, 0.99)) if latencies else None,
        "latency_ms_max": round(max(latencies)) if latencies else None,
        "server_search_ms_p50": round(statistics.median(server_ms), 1) if server_ms else None,
        "server_search_ms_p99": round(percentile(server_ms, 0.99), 1) if server_ms else None,
        "events_s": events,
        "recorded_searches": groups,
        "failures": [asdict(o) for o in outcomes if o.error is not None],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=load_settings().data_dir)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60, help="seconds of queries")
    parser.add_argument("--timeout", type=float, default=60, help="seconds for one query")
    parser.add_argument("--report", type=Path, default=REPO_ROOT / "reports" / "load.json")
    args = parser.parse_args()
    if args.sessions < 1 or args.duration <= 0 or args.timeout <= 0:
        parser.error("--sessions, --duration and --timeout must be positive")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    source = load_settings({**os.environ, "TOPICSEARCH_DATA_DIR": str(args.data_dir)})
    with tempfile.TemporaryDirectory(prefix="topicsearch-load-") as workdir:
        settings, original, second = prepare(source, Path(workdir))
        sessions = database.open_database(settings.database_url)
        with sessions() as session:
            admin = auth.add_user(session, "load-test", "admin", secrets.token_urlsafe(), "load")
            session.commit()
            first_search_id = (session.scalar(select(func.max(Search.id))) or 0) + 1
            live = store.modality_weights(session, store.active_version(session).id)
        # Halve and double the weights in turn, so the balance between modalities changes.
        changed = {name: w * (0.5, 2)[n % 2] for n, (name, w) in enumerate(sorted(live.items()))}
        events: dict[str, float] = {}

        def change_weights(session: Session) -> None:
            versions.apply_live_weights(session, admin, changed)

        def activate_second(session: Session) -> None:
            versions.activate(session, admin, second)

        async def admin_events(started: float) -> None:
            plan = [
                (args.duration / 3, "live_weights", change_weights),
                (2 * args.duration / 3, "activation", activate_second),
            ]
            for at, name, change in plan:
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                await asyncio.to_thread(_in_session, sessions, change)
                events[name] = round(time.monotonic() - started, 2)
                print(f"{events[name]:6.1f} s  {name}", flush=True)

        with serve_app(settings.data_dir) as url:
            outcomes, cpu = asyncio.run(
                run_visitors(url, args.sessions, args.duration, args.timeout, admin_events)
            )
        with sessions() as session:
            server_ms = list(
                session.scalars(select(Search.latency_ms).where(Search.id >= first_search_id))
            )
        groups = check_rankings(settings, first_search_id)
    report = {
        "command": " ".join(["scripts/load_test.py", *sys.argv[1:]]),
        "sessions": args.sessions,
        "duration_s": args.duration,
        "versions": {"first": original, "second": second},
        "cpu_during_run": cpu,
        **summarize(outcomes, server_ms, groups, events),
    }
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "failures"}, indent=2))
    mismatched = sum(g["searches"] - g["same_ranking"] for g in groups.values())
    if report["failed"] or mismatched:
        raise SystemExit(f"{report['failed']} failed queries, {mismatched} mismatched rankings")


def _in_session(sessions, change) -> None:
    with sessions() as session:
        change(session)
        session.commit()


if __name__ == "__main__":
    main()
