"""Text processor: how a comment becomes @text and @tag tokens."""

import pytest

from core.reading.text import TAG, TEXT, DisplayForms, TextProcessor, normalize_tag


@pytest.fixture(scope="module")
def processor() -> TextProcessor:
    return TextProcessor()


def test_hashtags_are_split_off_before_words(processor):
    analyzed = processor.analyze("Вечер на даче #Лето #sunset_2020")
    assert set(analyzed.tokens[TAG]) == {"лето", "sunset2020"}
    assert "лето" not in analyzed.tokens[TEXT]


def test_cyrillic_words_are_lemmatized_and_others_porter_stemmed(processor):
    analyzed = processor.analyze("Кошки спят. The elephants were running")
    assert set(analyzed.tokens[TEXT]) == {"кошка", "спать", "eleph", "run"}


def test_stop_words_numbers_and_punctuation_are_dropped(processor):
    analyzed = processor.analyze("Мы и они — в 2020 году; the cat, and a dog!!!")
    assert set(analyzed.tokens[TEXT]) == {"год", "cat", "dog"}
    assert {"мы", "и", "они", "в", "2020", "the", "and"} <= set(analyzed.dropped)


def test_explicit_tags_join_hashtags(processor):
    analyzed = processor.analyze("Собака #пёс", ["Animals", "#dogs"])
    assert analyzed.tokens[TAG] == {"пёс": 1, "animals": 1, "dogs": 1}


def test_yo_is_folded_so_spellings_meet(processor):
    assert set(processor.analyze("ёжик").tokens[TEXT]) == set(
        processor.analyze("ежик").tokens[TEXT]
    )


def test_text_with_nothing_usable_gives_no_tokens(processor):
    analyzed = processor.analyze("!!! ... 😀😀 — 42")
    assert not analyzed.tokens[TEXT] and not analyzed.tokens[TAG]


def test_non_string_text_is_refused(processor):
    with pytest.raises(TypeError, match="text must be a str"):
        processor.analyze(None)  # type: ignore[arg-type]


def test_display_form_is_the_most_frequent_surface(processor):
    forms = DisplayForms()
    for text in ("running horses", "horses run", "a horse"):
        forms.update(processor.analyze(text))
    display = forms.to_dict()[TEXT]
    assert display["hors"] == "horses"
    assert display["run"] in {"running", "run"}


def test_normalize_tag_keeps_word_characters_only():
    assert normalize_tag("#Hello-World!") == "helloworld"


@pytest.mark.parametrize(
    ("text", "head"),
    [
        ("a dog playing on the grass", {"dog"}),
        ("apples in a wicker basket", {"appl"}),
        ("a piece of cheese on a wooden board", {"piec", "chees"}),
        ("bird", {"bird"}),
        ("собака играет на траве", {"собака"}),
        ("яблоки в плетёной корзине", {"яблоко"}),
        ("кусок сыра на деревянной доске", {"кусок", "сыр"}),
        ("свежие фрукты на тарелке", {"свежий", "фрукт"}),
        ("рыба ночью", {"рыба"}),
        ("в городе", set()),
    ],
)
def test_the_head_of_a_phrase_is_its_words_before_the_first_preposition_or_verb(
    processor, text, head
):
    assert processor.head_tokens(text) == head
