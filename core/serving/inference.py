"""Theta of a query: the topic vector that best explains its tokens, modality by modality.

This is BigARTM's E-step (the same iterations its ``transform`` runs) written in numpy over
read-only phi matrices, so it is safe to call from many threads at once and takes well under a
millisecond for a short query. Each modality's log-likelihood enters with its weight; weight 0
(or a missing modality) drops it from the sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from core.reading.collection import TokenCounts
from core.serving.model import ModelParams, Phi, theta_regularizer_taus
from core.weights import validate_weights


class NothingRecognized(ValueError):
    """None of the query's tokens (in modalities with weight > 0) is known to the model."""

    def __init__(self, unknown: Mapping[str, list[str]]) -> None:
        self.unknown = {modality: list(tokens) for modality, tokens in unknown.items()}
        listed = ", ".join(f"{t} ({m})" for m, tokens in self.unknown.items() for t in tokens)
        super().__init__(
            f"nothing in the query is known to the model; unknown tokens: {listed or 'none'}"
        )


@dataclass
class QueryTheta:
    """A query's topic vector and what the model made of its tokens."""

    theta: np.ndarray
    recognized: dict[str, dict[str, float]] = field(default_factory=dict)
    unknown: dict[str, list[str]] = field(default_factory=dict)


class ThetaInferencer:
    """Infers theta for bags of tokens against fixed phi matrices.

    ``theta_taus`` is what the theta regularizers add to n_td per topic on every document pass
    (sparsing for subject topics, smoothing for background ones), as in BigARTM.
    """

    def __init__(
        self, phi: Mapping[str, Phi], theta_taus: np.ndarray, document_passes: int
    ) -> None:
        if document_passes < 1:
            raise ValueError(f"document_passes must be >= 1, got {document_passes}")
        self.phi = dict(phi)
        self.num_topics = len(theta_taus)
        self.theta_taus = np.asarray(theta_taus, dtype=np.float64)
        self.document_passes = document_passes

    @classmethod
    def from_params(cls, phi: Mapping[str, Phi], params: ModelParams) -> ThetaInferencer:
        """The inferencer BigARTM's transform would be for a model trained with ``params``."""
        return cls(phi, theta_regularizer_taus(params), params.document_passes)

    def transform(self, tokens: TokenCounts, weights: Mapping[str, float]) -> QueryTheta:
        """Theta of one query; raises ``NothingRecognized`` if no weighted token is known.

        Modalities absent from ``weights`` get weight 0; unknown modalities count as unknown.
        """
        validate_weights(weights)
        rows, counts, recognized, unknown = [], [], {}, {}
        for modality, bag in tokens.items():
            phi = self.phi.get(modality)
            weight = float(weights.get(modality, 0.0))
            for token, count in bag.items():
                row = None if phi is None else phi.index.get(token)
                if row is None:
                    unknown.setdefault(modality, []).append(token)
                elif weight > 0 and count > 0:
                    rows.append(phi.matrix[row])
                    counts.append(weight * count)
                    recognized.setdefault(modality, {})[token] = float(count)
        if not rows:
            raise NothingRecognized(unknown)
        theta = self._e_step(np.vstack(rows), np.asarray(counts))
        return QueryTheta(theta=theta, recognized=recognized, unknown=unknown)

    def transform_many(
        self, documents: list[TokenCounts], weights: Mapping[str, float]
    ) -> np.ndarray:
        """Thetas of many documents (n x topics); a document with nothing known gets zeros."""
        thetas = np.zeros((len(documents), self.num_topics))
        for i, doc in enumerate(documents):
            try:
                thetas[i] = self.transform(doc, weights).theta
            except NothingRecognized:
                continue
        return thetas

    def _e_step(self, phi_rows: np.ndarray, weighted_counts: np.ndarray) -> np.ndarray:
        theta = np.full(self.num_topics, 1.0 / self.num_topics)
        for _ in range(self.document_passes):
            p_dw = phi_rows @ theta
            ratio = np.divide(
                weighted_counts, p_dw, out=np.zeros_like(weighted_counts), where=p_dw > 0
            )
            n_td = theta * (phi_rows.T @ ratio) + self.theta_taus
            np.maximum(n_td, 0.0, out=n_td)
            total = n_td.sum()
            if total <= 0:
                break
            theta = n_td / total
        return theta
