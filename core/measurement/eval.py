"""Quality of annotation and search on held-out documents, next to the obvious alternatives.

``python -m core eval`` trains on the training split of the benchmark collection (built by
``scripts/build_benchmark_collection.py``), queries with the test documents and writes
``reports/eval.md``. ``python -m core eval --sweep`` first tunes the model on the validation part
of the training split (never on test documents) and records the sweep in ``reports/sweep.json``,
which eval.md shows next to whether ``ModelParams``' defaults are its best setting.

Every method answers the same queries:

* annotation: a test photo alone -> five ``@tag`` and five ``@text`` tokens, scored against the
  document's own tokens (per-word precision/recall/F1 and N+ as in the Corel-5K protocol, and
  per-image precision@5);
* text -> image: a test document's text alone -> the test documents, each represented by its
  photo alone; the target is the document itself (Recall@1/5/10, MRR);
* image -> image: a test photo -> the other test photos; relevant ones share a tag (mAP@10).

Methods: ours (``ModelParams()`` through the real engine, L1), (a) the most frequent training
tokens, (b) JEC-style label transfer from the nearest training photos by L1 between CNN
probability vectors, and (c) the article's setup: 50 topics, every modality weight 1 (the article
gives no weights, so BigARTM's default), cosine linear scan.

Annotation is also measured lever by lever on the same trained model (``ANNOTATION_LEVERS``), with
each shipped backbone (``compare_backbones``), and on photos from outside every collection
(``data/heldout_photos``: a photo counts as named when one of its top 5 hashtags or words is one
of the accepted words its entry lists, written before any output was seen). ``AnnotationParams``'
defaults were chosen on the validation split only (the held-out photos were not used to choose
anything), by ``python -m core eval --sweep-annotation`` (one model trained on the training part,
each setting scored against baseline (b) on the validation photos,
``reports/annotation_sweep.json``): with EfficientNet-Lite0, votes 1/i^8 from 5 neighbours and a
pseudo-caption of 0.25 class-name words took validation F1@5 from 1.01 to 1.11 x (b) for `@tag`
and from 1.10 to 1.14 x (b) for `@text`.
The neighbour levers after them (2PKNN's per-word neighbourhoods, a visual distance learned on
the training hashtags, the topic distance as a second view) did not raise the smaller ratio on
validation (2PKNN, 2 examples per word, exp(-50 x L1): 1.113 / 1.146 x (b) against the defaults'
1.116 / 1.138; a gentler decay or more examples per word fell further), so they are off.

This module runs the whole command; the parts: ``eval_metrics`` (the scores), ``eval_methods``
(each method on one split), ``eval_runs`` (the test-split run and the backbones),
``eval_sweeps`` (on the validation split), ``eval_search`` (rankings and concept queries) and
``eval_report`` (eval.md).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from core.measurement.eval_methods import Progress, load_benchmark
from core.measurement.eval_report import render_report
from core.measurement.eval_runs import QUICK_SHARE, compare_backbones, run_evaluation
from core.measurement.eval_search import write_plots
from core.measurement.eval_sweeps import (
    sweep,
    sweep_annotation,
    sweep_photo_search,
    sweep_rankings,
    sweep_sentences,
)
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.model import ModelParams


def evaluate_and_report(
    collection: Path,
    reports: Path,
    workdir: Path,
    vectorizer: ImageVectorizer,
    run_sweep: bool = False,
    progress: Progress | None = None,
    builtin: Path | None = None,
    quick: bool = False,
    run_ranking_sweep: bool = False,
    run_annotation_sweep: bool = False,
    sweeps_only: bool = False,
    run_photo_sweep: bool = False,
    run_sentence_sweep: bool = False,
) -> Path:
    """The whole ``python -m core eval``: optional sweeps, evaluation, reports; returns eval.md
    (or, with ``sweeps_only``, the reports folder, where the sweeps wrote their records).

    ``builtin`` (a collection folder) adds the concept queries on it; ``quick`` is a smoke run:
    a cut of every split (``QUICK_SHARE``) and few training passes, for the test suite."""
    say = progress or (lambda _: None)
    processor = TextProcessor()
    say(f"loading {collection} (tokens, CNN probabilities)")
    bench = load_benchmark(collection, processor, vectorizer)
    if quick:
        bench = replace(bench, splits={p: ids[::QUICK_SHARE] for p, ids in bench.splits.items()})
    reports.mkdir(parents=True, exist_ok=True)
    sweep_file = reports / "sweep.json"
    if run_sweep:
        record = sweep(bench, ModelParams(), workdir / "sweep", processor, vectorizer, progress=say)
        sweep_file.write_text(json.dumps(record, indent=1) + "\n")
    record = json.loads(sweep_file.read_text()) if sweep_file.is_file() else None
    ranking_file = reports / "ranking_sweep.json"
    if run_ranking_sweep:
        ranking_record = sweep_rankings(
            bench, workdir / "ranking-sweep", processor, vectorizer, progress=say
        )
        ranking_file.write_text(json.dumps(ranking_record, indent=1) + "\n")
    annotation_file = reports / "annotation_sweep.json"
    if run_annotation_sweep:
        annotation_record = sweep_annotation(
            bench, workdir / "annotation-sweep", processor, vectorizer, progress=say
        )
        annotation_file.write_text(json.dumps(annotation_record, indent=1) + "\n")
    photo_file = reports / "photo_sweep.json"
    if run_photo_sweep:
        photo_record = sweep_photo_search(
            bench, workdir / "photo-sweep", processor, vectorizer, progress=say
        )
        photo_file.write_text(json.dumps(photo_record, indent=1) + "\n")
    sentence_file = reports / "sentence_sweep.json"
    if run_sentence_sweep:
        sentence_record = sweep_sentences(
            bench, workdir / "sentence-sweep", processor, vectorizer, progress=say
        )
        sentence_file.write_text(json.dumps(sentence_record, indent=1) + "\n")
    if sweeps_only:
        return reports
    results = run_evaluation(
        bench, workdir, processor, vectorizer, progress=say, builtin=builtin, quick=quick
    )
    results["backbones"] = compare_backbones(
        collection, results, workdir, processor, vectorizer, progress=say, quick=quick
    )
    if ranking_file.is_file():
        results["ranking_sweep"] = json.loads(ranking_file.read_text())
    if annotation_file.is_file():
        results["annotation_sweep"] = json.loads(annotation_file.read_text())
    if photo_file.is_file():
        results["photo_sweep"] = json.loads(photo_file.read_text())
    if sentence_file.is_file():
        results["sentence_sweep"] = json.loads(sentence_file.read_text())
    (reports / "eval.json").write_text(json.dumps(results, indent=1) + "\n")
    command = (
        "python -m core eval"
        + (" --sweep" if run_sweep else "")
        + (" --sweep-ranking" if run_ranking_sweep else "")
        + (" --sweep-annotation" if run_annotation_sweep else "")
        + (" --sweep-photo" if run_photo_sweep else "")
        + (" --sweep-sentences" if run_sentence_sweep else "")
        + (" --quick" if quick else "")
    )
    report = reports / "eval.md"
    plots = write_plots(results, record, reports)
    report.write_text(render_report(results, record, command, plots))
    return report
