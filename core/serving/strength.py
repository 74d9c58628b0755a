"""How strong a match is, in a visitor's words, from the score that ranked it.

A hit's strength is its ranking score set against the top hit's, so it can never contradict the
order: a hit is never called stronger than one above it. For the topic ranking the score is minus
the L1 distance (0 to 2): a hit keeps a share of the top hit's similarity 2 - distance. For the
likelihood ranking it is log p(q | d) plus the coordination bonus: a hit is behind the top by
some nats per query term; losing less than ``STRONG_GAP`` is a difference of wording (caption
length, a rarer form), losing a query word's bonus is not.
"""

from __future__ import annotations

from collections.abc import Sequence

STRENGTHS = ("strong", "good", "weak")  # best first
STRONG_SHARE, GOOD_SHARE = 0.8, 0.5  # topics: share of the top hit's similarity
STRONG_GAP = 4.0  # likelihood: nats per query term behind the top hit
MIN_GOOD_GAP = 8.0  # likelihood without a coordination bonus: twice the strong gap


def match_strengths(
    scores: Sequence[float],
    method: str,
    term_count: float = 1.0,
    coordination_weight: float = 0.0,
    guessed: Sequence[bool] = (),
    remote: Sequence[bool] = (),
) -> list[str]:
    """One of ``STRENGTHS`` per hit, for ``scores`` in rank order (best first); a hit the engine
    marks as ``guessed`` (shares no word, far or badly fitting: ``Hit.weak``) and every hit
    below it are weak at most; one it marks ``remote`` (contains the query's words only as a
    synonym of a translation: 'sunset' -> 'конец' -> 'end') and every hit below it are good
    at most, however far ahead of the rest: the top hit of a query the collection has no
    answer to is the best of what it has, not a strong match."""
    if not scores:
        return []
    top = float(scores[0])
    labels, floor = [], 0
    for position, score in enumerate(scores):
        level = _level(top, float(score), method, term_count, coordination_weight)
        if position < len(remote) and remote[position]:
            level = max(level, STRENGTHS.index("good"))
        if position < len(guessed) and guessed[position]:
            level = len(STRENGTHS) - 1
        floor = max(floor, level)
        labels.append(STRENGTHS[floor])
    return labels


def _level(top: float, score: float, method: str, term_count: float, coordination: float) -> int:
    if method == "topics":
        share = (2.0 + score) / (2.0 + top) if top > -2.0 else 0.0
        return 0 if share >= STRONG_SHARE else 1 if share >= GOOD_SHARE else 2
    gap = (top - score) / max(term_count, 1.0)
    return 0 if gap <= STRONG_GAP else 1 if gap <= max(coordination, MIN_GOOD_GAP) else 2
