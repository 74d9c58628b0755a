"""What the model made of a query, and why a result matched it, in words a visitor can read.

Search ranks documents by the L1 distance between topic vectors. For two distributions,
L1(q, d) = 2 - 2 * sum_t min(q_t, d_t), so a result is close exactly through the topics both
vectors hold: ``min(q_t, d_t)`` is topic t's share of the match. Topic labels come from the
metadata database (moderators edit them); top terms come from the model itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from core.reading.text import TEXT, TextProcessor
from core.reading.vision import VISUAL
from core.serving.answers import Hit, Query, SearchResult
from core.serving.engine import SearchEngine
from core.serving.inference import NothingRecognized
from core.storage import store

WORD = re.compile(r"[^\W_]+")  # letters and digits: tags like sea_life are two words


@dataclass(frozen=True)
class TopicShare:
    """A topic with its weight in a query, or in a query-result match, and what it is about."""

    index: int
    label: str
    share: float
    terms: dict[str, list[str]]


@dataclass(frozen=True)
class TokenReading:
    """A query token the model knows: how it is shown and how often the query holds it."""

    modality: str
    token: str
    display: str
    count: float


@dataclass(frozen=True)
class QueryReading:
    """A query as the model read it.

    ``kept`` tokens shaped the topic vector; ``switched_off`` tokens are known but their modality
    has weight 0; ``unknown`` tokens (as typed) are not in the model's vocabulary.
    """

    kept: dict[str, list[TokenReading]]
    switched_off: dict[str, list[TokenReading]]
    unknown: dict[str, list[str]]
    topics: list[TopicShare]


def shared_topics(
    query_theta: np.ndarray, doc_theta: np.ndarray, k: int = 3
) -> list[tuple[int, float]]:
    """The ``k`` topics contributing most to the match, as (topic, min(q_t, d_t)), largest first.

    Topics the two vectors do not share (a zero minimum) are left out.
    """
    query_theta, doc_theta = np.asarray(query_theta), np.asarray(doc_theta)
    if query_theta.shape != doc_theta.shape or query_theta.ndim != 1:
        raise ValueError(
            f"theta vectors must be 1-d and of one length, got {query_theta.shape} "
            f"and {doc_theta.shape}"
        )
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    overlap = np.minimum(query_theta, doc_theta)
    best = np.argsort(-overlap, kind="stable")[:k]
    return [(int(t), float(overlap[t])) for t in best if overlap[t] > 0]


def explain_hit(
    engine: SearchEngine,
    result: SearchResult,
    hit: Hit,
    labels: Mapping[int, str],
    k: int = 3,
    terms: int = 6,
    min_share: float = 0.01,
) -> list[TopicShare]:
    """The topics the query and ``hit`` share most (each at least ``min_share`` of the match),
    with labels and top terms."""
    shared = shared_topics(result.query.theta, engine.document_theta(hit.row), k)
    return [
        _topic_share(engine, labels, topic, share, terms)
        for topic, share in shared
        if share >= min_share
    ]


def read_query(
    engine: SearchEngine,
    result: SearchResult,
    labels: Mapping[int, str],
    top_topics: int = 10,
    terms: int = 6,
) -> QueryReading:
    """Which tokens the model kept, switched off or did not know, and the query's main topics."""
    kept: dict[str, list[TokenReading]] = {}
    switched_off: dict[str, list[TokenReading]] = {}
    for modality, bag in result.tokens.items():
        known = engine.model.phi.get(modality)
        recognized = result.query.recognized.get(modality, {})
        for token, count in sorted(bag.items(), key=lambda item: -item[1]):
            if known is None or token not in known.index:
                continue
            reading = TokenReading(modality, token, engine.display(modality, token), float(count))
            target = kept if token in recognized else switched_off
            target.setdefault(modality, []).append(reading)
    theta = result.query.theta
    order = np.argsort(-theta, kind="stable")[:top_topics]
    topics = [
        _topic_share(engine, labels, int(t), float(theta[t]), terms) for t in order if theta[t] > 0
    ]
    return QueryReading(kept, switched_off, dict(result.query.unknown), topics)


