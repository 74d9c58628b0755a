"""The commands that measure and write reports: ``bench``, ``eval``, ``scale-*``,
``bench-index``, ``bench-live``, ``bench-drift`` and ``bench-sample``."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from core.cli.common import (
    SOURCE_HELP,
    CommandError,
    Subcommands,
    active_version_dir,
    add_report_command,
    positive,
    progress_printer,
    sizes,
)
from core.measurement.scale import QUERY_KINDS, TRAINING_SIZES
from core.settings import BUILTIN_COLLECTION, Settings
from core.storage import database, store


def add_bench(commands: Subcommands) -> None:
    """``bench``: the performance benchmark."""
    parser = add_report_command(
        commands,
        _bench_model,
        "bench",
        help="performance benchmark (writes reports/bench.md)",
        description="Text, vectorization and training throughput, query latency on the "
        "built-in collection and on synthetic thetas, index configurations (see "
        "core/measurement/bench.py).",
    )
    parser.add_argument(
        "--sizes",
        type=sizes,
        default=(100_000, 1_000_000),
        help="synthetic collection sizes, comma-separated (default: 100000,1000000)",
    )
    parser.add_argument("--queries", type=positive, default=200, help="queries per kind")


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


def add_eval(commands: Subcommands) -> None:
    """``eval``: annotation and search quality."""
    parser = add_report_command(
        commands,
        _eval,
        "eval",
        help="annotation and search quality against baselines (writes reports/eval.md)",
        description="Train on the benchmark collection's training split, query with its test "
        "documents, compare with baselines and write reports/eval.md (see "
        "core/measurement/eval.py).",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        help="benchmark collection (default: DATA_DIR/benchmark/collection, built by "
        "scripts/build_benchmark_collection.py)",
    )
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="first sweep model settings on the validation split (writes reports/sweep.json)",
    )
    parser.add_argument(
        "--sweep-ranking",
        action="store_true",
        help="first measure the ranking's coordination weights on the validation split "
        "(writes reports/ranking_sweep.json)",
    )
    parser.add_argument(
        "--sweep-annotation",
        action="store_true",
        help="first measure annotation settings on the validation split "
        "(writes reports/annotation_sweep.json)",
    )
    parser.add_argument(
        "--sweep-photo",
        action="store_true",
        help="first measure where a photo query's predicted hashtags and words come from and how "
        "it weighs them on the validation split (writes reports/photo_sweep.json)",
    )
    parser.add_argument(
        "--sweep-sentences",
        action="store_true",
        help="first measure the ranking's levers for sentence and attribute queries on the "
        "validation split (writes reports/sentence_sweep.json)",
    )
    parser.add_argument(
        "--sweeps-only",
        action="store_true",
        help="stop after the requested sweeps, without the evaluation on the test split",
    )
    parser.add_argument(
        "--builtin",
        type=Path,
        default=BUILTIN_COLLECTION,
        help="collection whose concept queries are also measured (default: the built-in one)",
    )
    parser.add_argument(
        "--no-builtin", action="store_true", help="skip the concept queries on --builtin"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every 8th document of each split, 3 training passes (figures mean little)",
    )


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import core.building.artm_loader  # noqa: F401  (eval trains after loading the backbone)
    from core.measurement.eval import evaluate_and_report
    from core.reading.backbones import load_backbone
    from core.reading.vision import ImageVectorizer

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
        run_photo_sweep=args.sweep_photo,
        run_sentence_sweep=args.sweep_sentences,
    )
    print(f"wrote {report}")
    return 0


def add_scale_train(commands: Subcommands) -> None:
    """``scale-train``: out-of-core training at scale."""
    parser = add_report_command(
        commands,
        _scale_train,
        "scale-train",
        help="seconds per pass and peak memory of out-of-core training (into reports/scale.json)",
        description="Train BigARTM out of core on synthetic documents drawn from a built "
        "version's token distributions, with its processors on every core (see "
        "core/measurement/scale.py).",
    )
    parser.add_argument(
        "--documents",
        type=sizes,
        default=TRAINING_SIZES,
        help="collection sizes, comma-separated (default: 100000,1000000)",
    )
    parser.add_argument("--passes", type=positive, default=2, help="passes per size")
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)
    parser.add_argument("--processors", type=positive, help="default: every core")
    parser.add_argument(
        "--workdir", type=Path, help="where the text and batches go (default: DATA_DIR/scale)"
    )


def _scale_train(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    source = args.source or active_version_dir(settings)
    corpus = scale.read_source_corpus(source)
    for documents in args.documents:
        result = scale.measure_training(
            corpus,
            documents,
            args.workdir or settings.data_dir / "scale",
            passes=args.passes,
            processors=args.processors,
            progress=progress_printer(),
        )
        result["source"] = str(source)
        scale.record(args.reports, "training", str(documents), result)
        print(
            f"{documents:,} documents: "
            + ", ".join(f"{s:.1f}" for s in result["pass_seconds"])
            + f" s per pass, peak RSS {result['peak_rss_bytes'] / 2**20:,.0f} MB"
        )
    return 0


def add_scale_ingest(commands: Subcommands) -> None:
    """``scale-ingest``: ingest throughput on Dask workers."""
    parser = add_report_command(
        commands,
        _scale_ingest,
        "scale-ingest",
        help="ingest throughput on local Dask workers (into reports/scale.json)",
        description="Images per second of text processing and vectorization on a local Dask "
        "cluster of 1, 2, ... worker processes, each with an empty image cache.",
    )
    parser.add_argument(
        "--workers", type=sizes, default=(1, 2), help="worker counts, comma-separated"
    )
    parser.add_argument("--collection", type=Path, help="default: the built-in collection")
    parser.add_argument(
        "--workdir", type=Path, help="where the caches go (default: DATA_DIR/scale)"
    )


def _scale_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    for workers in args.workers:
        result = scale.measure_ingest(
            args.collection or settings.collection,
            workers,
            args.workdir or settings.data_dir / "scale",
            progress=progress_printer(),
        )
        scale.record(args.reports, "ingest", str(workers), result)
        print(
            f"{workers} worker(s): {result['images_per_second']:.1f} images/s "
            f"({result['images']} images in {result['seconds']:.1f} s; "
            f"start-up {result['startup_seconds']:.1f} s)"
        )
    return 0


def add_scale_build(commands: Subcommands) -> None:
    """``scale-build``: the build driver's peak memory at several collection sizes."""
    parser = add_report_command(
        commands,
        _scale_build,
        "scale-build",
        help="peak memory of a build's driver at several collection sizes (into scale.json)",
        description="Build synthetic collections drawn from a built version's documents "
        "(without photos) in a child process and trace its memory: streamed (the build) or, "
        "with --in-memory, holding every document (see core/measurement/scale.py).",
    )
    parser.add_argument(
        "--documents", type=sizes, default=(20_000, 80_000), help="sizes, comma-separated"
    )
    parser.add_argument("--passes", type=positive, default=2, help="training passes")
    parser.add_argument("--topics", type=positive, default=50, help="number of topics")
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)
    parser.add_argument(
        "--in-memory", action="store_true", help="the reference that holds every document"
    )
    parser.add_argument(
        "--workdir", type=Path, help="where the collections go (default: DATA_DIR/scale)"
    )


