"""The commands that train: ``build`` and ``worker``."""

from __future__ import annotations

import argparse
import json
import signal
import sys

from core.cli.common import CommandError, _progress_printer
from core.settings import Settings
from core.storage import store


def _build(args: argparse.Namespace, settings: Settings) -> int:
    from core.building.pipeline import build
    from core.serving.model import ModelParams

    if args.if_missing:
        with store.open_database(settings.database_url)() as session:
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
                progress=_progress_printer(),
                executor=executor,
                ranking=ranking,
            )
    else:
        report = build(
            settings, args.collection, params, progress=_progress_printer(), ranking=ranking
        )
    for problem in report.problems:
        print(f"skipped {problem}", file=sys.stderr)
    summary = {
        "model_version": report.version_name,
        "documents": report.num_documents,
        "skipped_rows": [str(p) for p in report.problems],
        "junk_filtered": report.junk_filtered,
        "timings_seconds": {k: round(v, 3) for k, v in report.timings.items()},
        "final_scores": {k: v for k, v in report.scores[-1].items() if not k.startswith("top")},
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False, indent=2))
    else:
        print(
            f"built and activated {report.version_name}: {report.num_documents} documents, "
            f"{len(report.problems)} rows skipped, {len(report.junk_filtered)} filtered as junk"
        )
        print("timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in report.timings.items()))
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from core.building.worker import Worker
    from core.storage.jobs import WorkerRefused

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
