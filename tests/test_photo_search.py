"""A photo searched alone finds photos of the same thing: its visual words, and the hashtags and
words its annotation predicts (``RankingParams.photo_tags``, ``photo_words``)."""

from __future__ import annotations

import pytest

from core.building.pipeline import build
from core.serving.answers import SearchRequest
from core.serving.engine import Query
from core.serving.model import ModelParams
from core.serving.service import Service
from core.settings import BUILTIN_COLLECTION
from tests.conftest import builtin_rows, copy_collection, settings_for

GIRAFFES = ("tux-animals-mammals-giraffe", "gcompris-world-animals-giraffe")
PIGEON = "tux-animals-birds-pigeon"


@pytest.fixture(scope="module")
def giraffes_and_others(tmp_path_factory, vision_cache):
    """Every 4th document of the built-in collection, the two giraffe photos and the pigeon."""
    root = tmp_path_factory.mktemp("giraffes")
    rows = [
        row
        for number, row in enumerate(builtin_rows())
        if number % 4 == 0 or row["id"] in (*GIRAFFES, PIGEON)
    ]
    collection = copy_collection(rows, root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    build(settings, params=ModelParams(num_topics=30))
    return Service(settings).active().engine


def photo(doc_id: str) -> bytes:
    (path,) = (BUILTIN_COLLECTION / "images").glob(f"{doc_id}.*")
    return path.read_bytes()


def test_a_giraffe_photo_searched_alone_ranks_the_giraffes_first_then_animals(giraffes_and_others):
    # given a small real collection with two giraffe photos and a pigeon
    engine = giraffes_and_others
    # when a giraffe photo is searched alone, with nothing typed
    hits = engine.search(SearchRequest(Query(image=photo(GIRAFFES[0])), k=8)).hits
    ids = [hit.id for hit in hits]
    # then the giraffes come first (the same photo, then the other giraffe), before the pigeon
    assert ids[:2] == list(GIRAFFES)
    assert PIGEON not in ids[:2]
    # and the hits after them are animals, as the photo's predicted hashtags say (its visual
    # words alone put a train sign among the first 8)
    assert all("-animals-" in doc_id for doc_id in ids)
    # and what a hit shows as matched stays what the visitor asked: nothing was typed
    assert not any(hit.matched for hit in hits)
