"""Ingest executors: in this process or on a Dask cluster, the same batches give the same tokens
and the same chunks the same thetas, a build on the cluster equals a local build, and a worker
killed mid-batch costs only a retry."""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from distributed import Client, LocalCluster

from core.building.ingest import (
    DaskIngest,
    KeepInMemory,
    LocalIngest,
    ShardWriter,
    batches_of,
    infer_chunk,
    ingest_batch,
    parse_cluster,
    sift,
)
from core.building.pipeline import build
from core.building.shards import Shard
from core.reading.backbones import load_backbone
from core.reading.collection import import_collection
from core.reading.images import ImageError
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.model import ModelParams
from core.serving.version_files import VersionFiles
from core.settings import DEFAULT_BACKBONE, Settings
from tests.conftest import builtin_rows, copy_collection
from tests.fault_helpers import SMALL

BATCH = 8


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    return copy_collection(builtin_rows()[::20], tmp_path_factory.mktemp("ingest") / "collection")


def local_cluster() -> LocalCluster:
    return LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")


@pytest.fixture(scope="module")
def client():
    with local_cluster() as cluster, Client(cluster) as client:
        yield client


def local_executor(settings: Settings) -> LocalIngest:
    vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
    return LocalIngest(TextProcessor(), vectorizer, batch_size=BATCH)


@pytest.fixture(params=["local", "dask"])
def executor(request, tmp_path):
    """Every implementation of the IngestExecutor protocol, with an image cache of its own."""
    settings = Settings(data_dir=tmp_path / "data")
    if request.param == "local":
        return local_executor(settings)
    # a window of 2 batches in flight: the rest are submitted as batches finish
    return DaskIngest(request.getfixturevalue("client"), settings, batch_size=BATCH, window=2)


@pytest.mark.parametrize("sink", ["memory", "shards"])
def test_contract_every_batch_once_with_the_tokens_ingest_batch_gives(
    executor, collection, vision_cache, sink, tmp_path
) -> None:
    """Kept in memory, the documents come back; written to shards (where the batch ran), only
    the shard's name and size come back, and the shard holds the same documents."""
    documents = import_collection(collection).documents
    batches = list(batches_of(documents, executor.batch_size))
    params = replace(ModelParams(), min_significant_tokens=4)
    chosen = KeepInMemory() if sink == "memory" else ShardWriter(tmp_path / "shards")

    results = dict(executor.run(batches, params, chosen))

    assert sorted(results) == list(range(len(batches)))
    reference = LocalIngest(
        TextProcessor(), ImageVectorizer(load_backbone(DEFAULT_BACKBONE), vision_cache)
    )
    dropped = []
    for number, batch in enumerate(batches):
        expected = ingest_batch(batch, params, reference.processor, reference.vectorizer)
        kept, expected_dropped, surfaces = sift(expected, params)
        result = results[number]
        assert isinstance(result.kept, list if sink == "memory" else Shard)
        assert len(result.kept) == len(kept)
        assert [d.tokens for d in result.kept] == [d.tokens for d in kept]
        assert [d.image_hash for d in result.kept] == [d.image_hash for d in kept]
        assert (result.dropped, result.surfaces) == (expected_dropped, surfaces)
        dropped += result.dropped
    assert dropped  # the threshold drops some documents of this collection


def test_contract_an_unreadable_image_is_raised_with_its_path(
    executor, collection, tmp_path
) -> None:
    documents = import_collection(collection).documents[:3]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    documents[1] = replace(documents[1], image=broken)

    with pytest.raises(ImageError, match=r"broken\.jpg"):
        list(
            executor.run(batches_of(documents, executor.batch_size), ModelParams(), KeepInMemory())
        )


def test_contract_every_chunk_once_with_the_thetas_infer_chunk_gives(executor, local_build):
    files = VersionFiles(local_build.models_dir / "v0001")
    phi, tokens = files.read_model().phi, files.read_corpus().tokens
    chunks = [tokens[start : start + 5] for start in range(0, len(tokens), 5)]

    results = dict(executor.infer(chunks, phi, SMALL, SMALL.modality_weights))

    assert sorted(results) == list(range(len(chunks)))
    for number, chunk in enumerate(chunks):
        expected = infer_chunk(chunk, phi, SMALL, SMALL.modality_weights)
        assert results[number].shape == (len(chunk), SMALL.num_topics)
        assert np.allclose(results[number], expected, rtol=0, atol=1e-12)


def version_files(settings: Settings, name: str) -> tuple[str, dict[str, np.ndarray]]:
    directory = settings.models_dir / name
    with np.load(directory / "model" / "phi.npz") as arrays:
        phi = {key: arrays[key] for key in arrays.files}
    return (directory / "documents.jsonl").read_text(), phi


def assert_same_corpus_and_model(local: Settings, remote: Settings) -> None:
    local_documents, local_phi = version_files(local, "v0001")
    remote_documents, remote_phi = version_files(remote, "v0001")
    assert remote_documents == local_documents
    assert sorted(remote_phi) == sorted(local_phi)
    for key, matrix in local_phi.items():
        assert np.array_equal(remote_phi[key], matrix), key


@pytest.fixture(scope="module")
def local_build(tmp_path_factory, collection) -> Settings:
    """The reference: the small collection built in this process, with a fresh image cache."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("local") / "data", collection=collection)
    build(settings, params=SMALL, executor=local_executor(settings))
    return settings


def test_given_a_local_cluster_of_two_processes_then_the_build_equals_the_local_build(
    client, local_build, tmp_path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", collection=local_build.collection)

    report = build(settings, params=SMALL, executor=DaskIngest(client, settings, BATCH))

    assert report.version_name == "v0001"
    assert len(list(settings.cache_dir.rglob("*.npy"))) > 0  # the workers ran the CNN
    assert_same_corpus_and_model(local_build, settings)


def test_given_a_worker_killed_mid_batch_then_the_build_completes_and_equals_the_local_build(
    client, local_build, tmp_path
) -> None:
    """The kill comes at the first finished batch, aimed at a worker that is processing one;
    its nanny starts a new worker process. (Last test on the module's cluster.)"""
    settings = Settings(data_dir=tmp_path / "data", collection=local_build.collection)
    killed: list[int] = []

    def kill_a_busy_worker(stage: str, done: int, total: int) -> None:
        if stage != "vectorize" or killed or done == total:
            return
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    report = build(
        settings,
        params=SMALL,
        progress=kill_a_busy_worker,
        executor=DaskIngest(client, settings, batch_size=BATCH),
    )

    assert killed and killed[0] not in set(client.run(os.getpid).values())
    assert report.num_documents > 0
    assert_same_corpus_and_model(local_build, settings)


@pytest.mark.parametrize(
    ("address", "expected"),
    [("local:2", 2), ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786")],
)
def test_cluster_addresses(address, expected) -> None:
    assert parse_cluster(address) == expected


@pytest.mark.parametrize("address", ["local:0", "local:x", "", "tcp://a b"])
def test_bad_cluster_addresses_are_refused(address) -> None:
    with pytest.raises(ValueError, match=r"local:N|not a Dask scheduler address"):
        parse_cluster(address)
