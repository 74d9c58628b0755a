"""The concept benchmark's relevance rule and score, on hand-made documents."""

from __future__ import annotations

import pytest

from core.measurement.concepts import (
    Attribute,
    Context,
    Sentence,
    attribute_query,
    load_contexts,
    load_sentences,
    phrase_asker,
    run_attributes,
    run_phrases,
    run_sentences,
)
from core.reading.text import TextProcessor
from core.reading.twins import TagTwins, read_tag_twins, tag_twins
from core.serving.concepts import (
    Concept,
    concept_tokens,
    document_words,
    load_concepts,
    precision_at,
    relevant_rows,
    run_concepts,
)


@pytest.fixture(scope="module")
def processor():
    return TextProcessor()


def test_the_committed_benchmark_has_forty_concepts_each_asked_in_both_languages():
    concepts = load_concepts()
    assert len(concepts) >= 40
    assert len({c.id for c in concepts}) == len(concepts)
    assert all(c.en and c.ru and c.words for c in concepts)


def test_a_document_is_relevant_by_any_form_of_a_listed_word_in_either_language(processor):
    concept = Concept("bird", "bird", "птица", ("bird", "птица"))
    words = [
        document_words("Две птицы на ветке", [], processor),  # Russian, other case and number
        document_words("A robin", ["birds"], processor),  # only the category tag says it
        document_words("A robin", ["птицы"], processor),  # a twin alone is read as its tag
        document_words("A red car", ["vehicles"], processor),
    ]
    assert relevant_rows(concept, words, processor) == {0, 1, 2}


def test_precision_is_divided_by_the_relevant_documents_when_there_are_fewer_than_five():
    assert precision_at([3, 1, 7, 8, 9], {1, 3}) == 1.0
    assert precision_at([3, 0, 7, 8, 9], {1, 3}) == 0.5
    assert precision_at([0, 1, 2, 3, 4, 5], set(range(10))) == 1.0


def test_run_concepts_scores_each_language_and_leaves_out_concepts_nothing_is_about(processor):
    concepts = [
        Concept("bird", "bird", "птица", ("bird", "птица")),
        Concept("camel", "camel", "верблюд", ("camel", "верблюд")),
    ]
    words = [{"bird"}, {"car"}, {"bird"}]

    def rank(query: str, k: int) -> list[int]:
        return [0, 2, 1] if query == "bird" else [1, 0]

    result = run_concepts(rank, words, processor, concepts)
    assert result["concepts"] == 1 and result["concepts_without_relevant"] == 1
    assert result["precision@5_en"] == 1.0
    assert result["precision@5_ru"] == pytest.approx(1 / 2)  # one of the two relevant


def test_twins_are_one_to_one_and_share_one_slot(tmp_path):
    twins = tag_twins()
    assert twins.with_twins(["birds", "birds", "x"]) == ["birds", "x", "птицы"]
    assert twins.with_twins(twins.with_twins(["birds"])) == ["birds", "птицы"]
    assert twins.slot("птицы") == twins.slot("birds") == "birds"
    assert twins.slot("частитела") == "bodyparts"
    with pytest.raises(ValueError, match="not unique"):
        TagTwins({"a": "б", "c": "б"})
    bad = tmp_path / "twins.csv"
    bad.write_text("english,russian\na,б\n")
    with pytest.raises(ValueError, match="tag,twin"):
        read_tag_twins(bad)


def test_every_concept_is_asked_as_a_phrase_with_the_context_its_position_assigns():
    concepts, contexts = load_concepts(), load_contexts()
    ask = phrase_asker(contexts, concepts)
    # concept i gets context i mod the number of contexts, in its own language
    assert ask(concepts[0], "en") == f"{concepts[0].en} {contexts[0].en}"
    assert ask(concepts[0], "ru") == f"{concepts[0].ru} {contexts[0].ru}"
    late = len(contexts) + 1
    assert ask(concepts[late], "ru") == f"{concepts[late].ru} {contexts[1].ru}"


def test_no_context_word_is_a_word_of_any_concept(processor):
    concept_words = set().union(*(concept_tokens(c, processor) for c in load_concepts()))
    for context in load_contexts():
        for language in ("en", "ru"):
            words = document_words(getattr(context, language), [], processor)
            assert words, f"{context} says nothing the text processor keeps"
            assert not words & concept_words, (context, words & concept_words)


