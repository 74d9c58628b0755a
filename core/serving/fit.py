"""Honest uncertainty: how well a query fits the model, measured against the collection itself.

The query's measure is its perplexity: how well its own topic vector explains its tokens,
exp(-mean log p(w | theta_q)) over its tokens (weighted by modality weight), set against the same
for the collection's own documents asked as queries (their words, their photo, or both, as the
query has). A query more perplexing than nearly all of those (``WEAK_SHARE``) fits the model
badly: a photo of something the collection never shows, words the model knows only in passing.

The collection's documents are asked *left out*: a model with many topics for few documents
has nearly memorised its training documents, so asked as they are they fit far better than any
new photo of the same things, and every new photo would look out of place. Each reference
document is asked against phi with its own counts taken out (n_wt minus its n_dw p(t | d, w),
renormalised; tokens no other document uses become unknown), the one-step estimate of the model
trained without it; and its words are asked as a visitor's typed words are read (with their
hashtags' words, their words' hashtags and translations), since that is what a query's are.

A hit's measure is its L1 distance to the query's topic vector, set against how far the
collection's own queries are from their nearest *other* document: a hit that shares no token
with the query and lies farther than nearly all of those, or answers a query that fits badly, is
weak, and is marked so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from core.reading.collection import TokenCounts
from core.reading.vision import VISUAL
from core.serving.inference import NothingRecognized, ThetaInferencer
from core.serving.model import Phi

WEAK_SHARE = 0.05  # a query is weak when fewer than 5% of the collection's own fit as badly
REFERENCE_SAMPLE = 200
TOPIC_MASS_SAMPLE = 2000  # documents that estimate each topic's token mass
LEFT_OUT_MIN_COUNT = 0.5  # a token left with less than half an occurrence elsewhere is unknown
KINDS = ("words", "photo", "words+photo")


def query_kind(tokens: TokenCounts) -> str:
    """The kind (``KINDS``) of a query read as ``tokens``."""
    has_words = any(bag for modality, bag in tokens.items() if modality != VISUAL)
    return kind_of(has_words, bool(tokens.get(VISUAL)))


def kind_of(has_words: bool, has_photo: bool) -> str:
    """The kind (``KINDS``) of a query with words, a photo or both."""
    if has_photo and has_words:
        return "words+photo"
    return "photo" if has_photo else "words"


@dataclass
class QueryFit:
    """``perplexity``: the query's; ``share_as_far``: the share of the collection's own queries
    of the same kind at least as perplexing (1 = as well explained as any, near 0 = worse than
    almost all); ``threshold``: the L1 distance beyond which a hit is weak. ``kind`` is the
    reference the query is measured against (by the tokens it was read as: a typed word the
    model knows only as an ImageNet class is read as visual words); ``asked`` is what the
    visitor gave (words, a photo or both), which is what a sentence to them must name;
    ``unlearned``: the query's words are known only to documents the model was not trained
    on, which say them (the model's topics cannot weigh them: it fits badly, yet those are sure
    hits)."""

    kind: str
    perplexity: float
    share_as_far: float
    threshold: float
    asked: str = ""
    unlearned: bool = False

    @property
    def asked_kind(self) -> str:
        """What the visitor gave: ``asked``, or the reference's kind when that was not said."""
        return self.asked or self.kind

    @property
    def weak(self) -> bool:
        return self.share_as_far < WEAK_SHARE

    def is_weak(self, distance: float) -> bool:
        return distance > self.threshold

    def describe(self) -> str:
        verdict = "fits the model badly" if self.weak else "fits the model"
        return (
            f"query {verdict}: perplexity {self.perplexity:.0f}; "
            f"{self.share_as_far:.0%} of the collection's own {self.kind} queries are as "
            f"perplexing (hits sharing no word are weak beyond L1 {self.threshold:.2f})"
        )

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "perplexity": round(self.perplexity, 3),
            "share_as_far": round(self.share_as_far, 4),
            "weak_beyond": round(self.threshold, 6),
            "weak": self.weak,
        }


