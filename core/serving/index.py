"""Nearest documents by L1 (Manhattan) distance between topic vectors (thetas).

Every backend answers the same small protocol (``NeighborBackend``): built from the stored
thetas, ``query(theta, k, allowed)`` returns (rows, L1 distances) nearest first, and it saves
into / loads from a version's index directory. ``NeighborIndex`` owns the stored thetas and
picks the backend named by ``IndexParams.method``.

The one served backend, ``bounds``, is exact and fast on real thetas, which are concentrated
(the top topic holds about 0.9 of a document's mass). For distributions L1(q, d) = S_q + S_d - 2
sum_t min(q_t, d_t). Summing the min only over the query's top m topics, read from a topic-major
copy of the thetas, gives an upper bound on every distance; subtracting twice the query's
leftover mass (its mass outside those topics) gives a lower bound. Only rows whose lower bound
beats the k-th best upper bound can be among the k nearest; they alone are checked exactly, and
m grows until that check is cheap (``bounded_candidates``, which annotation's neighbours by
visual words share). ``python -m core bench`` (reports/bench.md) measures it next
to annoy and faiss (flat and HNSW) in the same protocol on the same thetas: annoy, once the
default for large collections, was slower than ``bounds`` on every row and approximate, so it
went.

Stored thetas are float32 with denormal floats flushed to 0: real thetas hold many, and they
slow every scan (about 1.8x) without changing any distance that matters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol

import numpy as np

METHODS = ("bounds",)
# index.json of older versions: their thetas.npy is all the bounds backend needs
LEGACY_METHODS = {"auto": "bounds", "exact": "bounds", "annoy": "bounds"}
SCAN_CHUNK_ROWS = 8192
WRITE_ROWS = 262_144  # thetas written at a time: 300 MB of 300 topics
TINY = np.finfo(np.float32).tiny


@dataclass(frozen=True)
class IndexParams:
    """Which backend a version uses. Older versions also stored annoy's knobs: accepted, and
    ignored like their method."""

    method: str = "bounds"

    def __init__(self, method: str = "bounds", **legacy: int) -> None:
        if set(legacy) - {"n_trees", "search_k_per_result"}:
            raise ValueError(f"unknown index parameters: {sorted(legacy)}")
        method = LEGACY_METHODS.get(method, method)
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        object.__setattr__(self, "method", method)


class NeighborBackend(Protocol):
    """What every index backend does; ``tests/test_index.py`` holds the contract they pass."""

    name: ClassVar[str]

    @classmethod
    def build(cls, thetas: np.ndarray, params: IndexParams) -> NeighborBackend:
        """An index over ``thetas`` (float32, row-major, denormals flushed)."""
        ...

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, L1 distances) of up to k allowed rows, nearest first, ties by row."""
        ...

    def save(self, directory: Path) -> None:
        """Writes what ``load`` needs besides the thetas (saved by ``NeighborIndex``)."""
        ...

    @classmethod
    def write(cls, directory: Path, thetas: np.ndarray) -> None:
        """What ``save`` writes, from stored (here memory-mapped) ``thetas``, in memory that
        does not grow with them: how an index too large to build in memory is written."""
        ...

    @classmethod
    def load(cls, directory: Path, thetas: np.ndarray, params: IndexParams) -> NeighborBackend: ...


def stored_thetas(thetas: np.ndarray) -> np.ndarray:
    """Thetas as the index keeps them: a non-empty 2-D float32 row-major array of finite
    non-negative values, denormals flushed to 0."""
    thetas = np.array(thetas, dtype=np.float32, order="C")
    if thetas.ndim != 2 or thetas.size == 0:
        raise ValueError(f"thetas must be a non-empty 2-D array, got shape {thetas.shape}")
    if not np.isfinite(thetas).all() or (thetas < 0).any():
        raise ValueError("thetas must be finite and >= 0")
    thetas[thetas < TINY] = 0
    return thetas


def query_theta(theta: np.ndarray, num_topics: int) -> np.ndarray:
    """A query theta checked like the stored ones: shape, finite, >= 0, denormals flushed."""
    theta = np.array(theta, dtype=np.float32)
    if theta.shape != (num_topics,):
        raise ValueError(f"theta must have shape ({num_topics},), got {theta.shape}")
    if not np.isfinite(theta).all() or (theta < 0).any():
        raise ValueError("theta must be finite and >= 0")
    theta[theta < TINY] = 0
    return theta


