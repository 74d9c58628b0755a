"""The concept-query benchmark (``data/eval/concepts.json``, rule in ``data/eval/CONCEPTS.md``).

The concepts, their relevance rule and score are ``core.serving.concepts`` (serving asks them of
a version too). The phrase benchmark (``data/eval/phrases.json``) asks the same concepts as
phrases: the concept's query followed by a fixed everyday context ("bird in the city"), judged by
the concept's rule.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.reading.text import TextProcessor
from core.serving.concepts import (
    CONCEPTS_FILE,
    Asker,
    Concept,
    Ranker,
    load_concepts,
    run_concepts,
)

PHRASES_FILE = CONCEPTS_FILE.with_name("phrases.json")


@dataclass(frozen=True)
class Context:
    """Words that place a concept in a scene, in both languages ("in the city", "в городе")."""

    en: str
    ru: str


def load_contexts(path: Path = PHRASES_FILE) -> list[Context]:
    """The committed contexts; one without both languages is an error."""
    contexts = [Context(**row) for row in json.loads(Path(path).read_text("utf-8"))["contexts"]]
    if not contexts or not all(c.en and c.ru for c in contexts):
        raise ValueError(f"{path}: every context needs en and ru, and there must be one")
    return contexts


def phrase_asker(contexts: Sequence[Context], concepts: Sequence[Concept]) -> Asker:
    """The rule of ``CONCEPTS.md``: concept number i is asked as its query followed by context
    number i mod len(contexts), in the same language."""
    position = {concept.id: i for i, concept in enumerate(concepts)}

    def ask(concept: Concept, language: str) -> str:
        context = contexts[position[concept.id] % len(contexts)]
        return f"{concept.query(language)} {getattr(context, language)}"

    return ask


def run_phrases(
    rank: Ranker,
    words: Sequence[set[str]],
    processor: TextProcessor,
    concepts: Sequence[Concept] | None = None,
    contexts: Sequence[Context] | None = None,
) -> dict:
    """The phrase benchmark: ``run_concepts`` with every concept asked as its phrase."""
    concepts = load_concepts() if concepts is None else concepts
    contexts = load_contexts() if contexts is None else contexts
    return run_concepts(rank, words, processor, concepts, phrase_asker(contexts, concepts))
