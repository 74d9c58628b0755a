"""Nearest documents by L1 (Manhattan) distance between topic vectors.

Two ways, one interface. ``exact`` scans all document thetas with numpy: memory-bound, its cost
grows with documents x topics (a few ms at 689 x 300, about 40 ms at 100,000 x 300), recall 1
by construction; it scans in chunks of rows so its temporary array stays small. ``annoy`` builds
random-projection trees (metric 'manhattan'); it pays off only for large collections, and only
with enough trees and a deep enough search (``search_k``) to keep recall@10 >= 0.99 against the
exact scan: at 100,000 x 300 (the default topics), 100 trees and search_k = 10,000 per result
gave 0.9955 at about 15 ms a query, 5,000 per result only 0.9745 (`python -m core bench-index
--topics 300`; reports/bench.md). ``auto`` picks exact while documents x topics stays below
``ANNOY_THRESHOLD``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from annoy import AnnoyIndex

ANNOY_THRESHOLD = 2_000_000  # documents x topics
METHODS = ("auto", "exact", "annoy")
EXACT_CHUNK_ROWS = 8192


@dataclass(frozen=True)
class IndexParams:
    method: str = "auto"
    n_trees: int = 100
    search_k_per_result: int = 10_000

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.n_trees < 1 or self.search_k_per_result < 1:
            raise ValueError("n_trees and search_k_per_result must be >= 1")

    def resolve(self, num_documents: int, num_topics: int) -> str:
        if self.method != "auto":
            return self.method
        return "annoy" if num_documents * num_topics >= ANNOY_THRESHOLD else "exact"


class NeighborIndex:
    """Finds the k documents nearest to a theta; rows are document positions."""

    def __init__(self, thetas: np.ndarray, params: IndexParams | None = None) -> None:
        thetas = np.ascontiguousarray(thetas, dtype=np.float32)
        if thetas.ndim != 2 or len(thetas) == 0:
            raise ValueError(f"thetas must be a non-empty 2-D array, got shape {thetas.shape}")
        self.thetas = thetas
        self.params = params or IndexParams()
        self.method = self.params.resolve(*thetas.shape)
        self._annoy: AnnoyIndex | None = None

    def build(self) -> NeighborIndex:
        if self.method == "annoy" and self._annoy is None:
            index = AnnoyIndex(self.thetas.shape[1], "manhattan")
            for row, theta in enumerate(self.thetas):
                index.add_item(row, theta)
            index.build(self.params.n_trees, n_jobs=-1)
            self._annoy = index
        return self

    def query(
        self, theta: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rows, L1 distances) of the k nearest documents, nearest first.

        ``allowed`` (boolean per row) hides documents, e.g. ones the junk filter removed.
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        theta = np.asarray(theta, dtype=np.float32)
        if theta.shape != (self.thetas.shape[1],):
            raise ValueError(f"theta must have shape ({self.thetas.shape[1]},), got {theta.shape}")
        if self.method == "annoy":
            return self._query_annoy(theta, k, allowed)
        return self._query_exact(theta, k, allowed)

    def _query_exact(self, theta, k, allowed):
        distances = l1_to_rows(self.thetas, theta)
        if allowed is not None:
            distances = np.where(allowed, distances, np.inf)
        k = min(k, int(np.isfinite(distances).sum()))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        rows = np.argpartition(distances, k - 1)[:k]
        rows = rows[np.lexsort((rows, distances[rows]))]
        return rows.astype(np.int64), distances[rows]

    def _query_annoy(self, theta, k, allowed):
        self.build()
        hidden = 0 if allowed is None else int((~allowed).sum())
        wanted = k + hidden
        rows, distances = self._annoy.get_nns_by_vector(
            theta, wanted, search_k=wanted * self.params.search_k_per_result, include_distances=True
        )
        rows, distances = np.asarray(rows, dtype=np.int64), np.asarray(distances, np.float32)
        if allowed is not None:
            keep = allowed[rows]
            rows, distances = rows[keep], distances[keep]
        return rows[:k], distances[:k]

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.save(directory / "thetas.npy", self.thetas)
        (directory / "index.json").write_text(json.dumps(asdict(self.params)))
        if self.method == "annoy":
            self.build()
            self._annoy.save(str(directory / "index.ann"))

    @classmethod
    def load(cls, directory: Path) -> NeighborIndex:
        """Loads memory-mapped: app replicas share the pages."""
        params = IndexParams(**json.loads((directory / "index.json").read_text()))
        index = cls(np.load(directory / "thetas.npy", mmap_mode="r"), params)
        if index.method == "annoy":
            index._annoy = AnnoyIndex(index.thetas.shape[1], "manhattan")
            index._annoy.load(str(directory / "index.ann"))
        return index


def l1_to_rows(rows: np.ndarray, vector: np.ndarray, chunk: int = EXACT_CHUNK_ROWS) -> np.ndarray:
    """L1 distance from ``vector`` to every row, ``chunk`` rows at a time: the temporary
    difference array stays a few MB instead of a copy of the whole matrix (800 MB at 1M x 200)."""
    distances = np.empty(len(rows), dtype=np.float32)
    for start in range(0, len(rows), chunk):
        np.abs(rows[start : start + chunk] - vector).sum(
            axis=1, out=distances[start : start + chunk]
        )
    return distances


def recall_at_k(index: NeighborIndex, queries: np.ndarray, k: int = 10) -> float:
    """Share of the exact L1 top-k that ``index`` returns, averaged over queries."""
    exact = NeighborIndex(index.thetas, IndexParams(method="exact"))
    hits = 0
    for theta in queries:
        truth = set(exact.query(theta, k)[0].tolist())
        hits += len(truth & set(index.query(theta, k)[0].tolist()))
    return hits / (k * len(queries))
