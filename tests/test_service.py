"""Serving: many threads at once, live weights, version switches."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from core import store
from core.engine import Query

QUERIES = ["flower", "рыба", "horse", "корова", "car", "птица", "apple", "дом"]


def test_concurrent_queries_give_the_same_answers_as_sequential_ones(service):
    expected = {q: [h.id for h in service.search(Query(text=q), k=10).hits] for q in QUERIES}
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda q: (q, service.search(Query(text=q), k=10)), QUERIES * 25))
    assert all([h.id for h in result.hits] == expected[q] for q, result in answers)


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
