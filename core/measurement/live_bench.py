"""Live collection benchmark (issue 22, "Measured"): ``python -m core bench-live`` writes
``reports/live.md`` and ``reports/live.json``.

It builds its own data dir from a base collection, then adds documents from another collection
(the benchmark collection by default) with ``add_documents``, the function ``python -m core add``
calls, while a second process (another replica, with its own ``Service``) watches and searches:

- per-document latency from calling the add until the replica's search by the document's photo
  returns it;
- throughput of one batch add, split by the add's own progress stages;
- visitors' search latency on the replica with no add running, and while the batch is added.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path

from core.building.additions import add_documents
from core.building.pipeline import build
from core.building.priority import lower_to_background
from core.measurement.bench import TEXT_QUERIES, percentiles, unseen_photos
from core.reading.backbones import load_backbone
from core.reading.collection import Document, import_collection
from core.reading.images import content_hash
from core.reading.vision import cached_probability_files
from core.serving.answers import Query, SearchRequest
from core.serving.service import Service
from core.settings import Settings

Progress = Callable[[str], None]
SEARCH_TARGET_RATIO = 1.5  # issue 22: search p95 during a batch add within 1.5x of without
POLL_SECONDS = 0.005  # the replica's pause between searches while it waits for a document
VISITOR_QUERIES = 4  # of each kind: words, photo, both


@dataclass(frozen=True)
class LiveBenchOptions:
    """What ``bench-live`` measures and on which data."""

    workdir: Path
    collection: Path
    additions: Path
    cache_dir: Path
    latency_adds: int
    batch: int
    quiet_seconds: float


def new_documents(base: Path, additions: Path, count: int) -> list[Document]:
    """Up to ``count`` documents of ``additions`` whose photo is neither in the base collection
    nor an earlier one of these: each is added, not linked to a document that has its photo."""
    known = import_collection(base, False).documents
    seen = {content_hash(d.image) for d in known if d.image}
    base_ids = {d.id for d in known}
    fresh = []
    for document in import_collection(additions, False).documents:
        if len(fresh) == count:
            break
        if document.image is None or document.id in base_ids:
            continue
        digest = content_hash(document.image)
        if digest not in seen:
            seen.add(digest)
            fresh.append(document)
    return fresh


def write_folder(folder: Path, documents: Sequence[Document]) -> Path:
    """A collection folder (the format ``core add`` reads) with copies of the documents'
    photos."""
    (folder / "images").mkdir(parents=True)
    lines = []
    for document in documents:
        name = f"images/{document.image.name}"
        shutil.copy(document.image, folder / name)
        row = {"id": document.id, "text": document.text, "tags": list(document.tags)}
        row.update({modality: dict(bag) for modality, bag in document.tokens.items()})
        lines.append(json.dumps({**row, "image": name}, ensure_ascii=False))
    (folder / "documents.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def replica(settings: Settings, orders: Connection, stop: Event, photos: list[bytes]) -> None:
    """Another replica: a ``Service`` in its own process, already serving, that on order waits
    for a document to appear in its search by photo, or runs visitors' searches until ``stop``."""
    service = Service(settings)
    service.active()
    visits = [
        *(Query(text=TEXT_QUERIES[n]) for n in range(VISITOR_QUERIES)),
        *(Query(image=photo) for photo in photos[:VISITOR_QUERIES]),
        *(Query(text=TEXT_QUERIES[n], image=photos[-1 - n]) for n in range(VISITOR_QUERIES)),
    ]
    for query in visits:  # warm up: the photos' visual words are read once, as for a visitor
        service.search(SearchRequest(query, k=10))
    orders.send("ready")
    while (order := orders.recv())[0] != "quit":
        if order[0] == "watch":
            _, doc_id, photo = order
            request = SearchRequest(Query(image=photo), k=5)
            service.search(request)
            orders.send("watching")
            while not stop.is_set():
                started = time.monotonic()
                if any(hit.id == doc_id for hit in service.search(request).hits):
                    orders.send((started, time.monotonic()))
                    break
                time.sleep(POLL_SECONDS)
            else:
                orders.send(None)
        else:  # "visit"
            timings: dict[str, list[float]] = {"words": [], "photo": [], "both": []}
            number = 0
            while not stop.is_set():
                query = visits[number % len(visits)]
                kind = "both" if query.text and query.image else "words" if query.text else "photo"
                started = time.perf_counter()
                service.search(SearchRequest(query, k=10))
                timings[kind].append((time.perf_counter() - started) * 1000)
                number += 1
            orders.send(timings)


