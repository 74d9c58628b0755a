"""Photos from outside every collection (``data/heldout_photos``) searched alone on the active
version of the data dir, by the photo search before its predicted terms were its annotation
(``PHOTO_SEARCH_BEFORE``) and by today's default: precision at 5 judged by each photo's accepted
words, and milliseconds per search (the best of 3, after a warm-up). A check, not a target: the
held-out photos are never tuned to.

    TOPICSEARCH_DATA_DIR=... python scripts/measure_photo_search.py [-v]
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.measurement.eval_search import PHOTO_SEARCH_BEFORE
from core.reading.text import TAG, TEXT
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.concepts import document_words
from core.serving.ranking import RankingParams
from core.serving.service import Service
from core.settings import load_settings

FOLDER = Path(__file__).resolve().parents[1] / "data" / "heldout_photos"
PHOTO_SETTINGS = ("photo_tags", "photo_words", "photo_as_annotated")


def main(verbose: bool) -> None:
    service = Service(load_settings())
    engine = service.active().engine
    photos = json.loads((FOLDER / "photos.json").read_text())["photos"]
    rankings = {
        label: replace(engine.ranking, **{f: getattr(source, f) for f in PHOTO_SETTINGS})
        for label, source in (("before", PHOTO_SEARCH_BEFORE), ("default", RankingParams()))
    }
    queries = [Query(image=(FOLDER / photo["file"]).read_bytes()) for photo in photos]
    for query in queries[:3]:  # tables built on first use
        for ranking in rankings.values():
            engine.search(SearchRequest(query, k=5, ranking=ranking))
    precision = {label: [] for label in rankings}
    milliseconds = {label: [] for label in rankings}
    for photo, query in zip(photos, queries, strict=True):
        accepted = {service.processor.word_token(w) for w in photo["words"]} - {None}
        line = [photo["file"]]
        for label, ranking in rankings.items():
            best = float("inf")
            for _ in range(3):
                start = time.perf_counter()
                hits = engine.search(SearchRequest(query, k=5, ranking=ranking)).hits
                best = min(best, time.perf_counter() - start)
            milliseconds[label].append(1000 * best)
            good = sum(
                bool(document_words(h.text, h.tags, service.processor) & accepted) for h in hits
            )
            precision[label].append(good / 5)
            line.append(f"{label} {good}")
        if verbose:
            found = engine.annotation.annotate(AnnotationRequest(query, [TAG, TEXT], 5))
            line.append("annotated: " + " ".join(a.display for m in found for a in found[m]))
        print(" | ".join(line))
    for label in rankings:
        shares = precision[label]
        print(
            f"{label}: P@5 by accepted words {statistics.mean(shares):.3f}, photos with a right"
            f" hit {sum(p > 0 for p in shares)} of {len(shares)}; ms per search median"
            f" {statistics.median(milliseconds[label]):.1f}"
        )


if __name__ == "__main__":
    main("-v" in sys.argv)
