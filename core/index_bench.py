"""Index benchmark: recall@10 against exact L1, latency and build cost on synthetic thetas.

Synthetic thetas are sparse Dirichlet draws (most mass on a few topics), the shape real document
thetas have after sparsing; queries are fresh draws from the same distribution.
"""

from __future__ import annotations

import resource
import time

import numpy as np

from core.index import IndexParams, NeighborIndex, recall_at_k

CONFIGURATIONS = (
    IndexParams(method="exact"),
    IndexParams(method="annoy", n_trees=10, search_k_per_result=100),
    IndexParams(method="annoy", n_trees=50, search_k_per_result=2000),
    IndexParams(method="annoy"),
)


def synthetic_thetas(n: int, topics: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.full(topics, 0.1), size=n).astype(np.float32)


def run_index_benchmark(documents: int, topics: int, queries: int, k: int = 10) -> list[dict]:
    """One row per configuration: method, parameters, recall@k, latency, build time, memory."""
    thetas = synthetic_thetas(documents, topics, seed=0)
    probes = synthetic_thetas(queries, topics, seed=1)
    rows = []
    for params in CONFIGURATIONS:
        rss_before = _max_rss_mb()
        started = time.perf_counter()
        index = NeighborIndex(thetas, params).build()
        build_seconds = time.perf_counter() - started
        latencies = []
        for theta in probes:
            started = time.perf_counter()
            index.query(theta, k)
            latencies.append((time.perf_counter() - started) * 1000)
        rows.append(
            {
                "method": params.method,
                "n_trees": params.n_trees if params.method == "annoy" else None,
                "search_k_per_result": params.search_k_per_result
                if params.method == "annoy"
                else None,
                "documents": documents,
                "topics": topics,
                f"recall@{k}": round(recall_at_k(index, probes, k), 4),
                "p50_ms": round(float(np.percentile(latencies, 50)), 3),
                "p99_ms": round(float(np.percentile(latencies, 99)), 3),
                "build_s": round(build_seconds, 2),
                "peak_rss_growth_mb": round(_max_rss_mb() - rss_before, 1),
            }
        )
    return rows


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
