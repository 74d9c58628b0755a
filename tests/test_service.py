"""Serving: many threads at once, live weights, version switches."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from core.building.pipeline import build
from core.reading.backbones import load_backbone
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.serving.model import ModelParams
from core.serving.ranking import RankingParams
from core.serving.service import Service
from core.settings import DEFAULT_BACKBONE
from core.storage import store
from core.storage.admin_tables import HiddenDocument, bump_collection_generation
from tests.conftest import builtin_rows, copy_collection, settings_for

QUERIES = ["flower", "рыба", "horse", "корова", "car", "птица", "apple", "дом"]


def test_concurrent_queries_give_the_same_answers_as_sequential_ones(service):
    expected = {
        q: [h.id for h in service.search(SearchRequest(Query(text=q), k=10)).hits] for q in QUERIES
    }
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda q: (q, service.search(SearchRequest(Query(text=q), k=10))), QUERIES * 25
            )
        )
    assert all([h.id for h in result.hits] == expected[q] for q, result in answers)


def test_the_loaded_model_is_left_out_of_full_garbage_collections(service):
    """Streamlit runs a full collection after every page; it must not walk the model each time."""
    engine = service.active().engine
    collected = {id(obj) for obj in gc.get_objects()}  # every generation but the frozen one

    assert gc.is_tracked(engine.documents) and id(engine.documents) not in collected
    assert id(engine.model.phi) not in collected and id(engine.documents[0]) not in collected
    # nor what searches would otherwise build on first use, after the freeze
    assert id(engine.reader.translations.table) not in collected
    assert id(engine.reader.translations.lexicon) not in collected
    assert id(engine.fit_reference) not in collected


def test_a_global_weight_change_in_the_database_reaches_the_next_query(service, built):
    photo = built.held_out[2].image.read_bytes()
    query = Query(text="flower", image=photo)
    before = [h.id for h in service.search(SearchRequest(query, k=10)).hits]
    with service.sessions() as session:
        version = store.active_version(session)
        weights = store.modality_weights(session, version.id)
        store.set_modality_weight(session, version.id, "@visual", 0.0)
    try:
        after = [h.id for h in service.search(SearchRequest(query, k=10)).hits]
        text_only = [h.id for h in service.search(SearchRequest(Query(text="flower"), k=10)).hits]
    finally:
        with service.sessions() as session:
            store.set_modality_weight(session, version.id, "@visual", weights["@visual"])
    assert after == text_only != before


def test_activating_another_version_switches_queries_without_failing_those_in_flight(
    tmp_path, vision_cache
):
    rows = builtin_rows()[::10]
    settings = settings_for(tmp_path / "data", vision_cache, copy_collection(rows, tmp_path / "c"))
    first = build(settings, params=ModelParams(num_topics=8, num_background_topics=1, passes=4))
    second = build(settings, params=ModelParams(num_topics=5, num_background_topics=1, passes=4))
    service = Service(settings)
    expected = {}
    for version in (first, second):
        with service.sessions() as session:
            store.activate_version(session, version.version_id)
        expected[version.version_name] = [
            h.id for h in service.search(SearchRequest(Query(text="flower"))).hits
        ]
    stop = threading.Event()

    def keep_searching() -> list[tuple[str, list[str]]]:
        answers = []
        while not stop.is_set():
            result = service.search(SearchRequest(Query(text="flower")))
            answers.append((result.model_version, [h.id for h in result.hits]))
        return answers

    with ThreadPoolExecutor(max_workers=3) as pool:
        searching = [pool.submit(keep_searching) for _ in range(3)]
        for version in [first, second] * 3:
            with service.sessions() as session:
                store.activate_version(session, version.version_id)
            time.sleep(0.2)
        stop.set()
        answers = [answer for future in searching for answer in future.result()]

    assert {version for version, _ in answers} == set(expected)
    assert all(ids == expected[version] for version, ids in answers)


def test_a_page_that_read_the_model_before_another_version_was_activated_is_answered_from_it(
    deployment,
):
    service = Service(deployment)
    snapshot = service.active()
    build(deployment, params=ModelParams(num_topics=4, passes=2))  # activates a smaller model
    query = Query(text="bird")

    result = service.search(SearchRequest(query, k=5), active=snapshot)
    _, annotations = service.annotate(AnnotationRequest(query, ["@tag"], k=3), active=snapshot)

    topics_now = service.active().engine.inferencer.num_topics
    topics_then = snapshot.engine.inferencer.num_topics
    assert topics_now == 4 != topics_then
    assert result.model_version == snapshot.version.name
    assert result.query.theta.shape == (topics_then,)
    assert [h.id for h in result.hits] == [
        h.id for h in snapshot.engine.search(SearchRequest(query, 5)).hits
    ]
    assert set(service.topic_labels(snapshot)) == set(range(topics_then))
    assert (
        annotations["@tag"]
        == snapshot.engine.annotation.annotate(AnnotationRequest(query, ["@tag"], 3))["@tag"]
    )


def test_the_service_reads_a_query_and_explains_its_hits_with_the_model_that_answered(service):
    active = service.active()
    result = service.search(SearchRequest(Query(text="собака qwertyzzz"), k=3), active=active)
    labels = service.topic_labels(active)

    reading = service.read_query(result, labels, active)
    shared = [service.explain_hit(result, hit, labels, active) for hit in result.hits]

    assert [token.display for token in reading.kept["@text"]] == ["собака"]
    assert reading.unknown == {"@text": ["qwertyzzz"]}
    # a hit found by the query's word may share no topic with it; every topic shown is labelled
    # by the model that answered
    assert any(shared)
    assert all(topics[0].label == labels[topics[0].index] for topics in shared if topics)
    for hit, topics in zip(result.hits, shared, strict=True):
        assert sum(topic.share for topic in topics) <= 1 - hit.distance / 2 + 1e-9


def test_why_nothing_was_recognized_counts_the_visitors_weights_over_the_live_ones(service):
    query = Query(text="flower")
    with pytest.raises(NothingRecognized) as caught:
        service.search(SearchRequest(query, weights={"@text": 0.0, "@tag": 0.0}))

    why = service.why_nothing_recognized(
        SearchRequest(query, weights={"@text": 0.0, "@tag": 0.0}), caught.value
    )

    # the visitor typed a word: the answer names Words, not the hashtag twin read beside it
    assert set(why.switched_off) == {"@text"}
    assert not why.unknown and not why.no_words
    assert service.why_nothing_recognized(SearchRequest(query), caught.value).switched_off == []


def test_a_photo_is_read_and_fitted_through_the_service(service, built):
    photo = built.held_out[2].image.read_bytes()

    reading = service.read_photo(photo)
    fit = service.query_fit(SearchRequest(Query(image=photo)))

    assert reading.samples == service.describe().visual_samples
    assert sum(reading.visual_words.values()) == reading.samples
    assert fit.perplexity > 0
    with pytest.raises(NothingRecognized):
        service.query_fit(SearchRequest(Query(image=photo), weights={"@visual": 0.0}))


def test_the_description_says_which_configuration_answers_queries(service, built):
    active = service.active()
    with service.sessions() as session:
        live = store.modality_weights(session, active.version.id)

    about = service.describe(active)

    assert about.version == active.version.name == built.report.version_name
    assert about.documents == built.report.num_documents
    assert (about.topics, about.background_topics) == (300, 2)  # ModelParams' defaults
    assert about.ranking == RankingParams()  # a new build's default ranking
    assert (about.backbone, about.index_method) == (DEFAULT_BACKBONE, "bounds")
    assert about.collection == built.settings.collection and not about.builtin_collection
    assert {m.name: m.live_weight for m in about.modalities} == live
    assert all(m.vocabulary > 0 for m in about.modalities)
    assert set(about.regularizers) == {"smooth_phi", "smooth_theta"}
    assert about.scores and about.passes == len(about.scores)


def test_topic_thumbnails_come_from_the_version_files_without_loading_the_model(deployment):
    service = Service(deployment)
    with service.sessions() as session:
        version = store.active_version(session)
        engine_free = service.topic_thumbnails(version, [0, 3, 7], 4)
        assert service._engine is None  # a moderator's first page does not load the model
        hidden = engine_free[3][0].hit.id
        session.add(HiddenDocument(doc_id=hidden, score=1.0))
        bump_collection_generation(session)
        session.commit()

    without_hidden = Service(deployment).topic_thumbnails(version, [3], 4)[3]
    active = service.active()

    loaded = service.topic_thumbnails(version, [0, 3, 7], 4)
    for topic in (0, 7):
        expected = service.typical_documents(topic, 4, active)
        assert [(d.hit.id, d.share) for d in engine_free[topic]] == [
            (d.hit.id, d.share) for d in expected
        ]
        assert [d.hit.id for d in loaded[topic]] == [d.hit.id for d in expected]
    assert hidden not in [d.hit.id for d in without_hidden + loaded[3]]
    assert [d.hit.id for d in without_hidden] == [d.hit.id for d in loaded[3]]


def test_a_visitors_photo_goes_through_the_backbone_its_version_was_built_with(built):
    """Settings that name another backbone now (a changed default, an edited environment) must
    not turn visitors' photos into another network's visual words for an existing version."""
    assert built.settings.backbone == DEFAULT_BACKBONE != "squeezenet"
    service = Service(replace(built.settings, backbone="squeezenet"))

    active = service.active()

    assert service.backbone_of(active.version) == built.settings.backbone
    assert active.engine.vectorizer.backbone is load_backbone(built.settings.backbone)
    assert service.describe(active).backbone == built.settings.backbone
