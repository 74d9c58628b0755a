"""A fitted topic model as plain numpy: its parameters, phi per modality, and their files.

Everything here is what serving needs, so importing it never imports BigARTM (see
``core.building.topic_model`` for training): the web process runs without BigARTM and on the default
protobuf implementation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from core.weights import validate_weights


@dataclass(frozen=True)
class ModelParams:
    """Everything that shapes a model; stored with every version.

    Subject topics can be sparsed (phi and theta) and decorrelated; background topics are
    smoothed so they soak up common words. Modality weights multiply token counts: `@visual` has
    a few hundred sampled tokens per document against a handful of words, so its weight is small.

    The defaults are the best setting of the sweep in ``reports/eval.md`` (``python -m core eval
    --sweep``, on the validation part of the 5,337-document benchmark collection): many small
    topics and a very small `@visual` weight; sparsing phi or theta hurt there, as it did on the
    built-in collection, since most words occur in few documents.

    ``training_sample`` (None: every document) trains phi on a random sample of that many
    documents, drawn with ``seed``; every document's theta is inferred with phi fixed either way,
    so the others are searchable alike (issue 23: training on every one of ten million documents
    takes days; ``reports/sample.md`` measures what a sample costs).
    """

    num_topics: int = 300
    num_background_topics: int = 2
    modality_weights: Mapping[str, float] = field(
        default_factory=lambda: {"@text": 1.0, "@tag": 1.0, "@visual": 0.005}
    )
    passes: int = 40
    document_passes: int = 10
    sparse_phi_tau: float = 0.0
    smooth_phi_tau: float = 0.05
    sparse_theta_tau: float = 0.0
    smooth_theta_tau: float = 0.05
    decorrelation_tau: float = 0.0
    min_significant_tokens: int = 2
    visual_samples: int = 200
    flattening_strength: int = 2
    top_terms: int = 15
    seed: int = 1
    training_sample: int | None = None

    def __post_init__(self) -> None:
        if self.num_topics < 2:
            raise ValueError(f"num_topics must be >= 2, got {self.num_topics}")
        if not 0 <= self.num_background_topics < self.num_topics:
            raise ValueError(
                "num_background_topics must be in [0, num_topics), "
                f"got {self.num_background_topics}"
            )
        for name in ("passes", "document_passes", "visual_samples", "top_terms"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_significant_tokens < 0 or self.flattening_strength < 0:
            raise ValueError("min_significant_tokens and flattening_strength must be >= 0")
        if self.sparse_phi_tau > 0 or self.sparse_theta_tau > 0:
            raise ValueError("sparsing coefficients must be <= 0")
        if self.smooth_phi_tau < 0 or self.smooth_theta_tau < 0 or self.decorrelation_tau < 0:
            raise ValueError("smoothing and decorrelation coefficients must be >= 0")
        if self.training_sample is not None and self.training_sample < 2:
            raise ValueError(f"training_sample must be >= 2 documents, got {self.training_sample}")
        validate_weights(self.modality_weights)

    @property
    def topic_names(self) -> list[str]:
        subject = self.num_topics - self.num_background_topics
        return [f"topic_{i}" for i in range(subject)] + [
            f"background_{i}" for i in range(self.num_background_topics)
        ]

    @property
    def subject_topics(self) -> list[str]:
        return self.topic_names[: self.num_topics - self.num_background_topics]

    @property
    def background_topics(self) -> list[str]:
        return self.topic_names[self.num_topics - self.num_background_topics :]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["modality_weights"] = dict(self.modality_weights)
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelParams:
        return cls(**data)


@dataclass
class Phi:
    """One modality's phi: rows are tokens, columns topics, each column sums to 1."""

    tokens: list[str]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        self.index = {token: row for row, token in enumerate(self.tokens)}


@dataclass
class FittedModel:
    """What training produces: phi per modality, topic names, per-pass scores, and how many
    documents phi was trained on (None: a version written before it was recorded)."""

    topic_names: list[str]
    phi: dict[str, Phi]
    scores: list[dict]
    training_documents: int | None = None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"phi{name}": phi.matrix for name, phi in self.phi.items()}
        np.savez(directory / "phi.npz", **arrays)
        meta = {
            "topic_names": self.topic_names,
            "tokens": {name: phi.tokens for name, phi in self.phi.items()},
            "scores": self.scores,
            "training_documents": self.training_documents,
        }
        (directory / "phi.json").write_text(json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, directory: Path) -> FittedModel:
        meta = json.loads((directory / "phi.json").read_text())
        with np.load(directory / "phi.npz") as arrays:
            phi = {
                name: Phi(tokens, arrays[f"phi{name}"]) for name, tokens in meta["tokens"].items()
            }
        return cls(
            topic_names=meta["topic_names"],
            phi=phi,
            scores=meta["scores"],
            training_documents=meta.get("training_documents"),
        )


def theta_regularizer_taus(params: ModelParams) -> np.ndarray:
    """The constant that BigARTM's theta regularizers add to n_td, per topic column."""
    subject = params.num_topics - params.num_background_topics
    return np.concatenate(
        [
            np.full(subject, params.sparse_theta_tau),
            np.full(params.num_background_topics, params.smooth_theta_tau),
        ]
    )
