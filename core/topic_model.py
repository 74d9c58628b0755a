"""The multimodal ARTM model: BigARTM training with progress and per-pass scores.

A document is a bag of tokens per modality (``TokenCounts``). Training writes BigARTM batches to
disk (BigARTM trains out of core from them), fits one pass at a time so progress and scores are
reported per pass, then exports one phi matrix per modality as plain numpy. Query-time inference
does not touch BigARTM (see ``core.inference``); ``artm_transform`` is kept for checking that
our inference agrees with BigARTM's own.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import artm
import numpy as np

TokenCounts = dict[str, Counter[str]]
PassCallback = Callable[[int, int, dict], None]

log = logging.getLogger(__name__)


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


def validate_weights(weights: Mapping[str, float]) -> None:
    """Modality names start with '@'; weights are finite and >= 0 (0 switches one off)."""
    for name, weight in weights.items():
        if not name.startswith("@") or len(name) < 2:
            raise ValueError(f"modality names start with '@', got {name!r}")
        if isinstance(weight, bool) or not isinstance(weight, int | float | np.number):
            raise ValueError(f"weight of {name} must be a number, got {weight!r}")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"weight of {name} must be a finite number >= 0, got {weight}")


@dataclass
class Phi:
    """One modality's phi: rows are tokens, columns topics, each column sums to 1."""

    tokens: list[str]
    matrix: np.ndarray

    def __post_init__(self) -> None:
        self.index = {token: row for row, token in enumerate(self.tokens)}


@dataclass
class FittedModel:
    """What training produces: phi per modality, topic names, per-pass scores."""

    topic_names: list[str]
    phi: dict[str, Phi]
    scores: list[dict]
    artm_model: artm.ARTM | None = None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"phi{name}": phi.matrix for name, phi in self.phi.items()}
        np.savez(directory / "phi.npz", **arrays)
        meta = {
            "topic_names": self.topic_names,
            "tokens": {name: phi.tokens for name, phi in self.phi.items()},
            "scores": self.scores,
        }
        (directory / "phi.json").write_text(json.dumps(meta, ensure_ascii=False))
        if self.artm_model is not None:
            self.artm_model.dump_artm_model(str(directory / "artm"))

    @classmethod
    def load(cls, directory: Path) -> FittedModel:
        meta = json.loads((directory / "phi.json").read_text())
        with np.load(directory / "phi.npz") as arrays:
            phi = {
                name: Phi(tokens, arrays[f"phi{name}"]) for name, tokens in meta["tokens"].items()
            }
        return cls(topic_names=meta["topic_names"], phi=phi, scores=meta["scores"])


def write_batches(
    documents: Sequence[TokenCounts], directory: Path, batch_size: int = 1000
) -> None:
    """Writes documents as BigARTM batches; item ``i`` gets id ``i`` (its row in theta)."""
    directory.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(documents), batch_size):
        batch = artm.messages.Batch()
        batch.id = str(uuid.uuid4())
        token_ids: dict[tuple[str, str], int] = {}
        for offset, doc in enumerate(documents[start : start + batch_size]):
            item = batch.item.add()
            item.id = start + offset
            item.title = str(start + offset)
            for modality in sorted(doc):
                for token, count in sorted(doc[modality].items()):
                    key = (modality, token)
                    if key not in token_ids:
                        token_ids[key] = len(token_ids)
                        batch.token.append(token)
                        batch.class_id.append(modality)
                    item.token_id.append(token_ids[key])
                    item.token_weight.append(float(count))
        (directory / f"{start // batch_size:06d}.batch").write_bytes(batch.SerializeToString())


def fit(
    documents: Sequence[TokenCounts],
    params: ModelParams,
    workdir: Path,
    on_pass: PassCallback | None = None,
) -> FittedModel:
    """Trains the multimodal ARTM model, one collection pass at a time.

    ``on_pass(pass_number, total_passes, scores)`` is called after every pass.
    """
    return _fit(documents, params, workdir, on_pass, frozen={})


def fit_with_frozen_phi(
    documents: Sequence[TokenCounts],
    params: ModelParams,
    workdir: Path,
    frozen: Mapping[str, Phi],
    on_pass: PassCallback | None = None,
) -> FittedModel:
    """Trains only the phi of modalities not in ``frozen``; the frozen matrices stay exactly as
    given, so the topic space does not change (the article's first way to add a modality).

    BigARTM cannot freeze rows itself: the frozen rows are written into its phi before the first
    pass and again after every pass (a pass replaces the matrix), so every E-step sees them. The
    written matrix lives in a numpy buffer that BigARTM borrows, so the result carries no BigARTM
    model (it would outlive the buffer).
    """
    return _fit(documents, params, workdir, on_pass, frozen)


