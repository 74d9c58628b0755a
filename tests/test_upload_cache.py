"""Visitors' photos go to their own cache, bounded in size (least recently used out), and never
into the collection's cache."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import core.reading.backbones as backbones  # through `core`: BigARTM loads before TensorFlow
import core.reading.vision as vision
from core.reading.images import content_hash
from core.serving.answers import SearchRequest
from core.serving.engine import Query
from core.serving.upload_cache import UploadVectorizer

PHOTOS = sorted((Path(__file__).parent / "fixtures" / "images").glob("*.jpg"))


@pytest.fixture(scope="module")
def backbone() -> backbones.Backbone:
    return backbones.load_backbone("squeezenet")


def cached_files(directory: Path) -> set[str]:
    return {path.stem for path in directory.rglob("*.npy")}


def entry_bytes(backbone: backbones.Backbone, tmp_path: Path) -> int:
    probe = vision.ImageVectorizer(backbone, tmp_path / "probe")
    probe.probabilities([PHOTOS[0]])
    return next((tmp_path / "probe").rglob("*.npy")).stat().st_size


def test_uploads_beyond_the_cap_push_out_the_least_recently_used(backbone, tmp_path):
    cap = 3 * entry_bytes(backbone, tmp_path)
    uploads = UploadVectorizer(backbone, tmp_path / "collection", tmp_path / "uploads", cap)
    first, second, third, fourth = (photo.read_bytes() for photo in PHOTOS[:4])

    uploads.probabilities([first])
    uploads.probabilities([second])
    uploads.probabilities([third])
    uploads.probabilities([first])  # used again: now the most recent
    uploads.probabilities([fourth])

    kept = cached_files(tmp_path / "uploads")
    assert kept == {content_hash(photo) for photo in (first, third, fourth)}
    assert sum(path.stat().st_size for path in (tmp_path / "uploads").rglob("*.npy")) <= cap
    assert not (tmp_path / "collection").exists()


def test_a_new_process_keeps_the_cap_over_what_earlier_ones_left(backbone, tmp_path):
    cap = 2 * entry_bytes(backbone, tmp_path)
    earlier = UploadVectorizer(backbone, tmp_path / "collection", tmp_path / "uploads", 10 * cap)
    earlier.probabilities(PHOTOS[:4])

    later = UploadVectorizer(backbone, tmp_path / "collection", tmp_path / "uploads", cap)
    later.probabilities([PHOTOS[4]])

    assert len(cached_files(tmp_path / "uploads")) == 2
    assert content_hash(PHOTOS[4]) in cached_files(tmp_path / "uploads")


def test_a_collection_photo_is_read_from_the_collection_cache_and_not_copied(backbone, tmp_path):
    collection = vision.ImageVectorizer(backbone, tmp_path / "collection")
    expected = collection.probabilities([PHOTOS[0]])
    shutil.rmtree(tmp_path / "uploads", ignore_errors=True)
    uploads = UploadVectorizer(backbone, tmp_path / "collection", tmp_path / "uploads", 10**6)

    got = uploads.probabilities([PHOTOS[0].read_bytes()])

    np.testing.assert_array_equal(got, expected)
    assert not cached_files(tmp_path / "uploads")


def test_a_visitors_photo_search_leaves_the_collections_cache_as_it_was(service):
    collection_cache = service.settings.cache_dir / "vision"
    before = cached_files(collection_cache)
    photo = Image.open(PHOTOS[2]).rotate(90, expand=True)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")

    service.search(SearchRequest(Query(image=buffer.getvalue()), k=5))

    assert cached_files(collection_cache) == before
    assert content_hash(buffer.getvalue()) in cached_files(service.settings.cache_dir / "uploads")
