"""L1 index: exact scan and annoy agree on the nearest documents."""

import numpy as np
import pytest

from core.index import IndexParams, NeighborIndex, recall_at_k
from core.index_bench import synthetic_thetas


@pytest.fixture(scope="module")
def thetas() -> np.ndarray:
    return synthetic_thetas(3000, 20, seed=0)


def test_exact_scan_returns_the_true_l1_neighbours_nearest_first(thetas):
    query = thetas[17]
    rows, distances = NeighborIndex(thetas, IndexParams(method="exact")).query(query, 5)
    truth = np.argsort(np.abs(thetas - query).sum(axis=1), kind="stable")[:5]
    assert rows.tolist() == truth.tolist()
    assert rows[0] == 17 and distances[0] == 0
    assert np.all(np.diff(distances) >= 0)


def test_annoy_at_default_settings_keeps_recall_at_10_above_099(thetas):
    index = NeighborIndex(thetas, IndexParams(method="annoy")).build()
    queries = synthetic_thetas(50, 20, seed=1)
    assert recall_at_k(index, queries, 10) >= 0.99


def test_auto_uses_the_exact_scan_for_small_collections_and_annoy_for_large_ones(thetas):
    assert NeighborIndex(thetas).method == "exact"
    assert NeighborIndex(synthetic_thetas(20_000, 200, seed=2)).method == "annoy"


@pytest.mark.parametrize("method", ["exact", "annoy"])
def test_hidden_documents_are_never_returned(thetas, method):
    allowed = np.ones(len(thetas), dtype=bool)
    allowed[[17, 18, 19]] = False
    rows, _ = NeighborIndex(thetas, IndexParams(method=method)).query(thetas[17], 10, allowed)
    assert len(rows) == 10 and not {17, 18, 19} & set(rows.tolist())


@pytest.mark.parametrize("method", ["exact", "annoy"])
def test_saved_index_answers_like_the_original(thetas, method, tmp_path):
    index = NeighborIndex(thetas, IndexParams(method=method)).build()
    index.save(tmp_path)
    loaded = NeighborIndex.load(tmp_path)
    assert loaded.method == method
    assert loaded.query(thetas[5], 10)[0].tolist() == index.query(thetas[5], 10)[0].tolist()


def test_bad_queries_are_refused_with_a_clear_message(thetas):
    index = NeighborIndex(thetas)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.query(thetas[0], 0)
    with pytest.raises(ValueError, match="theta must have shape"):
        index.query(thetas[0][:5], 3)
    with pytest.raises(ValueError, match="method must be one of"):
        IndexParams(method="faiss")
