"""The test-split run of ``python -m core eval``: every method trained on train + validation,
the annotation levers, the held-out photos and the fit calibration on our model, and the same
split with each shipped backbone."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.measurement.eval_methods import (
    ANNOTATED,
    Benchmark,
    Progress,
    annotate_photos,
    annotation_scores,
    evaluate_frequent,
    evaluate_neighbours,
    evaluate_topic_model,
    load_benchmark,
)
from core.measurement.eval_search import PHOTO_RANKINGS, RANKINGS, builtin_concepts
from core.measurement.search_checks import suggestions_understood, test_split_checks
from core.reading.backbones import load_backbone, measure_throughput
from core.reading.images import load_image
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving.annotation import TOPICS_ONLY, AnnotationParams
from core.serving.answers import AnnotationRequest, SearchRequest
from core.serving.engine import Query, SearchEngine
from core.serving.fit import KINDS, FitReference
from core.serving.inference import NothingRecognized
from core.serving.model import ModelParams
from core.serving.ranking import RankingParams

# The article: about 50 topics, "a hundred or two" visual words from a "series of logarithmic
# transforms", no modality weights or regularizers stated (so BigARTM's defaults).
ARTICLE_PARAMS = ModelParams(
    num_topics=50,
    modality_weights={TEXT: 1.0, TAG: 1.0, VISUAL: 1.0},
    sparse_phi_tau=0.0,
    sparse_theta_tau=0.0,
    decorrelation_tau=0.0,
    visual_samples=200,
    flattening_strength=2,
)
QUICK_SHARE = 8  # --quick keeps every 8th document of each split
QUICK_PASSES = 3


# --------------------------------------------------------------------------- annotation levers

# Each row adds one lever to the row before it, on the same trained model; the row marked
# "= the defaults" is ``AnnotationParams()``, what the engine uses (chosen on the validation
# split, ``sweep_annotation``); a row after it is a lever the sweep measured and left off.
BEFORE_ANNOTATION_SWEEP = AnnotationParams(
    neighbours=10, vote_decay=2.0, class_name_weight=0.0, class_name_caption=0.0
)
ANNOTATION_LEVERS: tuple[tuple[str, AnnotationParams], ...] = (
    ("p(w|d) = phi @ theta alone, seeded draw of @visual words (the article)", TOPICS_ONLY),
    ("p(w|d) alone, @visual as expected counts", replace(TOPICS_ONLY, expected_visual=True)),
    (
        "p(w|d) + label transfer, neighbours in topic space, votes 1/i",
        replace(BEFORE_ANNOTATION_SWEEP, neighbour_space="topics", vote_decay=1.0),
    ),
    (
        "p(w|d) + label transfer, neighbours by visual words, votes 1/i",
        replace(BEFORE_ANNOTATION_SWEEP, vote_decay=1.0),
    ),
    (
        "p(w|d) + label transfer, neighbours by visual words, votes 1/i^2",
        BEFORE_ANNOTATION_SWEEP,
    ),
    (
        "+ the backbone's class names as words",
        replace(BEFORE_ANNOTATION_SWEEP, class_name_weight=0.5),
    ),
    (
        "votes 1/i^8 from 5 neighbours (nearly: copy the nearest)",
        replace(AnnotationParams(), class_name_caption=0.0),
    ),
    (
        "+ theta from the visual words and a pseudo-caption of the class names (= the defaults)",
        AnnotationParams(),
    ),
    (
        "+ class names reach hashtags by co-occurrence (left off)",
        replace(AnnotationParams(), class_name_cooccurrence=True),
    ),
    (
        "defaults + 2PKNN: each word's 2 nearest examples pooled, votes exp(-50 x L1) (left off)",
        replace(AnnotationParams(), label_neighbours=2, distance_decay=50.0),
    ),
    (
        "2PKNN as above, p(w|d) prior share 0.4 instead of 0.2 (left off)",
        replace(AnnotationParams(), label_neighbours=2, distance_decay=50.0, transfer_weight=0.6),
    ),
    (
        "defaults + visual distance learned on the training hashtags (left off)",
        replace(AnnotationParams(), learned_distance=True),
    ),
    (
        "defaults + topic space as a second view, visual L1 + 0.2 x topic L1 (left off)",
        replace(AnnotationParams(), topic_distance_weight=0.2),
    ),
)


def annotation_levers(
    engine: SearchEngine, bench: Benchmark, train: Sequence[str], test: Sequence[str]
) -> list[dict]:
    """One row of annotation scores per entry of ``ANNOTATION_LEVERS``."""
    photos = [bench.documents[i].image for i in test]
    rows = []
    for name, params in ANNOTATION_LEVERS:
        predicted = annotate_photos(engine, photos, params)
        rows.append({"lever": name, **annotation_scores(bench, train, test, predicted)})
    return rows


# --------------------------------------------------------------------------- honest uncertainty

FIT_SAMPLE = 300  # test documents asked as each kind of query


def fit_calibration(
    engine: SearchEngine, bench: Benchmark, test: Sequence[str], seed: int = 0
) -> dict[str, dict[str, dict[str, int]]]:
    """How many of the test documents (of the collection's kind, never trained on), asked as a
    photo, as their words and hashtags, and as both, the engine calls a bad fit: with its
    reference (each training document left out) and with the training documents asked as
    trained (the reference before). A calibrated reference flags about ``WEAK_SHARE``."""
    as_trained = FitReference.from_engine_parts(
        engine.inferencer,
        engine.document_tokens(),
        engine.thetas,
        engine.index,
        engine.default_weights,
        leave_out=False,
    )
    counts = {name: {kind: Counter() for kind in KINDS} for name in FIT_REFERENCES}
    sample = np.random.default_rng(seed).permutation(len(test))[:FIT_SAMPLE]
    for row in sample:
        doc = bench.documents[test[row]]
        words = " ".join([doc.text, *(f"#{tag}" for tag in doc.tags)])
        for query in (
            Query(image=doc.image),
            Query(text=words),
            Query(text=words, image=doc.image),
        ):
            try:
                fit = engine.query_fit(SearchRequest(query))
            except NothingRecognized:
                continue
            before = as_trained.fit_kind(fit.kind, fit.perplexity)
            for name, verdict in zip(FIT_REFERENCES, (fit, before), strict=True):
                counts[name][fit.kind].update(queries=1, weak=int(verdict.weak))
    return {name: {kind: dict(c) for kind, c in kinds.items()} for name, kinds in counts.items()}


FIT_REFERENCES = ("each document left out (the default)", "documents as trained (before)")


# --------------------------------------------------------------------------- held-out photos

HELDOUT_PHOTOS = Path(__file__).resolve().parents[2] / "data" / "heldout_photos"


def heldout_annotation(
    engine: SearchEngine, processor: TextProcessor, directory: Path = HELDOUT_PHOTOS
) -> list[dict]:
    """Each held-out photo's top 5 hashtags and words, and whether one of them is among the
    words its entry in ``photos.json`` lists (compared as ``@text`` tokens; a hashtag by the
    token of its name)."""
    entries = json.loads((directory / "photos.json").read_text())["photos"]

    def as_word(modality: str, token: str) -> str | None:
        return token if modality == TEXT else processor.word_token(token.replace("_", " "))

    rows = []
    for entry in entries:
        photo = Query(image=directory / entry["file"])
        found = engine.annotation.annotate(AnnotationRequest(photo, list(ANNOTATED), 5))
        accepted = {processor.word_token(w.lower()) for w in entry["words"]} - {None}
        matched = [
            a.display for m in ANNOTATED for a in found[m] if as_word(m, a.token) in accepted
        ]
        rows.append(
            {
                "file": entry["file"],
                "shows": entry["shows"],
                "tags": [a.display for a in found[TAG]],
                "words": [a.display for a in found[TEXT]],
                "matched": matched,
                "named": bool(matched),
                "fits": not engine.query_fit(SearchRequest(photo)).weak,
            }
        )
    return rows


# --------------------------------------------------------------------------- the run


def run_evaluation(
    bench: Benchmark,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    progress: Progress | None = None,
    builtin: Path | None = None,
    quick: bool = False,
) -> dict:
    """All methods on the test split, trained on train + validation; with ``builtin`` (a
    collection folder) also the concept queries on that collection."""
    train = sorted(bench.splits["train"] + bench.splits["validation"])
    test = bench.splits["test"]
    say = progress or (lambda _: None)
    results = {}
    say("baseline (a): most frequent tokens")
    results["frequent"] = evaluate_frequent(bench, train, test)
    say("baseline (b): nearest CNN neighbours, label transfer")
    results["neighbours"] = evaluate_neighbours(bench, train, test)
    ours, article = ModelParams(), ARTICLE_PARAMS
    if quick:
        ours, article = replace(ours, passes=QUICK_PASSES), replace(article, passes=QUICK_PASSES)
    say("baseline (c): the article's setup")
    results["article"] = evaluate_topic_model(
        bench,
        train,
        test,
        article,
        workdir / "article",
        processor,
        vectorizer,
        "cosine",
        rankings={"topics": RANKINGS["topics"]},
    )
    say("ours: ModelParams() defaults, every ranking, the annotation levers, held-out photos")

    def levers_and_heldout(engine: SearchEngine) -> dict:
        photos = [bench.documents[i].image for i in test]
        heldout = json.loads((HELDOUT_PHOTOS / "photos.json").read_text())["photos"]
        photos += [HELDOUT_PHOTOS / entry["file"] for entry in heldout]
        return {
            "annotation_levers": annotation_levers(engine, bench, train, test),
            "heldout": heldout_annotation(engine, processor),
            "fit_calibration": fit_calibration(engine, bench, test),
            "suggestions_understood": suggestions_understood(engine, photos),
        }

    results["ours"] = evaluate_topic_model(
        bench,
        train,
        test,
        ours,
        workdir / "ours",
        processor,
        vectorizer,
        rankings=RANKINGS,
        extras=levers_and_heldout,
        photo_rankings=PHOTO_RANKINGS,
        test_extras=lambda engine: test_split_checks(engine, processor),
    )
    default = next(name for name, r in RANKINGS.items() if r == RankingParams())
    results["ours"]["text_to_image"] = results["ours"]["text_to_image_by_ranking"][default]
    extra = {}
    if builtin is not None:
        say("concept queries on the built-in collection")
        extra = builtin_concepts(workdir, ours, processor, vectorizer, builtin, say)
    return {
        "documents": {part: len(ids) for part, ids in bench.splits.items()},
        "train_documents": len(train),
        "sources": bench.sources,
        "params": ModelParams().to_dict(),
        "ranking": RankingParams().to_dict(),
        "methods": results,
        **extra,
    }


# --------------------------------------------------------------------------- backbones

COMPARED_BACKBONES = ("squeezenet", "efficientnet_lite0")


def compare_backbones(
    collection: Path,
    results: dict,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    progress: Progress | None = None,
    quick: bool = False,
) -> list[dict]:
    """Every backbone of ``COMPARED_BACKBONES`` on the same split: baseline (b) and ours
    (``ModelParams()``) annotation, text -> image by the default ranking, the held-out photos,
    and its speed there.

    The backbone of ``vectorizer`` reuses ``results`` (the main run); the others train anew
    (``quick``: on the same cut of the splits and with as few passes as the main run).
    """
    say = progress or (lambda _: None)
    photos = json.loads((HELDOUT_PHOTOS / "photos.json").read_text())["photos"]
    images = [load_image(HELDOUT_PHOTOS / p["file"]) for p in photos]
    rows = []
    for name in COMPARED_BACKBONES:
        backbone = load_backbone(name)
        if backbone.name == vectorizer.backbone.name:
            neighbours, ours = results["methods"]["neighbours"], results["methods"]["ours"]
        else:
            say(f"backbone {backbone.name}: vectorize, (b), train ours")
            other = ImageVectorizer(backbone, vectorizer.cache_dir, vectorizer.batch_size)
            bench = load_benchmark(collection, processor, other)
            params = ModelParams()
            if quick:
                splits = {p: ids[::QUICK_SHARE] for p, ids in bench.splits.items()}
                bench, params = replace(bench, splits=splits), replace(params, passes=QUICK_PASSES)
            train = sorted(bench.splits["train"] + bench.splits["validation"])
            test = bench.splits["test"]
            neighbours = evaluate_neighbours(bench, train, test)
            ours = evaluate_topic_model(
                bench,
                train,
                test,
                params,
                workdir / f"ours-{backbone.name}",
                processor,
                other,
                rankings={"default": RankingParams()},
                extras=lambda engine: {"heldout": heldout_annotation(engine, processor)},
            )
            ours["text_to_image"] = ours["text_to_image_by_ranking"]["default"]
        rows.append(
            {
                "backbone": backbone.name,
                "default": backbone.name == vectorizer.backbone.name,
                "neighbours": {m: neighbours["annotation"][m]["f1"] for m in ANNOTATED},
                "ours": {m: ours["annotation"][m]["f1"] for m in ANNOTATED},
                "text_to_image_recall@10": ours["text_to_image"]["recall@10"],
                "heldout_named": sum(row["named"] for row in ours["heldout"]),
                "heldout": len(ours["heldout"]),
                "ms_per_image": measure_throughput(backbone, images, batch_size=1)["ms_per_image"],
            }
        )
    return rows
