"""What crosses the service's door: a query, the requests that ask with it, and what search and
annotation answer with.

Pages and the CLI build ``Query`` objects and requests (``SearchRequest``, ``AnnotationRequest``)
and read these results without importing the engine that computes them
(``core.serving.engine``), so they depend only on the service and these shapes. The service and
the engine take the same request, so a new parameter of a search or an annotation is one new
field of its request.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.reading.collection import TokenCounts
from core.serving.fit import QueryFit
from core.serving.inference import QueryTheta
from core.serving.ranking import RankingParams
from core.weights import validate_weights

if TYPE_CHECKING:  # annotation.py imports this module
    from core.serving.annotation import AnnotationParams

MAX_QUERY_CHARS = 2000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class UnknownDocument(ValueError):
    """A document id the model version does not have (e.g. one asked for "more like" before
    another version was activated)."""

    def __init__(self, doc_id: str, version: str) -> None:
        self.doc_id, self.version = doc_id, version
        super().__init__(f"there is no document {doc_id!r} in version {version}")


@dataclass
class Query:
    """What a visitor asks with: any of text, a photo (bytes or path), extra modalities' tokens.

    Text is checked and cleaned on construction, because it is also stored with the search:
    at most ``MAX_QUERY_CHARS`` characters; control characters (NUL, escape sequences) become
    spaces and unpaired surrogates become U+FFFD, so every database can store it.
    """

    text: str = ""
    image: bytes | Path | None = None
    extra: dict[str, Counter[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise TypeError(f"text must be a string, not {type(self.text).__name__}")
        if len(self.text) > MAX_QUERY_CHARS:
            raise ValueError(
                f"a query's text is at most {MAX_QUERY_CHARS:,} characters; "
                f"this one has {len(self.text):,}"
            )
        text = CONTROL_CHARACTERS.sub(" ", self.text)
        self.text = text.encode("utf-8", "replace").decode("utf-8")

    def is_empty(self) -> bool:
        return not self.text.strip() and self.image is None and not any(self.extra.values())


@dataclass(frozen=True)
class SearchRequest:
    """One search: what to look for and how, as both ``Service.search`` and
    ``SearchEngine.search`` take it (a new search parameter is a new field here).

    ``k``: how many hits, at least 1 (more than the collection holds returns all of it).
    ``weights``: modality -> weight (0 switches a modality off); the engine reads the query with
    exactly these (None: the version's training weights), the service lays them over the live
    global weights (None: the live weights alone). ``ranking`` replaces the version's own
    ranking (None: the version's). ``collapse_similar``: near-identical documents are one hit
    (``core.serving.similar``); False shows them one by one. ``Service.more_like`` takes a
    request without a query: the document is the query. Checked on construction, so a bad
    request fails where it is made.
    """

    query: Query = field(default_factory=Query)
    k: int = 10
    weights: Mapping[str, float] | None = None
    ranking: RankingParams | None = None
    collapse_similar: bool = True

    def __post_init__(self) -> None:
        _check_query(self.query)
        _check_k(self.k)
        object.__setattr__(self, "weights", _checked_weights(self.weights))
        if self.ranking is not None and not isinstance(self.ranking, RankingParams):
            raise TypeError(
                f"ranking must be a RankingParams or None, not {type(self.ranking).__name__}"
            )


@dataclass(frozen=True)
class AnnotationRequest:
    """One annotation: the top ``k`` tokens of each of ``modalities`` (None: the hashtags and
    words the version has) for ``query``, as both ``Service.annotate`` and the engine's
    ``QueryAnnotator.annotate`` take it (a new annotation parameter is a new field here).

    ``weights`` as in ``SearchRequest``; ``exclude_query_tokens`` leaves out tokens the query
    already has; ``params`` replaces the version's ``AnnotationParams`` (how words are ranked).
    """

    query: Query
    modalities: Sequence[str] | None = None
    k: int = 10
    weights: Mapping[str, float] | None = None
    exclude_query_tokens: bool = False
    params: AnnotationParams | None = None

    def __post_init__(self) -> None:
        _check_query(self.query)
        if self.modalities is not None:
            if isinstance(self.modalities, str):
                raise TypeError(
                    f"modalities is a list of modality names, e.g. [{self.modalities!r}]"
                )
            object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_k(self.k)
        object.__setattr__(self, "weights", _checked_weights(self.weights))


def _check_query(query: Query) -> None:
    if not isinstance(query, Query):
        raise TypeError(f"query must be a Query, not {type(query).__name__}")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int | np.integer):
        raise TypeError(f"k must be a whole number, got {k!r}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def _checked_weights(weights: Mapping[str, float] | None) -> dict[str, float] | None:
    """A copy of ``weights`` (the caller's dict may change later), checked by the one rule
    for modality weights (``core.weights``)."""
    if weights is None:
        return None
    weights = dict(weights)
    validate_weights(weights)
    return weights


@dataclass
class Hit:
    """A found document; ``same_photo`` when its image is byte-identical to the query photo.

    ``distance`` is the L1 distance between the query's and the document's topic vectors;
    ``score`` is what the ranking ordered the hits by (higher is better) and ``strength`` the
    visitor's word for it (``core.serving.strength``: never stronger than a hit above);
    ``matched`` lists the query tokens the document itself contains; ``weak`` marks a hit that
    shares no token with the query and either answers a query that fits the model badly or is
    farther from it than the collection's own queries usually are from their nearest document
    (see ``core.serving.fit``); ``similar`` holds the ids of the near-identical documents it
    stands for (``core.serving.similar``).
    """

    row: int
    id: str
    text: str
    tags: list[str]
    image: str | None
    distance: float
    same_photo: bool = False
    matched: list[str] = field(default_factory=list)
    weak: bool = False
    similar: list[str] = field(default_factory=list)
    score: float = 0.0
    strength: str = ""


@dataclass
class Annotation:
    """A suggested token, as shown, with its score; ``query`` is the search text that finds it
    (a hashtag as ``#tag``, a word as the collection writes it), ``twin_query`` that of the
    hashtag's twin in the other language where the collection pairs them (``#животные`` for
    ``#animals``), so that a page can offer the one in its visitor's language."""

    token: str
    display: str
    p: float
    query: str = ""
    twin_query: str = ""


@dataclass
class SearchResult:
    """The hits of a query, with what the model made of it: its tokens, theta and weights.

    ``search_id`` and ``latency_ms`` are filled in by the service that records the search;
    ``excluded`` names the words, hashtags and translations whose documents the query left out
    (``-word``, ``core.serving.query_syntax``), as a visitor reads them.
    """

    model_version: str
    query: QueryTheta
    hits: list[Hit]
    tokens: TokenCounts = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    search_id: int | None = None
    latency_ms: float = 0.0
    fit: QueryFit | None = None
    ranking: str = ""
    excluded: list[str] = field(default_factory=list)


@dataclass
class PhotoReading:
    """How a photo becomes words: the backbone's class distribution, the same after the
    log-flattening transform, and the ``samples`` visual words drawn from the latter."""

    probabilities: np.ndarray
    flattened: np.ndarray
    visual_words: Counter[str]
    top_classes: list[tuple[str, float]]
    samples: int


@dataclass
class TypicalDocument:
    """A document that is much about one topic; ``share`` is the topic's weight in its theta."""

    hit: Hit
    share: float
