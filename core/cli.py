"""Command line: ``python -m core build|worker|search|annotate|topics|models|eval|bench|scale-*``.

Every command has ``--help``; ``--json`` prints machine-readable output on stdout, while progress
and problems go to stderr. Admin panel accounts have their own command line, ``python -m admin
users`` (``admin.cli``): ``core`` never imports ``admin``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from core.measurement.scale import TRAINING_SIZES
from core.reading.vision import ImageError
from core.serving.engine import Query
from core.serving.inference import NothingRecognized
from core.serving.model import validate_weights
from core.serving.service import NoActiveModel, Service
from core.settings import BUILTIN_COLLECTION, REPO_ROOT, Settings, load_settings
from core.storage import store


class CommandError(Exception):
    """A user-facing error: printed without a traceback, exit code 2."""


SOURCE_HELP = "a built version's directory (default: the active version)"


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


def _report_command(
    commands: argparse._SubParsersAction, handler: Callable, name: str, **texts: str
) -> argparse.ArgumentParser:
    """A measuring command: it writes its figures under ``--reports`` (default: the repository's
    reports/ directory)."""
    parser = commands.add_parser(name, **texts)
    parser.add_argument("--reports", type=Path, default=REPO_ROOT / "reports")
    parser.set_defaults(handler=handler)
    return parser


def _weights(text: str) -> dict[str, float]:
    weights = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"expected @modality=weight, got {part!r}")
        try:
            weights[name.strip()] = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"weight of {name} is not a number: {value!r}"
            ) from None
    try:
        validate_weights(weights)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return weights


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(_positive(part) for part in text.split(","))


def _progress_printer() -> Callable:
    last = {"stage": None, "at": 0.0}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and done < total and now - last["at"] < 0.5:
            return
        last.update(stage=stage, at=now)
        width = 30
        filled = int(width * done / max(total, 1))
        end = "\n" if done >= total else ""
        print(
            f"\r{stage:>10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
            end=end,
            file=sys.stderr,
            flush=True,
        )

    return report


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


def _active_version_dir(settings: Settings) -> Path:
    with store.open_database(settings.database_url)() as session:
        version = store.active_version(session)
    if version is None:
        raise CommandError("no active model version; run `python -m core build` first")
    return Path(version.artifact_dir)


def _query(args: argparse.Namespace) -> Query:
    image = None
    if getattr(args, "image", None) is not None:
        if not args.image.is_file():
            raise CommandError(f"image file not found: {args.image}")
        image = args.image.read_bytes()
    query = Query(text=getattr(args, "text", "") or "", image=image)
    if query.is_empty():
        raise CommandError("give a text, an --image, or both")
    return query


def _search(args: argparse.Namespace, settings: Settings) -> int:
    if args.like is not None:
        if args.text or args.image is not None:
            raise CommandError("--like takes no text or --image: the document is the query")
        try:
            result = Service(settings).more_like(args.like, args.k, args.weights)
        except ValueError as error:
            raise CommandError(str(error)) from None
    else:
        result = Service(settings).search(_query(args), args.k, args.weights)
    payload = {
        "model_version": result.model_version,
        "ranking": result.ranking,
        "recognized": result.query.recognized,
        "unknown": _flat(result.query.unknown),
        "fit": result.fit.to_dict() if result.fit else None,
        "results": [
            {
                "id": h.id,
                "text": h.text,
                "tags": h.tags,
                "image": h.image,
                "distance": round(h.distance, 6),
                "matched": h.matched,
                "weak": h.weak,
            }
            for h in result.hits
        ],
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if payload["unknown"]:
        print(f"unknown to the model: {', '.join(payload['unknown'])}")
    if result.fit is not None:
        print(("WARNING: " if result.fit.weak else "") + result.fit.describe())
    for rank, hit in enumerate(result.hits, start=1):
        mark = "weak " if hit.weak else "     "
        found = f"  (contains: {', '.join(hit.matched)})" if hit.matched else ""
        print(
            f"{rank:>3}. {mark}{hit.distance:.3f}  {hit.id}  {hit.text[:70]}  "
            f"#{' #'.join(hit.tags)}{found}"
        )
    return 0


def _annotate(args: argparse.Namespace, settings: Settings) -> int:
    version, annotations = Service(settings).annotate(
        _query(args), args.modality, args.k, exclude_query_tokens=args.exclude_query_tokens
    )
    payload = {
        "model_version": version,
        "annotations": {
            modality: [{"token": a.token, "display": a.display, "p": round(a.p, 6)} for a in items]
            for modality, items in annotations.items()
        },
    }
    if args.json:
        print(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    for modality, items in annotations.items():
        print(f"{modality}: " + ", ".join(f"{a.display} ({a.p:.3f})" for a in items))
    return 0


def _topics(args: argparse.Namespace, settings: Settings) -> int:
    sessions = store.open_database(settings.database_url)
    with sessions() as session:
        version = store.active_version(session)
        if version is None:
            raise CommandError("no active model version: run `python -m core build`")
        topics = [
            {
                "index": t.index,
                "name": t.name,
                "label": t.label,
                "status": t.status,
                "terms": _terms_by_modality(t.terms, args.n),
            }
            for t in store.version_topics(session, version.id)
        ]
        name = version.name
    if args.json:
        print(json.dumps({"model_version": name, "topics": topics}, ensure_ascii=False, indent=2))
        return 0
    for topic in topics:
        print(f"[{topic['index']}] {topic['label']} ({topic['status']})")
        for modality, terms in topic["terms"].items():
            print(f"    {modality}: {', '.join(t['display'] for t in terms)}")
    return 0


def _terms_by_modality(terms, limit: int) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for term in sorted(terms, key=lambda t: (t.modality, t.rank)):
        bucket = grouped.setdefault(term.modality, [])
        if len(bucket) < limit:
            bucket.append(
                {"term": term.term, "display": term.display, "p": round(term.probability, 6)}
            )
    return grouped


def _version_row(version, active_id: int | None) -> dict:
    return {
        "id": version.id,
        "name": version.name,
        "status": version.status,
        "active": version.id == active_id,
        "created_at": version.created_at.isoformat(),
        "documents": version.num_documents,
        "topics": version.num_topics,
        "artifact_dir": version.artifact_dir,
    }


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    sessions = store.open_database(settings.database_url)
    with sessions() as session:
        active = store.active_version(session)
        rows = [
            _version_row(v, active.id if active else None) for v in store.list_versions(session)
        ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        mark = "*" if row["active"] else " "
        print(
            f"{mark} {row['id']:>4} {row['name']}  {row['status']:<9} {row['created_at']}  "
            f"{row['documents']} docs, {row['topics']} topics"
        )
    return 0


def _models_activate(args: argparse.Namespace, settings: Settings) -> int:
    sessions = store.open_database(settings.database_url)
    key = int(args.version) if args.version.isdigit() else args.version
    with sessions() as session:
        version = store.get_version(session, key)
        if version is None:
            raise CommandError(f"no model version {args.version!r}")
        store.activate_version(session, version.id)
        name = version.name
    if args.json:
        print(json.dumps({"active": name}))
    else:
        print(f"activated {name}")
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


def _flat(unknown: dict[str, list[str]]) -> list[str]:
    return [token for tokens in unknown.values() for token in tokens]
