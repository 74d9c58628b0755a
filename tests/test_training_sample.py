"""Training on a sample (issue 23): phi learns from a seeded random sample of the documents,
every other document gets its theta with phi fixed and is searchable like the rest; without a
sample the build trains the model it always trained."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.building.pipeline import build, training_sample
from core.building.topic_model import fit
from core.serving.answers import Query, SearchRequest
from core.serving.model import ModelParams
from core.serving.service import Service
from core.serving.version_files import VersionFiles
from core.settings import Settings
from core.storage import database, store
from tests.conftest import builtin_rows, copy_collection, settings_for
from tests.fault_helpers import SMALL

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


def test_given_a_sample_then_each_document_outside_it_is_found_by_its_own_words(sampled):
    service = Service(sampled)
    documents = service.active().engine.documents
    trained = set(training_sample([doc.id for doc in documents], service.active().engine.params))
    inferred = [doc for doc in documents if doc.id not in trained]
    assert len(inferred) == len(documents) - SAMPLE

    missed = [
        doc.id
        for doc in inferred
        if doc.id
        not in [
            hit.id
            for hit in service.search(
                SearchRequest(Query(text=doc.text), k=5, collapse_similar=False)
            ).hits
        ]
    ]

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
