"""Milliseconds per text query of the sentence and attribute sets on a built model version,
for each ranking named on the command line (issue 21: the sentence levers must keep search fast).

Every sentence of ``data/eval/sentences.json`` and every ``--pair-stride``-th attribute + object
query of ``data/eval/attributes.json``, both languages, is searched through the active version's
engine (``SearchEngine.search``, k=10): one warm-up pass, then ``--repeats`` timed passes; the
figures are the median and 95th percentile over all timed queries, in milliseconds.

Usage: ``TOPICSEARCH_DATA_DIR=... python scripts/time_sentence_queries.py default
head_bonus=1 rarity=0.5`` (a ranking is ``default`` or settings of ``RankingParams`` joined by
commas: ``head_by_case=1,head_bonus=1``).
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import suppress
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from core.measurement.concepts import attribute_query, load_attributes, load_sentences
from core.serving.answers import Query, SearchRequest
from core.serving.concepts import LANGUAGES, load_concepts
from core.serving.inference import NothingRecognized
from core.serving.ranking import RankingParams
from core.serving.service import Service
from core.settings import load_settings


def ranking_of(spec: str) -> RankingParams:
    """``default`` or ``name=value,...`` over ``RankingParams()``."""
    if spec == "default":
        return RankingParams()
    types = {
        field.name: type(getattr(RankingParams(), field.name)) for field in fields(RankingParams)
    }
    changes = {}
    for item in spec.split(","):
        name, value = item.split("=")
        kind = types[name]
        changes[name] = bool(int(value)) if kind is bool else kind(value)
    return replace(RankingParams(), **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rankings", nargs="+", help="'default' or name=value,... per ranking")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pair-stride", type=int, default=10, help="every n-th attribute pair")
    args = parser.parse_args()
    service = Service(load_settings())
    engine = service.active().engine
    processor = service.processor
    queries = [getattr(s, lang) for s in load_sentences() for lang in LANGUAGES]
    attributes, _ = load_attributes()
    pairs = [(a, c) for a in attributes for c in load_concepts()][:: args.pair_stride]
    queries += [
        attribute_query(attribute, concept, lang, processor)
        for attribute, concept in pairs
        for lang in LANGUAGES
    ]
    print(f"{len(queries)} queries on {engine.version_name} ({len(engine.documents)} documents)")
    for spec in args.rankings:
        ranking = ranking_of(spec)
        timed = []
        for repeat in range(args.repeats + 1):
            for text in queries:
                start = time.perf_counter()
                with suppress(NothingRecognized):
                    engine.search(SearchRequest(Query(text=text), 10, ranking=ranking))
                if repeat:
                    timed.append(1000 * (time.perf_counter() - start))
        p50, p95 = np.percentile(timed, [50, 95])
        print(f"{spec}: median {p50:.2f} ms, p95 {p95:.2f} ms per query ({len(timed)} timed)")


if __name__ == "__main__":
    main()
