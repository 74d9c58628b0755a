"""Provisional topic labels a moderator can read: the terms most *specific* to each topic.

A topic's most probable tags are often the collection's most common ones ("animals, mammals,
town" for several topics). A term is ranked instead by its contribution to how far the topic's
distribution is from the collection's, ``p(w|t) * log(p(w|t) / p(w))`` with ``p(w)`` the mean of
``p(w|t)`` over topics: probable in the topic and rare elsewhere. No two topics get the same
label: a label already taken is lengthened with the topic's next term.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.model import Phi

LABEL_TERMS = 3
MAX_LABEL_TERMS = 6


def specific_terms(phi: Phi, n: int) -> list[list[int]]:
    """For every topic, the rows of its ``n`` most specific tokens in ``phi``, best first."""
    matrix = np.asarray(phi.matrix, dtype=np.float64)
    overall = matrix.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(matrix > 0, matrix * np.log(matrix / overall), 0.0)
    order = np.argsort(-score, axis=0, kind="stable")[:n]
    return [
        [int(row) for row in order[:, topic] if score[row, topic] > 0]
        for topic in range(matrix.shape[1])
    ]


def distinct_labels(
    phi: Mapping[str, Phi],
    modalities: Sequence[str],
    display: Mapping[str, Mapping[str, str]],
    fallback: Sequence[str],
) -> list[str]:
    """One label per topic from the most specific terms of ``modalities`` (taken in turn, e.g.
    a hashtag, a word, a hashtag), shown in ``display`` form; ``fallback[t]`` for a topic with
    none. Labels are unique: a taken one gets more terms, then the topic's fallback name."""
    present = [m for m in modalities if m in phi]
    ranked = {m: specific_terms(phi[m], MAX_LABEL_TERMS) for m in present}
    labels, taken = [], set()
    for topic, name in enumerate(fallback):
        terms: list[str] = []
        for rank in range(MAX_LABEL_TERMS):
            for modality in present:
                rows = ranked[modality][topic]
                if rank < len(rows):
                    token = phi[modality].tokens[rows[rank]]
                    shown = display.get(modality, {}).get(token, token)
                    if shown.lower() not in {term.lower() for term in terms}:
                        terms.append(shown)
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