class Replica:
    """The replica process and the line to it."""

    def __init__(self, settings: Settings, photos: list[bytes]) -> None:
        context = multiprocessing.get_context("spawn")  # a fresh process, as a replica starts
        self.orders, theirs = context.Pipe()
        self.stop = context.Event()
        self.process = context.Process(
            target=replica, args=(settings, theirs, self.stop, photos), daemon=True
        )
        self.process.start()
        if self.orders.recv() != "ready":
            raise RuntimeError("the replica did not start")

    def watch(self, document: Document) -> None:
        self.stop.clear()
        self.orders.send(("watch", document.id, document.image.read_bytes()))
        self.orders.recv()  # "watching": it has searched once, without the document

    def seen_at(self, added: bool) -> tuple[float, float] | None:
        """When the search that returned the watched document started and ended (monotonic
        clock, shared by the processes); None when the add did not add it."""
        if not added:
            self.stop.set()
        return self.orders.recv()

    def visit(self, during: Callable[[], object]) -> dict[str, list[float]]:
        """Visitors' search timings (ms per kind) while ``during()`` runs."""
        self.stop.clear()
        self.orders.send(("visit",))
        during()
        self.stop.set()
        return self.orders.recv()

    def close(self) -> None:
        self.orders.send(("quit",))
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


def run_live_bench(options: LiveBenchOptions, progress: Progress) -> dict:
    """Build a version from the base collection, then measure adds against another replica."""
    data_dir = options.workdir / "data"
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    options.cache_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(options.cache_dir.resolve(), target_is_directory=True)
    settings = Settings(data_dir=data_dir, collection=options.collection)
    progress(f"building a version from {options.collection}")
    started = time.perf_counter()
    built = build(settings)
    build_seconds = time.perf_counter() - started

    wanted = options.latency_adds + 2 * options.batch
    fresh = new_documents(options.collection, options.additions, wanted)
    if len(fresh) <= options.latency_adds + options.batch:
        raise ValueError(f"{options.additions} has {len(fresh)} documents new to the base")
    singles, rest = fresh[: options.latency_adds], fresh[options.latency_adds :]
    batch, unwatched = rest[: options.batch], rest[options.batch :]
    folders = options.workdir / "additions"
    if folders.exists():
        shutil.rmtree(folders)
    base_photos = [d.image for d in import_collection(options.collection, False).documents][:8]
    progress("starting the other replica")
    other = Replica(settings, unseen_photos([p for p in base_photos if p], 2 * VISITOR_QUERIES))
    niceness = lower_to_background()  # as `python -m core add` and the worker run; after the
    # replica started, which must not inherit it
    try:
        latency = _add_latency(settings, other, singles, folders, progress)
        progress(f"visitors' searches for {options.quiet_seconds:.0f} s with no add running")
        load = {"before_quiet": os.getloadavg()[0]}
        quiet = other.visit(lambda: time.sleep(options.quiet_seconds))
        batch_folder = write_folder(folders / "batch", batch)
        backbone = load_backbone(settings).name
        cached = sum(
            any(
                f.parent.parent.name == backbone
                for f in cached_probability_files(options.cache_dir, content_hash(document.image))
            )
            for document in batch
        )
        progress(f"adding a batch of {len(batch)} documents while visitors search")
        throughput: dict = {}
        load["before_batch"] = os.getloadavg()[0]
        during = other.visit(lambda: throughput.update(_batch_add(settings, batch_folder)))
        load["after_batch"] = os.getloadavg()[0]
        progress(f"adding a batch of {len(unwatched)} documents while nobody searches")
        alone = _batch_add(settings, write_folder(folders / "alone", unwatched))
    finally:
        other.close()
    throughput["photos_cached_before"] = cached
    quiet_all = percentiles([t for timings in quiet.values() for t in timings])
    during_all = percentiles([t for timings in during.values() for t in timings])
    return {
        "machine": {
            "cores": os.cpu_count(),
            "processes": 2,
            "adding_niceness": niceness,
            "load_1min": {moment: round(value, 2) for moment, value in load.items()},
        },
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "base": {
            "collection": str(options.collection),
            "documents": built.num_documents,
            "build_s": round(build_seconds, 1),
        },
        "additions": str(options.additions),
        "cache_dir": str(options.cache_dir),
        "add_latency": latency,
        "batch": throughput,
        "batch_alone": alone,
        "search": {
            "without_add": {"all": quiet_all, **{k: percentiles(v) for k, v in quiet.items() if v}},
            "during_batch": {
                "all": during_all,
                **{k: percentiles(v) for k, v in during.items() if v},
            },
            "p95_ratio": round(during_all["p95_ms"] / quiet_all["p95_ms"], 2),
            "target_ratio": SEARCH_TARGET_RATIO,
        },
    }


