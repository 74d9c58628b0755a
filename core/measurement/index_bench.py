"""Index benchmark: recall@10 against a full L1 scan, latency, build time and memory of every
index backend, side by side on the same thetas in one run.

Main rows use realistic thetas: rows resampled from a built model's document thetas, each a
random document's theta blended with a second one's (weight drawn from U(0, 0.1)), every entry
multiplied by lognormal(0, 1) noise, renormalized and denormals flushed. Like real thetas they
are concentrated (top topic about 0.9 of the mass, a handful of entries above 1e-3). The harder
row uses Dirichlet(0.1) thetas, far denser than any real ones. Queries are fresh draws from the
same generator.

Next to the served backend (``core.serving.index``) stand annoy (the previous default for large
collections) and faiss's exact flat scan and HNSW graph, both with METRIC_L1, wrapped in the same
protocol here: they are measured, not served (each was slower than ``bounds`` on every row, or
missed recall).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
from annoy import AnnoyIndex

from core.serving.index import (
    BACKENDS,
    IndexParams,
    NeighborBackend,
    TopicBoundsSearch,
    l1_distances,
    nearest,
    query_theta,
    scan_nearest,
    stored_thetas,
)

K = 10  # neighbours per query, as the app shows
NOISE_SIGMA = 1.0
MAX_BLEND = 0.1


def realistic_thetas(base: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` thetas resampled from ``base`` (a built model's document thetas) with noise."""
    base = np.asarray(base, dtype=np.float32)
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0, MAX_BLEND, size=(n, 1)).astype(np.float32)
    rows = (1 - weight) * base[rng.integers(len(base), size=n)]
    rows += weight * base[rng.integers(len(base), size=n)]
    return with_noise(rows, rng)


