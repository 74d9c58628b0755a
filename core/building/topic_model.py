"""The multimodal ARTM model: BigARTM training with progress and per-pass scores.

A document is a bag of tokens per modality (``TokenCounts``). Training writes BigARTM batches to
disk (one per processor, of at most ``BATCH_DOCUMENTS`` each; BigARTM trains out of core from
them) from documents taken one at a time, so they may stream from disk; adds only the
regularizers that act (tau != 0), fits one pass at a time so progress and scores are reported per
pass, then exports one phi matrix per modality as plain numpy (``core.serving.model``) and takes
the top tokens of every topic from it.
Query-time inference does not touch BigARTM (see ``core.serving.inference``); ``artm_transform`` is
kept for checking that our inference agrees with BigARTM's own. Only processes that train import
this module: importing it loads BigARTM (``core.building.artm_loader``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, count, islice
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.building.artm_loader import artm
from core.reading.collection import TokenCounts
from core.serving.model import FittedModel, ModelParams, Phi
from core.serving.records import chunked

PassCallback = Callable[[int, int, dict], None]
TOP_TOKENS = 10  # per topic and modality, in the last pass's scores
# BigARTM's processors add their batches' counts to phi in whatever order they finish. With two
# batches on two processors the sum is the same either way (a + b = b + a) and phi is
# bit-identical between runs with the same seed; with more batches it is not.
MAX_PROCESSORS = 2
# A batch is one protobuf message built in memory and loaded whole by a processor, so a large
# collection is cut into batches of at most this many documents: the training's memory stays
# flat. Up to processors x BATCH_DOCUMENTS documents there is one batch per processor (phi
# bit-identical between runs); past that, only one processor gives phi to the last bit.
BATCH_DOCUMENTS = 20_000
BATCH_PIECE = 1000  # documents of a batch held at a time while it is written


@dataclass
class TrainedModel(FittedModel):
    """A fitted model that still holds the BigARTM model it came from (for agreement checks);
    only the numpy part is saved."""

    artm_model: artm.ARTM | None = None


def write_batches(
    documents: Iterable[TokenCounts],
    directory: Path,
    batch_size: int = 1000,
    piece: int = BATCH_PIECE,
) -> set[str]:
    """Writes documents as BigARTM batches of ``batch_size``, taking them one at a time (a
    build streams them from disk) and holding ``piece`` of them at a time (``_write_batch``);
    item ``i`` gets id ``i`` (its row in theta). Returns the modalities that some document has
    tokens of."""
    directory.mkdir(parents=True, exist_ok=True)
    modalities: set[str] = set()
    rows = enumerate(documents)
    for number in count():
        first = next(rows, None)
        if first is None:
            break
        with (directory / f"{number:06d}.batch").open("wb") as handle:
            batch = chain([first], islice(rows, batch_size - 1))
            _write_batch(handle, batch, piece, modalities)
    return modalities


def _write_batch(
    handle: BinaryIO, rows: Iterable[tuple[int, TokenCounts]], piece: int, modalities: set[str]
) -> None:
    """One batch in pieces of ``piece`` documents: protobuf reads serialized messages written
    one after another as one message whose repeated fields are the pieces' in order, so the file
    is the batch of every document (items, and tokens in the order they first appear) while
    only one piece is held in memory (the pure-Python protobuf costs kilobytes a document)."""
    header = artm.messages.Batch()
    header.id = str(uuid.uuid4())
    handle.write(header.SerializeToString())
    token_ids: dict[tuple[str, str], int] = {}
    for part in chunked(rows, piece):
        batch = artm.messages.Batch()
        for row, doc in part:
            item = batch.item.add()
            item.id = row
            item.title = str(row)
            modalities.update(m for m in doc if doc[m])
            for modality in sorted(doc):
                for token, weight in sorted(doc[modality].items()):
                    key = (modality, token)
                    if key not in token_ids:
                        token_ids[key] = len(token_ids)
                        batch.token.append(token)
                        batch.class_id.append(modality)
                    item.token_id.append(token_ids[key])
                    item.token_weight.append(float(weight))
        handle.write(batch.SerializeToString())


def training_processors(documents: int) -> int:
    """BigARTM processors (threads) for training, one batch each: both cores when there are
    two, and documents for each."""
    return max(1, min(MAX_PROCESSORS, os.cpu_count() or 1, documents))


def fit(
    documents: Collection[TokenCounts],
    params: ModelParams,
    workdir: Path,
    on_pass: PassCallback | None = None,
) -> TrainedModel:
    """Trains the multimodal ARTM model, one collection pass at a time.

    ``on_pass(pass_number, total_passes, scores)`` is called after every pass.
    """
    return _fit(documents, params, workdir, on_pass, frozen={})


def fit_with_frozen_phi(
    documents: Collection[TokenCounts],
    params: ModelParams,
    workdir: Path,
    frozen: Mapping[str, Phi],
    on_pass: PassCallback | None = None,
) -> TrainedModel:
    """Trains only the phi of modalities not in ``frozen``; the frozen matrices stay exactly as
    given, so the topic space does not change (the article's first way to add a modality).

    BigARTM cannot freeze rows itself: the frozen rows are written into its phi before the first
    pass and again after every pass (a pass replaces the matrix), so every E-step sees them. The
    written matrix lives in a numpy buffer that BigARTM borrows, so the result carries no BigARTM
    model (it would outlive the buffer).
    """
    return _fit(documents, params, workdir, on_pass, frozen)


def _fit(
    documents: Collection[TokenCounts],
    params: ModelParams,
    workdir: Path,
    on_pass: PassCallback | None,
    frozen: Mapping[str, Phi],
) -> TrainedModel:
    if not documents:
        raise ValueError("cannot train on an empty collection")
    batches_dir = workdir / "batches"
    processors = training_processors(len(documents))
    batch_size = min(-(-len(documents) // processors), BATCH_DOCUMENTS)
    written = write_batches(documents, batches_dir, batch_size)
    modalities = sorted(written | set(frozen))
    if not modalities:
        raise ValueError("cannot train on an empty collection")
    if set(frozen) == set(modalities):
        raise ValueError("every modality is frozen: there is nothing to train")
    vectorizer = artm.BatchVectorizer(data_path=str(batches_dir), data_format="batches")
    dictionary = artm.Dictionary()
    dictionary.gather(data_path=str(batches_dir))

    model = new_model(params, modalities, processors, dictionary, pass_scores(modalities))
    # BigARTM reads the attached buffer until the next pass replaces it: keep it referenced.
    attached = _restore_frozen(model, frozen, params.topic_names)

    scores: list[dict] = []
    for number in range(1, params.passes + 1):
        model.fit_offline(vectorizer, num_collection_passes=1)
        attached = _restore_frozen(model, frozen, params.topic_names)
        scores.append(_read_scores(model, modalities, number))
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
        scores[-1][f"top{modality}"] = top_tokens(phi[modality], params.topic_names)
    del attached
    return TrainedModel(
        topic_names=params.topic_names,
        phi=phi,
        scores=scores,
        training_documents=len(documents),
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


def new_model(
    params: ModelParams,
    modalities: Sequence[str],
    processors: int,
    dictionary: artm.Dictionary,
    scores: Sequence,
) -> artm.ARTM:
    """An initialized BigARTM model as every trainer here builds it: ``params``' topics, modality
    weights (1 for a modality ``params`` does not weigh), document passes and seed, only the
    regularizers that act, and ``scores`` computed every pass. The builds, the bench's plain
    baseline and the out-of-core training all start from this, so they train the same model."""
    model = artm.ARTM(
        topic_names=params.topic_names,
        class_ids={m: float(params.modality_weights.get(m, 1.0)) for m in modalities},
        num_document_passes=params.document_passes,
        seed=params.seed,
        num_processors=processors,
    )
    for regularizer in regularizers(params):
        model.regularizers.add(regularizer)
    for score in scores:
        model.scores.add(score)
    model.initialize(dictionary=dictionary)
    return model


def regularizers(params: ModelParams) -> list:
    """BigARTM regularizers for ``params``, only those whose tau is not 0: BigARTM runs a
    regularizer at tau 0 in full (the decorrelator costs about 3 plain passes at 300 topics)
    for no effect on phi."""
    subject, background = params.subject_topics, params.background_topics
    wanted = [
        (artm.SmoothSparsePhiRegularizer, "sparse_phi", params.sparse_phi_tau, subject),
        (artm.SmoothSparseThetaRegularizer, "sparse_theta", params.sparse_theta_tau, subject),
        (artm.DecorrelatorPhiRegularizer, "decorrelation", params.decorrelation_tau, subject),
        (artm.SmoothSparsePhiRegularizer, "smooth_phi", params.smooth_phi_tau, background),
        (artm.SmoothSparseThetaRegularizer, "smooth_theta", params.smooth_theta_tau, background),
    ]
    return [
        kind(name=name, tau=tau, topic_names=topics)
        for kind, name, tau, topics in wanted
        if tau != 0 and topics
    ]


def pass_scores(modalities: Sequence[str]) -> list:
    """The scores BigARTM computes every pass: perplexity and phi sparsity per modality, theta
    sparsity. Top tokens are read from the final phi instead (``top_tokens``)."""
    scores = [artm.SparsityThetaScore(name="sparsity_theta")]
    for modality in modalities:
        scores.append(artm.PerplexityScore(name=f"perplexity{modality}", class_ids=[modality]))
        scores.append(artm.SparsityPhiScore(name=f"sparsity_phi{modality}", class_id=modality))
    return scores


def _read_scores(model: artm.ARTM, modalities: Sequence[str], number: int) -> dict:
    """This pass's values only (the score trackers re-read every past pass)."""
    scores: dict = {"pass": number, "sparsity_theta": model.get_score("sparsity_theta").value}
    for modality in modalities:
        scores[f"perplexity{modality}"] = model.get_score(f"perplexity{modality}").value
        scores[f"sparsity_phi{modality}"] = model.get_score(f"sparsity_phi{modality}").value
    return scores


def top_tokens(phi: Phi, topic_names: Sequence[str], count: int = TOP_TOKENS) -> dict:
    """The ``count`` most probable tokens of every topic (those with p(w|t) > 0), most probable
    first, ties in token order."""
    order = np.argsort(-phi.matrix, axis=0, kind="stable")[:count]
    return {
        topic: [phi.tokens[row] for row in order[:, column] if phi.matrix[row, column] > 0]
        for column, topic in enumerate(topic_names)
    }


def _phi_of(model: artm.ARTM, modality: str, topic_names: list[str]) -> tuple[np.ndarray, list]:
    values, rows, columns = model.get_phi_dense(topic_names=topic_names, class_ids=[modality])
    order = [list(columns).index(name) for name in topic_names]
    tokens = [row[1] if isinstance(row, tuple) else row for row in rows]
    return np.ascontiguousarray(values[:, order], dtype=np.float64), tokens


def artm_transform(
    model: artm.ARTM, documents: Collection[TokenCounts], workdir: Path
) -> np.ndarray:
    """BigARTM's own theta for ``documents`` (n_docs x n_topics), for agreement checks."""
    batches_dir = workdir / f"transform-{uuid.uuid4().hex}"
    write_batches(documents, batches_dir)
    vectorizer = artm.BatchVectorizer(data_path=str(batches_dir), data_format="batches")
    theta = model.transform(vectorizer)
    theta = theta[sorted(theta.columns, key=int)]
    return theta.loc[model.topic_names].to_numpy().T
