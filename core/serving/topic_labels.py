"""Provisional topic labels a moderator can read: the terms most *relevant* to each topic.

A topic's most probable hashtags are often the collection's most common ones ("animals, mammals,
town" for several topics). Among each topic's ``CANDIDATES`` most probable tokens per modality,
terms are ranked by relevance (Sievert and Shirley, 2014),
``LAMBDA * log p(w|t) + (1 - LAMBDA) * log(p(w|t) / p(w))``, with ``p(w)`` the mean of
``p(w|t)`` over topics: probable in the topic, and rare elsewhere. Hashtags and words compete in
one ranking. No two topics get the same label: a label already taken is lengthened with the
topic's next term.

The build stores one label per topic, of terms in any language ("грецкий, walnut, скорлупа"),
which moderators review and may rewrite. A visitor reads a label still as the build wrote it in
their own language: the same ranking over the terms written in their script
(``labels_in_language``); a topic with no such term keeps the stored label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.reading.text import TAG, TEXT
from core.serving.model import Phi

LABELLED_MODALITIES = (TAG, TEXT)  # the modalities whose terms make a topic's label
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


def term_language(term: str) -> str | None:
    """ "ru" for a term with Cyrillic letters, "en" for one with Latin letters only, None for a
    term without letters (a number), which reads the same in either language."""
    if any("\u0400" <= character <= "\u04ff" for character in term):
        return "ru"
    if any(character.isalpha() for character in term):
        return "en"
    return None


def distinct_labels(
    phi: Mapping[str, Phi],
    modalities: Sequence[str],
    display: Mapping[str, Mapping[str, str]],
    fallback: Sequence[str],
    language: str | None = None,
) -> list[str]:
    """One label per topic from the most relevant terms of ``modalities``, shown in
    ``display`` form (only terms of ``language`` when given, see ``term_language``);
    ``fallback[t]`` for a topic with none. Labels are unique: a taken one gets more terms, then
    the topic's fallback name (in one language: the fallback alone)."""
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
            if language is not None and term_language(shown) not in (None, language):
                continue
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
            # in one language, the fallback (the label of every language) is the whole label
            label = f"{label}, {name}" if label and language is None else name
        taken.add(label.lower())
        labels.append(label)
    return labels


@dataclass(frozen=True)
class LanguageLabels:
    """The labels the build writes for a version's topics (``built``) and, topic by topic, the
    same ranking's label in one language (``own``)."""

    built: tuple[str, ...]
    own: tuple[str, ...]

    def read(self, stored: Mapping[int, str]) -> dict[int, str]:
        """``stored`` labels as a reader of the language sees them: a label still as the build
        wrote it becomes the language's own; a moderator's label stays."""
        return {
            index: self.own[index]
            if index < len(self.built) and label == self.built[index]
            else label
            for index, label in stored.items()
        }


def labels_in_language(
    phi: Mapping[str, Phi],
    display: Mapping[str, Mapping[str, str]],
    topic_names: Sequence[str],
    language: str,
) -> LanguageLabels:
    """The build's labels and their counterparts of ``language``'s terms (a topic without
    enough of them keeps the build's label)."""
    built = distinct_labels(phi, LABELLED_MODALITIES, display, topic_names)
    own = distinct_labels(phi, LABELLED_MODALITIES, display, built, language)
    return LanguageLabels(tuple(built), tuple(own))
