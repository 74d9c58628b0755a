"""The commands that measure and write reports: ``bench``, ``eval``, ``scale-*`` and
``bench-index``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.cli.common import _active_version_dir, _progress_printer
from core.settings import Settings
from core.storage import store


def _scale_train(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    source = args.source or _active_version_dir(settings)
    corpus = scale.read_source_corpus(source)
    for documents in args.documents:
        result = scale.measure_training(
            corpus,
            documents,
            args.workdir or settings.data_dir / "scale",
            passes=args.passes,
            processors=args.processors,
            progress=_progress_printer(),
        )
        result["source"] = str(source)
        scale.record(args.reports, "training", str(documents), result)
        print(
            f"{documents:,} documents: "
            + ", ".join(f"{s:.1f}" for s in result["pass_seconds"])
            + f" s per pass, peak RSS {result['peak_rss_bytes'] / 2**20:,.0f} MB"
        )
    return 0


def _scale_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    for workers in args.workers:
        result = scale.measure_ingest(
            args.collection or settings.collection,
            workers,
            args.workdir or settings.data_dir / "scale",
            progress=_progress_printer(),
        )
        scale.record(args.reports, "ingest", str(workers), result)
        print(
            f"{workers} worker(s): {result['images_per_second']:.1f} images/s "
            f"({result['images']} images in {result['seconds']:.1f} s; "
            f"start-up {result['startup_seconds']:.1f} s)"
        )
    return 0


def _scale_footprint(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    result = scale.model_footprint(args.source or _active_version_dir(settings))
    scale.record(args.reports, "footprint", "source", result)
    print(json.dumps(result, indent=2))
    return 0


def _scale_report(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale_plan

    path = scale_plan.write_report(args.reports)
    print(f"wrote {path}")
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import core.building.artm_loader  # noqa: F401  (eval trains after loading the backbone)
    from core.measurement.eval import evaluate_and_report
    from core.reading.vision import ImageVectorizer, load_backbone

    report = evaluate_and_report(
        args.collection or settings.data_dir / "benchmark" / "collection",
        args.reports,
        settings.data_dir / "eval",
        ImageVectorizer(load_backbone(settings), settings.cache_dir),
        run_sweep=args.sweep,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
        builtin=None if args.no_builtin else args.builtin,
        quick=args.quick,
        run_ranking_sweep=args.sweep_ranking,
        run_annotation_sweep=args.sweep_annotation,
        sweeps_only=args.sweeps_only,
    )
    print(f"wrote {report}")
    return 0


def _bench_model(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement.bench import benchmark_and_report

    report = benchmark_and_report(
        settings,
        args.reports,
        args.sizes,
        args.queries,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"wrote {report}")
    return 0


def _bench_index(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement.index_bench import run_index_benchmark
    from core.serving.index import NeighborIndex

    with store.open_database(settings.database_url)() as session:
        version = store.active_version(session)
    base = None if version is None else NeighborIndex.load(Path(version.artifact_dir) / "index")
    rows = run_index_benchmark(
        args.documents,
        args.topics,
        args.queries,
        base=None if base is None else base.thetas,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0
