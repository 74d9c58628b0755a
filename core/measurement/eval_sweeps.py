"""The sweeps of ``python -m core eval`` on the validation split (never the test split): model
settings, the ranking's settings and the annotation settings, each a coordinate search."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from core.measurement.concepts import run_attributes, run_phrases, run_sentences
from core.measurement.eval_methods import (
    ANNOTATED,
    Benchmark,
    Progress,
    annotate_photos,
    annotation_scores,
    evaluate_neighbours,
    evaluate_topic_model,
    image_to_image,
)
from core.measurement.eval_search import (
    PHOTO_SEARCH_BEFORE,
    PHOTO_WORDS_TOLERANCE,
    PhotoSearch,
    setting_value,
)
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.annotation import AnnotationParams
from core.serving.answers import SearchRequest
from core.serving.concepts import LANGUAGES, engine_ranker, engine_words, run_concepts
from core.serving.engine import Query, SearchEngine
from core.serving.model import ModelParams
from core.serving.ranking import BEFORE_PHRASES, RankingParams

# --------------------------------------------------------------------------- the sweep

SWEEP: tuple[tuple[str, tuple], ...] = (
    ("num_topics", (50, 100, 200, 300)),
    ("@visual weight", (0.005, 0.02, 0.05, 0.2)),
    ("sparse_theta_tau", (0.0, -0.02, -0.1)),
    ("sparse_phi_tau", (0.0, -0.02)),
    ("flattening_strength", (1, 2, 3)),
    ("visual_samples", (100, 200, 400)),
)


def with_setting(params: ModelParams, name: str, value: object) -> ModelParams:
    """``params`` with one swept setting changed (a modality weight is named '@modality weight')."""
    if name.endswith(" weight"):
        modality = name.removesuffix(" weight")
        return replace(params, modality_weights={**params.modality_weights, modality: value})
    return replace(params, **{name: value})


def objective(scores: dict) -> float:
    """What the sweep maximizes: mean of tag-annotation F1@5 and text -> image Recall@10."""
    return (scores["annotation"][TAG]["f1"] + scores["text_to_image"]["recall@10"]) / 2


def sweep(
    bench: Benchmark,
    start: ModelParams,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    grid: Sequence[tuple[str, Sequence]] = SWEEP,
    progress: Progress | None = None,
) -> dict:
    """Coordinate search on the validation part: one setting at a time, keeping the best value
    before moving to the next; a setting already measured is not trained again."""
    train, validation = bench.splits["train"], bench.splits["validation"]
    measured: dict[str, dict] = {}
    rows = []
    best = start
    for name, values in grid:
        results = []
        for value in values:
            params = with_setting(best, name, value)
            key = json.dumps(params.to_dict(), sort_keys=True)
            if key not in measured:
                scores = evaluate_topic_model(
                    bench, train, validation, params, workdir, processor, vectorizer
                )
                measured[key] = scores
                if progress:
                    progress(f"{name}={value}: objective {objective(scores):.4f}")
            results.append((value, measured[key]))
            rows.append({"setting": name, "value": value, **summary(measured[key])})
        best_value = max(results, key=lambda item: objective(item[1]))[0]
        best = with_setting(best, name, best_value)
    return {"start": start.to_dict(), "best": best.to_dict(), "rows": rows}


def summary(scores: dict) -> dict[str, float]:
    """The numbers a sweep row shows."""
    return {
        "objective": objective(scores),
        "tag_f1@5": scores["annotation"][TAG]["f1"],
        "text_f1@5": scores["annotation"][TEXT]["f1"],
        "text_to_image_recall@10": scores["text_to_image"]["recall@10"],
        "image_to_image_map@10": scores["image_to_image_map@10"],
    }


# --------------------------------------------------------------------------- the ranking sweep

# Rankings are a query-time choice: one model trained on the training part, the validation
# documents indexed into it, every candidate measured on them. Coordinate search, one setting
# after another, each fixed at its best before the next.
# Objective, fixed before the first run: the mean of concept P@5 (mean of the languages), phrase
# P@5 (likewise) and text -> image R@10; ties go to the value listed first.
RANKING_SWEEP: tuple[tuple[str, tuple], ...] = (
    ("coordination_weight", (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)),
    ("own_weight", (0.2, 0.35, 0.5, 0.7, 0.9)),
    ("dirichlet_mu", (2.0, 10.0, 50.0)),
)


def ranking_objective(concepts: dict, phrases: dict, text_to_image: dict) -> float:
    def mean_precision(scores: dict) -> float:
        return (scores["precision@5_en"] + scores["precision@5_ru"]) / 2

    return (mean_precision(concepts) + mean_precision(phrases) + text_to_image["recall@10"]) / 3


def sweep_rankings(
    bench: Benchmark,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    grid: Sequence[tuple[str, Sequence]] = RANKING_SWEEP,
    start: RankingParams | None = None,
    progress: Progress | None = None,
) -> dict:
    """Coordinate search over ``RankingParams`` settings on the validation split (never the
    test split), from ``start`` (default: the ranking before the phrase benchmark, from which
    today's defaults were chosen); returns the rows and the best ranking. Each setting's values
    are measured on one model trained on the training part."""
    say = progress or (lambda _: None)
    start = start or BEFORE_PHRASES
    best = start
    rows = []
    for name, values in grid:
        rankings = {f"{name}={value:g}": replace(best, **{name: value}) for value in values}
        say(f"ranking sweep on validation: {', '.join(rankings)}")
        scores = evaluate_topic_model(
            bench,
            bench.splits["train"],
            bench.splits["validation"],
            ModelParams(),
            workdir,
            processor,
            vectorizer,
            rankings=rankings,
        )
        tried = []
        for (label, ranking), value in zip(rankings.items(), values, strict=True):
            concepts = scores["concepts_by_ranking"][label]
            phrases = scores["phrases_by_ranking"][label]
            t2i = scores["text_to_image_by_ranking"][label]
            row = {
                "setting": name,
                "value": value,
                "ranking": ranking.to_dict(),
                "objective": ranking_objective(concepts, phrases, t2i),
                **{f"concept_p@5_{lang}": concepts[f"precision@5_{lang}"] for lang in LANGUAGES},
                **{f"phrase_p@5_{lang}": phrases[f"precision@5_{lang}"] for lang in LANGUAGES},
                "text_to_image_recall@10": t2i["recall@10"],
            }
            say(f"{label}: objective {row['objective']:.4f}")
            tried.append((row, ranking))
        rows += [row for row, _ in tried]
        best = max(tried, key=lambda item: item[0]["objective"])[1]
    return {"start": start.to_dict(), "best": best.to_dict(), "rows": rows}


# --------------------------------------------------------------------------- the sentence sweep

# The levers of issue 21 for sentences and attribute + object queries are query-time choices: one
# model (``ModelParams()``) trained on the training part, the validation documents indexed into
# it, each candidate ranking asked the four query sets (``SENTENCE_SETS``). Coordinate search from
# today's default ranking, one setting after another, each fixed at its best before the next.
# Objective, fixed before the first run: the mean of concept, phrase, sentence and attribute +
# object P@5, each the mean of the two languages; ties go to the value listed first (today's).
SENTENCE_SWEEP: tuple[tuple[str, tuple], ...] = (
    ("object_senses_first", (False, True)),
    ("first_senses_back", (False, True)),
    ("synonym_share", (1.0, 0.75, 0.5, 0.25)),
    ("head_by_case", (False, True)),
    ("rarity", (0.0, 0.25, 0.5, 1.0)),
    ("attribute_weight", (1.0, 0.75, 0.5, 0.25)),
    ("head_bonus", (0.0, 0.5, 1.0, 2.0)),
    ("context_weight", (0.25, 0.1, 0.5)),
    ("own_weight", (0.7, 0.5, 0.9, 0.95)),
)
SENTENCE_SETS = {
    "concept": run_concepts,
    "phrase": run_phrases,
    "sentence": run_sentences,
    "attribute": run_attributes,
}


def sentence_objective(scores: dict[str, dict]) -> float:
    """The mean over ``SENTENCE_SETS`` of P@5, each the mean of the languages."""
    return float(
        np.mean(
            [
                np.mean([scores[name][f"precision@5_{lang}"] for lang in LANGUAGES])
                for name in SENTENCE_SETS
            ]
        )
    )


def sweep_sentences(
    bench: Benchmark,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    grid: Sequence[tuple[str, Sequence]] = SENTENCE_SWEEP,
    start: RankingParams | None = None,
    progress: Progress | None = None,
) -> dict:
    """Coordinate search over ``RankingParams`` settings for sentence and attribute queries on
    the validation split (never the test split), from ``start`` (default: ``RankingParams()``);
    returns the rows and the best ranking. A ranking already measured is not asked again."""
    say = progress or (lambda _: None)
    start = start or RankingParams()

    def coordinate_search(engine: SearchEngine) -> dict:
        words = engine_words(engine, processor)
        measured: dict[RankingParams, dict] = {}
        best, rows = start, []
        for name, values in grid:
            tried = []
            for value in values:
                ranking = replace(best, **{name: value})
                if ranking not in measured:
                    rank = engine_ranker(engine, ranking)
                    measured[ranking] = {
                        set_name: run(rank, words, processor)
                        for set_name, run in SENTENCE_SETS.items()
                    }
                scores = measured[ranking]
                row = {
                    "setting": name,
                    "value": value,
                    "objective": sentence_objective(scores),
                    **{
                        f"{set_name}_p@5_{lang}": scores[set_name][f"precision@5_{lang}"]
                        for set_name in SENTENCE_SETS
                        for lang in LANGUAGES
                    },
                    "attribute_pairs": scores["attribute"]["concepts"],
                }
                say(f"sentence sweep: {name}={value:g}: objective {row['objective']:.4f}")
                tried.append((row, ranking))
            rows += [row for row, _ in tried]
            best = max(tried, key=lambda item: item[0]["objective"])[1]
        return {"start": start.to_dict(), "best": best.to_dict(), "rows": rows}

    say("sentence sweep: training ModelParams() on the training part")
    return evaluate_topic_model(
        bench,
        bench.splits["train"],
        bench.splits["validation"],
        ModelParams(),
        workdir,
        processor,
        vectorizer,
        rankings={"default": start},
        test_extras=lambda engine: {"sentence_sweep": coordinate_search(engine)},
    )["sentence_sweep"]


# --------------------------------------------------------------------------- the annotation sweep

# Annotation settings are a query-time choice: one model (``ModelParams()``) trained on the
# training part, the validation photos annotated with every candidate ``AnnotationParams`` and
# baseline (b) computed on the same split. Coordinate search from ``AnnotationParams()`` of the
# time, one setting after another, each fixed at its best before the next.
# Objective, fixed before the first run: the smaller of the `@tag` and `@text` F1@5 ratios to
# baseline (b) (the target asks both to reach ``ANNOTATION_TARGET``); ties go to the value
# listed first. The neighbour levers (2PKNN, the learned distance, the topic view) come first,
# from the defaults they were added to; the share of p(w|d) (``transfer_weight``, the prior the
# votes are mixed with) is swept after them.
ANNOTATION_SWEEP: tuple[tuple[str, tuple], ...] = (
    ("label_neighbours", (0, 1, 2, 3)),
    ("distance_decay", (20.0, 50.0, 100.0)),
    ("learned_distance", (False, True)),
    ("topic_distance_weight", (0.0, 0.2, 0.5)),
    ("vote_decay", (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0)),
    ("neighbours", (5, 10, 20)),
    ("class_name_caption", (0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0)),
    ("class_name_cooccurrence", (False, True)),
    ("transfer_weight", (0.6, 0.7, 0.8, 0.9, 0.95)),
    ("class_name_weight", (0.0, 0.25, 0.5, 0.75)),
    ("expected_visual", (False, True)),
)


def annotation_objective(scores: dict, baseline: dict) -> float:
    """The smaller of the modalities' F1@5 ratios to baseline (b)'s."""
    return min(scores[m]["f1"] / baseline[m]["f1"] for m in ANNOTATED)


def sweep_annotation(
    bench: Benchmark,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    grid: Sequence[tuple[str, Sequence]] = ANNOTATION_SWEEP,
    start: AnnotationParams | None = None,
    progress: Progress | None = None,
) -> dict:
    """Coordinate search over ``AnnotationParams`` settings on the validation split (never the
    test split), from ``start`` (default: ``AnnotationParams()``); returns baseline (b)'s
    scores, the rows and the best setting. A setting already measured is not annotated again."""
    say = progress or (lambda _: None)
    train, validation = bench.splits["train"], bench.splits["validation"]
    say(f"annotation sweep: baseline (b) on {len(validation)} validation photos")
    baseline = evaluate_neighbours(bench, train, validation)["annotation"]
    photos = [bench.documents[i].image for i in validation]

    def coordinate_search(engine: SearchEngine) -> dict:
        best = start or AnnotationParams()
        measured: dict[AnnotationParams, dict] = {}
        rows = []
        for name, values in grid:
            tried = []
            for value in values:
                params = replace(best, **{name: value})
                if params not in measured:
                    predicted = annotate_photos(engine, photos, params)
                    measured[params] = annotation_scores(bench, train, validation, predicted)
                scores = measured[params]
                row = {
                    "setting": name,
                    "value": value,
                    "objective": annotation_objective(scores, baseline),
                    **{
                        f"{m}_{key}": scores[m][key]
                        for m in ANNOTATED
                        for key in ("f1", "n_plus", "precision_per_image")
                    },
                    **{f"{m}_ratio": scores[m]["f1"] / baseline[m]["f1"] for m in ANNOTATED},
                }
                say(
                    f"{name}={value}: objective {row['objective']:.4f} (@tag"
                    f" {row[f'{TAG}_ratio']:.3f}, @text {row[f'{TEXT}_ratio']:.3f} x (b))"
                )
                tried.append((row, params))
            rows += [row for row, _ in tried]
            best = max(tried, key=lambda item: item[0]["objective"])[1]
        return {"start": asdict(start or AnnotationParams()), "best": asdict(best), "rows": rows}

    say("annotation sweep: training ModelParams() on the training part")
    record = evaluate_topic_model(
        bench,
        train,
        validation,
        ModelParams(),
        workdir,
        processor,
        vectorizer,
        extras=lambda engine: {"annotation_sweep": coordinate_search(engine)},
    )["annotation_sweep"]
    return {"baseline": baseline, **record}


# --------------------------------------------------------------------------- the photo search sweep

# A photo query's predicted hashtags and words are a query-time choice: one model
# (``ModelParams()``) trained on the training part, each validation photo asked alone against the
# other validation photos indexed without words (``PhotoSearch``). Coordinate search from the
# photo search before (``PHOTO_SEARCH_BEFORE``: hashtags and words predicted from the photo's
# visual words alone), one setting after another, each fixed at its best before the next: first
# whether the predicted terms are the photo's annotation as Annotate gives it
# (``photo_as_annotated``), then the weights again with it. Objective: image -> image mAP@10
# (relevant: the photos that share a tag); ties go to the value listed first. Shared hashtags are
# mostly categories ('animals'), which the predicted hashtags match; the predicted words name the
# object (a giraffe's 'giraffe'), which the objective does not see: ``photo_words`` takes the
# largest value within ``PHOTO_WORDS_TOLERANCE`` of its best mAP@10 (rule set after the first
# validation run).
PHOTO_SWEEP: tuple[tuple[str, tuple], ...] = (
    ("photo_as_annotated", (False, True)),
    ("photo_tags", (0.0, 0.1, 0.25, 1.0, 4.0)),
    ("photo_words", (0.0, 0.1, 0.25, 0.5, 1.0)),
)


def sweep_photo_search(
    bench: Benchmark,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    grid: Sequence[tuple[str, Sequence]] = PHOTO_SWEEP,
    start: RankingParams = PHOTO_SEARCH_BEFORE,
    progress: Progress | None = None,
) -> dict:
    """Coordinate search over ``RankingParams``' photo settings on the validation split (never
    the test split), from ``start``; returns the rows and the best ranking."""
    say = progress or (lambda _: None)
    train, validation = bench.splits["train"], bench.splits["validation"]

    def coordinate_search(engine: SearchEngine) -> dict:
        images = [bench.documents[i].image for i in validation]
        thetas = np.stack(
            [engine.infer(SearchRequest(Query(image=image))).theta for image in images]
        )
        search = PhotoSearch(engine, images, thetas)
        best, measured, rows = start, {}, []
        for name, values in grid:
            tried = []
            for value in values:
                ranking = replace(best, **{name: value})
                if ranking not in measured:
                    measured[ranking] = image_to_image(bench, validation, search.distances(ranking))
                row = {"setting": name, "value": value, "map@10": measured[ranking]}
                say(
                    f"photo search sweep: {name}={setting_value(value)}: mAP@10 {row['map@10']:.4f}"
                )
                tried.append((row, ranking))
            rows += [row for row, _ in tried]
            top = max(row["map@10"] for row, _ in tried)
            if name == "photo_words":
                near = [item for item in tried if item[0]["map@10"] >= top - PHOTO_WORDS_TOLERANCE]
                best = max(near, key=lambda item: item[0]["value"])[1]
            else:
                best = next(ranking for row, ranking in tried if row["map@10"] == top)
        return {"start": start.to_dict(), "best": best.to_dict(), "rows": rows}

    say("photo search sweep: training ModelParams() on the training part")
    return evaluate_topic_model(
        bench,
        train,
        validation,
        ModelParams(),
        workdir,
        processor,
        vectorizer,
        extras=lambda engine: {"photo_sweep": coordinate_search(engine)},
    )["photo_sweep"]
