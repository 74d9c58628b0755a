"""What training on a sample costs (issue 23, item 4): ``python -m core bench-sample`` writes
``reports/sample.md`` and ``reports/sample.json``.

A version is trained on the benchmark's train split as a build with ``ModelParams.training_sample``
trains it: phi from a seeded random sample of 25%, 50% or 100% of the split's documents, every
document's theta inferred with phi fixed (``train_and_write_version``). The figures are the eval's
own, side by side: annotation F1@5 of ``@tag`` and ``@text`` and text -> image Recall@10 for the
queries (``eval_methods.query_scores``, as ``bench-drift`` reads them), and concept P@5 over the
queries' documents indexed into the version (``eval_search.index_documents`` and
``concept_scores``, as the eval does with the test split).

The queries are the **validation** split: the sample size is a setting this measurement
chooses, and settings are never chosen on the test split. One more version trains on the whole
split with the next seed: how far the figures move with the seed alone, which a sample's drop
is read against.

Then the inference of thetas with phi fixed, documents per second: in this process, and on a
local Dask cluster of 1 and of ``workers`` worker processes, as a build with ``--dask local:N``
runs it (``document_thetas`` on a ``DaskIngest``; phi is sent to the workers within the timing).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.building.ingest import dask_ingest
from core.building.pipeline import document_thetas
from core.measurement.drift_bench import FIGURES, figures
from core.measurement.eval_methods import Benchmark, load_benchmark, query_scores, train_engine
from core.measurement.eval_runs import QUICK_PASSES, QUICK_SHARE
from core.measurement.eval_search import concept_scores, index_documents
from core.reading.collection import TokenCounts
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.model import FittedModel, ModelParams
from core.serving.ranking import ARTICLE_RANKING, RankingParams
from core.serving.version_files import VersionFiles
from core.settings import Settings

Progress = Callable[[str], None]
SHARES = (0.25, 0.5, 1.0)  # of the train split's documents, phi trained on
TOLERANCE = 0.02  # a sample is good enough when no figure falls further below 100%'s
THROUGHPUT_DOCUMENTS = 50_000  # the train split's token bags repeated to this many
CONCEPT_RANKINGS = {"likelihood": RankingParams(), "topics": ARTICLE_RANKING}
CONCEPT_FIGURES = tuple(
    (f"concept_p@5_{language}_{name}", f"concept P@5 {language} ({name})")
    for name in CONCEPT_RANKINGS
    for language in ("en", "ru")
)
ALL_FIGURES = (*FIGURES, *CONCEPT_FIGURES)


@dataclass(frozen=True)
class SampleBenchOptions:
    """What ``bench-sample`` measures: ``quick`` cuts every split to every 8th document, trains
    3 passes and infers a tenth of ``throughput_documents`` (a smoke run; its figures mean
    little)."""

    collection: Path
    workdir: Path
    quick: bool = False
    shares: tuple[float, ...] = SHARES
    workers: int = 2
    throughput_documents: int = THROUGHPUT_DOCUMENTS

    def __post_init__(self) -> None:
        if not self.shares or any(not 0 < share <= 1 for share in self.shares):
            raise ValueError("shares must be in (0, 1]")
        if self.workers < 1 or self.throughput_documents < 1:
            raise ValueError("workers and throughput_documents must be >= 1")


def measure_share(
    bench: Benchmark,
    share: float,
    params: ModelParams,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
) -> tuple[dict, FittedModel, list[TokenCounts]]:
    """A version of the train split with phi trained on ``share`` of it: its figures on the
    validation split, the model, and the token bags of its documents."""
    train, queries = bench.splits["train"], bench.splits["validation"]
    size = round(share * len(train))
    params = replace(params, training_sample=size if size < len(train) else None)
    timings: dict[str, float] = {}
    engine, model = train_engine(bench, train, params, workdir, processor, vectorizer, timings)
    tokens = VersionFiles(workdir).read_corpus().tokens
    found = figures(query_scores(engine, bench, train, queries)[0])
    held = index_documents(
        workdir.with_name(workdir.name + "-validation"),
        model,
        params,
        [bench.documents[i] for i in queries],
        processor,
        vectorizer,
        engine,
    )
    concepts = concept_scores(held, processor, CONCEPT_RANKINGS)
    for name, scores in concepts.items():
        for language in ("en", "ru"):
            found[f"concept_p@5_{language}_{name}"] = round(scores[f"precision@5_{language}"], 4)
    shutil.rmtree(held.directory, ignore_errors=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return (
        {
            "share": share,
            "seed": params.seed,
            "documents": len(tokens),
            "training_documents": model.training_documents,
            "train_seconds": round(timings["train"], 1),
            "thetas_and_index_seconds": round(timings["index"], 1),
            "concepts": concepts["likelihood"]["concepts"],
            "figures": found,
        },
        model,
        tokens,
    )


def throughput(
    model: FittedModel,
    params: ModelParams,
    tokens: Sequence[TokenCounts],
    settings: Settings,
    workers: int,
    say: Progress,
) -> dict:
    """Documents per second of ``document_thetas`` in this process and on local clusters of 1
    and ``workers`` worker processes (started before the clock; phi's trip to the workers is
    timed), and the largest difference of the cluster's thetas to this process's."""
    weights = params.modality_weights
    started = time.perf_counter()
    local = document_thetas(model, params, list(tokens), weights)
    seconds = time.perf_counter() - started
    rows = [{"where": "this process", "workers": 0, "seconds": round(seconds, 2)}]
    for count in sorted({1, workers}):
        say(f"  {len(tokens)} thetas on {count} Dask worker(s)")
        with dask_ingest(f"local:{count}", settings) as executor:
            document_thetas(model, params, list(tokens[:10]), weights, executor=executor)
            started = time.perf_counter()
            remote = document_thetas(model, params, list(tokens), weights, executor=executor)
            seconds = time.perf_counter() - started
        rows.append(
            {
                "where": f"local:{count}",
                "workers": count,
                "seconds": round(seconds, 2),
                "max_difference": float(np.abs(remote - local).max()),
            }
        )
    for row in rows:
        row["documents_per_second"] = round(len(tokens) / row["seconds"], 1)
        row["per_worker"] = round(row["documents_per_second"] / max(row["workers"], 1), 1)
    return {"documents": len(tokens), "rows": rows}


def full_split(arms: Sequence[dict], seed: int) -> dict | None:
    """The arm with phi trained on the whole train split with ``seed``, if any."""
    return next(
        (a for a in arms if a["training_documents"] == a["documents"] and a["seed"] == seed),
        None,
    )


def choose(arms: Sequence[dict], seed: int, tolerance: float = TOLERANCE) -> dict | None:
    """Of the arms trained with ``seed``, the smallest share whose every figure is within
    ``tolerance`` below the full train split's (None when no arm trains on all of it)."""
    full = full_split(arms, seed)
    if full is None:
        return None
    for arm in sorted((a for a in arms if a["seed"] == seed), key=lambda a: a["share"]):
        if all(arm["figures"][key] >= full["figures"][key] - tolerance for key in full["figures"]):
            return arm
    return full


