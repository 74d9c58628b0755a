"""The concept-query benchmark (``data/eval/concepts.json``, rule in ``data/eval/CONCEPTS.md``).

The concepts, their relevance rule and score are ``core.serving.concepts`` (serving asks them of
a version too). The phrase benchmark (``data/eval/phrases.json``) asks the same concepts as
phrases: the concept's query followed by a fixed everyday context ("bird in the city"), judged by
the concept's rule. The sentence benchmark (``data/eval/sentences.json``, rule in
``data/eval/SENTENCES.md``) asks each concept as a natural sentence, judged by the concept's
rule; the attribute benchmark (``data/eval/attributes.json``) asks attribute + object pairs
("red bird", "красная птица"), relevant when both hold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.reading.text import WORD_PATTERN, TextProcessor
from core.serving.concepts import (
    CONCEPTS_FILE,
    Asker,
    Concept,
    Ranker,
    load_concepts,
    relevant_rows,
    run_concepts,
)

PHRASES_FILE = CONCEPTS_FILE.with_name("phrases.json")
SENTENCES_FILE = CONCEPTS_FILE.with_name("sentences.json")
ATTRIBUTES_FILE = CONCEPTS_FILE.with_name("attributes.json")


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


@dataclass(frozen=True)
class Sentence:
    """A concept asked as a natural sentence with context, in both languages."""

    concept: str
    en: str
    ru: str


def load_sentences(path: Path = SENTENCES_FILE) -> list[Sentence]:
    """The committed sentences; one without both languages is an error."""
    sentences = [Sentence(**row) for row in json.loads(Path(path).read_text("utf-8"))["sentences"]]
    if not sentences or not all(s.concept and s.en and s.ru for s in sentences):
        raise ValueError(f"{path}: every sentence needs concept, en and ru, and there must be one")
    return sentences


def run_sentences(
    rank: Ranker,
    words: Sequence[set[str]],
    processor: TextProcessor,
    concepts: Sequence[Concept] | None = None,
    sentences: Sequence[Sentence] | None = None,
) -> dict:
    """The sentence benchmark: each sentence asked, judged by its concept's rule."""
    concepts = load_concepts() if concepts is None else concepts
    sentences = load_sentences() if sentences is None else sentences
    by_id = {concept.id: concept for concept in concepts}
    asked = {s.concept: s for s in sentences}
    return run_concepts(
        rank,
        words,
        processor,
        [by_id[s.concept] for s in sentences],
        lambda concept, language: getattr(asked[concept.id], language),
    )


@dataclass(frozen=True)
class Attribute:
    """A colour, size, material or age: its word in each language (the Russian adjective in
    the masculine nominative singular) and the words that carry it in a document."""

    id: str
    en: str
    ru: str
    words: tuple[str, ...]


def load_attributes(path: Path = ATTRIBUTES_FILE) -> tuple[list[Attribute], int]:
    """The committed attributes and the least number of relevant documents a pair needs."""
    data = json.loads(Path(path).read_text("utf-8"))
    attributes = [
        Attribute(row["id"], row["en"], row["ru"], tuple(row["words"]))
        for row in data["attributes"]
    ]
    if not attributes or not all(a.en and a.ru and a.words for a in attributes):
        raise ValueError(f"{path}: every attribute needs en, ru and words")
    return attributes, int(data["min_relevant"])


def attribute_query(
    attribute: Attribute, concept: Concept, language: str, processor: TextProcessor
) -> str:
    """The rule of ``SENTENCES.md``: the attribute, then the concept's query; in Russian the
    adjective agrees in gender and number with the query's first noun in the nominative."""
    query = concept.query(language)
    if language != "ru":
        return f"{attribute.en} {query}"
    grammemes = {"nomn"}
    for word in WORD_PATTERN.findall(query.lower()):
        tag = processor.russian_tag(word, "NOUN", "nomn")
        if tag is not None:
            grammemes |= {"plur"} if tag.number == "plur" or "Pltm" in tag else {tag.gender, "sing"}
            break
    return f"{processor.inflect(attribute.ru, grammemes)} {query}"


def run_attributes(
    rank: Ranker,
    words: Sequence[set[str]],
    processor: TextProcessor,
    concepts: Sequence[Concept] | None = None,
    attributes: Sequence[Attribute] | None = None,
    min_relevant: int | None = None,
) -> dict:
    """The attribute benchmark: every attribute with every concept, relevant when the document
    is of the concept and carries one of the attribute's words; only pairs with at least
    ``min_relevant`` relevant documents are scored (rows named 'red bird')."""
    concepts = load_concepts() if concepts is None else concepts
    if attributes is None or min_relevant is None:
        committed, least = load_attributes()
        attributes = committed if attributes is None else attributes
        min_relevant = least if min_relevant is None else min_relevant
    pairs, asked = [], {}
    for attribute in attributes:
        carriers = relevant_rows(Concept(attribute.id, "", "", attribute.words), words, processor)
        for concept in concepts:
            pair = Concept(f"{attribute.en} {concept.en}", "", "", concept.words)
            asked[pair.id] = (attribute, concept, carriers)
            pairs.append(pair)

    def judge(pair: Concept) -> set[int]:
        _, concept, carriers = asked[pair.id]
        return relevant_rows(concept, words, processor) & carriers if carriers else set()

    def ask(pair: Concept, language: str) -> str:
        attribute, concept, _ = asked[pair.id]
        return attribute_query(attribute, concept, language, processor)

    return run_concepts(rank, words, processor, pairs, ask, judge, min_relevant)