@dataclass(frozen=True)
class FitReference:
    """Sorted perplexities and nearest-other-document distances of sampled documents asked as
    queries, per query kind."""

    perplexities: Mapping[str, np.ndarray]
    distances: Mapping[str, np.ndarray]

    @classmethod
    def from_engine_parts(
        cls,
        inferencer: ThetaInferencer,
        documents: Sequence[TokenCounts],
        thetas: np.ndarray,
        index,
        weights: Mapping[str, float],
        sample: int = REFERENCE_SAMPLE,
        seed: int = 0,
        leave_out: bool = True,
        words_of: Callable[[int], TokenCounts] | None = None,
    ) -> FitReference:
        """Asks up to ``sample`` seeded documents, each left out (see the module; with
        ``leave_out`` False, as trained), as each kind of query; ``thetas`` are the documents'
        topic vectors and ``index`` answers with ``query(theta, k) -> (rows, distances)``.
        ``words_of(row)`` is a document's words and hashtags as the query path reads them when
        a visitor types them (which adds a hashtag's word, a word's hashtag, translations);
        by default, the document's own tokens."""
        shuffled = np.random.default_rng(seed).permutation(len(documents))
        if leave_out:
            mass = topic_mass(inferencer.phi, documents, thetas, shuffled[:TOPIC_MASS_SAMPLE])
        perplexities: dict[str, list[float]] = {kind: [] for kind in KINDS}
        distances: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for row in shuffled[:sample]:
            doc = documents[row]
            own_words = {m: bag for m, bag in doc.items() if m != VISUAL and bag}
            words = words_of(row) if words_of is not None and own_words else own_words
            photo = {VISUAL: doc[VISUAL]} if doc.get(VISUAL) else {}
            phi, without = inferencer.phi, inferencer
            if leave_out:
                phi = leave_one_out_phi(inferencer.phi, mass, doc, thetas[row], {**words, **photo})
                without = ThetaInferencer(phi, inferencer.theta_taus, inferencer.document_passes)
            both = {**words, **photo} if words and photo else {}
            for kind, tokens in (("words", words), ("photo", photo), ("words+photo", both)):
                if not tokens:
                    continue
                try:
                    theta = without.transform(tokens, weights).theta
                except NothingRecognized:
                    continue
                perplexities[kind].append(perplexity(phi, tokens, weights, theta))
                distances[kind].append(_nearest_other(index, theta, row))
        return cls(
            {kind: np.sort(np.asarray(values)) for kind, values in perplexities.items()},
            {kind: np.sort(np.asarray(values)) for kind, values in distances.items()},
        )

    def fit(self, query_perplexity: float, tokens: TokenCounts, asked: str = "") -> QueryFit:
        """How a query read as ``tokens`` fits; ``asked``: what the visitor gave, if known."""
        return replace(self.fit_kind(query_kind(tokens), query_perplexity), asked=asked)

    def fit_kind(self, kind: str, query_perplexity: float) -> QueryFit:
        """How a query of ``kind`` (one of ``KINDS``) with this perplexity fits."""
        reference = _finite(self.perplexities.get(kind))
        distances = _finite(self.distances.get(kind))
        threshold = float(np.quantile(distances, 1.0 - WEAK_SHARE)) if len(distances) else 2.0
        if not len(reference):
            return QueryFit(kind, query_perplexity, 1.0, threshold)
        share = float((reference >= query_perplexity * (1 - 1e-9)).mean())
        return QueryFit(kind, query_perplexity, share, threshold)


def topic_mass(
    phi: Mapping[str, Phi],
    documents: Sequence[TokenCounts],
    thetas: np.ndarray,
    rows: np.ndarray,
) -> dict[str, np.ndarray]:
    """n_t per modality: how many of the collection's tokens of that modality each topic
    explains (sum over documents of n_dw p(t | d, w)), estimated from the documents at ``rows``
    and scaled to the whole collection."""
    mass = {modality: np.zeros(thetas.shape[1]) for modality in phi}
    for row in rows:
        for modality, (_, contribution) in _contributions(phi, documents[row], thetas[row]).items():
            mass[modality] += contribution.sum(axis=0)
    scale = len(documents) / max(len(rows), 1)
    return {modality: total * scale for modality, total in mass.items()}


