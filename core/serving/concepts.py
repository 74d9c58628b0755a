"""The concept queries of the concept-query benchmark (``data/eval/concepts.json``, rule in
``data/eval/CONCEPTS.md``) and their score, as serving can ask them of any version.

Each concept is asked once in English and once in Russian; a document is relevant when its
caption or its tags (twins read back as their tag) contain one of the concept's listed words,
compared as ``@text`` tokens. Precision@5 is divided by min(5, relevant documents).

The benchmark's phrases and its runs over collections are ``core.measurement.concepts``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.reading.text import TEXT, WORD_PATTERN, TextProcessor
from core.reading.twins import TagTwins, tag_twins
from core.serving.inference import NothingRecognized

CONCEPTS_FILE = Path(__file__).resolve().parents[2] / "data" / "eval" / "concepts.json"
LANGUAGES = ("en", "ru")
CUTOFF = 5
SECOND_CUTOFF = 10  # "the second five": precision@10 over concepts with at least 10 relevant


@dataclass(frozen=True)
class Concept:
    id: str
    en: str
    ru: str
    words: tuple[str, ...]

    def query(self, language: str) -> str:
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {LANGUAGES}, got {language!r}")
        return getattr(self, language)


Asker = Callable[[Concept, str], str]  # (concept, language) -> the query asked


def load_concepts(path: Path = CONCEPTS_FILE) -> list[Concept]:
    """The committed concepts; a concept without both queries or without words is an error."""
    concepts = []
    for row in json.loads(Path(path).read_text(encoding="utf-8"))["concepts"]:
        if not (row.get("en") and row.get("ru") and row.get("words")):
            raise ValueError(f"{path}: concept {row.get('id')!r} needs en, ru and words")
        concepts.append(Concept(row["id"], row["en"], row["ru"], tuple(row["words"])))
    return concepts


def document_words(
    text: str, tags: Iterable[str], processor: TextProcessor, twins: TagTwins | None = None
) -> set[str]:
    """The tokens a document is judged by: its caption's and its original tags' words."""
    twins = twins or tag_twins()
    words = set(processor.analyze(text).tokens[TEXT])
    for tag in tags:
        for word in WORD_PATTERN.findall(twins.original(tag).lower()):
            token = processor.word_token(word)
            if token is not None:
                words.add(token)
    return words


def concept_tokens(concept: Concept, processor: TextProcessor) -> set[str]:
    tokens = {processor.word_token(word.lower()) for word in concept.words}
    return {t for t in tokens if t is not None}


def relevant_rows(
    concept: Concept, words: Sequence[set[str]], processor: TextProcessor
) -> set[int]:
    wanted = concept_tokens(concept, processor)
    return {row for row, doc in enumerate(words) if doc & wanted}


def precision_at(ranked: Sequence[int], relevant: set[int], k: int = CUTOFF) -> float:
    """Relevant documents among the first k, divided by min(k, relevant documents)."""
    if not relevant:
        raise ValueError("no relevant documents")
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))


Ranker = Callable[[str, int], list[int]]
Judge = Callable[[Concept], set[int]]  # concept -> the rows relevant to it


def run_concepts(
    rank: Ranker,
    words: Sequence[set[str]],
    processor: TextProcessor,
    concepts: Sequence[Concept] | None = None,
    ask: Asker | None = None,
    judge: Judge | None = None,
    min_relevant: int = 1,
) -> dict:
    """Precision@5 per language of ``rank(query, k) -> rows`` over documents judged by
    ``words``; a query the model cannot read (``NothingRecognized``) scores 0. ``ask(concept,
    language)`` is the query asked (default: the concept's own); ``judge(concept)`` the relevant
    rows (default: the concept rule); a concept with fewer than ``min_relevant`` is left out.
    Precision@10 is reported over the concepts with at least 10 relevant documents."""
    concepts = load_concepts() if concepts is None else concepts
    ask = ask or Concept.query
    judge = judge or (lambda concept: relevant_rows(concept, words, processor))
    rows = []
    for concept in concepts:
        relevant = judge(concept)
        if not relevant or len(relevant) < min_relevant:
            continue
        row = {"concept": concept.id, "relevant": len(relevant)}
        for language in LANGUAGES:
            row[f"query_{language}"] = asked = ask(concept, language)
            try:
                ranked = rank(asked, SECOND_CUTOFF)
            except NothingRecognized:
                ranked = []
            row[language] = precision_at(ranked, relevant)
            row[f"{language}@10"] = precision_at(ranked, relevant, SECOND_CUTOFF)
        rows.append(row)
    many = [r for r in rows if r["relevant"] >= SECOND_CUTOFF]
    return {
        "concepts": len(rows),
        "concepts_without_relevant": len(concepts) - len(rows),
        "queries": 2 * len(rows),
        **{f"precision@5_{lang}": _mean([r[lang] for r in rows]) for lang in LANGUAGES},
        "concepts@10": len(many),
        **{f"precision@10_{lang}": _mean([r[f"{lang}@10"] for r in many]) for lang in LANGUAGES},
        "rows": rows,
    }


def _mean(values: Sequence[float]) -> float:
    """The mean, 0 for no values (a set with nothing to judge scores nothing)."""
    return float(np.mean(values)) if values else 0.0


def engine_words(engine, processor: TextProcessor) -> list[set[str]]:
    """The judged words of every document a ``SearchEngine`` can return, by row."""
    return [document_words(doc.text, doc.tags, processor) for doc in engine.documents]


def engine_ranker(engine, ranking=None) -> Ranker:
    """``rank(query, k)`` through the engine's real search (its own ranking unless given)."""
    from core.serving.answers import Query, SearchRequest

    def rank(text: str, k: int) -> list[int]:
        request = SearchRequest(Query(text=text), k, ranking=ranking)
        return [hit.row for hit in engine.search(request).hits]

    return rank
