"""Issue-13 bug 8 behavioural test from main's tests/test_upload_cache.py, run on 3634a48.
Copied unchanged; only the module-level import of core.upload_cache (which did not exist) is
left out, since this test does not use it."""

from __future__ import annotations

import io
from pathlib import Path

import core.vision as vision
from core.engine import Query
from PIL import Image

PHOTOS = sorted((Path(__file__).parent / "fixtures" / "images").glob("*.jpg"))


def cached_files(directory: Path) -> set[str]:
    return {path.stem for path in directory.rglob("*.npy")}


def test_a_visitors_photo_search_leaves_the_collections_cache_as_it_was(service):
    collection_cache = service.settings.cache_dir / "vision"
    before = cached_files(collection_cache)
    photo = Image.open(PHOTOS[2]).rotate(90, expand=True)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG")

    service.search(Query(image=buffer.getvalue()), k=5)

    assert cached_files(collection_cache) == before
    assert vision.content_hash(buffer.getvalue()) in cached_files(
        service.settings.cache_dir / "uploads"
    )