def test_a_phrase_is_judged_by_its_concept_alone(processor):
    # given a document about birds and one about the city only
    concepts = [Concept("bird", "bird", "птица", ("bird", "птица"))]
    words = [{"bird"}, {"city"}]
    asked = []

    def rank(query: str, k: int) -> list[int]:
        asked.append(query)
        return [1, 0]

    # when the phrase 'bird in the city' is asked, only the bird counts as relevant
    result = run_phrases(rank, words, processor, concepts, [Context("in the city", "в городе")])
    assert asked == ["bird in the city", "птица в городе"]
    assert result["precision@5_en"] == result["precision@5_ru"] == 1.0
    assert result["rows"][0]["query_en"] == "bird in the city"


def test_every_sentence_names_its_concept_and_every_concept_has_one(processor):
    concepts = {c.id: c for c in load_concepts()}
    sentences = load_sentences()
    assert len(sentences) >= 60
    assert {s.concept for s in sentences} <= set(concepts)
    for sentence in sentences:
        wanted = concept_tokens(concepts[sentence.concept], processor)
        for language in ("en", "ru"):
            words = document_words(getattr(sentence, language), [], processor)
            assert words & wanted, (sentence, language)
            assert len(words) >= 2, f"{sentence} has no context in {language}"


def test_a_sentence_is_judged_by_its_concept_alone(processor):
    # given a document about a dog and one about grass only
    concepts = [Concept("dog", "dog", "собака", ("dog", "собака"))]
    sentences = [Sentence("dog", "a dog playing on the grass", "собака играет на траве")]
    words = [{"dog"}, {"grass"}]
    asked = []

    def rank(query: str, k: int) -> list[int]:
        asked.append(query)
        return [1, 0]

    # when the sentence is asked, only the dog is relevant
    result = run_sentences(rank, words, processor, concepts, sentences)
    assert asked == ["a dog playing on the grass", "собака играет на траве"]
    assert result["precision@5_en"] == result["precision@5_ru"] == 1.0


def test_an_attribute_agrees_with_the_russian_noun_it_describes(processor):
    red = Attribute("red", "red", "красный", ("red", "красный"))
    wooden = Attribute("wooden", "wooden", "деревянный", ("wooden", "деревянный"))
    bird = Concept("bird", "bird", "птица", ("bird", "птица"))
    fruit = Concept("fruit", "fruit", "фрукты", ("fruit", "фрукт"))
    toy = Concept("toy", "toy", "игрушка", ("toy", "игрушка"))
    house = Concept("house", "house", "дом", ("house", "дом"))
    assert attribute_query(red, bird, "en", processor) == "red bird"
    assert attribute_query(red, bird, "ru", processor) == "красная птица"
    assert attribute_query(red, fruit, "ru", processor) == "красные фрукты"
    assert attribute_query(wooden, toy, "ru", processor) == "деревянная игрушка"
    assert attribute_query(wooden, house, "ru", processor) == "деревянный дом"


def test_a_pair_is_relevant_when_both_hold_and_scored_when_three_documents_are(processor):
    # given red birds, a blue bird, a red car and a red bird told only in Russian
    red = Attribute("red", "red", "красный", ("red", "красный"))
    blue = Attribute("blue", "blue", "синий", ("blue", "синий"))
    concepts = [
        Concept("bird", "bird", "птица", ("bird", "птица")),
        Concept("car", "car", "автомобиль", ("car", "автомобиль")),
    ]
    words = [
        document_words("A red bird", [], processor),
        document_words("Red cardinal", ["birds"], processor),
        document_words("A blue bird", [], processor),
        document_words("A red car", [], processor),
        document_words("Красная птица", [], processor),
    ]

    def rank(query: str, k: int) -> list[int]:
        return [2, 3, 0, 1, 4]

    # when the pairs are run, only 'red bird' has three relevant documents (0, 1, 4)
    result = run_attributes(rank, words, processor, concepts, [red, blue], min_relevant=3)
    assert [row["concept"] for row in result["rows"]] == ["red bird"]
    assert result["rows"][0]["relevant"] == 3
    assert result["precision@5_en"] == result["precision@5_ru"] == 1.0  # all 3 in the top 5


def test_precision_at_ten_is_reported_for_concepts_with_ten_relevant_documents(processor):
    concepts = [
        Concept("bird", "bird", "птица", ("bird", "птица")),
        Concept("camel", "camel", "верблюд", ("camel", "верблюд")),
    ]
    words = [{"bird"}] * 12 + [{"camel"}] * 3 + [{"car"}] * 5

    def rank(query: str, k: int) -> list[int]:
        order = list(range(5)) + list(range(15, 20)) + list(range(5, 15))
        return order[:k] if query in ("bird", "птица") else list(range(12, 15))[:k]

    result = run_concepts(rank, words, processor, concepts)
    assert result["concepts@10"] == 1
    assert result["precision@10_en"] == result["precision@10_ru"] == 0.5
    assert result["precision@5_en"] == 1.0
