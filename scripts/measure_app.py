"""How fast the public app feels: first load and warm text queries, in a real browser.

    .venv/bin/python scripts/measure_app.py [--data-dir var] [--queries 20]

Starts a fresh app server over the data directory (its active model must exist: run
`python -m core build` first), opens it in headless Chromium and reports:
- server start: process start until the health endpoint answers;
- first load: navigation until the search form is on screen (this loads the model);
- first query and warm queries: click on Search until the results are drawn (the app is idle
  and the page's last change is over; the time is that change's), with the server-side search
  latency the page reports next to it;
- server CPU per warm search page: the server process's CPU time (all threads, from /proc) over
  the warm queries, divided by their number.

With ``--topic-review`` it measures what a moderator waits for instead, on a private copy of the
deployment (the original is untouched) with a temporary admin account: the Topic review page,
from the click on its menu entry until the page's last change once the app is idle, first
and warm (median and max of ``--opens``), with the number of topics of the active version.

With ``--report`` the figures are also written to ``reports/page_cost.json`` and to their section
of ``reports/bench.md`` (see ``core/measurement/page_cost.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from admin import auth
from core.building.pipeline import copy_deployment
from core.measurement.page_cost import record_page_cost
from core.settings import REPO_ROOT, load_settings
from core.storage import database, store
from tests.browser import (
    ARTIFACTS,
    chromium,
    last_change,
    page_clock,
    search,
    serve_app,
    served_app,
    wait_until_idle,
    watch_changes,
)

COMMAND = ".venv/bin/python scripts/measure_app.py --queries {queries} --report"
QUERIES = ["цветы", "horse", "собака", "red apple", "музыка", "bird", "машина", "рыба", "fruit"]


def measure(data_dir: Path, warm_queries: int) -> dict:
    started = time.perf_counter()
    with served_app(data_dir) as app, chromium() as browser:
        server_start = time.perf_counter() - started
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(app.url)
        page.get_by_role("textbox", name="Words").wait_for(timeout=120_000)
        first_load = time.perf_counter() - started
        first_query, first_server = _timed_search(page, QUERIES[0])
        cpu_before = app.cpu_seconds()
        warm = [_timed_search(page, QUERIES[n % len(QUERIES)]) for n in range(1, warm_queries + 1)]
        server_cpu = app.cpu_seconds() - cpu_before
    browser_ms = sorted(seconds * 1000 for seconds, _ in warm)
    return {
        "server_start_s": round(server_start, 2),
        "first_load_s": round(first_load, 2),
        "first_query_ms": round(first_query * 1000),
        "first_query_server_ms": first_server,
        "warm_queries": len(warm),
        "warm_query_ms_p50": round(statistics.median(browser_ms)),
        "warm_query_ms_max": round(browser_ms[-1]),
        "warm_query_server_ms_p50": statistics.median(server for _, server in warm),
        "warm_page_server_cpu_ms": round(server_cpu * 1000 / len(warm)),
        "load_average_1min": round(os.getloadavg()[0], 1),  # other work on the machine
    }


def _timed_search(page, text: str) -> tuple[float, float]:
    """(seconds from the click until the results were drawn, the server's search milliseconds)."""
    watch_changes(page)
    started = page_clock(page)
    caption = search(page, text)
    elapsed = (last_change(page) - started) / 1000
    return elapsed, float(re.search(r"(\d+) ms", caption).group(1))


def measure_topic_review(data_dir: Path, opens: int) -> dict:
    source = load_settings({**os.environ, "TOPICSEARCH_DATA_DIR": str(data_dir)})
    password = secrets.token_urlsafe()
    with tempfile.TemporaryDirectory(prefix="topicsearch-measure-") as workdir:
        copy = copy_deployment(source, Path(workdir) / "data")
        with database.open_database(copy.database_url)() as session:
            version = store.active_version(session)
            if version is None:
                raise SystemExit(f"no active model in {data_dir}: run `python -m core build`")
            topics = version.num_topics
            auth.add_user(session, "measure", "admin", password, by="measure_app")
            session.commit()
        with serve_app(copy.data_dir) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
            page.goto(f"{url}/account")
            name = page.get_by_role("textbox", name="Name")
            name.wait_for(timeout=300_000)  # the first run imports the engine
            name.fill("measure")
            page.get_by_role("textbox", name="Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.get_by_role("link", name="Topic review").wait_for(timeout=60_000)
            timings = []
            for _ in range(opens + 1):
                page.get_by_role("link", name="Account").click()
                wait_until_idle(page)
                started = page_clock(page)
                page.get_by_role("link", name="Topic review").click()
                page.get_by_role("heading", name="Topic review").wait_for(timeout=120_000)
                wait_until_idle(page, timeout=120_000)
                timings.append((last_change(page) - started) / 1000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=ARTIFACTS / "topic-review-measured.png")
    warm = sorted(timings[1:])
    return {
        "topics": topics,
        "first_open_s": round(timings[0], 2),
        "warm_opens": len(warm),
        "warm_open_s_p50": round(statistics.median(warm), 2),
        "warm_open_s_max": round(warm[-1], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=load_settings().data_dir)
    parser.add_argument("--queries", type=int, default=20, help="warm queries to time")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--report",
        action="store_true",
        help="also record the figures in reports/page_cost.json and reports/bench.md",
    )
    parser.add_argument(
        "--topic-review", action="store_true", help="time the Topic review page instead"
    )
    parser.add_argument("--opens", type=int, default=5, help="warm opens of Topic review")
    args = parser.parse_args()
    if args.topic_review:
        figures = measure_topic_review(args.data_dir, args.opens)
    else:
        figures = measure(args.data_dir, args.queries)
    if args.report and not args.topic_review:
        record_page_cost(REPO_ROOT / "reports", figures, COMMAND.format(queries=args.queries))
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("| measure | value |\n|---|---|")
    for name, value in figures.items():
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
