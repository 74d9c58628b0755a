"""How many of the words and hashtags Annotate suggests Search understands (issue 20).

Annotates every photo of the built-in collection and of ``tests/fixtures`` with the active model
(as the Annotate page does: 15 hashtags and 15 words), searches each suggestion as its link does
(``Annotation.query``), and counts those the search understands: no unknown word, some hits.

    TOPICSEARCH_DATA_DIR=... python scripts/suggestion_vocabulary.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.reading.collection import import_collection
from core.reading.text import TAG, TEXT
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.serving.service import Service
from core.settings import BUILTIN_COLLECTION, REPO_ROOT, load_settings

SUGGESTIONS = 15


def photos() -> dict[str, list[Path]]:
    collection = [d.image for d in import_collection(BUILTIN_COLLECTION).documents if d.image]
    fixtures = sorted((REPO_ROOT / "tests" / "fixtures").glob("*/*.jpg"))
    return {"built-in collection": collection, "tests/fixtures": fixtures}


def understood(service: Service, words: str, cache: dict[str, bool]) -> bool:
    if words not in cache:
        try:
            result = service.search(SearchRequest(Query(text=words), 5))
            cache[words] = bool(result.hits) and not any(result.query.unknown.values())
        except NothingRecognized:
            cache[words] = False
    return cache[words]


def main() -> None:
    service = Service(load_settings())
    cache: dict[str, bool] = {}
    for name, paths in photos().items():
        total = found = 0
        missed: set[str] = set()
        for path in paths:
            _, suggested = service.annotate(
                AnnotationRequest(Query(image=Path(path)), [TAG, TEXT], SUGGESTIONS)
            )
            for annotation in (a for found_words in suggested.values() for a in found_words):
                total += 1
                if understood(service, annotation.query, cache):
                    found += 1
                else:
                    missed.add(annotation.query)
        share = found / total if total else 1.0
        print(f"{name}: {len(paths)} photos, {total} suggestions, {found} understood ({share:.1%})")
        if missed:
            print(f"  not understood: {', '.join(sorted(missed))}")


if __name__ == "__main__":
    main()