def l1_distances(rows: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """L1 distance from ``theta`` to each of ``rows`` (row-major). Every backend and the full
    scan compute exact distances here, so equal inputs give bit-equal distances."""
    return np.abs(rows - theta).sum(axis=1)


def l1_scan(thetas: np.ndarray, theta: np.ndarray, chunk: int = SCAN_CHUNK_ROWS) -> np.ndarray:
    """L1 distance from ``theta`` to every row, ``chunk`` rows at a time: the temporary
    difference array stays a few MB instead of a copy of the whole matrix."""
    distances = np.empty(len(thetas), dtype=np.float32)
    for start in range(0, len(thetas), chunk):
        distances[start : start + chunk] = l1_distances(thetas[start : start + chunk], theta)
    return distances


def nearest(
    rows: np.ndarray, distances: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The k allowed (row, distance) pairs with the smallest distance, ties broken by row:
    those within the k-th smallest distance sorted, not every pair."""
    if allowed is not None:
        keep = allowed[rows]
        rows, distances = rows[keep], distances[keep]
    if len(distances) > k > 0:
        within = np.flatnonzero(distances <= np.partition(distances, k - 1)[k - 1])
        rows, distances = rows[within], distances[within]
    order = np.lexsort((rows, distances))[:k]
    return rows[order].astype(np.int64), distances[order].astype(np.float32)


def scan_nearest(
    thetas: np.ndarray, theta: np.ndarray, k: int, allowed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The reference answer: a full L1 scan of every row."""
    distances = l1_scan(thetas, query_theta(theta, thetas.shape[1]))
    return nearest(np.arange(len(thetas)), distances, k, allowed)


def _half_sums(thetas: np.ndarray) -> np.ndarray:
    """Each row's mass halved (float32), ``WRITE_ROWS`` rows at a time."""
    sums = np.empty(len(thetas), dtype=np.float32)
    for start in range(0, len(thetas), WRITE_ROWS):
        block = thetas[start : start + WRITE_ROWS]
        sums[start : start + WRITE_ROWS] = block.sum(axis=1, dtype=np.float64) / 2
    return sums


def npy_header(handle: BinaryIO, dtype: np.dtype, shape: tuple[int, ...]) -> int:
    """Writes the header of a ``.npy`` file of ``shape`` (C order) and returns its length."""
    header = {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
        "fortran_order": False,
        "shape": tuple(shape),
    }
    np.lib.format.write_array_header_1_0(handle, header)
    return handle.tell()


def _write_bounds(directory: Path, thetas: np.ndarray, half_sums: np.ndarray) -> None:
    """What ``TopicBoundsSearch.load`` reads besides the thetas: their topic-major copy (the
    transpose, ``WRITE_ROWS`` rows at a time, each topic's part written at its place: a copy
    made in memory would double the thetas') and the rows' half sums. Plain writes, not a
    memory map: the crash replay (``tests/crash_replay.py``) and an fsync see them."""
    count, topics = thetas.shape
    with open(directory / "thetas_by_topic.npy", "wb") as handle:
        start_of_data = npy_header(handle, thetas.dtype, (topics, count))
        handle.truncate(start_of_data + thetas.dtype.itemsize * topics * count)
        for start in range(0, count, WRITE_ROWS):
            block = np.ascontiguousarray(thetas[start : start + WRITE_ROWS].T)
            for topic, row in enumerate(block):
                handle.seek(start_of_data + thetas.dtype.itemsize * (topic * count + start))
                handle.write(row.tobytes())
    np.save(directory / "half_sums.npy", half_sums)


SAMPLE = 4096  # rows whose k-th best bound pre-filters the full pass
SLACK = 1e-4  # float32 rounding of bounds and distances is far below this
START_LEFTOVER = 1e-2  # first bound: the query's top columns up to this share of leftover
START_COLUMNS = 4  # ... but at most this many


def bounded_candidates(
    half: np.ndarray,
    query: np.ndarray,
    lower: Callable[[int], None],
    k: int,
    cheap: Callable[[int, int], bool],
) -> np.ndarray:
    """The rows that can be among the k nearest to the distribution ``query`` by L1 (see the
    module docstring), sorted; ``k`` at most the finite rows of ``half``.

    ``half`` holds each row's mass halved (inf for a row that may not be returned);
    ``lower(column)`` subtracts from it, in place, min(the row's value at ``column``,
    ``query[column]``). It is called for the query's columns, heaviest first, their number
    doubling until ``cheap(rows left, columns read)`` says that checking the rows left exactly
    costs less than reading more columns (asked first of an estimate from a sample of the
    rows), or every column is in. The topic index (dense
    topic-major columns) and annotation's neighbours by visual words (sparse token columns)
    both prune this way.
    """
    columns = heaviest_first(query)
    leftover = np.cumsum(query[columns][::-1], dtype=np.float64)[::-1]  # mass from m on
    leftover = np.append(leftover, 0.0)
    stride = max(1, len(half) // SAMPLE)
    m = max(1, int(np.count_nonzero(leftover > START_LEFTOVER * leftover[0])))
    used, m = 0, min(m, START_COLUMNS, len(columns))
    while True:
        for column in columns[used:m]:
            lower(int(column))
        used = m
        margin = float(leftover[m])
        if m == len(columns) or cheap(_sampled_count(half, margin, stride), m):
            candidates = _within_bounds(half, k, margin, stride)
            if m == len(columns) or cheap(len(candidates), m):
                return candidates
        m = min(2 * m, len(columns))


def _sampled_count(half: np.ndarray, margin: float, stride: int) -> int:
    """About how many rows ``_within_bounds`` would keep, from the sample (every ``stride``-th
    row) alone: its rows within ``margin`` of its best bound, scaled up. Where that is far too
    many, more columns are read before a pass over every row, which would keep nearly all."""
    sample = half[::stride]
    finite = sample[np.isfinite(sample)]
    if not len(finite):
        return 0
    return stride * int(np.count_nonzero(finite <= finite.min() + margin + SLACK))


def heaviest_first(query: np.ndarray) -> np.ndarray:
    """The columns where ``query`` is above 0, heaviest first (ties by column)."""
    return np.argsort(-query, kind="stable")[: int(np.count_nonzero(query))]


def _within_bounds(half: np.ndarray, k: int, margin: float, stride: int) -> np.ndarray:
    """Rows whose lower bound (half - margin) is within the k-th best upper bound (half).

    The k-th best bound of a sample (every ``stride``-th row) is a valid (looser) threshold:
    one pass keeps the rows under it, and the exact k-th best bound is found among those few.
    """
    sample = half[::stride]
    finite = sample[np.isfinite(sample)]
    threshold = np.partition(finite, k - 1)[k - 1] if len(finite) >= k else np.inf
    slack = margin + SLACK
    rows = np.flatnonzero(half <= threshold + slack)
    bounds = half[rows]
    kth = np.partition(bounds, k - 1)[k - 1]
    return rows[bounds <= kth + slack]


class TopicBoundsSearch:
    """Exact top-k by topic bounds (see the module docstring).

    Works on half distances h = S_d / 2 - sum min(q_t, d_t) (L1 = S_q + 2h), accumulated topic
    by topic over contiguous topic-major columns (``bounded_candidates``): two cheap passes
    over the rows per topic.
    """

    name: ClassVar[str] = "bounds"

    def __init__(
        self, thetas: np.ndarray, by_topic: np.ndarray, half_sums: np.ndarray | None = None
    ) -> None:
        """``half_sums``: each row's mass halved (``half_sums``), when stored: computing it
        reads every theta, which at ten million documents makes 12 GB resident at start."""
        self.thetas = thetas
        self.by_topic = by_topic
        self.half_sums = _half_sums(thetas) if half_sums is None else half_sums

    @classmethod
    def build(cls, thetas: np.ndarray, params: IndexParams) -> TopicBoundsSearch:
        return cls(thetas, np.ascontiguousarray(thetas.T))

    def save(self, directory: Path) -> None:
        _write_bounds(directory, self.thetas, self.half_sums)

    @classmethod
    def write(cls, directory: Path, thetas: np.ndarray) -> None:
        _write_bounds(directory, thetas, _half_sums(thetas))

    @classmethod
    def load(cls, directory: Path, thetas: np.ndarray, params: IndexParams) -> TopicBoundsSearch:
        path = directory / "thetas_by_topic.npy"
        if not path.exists():  # a version saved before this backend: derive the copy
            return cls.build(thetas, params)
        sums = directory / "half_sums.npy"  # a version saved before they were stored: derive
        return cls(thetas, np.load(path, mmap_mode="r"), np.load(sums) if sums.exists() else None)

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.thetas)
        hidden = None if allowed is None else np.flatnonzero(~allowed)
        k = min(k, n - (0 if hidden is None else len(hidden)))
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        half = self.half_sums.copy()
        if hidden is not None:
            half[hidden] = np.inf
        term = np.empty(n, dtype=np.float32)

        def lower(topic: int) -> None:
            np.minimum(self.by_topic[topic], theta[topic], out=term)
            np.subtract(half, term, out=half)

        def cheap(candidates: int, topics: int) -> bool:  # a row's theta, or a topic's pass
            return candidates * len(theta) <= n

        candidates = bounded_candidates(half, theta, lower, k, cheap)
        distances = l1_distances(self.thetas[candidates], theta)
        return nearest(candidates, distances, k)


BACKENDS: dict[str, type[NeighborBackend]] = {TopicBoundsSearch.name: TopicBoundsSearch}


class NeighborIndex:
    """Finds the k documents nearest to a theta; rows are document positions."""

    def __init__(self, thetas: np.ndarray, params: IndexParams | None = None) -> None:
        self.thetas = stored_thetas(thetas)
        self.params = params or IndexParams()
        self.method = self.params.method
        self._backend: NeighborBackend | None = None

    @classmethod
    def _loaded(cls, thetas: np.ndarray, params: IndexParams, directory: Path) -> NeighborIndex:
        index = cls.__new__(cls)
        index.thetas, index.params, index.method = thetas, params, params.method
        index._backend = BACKENDS[params.method].load(directory, thetas, params)
        return index

    def build(self) -> NeighborIndex:
        if self._backend is None:
            self._backend = BACKENDS[self.method].build(self.thetas, self.params)
        return self

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, L1 distances) of the k nearest documents, nearest first, ties by row.

        ``allowed`` (boolean per row) hides documents, e.g. ones the junk filter removed.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        theta = query_theta(theta, self.thetas.shape[1])
        if allowed is not None and np.shape(allowed) != (len(self.thetas),):
            raise ValueError(f"allowed must have shape ({len(self.thetas)},)")
        return self.build()._backend.query(theta, k, allowed)

    def save(self, directory: Path) -> None:
        self.write(directory, [self.thetas], self.thetas.shape, self.params)

    @staticmethod
    def write(
        directory: Path,
        blocks: Iterable[np.ndarray],
        shape: tuple[int, int],
        params: IndexParams | None = None,
    ) -> None:
        """Writes the index of ``shape`` (documents x topics) thetas given as ``blocks`` of
        rows, holding one block at a time: a collection of ten million documents has 12 GB of
        thetas and twice that would not fit a node's memory. ``load`` reads it back."""
        params = params or IndexParams()
        directory.mkdir(parents=True, exist_ok=True)
        written = 0
        with open(directory / "thetas.npy", "wb") as handle:  # plain writes, as _write_bounds
            npy_header(handle, np.dtype(np.float32), tuple(shape))
            for block in blocks:
                block = stored_thetas(block)
                if block.shape[1] != shape[1] or written + len(block) > shape[0]:
                    raise ValueError(f"blocks of shape {block.shape} do not fit thetas of {shape}")
                handle.write(block.tobytes())
                written += len(block)
        if written != shape[0]:
            raise ValueError(f"blocks held {written} rows, not the {shape[0]} of {shape}")
        (directory / "index.json").write_text(json.dumps(asdict(params)))
        thetas = np.load(directory / "thetas.npy", mmap_mode="r")
        BACKENDS[params.method].write(directory, thetas)

    @classmethod
    def load(cls, directory: Path) -> NeighborIndex:
        """Loads memory-mapped: app replicas share the pages."""
        params = IndexParams(**json.loads((directory / "index.json").read_text()))
        thetas = np.load(directory / "thetas.npy", mmap_mode="r")
        if thetas.dtype != np.float32 or not thetas.flags.c_contiguous:
            thetas = stored_thetas(thetas)  # written by other code: keep the stored form
        return cls._loaded(thetas, params, directory)


def recall_at_k(index: NeighborIndex, queries: np.ndarray, k: int = 10) -> float:
    """Share of the full scan's L1 top-k that ``index`` returns, averaged over queries."""
    hits = 0
    for theta in queries:
        truth = set(scan_nearest(index.thetas, theta, k)[0].tolist())
        hits += len(truth & set(index.query(theta, k)[0].tolist()))
    return hits / (k * len(queries))
