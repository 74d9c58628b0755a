"""Benchmarks of the active model: query latency, and vectorization against raw predict.

Run with ``python -m core bench``; the numbers in issue notes come from here, not from tests.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from core.engine import Query
from core.service import Service
from core.vision import ImageVectorizer, load_image, measure_throughput

TEXT_QUERIES = [
    "собака",
    "horse",
    "цветы в саду",
    "red apple",
    "рыба",
    "bird on a branch",
    "машина",
    "violin music",
    "корова на ферме",
    "space rocket",
]


def query_latency(service: Service, photos: list[Path], repeats: int) -> dict[str, dict]:
    """p50/p99 milliseconds per query kind, engine already loaded and warmed up."""
    images = [photo.read_bytes() for photo in photos]
    kinds = {
        "text": [Query(text=t) for t in TEXT_QUERIES],
        "image": [Query(image=image) for image in images],
        "text+image": [Query(text=t, image=i) for t, i in zip(TEXT_QUERIES, images, strict=False)],
    }
    for queries in kinds.values():
        service.search(queries[0], k=10)
    rows = {}
    for kind, queries in kinds.items():
        timings = []
        for _ in range(repeats):
            for query in queries:
                started = time.perf_counter()
                service.search(query, k=10)
                timings.append((time.perf_counter() - started) * 1000)
        rows[kind] = {
            "queries": len(timings),
            "p50_ms": round(float(np.percentile(timings, 50)), 2),
            "p99_ms": round(float(np.percentile(timings, 99)), 2),
        }
    return rows


def vectorization_throughput(service: Service, photos: list[Path], batch_size: int = 32) -> dict:
    """Vectorizer images/s from files with an empty cache, next to raw predict on the same batch."""
    backbone = service.vectorizer.backbone
    raw = measure_throughput(backbone, [load_image(p) for p in photos], batch_size)
    with tempfile.TemporaryDirectory() as cache:
        vectorizer = ImageVectorizer(backbone, Path(cache), batch_size)
        started = time.perf_counter()
        vectorizer.probabilities(photos)
        seconds = time.perf_counter() - started
    return {
        "images": len(photos),
        "backbone": backbone.name,
        "raw_predict_images_per_s": round(raw["images_per_second"], 1),
        "vectorizer_images_per_s": round(len(photos) / seconds, 1),
        "ratio": round(len(photos) / seconds / raw["images_per_second"], 3),
    }


def run_benchmark(service: Service, photos: int = 128, repeats: int = 20) -> dict:
    engine = service.active().engine
    paths = [Path(doc["image"]) for doc in engine.documents if doc.get("image")][:photos]
    return {
        "model_version": engine.version_name,
        "documents": len(engine.documents),
        "index_method": engine.index.method,
        "query_latency": query_latency(service, paths[:10], repeats),
        "vectorization": vectorization_throughput(service, paths),
    }
