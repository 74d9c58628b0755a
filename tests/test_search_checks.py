"""Issue 21's measurements past precision@5, on the built-in collection's real engine."""

from __future__ import annotations

import numpy as np

from core.measurement.search_checks import (
    duplicate_scores,
    exclusion_scores,
    more_like_scores,
    suggestions_understood,
    topic_lists_word,
)
from core.reading.text import TextProcessor
from core.serving.answers import SearchRequest
from core.serving.concepts import Concept, engine_words


def concepts() -> list[Concept]:
    return [
        Concept("cat", "cat", "кошка", ("cat", "kitten", "кошка", "кот", "котёнок")),
        Concept("dog", "dog", "собака", ("dog", "puppy", "собака", "щенок", "пёс")),
        Concept("flower", "flower", "цветок", ("flower", "цветок")),
        Concept("plant", "plant", "растение", ("plant", "растение")),
    ]


def test_an_excluded_concept_leaves_the_first_five_and_is_measured_per_language(service):
    # given the built-in collection and concepts that share documents (flowers are plants)
    engine, processor = service.active().engine, TextProcessor()
    # when each is asked with the concept sharing most of its documents excluded
    result = exclusion_scores(engine, engine_words(engine, processor), processor, concepts())
    # then a pair is scored when the concept has documents left ('plant -flower'; every flower
    # is a plant, so 'flower -plant' is not) and no result of the excluded concept is among
    # the first five
    excluded = {row["concept"]: row["excluded"] for row in result["rows"]}
    assert excluded.get("plant") == "flower" and "flower" not in excluded
    assert result["containing_en"] == result["containing_ru"] == 0
    assert 0 < result["p@5_excluded_en"] <= 1 and 0 < result["p@5_en"] <= 1


def test_collapse_leaves_only_distinct_documents_in_the_first_five(service):
    engine = service.active().engine
    scores = duplicate_scores(engine, concepts())
    assert scores["distinct_top5_on"] == 5.0
    assert scores["distinct_top5_off"] <= scores["distinct_top5_on"]


def test_topic_explanations_and_suggestions_are_shares_of_what_was_asked(service, built):
    engine, processor = service.active().engine, TextProcessor()
    topics = topic_lists_word(engine, processor, concepts())
    assert topics["queries"] == 8 and 0 <= topics["listed"] <= 8
    photos = [doc.image for doc in built.held_out[:3]]
    suggested = suggestions_understood(engine, photos)
    assert suggested["suggested"] == 3 * 2 * 5
    assert 0 <= suggested["understood"] <= suggested["suggested"]


def test_more_like_this_is_scored_by_each_ranking_against_documents_sharing_a_hashtag(service):
    # given the built-in collection, whose documents carry category hashtags
    engine = service.active().engine
    # when every document is asked as "more like this", by topics and by the default ranking
    scores = more_like_scores(engine)
    # then each ranking gets a mean average precision, and the page's "more like this" is the
    # measured one: the service ranks as the engine's like_request says
    assert set(scores) == {"topics", "default"}
    assert all(0 < score <= 1 for score in scores.values())
    doc_id = engine.documents[0].id
    row, request = engine.like_request(doc_id, SearchRequest(k=10))
    allowed = np.ones(len(engine.documents), dtype=bool)
    allowed[row] = False
    measured = [hit.id for hit in engine.search(request, allowed).hits]
    assert [hit.id for hit in service.more_like(doc_id, SearchRequest(k=10)).hits] == measured