def _scale_build(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale
    from core.serving.model import ModelParams

    source = args.source or active_version_dir(settings)
    corpus = scale.read_source_corpus(source)
    params = ModelParams(num_topics=args.topics, passes=args.passes)
    how = "in-memory" if args.in_memory else "streamed"
    for documents in args.documents:
        result = scale.measure_build(
            corpus,
            documents,
            args.workdir or settings.data_dir / "scale",
            params,
            streamed=not args.in_memory,
        )
        result["source"] = str(source)
        scale.record(args.reports, f"build-{how}", str(documents), result)
        print(
            f"{documents:,} documents, {how}: driver peak Python allocations "
            f"{result['traced_peak_bytes'] / 2**20:,.0f} MB, peak RSS "
            f"{result['peak_rss_bytes'] / 2**20:,.0f} MB, {result['seconds']:.0f} s"
        )
    return 0


def add_scale_footprint(commands: Subcommands) -> None:
    """``scale-footprint``: a built version's sizes per document."""
    parser = add_report_command(
        commands,
        _scale_footprint,
        "scale-footprint",
        help="per-document sizes and vocabulary growth of a built version (into scale.json)",
        description="Bytes on disk and in memory per document, and the vocabulary's growth "
        "with the collection, of a built version: what the capacity plan scales up from.",
    )
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)


def _recorded(args: argparse.Namespace, section: str, key: str, result: dict) -> int:
    """Stores a measurement in ``reports/scale.json`` and prints it."""
    from core.measurement import scale

    scale.record(args.reports, section, key, result)
    print(json.dumps(result, indent=2))
    return 0