def nothing_recognized_advice(
    engine: SearchEngine, error: NothingRecognized, weights: Mapping[str, float]
) -> str:
    """What to tell a visitor whose query gave the model nothing to go on, and what to try."""
    unknown = [token for tokens in error.unknown.values() for token in tokens]
    switched_off = [m for m in engine.modalities if weights.get(m, 0.0) <= 0]
    parts = []
    if unknown:
        parts.append(f"The model does not know any of these words: {', '.join(unknown)}.")
    if switched_off:
        parts.append(f"Switched off (weight 0): {', '.join(switched_off)}.")
    if not parts:
        parts.append("The query has no words that carry meaning (such as 'the' or 'и').")
    suggestions = engine.popular_terms(TEXT, 8)
    if suggestions:
        parts.append(f"Try words the collection is about, e.g. {', '.join(suggestions)}.")
    return " ".join(parts)


@dataclass(frozen=True)
class WhyNothing:
    """Why a query gave the model nothing to go on, for a message that says what to change.

    ``switched_off``: modalities the query has tokens in whose weight is 0 (move the slider);
    ``unknown``: its words the model does not know (``suggestions`` are words it knows);
    ``no_words``: it has no token at all (only emoji, punctuation or stop words).
    """

    switched_off: list[str]
    unknown: list[str]
    no_words: bool
    suggestions: list[str]


def why_nothing_recognized(
    engine: SearchEngine, query: Query, error: NothingRecognized, weights: Mapping[str, float]
) -> WhyNothing:
    tokens, _ = engine.reader.tokens_of(query)
    given = given_modalities(engine, query)
    switched_off = [m for m in engine.modalities if m in given and weights.get(m, 0.0) <= 0]
    unknown = [token for tokens in error.unknown.values() for token in tokens]
    no_words = not any(tokens.values())
    suggestions = engine.popular_terms(TEXT, 8) if unknown or no_words else []
    return WhyNothing(switched_off, unknown, no_words, suggestions)


def given_modalities(engine: SearchEngine, query: Query) -> set[str]:
    """The modalities a visitor gave the query: typed words, typed hashtags, a photo, extra
    tokens (not the hashtags a word also counts as, nor the word of a typed hashtag)."""
    typed = {modality for modality, _, _ in engine.processor.analyze(query.text).surfaces}
    photo = {VISUAL} if query.image is not None else set()
    return typed | photo | {modality for modality, bag in query.extra.items() if bag}


def visible_topics(
    topics: Sequence[store.Topic],
    query: str = "",
    include_background: bool = False,
    processor: TextProcessor | None = None,
) -> list[store.Topic]:
    """The topics the public may see (never junk; background ones on request), optionally only
    those that ``topic_matches`` the ``query``."""
    statuses = {"normal", "background"} if include_background else {"normal"}
    return [
        topic
        for topic in topics
        if topic.status in statuses
        and topic_matches(
            query,
            [topic.label, *(t for term in topic.terms for t in (term.display, term.term))],
            processor,
        )
    ]


def topic_matches(query: str, texts: Sequence[str], processor: TextProcessor | None = None) -> bool:
    """Whether every word of ``query`` is a whole word of ``texts`` (a topic's label and terms),
    as typed or by its lemma / stem: "cat" finds "cats" but not "catamaran", "кошка" finds
    "кошки". An empty query matches everything."""
    processor = processor or _shared_processor()
    wanted = _words(query)
    if not wanted:
        return True
    keys = set().union(*(_search_keys(processor, text) for text in texts))
    return all(word in keys or processor.word_token(word) in keys for word in wanted)


@lru_cache(maxsize=1)
def _shared_processor() -> TextProcessor:
    return TextProcessor()


@lru_cache(maxsize=2**16)
def _search_keys(processor: TextProcessor, text: str) -> frozenset[str]:
    """The whole words of ``text``, lowercased, each also as its lemma or stem."""
    keys = set()
    for word in _words(text):
        keys.add(word)
        if token := processor.word_token(word):
            keys.add(token)
    return frozenset(keys)


def _words(text: str) -> list[str]:
    return WORD.findall(text.lower().replace("ё", "е"))


def topic_label(labels: Mapping[int, str], topic: int) -> str:
    """A topic's label as moderators set it, or its number if it has none."""
    return labels.get(topic) or f"topic {topic}"


def _topic_share(
    engine: SearchEngine, labels: Mapping[int, str], topic: int, share: float, terms: int
) -> TopicShare:
    return TopicShare(topic, topic_label(labels, topic), share, engine.topic_terms(topic, terms))