def _add_latency(
    settings: Settings,
    other: Replica,
    singles: Sequence[Document],
    folders: Path,
    progress: Progress,
) -> dict:
    """Per document, milliseconds: of the add call; from calling it until the other replica's
    search by the document's photo returned it; of that search alone (the first after the
    commit, it re-reads the additions and extends the replica's engine)."""
    calls, searchable, finding, refused = [], [], [], []
    for number, document in enumerate(singles, start=1):
        folder = write_folder(folders / f"single-{number}", [document])
        other.watch(document)
        started = time.monotonic()
        report = add_documents(settings, folder, added_by="bench-live")
        calls.append((time.monotonic() - started) * 1000)
        seen = other.seen_at(document.id in report.added)
        if seen is None:
            refused.append(document.id)
        else:
            searchable.append((seen[1] - started) * 1000)
            finding.append((seen[1] - seen[0]) * 1000)
        progress(f"single add {number}/{len(singles)}: {calls[-1]:.0f} ms")
    return {
        "documents": len(singles),
        "refused": refused,
        "add_call": percentiles(calls),
        "searchable_on_other_replica": percentiles(searchable) if searchable else None,
        "finding_search": percentiles(finding) if finding else None,
    }


def _batch_add(settings: Settings, folder: Path) -> dict:
    """One add of the whole folder, timed by the add's own progress stages: ``vectorize``
    (text processing and the CNN for photos not in the cache), theta inference, then ``add``
    (each document's photo copied durably and committed)."""
    marks: dict[str, list[float]] = {}

    def mark(stage: str, done: int, total: int) -> None:
        marks.setdefault(stage, []).append(time.perf_counter())

    started = time.perf_counter()
    report = add_documents(settings, folder, added_by="bench-live", progress=mark)
    seconds = time.perf_counter() - started
    ingested = marks.get("vectorize", [started])[-1]
    first_commit = marks.get("add", [ingested])[0]
    documents = len(report.added) + len(report.linked) + len(report.refused)
    return {
        "documents": documents,
        "added": len(report.added),
        "linked": len(report.linked),
        "refused": len(report.refused),
        "seconds": round(seconds, 2),
        "documents_per_s": round(documents / seconds, 1),
        "stages_s": {
            "screen_and_ingest": round(ingested - started, 2),
            "infer_thetas": round(first_commit - ingested, 2),
            "commit": round(started + seconds - first_commit, 2),
        },
    }


