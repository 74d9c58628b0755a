"""Command line: ``python -m core build|worker|search|annotate|topics|models|eval|bench|scale-*``.

Every command has ``--help``; ``--json`` prints machine-readable output on stdout, while progress
and problems go to stderr. Admin panel accounts have their own command line, ``python -m admin
users`` (``admin.cli``): ``core`` never imports ``admin``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.cli.building import _build, _worker
from core.cli.common import (
    SOURCE_HELP,
    CommandError,
    _flat,
    _positive,
    _report_command,
    _sizes,
    _weights,
)
from core.cli.measurement import (
    _bench_index,
    _bench_model,
    _eval,
    _scale_footprint,
    _scale_ingest,
    _scale_report,
    _scale_train,
)
from core.cli.serving import (
    _annotate,
    _models_activate,
    _models_list,
    _search,
    _topics,
)
from core.measurement.scale import TRAINING_SIZES
from core.reading.vision import ImageError
from core.serving.inference import NothingRecognized
from core.serving.service import NoActiveModel
from core.settings import BUILTIN_COLLECTION, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        return args.handler(args, settings)
    except (
        CommandError,
        NoActiveModel,
        NothingRecognized,
        ImageError,
        FileNotFoundError,
        ValueError,
    ) as error:
        _fail(args, error)
        return 2


def _fail(args: argparse.Namespace, error: Exception) -> None:
    if getattr(args, "json", False):
        payload = {"error": str(error)}
        if isinstance(error, NothingRecognized):
            payload.update(nothing_recognized=True, unknown=_flat(error.unknown), results=[])
        print(json.dumps(payload, ensure_ascii=False))
    print(f"error: {error}", file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m core",
        description="Semantic image search and annotation with multimodal topic models.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="import, vectorize, train, index and activate a new model version",
        description="Build a new model version from a collection and make it active.",
    )
    build.add_argument("--collection", type=Path, help="collection folder (default: built-in)")
    build.add_argument("--topics", type=int, help="number of topics")
    build.add_argument("--passes", type=int, help="training passes over the collection")
    build.add_argument("--weights", type=_weights, help="modality weights, e.g. @visual=0.05")
    build.add_argument(
        "--ranking",
        choices=("likelihood", "topics"),
        default="likelihood",
        help="how searches order documents: query likelihood with topic smoothing (default, the "
        "best measured) or L1 between topic vectors (the article's setup)",
    )
    build.add_argument(
        "--if-missing", action="store_true", help="do nothing if a model version is already active"
    )
    build.add_argument(
        "--dask",
        metavar="ADDRESS|local:N",
        help="run text processing and image vectorization on a Dask cluster: a scheduler "
        "address (e.g. tcp://10.0.0.5:8786; the collection and the data dir must be at the same "
        "paths on the workers) or local:N for N worker processes on this machine",
    )
    build.add_argument("--json", action="store_true", help="print the report as JSON")
    build.set_defaults(handler=_build)

    worker = commands.add_parser(
        "worker",
        help="run queued jobs (build, re-index, add a modality, retrain, junk filter)",
        description="Take jobs that the admin pages queue in the metadata database and run them, "
        "one at a time, until stopped (Ctrl-C or SIGTERM: the running job fails cleanly). "
        "Several workers may share a PostgreSQL database; SQLite allows one.",
    )
    worker.add_argument("--until-idle", action="store_true", help="exit once no job is queued")
    worker.add_argument(
        "--heartbeat", type=float, default=2.0, metavar="SECONDS",
        help="heartbeat interval; the worker counts as dead after 5 missed beats (default: 2)",
    )  # fmt: skip
    worker.add_argument(
        "--poll", type=float, default=1.0, metavar="SECONDS",
        help="how often an idle worker looks for a job (default: 1)",
    )  # fmt: skip
    worker.set_defaults(handler=_worker)

    search = commands.add_parser(
        "search",
        help="search by text, photo or both",
        description="Best documents for a query by the model version's ranking (query "
        "likelihood with topic smoothing, or L1 between topic vectors); says how well the query "
        "fits the model and marks weak hits.",
    )
    search.add_argument("text", nargs="?", default="", help="query text")
    search.add_argument("--image", type=Path, help="query photo")
    search.add_argument(
        "--like", metavar="DOC_ID", help="documents like this one (by its topic vector)"
    )
    search.add_argument("--weights", type=_weights, help="e.g. @text=1,@visual=0.5 (0 = off)")
    search.add_argument("-k", type=_positive, default=10, help="number of results")
    search.add_argument("--json", action="store_true")
    search.set_defaults(handler=_search)

    annotate = commands.add_parser(
        "annotate",
        help="words and hashtags for a photo",
        description="Top tokens of a modality by p(w|d) = phi @ theta of the query.",
    )
    annotate.add_argument("image", type=Path, help="photo to annotate")
    annotate.add_argument("--text", default="", help="optional text to go with the photo")
    annotate.add_argument("--modality", action="append", help="modality (repeatable)")
    annotate.add_argument("-k", type=_positive, default=10)
    annotate.add_argument(
        "--exclude-query-tokens", action="store_true", help="leave out tokens already in the query"
    )
    annotate.add_argument("--json", action="store_true")
    annotate.set_defaults(handler=_annotate)

    topics = commands.add_parser(
        "topics",
        help="topics of the active version",
        description="Topics with their top terms per modality.",
    )
    topics.add_argument("--json", action="store_true")
    topics.add_argument("-n", type=_positive, default=8, help="terms per modality to show")
    topics.set_defaults(handler=_topics)

    models = commands.add_parser(
        "models",
        help="list or activate model versions",
        description="Model versions in the metadata database.",
    )
    model_commands = models.add_subparsers(required=True, metavar="ACTION")
    listing = model_commands.add_parser("list", help="list versions")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_models_list)
    activate = model_commands.add_parser("activate", help="make a ready version active")
    activate.add_argument("version", help="version id or name (e.g. 3 or v0003)")
    activate.add_argument("--json", action="store_true")
    activate.set_defaults(handler=_models_activate)

    bench_model = _report_command(
        commands,
        _bench_model,
        "bench",
        help="performance benchmark (writes reports/bench.md)",
        description="Text, vectorization and training throughput, query latency on the "
        "built-in collection and on synthetic thetas, index configurations (see "
        "core/measurement/bench.py).",
    )
    bench_model.add_argument(
        "--sizes",
        type=_sizes,
        default=(100_000, 1_000_000),
        help="synthetic collection sizes, comma-separated (default: 100000,1000000)",
    )
    bench_model.add_argument("--queries", type=_positive, default=200, help="queries per kind")

    evaluate = _report_command(
        commands,
        _eval,
        "eval",
        help="annotation and search quality against baselines (writes reports/eval.md)",
        description="Train on the benchmark collection's training split, query with its test "
        "documents, compare with baselines and write reports/eval.md (see "
        "core/measurement/eval.py).",
    )
    evaluate.add_argument(
        "--collection",
        type=Path,
        help="benchmark collection (default: DATA_DIR/benchmark/collection, built by "
        "scripts/build_benchmark_collection.py)",
    )
    evaluate.add_argument(
        "--sweep",
        action="store_true",
        help="first sweep model settings on the validation split (writes reports/sweep.json)",
    )
    evaluate.add_argument(
        "--sweep-ranking",
        action="store_true",
        help="first measure the ranking's coordination weights on the validation split "
        "(writes reports/ranking_sweep.json)",
    )
    evaluate.add_argument(
        "--sweep-annotation",
        action="store_true",
        help="first measure annotation settings on the validation split "
        "(writes reports/annotation_sweep.json)",
    )
    evaluate.add_argument(
        "--sweeps-only",
        action="store_true",
        help="stop after the requested sweeps, without the evaluation on the test split",
    )
    evaluate.add_argument(
        "--builtin",
        type=Path,
        default=BUILTIN_COLLECTION,
        help="collection whose concept queries are also measured (default: the built-in one)",
    )
    evaluate.add_argument(
        "--no-builtin", action="store_true", help="skip the concept queries on --builtin"
    )
    evaluate.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: every 8th document of each split, 3 training passes (figures mean little)",
    )

    scale_train = _report_command(
        commands,
        _scale_train,
        "scale-train",
        help="seconds per pass and peak memory of out-of-core training (into reports/scale.json)",
        description="Train BigARTM out of core on synthetic documents drawn from a built "
        "version's token distributions, with its processors on every core (see "
        "core/measurement/scale.py).",
    )
    scale_train.add_argument(
        "--documents",
        type=_sizes,
        default=TRAINING_SIZES,
        help="collection sizes, comma-separated (default: 100000,1000000)",
    )
    scale_train.add_argument("--passes", type=_positive, default=2, help="passes per size")
    scale_train.add_argument("--source", type=Path, help=SOURCE_HELP)
    scale_train.add_argument("--processors", type=_positive, help="default: every core")
    scale_train.add_argument(
        "--workdir", type=Path, help="where the text and batches go (default: DATA_DIR/scale)"
    )

    scale_ingest = _report_command(
        commands,
        _scale_ingest,
        "scale-ingest",
        help="ingest throughput on local Dask workers (into reports/scale.json)",
        description="Images per second of text processing and vectorization on a local Dask "
        "cluster of 1, 2, ... worker processes, each with an empty image cache.",
    )
    scale_ingest.add_argument(
        "--workers", type=_sizes, default=(1, 2), help="worker counts, comma-separated"
    )
    scale_ingest.add_argument("--collection", type=Path, help="default: the built-in collection")
    scale_ingest.add_argument(
        "--workdir", type=Path, help="where the caches go (default: DATA_DIR/scale)"
    )

    scale_footprint = _report_command(
        commands,
        _scale_footprint,
        "scale-footprint",
        help="per-document sizes and vocabulary growth of a built version (into scale.json)",
        description="Bytes on disk and in memory per document, and the vocabulary's growth "
        "with the collection, of a built version: what the capacity plan scales up from.",
    )
    scale_footprint.add_argument("--source", type=Path, help=SOURCE_HELP)

    _report_command(
        commands,
        _scale_report,
        "scale-report",
        help="write reports/scale.md: measured scale figures and the capacity plan",
        description="Render reports/scale.md from reports/scale.json (scale-train, "
        "scale-ingest) and reports/bench.json (query latency), with the capacity plan.",
    )

    bench = commands.add_parser(
        "bench-index",
        help="recall@10 and speed of the L1 index backends",
        description="Measure recall@10 against a full L1 scan, query latency, build time and "
        "memory of every index backend on realistic thetas (resampled from the active version's, "
        "when there is one) and on Dirichlet thetas.",
    )
    bench.add_argument("--documents", type=_positive, default=100_000)
    bench.add_argument("--topics", type=_positive, default=50)
    bench.add_argument("--queries", type=_positive, default=200)
    bench.add_argument("--json", action="store_true")
    bench.set_defaults(handler=_bench_index)
    return parser
