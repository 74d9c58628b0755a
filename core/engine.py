"""Search and annotation over one model version, loaded from its directory.

A query (text and/or photo, plus any extra modality's tokens) becomes bags of tokens; theta comes
from ``core.inference``; search is the nearest documents by L1 over document thetas; annotation is
p(w|d) = phi @ theta for any modality. Everything here is read-only after loading, so one engine
serves many threads.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from core.index import NeighborIndex
from core.inference import NothingRecognized, QueryTheta, ThetaInferencer
from core.model import FittedModel, ModelParams, TokenCounts
from core.text import TAG, TEXT, TextProcessor
from core.vision import (
    VISUAL,
    ImageVectorizer,
    content_hash,
    flatten_probabilities,
    sample_visual_words,
    top_classes,
    visual_display,
)

MAX_QUERY_CHARS = 2000
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


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


@dataclass
class Hit:
    """A found document; ``same_photo`` when its image is byte-identical to the query photo."""

    row: int
    id: str
    text: str
    tags: list[str]
    image: str | None
    distance: float
    same_photo: bool = False


@dataclass
class Annotation:
    token: str
    display: str
    p: float


@dataclass
class SearchResult:
    """The hits of a query, with what the model made of it: its tokens, theta and weights.

    ``search_id`` and ``latency_ms`` are filled in by the service that records the search.
    """

    model_version: str
    query: QueryTheta
    hits: list[Hit]
    tokens: TokenCounts = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    search_id: int | None = None
    latency_ms: float = 0.0


@dataclass
class PhotoReading:
    """How a photo becomes words: the backbone's class distribution, the same after the
    log-flattening transform, and the visual words sampled from the latter."""

    probabilities: np.ndarray
    flattened: np.ndarray
    visual_words: Counter[str]
    top_classes: list[tuple[str, float]]


@dataclass
class TypicalDocument:
    """A document that is much about one topic; ``share`` is the topic's weight in its theta."""

    hit: Hit
    share: float


