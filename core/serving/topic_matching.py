"""Which topics of two model versions are the same topic, judged by their phi, and how moderators'
labels and marks follow them from one version to the next.

A retrain makes a new topic space: its topic 12 need not be the old topic 12. Two topics are
compared by their phi columns: for every modality both versions have, the cosine between the two
columns with tokens aligned by name (a token one version lacks counts 0), averaged over those
modalities. Topics are paired one to one (the assignment of largest total similarity, so that two
old topics cannot both claim one new topic), and a pair counts as a match from
``MATCH_THRESHOLD`` up.

The threshold was measured on the built-in collection (689 documents, the default 300 topics):
built, then retrained with seeds 2 and 3 and with 100 topics, by
``scripts/measure_topic_matching.py``::

    .venv/bin/python scripts/measure_topic_matching.py --data-dir /tmp/topic-matching

Two *distinct* topics of one version are rarely alike: each topic's most similar other topic of
its own version reaches 0.49 at the median, 0.63-0.65 at the 90th percentile, 0.67-0.70 at the
95th and 0.76-0.82 at the 99th (the three 300-topic versions). Topics paired across seeds have
their mode at 0.9-1.0 (120 and 122 of 300 pairs) and a long tail below it. From 0.8 up, a pair
is more alike than 99% of a version's topics are to their nearest neighbour: 174 of the 300 old
topics match for seed 2, 179 for seed 3, and 42 for the 100-topic retrain (at most 100 can).
A wrong carry-over (a junk mark hiding a good topic, a label naming another subject) costs more
than a missed one, which is listed for review, so the threshold sits at that strict end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from core.serving.model import Phi

MATCH_THRESHOLD = 0.8


def topic_similarity(old: Mapping[str, Phi], new: Mapping[str, Phi]) -> np.ndarray:
    """Old topics x new topics: the mean over the modalities both have of the cosine between the
    topics' phi columns (tokens aligned by name)."""
    shared = [modality for modality in old if modality in new]
    if not shared:
        raise ValueError("the two versions have no modality in common")
    total = None
    for modality in shared:
        before, after = old[modality], new[modality]
        rows = [(row, after.index[token]) for row, token in enumerate(before.tokens)
                if token in after.index]  # fmt: skip
        left = _unit_columns(np.asarray(before.matrix, dtype=np.float64))
        right = _unit_columns(np.asarray(after.matrix, dtype=np.float64))
        if rows:
            mine, theirs = (np.array(side) for side in zip(*rows, strict=True))
            cosine = left[mine].T @ right[theirs]
        else:
            cosine = np.zeros((left.shape[1], right.shape[1]))
        total = cosine if total is None else total + cosine
    return total / len(shared)


def _unit_columns(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=0)
    return matrix / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class TopicMatch:
    """An old topic and the new topic paired with it (``matched``: similar enough to be the same
    topic); an old topic left unpaired gets its most similar new topic, for a reviewer."""

    old: int
    new: int
    similarity: float
    matched: bool


def match_topics(similarity: np.ndarray, threshold: float = MATCH_THRESHOLD) -> list[TopicMatch]:
    """One entry per old topic (rows of ``similarity``, in order): paired one to one by the
    assignment of largest total similarity, matched where the pair reaches ``threshold``."""
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.size == 0:
        return []
    paired = dict(zip(*linear_sum_assignment(similarity, maximize=True), strict=True))
    matches = []
    for old, row in enumerate(similarity):
        new = paired.get(old)
        if new is not None and row[new] >= threshold:
            matches.append(TopicMatch(old, int(new), float(row[new]), True))
        else:
            best = int(np.argmax(row))
            matches.append(TopicMatch(old, best, float(row[best]), False))
    return matches


@dataclass(frozen=True)
class TopicReview:
    """What moderators set on a topic: its label, status and note."""

    label: str
    status: str
    note: str = ""


@dataclass(frozen=True)
class ReviewMove:
    """A reviewed topic of the old version: the new topic its review went to (``carried``), or
    the most similar one, for a moderator to look at."""

    old: int
    new: int
    similarity: float
    label: str
    status: str
    carried: bool


@dataclass(frozen=True)
class CarryOver:
    """How the reviews of ``source``'s topics went over to a new version."""

    source: str
    threshold: float
    moves: list[ReviewMove] = field(default_factory=list)

    @property
    def carried(self) -> list[ReviewMove]:
        return [move for move in self.moves if move.carried]

    @property
    def unmatched(self) -> list[ReviewMove]:
        return [move for move in self.moves if not move.carried]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CarryOver:
        moves = [ReviewMove(**move) for move in data.get("moves", [])]
        return cls(data["source"], data["threshold"], moves)


def carry_over(
    source: str,
    matches: list[TopicMatch],
    reviewed: Mapping[int, TopicReview],
    threshold: float = MATCH_THRESHOLD,
) -> tuple[dict[int, TopicReview], CarryOver]:
    """The reviews the new version's topics take (new index -> review) from the ``reviewed``
    old topics (old index -> review) they match, and the account of every reviewed topic."""
    by_old = {match.old: match for match in matches}
    taken: dict[int, TopicReview] = {}
    moves = []
    for old, review in sorted(reviewed.items()):
        match = by_old[old]
        if match.matched:
            taken[match.new] = review
        moves.append(
            ReviewMove(
                old, match.new, round(match.similarity, 4), review.label, review.status,
                match.matched,
            )
        )  # fmt: skip
    return taken, CarryOver(source, threshold, moves)
