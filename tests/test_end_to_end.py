"""Given the built-in collection built into a model, search and annotation behave as promised.

Rates over several queries, not single lucky examples.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.serving.answers import AnnotationRequest, SearchRequest
from core.serving.engine import Query
from core.serving.inference import NothingRecognized
from core.storage import database, store

# Query -> word stems a relevant caption (text or hashtags) contains.
ANIMAL_QUERIES = {
    "fish": ("fish", "рыб"),
    "рыба": ("fish", "рыб"),
    "bird": ("bird", "птиц"),
    "cow": ("cow", "коров", "bovine"),
    "корова": ("cow", "коров", "bovine"),
    "horse": ("horse", "лошад", "equine"),
    "лошадь": ("horse", "лошад", "equine"),
    "insect": ("insect", "насеком"),
}


def caption(hit) -> str:
    return (hit.text + " " + " ".join(hit.tags)).lower()


def test_build_leaves_one_ready_active_version_with_its_files_topics_and_documents(built):
    sessions = database.open_database(built.settings.database_url)
    with sessions() as session:
        version = store.active_version(session)
        assert version.name == built.report.version_name and version.status == "ready"
        directory = Path(version.artifact_dir)
        for name in ("version.json", "model/phi.npz", "index/thetas.npy", "documents.jsonl"):
            assert (directory / name).is_file(), name
        assert not list(directory.parent.glob(".building-*"))
        assert set(store.modality_weights(session, version.id)) == {"@text", "@tag", "@visual"}
        topics = store.version_topics(session, version.id)
        assert len(topics) == version.num_topics
        assert all(t.terms for t in topics)
        assert version.num_documents == built.report.num_documents >= 600
        assert len(version.scores) == version.params["model"]["passes"]


def test_animal_queries_in_russian_and_english_mostly_find_that_animal(service):
    rates = {}
    for query, stems in ANIMAL_QUERIES.items():
        hits = service.search(SearchRequest(Query(text=query), k=5)).hits
        rates[query] = np.mean([any(s in caption(hit) for s in stems) for hit in hits])
    assert np.mean(list(rates.values())) > 0.5, rates


def test_searching_with_a_collection_photo_returns_that_document_first(service, built):
    engine = service.active().engine
    sample = engine.documents[::40]
    firsts = [
        service.search(SearchRequest(Query(image=Path(doc.image).read_bytes()), k=1)).hits[0].id
        == doc.id
        for doc in sample
    ]
    assert np.mean(firsts) == 1.0


def test_annotating_held_out_photos_puts_a_correct_tag_in_the_top_5_for_most(service, built):
    correct = []
    for doc in built.held_out:
        _, annotations = service.annotate(
            AnnotationRequest(Query(image=doc.image.read_bytes()), ["@tag"], k=5)
        )
        correct.append(bool({a.token for a in annotations["@tag"]} & set(doc.tags)))
    assert np.mean(correct) > 0.5, np.mean(correct)


def test_a_query_with_no_known_word_is_answered_nothing_recognized_not_ranked(service):
    with pytest.raises(NothingRecognized) as raised:
        service.search(SearchRequest(Query(text="qwertyuiop Зюзябрик")))
    assert raised.value.unknown == {"@text": ["qwertyuiop", "зюзябрик"]}


def test_unknown_words_are_reported_next_to_results_from_known_ones(service):
    result = service.search(SearchRequest(Query(text="flower qwertyuiop"), k=3))
    assert result.query.unknown == {"@text": ["qwertyuiop"]}
    assert "flower" in result.query.recognized["@text"]
    assert len(result.hits) == 3


def test_a_modality_weighted_zero_is_ignored(service):
    photo = Path(service.active().engine.documents[0].image).read_bytes()
    with pytest.raises(NothingRecognized):
        service.search(SearchRequest(Query(image=photo), weights={"@visual": 0.0}))
    both = service.search(SearchRequest(Query(text="red flower", image=photo), k=10))
    text_only = service.search(SearchRequest(Query(text="red flower"), k=10))
    without_photo = service.search(
        SearchRequest(Query(text="red flower", image=photo), k=10, weights={"@visual": 0.0})
    )
    assert [h.id for h in without_photo.hits] == [h.id for h in text_only.hits]
    assert [h.id for h in both.hits] != [h.id for h in text_only.hits]


def test_annotation_can_leave_out_the_words_already_in_the_query(service):
    _, with_query = service.annotate(AnnotationRequest(Query(text="flower"), ["@text"], k=5))
    _, without = service.annotate(
        AnnotationRequest(Query(text="flower"), ["@text"], k=5, exclude_query_tokens=True)
    )
    assert "flower" in {a.token for a in with_query["@text"]}
    assert "flower" not in {a.token for a in without["@text"]}
    assert all(0 <= a.p <= 1 for a in without["@text"])
    assert [a.p for a in without["@text"]] == sorted((a.p for a in without["@text"]), reverse=True)


def test_visual_words_display_as_imagenet_class_names(service):
    engine = service.active().engine
    photo = Path(engine.documents[0].image).read_bytes()
    _, annotations = service.annotate(AnnotationRequest(Query(image=photo), ["@visual"], k=3))
    assert all(
        a.display != a.token and not a.display.startswith("n0") for a in annotations["@visual"]
    )
