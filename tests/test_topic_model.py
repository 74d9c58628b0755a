"""Training does no wasted work and is reproducible: same seed, bit-identical phi."""

from __future__ import annotations

import numpy as np
import pytest

import core.building.topic_model as topic_model
from core.building.artm_loader import artm
from core.building.ingest import LocalIngest
from core.building.pipeline import prepare_corpus
from core.building.topic_model import fit, regularizers, training_processors, write_batches
from core.reading.backbones import load_backbone
from core.reading.collection import import_collection
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.model import ModelParams
from core.settings import BUILTIN_COLLECTION

PARAMS = ModelParams(num_topics=20, num_background_topics=2, passes=5)


@pytest.fixture(scope="module")
def tokens(vision_cache) -> list:
    """Text, tag and visual tokens of every fourth document of the built-in collection."""
    documents = import_collection(BUILTIN_COLLECTION).documents[::4]
    vectorizer = ImageVectorizer(load_backbone("squeezenet"), vision_cache)
    return prepare_corpus(documents, PARAMS, LocalIngest(TextProcessor(), vectorizer)).tokens


@pytest.fixture(scope="module")
def fitted(tokens, tmp_path_factory):
    return fit(tokens, PARAMS, tmp_path_factory.mktemp("fitted"))


def test_two_fits_with_the_same_seed_give_bit_identical_phi(fitted, tokens, tmp_path):
    first, second = fitted, fit(tokens, PARAMS, tmp_path)
    assert first.phi.keys() == second.phi.keys() == {"@tag", "@text", "@visual"}
    for modality, phi in first.phi.items():
        assert phi.tokens == second.phi[modality].tokens
        assert np.array_equal(phi.matrix, second.phi[modality].matrix)
    assert first.scores == second.scores


def test_training_uses_both_cores_with_one_batch_each(tokens, tmp_path, monkeypatch):
    monkeypatch.setattr(topic_model.os, "cpu_count", lambda: 2)
    assert training_processors(len(tokens)) == 2 and training_processors(1) == 1
    model = fit(tokens, PARAMS, tmp_path)
    assert model.artm_model.num_processors == 2
    assert len(list((tmp_path / "batches").glob("*.batch"))) == 2


def test_only_regularizers_with_a_non_zero_tau_are_added(fitted):
    assert [r.name for r in regularizers(PARAMS)] == ["smooth_phi", "smooth_theta"]
    acting = ModelParams(num_topics=20, decorrelation_tau=0.1, sparse_phi_tau=-0.1)
    assert [r.name for r in regularizers(acting)] == [
        "sparse_phi",
        "decorrelation",
        "smooth_phi",
        "smooth_theta",
    ]
    no_background = ModelParams(num_topics=20, num_background_topics=0)
    assert regularizers(no_background) == []
    assert sorted(fitted.artm_model.regularizers.data) == ["smooth_phi", "smooth_theta"]


def test_skipping_zero_tau_regularizers_leaves_phi_bit_identical(
    fitted, tokens, tmp_path, monkeypatch
):
    # given a fit without the regularizers at tau 0, when they are all added (as before)
    artm, subject = topic_model.artm, PARAMS.subject_topics
    every = [
        artm.SmoothSparsePhiRegularizer(name="sparse_phi", tau=0.0, topic_names=subject),
        artm.SmoothSparseThetaRegularizer(name="sparse_theta", tau=0.0, topic_names=subject),
        artm.DecorrelatorPhiRegularizer(name="decorrelation", tau=0.0, topic_names=subject),
        *regularizers(PARAMS),
    ]
    monkeypatch.setattr(topic_model, "regularizers", lambda params: every)
    added = fit(tokens, PARAMS, tmp_path)
    assert len(added.artm_model.regularizers.data) == 5
    # then phi is the same to the last bit
    for modality, phi in fitted.phi.items():
        assert np.array_equal(phi.matrix, added.phi[modality].matrix)


def test_top_tokens_of_the_last_pass_are_the_most_probable_tokens_of_the_final_phi(fitted):
    model = fitted
    last = model.scores[-1]
    assert [s["pass"] for s in model.scores] == list(range(1, PARAMS.passes + 1))
    assert all(f"perplexity{m}" in s for s in model.scores for m in model.phi)
    for modality, phi in model.phi.items():
        for column, topic in enumerate(model.topic_names):
            top = last[f"top{modality}"][topic]
            weights = [phi.matrix[phi.index[token], column] for token in top]
            assert weights == sorted(weights, reverse=True) and all(w > 0 for w in weights)
            rest = np.delete(phi.matrix[:, column], [phi.index[token] for token in top])
            assert len(top) == 10 or not (rest > 0).any()
            assert rest.max(initial=0) <= min(weights, default=np.inf)


def test_a_batch_written_in_pieces_reads_as_the_batch_written_at_once(tokens, tmp_path) -> None:
    # given the same documents written as batches of 40, held 7 at a time and all at once
    pieces = write_batches(iter(tokens), tmp_path / "pieces", batch_size=40, piece=7)
    whole = write_batches(tokens, tmp_path / "whole", batch_size=40, piece=40)

    # then every batch file parses to the same items and tokens (only the random ids differ)
    assert pieces == whole == {"@tag", "@text", "@visual"}
    names = sorted(p.name for p in (tmp_path / "whole").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "pieces").iterdir())
    assert len(names) == -(-len(tokens) // 40) > 1
    for name in names:
        first, second = artm.messages.Batch(), artm.messages.Batch()
        first.ParseFromString((tmp_path / "pieces" / name).read_bytes())
        second.ParseFromString((tmp_path / "whole" / name).read_bytes())
        assert first.id != second.id
        first.id = second.id
        assert first == second and len(first.item) > 0