def _scale_footprint(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    result = scale.model_footprint(args.source or active_version_dir(settings))
    return _recorded(args, "footprint", "source", result)


def add_scale_replica(commands: Subcommands) -> None:
    """``scale-replica``: a serving replica's start time and memory, lean and as before."""
    parser = add_report_command(
        commands,
        _scale_replica,
        "scale-replica",
        help="a replica's start time and memory on a synthetic version (into scale.json)",
        description="Write a version of synthetic documents drawn like a built version's, then "
        "start a replica on it in a fresh process, with its records and token counts "
        "memory-mapped and as before (every record parsed into memory): seconds to load, warm "
        "up and answer a few queries, and the resident and unique memory it added.",
    )
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)
    parser.add_argument("--documents", type=positive, default=100_000)
    parser.add_argument("--workdir", type=Path, help="scratch space (default: DATA_DIR/scale)")


def _scale_replica(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    workdir = args.workdir or settings.data_dir / "scale"
    source = args.source or active_version_dir(settings)
    result = scale.measure_replica_start(source, args.documents, workdir)
    return _recorded(args, "replica", str(args.documents), result)


def add_scale_version(commands: Subcommands) -> None:
    """``scale-version``: a synthetic version kept for the other scale commands."""
    parser = add_report_command(
        commands,
        _scale_version,
        "scale-version",
        help="write a version of synthetic documents and keep it (for scale-query, scale-node)",
        description="Write a version of synthetic documents drawn like a built version's "
        "(core/measurement/scale.py), a block of documents at a time, into --target: the "
        "seconds it took, the writer's peak memory and the version's bytes on disk.",
    )
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)
    parser.add_argument("--documents", type=positive, default=100_000)
    parser.add_argument("--target", type=Path, required=True, help="a directory not there yet")


def _scale_version(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale
    from core.serving.version_files import VersionFiles

    if args.target.exists():
        raise CommandError(f"{args.target} is there already: name a new directory")
    source = args.source or active_version_dir(settings)
    started = time.perf_counter()
    scale.synthetic_version(source, args.documents, args.target)
    result = {
        "documents": args.documents,
        "write_seconds": time.perf_counter() - started,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "bytes_on_disk": VersionFiles(args.target).bytes_on_disk(),
        "load_average_at_end": os.getloadavg()[0],
    }
    return _recorded(args, "version", str(args.documents), result)


VERSION_HELP = "a version written by scale-version, measured as it is and kept"


def add_scale_query(commands: Subcommands) -> None:
    """``scale-query``: the default ranking's latency and recall on a large synthetic version."""
    parser = add_report_command(
        commands,
        _scale_query,
        "scale-query",
        help="query latency and recall of the version's ranking at scale (into scale.json)",
        description="Write a version of synthetic documents drawn like a built version's (or "
        "take one, --version), then search it on one core of a fresh process with words, "
        "photos and both: p50/p95 ms of each kind, and recall@10 against the same ranking "
        "scoring every document.",
    )
    parser.add_argument("--source", type=Path, help=SOURCE_HELP)
    parser.add_argument("--documents", type=positive, default=100_000)
    parser.add_argument("--version", type=Path, help=VERSION_HELP)
    parser.add_argument("--rounds", type=positive, default=5, help="times each query is asked")
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=4,
        help="queries of each kind whose recall is measured (an exhaustive run of each)",
    )
    parser.add_argument(
        "--kinds",
        type=query_kinds,
        default=QUERY_KINDS,
        help="kinds of query measured, comma-separated (default: text,photo,both); the rows "
        "of the others already recorded for the version's size are kept",
    )
    parser.add_argument("--workdir", type=Path, help="scratch space (default: DATA_DIR/scale)")


def query_kinds(text: str) -> tuple[str, ...]:
    """``--kinds``: some of ``QUERY_KINDS``, comma-separated."""
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in QUERY_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"kinds of query are {', '.join(QUERY_KINDS)}; got {text!r}"
        )
    return kinds


