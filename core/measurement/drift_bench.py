"""The measurement behind the retrain rule (issue 22, item 4): ``python -m core bench-drift``
writes ``reports/drift.md`` and ``reports/drift.json``.

A model is trained on some documents of the benchmark collection; other documents are then
*added* to it as the live collection adds them (the add path's ingest and inference,
``prepare_corpus`` and ``document_thetas``, phi fixed), or the model is *retrained* with them.
Both arms answer the same queries, documents neither arm saw, with the eval's own scoring
(``eval_methods.query_scores``): annotation F1@5 of ``@tag`` and ``@text`` for the query photo
alone, and text -> image Recall@10 among the query photos. Next to the gap stands what the
drift report would see: the share of the additions that fit the model badly
(``core.serving.drift``, the fit notice's measure) and their median perplexity.

- **The curve that sets the rule** (training documents and queries from train and validation
  only): additions of 10%, 25%, 50% and 100% of the training documents' number, either *like
  the collection* (more documents of its own sources) or *never shown* (categories the training
  documents lack: animals, food, plants), queries = the validation split.
- **Added vs retrained on the test split**: a model trained on train + validation, half of the
  test split added or trained with, the other half the queries.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.building.ingest import LocalIngest
from core.building.pipeline import document_thetas, prepare_corpus
from core.measurement.eval_methods import (
    Benchmark,
    load_benchmark,
    query_scores,
    train_engine,
)
from core.measurement.eval_runs import QUICK_PASSES, QUICK_SHARE
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.drift import additions_fit, bad_fit_share
from core.serving.engine import SearchEngine
from core.serving.fit import WEAK_SHARE
from core.serving.model import ModelParams

Progress = Callable[[str], None]
FRACTIONS = (0.1, 0.25, 0.5, 1.0)  # additions per training document
BASE_SHARE = 0.35  # of the train split: the curve's training documents
NEVER_SHOWN = ("animals", "food", "plants")  # categories (in the documents' ids) left out
FIGURES = (("tag_f1@5", "`@tag` F1@5"), ("text_f1@5", "`@text` F1@5"), ("r@10", "text->image R@10"))


@dataclass(frozen=True)
class DriftBenchOptions:
    """What ``bench-drift`` measures: ``quick`` cuts every split to every 8th document and
    trains 3 passes (a smoke run; its figures mean little)."""

    collection: Path
    workdir: Path
    quick: bool = False
    seed: int = 0
    fractions: tuple[float, ...] = FRACTIONS
    base_share: float = BASE_SHARE

    def __post_init__(self) -> None:
        if not self.fractions or any(f <= 0 for f in self.fractions):
            raise ValueError("fractions must be above 0")
        if not 0 < self.base_share < 1:
            raise ValueError("base_share must be in (0, 1)")


def never_shown(doc_id: str) -> bool:
    """A document of a category the curve's *never shown* training documents lack (the
    benchmark's ids name the source, then the category: ``tux-animals-...``,
    ``gcompris-farm-animals-...``)."""
    return bool(set(doc_id.split("-")[1:3]) & set(NEVER_SHOWN))


def figures(scores: dict) -> dict[str, float]:
    """The figures the report compares, from ``query_scores``."""
    return {
        "tag_f1@5": round(scores["annotation"][TAG]["f1"], 4),
        "text_f1@5": round(scores["annotation"][TEXT]["f1"], 4),
        "r@10": round(scores["text_to_image"]["recall@10"], 4),
    }


class Arms:
    """One trained base model over which documents are added or retrained with."""

    def __init__(
        self,
        bench: Benchmark,
        base: Sequence[str],
        queries: Sequence[str],
        params: ModelParams,
        workdir: Path,
        processor: TextProcessor,
        vectorizer: ImageVectorizer,
    ) -> None:
        self.bench, self.base, self.queries, self.params = bench, list(base), queries, params
        self.workdir, self.processor, self.vectorizer = workdir, processor, vectorizer
        self.engine, self.model = train_engine(
            bench, self.base, params, workdir / "base", processor, vectorizer
        )
        _ = self.engine.fit_reference  # of the training documents, before any addition
        self.base_figures = figures(query_scores(self.engine, bench, self.base, queries)[0])

    def added(self, ids: Sequence[str]) -> SearchEngine:
        """The base engine with ``ids`` added as the live collection adds them."""
        documents = [self.bench.documents[i] for i in ids]
        corpus = prepare_corpus(
            documents, self.params, LocalIngest(self.processor, self.vectorizer)
        )
        thetas = document_thetas(
            self.model, self.params, corpus.tokens, self.params.modality_weights
        )
        return self.engine.with_additions(corpus.documents, thetas)

    def compare(self, ids: Sequence[str]) -> dict:
        """Added vs retrained with ``ids``: the additions' fit and each arm's figures."""
        held = [*self.base, *ids]
        added = self.added(ids)
        fits = additions_fit(added)
        by_kind: dict[str, list[float]] = {}
        for one in fits:
            by_kind.setdefault(one.fit.kind, []).append(one.fit.perplexity)
        added_figures = figures(query_scores(added, self.bench, held, self.queries)[0])
        started = time.perf_counter()
        retrained, _ = train_engine(
            self.bench,
            held,
            self.params,
            self.workdir / "retrained",
            self.processor,
            self.vectorizer,
        )
        retrain_seconds = time.perf_counter() - started
        retrained_figures = figures(query_scores(retrained, self.bench, held, self.queries)[0])
        shutil.rmtree(self.workdir / "retrained", ignore_errors=True)
        return {
            "training_documents": len(self.base),
            "additions": len(ids),
            "added_share": round(len(ids) / len(self.base), 4),
            "measured": len(fits),
            "bad_fit_share": round(bad_fit_share(fits) or 0.0, 4),
            "median_perplexity": {k: round(float(np.median(v)), 1) for k, v in by_kind.items()},
            "added": added_figures,
            "retrained": retrained_figures,
            "gap": {k: round(retrained_figures[k] - added_figures[k], 4) for k in added_figures},
            "retrain_seconds": round(retrain_seconds, 1),
        }

    def close(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def curve(arms: Arms, pool: Sequence[str], fractions: Sequence[float], say: Progress) -> list[dict]:
    """``compare`` with growing additions from ``pool`` (each a share of the training
    documents; a share the pool cannot fill is left out)."""
    points = []
    for fraction in fractions:
        count = round(fraction * len(arms.base))
        if count > len(pool) or count < 1:
            continue
        say(f"  {fraction:.0%}: {count} additions")
        points.append(arms.compare(pool[:count]))
    return points


def run_drift_bench(options: DriftBenchOptions, vectorizer: ImageVectorizer, say: Progress) -> dict:
    """The curve on both sides (seeded), then added vs retrained on the test split."""
    processor = TextProcessor()
    say(f"loading {options.collection}")
    bench = load_benchmark(options.collection, processor, vectorizer)
    params = ModelParams()
    if options.quick:
        bench = replace(bench, splits={p: ids[::QUICK_SHARE] for p, ids in bench.splits.items()})
        params = replace(params, passes=QUICK_PASSES)
    rng = np.random.default_rng(options.seed)
    train, validation, test = (bench.splits[p] for p in ("train", "validation", "test"))
    size = round(options.base_share * len(train))
    scenarios = {}
    familiar = [i for i in train if not never_shown(i)]
    for name, candidates, pool_of in (
        ("like the collection", train, lambda rest: rest),
        ("never shown", familiar, lambda rest: [i for i in train if never_shown(i)]),
    ):
        shuffled = [candidates[i] for i in rng.permutation(len(candidates))]
        base, rest = shuffled[:size], shuffled[size:]
        pool = pool_of(rest)
        pool = [pool[i] for i in rng.permutation(len(pool))]
        say(f"{name}: training on {len(base)} documents, queries: the validation split")
        arms = Arms(
            bench, base, validation, params, options.workdir / "curve", processor, vectorizer
        )
        scenarios[name] = {
            "base": arms.base_figures,
            "points": curve(arms, pool, options.fractions, say),
        }
        arms.close()
    shuffled_test = [test[i] for i in rng.permutation(len(test))]
    half = len(shuffled_test) // 2
    say(f"test split: training on train + validation, {half} test documents added or retrained")
    arms = Arms(
        bench,
        [*train, *validation],
        shuffled_test[half:],
        params,
        options.workdir / "test",
        processor,
        vectorizer,
    )
    headline = arms.compare(shuffled_test[:half])
    arms.close()
    return {
        "quick": options.quick,
        "params": params.to_dict(),
        "never_shown_categories": list(NEVER_SHOWN),
        "reference_bad_fit_share": WEAK_SHARE,
        "curve": scenarios,
        "test_split": headline,
    }


def render_report(results: dict, command: str) -> str:
    """reports/drift.md from ``run_drift_bench``'s results."""
    lines = [
        "# When to retrain: additions vs a retrained model",
        "",
        f"Command: `{command}`"
        + (" (quick: a smoke run, figures mean little)" if results["quick"] else ""),
        "",
        "Documents are added to a trained model as the live collection adds them (phi fixed), "
        "or the model is retrained with them; both answer the same queries, which neither saw "
        "(`core/measurement/drift_bench.py`). *Fit badly*: the share of the additions the fit "
        "notice calls a bad fit (more perplexing than 95% of the training documents, each left "
        f"out; documents like the training ones: about {results['reference_bad_fit_share']:.0%}). "
        "*Gap*: retrained minus added.",
        "",
        "## Added vs retrained on the test split",
        "",
    ]
    head = results["test_split"]
    lines += [
        f"Trained on train + validation ({head['training_documents']} documents); "
        f"{head['additions']} test documents ({head['added_share']:.1%}) added or trained "
        f"with; the other half of the test split asks. Fit badly: {head['bad_fit_share']:.1%} "
        f"of {head['measured']}.",
        "",
        "| figure | added | retrained with them | gap |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {label} | {head['added'][key]:.3f} | {head['retrained'][key]:.3f} | "
        f"{head['gap'][key]:+.3f} |"
        for key, label in FIGURES
    ]
    lines += [
        "",
        "## The curve that sets the rule (train and validation splits only)",
        "",
        f"Training documents: {BASE_SHARE:.0%} of the train split; queries: the validation "
        f"split. *Never shown*: additions from categories the training documents lack "
        f"({', '.join(results['never_shown_categories'])}).",
        "",
    ]
    for name, scenario in results["curve"].items():
        base = scenario["base"]
        lines += [
            f"### {name}",
            "",
            "Before any addition: "
            + ", ".join(f"{label} {base[key]:.3f}" for key, label in FIGURES)
            + ".",
            "",
            "| additions | share of training | fit badly | median perplexity (words+photo) | "
            + " | ".join(f"{label} added / retrained (gap)" for _, label in FIGURES)
            + " |",
            "|---|---|---|---|" + "---|" * len(FIGURES),
        ]
        for point in scenario["points"]:
            median = point["median_perplexity"].get("words+photo")
            lines.append(
                f"| {point['additions']} | {point['added_share']:.0%} | "
                f"{point['bad_fit_share']:.1%} | {'-' if median is None else f'{median:.0f}'} | "
                + " | ".join(
                    f"{point['added'][key]:.3f} / {point['retrained'][key]:.3f} "
                    f"({point['gap'][key]:+.3f})"
                    for key, _ in FIGURES
                )
                + " |"
            )
        lines.append("")
    lines += [
        "The retrain rule of `core/serving/drift.py` (`RetrainRule`) is read off the curve: "
        "its constants quote the rows that set them.",
        "",
    ]
    return "\n".join(lines)


def drift_bench_and_report(
    options: DriftBenchOptions,
    vectorizer: ImageVectorizer,
    reports: Path,
    command: str,
    say: Progress,
) -> Path:
    results = run_drift_bench(options, vectorizer, say)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "drift.json").write_text(json.dumps(results, indent=1) + "\n")
    report = reports / "drift.md"
    report.write_text(render_report(results, command))
    return report
