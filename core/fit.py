"""Honest uncertainty: how well a query fits the model, measured against the collection itself.

The measure is the L1 distance between the query's topic vector and its nearest document, set
against the same distance for the collection's own documents asked as queries (their words, their
photo, or both, as the query has), each against its nearest *other* document. A query whose
nearest document is farther than nearly all of those (``WEAK_SHARE``) fits the model badly: a
photo of something the collection never shows, words the model knows only in passing. A hit that
shares no token with the query and lies beyond that distance is weak, and is marked so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.inference import NothingRecognized, ThetaInferencer
from core.topic_model import TokenCounts
from core.vision import VISUAL

WEAK_SHARE = 0.05  # a query is weak when fewer than 5% of the collection's own fit as badly
REFERENCE_SAMPLE = 200
KINDS = ("words", "photo", "words+photo")


def query_kind(tokens: TokenCounts) -> str:
    has_photo = bool(tokens.get(VISUAL))
    has_words = any(bag for modality, bag in tokens.items() if modality != VISUAL)
    if has_photo and has_words:
        return "words+photo"
    return "photo" if has_photo else "words"


@dataclass
class QueryFit:
    """``nearest``: L1 from the query to its nearest document; ``share_as_far``: the share of the
    collection's own queries of the same kind at least that far from theirs (1 = as close as any,
    near 0 = farther than almost all); ``threshold``: the distance beyond which a hit is weak."""

    kind: str
    nearest: float
    share_as_far: float
    threshold: float

    @property
    def weak(self) -> bool:
        return self.share_as_far < WEAK_SHARE

    def is_weak(self, distance: float) -> bool:
        return distance > self.threshold

    def describe(self) -> str:
        verdict = "fits the model badly" if self.weak else "fits the model"
        return (
            f"query {verdict}: its nearest document is at L1 {self.nearest:.2f}; "
            f"{self.share_as_far:.0%} of the collection's own {self.kind} queries are as far "
            f"from theirs (weak beyond {self.threshold:.2f})"
        )

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "nearest_distance": round(self.nearest, 6),
            "share_as_far": round(self.share_as_far, 4),
            "weak_beyond": round(self.threshold, 6),
            "weak": self.weak,
        }


@dataclass(frozen=True)
class FitReference:
    """Sorted nearest-other-document distances of sampled documents, per query kind."""

    distances: Mapping[str, np.ndarray]

    @classmethod
    def from_engine_parts(
        cls,
        inferencer: ThetaInferencer,
        documents: Sequence[TokenCounts],
        index,
        weights: Mapping[str, float],
        sample: int = REFERENCE_SAMPLE,
        seed: int = 0,
    ) -> FitReference:
        """Asks up to ``sample`` seeded documents as each kind of query (``index`` answers with
        ``query(theta, k) -> (rows, distances)``)."""
        rows = np.random.default_rng(seed).permutation(len(documents))[:sample]
        found: dict[str, list[float]] = {kind: [] for kind in KINDS}
        for row in rows:
            doc = documents[row]
            words = {m: bag for m, bag in doc.items() if m != VISUAL and bag}
            photo = {VISUAL: doc[VISUAL]} if doc.get(VISUAL) else {}
            for kind, tokens in (("words", words), ("photo", photo)):
                if tokens:
                    found[kind].append(_nearest_other(inferencer, index, tokens, weights, row))
            if words and photo:
                both = {**words, **photo}
                found["words+photo"].append(_nearest_other(inferencer, index, both, weights, row))
        return cls({kind: np.sort(np.asarray(values)) for kind, values in found.items()})

    def fit(self, nearest: float, tokens: TokenCounts) -> QueryFit:
        kind = query_kind(tokens)
        reference = self.distances.get(kind)
        if reference is None or not len(reference) or not np.isfinite(reference).any():
            return QueryFit(kind, nearest, 1.0, 2.0)
        reference = reference[np.isfinite(reference)]
        share = float((reference >= nearest - 1e-9).mean())
        threshold = float(np.quantile(reference, 1.0 - WEAK_SHARE))
        return QueryFit(kind, nearest, share, threshold)


def _nearest_other(
    inferencer: ThetaInferencer, index, tokens: TokenCounts, weights, row: int
) -> float:
    try:
        theta = inferencer.transform(tokens, weights).theta
    except NothingRecognized:
        return float("inf")
    rows, distances = index.query(theta, 2)
    others = [float(d) for r, d in zip(rows, distances, strict=True) if r != row]
    return others[0] if others else float("inf")
