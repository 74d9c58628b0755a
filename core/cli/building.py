"""The commands that train: ``build`` and ``worker``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from pathlib import Path

from core.cli.common import (
    CommandError,
    Subcommands,
    modality_weights,
    positive,
    progress_printer,
)
from core.settings import Settings
from core.storage import database, store


def add_build(commands: Subcommands) -> None:
    """``build``: import, train, index and activate a new version."""
    parser = commands.add_parser(
        "build",
        help="import, vectorize, train, index and activate a new model version",
        description="Build a new model version from a collection and make it active.",
    )
    parser.add_argument("--collection", type=Path, help="collection folder (default: built-in)")
    parser.add_argument("--topics", type=int, help="number of topics")
    parser.add_argument("--passes", type=int, help="training passes over the collection")
    parser.add_argument(
        "--weights", type=modality_weights, help="modality weights, e.g. @visual=0.05"
    )
    parser.add_argument(
        "--training-sample",
        type=positive,
        metavar="N",
        help="train the topic model on a random sample of N documents (seeded) and infer the "
        "topics of the others with it (on the Dask workers with --dask); default: train on "
        "every document (see reports/sample.md for what a sample costs)",
    )
    parser.add_argument(
        "--ranking",
        choices=("likelihood", "topics"),
        default="likelihood",
        help="how searches order documents: query likelihood with topic smoothing (default, the "
        "best measured) or L1 between topic vectors (the article's setup)",
    )
    parser.add_argument(
        "--if-missing", action="store_true", help="do nothing if a model version is already active"
    )
    parser.add_argument(
        "--dask",
        metavar="ADDRESS|local:N",
        help="run text processing and image vectorization on a Dask cluster: a scheduler "
        "address (e.g. tcp://10.0.0.5:8786; the collection and the data dir must be at the same "
        "paths on the workers) or local:N for N worker processes on this machine",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_build)


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from core.building.pipeline import build
    from core.serving.model import ModelParams

    if args.if_missing:
        with database.open_database(settings.database_url)() as session:
            version = store.active_version(session)
        if version is not None:
            print(f"model {version.name} is active; not building (drop --if-missing to rebuild)")
            return 0
    overrides = {}
    if args.topics:
        overrides["num_topics"] = args.topics
    if args.passes:
        overrides["passes"] = args.passes
    if args.weights:
        overrides["modality_weights"] = {**ModelParams().modality_weights, **args.weights}
    if args.training_sample:
        overrides["training_sample"] = args.training_sample
    params = ModelParams(**overrides)
    from core.serving.ranking import RankingParams

    ranking = RankingParams(method=args.ranking)
    if args.dask:
        from core.building.ingest import dask_ingest

        with dask_ingest(args.dask, settings) as executor:
            report = build(
                settings,
                args.collection,
                params,
                progress=progress_printer(),
                executor=executor,
                ranking=ranking,
            )
    else:
        report = build(
            settings, args.collection, params, progress=progress_printer(), ranking=ranking
        )
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    summary = {
        "model_version": report.version_name,
        "documents": report.num_documents,
        "skipped_rows": [str(p) for p in report.problems],
        "junk_filtered": report.junk_filtered,
        "training_documents": report.training_documents,
        "timings_seconds": {k: round(v, 3) for k, v in report.timings.items()},
        "final_scores": {k: v for k, v in report.scores[-1].items() if not k.startswith("top")},
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(
            f"built and activated {report.version_name}: {report.num_documents} documents "
            f"(trained on {report.training_documents}), {len(report.problems)} rows skipped, "
            f"{len(report.junk_filtered)} filtered as junk"
        )
        print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    return 0


def add_worker(commands: Subcommands) -> None:
    """``worker``: run the jobs the admin pages queue."""
    parser = commands.add_parser(
        "worker",
        help="run queued jobs (build, re-index, add a modality, retrain, junk filter)",
        description="Take jobs that the admin pages queue in the metadata database and run them, "
        "one at a time, until stopped (Ctrl-C or SIGTERM: the running job fails cleanly). "
        "Several workers may share a PostgreSQL database; SQLite allows one.",
    )
    parser.add_argument("--until-idle", action="store_true", help="exit once no job is queued")
    parser.add_argument(
        "--heartbeat", type=float, default=2.0, metavar="SECONDS",
        help="heartbeat interval; the worker counts as dead after 5 missed beats (default: 2)",
    )  # fmt: skip
    parser.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS",
        help="how often an idle worker looks for a job (default: 1)",
    )  # fmt: skip
    parser.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from core.building.priority import lower_to_background
    from core.building.worker import Worker
    from core.storage.jobs import WorkerRefused

    lower_to_background()
    try:
        with Worker(settings, args.heartbeat, args.poll) as worker:
            for signal_number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signal_number, lambda *_: worker.stop())
            if args.until_idle:
                worker.run_until_idle()
            else:
                worker.run()
    except WorkerRefused as refused:
        raise CommandError(str(refused)) from None
    return 0


def add_add(commands: Subcommands) -> None:
    """``add``: documents into the active version without a retrain."""
    parser = commands.add_parser(
        "add",
        help="add documents (photos with captions and hashtags) to the active model version",
        description="Add the documents of a collection folder (photos with a documents.csv or "
        "documents.jsonl, the format `build` imports) to the collection: each is searchable "
        "as soon as it is added, on every replica, without a new version.",
    )
    parser.add_argument("path", type=Path, help="collection folder or its documents file")
    parser.add_argument("--by", default="command line", help="who adds them (for the record)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_add)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from core.building.additions import add_documents
    from core.building.priority import lower_to_background

    lower_to_background()
    report = add_documents(settings, args.path, args.by, progress_printer())
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    print(f"added {len(report.added)} document(s): {', '.join(report.added)}")
    if report.linked:
        print(f"linked {len(report.linked)} already in the collection (same photo):")
        for new, existing in report.linked.items():
            print(f"  {new} -> {existing}")
    if report.refused:
        print(f"refused {len(report.refused)} row(s):")
        for problem in report.refused:
            print(f"  {problem}")
    return 0


def add_remove(commands: Subcommands) -> None:
    """``remove``: take a document down."""
    parser = commands.add_parser(
        "remove",
        help="take a document down: gone from every answer, its photo deleted",
        description="Take a document down: within seconds it is gone from every search, "
        "'more like this' and topic page on every replica, in every version; its photo and "
        "cached visual words are deleted, and it can never be added again. Who, when and why "
        "are recorded.",
    )
    parser.add_argument("doc_id", help="the document's id")
    parser.add_argument("--reason", required=True, help="why it is taken down (recorded)")
    parser.add_argument("--by", default="command line", help="who takes it down (recorded)")
    parser.set_defaults(handler=_remove)


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from core.storage.collection_changes import take_down

    with database.open_database(settings.database_url)() as session:
        take_down(session, settings, args.doc_id, args.by, args.reason)
    print(f"took down {args.doc_id}")
    return 0
