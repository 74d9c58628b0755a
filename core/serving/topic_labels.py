"""Provisional topic labels a moderator can read: the terms most *relevant* to each topic.

A topic's most probable hashtags are often the collection's most common ones ("animals, mammals,
town" for several topics). Among each topic's ``CANDIDATES`` most probable tokens per modality,
terms are ranked by relevance (Sievert and Shirley, 2014),
``LAMBDA * log p(w|t) + (1 - LAMBDA) * log(p(w|t) / p(w))``, with ``p(w)`` the mean of
``p(w|t)`` over topics: probable in the topic, and rare elsewhere. Hashtags and words compete in
one ranking. No two topics get the same label: a label already taken is lengthened with the
topic's next term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.serving.model import Phi

LABEL_TERMS = 3
MAX_LABEL_TERMS = 6
CANDIDATES = 30
LAMBDA = 0.5


def relevant_terms(phi: Phi, topic: int) -> list[tuple[float, str]]:
    """(relevance, token) of the topic's candidate tokens in ``phi``."""
    matrix = np.asarray(phi.matrix, dtype=np.float64)
    column = matrix[:, topic]
    rows = np.argsort(-column, kind="stable")[:CANDIDATES]
    rows = rows[column[rows] > 0]
    overall = matrix[rows].mean(axis=1)
    relevance = LAMBDA * np.log(column[rows]) + (1 - LAMBDA) * np.log(column[rows] / overall)
    return [(float(score), phi.tokens[row]) for score, row in zip(relevance, rows, strict=True)]


def distinct_labels(
    phi: Mapping[str, Phi],
    modalities: Sequence[str],
    display: Mapping[str, Mapping[str, str]],
    fallback: Sequence[str],
) -> list[str]:
    """One label per topic from the most relevant terms of ``modalities``, shown in
    ``display`` form; ``fallback[t]`` for a topic with none. Labels are unique: a taken one gets
    more terms, then the topic's fallback name."""
    present = [m for m in modalities if m in phi]
    labels, taken = [], set()
    for topic, name in enumerate(fallback):
        ranked = sorted(
            ((score, m, token) for m in present for score, token in relevant_terms(phi[m], topic)),
            key=lambda entry: -entry[0],
        )
        terms: list[str] = []
        for _, modality, token in ranked:
            shown = display.get(modality, {}).get(token, token)
            if shown.lower() not in {term.lower() for term in terms}:
                terms.append(shown)
            if len(terms) == MAX_LABEL_TERMS:
                break
        label = ""
        for size in range(LABEL_TERMS, len(terms) + 1):
            label = ", ".join(terms[:size])
            if label.lower() not in taken:
                break
        if not label or label.lower() in taken:
            label = f"{label}, {name}" if label else name
        taken.add(label.lower())
        labels.append(label)
    return labels
