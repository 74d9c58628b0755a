"""Matching the topics of two versions by phi, and carrying moderators' reviews along the matches,
on hand-made phi matrices."""

from __future__ import annotations

import numpy as np
import pytest

from core.serving.model import Phi
from core.serving.topic_matching import (
    MATCH_THRESHOLD,
    CarryOver,
    TopicReview,
    carry_over,
    match_topics,
    topic_similarity,
)


def phi(tokens: list[str], columns: list[list[float]]) -> Phi:
    """A phi whose topic t is ``columns[t]`` over ``tokens``, normalized like a real one."""
    matrix = np.array(columns, dtype=np.float64).T
    return Phi(tokens, matrix / matrix.sum(axis=0))


WORDS = ["cat", "dog", "car", "sea", "tree"]
OLD = {
    "@text": phi(WORDS, [[5, 1, 0, 0, 0], [0, 0, 6, 1, 0], [0, 1, 0, 5, 4]]),
    "@tag": phi(["pets", "cars", "nature"], [[1, 0, 0], [0, 1, 0], [0, 0, 1]]),
}


def test_a_version_matches_itself_topic_for_topic():
    similarity = topic_similarity(OLD, OLD)
    assert np.allclose(np.diag(similarity), 1.0)
    assert [(m.old, m.new, m.matched) for m in match_topics(similarity)] == [
        (0, 0, True), (1, 1, True), (2, 2, True),
    ]  # fmt: skip


def test_topics_are_found_in_another_order_and_vocabulary_order():
    order = [2, 0, 1]
    words = WORDS[::-1]
    text = np.asarray(OLD["@text"].matrix)[::-1][:, order]
    new = {"@text": Phi(words, text), "@tag": Phi(OLD["@tag"].tokens, OLD["@tag"].matrix[:, order])}

    matches = match_topics(topic_similarity(OLD, new))

    assert [(m.new, m.matched) for m in matches] == [(1, True), (2, True), (0, True)]
    assert all(m.similarity == pytest.approx(1.0) for m in matches)


def test_only_the_modalities_both_versions_have_count():
    with_more = {**OLD, "@source": phi(["a", "b"], [[1, 0], [0, 1], [1, 1]])}
    assert np.allclose(topic_similarity(OLD, with_more), topic_similarity(OLD, OLD))
    with pytest.raises(ValueError, match="no modality in common"):
        topic_similarity(OLD, {"@source": with_more["@source"]})


def test_a_token_one_version_lacks_counts_as_zero():
    new = {"@text": phi(["cat", "kitten"], [[1, 1]])}
    # cosine of (5, 1, 0, 0, 0) and (1, 0, 0, 0, 0, kitten=1) over the words they share
    expected = 5 / (np.sqrt(26) * np.sqrt(2))
    assert topic_similarity({"@text": OLD["@text"]}, new)[0, 0] == pytest.approx(expected)


def test_pairs_are_one_to_one_and_below_the_threshold_stay_unmatched():
    similarity = np.array(
        [
            [0.95, 0.90, 0.10],
            [0.93, 0.50, 0.10],  # its best new topic is taken by a better pair overall
            [0.10, 0.20, 0.70],  # paired, but not alike enough
        ]
    )
    matches = match_topics(similarity, threshold=0.8)

    assert [(m.old, m.new, m.matched) for m in matches] == [
        (0, 1, True), (1, 0, True), (2, 2, False),
    ]  # fmt: skip
    assert matches[2].similarity == pytest.approx(0.7)


def test_an_old_topic_left_without_a_pair_gets_its_most_similar_new_topic():
    similarity = np.array([[0.9], [0.85]])  # one new topic for two old ones
    matches = match_topics(similarity, threshold=0.8)
    assert [(m.new, m.matched) for m in matches] == [(0, True), (0, False)]
    assert matches[1].similarity == pytest.approx(0.85)


def test_reviews_go_to_the_matching_new_topics_and_the_rest_are_accounted_for():
    similarity = np.array([[0.1, 0.95, 0.2], [0.3, 0.2, 0.5], [0.9, 0.1, 0.2]])
    reviewed = {
        0: TopicReview("Cats", "normal", "by mia"),
        1: TopicReview("cars", "junk"),
    }

    taken, account = carry_over("v0003", match_topics(similarity), reviewed)

    assert taken == {1: reviewed[0]}
    assert [(m.old, m.new, m.label) for m in account.carried] == [(0, 1, "Cats")]
    assert [(m.old, m.new, m.status, m.similarity) for m in account.unmatched] == [
        (1, 2, "junk", 0.5)
    ]
    assert (account.source, account.threshold) == ("v0003", MATCH_THRESHOLD)
    assert CarryOver.from_json(account.to_json()) == account
