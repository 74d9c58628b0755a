"""Serving: many threads at once, live weights, version switches."""

from __future__ import annotations

import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from core import store
from core.engine import Query
from core.model import ModelParams
from core.pipeline import build
from core.service import Service
from tests.conftest import builtin_rows, copy_collection, settings_for

QUERIES = ["flower", "рыба", "horse", "корова", "car", "птица", "apple", "дом"]


def test_concurrent_queries_give_the_same_answers_as_sequential_ones(service):
    expected = {q: [h.id for h in service.search(Query(text=q), k=10).hits] for q in QUERIES}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda q: (q, service.search(Query(text=q), k=10)), QUERIES * 25))
    assert all([h.id for h in result.hits] == expected[q] for q, result in answers)


def test_the_loaded_model_is_left_out_of_full_garbage_collections(service):
    """Streamlit runs a full collection after every page; it must not walk the model each time."""
    engine = service.active().engine
    collected = {id(obj) for obj in gc.get_objects()}  # every generation but the frozen one

    assert gc.is_tracked(engine.documents) and id(engine.documents) not in collected
    assert id(engine.model.phi) not in collected and id(engine.documents[0]) not in collected
    # nor what searches would otherwise build on first use, after the freeze
    assert id(engine.translations.table) not in collected
    assert id(engine.translations.lexicon) not in collected
    assert id(engine.fit_reference) not in collected


def test_a_global_weight_change_in_the_database_reaches_the_next_query(service, built):
    photo = built.held_out[2].image.read_bytes()
    query = Query(text="flower", image=photo)
    before = [h.id for h in service.search(query, k=10).hits]
    with service.sessions() as session:
        version = store.active_version(session)
        weights = store.modality_weights(session, version.id)
        store.set_modality_weight(session, version.id, "@visual", 0.0)
    try:
        after = [h.id for h in service.search(query, k=10).hits]
        text_only = [h.id for h in service.search(Query(text="flower"), k=10).hits]
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
        expected[version.version_name] = [h.id for h in service.search(Query(text="flower")).hits]
    stop = threading.Event()

    def keep_searching() -> list[tuple[str, list[str]]]:
        answers = []
        while not stop.is_set():
            result = service.search(Query(text="flower"))
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

    result = service.search(query, k=5, active=snapshot)
    _, annotations = service.annotate(query, ["@tag"], k=3, active=snapshot)

    topics_now = service.active().engine.inferencer.num_topics
    topics_then = snapshot.engine.inferencer.num_topics
    assert topics_now == 4 != topics_then
    assert result.model_version == snapshot.version.name
    assert result.query.theta.shape == (topics_then,)
    assert [h.id for h in result.hits] == [h.id for h in snapshot.engine.search(query, 5).hits]
    assert set(service.topic_labels(snapshot)) == set(range(topics_then))
    assert annotations["@tag"] == snapshot.engine.annotate(query, ["@tag"], 3)["@tag"]
