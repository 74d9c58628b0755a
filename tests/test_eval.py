"""The quality metrics against hand-computed values, and the evaluation on tiny real collections."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from core.measurement.eval import evaluate_and_report
from core.measurement.eval_methods import (
    evaluate_neighbours,
    frequent_tokens,
    load_benchmark,
    transfer_labels,
)
from core.measurement.eval_metrics import (
    cosine_distances,
    l1_distances,
    mean_average_precision,
    per_word_scores,
    precision_per_image,
    retrieval_scores,
    target_ranks,
)
from core.measurement.eval_runs import ANNOTATION_LEVERS, HELDOUT_PHOTOS
from core.measurement.eval_search import (
    PHOTO_RANKINGS,
    PHOTO_SEARCH_BEFORE,
    PHOTO_WORDS_TOLERANCE,
    RANKINGS,
    WORDLESS_PHOTOS,
)
from core.measurement.eval_sweeps import (
    SENTENCE_SETS,
    sweep_annotation,
    sweep_photo_search,
    sweep_rankings,
    sweep_sentences,
    with_setting,
)
from core.reading.backbones import load_backbone
from core.reading.text import TAG, TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.annotation import AnnotationParams
from core.serving.model import ModelParams
from core.serving.ranking import RankingParams
from core.settings import Settings
from tests.conftest import builtin_rows, copy_collection

FIXTURE_IMAGES = Path(__file__).parent / "fixtures" / "images"


def test_per_word_scores_follow_the_corel_protocol():
    # given two documents, their predicted words and a vocabulary with a word nobody predicted
    predicted = [["a", "b"], ["a", "c"]]
    truth = [{"a"}, {"b", "c"}]
    # when scored
    scores = per_word_scores(predicted, truth, ["a", "b", "c", "d"])
    # then precision is (1/2 + 0/1 + 1/1 + 0) / 4, recall (1 + 0 + 1 + 0) / 4
    assert scores["precision"] == pytest.approx(0.375)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(2 * 0.375 * 0.5 / 0.875)
    assert scores["n_plus"] == 2


def test_per_image_precision_divides_by_k_even_when_fewer_words_are_predicted():
    assert precision_per_image([["a", "b"], ["x"]], [{"a"}, {"x", "y"}], k=2) == 0.5


def test_target_ranks_count_ties_against_the_target_and_rank_unanswered_queries_last():
    # given distances of three queries to three documents, the last query answered nowhere
    distances = np.array([[0.1, 0.5, 0.3], [0.2, 0.2, 0.9], [np.inf, np.inf, np.inf]])
    # when the targets are documents 2, 0 and 1
    ranks = target_ranks(distances, np.array([2, 0, 1]))
    # then a tie puts the target second and the unanswered query's target last
    assert ranks.tolist() == [2, 2, 3]
    scores = retrieval_scores(ranks, cutoffs=(1, 2))
    assert scores == pytest.approx(
        {"recall@1": 0.0, "recall@2": 2 / 3, "mrr": (1 / 2 + 1 / 2 + 1 / 3) / 3}
    )


def test_mean_average_precision_skips_queries_without_relevant_documents():
    # given one query whose 1st and 3rd nearest documents are relevant, and one with none
    distances = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0]])
    relevant = np.array([[True, False, True, False], [False, False, False, False]])
    # when mAP@3 is computed, then AP = (1/1 + 2/3) / 2 for the first and the second is left out
    assert mean_average_precision(distances, relevant, k=3) == pytest.approx((1 + 2 / 3) / 2)


def test_distances_match_their_definitions(monkeypatch):
    rng = np.random.default_rng(0)
    a, b = rng.random((5, 7)), rng.random((4, 7))
    expected = np.array([[np.abs(x - y).sum() for y in b] for x in a])
    assert np.allclose(l1_distances(a, b, chunk=2), expected)
    # a block bound smaller than one query's row of differences still gives every distance
    monkeypatch.setattr("core.measurement.eval_metrics.L1_BLOCK", 10)
    assert np.allclose(l1_distances(a, b), expected)
    cosine = cosine_distances(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[1.0, 1.0]]))
    assert cosine[:, 0] == pytest.approx([1 - 1 / math.sqrt(2), 1.0])


def test_baselines_rank_tokens_as_described():
    # most frequent: counted once per document, ties alphabetical
    assert frequent_tokens([{"b", "a"}, {"b"}, {"c"}], k=2) == ["b", "a"]
    # JEC: the nearest neighbour's tokens first (by frequency), then those most neighbours share
    frequency = Counter({"sky": 9, "cat": 5, "dog": 4, "grass": 3, "tree": 1})
    neighbours = [{"cat", "sky"}, {"tree", "grass"}, {"grass", "dog"}]
    assert transfer_labels(neighbours, frequency, k=4) == ["sky", "cat", "grass", "dog"]


def test_a_swept_setting_changes_only_itself():
    params = ModelParams()
    weighted = with_setting(params, "@visual weight", 0.5)
    assert weighted.modality_weights == {**params.modality_weights, "@visual": 0.5}
    assert with_setting(params, "num_topics", 50) == ModelParams(num_topics=50)


@pytest.fixture(scope="module")
def tiny_benchmark(tmp_path_factory, vision_cache):
    """Six real photos; every one is both a training and a test document."""
    root = tmp_path_factory.mktemp("tiny-benchmark")
    rows = []
    for number, photo in enumerate(sorted(FIXTURE_IMAGES.glob("*.jpg"))):
        (root / "images").mkdir(exist_ok=True)
        shutil.copy(photo, root / "images" / photo.name)
        tag = "mammal" if photo.stem in ("dog", "horse", "tiger") else photo.stem
        rows.append({"id": str(number), "image": f"images/{photo.name}", "text": photo.stem})
        rows[-1]["tags"] = [tag]
    (root / "documents.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    ids = [r["id"] for r in rows]
    (root / "splits.json").write_text(json.dumps({"train": ids, "validation": [], "test": ids}))
    (root / "sources.json").write_text(json.dumps({"fixtures": {"version": "1", "documents": 6}}))
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    return load_benchmark(root, TextProcessor(), vectorizer)


def test_neighbour_baseline_finds_a_training_photo_itself_first(tiny_benchmark):
    # given test photos that are also training photos
    ids = tiny_benchmark.splits["test"]
    # when the neighbour baseline annotates them
    scores = evaluate_neighbours(tiny_benchmark, ids, ids)
    # then each photo's nearest neighbour is itself, so its own single tag comes first
    assert scores["annotation"][TAG]["precision_per_image"] == pytest.approx(1 / 5)
    assert scores["annotation"][TAG]["recall"] == 1.0
    assert scores["nearest_has_same_tags"] == 1.0
    # and image -> image finds the other mammals (the only photos sharing a tag) among the top 10
    assert 0 < scores["image_to_image_map@10"] <= 1


@pytest.mark.slow
def test_eval_command_writes_a_report_with_every_method(tmp_path, vision_cache):
    # given a small benchmark collection cut from the built-in one, with a seeded split
    rows = builtin_rows()[::12]
    collection = copy_collection(rows, tmp_path / "collection")
    ids = sorted(r["id"] for r in rows)
    split = {"test": ids[::4], "validation": ids[1::4], "train": ids[2::4] + ids[3::4]}
    (collection / "splits.json").write_text(json.dumps(split))
    (collection / "sources.json").write_text(
        json.dumps({"built-in": {"version": "-", "documents": len(rows)}})
    )
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    # when the evaluation runs
    report = evaluate_and_report(collection, tmp_path / "reports", tmp_path / "work", vectorizer)
    # then the report names every method and the targets, and every score is a share
    text = report.read_text()
    for name in ("ours", "(a)", "(b)", "(c)", "Targets", "No sweep recorded"):
        assert name in text
    results = json.loads((tmp_path / "reports" / "eval.json").read_text())
    for method in results["methods"].values():
        for modality_scores in method["annotation"].values():
            assert 0 <= modality_scores["f1"] <= 1
    assert 0 <= results["methods"]["ours"]["text_to_image"]["recall@10"] <= 1


def small_benchmark(rows: list[dict], collection: Path) -> Path:
    """A benchmark collection of ``rows`` of the built-in one, with a seeded split."""
    collection = copy_collection(rows, collection)
    ids = sorted(r["id"] for r in rows)
    split = {"test": ids[::3], "validation": ids[1::3], "train": ids[2::3]}
    (collection / "splits.json").write_text(json.dumps(split))
    (collection / "sources.json").write_text(
        json.dumps({"built-in": {"version": "-", "documents": len(rows)}})
    )
    return collection


def test_the_ranking_sweep_measures_each_value_on_validation_and_keeps_the_best(
    tmp_path, vision_cache
):
    # given a small benchmark cut from the built-in collection
    collection = small_benchmark(builtin_rows()[::3], tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    bench = load_benchmark(collection, TextProcessor(), vectorizer)
    # when two coordination weights are swept, from plain likelihood
    grid = (("coordination_weight", (0.0, 16.0)),)
    start = RankingParams(coordination_weight=0.0)
    record = sweep_rankings(bench, tmp_path / "work", TextProcessor(), vectorizer, grid, start)
    # then each value has a row of shares, and the best ranking is the row with the best objective
    assert [row["value"] for row in record["rows"]] == [0.0, 16.0]
    for row in record["rows"]:
        for key in ("concept_p@5_en", "phrase_p@5_ru", "text_to_image_recall@10", "objective"):
            assert 0 <= row[key] <= 1
    best = max(record["rows"], key=lambda row: row["objective"])
    assert record["best"] == best["ranking"] and record["start"] == start.to_dict()


def test_the_sentence_sweep_asks_every_query_set_on_validation_and_keeps_the_best(
    tmp_path, vision_cache
):
    # given a small benchmark cut from the built-in collection
    collection = small_benchmark(builtin_rows()[::3], tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    bench = load_benchmark(collection, TextProcessor(), vectorizer)
    # when the head's reading and its bonus are swept on one trained model, from the default
    grid = (("head_by_case", (False, True)), ("head_bonus", (0.0, 1.0)))
    record = sweep_sentences(bench, tmp_path / "work", TextProcessor(), vectorizer, grid)
    # then each value has a row of shares over the four query sets, and the objective is their
    # mean (each the mean of the languages)
    assert [(row["setting"], row["value"]) for row in record["rows"]] == [
        ("head_by_case", False),
        ("head_by_case", True),
        ("head_bonus", 0.0),
        ("head_bonus", 1.0),
    ]
    for row in record["rows"]:
        shares = [row[f"{name}_p@5_{lang}"] for name in SENTENCE_SETS for lang in ("en", "ru")]
        assert all(0 <= share <= 1 for share in shares)
        assert row["objective"] == pytest.approx(sum(shares) / len(shares))
    # and the best ranking keeps each setting at its best row's value (the first of equals)
    assert record["start"] == RankingParams().to_dict()
    for setting in ("head_by_case", "head_bonus"):
        tried = [row for row in record["rows"] if row["setting"] == setting]
        assert record["best"][setting] == max(tried, key=lambda r: r["objective"])["value"]


def test_the_annotation_sweep_scores_each_value_on_validation_against_baseline_b(
    tmp_path, vision_cache
):
    # given a small benchmark cut from the built-in collection
    collection = small_benchmark(builtin_rows()[::3], tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    bench = load_benchmark(collection, TextProcessor(), vectorizer)
    # when two vote decays and two caption lengths are swept on one trained model
    grid = (("vote_decay", (1.0, 2.0)), ("class_name_caption", (0.0, 1.0)))
    start = AnnotationParams(class_name_weight=0.0)
    record = sweep_annotation(bench, tmp_path / "work", TextProcessor(), vectorizer, grid, start)
    # then every row is scored against baseline (b) on the validation photos
    assert [(row["setting"], row["value"]) for row in record["rows"]] == [
        ("vote_decay", 1.0),
        ("vote_decay", 2.0),
        ("class_name_caption", 0.0),
        ("class_name_caption", 1.0),
    ]
    baseline = record["baseline"]
    for row in record["rows"]:
        ratios = [row[f"{m}_f1"] / baseline[m]["f1"] for m in (TAG, "@text")]
        assert row["objective"] == pytest.approx(min(ratios))
    # and the best setting keeps each swept setting at its best row's value
    for setting in ("vote_decay", "class_name_caption"):
        tried = [row for row in record["rows"] if row["setting"] == setting]
        assert record["best"][setting] == max(tried, key=lambda r: r["objective"])["value"]
    assert record["start"]["class_name_weight"] == record["best"]["class_name_weight"] == 0.0


def test_the_photo_search_sweep_scores_each_weight_on_validation_by_image_to_image(
    tmp_path, vision_cache
):
    # given a small benchmark cut from the built-in collection
    collection = small_benchmark(builtin_rows()[::3], tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    bench = load_benchmark(collection, TextProcessor(), vectorizer)
    # when the predicted terms' source (the photo's visual words, or its annotation as Annotate
    # gives it), two hashtag weights and three word weights are swept on one trained model
    grid = (
        ("photo_as_annotated", (False, True)),
        ("photo_tags", (0.0, 1.0)),
        ("photo_words", (0.0, 0.5, 1.0)),
    )
    record = sweep_photo_search(bench, tmp_path / "work", TextProcessor(), vectorizer, grid)
    # then every row is a mAP@10 on the validation photos, from the photo search before
    assert [(row["setting"], row["value"]) for row in record["rows"]] == [
        ("photo_as_annotated", False),
        ("photo_as_annotated", True),
        ("photo_tags", 0.0),
        ("photo_tags", 1.0),
        ("photo_words", 0.0),
        ("photo_words", 0.5),
        ("photo_words", 1.0),
    ]
    assert all(0 <= row["map@10"] <= 1 for row in record["rows"])
    assert record["start"] == PHOTO_SEARCH_BEFORE.to_dict()
    # and the source and the hashtags keep their best value, the words the largest within the
    # tolerance
    source = [row for row in record["rows"] if row["setting"] == "photo_as_annotated"]
    best_source = max(source, key=lambda r: r["map@10"])["value"]
    assert record["best"]["photo_as_annotated"] == best_source
    tags = [row for row in record["rows"] if row["setting"] == "photo_tags"]
    assert record["best"]["photo_tags"] == max(tags, key=lambda r: r["map@10"])["value"]
    words = [row for row in record["rows"] if row["setting"] == "photo_words"]
    top = max(row["map@10"] for row in words)
    near = [row["value"] for row in words if row["map@10"] >= top - PHOTO_WORDS_TOLERANCE]
    assert record["best"]["photo_words"] == max(near)


def test_quick_eval_measures_every_ranking_and_the_concept_queries(tmp_path, vision_cache):
    # given a small benchmark cut from the built-in collection, with a seeded split
    rows = builtin_rows()[::2]
    collection = small_benchmark(rows, tmp_path / "collection")
    vectorizer = ImageVectorizer(load_backbone(Settings()), vision_cache)
    # when the quick evaluation runs, with the concept queries on the same small collection
    report = evaluate_and_report(
        collection,
        tmp_path / "reports",
        tmp_path / "work",
        vectorizer,
        builtin=collection,
        quick=True,
    )
    # then every ranking has text -> image and concept scores, and the report shows them
    results = json.loads((tmp_path / "reports" / "eval.json").read_text())
    ours = results["methods"]["ours"]
    assert set(ours["text_to_image_by_ranking"]) == {*RANKINGS, WORDLESS_PHOTOS}
    # and image -> image as the engine searches by photo, beside L1 between topic vectors
    assert set(ours["image_to_image_by_ranking"]) == set(PHOTO_RANKINGS)
    assert all(0 <= value <= 1 for value in ours["image_to_image_by_ranking"].values())
    assert "Photo search (image -> image" in report.read_text()
    measured = [
        *ours["concepts_by_ranking"].values(),
        *results["builtin_concepts"].values(),
        *ours["phrases_by_ranking"].values(),
        *results["builtin_phrases"].values(),
    ]
    assert len(measured) == 6 * len(RANKINGS)  # test split and built-in (twins off and on)
    for scores in measured:
        assert scores["concepts"] > 0
        assert 0 <= scores["precision@5_en"] <= 1 and 0 <= scores["precision@5_ru"] <= 1
    text = report.read_text()
    assert "Concept queries" in text and "Phrase queries" in text and "--quick" in text
    # and the sentence and attribute sets beside them, with the checks past the first five
    for name in ("sentences", "attributes"):
        assert set(ours[f"{name}_by_ranking"]) == set(RANKINGS)
        assert len(results[f"builtin_{name}"]) == 2 * len(RANKINGS)
    assert ours["sentences_by_ranking"]["likelihood"]["concepts"] > 0
    for checks in (ours, results["builtin_checks"]):
        assert 0 <= checks["topic_lists_word"]["share"] <= 1
        assert checks["duplicates"]["distinct_top5_on"] >= checks["duplicates"]["distinct_top5_off"]
        assert checks["exclusion"]["pairs"] > 0
    assert ours["suggestions_understood"]["suggested"] > 0
    assert "Sentence queries" in text and "Attribute + object queries" in text
    assert "Targets past the first five" in text
    assert "![eval-concepts](eval-concepts.png)" in text
    assert (tmp_path / "reports" / "eval-concepts.png").stat().st_size > 1000
    # and the annotation levers, both backbones and every held-out photo with its top 5
    assert len(ours["annotation_levers"]) == len(ANNOTATION_LEVERS)
    assert {row["backbone"] for row in results["backbones"]} == {
        "squeezenet-v1.1",
        "efficientnet-lite0",
    }
    heldout = json.loads((HELDOUT_PHOTOS / "photos.json").read_text())["photos"]
    assert [row["file"] for row in ours["heldout"]] == [p["file"] for p in heldout]
    assert all(len(row["tags"]) <= 5 and len(row["words"]) == 5 for row in ours["heldout"])
    # and how many test documents each fit reference calls a bad fit, per kind of query
    for kinds in ours["fit_calibration"].values():
        assert (
            kinds["photo"]["queries"] > 0
            and 0 <= kinds["photo"].get("weak", 0) <= kinds["photo"]["queries"]
        )
    assert all(isinstance(row["fits"], bool) for row in ours["heldout"])
    for section in (
        "Annotation levers",
        "Backbones",
        "Photos from outside every collection",
        "Honest uncertainty",
    ):
        assert section in text
