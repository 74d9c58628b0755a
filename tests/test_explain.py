"""Explanations: why a result matched, what the model made of a query, which topics to show."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.reading.vision import VISUAL
from core.serving.answers import SearchRequest
from core.serving.engine import Query
from core.serving.explain import (
    explain_hit,
    nothing_recognized_advice,
    read_query,
    shared_topics,
    visible_topics,
)
from core.serving.inference import NothingRecognized
from core.settings import REPO_ROOT
from core.storage.store import Topic, TopicTerm

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
        SearchRequest(
            Query(text="собака qwertyzzz", image=TIGER),
            weights={"@text": 1.0, "@tag": 1.0, VISUAL: 0.0},
        )
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
    result = engine.search(SearchRequest(Query(text="цветы"), k=3))
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
        engine.search(SearchRequest(Query(text="qwertyzzz")))

    advice = nothing_recognized_advice(engine, caught.value, engine.default_weights)

    assert "does not know any of these words: qwertyzzz" in advice
    suggested = advice.split("e.g. ")[1].rstrip(".").split(", ")
    assert len(suggested) == 8
    assert engine.search(SearchRequest(Query(text=" ".join(suggested)))).hits


def test_advice_names_the_switched_off_modality_when_that_is_why(service):
    engine = service.active().engine
    weights = {**engine.default_weights, VISUAL: 0.0}
    with pytest.raises(NothingRecognized) as caught:
        engine.search(SearchRequest(Query(image=TIGER), weights=weights))

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


def test_a_topics_typical_documents_are_those_with_the_largest_share_of_it(service):
    engine = service.active().engine
    thetas = np.asarray(engine.index.thetas)
    topic = int(np.argmax(thetas.sum(axis=0)))

    typical = engine.typical_documents(topic, n=5, min_share=0.05)

    shares = [t.share for t in typical]
    assert shares == sorted(thetas[:, topic], reverse=True)[: len(shares)]
    assert all(share >= 0.05 for share in shares)
    assert all(t.hit.distance == pytest.approx(2 * (1 - t.share)) for t in typical)


def test_a_topics_terms_are_its_most_probable_tokens_in_display_form(service):
    engine = service.active().engine
    phi = engine.model.phi["@tag"]

    terms = engine.topic_terms(3, n=4)

    best = np.argsort(-phi.matrix[:, 3], kind="stable")[:4]
    assert terms["@tag"] == [engine.display("@tag", phi.tokens[row]) for row in best]
    assert set(terms) == set(engine.modalities)
    with pytest.raises(ValueError, match="topic must be in"):
        engine.topic_terms(len(engine.topic_prior))


def test_reading_a_photo_shows_each_step_to_its_visual_words(service):
    engine = service.active().engine

    reading = engine.reader.read_photo(TIGER)

    assert engine.display(VISUAL, reading.top_classes[0][0]) == "tiger"
    assert np.argmax(reading.flattened) == np.argmax(reading.probabilities)
    assert reading.flattened.max() < reading.probabilities.max()  # the mass is spread out
    assert sum(reading.visual_words.values()) == engine.params.visual_samples
    assert reading.visual_words == engine.reader.visual_words(TIGER.read_bytes())
