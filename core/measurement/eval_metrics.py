"""The quality metrics of ``python -m core eval``: annotation scores, retrieval ranks and
distances, each a plain function of arrays and token lists."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np


def per_word_scores(
    predicted: Sequence[Sequence[str]],
    truth: Sequence[Collection[str]],
    vocabulary: Collection[str],
) -> dict[str, float]:
    """Corel-5K per-word scores: mean precision, mean recall, F1 of the two, and N+.

    For each word of ``vocabulary``: precision = correct / times predicted (0 if never
    predicted), recall = correct / test documents that have it. N+ counts words with recall > 0.
    """
    if len(predicted) != len(truth):
        raise ValueError(f"{len(predicted)} predictions for {len(truth)} documents")
    if not vocabulary:
        raise ValueError("vocabulary is empty")
    made, correct, relevant = Counter(), Counter(), Counter()
    for words, true in zip(predicted, truth, strict=True):
        made.update(set(words))
        correct.update(set(words) & set(true))
        relevant.update(set(true))
    precision = [correct[w] / made[w] if made[w] else 0.0 for w in vocabulary]
    recall = [correct[w] / relevant[w] if relevant[w] else 0.0 for w in vocabulary]
    p, r = float(np.mean(precision)), float(np.mean(recall))
    return {
        "precision": p,
        "recall": r,
        "f1": 2 * p * r / (p + r) if p + r else 0.0,
        "n_plus": int(sum(value > 0 for value in recall)),
    }


def precision_per_image(
    predicted: Sequence[Sequence[str]], truth: Sequence[Collection[str]], k: int
) -> float:
    """Mean over documents of (correct among the first k predicted) / k."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    hits = [
        len(set(words[:k]) & set(true)) / k for words, true in zip(predicted, truth, strict=True)
    ]
    return float(np.mean(hits))


def target_ranks(distances: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1-based rank of each query's target among the columns of ``distances`` (queries x docs).

    A document tied with the target counts as ranked before it, so ties never flatter a method;
    a query with infinite distances everywhere (nothing recognized) ranks its target last.
    """
    distances = np.asarray(distances, dtype=np.float64)
    target_distance = distances[np.arange(len(distances)), targets]
    return (distances <= target_distance[:, None]).sum(axis=1)


def retrieval_scores(ranks: np.ndarray, cutoffs: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Recall@k (share of queries whose target is in the first k) and mean reciprocal rank."""
    ranks = np.asarray(ranks)
    scores = {f"recall@{k}": float(np.mean(ranks <= k)) for k in cutoffs}
    scores["mrr"] = float(np.mean(1.0 / ranks))
    return scores


def mean_average_precision(distances: np.ndarray, relevant: np.ndarray, k: int = 10) -> float:
    """mAP@k: AP@k = sum over the first k results of precision@i at relevant ones, divided by
    min(k, number of relevant documents); queries without relevant documents are left out."""
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    hits = np.take_along_axis(relevant, order, axis=1).astype(np.float64)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    counts = relevant.sum(axis=1)
    answered = counts > 0
    if not answered.any():
        raise ValueError("no query has a relevant document")
    ap = (precision_at * hits).sum(axis=1)[answered] / np.minimum(counts[answered], k)
    return float(np.mean(ap))


L1_BLOCK = 2**24  # entries of the queries x documents x dimensions block l1_distances holds


def l1_distances(queries: np.ndarray, documents: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Manhattan distances (queries x documents), at most ``chunk`` queries at a time and
    fewer when the block would exceed ``L1_BLOCK`` entries (1,000 CNN classes against a few
    thousand training photos: 256 queries at once took 7 GB), so memory stays bounded."""
    out = np.empty((len(queries), len(documents)))
    chunk = max(1, min(chunk, L1_BLOCK // max(1, documents.size)))
    for start in range(0, len(queries), chunk):
        block = queries[start : start + chunk, None, :] - documents[None, :, :]
        out[start : start + chunk] = np.abs(block).sum(axis=2)
    return out


def cosine_distances(queries: np.ndarray, documents: np.ndarray) -> np.ndarray:
    """1 - cosine similarity; a zero vector is at distance 1 from everything."""

    def unit(x: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norms, out=np.zeros_like(x, dtype=np.float64), where=norms > 0)

    return 1.0 - unit(queries) @ unit(documents).T