def run_sample_bench(
    options: SampleBenchOptions, settings: Settings, vectorizer: ImageVectorizer, say: Progress
) -> dict:
    """Every share's version and figures, then the inference throughput with the full
    model."""
    processor = TextProcessor()
    say(f"loading {options.collection}")
    bench = load_benchmark(options.collection, processor, vectorizer)
    params = ModelParams()
    volume = options.throughput_documents
    if options.quick:
        bench = replace(bench, splits={p: ids[::QUICK_SHARE] for p, ids in bench.splits.items()})
        params = replace(params, passes=QUICK_PASSES)
        volume = max(1, volume // 10)
    load_before = os.getloadavg()
    arms, model, tokens = [], None, []
    for share in sorted(options.shares):
        say(f"phi trained on {share:.0%} of the train split")
        arm, model, tokens = measure_share(
            bench, share, params, options.workdir / "model", processor, vectorizer
        )
        arms.append(arm)
    say(f"inference throughput (the {sorted(options.shares)[-1]:.0%} model)")
    repeated = [tokens[i % len(tokens)] for i in range(volume)]
    speed = throughput(model, params, repeated, settings, options.workers, say)
    say("the whole train split with the next seed")
    other_seed = replace(params, seed=params.seed + 1)
    arms.append(
        measure_share(bench, 1.0, other_seed, options.workdir / "model", processor, vectorizer)[0]
    )
    chosen = choose(arms, params.seed)
    return {
        "quick": options.quick,
        "params": params.to_dict(),
        "splits": {part: len(ids) for part, ids in bench.splits.items()},
        "queries": "validation",
        "tolerance": TOLERANCE,
        "arms": arms,
        "throughput": speed,
        "chosen_share": chosen["share"] if chosen else None,
        "load_average": {
            "before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()],
        },
        "cpus": os.cpu_count(),
    }


def render_report(results: dict, command: str) -> str:
    """reports/sample.md from ``run_sample_bench``'s results."""
    arms, splits = results["arms"], results["splits"]
    load = results["load_average"]
    lines = [
        "# Training on a sample, inference for the rest",
        "",
        f"Command: `{command}`"
        + (" (quick: a smoke run, figures mean little)" if results["quick"] else ""),
        "",
        f"A version of the benchmark's train split ({splits['train']} documents) whose phi is "
        "trained on a seeded random sample of it, as `python -m core build --training-sample N` "
        "trains, every document's theta then inferred with phi fixed "
        "(`core/measurement/sample_bench.py`). Queries: the validation split "
        f"({splits['validation']} documents), since the sample size is a setting chosen here "
        "and settings are never chosen on the test split. Annotation and text -> image are the "
        "eval's scores of the validation photos and texts (`query_scores`); concept P@5 is "
        "the eval's concept benchmark over the validation documents indexed into the version "
        "(`index_documents`, `concept_scores`), default ranking and topics only.",
        "",
        "## Quality side by side",
        "",
        "| figure | "
        + " | ".join(
            f"phi on {arm['share']:.0%}"
            + ("" if arm["seed"] == results["params"]["seed"] else f", seed {arm['seed']}")
            for arm in arms
        )
        + " |",
        "|---|" + "---|" * len(arms),
        "| documents phi was trained on | "
        + " | ".join(f"{arm['training_documents']} of {arm['documents']}" for arm in arms)
        + " |",
    ]
    for key, label in ALL_FIGURES:
        lines.append(
            f"| {label} | " + " | ".join(f"{arm['figures'][key]:.3f}" for arm in arms) + " |"
        )
    lines += [
        "| training (s) | " + " | ".join(f"{arm['train_seconds']:.1f}" for arm in arms) + " |",
        "| thetas of every document + index, in process (s) | "
        + " | ".join(f"{arm['thetas_and_index_seconds']:.1f}" for arm in arms)
        + " |",
        "",
        f"Concepts with a relevant validation document: {arms[0]['concepts']}. The last "
        "column trains on the whole split with the next seed: the figures move that much with "
        "the seed alone.",
        "",
        "## Inference of thetas with phi fixed",
        "",
        f"{results['throughput']['documents']} documents (the train split's token bags "
        "repeated), `document_thetas` in chunks of 1,000; Dask workers are local processes of "
        "one thread, started before the clock.",
        "",
        "| where | workers | seconds | documents/s | documents/s per worker | "
        "max difference to in-process thetas |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["throughput"]["rows"]:
        difference = row.get("max_difference")
        lines.append(
            f"| {row['where']} | {row['workers'] or '-'} | {row['seconds']:.2f} | "
            f"{row['documents_per_second']:.0f} | "
            f"{row['per_worker']:.0f} | {'-' if difference is None else f'{difference:.1e}'} |"
        )
    lines += [
        "",
        f"Machine: {results['cpus']} cores shared with other work; load average (1, 5, 15 min) "
        f"{load['before']} before, {load['after']} after. The times are indicative; the "
        "quality figures do not depend on the load.",
        "",
        "## Which sample",
        "",
    ]
    chosen = next((arm for arm in arms if arm["share"] == results["chosen_share"]), None)
    full = full_split(arms, results["params"]["seed"])
    rule = (
        f"The smallest sample whose every figure above is within {results['tolerance']} "
        "below the full train split's"
    )
    if chosen is None or full is None:
        lines.append(f"{rule}: no arm trained on the whole split, nothing to compare with.")
    else:
        drops = [
            f"{label} {chosen['figures'][key] - full['figures'][key]:+.3f}"
            for key, label in ALL_FIGURES
            if chosen["figures"][key] < full["figures"][key]
        ]
        lines.append(
            f"{rule}: **{chosen['share']:.0%}** ({chosen['training_documents']} documents; "
            f"training {chosen['train_seconds']:.1f} s against {full['train_seconds']:.1f} s); "
            f"below the full split: {', '.join(drops) or 'none'}."
        )
        other = next((arm for arm in arms if arm["seed"] != full["seed"]), None)
        if other is not None:
            spread = max(
                abs(other["figures"][key] - full["figures"][key]) for key, _ in ALL_FIGURES
            )
            lines += [
                "",
                f"The next seed alone moves a figure of the full split by up to {spread:.3f}.",
            ]
    lines.append("")
    return "\n".join(lines)


def sample_bench_and_report(
    options: SampleBenchOptions,
    settings: Settings,
    vectorizer: ImageVectorizer,
    reports: Path,
    command: str,
    say: Progress,
) -> Path:
    results = run_sample_bench(options, settings, vectorizer, say)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "sample.json").write_text(json.dumps(results, indent=1) + "\n")
    report = reports / "sample.md"
    report.write_text(render_report(results, command))
    return report