def render_report(results: dict, command: str) -> str:
    """reports/live.md: every figure of ``results`` with what it means."""
    latency, batch, search = results["add_latency"], results["batch"], results["search"]
    alone = results["batch_alone"]
    seen = latency["searchable_on_other_replica"] or {}
    finding = latency["finding_search"] or {}
    quiet, during = search["without_add"], search["during_batch"]
    cached = batch["photos_cached_before"]
    load = results["machine"]["load_1min"]
    cache_state = (
        "cold" if cached == 0 else "warm" if cached == batch["documents"] else "partly warm"
    )
    verdict = "met" if search["p95_ratio"] <= search["target_ratio"] else "not met"
    lines = [
        "# Live collection: adds measured",
        "",
        f"Made by `{command}` on {results['date']}, on a machine with "
        f"{results['machine']['cores']} cores, shared by {results['machine']['processes']} "
        "processes of this benchmark (the adding process and the other replica) and whatever "
        "else ran on it: the 1-minute load average was "
        + ", ".join(f"{value} {moment.replace('_', ' ')}" for moment, value in load.items())
        + ".",
        "",
        f"Base: a version built from `{results['base']['collection']}` "
        f"({results['base']['documents']} documents, default model parameters, "
        f"{results['base']['build_s']} s). Added documents come from `{results['additions']}`, "
        "none with a photo already in the base. Image cache: "
        f"`{results['cache_dir']}`.",
        "",
        "The other replica is a second process (`multiprocessing`, spawned) with its own "
        "`Service` on the same data dir and database, already serving before any add. Adds are "
        "made in the benchmark's main process by `add_documents`, the function `python -m core "
        "add` calls, at the background priority that command and the job worker take "
        f"(niceness {results['machine'].get('adding_niceness', 0)}; `core/building/priority.py`): "
        "the replica runs at the normal priority, as a web process does.",
        "",
        "## Per-document add latency",
        "",
        f"{latency['documents']} single-document adds (photo and caption). 'Searchable' runs "
        "from calling the add until the other replica, searching by the document's photo every "
        f"{POLL_SECONDS * 1000:.0f} ms, returns it.",
        "",
        "| | documents | p50 ms | p95 ms |",
        "|---|---|---|---|",
        f"| add call returns | {latency['add_call']['queries']} | {latency['add_call']['p50_ms']} "
        f"| {latency['add_call']['p95_ms']} |",
        f"| searchable on the other replica | {seen.get('queries', 0)} | {seen.get('p50_ms')} "
        f"| {seen.get('p95_ms')} |",
        f"| of which the replica's search that found it | {finding.get('queries', 0)} | "
        f"{finding.get('p50_ms')} | {finding.get('p95_ms')} |",
        "",
        "The search that finds a new document is the replica's first after the add's commit: "
        "it re-reads the version's additions from the database and extends its engine with "
        "them before answering.",
        "",
        f"Refused by the add (too few tokens): {', '.join(latency['refused']) or 'none'}.",
        "",
        "## Batch throughput",
        "",
        f"One add of {batch['documents']} documents ({batch['added']} added, {batch['linked']} "
        f"linked, {batch['refused']} refused) while the other replica searched without pause "
        f"(below) took {batch['seconds']} s: **{batch['documents_per_s']} documents/s**. The "
        f"image cache was {cache_state}: {cached} of the {batch['documents']} photos had "
        "probabilities cached before the add. The add runs at background priority, so a "
        "replica busy every moment leaves it what the replica does not use; with nobody "
        f"searching, an add of {alone['documents']} other documents (cache cold as well) took "
        f"{alone['seconds']} s: **{alone['documents_per_s']} documents/s**.",
        "",
        "| stage | s, while searched | s, alone |",
        "|---|---|---|",
        *(
            f"| {stage} | {seconds} | {alone['stages_s'][stage]} |"
            for stage, seconds in batch["stages_s"].items()
        ),
        "",
        "screen_and_ingest: duplicate and take-down checks, text processing and the CNN for "
        "uncached photos (the add reports no finer split); infer_thetas: each document's theta "
        "with the version's phi fixed; commit: each document's photo copied durably and its row "
        "committed, one transaction each.",
        "",
        "## Visitors' searches while a batch is added",
        "",
        f"The other replica loops over {3 * VISITOR_QUERIES} fixed searches (words, photo, both; "
        "top 10), first with no add running, then while the batch above is added.",
        "",
        "| phase | kind | searches | p50 ms | p95 ms | p99 ms |",
        "|---|---|---|---|---|---|",
        *(
            f"| {name} | {kind} | {row['queries']} | {row['p50_ms']} | {row['p95_ms']} "
            f"| {row['p99_ms']} |"
            for name, phase in (("no add", quiet), ("during the batch", during))
            for kind, row in phase.items()
        ),
        "",
        f"p95 during the batch / p95 without: **{search['p95_ratio']}x** (target <= "
        f"{search['target_ratio']}x): **{verdict}**. With {results['machine']['cores']} cores "
        "and two busy processes, the add and the searches compete for the same cores, and the "
        "ratio moves with whatever else shares them: the load averages at the top say how busy "
        "the machine was.",
        "",
        "The drift figures (issue 22, item 4) are in `reports/drift.md`, by "
        "`python -m core bench-drift`.",
        "",
    ]
    return "\n".join(lines)


def live_bench_and_report(
    options: LiveBenchOptions, reports: Path, command: str, progress: Progress
) -> Path:
    """The whole ``python -m core bench-live``: measure, then write live.json and live.md."""
    results = run_live_bench(options, progress)
    results["command"] = command
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "live.json").write_text(json.dumps(results, indent=1) + "\n")
    report = reports / "live.md"
    report.write_text(render_report(results, command))
    return report
