"""Measures the search box (issue 20, problems 10 and 13) on a built model version:

* duplicates: distinct captions among the top 5 of every concept query (``data/eval/concepts.json``,
  English and Russian), with near-identical documents shown one by one and collapsed, and P@5 of
  both (``core.measurement.concepts``);
* exclusion: for pairs "concept -word", results (top 5 and top 12) that contain the excluded word
  in either language (judged by the concepts' rule: caption and original tags), and P@5 with
  and without the exclusion, judged by the rest: the concept's documents without that word.

Usage: ``TOPICSEARCH_DATA_DIR=... python scripts/measure_searchbox.py``.
"""

from __future__ import annotations

import json

import numpy as np

from core.measurement.concepts import (
    LANGUAGES,
    engine_words,
    load_concepts,
    precision_at,
    relevant_rows,
)
from core.reading.text import TextProcessor
from core.serving.answers import Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.serving.service import Service
from core.serving.similar import caption_key
from core.settings import load_settings

# (concept judged, query, excluded word; the excluded concept's words in both languages)
EXCLUSIONS = [
    ("flower", "flower -red", ("red", "красный")),
    ("flower", "цветок НЕ жёлтый", ("yellow", "жёлтый")),
    ("fruit", "fruit -apple", ("apple", "яблоко")),
    ("fruit", "фрукты -банан", ("banana", "банан")),
    ("bird", "bird NOT duck", ("duck", "утка")),
    ("fish", "fish -shark", ("shark", "акула")),
    ("cat", "cat -lion", ("lion", "лев")),
    ("car", "car -red", ("red", "красный")),
    ("christmas", "рождество -ёлка", ("tree", "ёлка", "ель")),
    ("insect", "insect -butterfly", ("butterfly", "бабочка")),
]


def main() -> None:
    service = Service(load_settings())
    active = service.active()
    engine, processor = active.engine, TextProcessor()
    words = engine_words(engine, processor)
    concepts = {concept.id: concept for concept in load_concepts()}

    def hits(text: str, k: int, collapse: bool = True) -> list:
        try:
            result = service.search(
                SearchRequest(Query(text=text), k, collapse_similar=collapse), active=active
            )
            return result.hits
        except NothingRecognized:
            return []

    duplicates = {"shown one by one": [], "collapsed": []}
    precision = {"shown one by one": [], "collapsed": []}
    for concept in concepts.values():
        relevant = relevant_rows(concept, words, processor)
        for language in LANGUAGES:
            for name, collapse in (("shown one by one", False), ("collapsed", True)):
                top = hits(concept.query(language), 5, collapse)
                duplicates[name].append(len({caption_key(hit.text) for hit in top}))
                if relevant:
                    precision[name].append(precision_at([hit.row for hit in top], relevant))
    report = {
        "queries": len(duplicates["collapsed"]),
        "distinct captions in the top 5 (mean)": {
            name: round(float(np.mean(counts)), 3) for name, counts in duplicates.items()
        },
        "queries whose top 5 repeats a caption": {
            name: sum(count < 5 for count in counts) for name, counts in duplicates.items()
        },
        "P@5": {name: round(float(np.mean(values)), 3) for name, values in precision.items()},
        "exclusions": [],
    }
    for concept_id, text, excluded_words in EXCLUSIONS:
        excluded = {processor.word_token(word) for word in excluded_words}
        relevant = relevant_rows(concepts[concept_id], words, processor)
        rest = {row for row in relevant if not words[row] & excluded}
        plain = hits(text.split()[0], 5)
        result = hits(text, 12)
        rows = [hit.row for hit in result]
        report["exclusions"].append(
            {
                "query": text,
                "containing the excluded word, top 5 without -> with": [
                    sum(bool(words[hit.row] & excluded) for hit in plain),
                    sum(bool(words[hit.row] & excluded) for hit in result[:5]),
                ],
                "containing it in the top 12": sum(bool(words[row] & excluded) for row in rows),
                "P@5 without -> with": [
                    round(precision_at([hit.row for hit in plain], rest), 3),
                    round(precision_at(rows, rest), 3),
                ],
            }
        )
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
