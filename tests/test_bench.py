"""The performance benchmark's parts on tiny inputs: they measure what they say they measure."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.measurement.bench import percentiles, render_report, training_throughput
from core.measurement.index_bench import (
    CONTENDERS,
    dirichlet_thetas,
    realistic_thetas,
    run_index_benchmark,
)
from core.serving.index import l1_scan
from core.serving.model import ModelParams


def test_percentiles_summarize_the_timings():
    assert percentiles(list(range(1, 102))) == {
        "queries": 101,
        "p50_ms": 51.0,
        "p95_ms": 96.0,
        "p99_ms": 100.0,
    }


def test_chunked_scan_gives_the_distances_of_a_whole_matrix_scan():
    rows = dirichlet_thetas(1000, 12, seed=3)
    vector = rows[7]
    expected = np.abs(rows - vector).sum(axis=1)
    assert np.array_equal(l1_scan(rows, vector, chunk=64), expected)


def test_realistic_thetas_are_concentrated_like_the_model_they_are_resampled_from():
    # given a model's thetas with nearly all mass on one topic
    base = np.random.default_rng(0).dirichlet(np.full(50, 0.01), size=100)
    rows = realistic_thetas(base, 2000, seed=1)
    # then the resampled rows are distributions, new (noise), and stay concentrated
    assert rows.shape == (2000, 50) and np.allclose(rows.sum(axis=1), 1, atol=1e-5)
    assert not any(np.array_equal(row, base_row) for row in rows[:50] for base_row in base)
    top_share = np.median(rows.max(axis=1))
    assert top_share > 0.7 and abs(top_share - np.median(base.max(axis=1))) < 0.15
    assert np.median(dirichlet_thetas(2000, 50, seed=1).max(axis=1)) < 0.5


def test_index_benchmark_measures_every_contender_on_both_kinds_of_thetas():
    # given a small collection of each kind and an exact and an approximate contender
    base = np.random.default_rng(0).dirichlet(np.full(16, 0.03), size=50)
    contenders = [c for c in CONTENDERS if c.method in ("bounds", "annoy")]
    rows = run_index_benchmark(800, 16, queries=20, contenders=contenders, base=base)
    # then every contender is measured on both, and the exact one has recall 1
    assert [(r["thetas"], r["method"]) for r in rows] == [
        ("realistic", "scan"),
        ("realistic", "bounds"),
        ("realistic", "annoy"),
        ("dirichlet", "scan"),
        ("dirichlet", "bounds"),
        ("dirichlet", "annoy"),
    ]
    assert all(r["recall@10"] == 1.0 for r in rows if r["method"] in ("scan", "bounds"))
    # and memory counts the thetas and the backend's own files (bounds: a topic-major copy)
    scan, bounds, annoy = rows[:3]
    assert scan["memory_mb"] == pytest.approx(800 * 16 * 4 / 1e6, abs=0.01)
    assert bounds["memory_mb"] == pytest.approx(2 * scan["memory_mb"], abs=0.01)
    assert annoy["memory_mb"] > scan["memory_mb"]
    assert all(r["p50_ms"] > 0 and r["cpu_p50_ms"] >= 0 for r in rows)


def test_training_throughput_compares_our_fit_with_plain_bigartm_on_the_same_tokens(tmp_path):
    # given 40 tiny documents in two modalities
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30)]
    tokens = [
        {
            "@text": Counter(rng.choice(words[:15] if n % 2 else words[15:], 6).tolist()),
            "@tag": Counter(["odd" if n % 2 else "even"]),
        }
        for n in range(40)
    ]
    params = ModelParams(num_topics=4, num_background_topics=1, passes=3)
    # when both are timed
    row = training_throughput(tokens, params, tmp_path)
    # then the tokens are counted once and both speeds are positive
    assert row["tokens"] == 40 * 7
    assert row["ours_tokens_per_s"] > 0 and row["plain_tokens_per_s"] > 0
    assert row["overhead_ratio"] == pytest.approx(
        row["plain_tokens_per_s"] / row["ours_tokens_per_s"], rel=0.02
    )


def test_report_states_missed_targets_and_by_how_much():
    # given measurements where the latency, training and vectorization targets are missed
    latency = {"text": {"queries": 1, "p50_ms": 12.5, "p95_ms": 13.0, "p99_ms": 14.0}}
    index_row = {
        "method": "bounds",
        "label": "bounds",
        "exact": True,
        "documents": 1_000_000,
        "topics": 5,
        "recall@10": 1.0,
        "p50_ms": 16.0,
        "p99_ms": 20.0,
        "cpu_p50_ms": 15.5,
        "build_s": 3.0,
        "memory_mb": 4.0,
    }
    results = {
        "collection_documents": 10,
        "params": {"num_topics": 5, "passes": 2},
        "text": {"documents": 10, "documents_per_s": 100.0},
        "vectorization": {
            "images": 10,
            "backbone": "b",
            "vectorizer_images_per_s": 7.0,
            "raw_predict_images_per_s": 10.0,
            "ratio": 0.7,
        },
        "training": {
            "documents": 10,
            "tokens": 100,
            "topics": 5,
            "processors": 2,
            "ours_s_per_pass": 1.5,
            "ours_cpu_s_per_pass": 3.0,
            "ours_tokens_per_s": 100,
            "plain_s_per_pass": 1.0,
            "plain_cpu_s_per_pass": 2.0,
            "plain_tokens_per_s": 150,
            "overhead_ratio": 1.5,
        },
        "latency_builtin": {"documents": 10, "index": "bounds", "latency": latency},
        "latency_scaled": [
            {"documents": 100_000, "index": "bounds", "build_s": 1.0, "latency": latency}
        ],
        "index": [
            {"thetas": "realistic", **index_row},
            {"thetas": "dirichlet", **index_row, "label": "annoy", "method": "annoy"},
            {"thetas": "dirichlet", **index_row, "recall@10": 0.98},
        ],
    }
    # when rendered, then each missed target says by how much
    text = render_report(results, "python -m core bench")
    assert "12.5 ms: **missed by 2.5 ms**" in text
    assert "1,000,000 realistic thetas: 16.0 ms (CPU 15.5 ms): **missed by 1 ms**" in text
    assert "1,000,000 dirichlet thetas: 0.98: **missed by 0.02**" in text
    assert "1.50 x its CPU time (wall time 1.50 x" in text and "**missed by 0.3 x**" in text
    assert "70%: **missed by 0.10**" in text
    # and the winner per row of thetas is the fastest backend with recall >= 0.99
    assert "- dirichlet, 1,000,000: annoy (15.5 ms, recall 1.0)." in text