def _fit(
    documents: Sequence[TokenCounts],
    params: ModelParams,
    workdir: Path,
    on_pass: PassCallback | None,
    frozen: Mapping[str, Phi],
) -> FittedModel:
    modalities = sorted({m for doc in documents for m in doc if doc[m]} | set(frozen))
    if not documents or not modalities:
        raise ValueError("cannot train on an empty collection")
    if set(frozen) == set(modalities):
        raise ValueError("every modality is frozen: there is nothing to train")
    batches_dir = workdir / "batches"
    write_batches(documents, batches_dir)
    vectorizer = artm.BatchVectorizer(data_path=str(batches_dir), data_format="batches")
    dictionary = artm.Dictionary()
    dictionary.gather(data_path=str(batches_dir))

    weights = {m: float(params.modality_weights.get(m, 1.0)) for m in modalities}
    model = artm.ARTM(
        topic_names=params.topic_names,
        class_ids=weights,
        num_document_passes=params.document_passes,
        seed=params.seed,
        num_processors=1,
    )
    _add_regularizers(model, params, modalities)
    _add_scores(model, params, modalities)
    model.initialize(dictionary=dictionary)
    # BigARTM reads the attached buffer until the next pass replaces it: keep it referenced.
    attached = _restore_frozen(model, frozen, params.topic_names)

    scores: list[dict] = []
    for number in range(1, params.passes + 1):
        model.fit_offline(vectorizer, num_collection_passes=1)
        attached = _restore_frozen(model, frozen, params.topic_names)
        scores.append(_last_scores(model, modalities, number, params.passes))
        if on_pass is not None:
            on_pass(number, params.passes, scores[-1])

    phi = {}
    for modality in modalities:
        matrix, tokens = _phi_of(model, modality, params.topic_names)
        if modality in frozen:  # rows in the frozen matrix's order, so the arrays compare equal
            position = {token: row for row, token in enumerate(tokens)}
            tokens = list(frozen[modality].tokens)
            matrix = matrix[[position[token] for token in tokens]]
        phi[modality] = Phi(tokens, matrix)
    del attached
    return FittedModel(
        topic_names=params.topic_names,
        phi=phi,
        scores=scores,
        artm_model=None if frozen else model,
    )


def _restore_frozen(
    model: artm.ARTM, frozen: Mapping[str, Phi], topic_names: list[str]
) -> np.ndarray | None:
    """Writes the frozen phi rows into BigARTM's phi (attached as a numpy buffer) and returns the
    buffer, which must stay alive while BigARTM uses it."""
    if not frozen:
        return None
    info, matrix = model.master.attach_model(model.model_pwt)
    columns = [list(info.topic_name).index(name) for name in topic_names]
    for row, (token, modality) in enumerate(zip(info.token, info.class_id, strict=True)):
        phi = frozen.get(modality)
        if phi is None:
            continue
        source = phi.index.get(token)
        if source is None:
            raise ValueError(f"token {token!r} of frozen modality {modality} has no phi row")
        matrix[row, columns] = phi.matrix[source]
    return matrix


def theta_regularizer_taus(params: ModelParams) -> np.ndarray:
    """The constant that BigARTM's theta regularizers add to n_td, per topic column."""
    subject = params.num_topics - params.num_background_topics
    return np.concatenate(
        [
            np.full(subject, params.sparse_theta_tau),
            np.full(params.num_background_topics, params.smooth_theta_tau),
        ]
    )


def _add_regularizers(model: artm.ARTM, params: ModelParams, modalities: list[str]) -> None:
    subject, background = params.subject_topics, params.background_topics
    regs = model.regularizers
    regs.add(
        artm.SmoothSparsePhiRegularizer(
            name="sparse_phi", tau=params.sparse_phi_tau, topic_names=subject
        )
    )
    regs.add(
        artm.SmoothSparseThetaRegularizer(
            name="sparse_theta", tau=params.sparse_theta_tau, topic_names=subject
        )
    )
    regs.add(
        artm.DecorrelatorPhiRegularizer(
            name="decorrelation", tau=params.decorrelation_tau, topic_names=subject
        )
    )
    if background:
        regs.add(
            artm.SmoothSparsePhiRegularizer(
                name="smooth_phi", tau=params.smooth_phi_tau, topic_names=background
            )
        )
        regs.add(
            artm.SmoothSparseThetaRegularizer(
                name="smooth_theta", tau=params.smooth_theta_tau, topic_names=background
            )
        )


def _add_scores(model: artm.ARTM, params: ModelParams, modalities: list[str]) -> None:
    for modality in modalities:
        model.scores.add(artm.PerplexityScore(name=f"perplexity{modality}", class_ids=[modality]))
        model.scores.add(artm.SparsityPhiScore(name=f"sparsity_phi{modality}", class_id=modality))
        model.scores.add(
            artm.TopTokensScore(name=f"top{modality}", class_id=modality, num_tokens=10)
        )
    model.scores.add(artm.SparsityThetaScore(name="sparsity_theta"))


def _last_scores(model: artm.ARTM, modalities: list[str], number: int, last: int) -> dict:
    """Perplexity and sparsity every pass; top tokens (slow to fetch) after the last pass."""
    tracker = model.score_tracker
    scores: dict = {"pass": number, "sparsity_theta": float(tracker["sparsity_theta"].last_value)}
    for modality in modalities:
        scores[f"perplexity{modality}"] = float(tracker[f"perplexity{modality}"].last_value)
        scores[f"sparsity_phi{modality}"] = float(tracker[f"sparsity_phi{modality}"].last_value)
        if number == last:
            top = tracker[f"top{modality}"].last_tokens
            scores[f"top{modality}"] = {topic: list(tokens) for topic, tokens in top.items()}
    return scores


def _phi_of(model: artm.ARTM, modality: str, topic_names: list[str]) -> tuple[np.ndarray, list]:
    values, rows, columns = model.get_phi_dense(topic_names=topic_names, class_ids=[modality])
    order = [list(columns).index(name) for name in topic_names]
    tokens = [row[1] if isinstance(row, tuple) else row for row in rows]
    return np.ascontiguousarray(values[:, order], dtype=np.float64), tokens


def artm_transform(model: artm.ARTM, documents: Sequence[TokenCounts], workdir: Path) -> np.ndarray:
    """BigARTM's own theta for ``documents`` (n_docs x n_topics), for agreement checks."""
    batches_dir = workdir / f"transform-{uuid.uuid4().hex}"
    write_batches(documents, batches_dir)
    vectorizer = artm.BatchVectorizer(data_path=str(batches_dir), data_format="batches")
    theta = model.transform(vectorizer)
    theta = theta[sorted(theta.columns, key=int)]
    return theta.loc[model.topic_names].to_numpy().T
