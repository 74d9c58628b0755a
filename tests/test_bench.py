"""The performance benchmark's parts on tiny inputs: they measure what they say they measure."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from core.bench import percentiles, render_report, training_throughput
from core.index import IndexParams, l1_to_rows
from core.index_bench import run_index_benchmark, synthetic_thetas
from core.model import ModelParams


def test_percentiles_summarize_the_timings():
    assert percentiles(list(range(1, 102))) == {
        "queries": 101,
        "p50_ms": 51.0,
        "p95_ms": 96.0,
        "p99_ms": 100.0,
    }


def test_chunked_exact_scan_gives_the_distances_of_a_whole_matrix_scan():
    rows = synthetic_thetas(1000, 12, seed=3)
    vector = rows[7]
    expected = np.abs(rows - vector).sum(axis=1)
    assert np.allclose(l1_to_rows(rows, vector, chunk=64), expected, atol=1e-6)


def test_index_benchmark_rows_report_recall_speed_and_size():
    # given a small synthetic collection and two configurations
    rows = run_index_benchmark(
        800,
        16,
        queries=20,
        configurations=(IndexParams("exact"), IndexParams("annoy", 5, 10)),
    )
    exact, annoy = rows
    # then the exact scan's recall is 1 and its size is the theta matrix (800 x 16 float32)
    assert exact["recall@10"] == 1.0
    assert exact["size_mb"] == pytest.approx(800 * 16 * 4 / 1e6, abs=0.05)
    # and annoy is measured against it, with trees on top of the thetas
    assert 0 < annoy["recall@10"] <= 1.0 and annoy["n_trees"] == 5
    assert annoy["size_mb"] > exact["size_mb"]
    assert all(row["queries_per_s"] > 0 for row in rows)


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
    # given measurements where the latency and vectorization targets are missed
    latency = {"text": {"queries": 1, "p50_ms": 12.5, "p95_ms": 13.0, "p99_ms": 14.0}}
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
            "ours_s_per_pass": 1.0,
            "ours_tokens_per_s": 100,
            "plain_s_per_pass": 0.5,
            "plain_tokens_per_s": 200,
            "overhead_ratio": 2.0,
        },
        "latency_builtin": {"documents": 10, "index": "exact", "latency": latency},
        "latency_scaled": [
            {
                "documents": 100_000,
                "index": "annoy",
                "build_s": 1.0,
                "size_mb": 2.0,
                "recall@10": 0.995,
                "latency": latency,
            }
        ],
        "index": [
            {
                "method": "annoy",
                "n_trees": 100,
                "search_k_per_result": 10_000,
                "documents": 100_000,
                "topics": 5,
                "recall@10": 0.98,
                "p50_ms": 1.0,
                "p99_ms": 2.0,
                "queries_per_s": 900.0,
                "build_s": 3.0,
                "size_mb": 4.0,
            }
        ],
    }
    # when rendered, then each missed target says by how much
    text = render_report(results, "python -m core bench")
    assert "12.5 ms: **missed by 2.50 ms**" in text
    assert "70%: **missed by 0.10**" in text
    assert "`annoy`: 0.98: **missed by 0.0100**" in text
