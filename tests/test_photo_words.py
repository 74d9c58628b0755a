"""A photo without a caption or hashtags in a version (the junk filter keeps it when
``min_significant_tokens`` is 0) is searched by the words its annotation predicts (label
transfer from the photos like it that have words), so words can find it."""

from __future__ import annotations

from core.building.pipeline import build
from core.reading.text import TAG, TEXT
from core.reading.vision import VISUAL
from core.serving.answers import SearchRequest
from core.serving.engine import Query
from core.serving.model import ModelParams
from core.serving.service import Service
from tests.conftest import builtin_rows, copy_collection, settings_for

CATEGORY = "animals"


def test_a_photo_without_words_is_found_by_the_words_of_the_photos_like_it(tmp_path, vision_cache):
    # given a small real collection where every 6th animal photo lost its caption and hashtags,
    # built with a junk filter that keeps photos without words
    rows = [row for row in builtin_rows() if row.get("tags", [""])[0] in (CATEGORY, "food")]
    rows = rows[::2]
    wordless = set()
    for number, row in enumerate(r for r in rows if r["tags"][0] == CATEGORY):
        if number % 6 == 0:
            row.update(text="", tags=[], lang_text={})
            wordless.add(row["id"])
    collection = copy_collection(rows, tmp_path / "collection")
    settings = settings_for(tmp_path / "data", vision_cache, collection)
    build(settings, params=ModelParams(min_significant_tokens=0))
    engine = Service(settings).active().engine
    rows_of = {doc.id: row for row, doc in enumerate(engine.documents)}

    # then those photos carry no words of their own but predicted ones, and the category's
    # hashtag is among them for most
    predicted_tag = 0
    for doc_id in wordless:
        doc = engine.documents[rows_of[doc_id]]
        assert not doc.tokens.get(TEXT) and not doc.tokens.get(TAG)
        assert doc.tokens.get(VISUAL)
        words = engine.annotation.photo_words(doc.tokens[VISUAL], rows_of[doc_id])
        assert words[TEXT] and words[TAG]
        predicted_tag += CATEGORY in words[TAG]
    assert predicted_tag >= len(wordless) / 2

    # and the category's word finds some of them among its first 20 hits
    hits = Service(settings).search(SearchRequest(Query(text=CATEGORY), k=20)).hits
    assert wordless & {hit.id for hit in hits}