class SearchEngine:
    """One model version's artifacts: phi, display forms, documents, index."""

    def __init__(
        self,
        directory: Path,
        version_name: str,
        processor: TextProcessor,
        vectorizer: ImageVectorizer | None,
    ) -> None:
        self.directory = Path(directory)
        self.version_name = version_name
        manifest = json.loads((self.directory / "version.json").read_text())
        self.params = ModelParams.from_dict(manifest["params"])
        self.model = FittedModel.load(self.directory / "model")
        self.display_forms: dict[str, dict[str, str]] = json.loads(
            (self.directory / "display.json").read_text()
        )
        self.documents = [
            json.loads(line)
            for line in (self.directory / "documents.jsonl").read_text().splitlines()
        ]
        self.index = NeighborIndex.load(self.directory / "index")
        self.inferencer = ThetaInferencer.from_params(self.model.phi, self.params)
        self.processor = processor
        self.vectorizer = vectorizer
        self.tags_by_word = self._tags_by_word()
        self.rows_by_image_hash: dict[str, list[int]] = {}
        for row, doc in enumerate(self.documents):
            if doc.get("image_hash"):
                self.rows_by_image_hash.setdefault(doc["image_hash"], []).append(row)

    @property
    def modalities(self) -> list[str]:
        return list(self.model.phi)

    @property
    def default_weights(self) -> dict[str, float]:
        return {m: float(self.params.modality_weights.get(m, 1.0)) for m in self.modalities}

    def display(self, modality: str, token: str) -> str:
        return display_form(self.display_forms, modality, token)

    def _tags_by_word(self) -> dict[str, list[str]]:
        """Hashtags by the `@text` token of their name: 'birds' is found by 'bird'."""
        tags: dict[str, list[str]] = {}
        for tag in self.model.phi[TAG].tokens if TAG in self.model.phi else []:
            token = self.processor.word_token(tag)
            if token is not None:
                tags.setdefault(token, []).append(tag)
        return tags

    def tokens_of(self, query: Query) -> tuple[TokenCounts, dict[str, dict[str, str]]]:
        """Bags of tokens per modality, and each token's surface form in the query.

        A visitor does not type '#': every query word also counts as the hashtags that share its
        normalized form.
        """
        tokens: TokenCounts = {m: Counter(bag) for m, bag in query.extra.items()}
        surfaces: dict[str, dict[str, str]] = {}
        if query.text.strip():
            analyzed = self.processor.analyze(query.text)
            for modality, token, surface in analyzed.surfaces:
                tokens.setdefault(modality, Counter())[token] += 1
                surfaces.setdefault(modality, {}).setdefault(token, surface)
            for token in analyzed.tokens[TEXT]:
                for tag in self.tags_by_word.get(token, ()):
                    tokens.setdefault(TAG, Counter())[tag] += 1
        if query.image is not None:
            tokens[VISUAL] = self.visual_words(query.image)
        return tokens, surfaces

    def visual_words(self, image: bytes | Path) -> Counter[str]:
        """The photo's sampled visual words (deterministic for the same image content)."""
        return visual_words(self._probabilities(image), self.params, content_hash(image))

    def read_photo(self, image: bytes | Path, top: int = 10) -> PhotoReading:
        """The steps from a photo to its visual words, for showing them (raises ``ImageError``).

        Only the Annotate page needs the intermediate steps; queries call ``visual_words``.
        """
        probabilities = self._probabilities(image)
        return PhotoReading(
            probabilities=probabilities,
            flattened=flatten_probabilities(probabilities, self.params.flattening_strength),
            visual_words=visual_words(probabilities, self.params, content_hash(image)),
            top_classes=top_classes(probabilities, top),
        )

    def _probabilities(self, image: bytes | Path) -> np.ndarray:
        if self.vectorizer is None:
            raise RuntimeError("this engine was loaded without an image backbone")
        return self.vectorizer.probabilities([image])[0]

    def topic_terms(self, topic: int, n: int = 8) -> dict[str, list[str]]:
        """The display forms of a topic's ``n`` most probable tokens in every modality."""
        self._check_topic(topic)
        return {
            modality: [
                self.display(modality, phi.tokens[row])
                for row in np.argsort(-phi.matrix[:, topic], kind="stable")[:n]
            ]
            for modality, phi in self.model.phi.items()
        }

    def typical_documents(
        self, topic: int, n: int = 8, min_share: float = 0.05
    ) -> list[TypicalDocument]:
        """Up to ``n`` documents with the largest share of ``topic`` in their theta, each with
        at least ``min_share`` of it (a small topic may have fewer).

        Each hit's distance is its L1 distance to the pure topic, 2 * (1 - share).
        """
        self._check_topic(topic)
        shares = self.index.thetas[:, topic]
        rows = [row for row in np.argsort(-shares, kind="stable")[:n] if shares[row] >= min_share]
        return [
            TypicalDocument(
                self._hit(int(row), 2.0 * (1.0 - float(shares[row]))), float(shares[row])
            )
            for row in rows
        ]

    def popular_terms(self, modality: str = TEXT, n: int = 8) -> list[str]:
        """Display forms of the modality's most probable tokens over the whole collection,
        p(w) = sum_t phi_wt p(t): words worth suggesting to a visitor whose query found nothing."""
        phi = self.model.phi.get(modality)
        if phi is None:
            return []
        p = phi.matrix @ self.topic_prior
        return [
            self.display(modality, phi.tokens[row]) for row in np.argsort(-p, kind="stable")[:n]
        ]

    @cached_property
    def topic_prior(self) -> np.ndarray:
        """p(t): the mean of the documents' topic vectors."""
        return np.asarray(self.index.thetas).mean(axis=0)

    def document_query(self, doc_id: str) -> tuple[int, Query]:
        """(row, query) of a collection document: its own bags of tokens as a query, so that
        searching with it ranks documents by its topic vector under the weights of the search."""
        row = self.rows_by_id.get(doc_id)
        if row is None:
            raise ValueError(f"there is no document {doc_id!r} in version {self.version_name}")
        bags = self.documents[row].get("tokens", {})
        return row, Query(extra={modality: Counter(bag) for modality, bag in bags.items()})

    @cached_property
    def rows_by_id(self) -> dict[str, int]:
        return {doc["id"]: row for row, doc in enumerate(self.documents)}

    def document_theta(self, row: int) -> np.ndarray:
        return np.asarray(self.index.thetas[row])

    def _check_topic(self, topic: int) -> None:
        if not 0 <= topic < self.inferencer.num_topics:
            raise ValueError(f"topic must be in 0..{self.inferencer.num_topics - 1}, got {topic}")

    def infer(self, query: Query, weights: Mapping[str, float] | None = None) -> QueryTheta:
        """Theta of the query; raises ``NothingRecognized`` (with the unknown tokens)."""
        return self._infer(*self.tokens_of(query), self._weights(weights))

    def _infer(
        self,
        tokens: TokenCounts,
        surfaces: dict[str, dict[str, str]],
        weights: Mapping[str, float],
    ) -> QueryTheta:
        try:
            result = self.inferencer.transform(tokens, weights)
        except NothingRecognized as error:
            raise NothingRecognized(_surface_forms(error.unknown, surfaces)) from None
        result.unknown = _surface_forms(result.unknown, surfaces)
        return result

    def search(
        self,
        query: Query,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        allowed: np.ndarray | None = None,
    ) -> SearchResult:
        """The k documents nearest to the query's theta (L1), nearest first.

        A query photo that is itself in the collection (same bytes) puts its document(s) first:
        topic vectors of different photos can tie, identical bytes cannot be a worse match.
        """
        weights = self._weights(weights)
        tokens, surfaces = self.tokens_of(query)
        inferred = self._infer(tokens, surfaces, weights)
        rows, distances = self.index.query(inferred.theta, k, allowed)
        hits = [self._hit(int(row), float(dist)) for row, dist in zip(rows, distances, strict=True)]
        same = self._same_photo_rows(query, allowed, weights)
        if same:
            hits = [self._hit(row, self._distance(inferred.theta, row), True) for row in same] + [
                hit for hit in hits if hit.row not in same
            ]
        return SearchResult(self.version_name, inferred, hits[:k], tokens, weights)

    def annotate(
        self,
        query: Query,
        modalities: list[str] | None = None,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        exclude_query_tokens: bool = False,
    ) -> dict[str, list[Annotation]]:
        """Top-k tokens per modality by p(w|d) = phi @ theta of the query."""
        tokens, surfaces = self.tokens_of(query)
        inferred = self._infer(tokens, surfaces, self._weights(weights))
        annotations = {}
        for modality in modalities or [m for m in (TAG, TEXT) if m in self.model.phi]:
            phi = self.model.phi.get(modality)
            if phi is None:
                raise ValueError(f"unknown modality {modality}; known: {self.modalities}")
            p = phi.matrix @ inferred.theta
            skip = set(tokens.get(modality, ())) if exclude_query_tokens else set()
            ranked = [row for row in np.argsort(-p, kind="stable") if phi.tokens[row] not in skip]
            annotations[modality] = [
                Annotation(phi.tokens[row], self.display(modality, phi.tokens[row]), float(p[row]))
                for row in ranked[:k]
            ]
        return annotations

    def _weights(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        return dict(self.default_weights if weights is None else weights)

    def _same_photo_rows(
        self, query: Query, allowed: np.ndarray | None, weights: Mapping[str, float]
    ) -> list[int]:
        if query.image is None or weights.get(VISUAL, 0.0) <= 0:
            return []
        rows = self.rows_by_image_hash.get(content_hash(query.image), [])
        return [row for row in rows if allowed is None or allowed[row]]

    def _distance(self, theta: np.ndarray, row: int) -> float:
        return float(np.abs(self.index.thetas[row] - theta).sum())

    def _hit(self, row: int, distance: float, same_photo: bool = False) -> Hit:
        doc = self.documents[row]
        return Hit(row, doc["id"], doc["text"], doc["tags"], doc.get("image"), distance, same_photo)


def display_form(display_forms: Mapping[str, Mapping[str, str]], modality: str, token: str) -> str:
    """How a token is shown: ImageNet class name, or the most frequent surface form seen."""
    if modality == VISUAL:
        return visual_display(token)
    return display_forms.get(modality, {}).get(token, token)


def visual_words(probabilities: np.ndarray, params: ModelParams, image_hash: str) -> Counter[str]:
    """A photo's visual words as the model's parameters sample them; the same for the same
    image content, whether it is a collection document or a query."""
    return Counter(
        sample_visual_words(
            probabilities,
            n_samples=params.visual_samples,
            strength=params.flattening_strength,
            seed=image_hash,
        )
    )


def _surface_forms(
    unknown: Mapping[str, list[str]], surfaces: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    return {
        modality: [surfaces.get(modality, {}).get(token, token) for token in tokens]
        for modality, tokens in unknown.items()
    }
