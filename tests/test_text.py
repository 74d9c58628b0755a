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


def test_the_russian_copula_is_a_stop_word_as_english_is_is(processor):
    """ "является" carries no subject, as "is" carries none: neither may be suggested for a
    photo or match a query."""
    analyzed = processor.analyze("Статуя является символом. The statue is a symbol.")
    assert set(analyzed.tokens[TEXT]) == {"статуя", "символ", "statu", "symbol"}


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


def test_a_russian_word_shows_in_its_dictionary_form_not_its_most_frequent_case(processor):
    """A Russian lemma is readable (unlike an English stem): "скорлупа", not the "скорлупе" of
    "орех в скорлупе"; a form with ё is kept."""
    forms = DisplayForms()
    for text in ("Орех в скорлупе.", "Орехи в скорлупе.", "Ёжики и ёж.", "Статуя Христа"):
        forms.update(processor.analyze(text))
    display = forms.to_dict()[TEXT]
    assert display["скорлупа"] == "скорлупа"
    assert display["орех"] == "орех"
    assert display["еж"] == "ёж"
    assert display["христос"] == "христос"


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
    assert processor.phrase_head(text).words == head


@pytest.mark.parametrize(
    ("text", "head"),
    [
        ("на ветке сидит птица", {"птица"}),
        ("в плетёной корзине яблоки", {"яблоко"}),
        ("траву ест корова", {"корова"}),
        ("красная птица", {"красный", "птица"}),
        ("кусок сыра на деревянной доске", {"кусок", "сыр"}),
        ("молоток и гвозди на верстаке", {"молоток", "гвоздь"}),
        ("собака играет на траве", {"собака"}),
        ("в городе", set()),
        ("красное", set()),
        ("a dog playing on the grass", {"dog"}),
    ],
)
def test_read_by_case_the_head_of_a_russian_phrase_is_its_noun_in_the_nominative(
    processor, text, head
):
    # a noun after a preposition or in another case is context wherever it stands; an English
    # phrase keeps the position rule
    assert processor.phrase_head(text, by_case=True).words == head


@pytest.mark.parametrize(
    ("text", "by_case", "attributes"),
    [
        ("red bird", False, {"red"}),
        ("a cup of hot coffee", False, {"hot"}),
        ("bread and butter for breakfast", False, set()),
        ("a dog playing on the grass", False, set()),
        ("красная птица", False, {"красный"}),
        ("красная птица", True, {"красный"}),
        ("на ветке сидит маленькая птица", True, {"маленький"}),
        ("кусок сыра", True, set()),
    ],
)
def test_the_attributes_of_a_heads_object_are_its_adjectives_and_words_before_its_noun(
    processor, text, by_case, attributes
):
    head = processor.phrase_head(text, by_case=by_case)
    assert head.attributes == attributes and head.attributes <= head.words
