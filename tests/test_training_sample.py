"""Training on a sample (issue 23): phi learns from a seeded random sample of the documents,
every other document gets its theta with phi fixed and is searchable like the rest; without a
sample the build trains the model it always trained."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.building.pipeline import build, training_sample
from core.building.topic_model import fit
from core.measurement.sample_bench import (
    ALL_FIGURES,
    SampleBenchOptions,
    sample_bench_and_report,
)
from core.reading.backbones import load_backbone
from core.reading.text import TEXT
from core.reading.vision import ImageVectorizer
from core.serving.answers import Query, SearchRequest
from core.serving.model import ModelParams
from core.serving.service import Service
from core.serving.version_files import VersionFiles
from core.settings import Settings
from core.storage import database, store
from tests.conftest import builtin_rows, copy_collection, settings_for
from tests.fault_helpers import SMALL
from tests.test_eval import small_benchmark

SAMPLE = 12


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    return copy_collection(builtin_rows()[::20], tmp_path_factory.mktemp("sample") / "collection")


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, vision_cache, collection) -> Settings:
    """The small collection built twice with phi trained on 12 of its documents."""
    settings = settings_for(tmp_path_factory.mktemp("sampled") / "data", vision_cache, collection)
    for _ in range(2):
        build(settings, params=replace(SMALL, training_sample=SAMPLE))
    return settings


def phi_of(settings: Settings, version: str) -> dict[str, np.ndarray]:
    model = VersionFiles(settings.models_dir / version).read_model()
    return {modality: phi.matrix for modality, phi in model.phi.items()}


def test_given_a_sample_then_phi_learns_from_it_and_the_version_records_its_size(sampled):
    with database.open_database(sampled.database_url)() as session:
        version = store.get_version(session, "v0002")
    model = VersionFiles(Path(version.artifact_dir)).read_model()

    assert version.params["model"]["training_sample"] == SAMPLE
    assert version.params["training_documents"] == model.training_documents == SAMPLE
    assert version.num_documents > SAMPLE


def test_given_a_sample_then_every_document_has_a_theta(sampled):
    engine = Service(sampled).active().engine

    assert engine.thetas.shape == (len(engine.documents), SMALL.num_topics)
    assert np.allclose(engine.thetas.sum(axis=1), 1.0, atol=1e-4)


def test_given_a_sample_then_each_document_outside_it_is_found_by_its_photo_and_words(sampled):
    service = Service(sampled)
    documents = service.active().engine.documents
    trained = set(training_sample([doc.id for doc in documents], service.active().engine.params))
    inferred = [doc for doc in documents if doc.id not in trained]
    assert len(inferred) == len(documents) - SAMPLE

    missed = []
    for doc in inferred:
        query = Query(text=doc.text, image=Path(doc.image))
        hits = service.search(SearchRequest(query, k=5, collapse_similar=False)).hits
        if doc.id not in [hit.id for hit in hits]:
            missed.append(doc.id)

    assert missed == []


def test_given_the_same_sample_then_a_rebuild_trains_the_same_model(sampled):
    first, second = phi_of(sampled, "v0001"), phi_of(sampled, "v0002")

    assert sorted(first) == sorted(second)
    for modality, matrix in first.items():
        assert np.array_equal(second[modality], matrix), modality


def test_given_no_sample_then_the_build_trains_on_every_document_as_before(
    tmp_path, vision_cache, collection
):
    settings = settings_for(tmp_path / "data", vision_cache, collection)

    report = build(settings, params=SMALL)

    corpus = VersionFiles(settings.models_dir / report.version_name).read_corpus()
    reference = fit(corpus.tokens, SMALL, tmp_path / "reference")
    assert report.training_documents == report.num_documents == len(corpus.documents)
    built = phi_of(settings, report.version_name)
    assert sorted(built) == sorted(reference.phi)
    for modality, phi in reference.phi.items():
        assert np.array_equal(built[modality], phi.matrix), modality


@pytest.mark.parametrize("size", [0, 1, -5])
def test_a_sample_too_small_to_train_on_is_refused(size):
    with pytest.raises(ValueError, match="training_sample"):
        ModelParams(training_sample=size)


@pytest.mark.slow
def test_bench_sample_sets_the_shares_side_by_side_and_times_the_inference(tmp_path, vision_cache):
    # given a benchmark cut from the built-in collection
    collection = small_benchmark(builtin_rows()[::2], tmp_path / "collection")
    settings = settings_for(tmp_path / "data", vision_cache, collection)
    vectorizer = ImageVectorizer(load_backbone(settings), vision_cache)
    options = SampleBenchOptions(
        collection, tmp_path / "work", shares=(0.5, 1.0), workers=1, throughput_documents=300
    )
    # when the measurement runs
    report = sample_bench_and_report(
        options,
        settings,
        vectorizer,
        tmp_path / "reports",
        "python -m core bench-sample",
        lambda _: None,
    )
    # then each share and the next seed have the eval's figures, phi trained on that share
    results = json.loads((tmp_path / "reports" / "sample.json").read_text())
    arms = results["arms"]
    assert [(arm["share"], arm["seed"]) for arm in arms] == [(0.5, 1), (1.0, 1), (1.0, 2)]
    assert arms[0]["training_documents"] == round(0.5 * results["splits"]["train"])
    assert all(arm["training_documents"] == arm["documents"] for arm in arms[1:])
    for arm in arms:
        assert set(arm["figures"]) == {key for key, _ in ALL_FIGURES}
        assert all(0 <= value <= 1 for value in arm["figures"].values())
    # and the workers infer the thetas this process infers
    rows = results["throughput"]["rows"]
    assert [row["workers"] for row in rows] == [0, 1]
    assert rows[1]["max_difference"] < 1e-9 and rows[1]["documents_per_second"] > 0
    assert results["chosen_share"] in (0.5, 1.0)
    assert "## Which sample" in report.read_text()


def test_given_a_sample_then_a_word_only_documents_outside_it_say_finds_them_and_leaves_them_out(
    sampled,
):
    # given the words that documents outside the sample say and phi never learned
    service = Service(sampled)
    engine = service.active().engine
    known = engine.model.phi[TEXT].index
    saying: dict[str, set[str]] = {}
    for doc in engine.documents:
        for token in doc.tokens.get(TEXT, {}):
            if token not in known and engine.processor.word_token(token) == token:
                saying.setdefault(token, set()).add(doc.id)
    assert saying, "every word of the collection is in the sample"
    token, ids = min(saying.items(), key=lambda item: (-len(item[1]), item[0]))
    word = engine.display(TEXT, token)
    # when a visitor searches for one of them
    result = service.search(SearchRequest(Query(text=word), k=5, collapse_similar=False))
    # then the documents that say it come first, told as words the model has not learnt
    assert {hit.id for hit in result.hits[: len(ids)]} == ids
    assert result.fit is not None and result.fit.unlearned
    # and a search that leaves the word out leaves those documents out
    doc = next(doc for doc in engine.documents if doc.id in ids)
    other = next(t for t in doc.tokens.get(TEXT, {}) if t in known)
    without = service.search(
        SearchRequest(
            Query(text=f"{engine.display(TEXT, other)} -{word}"), k=20, collapse_similar=False
        )
    )
    assert without.hits and not ids & {hit.id for hit in without.hits}
