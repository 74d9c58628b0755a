"""Benchmarks of the active model: query latency, and vectorization against raw predict.

Run with ``python -m core bench``; the numbers in issue notes come from here, not from tests.
"""

from __future__ import annotations

import io
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


def unseen_photos(photos: list[Path], count: int) -> list[bytes]:
    """Re-encoded copies with distinct bytes, so every query runs the CNN (no cache hit)."""
    images = [load_image(p) for p in photos]
    encoded = []
    for number in range(count):
        buffer = io.BytesIO()
        images[number % len(images)].save(
            buffer, "JPEG", quality=60 + number % 40, comment=str(number).encode()
        )
        encoded.append(buffer.getvalue())
    return encoded


def query_latency(service: Service, photos: list[Path], repeats: int) -> dict[str, dict]:
    """p50/p99 milliseconds per query kind, engine loaded and warmed up.

    Photo queries use photos the vectorizer has not seen, so the CNN runs every time.
    """
    count = len(TEXT_QUERIES) * repeats
    fresh = unseen_photos(photos, 2 * count + 1)
    kinds = {
        "text": [Query(text=TEXT_QUERIES[n % len(TEXT_QUERIES)]) for n in range(count)],
        "image": [Query(image=fresh[n]) for n in range(count)],
        "text+image": [
            Query(text=TEXT_QUERIES[n % len(TEXT_QUERIES)], image=fresh[count + n])
            for n in range(count)
        ],
    }
    service.search(Query(text=TEXT_QUERIES[0], image=fresh[-1]), k=10)
    rows = {}
    for kind, queries in kinds.items():
        timings = []
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
