"""Explanations: why a result matched, what the model made of a query, which topics to show."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.engine import Query
from core.explain import (
    explain_hit,
    nothing_recognized_advice,
    read_query,
    shared_topics,
    visible_topics,
)
from core.inference import NothingRecognized
from core.settings import REPO_ROOT
from core.store import Topic, TopicTerm
from core.vision import VISUAL

TIGER = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"


def test_shared_topics_are_what_makes_the_l1_distance_small():
    rng = np.random.default_rng(0)
    query, doc = rng.dirichlet(np.ones(20)), rng.dirichlet(np.ones(20))

    shared = shared_topics(query, doc, k=20)

    assert np.abs(query - doc).sum() == pytest.approx(2 - 2 * sum(s for _, s in shared))
    assert [s for _, s in shared] == sorted((s for _, s in shared), reverse=True)


def test_topics_the_two_vectors_do_not_share_are_left_out():
    assert shared_topics(np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.2, 0.8]), k=3) == [(1, 0.2)]


def test_shared_topics_refuse_vectors_of_different_lengths():
    with pytest.raises(ValueError, match="one length"):
        shared_topics(np.ones(3) / 3, np.ones(4) / 4)


def test_a_mixed_query_is_read_as_kept_switched_off_and_unknown_tokens(service):
    engine = service.active().engine
    result = engine.search(
        Query(text="собака qwertyzzz", image=TIGER),
        weights={"@text": 1.0, "@tag": 1.0, VISUAL: 0.0},
    )

    reading = read_query(engine, result, {})

    assert [t.display for t in reading.kept["@text"]] == ["собака"]
    assert VISUAL not in reading.kept
    assert "tiger" in [t.display for t in reading.switched_off[VISUAL]]
    assert reading.unknown == {"@text": ["qwertyzzz"]}
    assert reading.topics[0].share == pytest.approx(result.query.theta.max())
    assert reading.topics[0].label == f"topic {reading.topics[0].index}"


def test_each_hit_is_explained_by_labelled_topics_with_their_top_terms(service):
    engine = service.active().engine
    result = engine.search(Query(text="цветы"), k=3)
    labels = service.topic_labels()

    for hit in result.hits:
        topics = explain_hit(engine, result, hit, labels)
        assert topics and all(topic.label == labels[topic.index] for topic in topics)
        assert set(topics[0].terms) == set(engine.modalities)
        match = 1 - hit.distance / 2
        assert sum(topic.share for topic in topics) <= match + 1e-9


def test_advice_for_an_unreadable_query_names_the_unknown_words_and_suggests_known_ones(service):
    engine = service.active().engine
    with pytest.raises(NothingRecognized) as caught:
        engine.search(Query(text="qwertyzzz"))

    advice = nothing_recognized_advice(engine, caught.value, engine.default_weights)

    assert "does not know any of these words: qwertyzzz" in advice
    suggested = advice.split("e.g. ")[1].rstrip(".").split(", ")
    assert len(suggested) == 8
    assert engine.search(Query(text=" ".join(suggested))).hits


def test_advice_names_the_switched_off_modality_when_that_is_why(service):
    engine = service.active().engine
    weights = {**engine.default_weights, VISUAL: 0.0}
    with pytest.raises(NothingRecognized) as caught:
        engine.search(Query(image=TIGER), weights=weights)

    assert "Switched off (weight 0): @visual" in nothing_recognized_advice(
        engine, caught.value, weights
    )


def topic(index: int, label: str, status: str = "normal", terms: Counter | None = None) -> Topic:
    return Topic(
        index=index,
        label=label,
        status=status,
        terms=[TopicTerm(modality="@text", term=t, display=t.title()) for t in terms or ()],
    )


def test_junk_topics_are_never_visible_and_background_ones_only_on_request():
    topics = [topic(0, "cats"), topic(1, "spam", "junk"), topic(2, "common", "background")]

    assert [t.index for t in visible_topics(topics)] == [0]
    assert [t.index for t in visible_topics(topics, include_background=True)] == [0, 2]


def test_topics_are_found_by_label_or_term_ignoring_case():
    topics = [topic(0, "Cats", terms=Counter(["кошка"])), topic(1, "dogs", terms=Counter(["пёс"]))]

    assert [t.index for t in visible_topics(topics, "cat")] == [0]
    assert [t.index for t in visible_topics(topics, "КОШКА")] == [0]
    assert [t.index for t in visible_topics(topics, "  ")] == [0, 1]
