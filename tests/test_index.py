"""L1 index: every backend keeps one contract; the served one is exact, ties and hidden rows
included."""

import json

import numpy as np
import pytest

import core.serving.index as index_module
from core.measurement.index_bench import COMPARED, dirichlet_thetas, realistic_thetas
from core.serving.index import (
    IndexParams,
    NeighborIndex,
    l1_scan,
    recall_at_k,
    scan_nearest,
)

TOPICS = 30
EXACT = ["bounds", "faiss-flat"]


def concentrated_base(n: int, seed: int) -> np.ndarray:
    """Stand-in for a model's document thetas: nearly all mass on one or two topics."""
    return np.random.default_rng(seed).dirichlet(np.full(TOPICS, 0.03), size=n)


@pytest.fixture(scope="module")
def thetas() -> np.ndarray:
    """Realistic thetas, two exact duplicates of row 5, and one-hot rows that tie."""
    rows = realistic_thetas(concentrated_base(300, seed=0), 3000, seed=1)
    rows[[100, 2500]] = rows[5]
    rows[3000 - 200 :] = np.eye(TOPICS, dtype=np.float32)[np.arange(200) % 3]
    return rows


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return realistic_thetas(concentrated_base(300, seed=0), 40, seed=2)


@pytest.fixture(scope="module", params=sorted(COMPARED))
def backend(request, thetas):
    return COMPARED[request.param].build(NeighborIndex(thetas).thetas, IndexParams())


def test_every_backend_returns_up_to_k_rows_nearest_first_with_their_true_distances(
    backend, thetas, queries
):
    for query in queries[:10]:
        rows, distances = backend.query(query, 10, None)
        assert len(rows) == 10 and len(set(rows.tolist())) == 10
        assert np.all(np.diff(distances) >= 0)
        assert np.allclose(distances, np.abs(thetas[rows] - query).sum(axis=1), atol=1e-5)


def test_every_backend_finds_most_true_neighbours(backend, thetas, queries):
    hits = sum(
        len(set(backend.query(q, 10, None)[0].tolist()) & set(scan_nearest(thetas, q, 10)[0]))
        for q in queries
    )
    assert hits / (10 * len(queries)) >= 0.9


def test_every_backend_never_returns_hidden_rows(backend, thetas):
    allowed = np.ones(len(thetas), dtype=bool)
    allowed[[5, 100, 2500, 6, 7]] = False
    rows, _ = backend.query(thetas[5], 10, allowed)
    assert len(rows) == 10 and not {5, 100, 2500, 6, 7} & set(rows.tolist())


def test_every_backend_answers_the_same_after_save_and_load(backend, thetas, queries, tmp_path):
    (tmp_path / "saved").mkdir(), (tmp_path / "written").mkdir()
    backend.save(tmp_path / "saved")
    type(backend).write(tmp_path / "written", backend.thetas)
    for directory in ("saved", "written"):
        loaded = type(backend).load(tmp_path / directory, backend.thetas, IndexParams())
        for query in queries[:5]:
            expected = backend.query(query, 10, None)[0].tolist()
            assert loaded.query(query, 10, None)[0].tolist() == expected


@pytest.mark.parametrize("method", EXACT)
def test_exact_backends_equal_the_full_scan_rows_and_distances(method, thetas, queries):
    backend = COMPARED[method].build(NeighborIndex(thetas).thetas, IndexParams())
    for query in [*queries, thetas[5], thetas[-1]]:
        rows, distances = backend.query(query, 10, None)
        expected_rows, expected = scan_nearest(thetas, query, 10)
        assert rows.tolist() == expected_rows.tolist()
        assert np.allclose(distances, expected, atol=1e-6)


def test_bounds_is_the_full_scan_on_realistic_and_dirichlet_thetas_with_rows_hidden():
    # given realistic and far denser Dirichlet thetas, with a tenth of the rows hidden as junk
    rng = np.random.default_rng(3)
    for rows in (
        realistic_thetas(concentrated_base(200, seed=4), 5000, seed=5),
        dirichlet_thetas(5000, TOPICS, seed=6),
    ):
        allowed = rng.random(len(rows)) > 0.1
        index = NeighborIndex(rows)
        for query in rows[rng.integers(len(rows), size=30)]:
            # when the index and a full scan answer, then they agree on every row and its order
            found = index.query(query, 10, allowed)
            expected = scan_nearest(index.thetas, query, 10, allowed)
            assert found[0].tolist() == expected[0].tolist()
            assert np.array_equal(found[1], expected[1])
            assert allowed[found[0]].all()


def test_ties_are_broken_by_row_the_way_the_full_scan_breaks_them(thetas):
    # given 200 one-hot rows: every query one-hot on another topic is at distance 2 from most
    index = NeighborIndex(thetas)
    query = np.eye(TOPICS, dtype=np.float32)[1]
    rows, distances = index.query(query, 10)
    assert rows.tolist() == scan_nearest(index.thetas, query, 10)[0].tolist()
    # and an exact duplicate ties at 0 with its original, lowest row first
    rows, distances = index.query(thetas[5], 3)
    assert rows.tolist() == [5, 100, 2500] and distances.tolist() == [0, 0, 0]