def with_noise(thetas: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``thetas`` (float32, changed in place) times lognormal noise, renormalized, as stored:
    drawn a block at a time so memory stays flat."""
    for start in range(0, len(thetas), 65536):
        block = thetas[start : start + 65536]
        noise = rng.standard_normal(size=block.shape, dtype=np.float32)
        noise *= NOISE_SIGMA
        block *= np.exp(noise, out=noise)
        block /= block.sum(axis=1, keepdims=True)
    return stored_thetas(thetas)


def dirichlet_thetas(n: int, topics: int, seed: int) -> np.ndarray:
    """Dirichlet(0.1) thetas: most mass on a few dozen topics, far denser than real ones."""
    rng = np.random.default_rng(seed)
    return stored_thetas(rng.dirichlet(np.full(topics, 0.1), size=n))


class AnnoySearch:
    """annoy's random-projection trees (metric 'manhattan'), the project's large-collection
    index before ``bounds``; approximate: recall depends on the trees and ``search_k``."""

    name: ClassVar[str] = "annoy"
    N_TREES = 100
    SEARCH_K_PER_RESULT = 10_000

    def __init__(self, thetas: np.ndarray, annoy: AnnoyIndex) -> None:
        self.thetas, self.annoy = thetas, annoy

    @classmethod
    def build(cls, thetas: np.ndarray, params: IndexParams) -> AnnoySearch:
        annoy = AnnoyIndex(thetas.shape[1], "manhattan")
        for row, theta in enumerate(thetas):
            annoy.add_item(row, theta)
        annoy.build(cls.N_TREES, n_jobs=-1)
        return cls(thetas, annoy)

    def save(self, directory: Path) -> None:
        self.annoy.save(str(directory / "index.ann"))

    @classmethod
    def write(cls, directory: Path, thetas: np.ndarray) -> None:
        cls.build(thetas, IndexParams()).save(directory)

    @classmethod
    def load(cls, directory: Path, thetas: np.ndarray, params: IndexParams) -> AnnoySearch:
        annoy = AnnoyIndex(thetas.shape[1], "manhattan")
        annoy.load(str(directory / "index.ann"))
        return cls(thetas, annoy)

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = k + (0 if allowed is None else int(np.count_nonzero(~allowed)))
        found = self.annoy.get_nns_by_vector(
            theta, wanted, search_k=wanted * self.SEARCH_K_PER_RESULT
        )
        rows = np.asarray(found, dtype=np.int64)
        return nearest(rows, l1_distances(self.thetas[rows], theta), k, allowed)


class FaissSearch:
    """faiss with METRIC_L1 in the backend protocol (import only when measured)."""

    name: ClassVar[str] = "faiss-flat"

    def __init__(self, thetas: np.ndarray, index) -> None:
        self.thetas, self.index = thetas, index

    @classmethod
    def empty_index(cls, topics: int):
        import faiss

        return faiss.IndexFlat(topics, faiss.METRIC_L1)

    @classmethod
    def build(cls, thetas: np.ndarray, params: IndexParams) -> FaissSearch:
        index = cls.empty_index(thetas.shape[1])
        index.add(thetas)
        return cls(thetas, index)

    def save(self, directory: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(directory / f"{self.name}.faiss"))

    @classmethod
    def write(cls, directory: Path, thetas: np.ndarray) -> None:
        cls.build(thetas, IndexParams()).save(directory)

    @classmethod
    def load(cls, directory: Path, thetas: np.ndarray, params: IndexParams) -> FaissSearch:
        import faiss

        return cls(thetas, faiss.read_index(str(directory / f"{cls.name}.faiss")))

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = min(len(self.thetas), k + (0 if allowed is None else int((~allowed).sum())))
        _, rows = self.index.search(theta[None, :], wanted)
        rows = rows[0][rows[0] >= 0]
        return nearest(rows, l1_distances(self.thetas[rows], theta), k, allowed)


class FaissHnswSearch(FaissSearch):
    """faiss HNSW graph (32 links per node) with METRIC_L1; ``ef_search`` trades recall."""

    name: ClassVar[str] = "faiss-hnsw"
    LINKS = 32

    @classmethod
    def empty_index(cls, topics: int):
        import faiss

        return faiss.IndexHNSWFlat(topics, cls.LINKS, faiss.METRIC_L1)

    def with_ef_search(self, ef_search: int) -> FaissHnswSearch:
        self.index.hnsw.efSearch = ef_search
        return self


class HalfBoundsSearch(TopicBoundsSearch):
    """``bounds`` over thetas stored as float16 (half the memory of the thetas and their
    topic-major copy), read into float32 as it scans: exact over the rounded thetas, so its
    recall against the float32 scan is what rounding costs."""

    name: ClassVar[str] = "bounds-float16"

    @classmethod
    def build(cls, thetas: np.ndarray, params: IndexParams) -> HalfBoundsSearch:
        half = thetas.astype(np.float16)
        return cls(half, np.ascontiguousarray(half.T))

    def save(self, directory: Path) -> None:
        np.save(directory / "thetas.npy", self.thetas)
        super().save(directory)

    @classmethod
    def write(cls, directory: Path, thetas: np.ndarray) -> None:
        cls.build(thetas, IndexParams()).save(directory)


COMPARED: dict[str, type[NeighborBackend]] = {
    **BACKENDS,
    **{backend.name: backend for backend in (AnnoySearch, FaissSearch, FaissHnswSearch)},
}
# measured too, but outside the backends' contract: its distances are the rounded thetas'
MEASURED = {**COMPARED, HalfBoundsSearch.name: HalfBoundsSearch}


@dataclass(frozen=True)
class Contender:
    """One measured configuration: a backend, its parameters, and a label for the report."""

    method: str
    label: str
    exact: bool
    ef_search: int | None = None


CONTENDERS = (
    Contender("bounds", "bounds", exact=True),
    Contender("bounds-float16", "bounds over float16 thetas", exact=False),
    Contender("faiss-flat", "faiss IndexFlat L1", exact=True),
    Contender("annoy", "annoy 100 trees, search_k 10,000/result", exact=False),
    Contender("faiss-hnsw", "faiss HNSW32 L1, efSearch 64", exact=False, ef_search=64),
    Contender("faiss-hnsw", "faiss HNSW32 L1, efSearch 256", exact=False, ef_search=256),
)


def _single_thread() -> None:
    """Queries on one core, as the target says: faiss would otherwise use OpenMP threads."""
    import faiss

    faiss.omp_set_num_threads(1)


def measure(
    thetas: np.ndarray,
    probes: np.ndarray,
    contenders: Sequence[Contender] = CONTENDERS,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """One row per contender on the same thetas: recall@10 against the full scan, wall and CPU
    p50/p99 per query (one thread), build seconds, and memory (its saved files, which serving
    maps). Contenders of one method share one build. The first row is the full scan itself
    (numpy, chunked: the project's exact index before ``bounds``), timed while it finds the
    truth."""
    say = progress or (lambda _: None)
    say(f"  numpy full scan at {len(thetas):,} x {thetas.shape[1]}")
    truth, walls, cpus = [], [], []
    for theta in probes:
        wall, cpu = time.perf_counter(), time.thread_time()
        found, _ = scan_nearest(thetas, theta, K)
        cpus.append((time.thread_time() - cpu) * 1000)
        walls.append((time.perf_counter() - wall) * 1000)
        truth.append(set(found.tolist()))
    scan = Contender("scan", "numpy full scan", exact=True)
    rows = [_row(scan, thetas, 1.0, walls, cpus, 0.0, thetas.nbytes / 1e6)]
    probes = np.stack([query_theta(theta, thetas.shape[1]) for theta in probes])
    built = {}
    for contender in contenders:
        say(f"  {contender.label} at {len(thetas):,} x {thetas.shape[1]}")
        backend_type = MEASURED[contender.method]
        if contender.method.startswith("faiss"):
            _single_thread()
        if contender.method not in built:
            started = time.perf_counter()
            backend = backend_type.build(thetas, IndexParams())
            built.clear()  # one big index in memory at a time
            built[contender.method] = (backend, time.perf_counter() - started)
        backend, build_seconds = built[contender.method]
        if contender.ef_search is not None:
            backend.with_ef_search(contender.ef_search)
        walls, cpus, hits = [], [], 0
        for theta, expected in zip(probes, truth, strict=True):
            wall, cpu = time.perf_counter(), time.thread_time()
            found, _ = backend.query(theta, K, None)
            cpus.append((time.thread_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
            hits += len(expected & set(found.tolist()))
        recall = hits / (K * len(probes))
        memory = saved_size_mb(backend, thetas)
        rows.append(_row(contender, thetas, recall, walls, cpus, build_seconds, memory))
    return rows


def _row(
    contender: Contender,
    thetas: np.ndarray,
    recall: float,
    walls: list[float],
    cpus: list[float],
    build_seconds: float,
    memory_mb: float,
) -> dict:
    return {
        "method": contender.method,
        "label": contender.label,
        "exact": contender.exact,
        "documents": len(thetas),
        "topics": thetas.shape[1],
        "recall@10": round(recall, 4),
        "p50_ms": round(float(np.percentile(walls, 50)), 3),
        "p99_ms": round(float(np.percentile(walls, 99)), 3),
        "cpu_p50_ms": round(float(np.percentile(cpus, 50)), 3),
        "build_s": round(build_seconds, 2),
        "memory_mb": round(memory_mb, 2),
    }


def saved_size_mb(backend: NeighborBackend, thetas: np.ndarray) -> float:
    """What serving maps into memory: the thetas plus the backend's own files (a backend
    that stores its own thetas counts those instead)."""
    with tempfile.TemporaryDirectory() as directory:
        backend.save(Path(directory))
        files = {p.name: p.stat().st_size for p in Path(directory).iterdir()}
    return (files.pop("thetas.npy", thetas.nbytes) + sum(files.values())) / 1e6


def run_index_benchmark(
    documents: int,
    topics: int,
    queries: int,
    contenders: Sequence[Contender] = CONTENDERS,
    base: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """Every contender on realistic thetas resampled from ``base`` (a built model's document
    thetas, if given; their topic count wins over ``topics``) and on Dirichlet thetas; each row
    names its kind of thetas."""
    kinds: dict[str, Callable[[int, int], np.ndarray]] = {}
    if base is not None:
        kinds["realistic"] = lambda n, seed: realistic_thetas(base, n, seed)
    kinds["dirichlet"] = lambda n, seed: dirichlet_thetas(n, topics, seed)
    rows = []
    for kind, draw in kinds.items():
        measured = measure(draw(documents, 0), draw(queries, 1), contenders, progress=progress)
        rows += [{"thetas": kind, **row} for row in measured]
    return rows