def leave_one_out_phi(
    phi: Mapping[str, Phi],
    mass: Mapping[str, np.ndarray],
    doc: TokenCounts,
    theta: np.ndarray,
    tokens: TokenCounts | None = None,
) -> dict[str, Phi]:
    """Phi rows of ``tokens`` (default: ``doc``'s own) with ``doc``'s own counts taken out and
    each topic renormalised; a token fewer than ``LEFT_OUT_MIN_COUNT`` times left elsewhere is
    dropped (it is unknown to a model trained without ``doc``), and a topic left with nothing
    explains none of them."""
    given = _contributions(phi, doc, theta)
    left_out = {}
    for modality, bag in (doc if tokens is None else tokens).items():
        modality_phi = phi.get(modality)
        known = [t for t in bag if modality_phi is not None and t in modality_phi.index]
        if not known:
            continue
        own_rows, contribution = given.get(modality, ({}, np.zeros((0, len(theta)))))
        position = {token: i for i, token in enumerate(own_rows)}
        own = np.zeros((len(known), len(theta)))
        for i, token in enumerate(known):
            if token in position:
                own[i] = contribution[position[token]]
        counts = modality_phi.matrix[[modality_phi.index[t] for t in known]] * mass[modality]
        remaining = np.maximum(counts - own, 0.0)
        topic_total = mass[modality] - contribution.sum(axis=0)
        matrix = np.divide(
            remaining,
            topic_total,
            out=np.zeros_like(remaining),
            where=topic_total > LEFT_OUT_MIN_COUNT,
        )
        kept = remaining.sum(axis=1) >= LEFT_OUT_MIN_COUNT
        left_out[modality] = Phi(
            [t for t, keep in zip(known, kept, strict=True) if keep], matrix[kept]
        )
    return left_out


def _contributions(
    phi: Mapping[str, Phi], doc: TokenCounts, theta: np.ndarray
) -> dict[str, tuple[dict[str, int], np.ndarray]]:
    """Per modality: ``doc``'s known tokens (token -> phi row) and n_dw p(t | d, w) for each
    (tokens x topics), the counts ``doc`` adds to n_wt."""
    contributions = {}
    for modality, bag in doc.items():
        modality_phi = phi.get(modality)
        if modality_phi is None:
            continue
        rows = {
            t: modality_phi.index[t] for t, c in bag.items() if t in modality_phi.index and c > 0
        }
        if not rows:
            continue
        matrix = modality_phi.matrix[list(rows.values())] * theta
        totals = matrix.sum(axis=1, keepdims=True)
        counts = np.array([[bag[t]] for t in rows], dtype=np.float64)
        share = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
        contributions[modality] = (rows, counts * share)
    return contributions


def perplexity(
    phi: Mapping[str, Phi], tokens: TokenCounts, weights: Mapping[str, float], theta: np.ndarray
) -> float:
    """exp(-weighted mean log p(w | theta)) over the known tokens of modalities weighted > 0."""
    total, mass = 0.0, 0.0
    for modality, bag in tokens.items():
        weight = float(weights.get(modality, 0.0))
        modality_phi = phi.get(modality)
        if weight <= 0 or modality_phi is None:
            continue
        for token, count in bag.items():
            row = modality_phi.index.get(token)
            if row is None or count <= 0:
                continue
            p = float(modality_phi.matrix[row] @ theta)
            total += weight * count * np.log(max(p, 1e-300))
            mass += weight * count
    return float(np.exp(-total / mass)) if mass > 0 else float("inf")


def _finite(values: np.ndarray | None) -> np.ndarray:
    return np.empty(0) if values is None else values[np.isfinite(values)]


def _nearest_other(index, theta: np.ndarray, row: int) -> float:
    rows, distances = index.query(theta, 2)
    others = [float(d) for r, d in zip(rows, distances, strict=True) if r != row]
    return others[0] if others else float("inf")
