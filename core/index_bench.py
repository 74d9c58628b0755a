"""Index benchmark: recall@10 against exact L1, latency and build cost on synthetic thetas.

Synthetic thetas are sparse Dirichlet draws (most mass on a few topics), the shape real document
thetas have after sparsing; queries are fresh draws from the same distribution.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.index import IndexParams, NeighborIndex, recall_at_k

CONFIGURATIONS = (
    IndexParams(method="exact"),
    IndexParams(method="annoy", n_trees=10, search_k_per_result=100),
    IndexParams(method="annoy", n_trees=50, search_k_per_result=2000),
    IndexParams(method="annoy", n_trees=100, search_k_per_result=5000),
    IndexParams(method="annoy"),
)


def synthetic_thetas(n: int, topics: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(topics, 0.1), size=n).astype(np.float32)


def run_index_benchmark(
    documents: int,
    topics: int,
    queries: int,
    k: int = 10,
    configurations: Sequence[IndexParams] = CONFIGURATIONS,
) -> list[dict]:
    """One row per configuration: recall@k against the exact scan, latency, queries per second,
    build time and the size of the saved index (what serving maps into memory)."""
    thetas = synthetic_thetas(documents, topics, seed=0)
    probes = synthetic_thetas(queries, topics, seed=1)
    rows = []
    for params in configurations:
        started = time.perf_counter()
        index = NeighborIndex(thetas, params).build()
        build_seconds = time.perf_counter() - started
        latencies = []
        for theta in probes:
            started = time.perf_counter()
            index.query(theta, k)
            latencies.append((time.perf_counter() - started) * 1000)
        annoy = params.method == "annoy"
        rows.append(
            {
                "method": params.method,
                "n_trees": params.n_trees if annoy else None,
                "search_k_per_result": params.search_k_per_result if annoy else None,
                "documents": documents,
                "topics": topics,
                f"recall@{k}": round(recall_at_k(index, probes, k), 4),
                "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                "p99_ms": round(float(np.percentile(latencies, 99)), 3),
                "queries_per_s": round(1000 * len(latencies) / sum(latencies), 1),
                "build_s": round(build_seconds, 2),
                "size_mb": round(saved_size_mb(index), 1),
            }
        )
    return rows


def saved_size_mb(index: NeighborIndex) -> float:
    """What serving maps into memory: the size of the saved index files."""
    with tempfile.TemporaryDirectory() as directory:
        index.save(Path(directory))
        return sum(p.stat().st_size for p in Path(directory).iterdir()) / 1e6
