"""Builds are all-or-nothing: a failed or killed build leaves the previous version serving."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.building.ingest import LocalIngest
from core.building.pipeline import build, prepare_corpus, reindex_version, retrain_version
from core.building.topic_model import artm_transform, fit
from core.reading.backbones import load_backbone
from core.reading.collection import import_collection
from core.reading.images import content_hash
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.inference import ThetaInferencer
from core.serving.model import ModelParams
from core.settings import REPO_ROOT
from core.storage import database, store
from tests.conftest import builtin_rows, copy_collection, settings_for
from tests.fault_helpers import (
    SMALL,
    assert_every_ready_version_loads,
    assert_serving,
    model_dirs,
    read_until,
    running,
    sigkill,
    state,
)


@pytest.fixture
def small(tmp_path, vision_cache):
    collection = copy_collection(builtin_rows()[::20], tmp_path / "collection")
    return settings_for(tmp_path / "data", vision_cache, collection)


def test_our_inference_agrees_with_bigartm_transform_on_held_out_documents(tmp_path, vision_cache):
    params = ModelParams(num_topics=20, passes=8)
    documents = import_collection(REPO_ROOT / "data" / "collection").documents[::3]
    corpus = prepare_corpus(
        documents,
        params,
        LocalIngest(TextProcessor(), ImageVectorizer(load_backbone("squeezenet"), vision_cache)),
    )
    train, held_out = corpus.tokens[:150], corpus.tokens[150:]
    model = fit(train, params, tmp_path)
    ours = ThetaInferencer.from_params(model.phi, params).transform_many(
        held_out, params.modality_weights
    )
    theirs = artm_transform(model.artm_model, held_out, tmp_path)
    assert ours.shape == theirs.shape == (len(held_out), 20)
    assert np.abs(ours - theirs).max() <= 1e-3


def assert_a_killed_build_left_the_previous_version_serving(settings, previous: str) -> None:
    active, versions = state(settings)
    assert active == previous
    assert versions["v0002"] == ("building", None)
    assert_every_ready_version_loads(settings)
    assert_serving(settings, previous)


def assert_the_next_build_succeeds_and_cleans_up(settings, collection: Path | None = None) -> None:
    """The next build marks the killed one failed and removes its temporary directory."""
    build(settings, collection, params=SMALL)
    active, versions = state(settings)
    assert active == "v0003"
    assert versions["v0002"] == ("failed", None)
    assert model_dirs(settings) == ["v0001", "v0003"]
    assert_every_ready_version_loads(settings)
    assert_serving(settings, "v0003")


@pytest.mark.parametrize("stage", ["vectorize", "train", "index"])
def test_given_a_write_error_at_any_stage_of_a_build_then_the_previous_version_stays_active(
    small, stage: str
) -> None:
    """Stage index reports once the index files are written, before the other version files."""
    first = build(small, params=SMALL)

    def disk_full(reported: str, done: int, total: int) -> None:
        if reported == stage:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build(small, params=SMALL, progress=disk_full)
    active, versions = state(small)
    assert active == first.version_name
    assert versions["v0002"] == ("failed", None)
    assert model_dirs(small) == ["v0001"]


def test_given_a_build_killed_in_training_then_the_old_version_serves_and_the_next_build_works(
    small,
) -> None:
    first = build(small, params=SMALL)
    with running(small, "-m", "core", "build", "--passes", "2000") as process:
        read_until(process, "train")
        sigkill(process)

    assert_a_killed_build_left_the_previous_version_serving(small, first.version_name)
    assert_the_next_build_succeeds_and_cleans_up(small)


def test_given_a_build_killed_while_writing_files_then_the_old_version_serves_and_the_next_works(
    small,
) -> None:
    """The kill comes while the version directory is half written."""
    first = build(small, params=SMALL)
    with running(small, "-m", "tests.paused_run", "index", "build") as process:
        read_until(process, "paused")
        [workdir] = small.models_dir.glob(".building-*")
        assert (workdir / "index").is_dir() and not (workdir / "version.json").exists()
        sigkill(process)

    assert_a_killed_build_left_the_previous_version_serving(small, first.version_name)
    assert_the_next_build_succeeds_and_cleans_up(small)


def cache_entries(cache: Path) -> dict[Path, tuple[int, int]]:
    """Every cached probability vector with its (inode, mtime): rewriting an entry changes both."""
    entries = {}
    for path in cache.rglob("*.npy"):
        assert np.load(path).shape == (1000,), f"{path} is half written"
        entries[path] = (path.stat().st_ino, path.stat().st_mtime_ns)
    return entries


def test_given_a_build_killed_while_vectorizing_then_the_next_build_reuses_the_vectors_made(
    tmp_path,
) -> None:
    """A cache of its own, so that the killed build has real CNN work to lose."""
    cache = tmp_path / "vision-cache"
    cache.mkdir()
    settings = settings_for(
        tmp_path / "data", cache, copy_collection(builtin_rows()[::20], tmp_path / "first")
    )
    first = build(settings, params=SMALL)
    larger = copy_collection(builtin_rows()[::5], tmp_path / "larger")
    photos = {content_hash(path) for path in (larger / "images").iterdir()}
    vectorized_before = len(cache_entries(cache))

    with running(settings, "-m", "core", "build", "--collection", str(larger)) as process:
        read_until(process, "vectorize")
        sigkill(process)
    at_kill = cache_entries(cache)
    assert vectorized_before < len(at_kill) < len(photos)
    assert_a_killed_build_left_the_previous_version_serving(settings, first.version_name)

    assert_the_next_build_succeeds_and_cleans_up(settings, larger)
    after = cache_entries(cache)
    assert len(after) == len(photos)
    assert {path: after[path] for path in at_kill} == at_kill


def test_given_a_build_killed_between_renaming_its_dir_and_marking_it_ready_then_no_dir_is_left(
    small,
) -> None:
    """The directory has its final name but the version is not ready: the next build removes it."""
    first = build(small, params=SMALL)
    with running(small, "-m", "tests.paused_run", "commit", "build") as process:
        read_until(process, "paused")
        assert model_dirs(small) == ["v0001", "v0002"]
        sigkill(process)

    assert_a_killed_build_left_the_previous_version_serving(small, first.version_name)
    assert_the_next_build_succeeds_and_cleans_up(small)


# --------------------------------------------------------------------------------------------------
# Versions derived from another one
# --------------------------------------------------------------------------------------------------


def test_a_derived_version_waits_for_activation_unless_asked(deployment):
    parent, _ = state(deployment)

    waiting = reindex_version(deployment, parent, {"@visual": 0.0})
    active, versions = state(deployment)
    assert active == parent and versions[waiting.version_name][0] == "ready"

    asked = reindex_version(deployment, parent, {"@visual": 0.5}, activate=True)
    assert state(deployment)[0] == asked.version_name


def test_a_retrain_carries_moderators_reviews_to_the_topics_that_match(deployment):
    parent, _ = state(deployment)
    sessions = database.open_database(deployment.database_url)
    with sessions() as session:
        old = store.version_topics(session, store.get_version(session, parent).id)
        old[0].label, old[0].note = "Birds of the shore", "named by mia"
        old[3].status = "junk"
        automatic = (old[5].label, old[5].status)
        session.commit()

    # The same parameters train the same topics, so every topic matches itself.
    report = retrain_version(deployment, parent, {})

    with sessions() as session:
        new = store.version_topics(session, store.get_version(session, report.version_name).id)
    assert (new[0].label, new[0].note) == ("Birds of the shore", "named by mia")
    assert new[3].status == "junk" and (new[5].label, new[5].status) == automatic
    assert [(m.old, m.new, m.carried) for m in report.carried.moves] == [
        (0, 0, True), (3, 3, True),
    ]  # fmt: skip
    assert report.carried.source == parent and report.carried.unmatched == []
