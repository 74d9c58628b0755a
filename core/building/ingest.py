"""Ingest: documents -> token bags (text processing and visual words), batch by batch, on an
executor that is either this process or a Dask cluster.

The work of one batch is :func:`ingest_batch`, a pure function of the batch's documents, the
model parameters and the tools (text processor, image vectorizer): the same batch gives the same
tokens wherever it runs, so a build on a cluster equals a local build of the same collection. A
batch carries only document ids, texts and image *paths*: the workers read the photos from the
collection's folder themselves (it must be at the same path on every worker: shared storage), and
the image cache (keyed by content hash, written atomically) may be shared by all of them.

Executors (:class:`IngestExecutor`):

* :class:`LocalIngest` runs every batch in this process with the tools it was given;
* :class:`DaskIngest` submits every batch to a Dask cluster (``distributed``), where each worker
  process makes its tools once (TensorFlow is loaded once per worker) from the build's
  :class:`~core.settings.Settings`. A batch whose worker dies is run again on another worker by
  the scheduler (``retries`` more times for ordinary errors), so a lost worker costs that
  batch, not the build.

What comes back from a batch is a sink's choice (:class:`BatchSink`), made where the batch was
ingested: :class:`KeepInMemory` returns the kept documents themselves (additions, evaluations);
:class:`ShardWriter` writes them to a shard of the version's work directory (on shared storage,
so a Dask worker writes its own) and returns only what the driver counts: how many were kept,
the ids of those dropped for too few significant tokens, and the display forms' surface counts.
A build's driver therefore never holds the documents' token bags (``core.building.shards``).

The same executors infer document thetas with phi fixed (:func:`infer_chunk`, the inference
queries use), chunk by chunk: a build trained on a sample (``ModelParams.training_sample``)
infers every document's theta there, and on a cluster phi goes to each worker once.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from core.building.shards import StoredDocuments, write_shard
from core.reading.backbones import load_backbone
from core.reading.collection import Document, TokenCounts
from core.reading.images import content_hash
from core.reading.text import TextProcessor
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving.inference import ThetaInferencer
from core.serving.model import ModelParams, Phi
from core.serving.reader import visual_words
from core.serving.records import chunked
from core.settings import Settings

BATCH_SIZE = 64  # documents per batch: two CNN batches of 32, a few seconds of work
LOCAL_PREFIX = "local:"


@dataclass(frozen=True)
class IngestedDocument:
    """A document with every modality's tokens and its image hash, and the surface forms its
    text tokens came from (which the version's display forms are counted from)."""

    document: Document
    surfaces: list[tuple[str, str, str]]


def significant_token_count(tokens: TokenCounts) -> int:
    """Tokens a person wrote or attached (all modalities but the sampled visual words)."""
    return int(sum(sum(bag.values()) for modality, bag in tokens.items() if modality != VISUAL))


@dataclass(frozen=True)
class SiftedBatch:
    """One ingested batch as the driver takes it: the documents kept (in a list, or a shard on
    disk), the ids of those dropped for too few significant tokens, and how often each
    ``(modality, token, surface)`` was seen (the display forms are counted from these)."""

    kept: Collection[Document]
    dropped: list[str]
    surfaces: Counter[tuple[str, str, str]]


def sift(
    ingested: Sequence[IngestedDocument], params: ModelParams
) -> tuple[list[Document], list[str], Counter[tuple[str, str, str]]]:
    """The documents with at least ``params.min_significant_tokens`` significant tokens, the ids
    of the others, and every document's surface counts."""
    kept, dropped = [], []
    surfaces: Counter[tuple[str, str, str]] = Counter()
    for item in ingested:
        surfaces.update(item.surfaces)
        enough = significant_token_count(item.document.tokens) >= params.min_significant_tokens
        if enough:
            kept.append(item.document)
        else:
            dropped.append(item.document.id)
    return kept, dropped, surfaces


class BatchSink(Protocol):
    """What becomes of an ingested batch where it was ingested (picklable: it travels to the
    Dask workers), and how the driver joins the kept parts of every batch, in batch order."""

    def __call__(
        self, number: int, ingested: Sequence[IngestedDocument], params: ModelParams
    ) -> SiftedBatch: ...

    def joined(self, parts: Sequence[Collection[Document]]) -> Collection[Document]: ...


@dataclass(frozen=True)
class KeepInMemory:
    """The kept documents come back to the driver: for small collections (additions, evals)."""

    def __call__(
        self, number: int, ingested: Sequence[IngestedDocument], params: ModelParams
    ) -> SiftedBatch:
        return SiftedBatch(*sift(ingested, params))

    def joined(self, parts: Sequence[Collection[Document]]) -> list[Document]:
        return [document for part in parts for document in part]


@dataclass(frozen=True)
class ShardWriter:
    """The kept documents go to shard ``number`` in ``directory`` (shared storage when the
    batches run on a cluster); the driver gets the shard's name and size back, not documents."""

    directory: Path

    def __call__(
        self, number: int, ingested: Sequence[IngestedDocument], params: ModelParams
    ) -> SiftedBatch:
        kept, dropped, surfaces = sift(ingested, params)
        return SiftedBatch(write_shard(self.directory, number, kept), dropped, surfaces)

    def joined(self, parts: Sequence[Collection[Document]]) -> StoredDocuments:
        return StoredDocuments(list(parts))


def ingest_batch(
    documents: Sequence[Document],
    params: ModelParams,
    processor: TextProcessor,
    vectorizer: ImageVectorizer | None,
) -> list[IngestedDocument]:
    """Tokens of every document of one batch: text and tags, extra modalities, visual words
    (``vectorizer`` None: a collection without photos, which loads no image backbone)."""
    bags: list[TokenCounts] = []
    surfaces = []
    for doc in documents:
        analyzed = processor.analyze(doc.text, doc.tags)
        bag: TokenCounts = {m: c for m, c in analyzed.tokens.items() if c}
        bag.update({m: Counter(c) for m, c in doc.tokens.items()})
        bags.append(bag)
        surfaces.append(analyzed.surfaces)
    hashes: list[str | None] = [None] * len(documents)
    with_image = [i for i, doc in enumerate(documents) if doc.image is not None]
    if with_image and vectorizer is None:
        raise ValueError("this ingest has no image backbone, and the collection has photos")
    if with_image:
        probabilities = vectorizer.probabilities([documents[i].image for i in with_image])
        for i, probs in zip(with_image, probabilities, strict=True):
            hashes[i] = content_hash(documents[i].image)
            bags[i][VISUAL] = visual_words(probs, params, hashes[i])
    return [
        IngestedDocument(replace(doc, tokens=bag, image_hash=image_hash), surface)
        for doc, bag, surface, image_hash in zip(documents, bags, surfaces, hashes, strict=True)
    ]


def batches_of(documents: Iterable[Document], size: int = BATCH_SIZE) -> Iterator[list[Document]]:
    """The documents cut into consecutive batches of ``size`` (the last one may be shorter),
    taken from ``documents`` as the batches are asked for."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    return chunked(documents, size)


def infer_chunk(
    tokens: Sequence[TokenCounts],
    phi: Mapping[str, Phi],
    params: ModelParams,
    weights: Mapping[str, float],
) -> np.ndarray:
    """Thetas of one chunk of documents (n x topics) with ``phi`` fixed, by the inference
    queries use, so that distances between documents and queries compare alike."""
    return ThetaInferencer.from_params(phi, params).transform_many(list(tokens), weights)


def infer_locally(
    chunks: Iterable[Sequence[TokenCounts]],
    phi: Mapping[str, Phi],
    params: ModelParams,
    weights: Mapping[str, float],
) -> Iterator[tuple[int, np.ndarray]]:
    """:func:`infer_chunk` over every chunk in this process, in order."""
    for number, chunk in enumerate(chunks):
        yield number, infer_chunk(chunk, phi, params, weights)


class IngestExecutor(Protocol):
    """Runs :func:`ingest_batch` over batches, handing each result to ``sink`` where it ran
    (``run``), and :func:`infer_chunk` over chunks of token bags (``infer``) somewhere; yields
    ``(number, result)`` as they finish, in any order, each exactly once. An error that retries
    cannot cure is raised from the iterator, and the work not yet done is cancelled. Callers
    cut the documents into batches of ``batch_size``; chunks may come from a generator (they
    are taken as work is submitted)."""

    batch_size: int

    def run(
        self, batches: Iterable[Sequence[Document]], params: ModelParams, sink: BatchSink
    ) -> Iterator[tuple[int, SiftedBatch]]: ...

    def infer(
        self,
        chunks: Iterable[Sequence[TokenCounts]],
        phi: Mapping[str, Phi],
        params: ModelParams,
        weights: Mapping[str, float],
    ) -> Iterator[tuple[int, np.ndarray]]: ...


class LocalIngest:
    """Every batch in this process, in order, with the given tools (no ``vectorizer``: a
    collection without photos)."""

    def __init__(
        self,
        processor: TextProcessor,
        vectorizer: ImageVectorizer | None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.processor = processor
        self.vectorizer = vectorizer
        self.batch_size = batch_size

    def run(
        self, batches: Iterable[Sequence[Document]], params: ModelParams, sink: BatchSink
    ) -> Iterator[tuple[int, SiftedBatch]]:
        for number, batch in enumerate(batches):
            ingested = ingest_batch(batch, params, self.processor, self.vectorizer)
            yield number, sink(number, ingested, params)

    def infer(
        self,
        chunks: Iterable[Sequence[TokenCounts]],
        phi: Mapping[str, Phi],
        params: ModelParams,
        weights: Mapping[str, float],
    ) -> Iterator[tuple[int, np.ndarray]]:
        return infer_locally(chunks, phi, params, weights)


@cache
def worker_tools(settings: Settings) -> tuple[TextProcessor, ImageVectorizer]:
    """The tools of one worker process, made on its first batch (TensorFlow loads once)."""
    return TextProcessor(), ImageVectorizer(load_backbone(settings), settings.cache_dir)


def _ingest_on_worker(
    numbered: tuple[int, Sequence[Document]],
    params: ModelParams,
    settings: Settings,
    sink: BatchSink,
) -> SiftedBatch:
    number, batch = numbered
    return sink(number, ingest_batch(batch, params, *worker_tools(settings)), params)


class DaskIngest:
    """Every batch as one task on a Dask cluster reached through ``client``.

    The workers make their tools from ``settings`` (backbone, weights path, image cache dir):
    paths in it and the collection's image paths must mean the same files on every worker.
    At most ``window`` batches are submitted at a time, so the scheduler never holds a whole
    large collection's texts.
    """

    def __init__(
        self,
        client,
        settings: Settings,
        batch_size: int = BATCH_SIZE,
        retries: int = 2,
        window: int = 256,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.client = client
        self.settings = settings
        self.batch_size = batch_size
        self.retries = retries
        self.window = window

    def run(
        self, batches: Iterable[Sequence[Document]], params: ModelParams, sink: BatchSink
    ) -> Iterator[tuple[int, SiftedBatch]]:
        numbered = ((number, batch) for number, batch in enumerate(batches))
        return self._map(_ingest_on_worker, "ingest-batch", numbered, params, self.settings, sink)

    def infer(
        self,
        chunks: Iterable[Sequence[TokenCounts]],
        phi: Mapping[str, Phi],
        params: ModelParams,
        weights: Mapping[str, float],
    ) -> Iterator[tuple[int, np.ndarray]]:
        """Phi goes to every worker once (scattered), not with every chunk."""
        [shared] = self.client.scatter([dict(phi)], broadcast=True, hash=False)
        try:
            yield from self._map(infer_chunk, "theta-chunk", chunks, shared, params, weights)
        finally:
            shared.release()

    def _map(
        self, function: Callable, name: str, items: Iterable, *arguments: Any
    ) -> Iterator[tuple[int, Any]]:
        """``function(item, *arguments)`` as one task per item, at most ``window`` submitted
        at a time; ``(number, result)`` as they finish."""
        from distributed import as_completed

        waiting = iter(enumerate(items))
        submitted = {}  # future -> item number
        finished = as_completed()

        def submit_next() -> None:
            for number, item in waiting:
                future = self.client.submit(
                    function,
                    item,
                    *arguments,
                    key=f"{name}-{number}-{os.urandom(4).hex()}",
                    retries=self.retries,
                    pure=False,
                )
                submitted[future] = number
                finished.add(future)
                return

        try:
            for _ in range(self.window):
                submit_next()
            for future in finished:
                number = submitted.pop(future)
                result = future.result()
                future.release()
                submit_next()
                yield number, result
        finally:
            self.client.cancel(list(submitted))


def parse_cluster(address: str) -> int | str:
    """``local:N`` -> N (worker processes of a local cluster); anything else is a scheduler
    address such as ``tcp://10.0.0.5:8786``."""
    if address.startswith(LOCAL_PREFIX):
        count = address[len(LOCAL_PREFIX) :]
        if not count.isdigit() or int(count) < 1:
            raise ValueError(f"--dask local:N needs a number of workers >= 1, got {address!r}")
        return int(count)
    if not address or any(c.isspace() for c in address):
        raise ValueError(f"not a Dask scheduler address: {address!r}")
    return address


@contextmanager
def dask_ingest(address: str, settings: Settings) -> Iterator[DaskIngest]:
    """A :class:`DaskIngest` on the scheduler at ``address``, or on a local cluster of N worker
    processes (one thread each: a worker's CNN batch already uses every core it has) for
    ``local:N``, shut down afterwards."""
    from distributed import Client, LocalCluster

    target = parse_cluster(address)
    if isinstance(target, int):
        with (
            LocalCluster(
                n_workers=target,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                # Workers never load BigARTM: TensorFlow gets protobuf's fast default
                # implementation, not the pure-Python one `python -m core` chose for BigARTM.
                env={"PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION": "upb"},
            ) as cluster,
            Client(cluster) as client,
        ):
            yield DaskIngest(client, settings)
    else:
        with Client(target, timeout="30s") as client:
            yield DaskIngest(client, settings)