def _scale_query(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    if args.version is not None:
        result = scale.query_latency(
            args.version, settings, args.rounds, args.recall_queries, args.kinds
        )
        earlier = scale.recorded(args.reports, "query", str(result["documents"]))
        kept = {  # each kept row says when, and under what load, it was measured
            kind: {key: earlier.get(key) for key in ("measured_at", "load_average_at_end")}
            | earlier[kind]
            for kind in QUERY_KINDS
            if kind in earlier
        }
        result = {**kept, **result}
    else:
        workdir = args.workdir or settings.data_dir / "scale"
        source = args.source or active_version_dir(settings)
        result = scale.measure_query_latency(
            source, args.documents, workdir, settings, args.rounds, args.kinds
        )
    return _recorded(args, "query", str(result["documents"]), result)


def add_scale_node(commands: Subcommands) -> None:
    """``scale-node``: replicas of one version started together on this node."""
    parser = add_report_command(
        commands,
        _scale_node,
        "scale-node",
        help="start time and memory of replicas sharing this node (into scale.json)",
        description="Start --replicas replicas of a version written by scale-version together, "
        "each in its own process; once each has answered words, photos and both, their start "
        "times and memory, and the node's resident memory with shared pages counted once.",
    )
    parser.add_argument("--version", type=Path, required=True, help=VERSION_HELP)
    parser.add_argument("--replicas", type=positive, default=2)
    parser.add_argument(
        "--queries", type=positive, default=4, help="queries of each kind each replica answers"
    )


def _scale_node(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale

    result = scale.measure_node(args.version, settings, args.replicas, args.queries)
    return _recorded(args, "node", f"{result['documents']}x{args.replicas}", result)


def add_scale_report(commands: Subcommands) -> None:
    """``scale-report``: the scale report and capacity plan."""
    add_report_command(
        commands,
        _scale_report,
        "scale-report",
        help="write reports/scale.md: measured scale figures and the capacity plan",
        description="Render reports/scale.md from reports/scale.json (scale-train, "
        "scale-ingest) and reports/bench.json (query latency), with the capacity plan.",
    )


def _scale_report(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement import scale_plan

    path = scale_plan.write_report(args.reports)
    print(f"wrote {path}")
    return 0


def add_bench_index(commands: Subcommands) -> None:
    """``bench-index``: the index backends' recall and speed."""
    parser = commands.add_parser(
        "bench-index",
        help="recall@10 and speed of the L1 index backends",
        description="Measure recall@10 against a full L1 scan, query latency, build time and "
        "memory of every index backend on realistic thetas (resampled from the active version's, "
        "when there is one) and on Dirichlet thetas.",
    )
    parser.add_argument("--documents", type=positive, default=100_000)
    parser.add_argument("--topics", type=positive, default=50)
    parser.add_argument("--queries", type=positive, default=200)
    parser.add_argument(
        "--methods",
        default="",
        help="comma-separated backends to measure (default: all), e.g. bounds,bounds-float16",
    )
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(handler=_bench_index)


def _bench_index(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement.index_bench import CONTENDERS, run_index_benchmark
    from core.serving.version_files import VersionFiles

    with database.open_database(settings.database_url)() as session:
        version = store.active_version(session)
    base = None if version is None else VersionFiles(Path(version.artifact_dir)).read_index()
    methods = {method for method in args.methods.split(",") if method}
    contenders = [c for c in CONTENDERS if not methods or c.method in methods]
    if not contenders:
        raise CommandError(f"no backend named {args.methods!r}")
    rows = run_index_benchmark(
        args.documents,
        args.topics,
        args.queries,
        contenders,
        base=None if base is None else base.thetas,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


LIVE_DEFAULTS = {"latency_adds": 20, "batch": 1000, "quiet_seconds": 20.0}  # bench-live's


def add_bench_live(commands: Subcommands) -> None:
    """``bench-live``: adds to the live collection, seen from another replica."""
    parser = add_report_command(
        commands,
        _bench_live,
        "bench-live",
        help="add latency, batch throughput and search latency during adds (reports/live.md)",
        description="Build a version from --collection in its own data dir, then add documents "
        "from --additions while another replica (a second process) watches and searches: "
        "per-document latency until searchable there, one batch add's throughput, and "
        "visitors' search latency with and without the batch (see "
        "core/measurement/live_bench.py).",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        default=BUILTIN_COLLECTION,
        help="base collection the version is built from (default: the built-in one)",
    )
    parser.add_argument(
        "--additions",
        type=Path,
        help="collection folder the added documents come from (default: DATA_DIR/benchmark/"
        "collection)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, help="image probability cache (default: DATA_DIR/cache)"
    )
    parser.add_argument(
        "--workdir", type=Path, help="its data dir goes here (default: DATA_DIR/bench-live)"
    )
    parser.add_argument("--latency-adds", type=positive, help="single-document adds")
    parser.add_argument("--batch", type=positive, help="documents in the batch add")
    parser.add_argument(
        "--quiet-seconds", type=float, help="seconds of visitors' searches with no add running"
    )
    parser.set_defaults(**LIVE_DEFAULTS)


def _bench_live(args: argparse.Namespace, settings: Settings) -> int:
    from core.measurement.live_bench import LiveBenchOptions, live_bench_and_report

    additions = args.additions or settings.data_dir / "benchmark" / "collection"
    if not additions.is_dir():
        raise CommandError(f"no collection of documents to add at {additions} (see --additions)")
    options = LiveBenchOptions(
        workdir=args.workdir or settings.data_dir / "bench-live",
        collection=args.collection,
        additions=additions,
        cache_dir=args.cache_dir or settings.cache_dir,
        latency_adds=args.latency_adds,
        batch=args.batch,
        quiet_seconds=args.quiet_seconds,
    )
    given = {
        "collection": args.collection != BUILTIN_COLLECTION and args.collection,
        "additions": args.additions,
        "cache_dir": args.cache_dir,
        "workdir": args.workdir,
        **{
            name: getattr(args, name) != value and getattr(args, name)
            for name, value in LIVE_DEFAULTS.items()
        },
    }
    flags = [f"--{name.replace('_', '-')} {value}" for name, value in given.items() if value]
    command = " ".join(["python -m core bench-live", *flags])
    report = live_bench_and_report(
        options,
        args.reports,
        command,
        progress=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"wrote {report}")
    return 0


def add_bench_drift(commands: Subcommands) -> None:
    """``bench-drift``: documents added vs a model retrained with them (the retrain rule)."""
    parser = add_report_command(
        commands,
        _bench_drift,
        "bench-drift",
        help="added vs retrained: the measurement behind the retrain rule (reports/drift.md)",
        description="On the benchmark collection, add documents to a trained model as the live "
        "collection does, or retrain with them, and compare annotation and search; the curve "
        "of growing additions sets the rule of core/serving/drift.py (see "
        "core/measurement/drift_bench.py).",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        help="benchmark collection (default: DATA_DIR/benchmark/collection)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every 8th document of each split, 3 training passes (figures mean little)",
    )


def _bench_drift(args: argparse.Namespace, settings: Settings) -> int:
    import core.building.artm_loader  # noqa: F401  (it trains after loading the backbone)
    from core.measurement.drift_bench import DriftBenchOptions, drift_bench_and_report
    from core.reading.backbones import load_backbone
    from core.reading.vision import ImageVectorizer

    collection = args.collection or settings.data_dir / "benchmark" / "collection"
    options = DriftBenchOptions(collection, settings.data_dir / "bench-drift", quick=args.quick)
    flags = [f"--collection {args.collection}" if args.collection else "", "--quick" * args.quick]
    report = drift_bench_and_report(
        options,
        ImageVectorizer(load_backbone(settings), settings.cache_dir),
        args.reports,
        " ".join(["python -m core bench-drift", *filter(None, flags)]),
        lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"wrote {report}")
    return 0


def add_bench_sample(commands: Subcommands) -> None:
    """``bench-sample``: what training phi on a sample costs, and the inference throughput."""
    parser = add_report_command(
        commands,
        _bench_sample,
        "bench-sample",
        help="phi trained on 25%%, 50%% and 100%% of the training split, the rest inferred: "
        "quality side by side and inference throughput per worker (reports/sample.md)",
        description="On the benchmark collection, train versions whose phi comes from a "
        "sample of the train split (every document's theta inferred with phi fixed), compare "
        "the eval's annotation, text -> image and concept figures on the validation split, and "
        "time the inference of thetas on local Dask workers (see "
        "core/measurement/sample_bench.py).",
    )
    parser.add_argument(
        "--collection",
        type=Path,
        help="benchmark collection (default: DATA_DIR/benchmark/collection)",
    )
    parser.add_argument(
        "--workers", type=positive, default=2, help="Dask worker processes (default: 2)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every 8th document of each split, 3 training passes (figures mean little)",
    )


def _bench_sample(args: argparse.Namespace, settings: Settings) -> int:
    import core.building.artm_loader  # noqa: F401  (it trains after loading the backbone)
    from core.measurement.sample_bench import SampleBenchOptions, sample_bench_and_report
    from core.reading.backbones import load_backbone
    from core.reading.vision import ImageVectorizer

    collection = args.collection or settings.data_dir / "benchmark" / "collection"
    options = SampleBenchOptions(
        collection, settings.data_dir / "bench-sample", quick=args.quick, workers=args.workers
    )
    flags = [
        f"--collection {args.collection}" if args.collection else "",
        f"--workers {args.workers}" if args.workers != 2 else "",
        "--quick" * args.quick,
    ]
    report = sample_bench_and_report(
        options,
        settings,
        ImageVectorizer(load_backbone(settings), settings.cache_dir),
        args.reports,
        " ".join(["python -m core bench-sample", *filter(None, flags)]),
        lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(f"wrote {report}")
    return 0