def test_the_bounds_check_few_rows_exactly_on_concentrated_thetas(thetas, queries, monkeypatch):
    checked = []
    original = index_module.bounded_candidates
    monkeypatch.setattr(
        index_module,
        "bounded_candidates",
        lambda *args: checked.append(len(found := original(*args))) or found,
    )
    index = NeighborIndex(thetas)
    for query in queries:
        index.query(query, 10)
    assert np.median(checked) < len(thetas) / 20


def test_asking_for_more_rows_than_are_allowed_returns_every_allowed_row(thetas):
    allowed = np.zeros(len(thetas), dtype=bool)
    allowed[[3, 30, 300]] = True
    rows, _ = NeighborIndex(thetas).query(thetas[0], 10, allowed)
    assert sorted(rows.tolist()) == [3, 30, 300]
    rows, _ = NeighborIndex(thetas).query(thetas[0], 10, np.zeros(len(thetas), dtype=bool))
    assert len(rows) == 0


def test_stored_thetas_have_denormals_flushed_and_the_scan_sees_the_same():
    rows = concentrated_base(50, seed=7).astype(np.float32)
    rows[:, 0] = 1e-40  # denormal in float32
    index = NeighborIndex(rows)
    assert not ((index.thetas > 0) & (index.thetas < np.finfo(np.float32).tiny)).any()
    assert np.array_equal(index.thetas, np.where(rows < np.finfo(np.float32).tiny, 0, rows))
    assert np.allclose(l1_scan(index.thetas, rows[3]), np.abs(rows - rows[3]).sum(axis=1))


def test_saved_index_loads_memory_mapped_and_answers_like_the_original(
    thetas, tmp_path, monkeypatch
):
    index = NeighborIndex(thetas).build()
    index.save(tmp_path)
    # loading reads no theta: a replica of ten million documents starts without 12 GB resident
    monkeypatch.setattr("core.serving.index._half_sums", lambda _: pytest.fail("read thetas"))
    loaded = NeighborIndex.load(tmp_path)
    assert isinstance(loaded.thetas, np.memmap) and loaded.method == "bounds"
    assert np.array_equal(loaded.thetas, index.thetas)
    assert loaded.query(thetas[9], 10)[0].tolist() == index.query(thetas[9], 10)[0].tolist()


def test_an_index_written_a_block_at_a_time_is_the_saved_one_file_for_file(
    thetas, tmp_path, monkeypatch
):
    # given thetas too many to hold twice: written in blocks, the topic-major copy too
    monkeypatch.setattr("core.serving.index.WRITE_ROWS", 700)
    NeighborIndex(thetas).save(tmp_path / "saved")
    blocks = (thetas[start : start + 1000] for start in range(0, len(thetas), 1000))
    NeighborIndex.write(tmp_path / "written", blocks, thetas.shape)
    # then every file is the same, and so is every answer
    for name in ("thetas.npy", "thetas_by_topic.npy", "half_sums.npy", "index.json"):
        assert (tmp_path / "saved" / name).read_bytes() == (
            tmp_path / "written" / name
        ).read_bytes()
    loaded = NeighborIndex.load(tmp_path / "written")
    assert (
        loaded.query(thetas[9], 10)[0].tolist()
        == NeighborIndex(thetas).query(thetas[9], 10)[0].tolist()
    )


def test_blocks_that_do_not_make_the_shape_are_refused(thetas, tmp_path):
    with pytest.raises(ValueError, match="held 1000 rows, not the 3000"):
        NeighborIndex.write(tmp_path, [thetas[:1000]], thetas.shape)
    with pytest.raises(ValueError, match="do not fit"):
        NeighborIndex.write(tmp_path, [thetas, thetas[:1]], thetas.shape)


def test_a_version_saved_with_annoy_or_auto_loads_with_the_bounds_backend(thetas, tmp_path):
    # given an index directory as older versions wrote it: thetas and annoy's parameters
    np.save(tmp_path / "thetas.npy", thetas.astype(np.float64))
    legacy = {"method": "annoy", "n_trees": 100, "search_k_per_result": 10_000}
    (tmp_path / "index.json").write_text(json.dumps(legacy))
    # when loaded, then it answers exactly
    loaded = NeighborIndex.load(tmp_path)
    assert loaded.method == "bounds" and IndexParams(**legacy) == IndexParams()
    assert loaded.query(thetas[5], 3)[0].tolist() == [5, 100, 2500]
    assert recall_at_k(loaded, thetas[:20], 10) == 1.0


def test_bad_input_is_refused_with_a_clear_message(thetas):
    index = NeighborIndex(thetas)
    with pytest.raises(ValueError, match="k must be >= 1"):
        index.query(thetas[0], 0)
    with pytest.raises(ValueError, match="theta must have shape"):
        index.query(thetas[0][:5], 3)
    with pytest.raises(ValueError, match="theta must be finite and >= 0"):
        index.query(-thetas[0], 3)
    with pytest.raises(ValueError, match="allowed must have shape"):
        index.query(thetas[0], 3, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="thetas must be finite and >= 0"):
        NeighborIndex(np.full((3, 4), np.nan))
    with pytest.raises(ValueError, match="non-empty 2-D"):
        NeighborIndex(np.zeros((0, 4)))
    with pytest.raises(ValueError, match="method must be one of"):
        IndexParams(method="faiss")
    with pytest.raises(ValueError, match="unknown index parameters"):
        IndexParams(method="bounds", trees=3)
