"""Builds are all-or-nothing: a failed or killed build leaves the previous version serving."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core import store
from core.collection import import_collection
from core.inference import ThetaInferencer
from core.pipeline import build, prepare_corpus
from core.settings import REPO_ROOT
from core.text import TextProcessor
from core.topic_model import ModelParams, artm_transform, fit
from core.vision import ImageVectorizer, load_backbone
from tests.conftest import builtin_rows, copy_collection, settings_for

SMALL = ModelParams(num_topics=6, num_background_topics=1, passes=4)


@pytest.fixture
def small(tmp_path, vision_cache):
    collection = copy_collection(builtin_rows()[::20], tmp_path / "collection")
    return settings_for(tmp_path / "data", vision_cache, collection)


def state(settings):
    with store.open_database(settings.database_url)() as session:
        active = store.active_version(session)
        versions = {v.name: (v.status, v.artifact_dir) for v in store.list_versions(session)}
    return (active.name if active else None), versions


def test_our_inference_agrees_with_bigartm_transform_on_held_out_documents(tmp_path, vision_cache):
    params = ModelParams(num_topics=20, passes=8)
    documents = import_collection(REPO_ROOT / "data" / "collection").documents[::3]
    corpus = prepare_corpus(
        documents,
        params,
        TextProcessor(),
        ImageVectorizer(load_backbone("squeezenet"), vision_cache),
    )
    train, held_out = corpus.tokens[:150], corpus.tokens[150:]
    model = fit(train, params, tmp_path)
    ours = ThetaInferencer.from_params(model.phi, params).transform_many(
        held_out, params.modality_weights
    )
    theirs = artm_transform(model.artm_model, held_out, tmp_path)
    assert ours.shape == theirs.shape == (len(held_out), 20)
    assert np.abs(ours - theirs).max() <= 1e-3


def test_a_build_that_fails_midway_leaves_the_previous_version_active(small):
    first = build(small, params=SMALL)

    def explode(stage, done, total):
        if stage == "train" and done == 2:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build(small, params=SMALL, progress=explode)
    active, versions = state(small)
    assert active == first.version_name
    assert versions["v0002"][0] == "failed" and versions["v0002"][1] is None
    assert sorted(
        p.name for p in small.models_dir.iterdir() if not p.name.startswith(".build.")
    ) == ["v0001"]


def test_a_killed_build_leaves_the_previous_version_active_and_the_next_build_succeeds(small):
    first = build(small, params=SMALL)
    env = {
        **os.environ,
        "TOPICSEARCH_DATA_DIR": str(small.data_dir),
        "TOPICSEARCH_COLLECTION": str(small.collection),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "build", "--passes", "2000"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    seen, deadline = "", time.monotonic() + 120
    while "train" not in seen and time.monotonic() < deadline:
        seen += os.read(process.stderr.fileno(), 4096).decode(errors="replace")
    assert "train" in seen, seen
    process.send_signal(signal.SIGKILL)
    process.wait()

    active, versions = state(small)
    assert active == first.version_name
    assert versions["v0002"][0] == "building"
    assert all(Path(d).is_dir() for status, d in versions.values() if status == "ready")

    second = build(small, params=SMALL)
    active, versions = state(small)
    assert active == second.version_name == "v0003"
    assert versions["v0002"][0] == "failed"
    assert not list(small.models_dir.glob(".building-*"))
