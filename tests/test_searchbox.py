"""The search box people expect (issue 20, problems 10, 12 and 13): ``-word`` / ``NOT word`` /
``НЕ слово`` exclude a word with its hashtag and translations, "did you mean" for misspellings and
Latin transliteration of Russian (both ways), and near-identical documents collapsed into one
card with "N similar"."""

from __future__ import annotations

import pytest

from core.reading.text import TAG, TEXT
from core.serving.answers import Query, SearchRequest
from core.serving.query_syntax import QuerySyntax, parse_query

# --------------------------------------------------------------------------------- the syntax


@pytest.mark.parametrize(
    ("typed", "text", "excluded"),
    [
        ("flower -red", "flower", ("red",)),
        ("flower NOT red", "flower", ("red",)),
        ("flower not red", "flower not red", ()),
        ("цветок НЕ красный", "цветок", ("красный",)),
        ("цветок НЕ красный -#roses", "цветок", ("красный", "#roses")),
        ("знак в России не применяется", "знак в России не применяется", ()),
        ("Не спящий кот", "Не спящий кот", ()),
        ("wi-fi router", "wi-fi router", ()),
        ("северо-запад", "северо-запад", ()),
        ("flower - red", "flower - red", ()),
        ("flower NOT", "flower", ()),
        ("-red", "", ("red",)),
        ("a NOT -red b", "a b", ("red",)),
    ],
)
def test_the_query_syntax_reads_exclusions_only_as_separate_tokens(typed, text, excluded):
    assert parse_query(typed) == QuerySyntax(text, excluded)


# ---------------------------------------------------------------------------- exclusion (10)


def words_of(service, doc_id: str) -> set[str]:
    """A document's word and hashtag tokens, as the model reads them."""
    tokens = service.active().engine.documents[service.active().engine.rows_by_id[doc_id]].tokens
    return {*tokens.get(TEXT, {}), *(f"#{tag}" for tag in tokens.get(TAG, {}))}


RED = {"red", "#red", "красный", "#красный"}


@pytest.mark.parametrize("typed", ["flower -red", "flower NOT red", "цветок НЕ красный"])
def test_an_excluded_word_leaves_out_documents_with_it_its_hashtag_or_its_translation(
    service, typed
):
    plain = service.search(SearchRequest(Query(text=typed.split()[0] + " red"), 12))
    assert any(words_of(service, hit.id) & RED for hit in plain.hits)  # red ones come first

    result = service.search(SearchRequest(Query(text=typed), 12))

    assert len(result.hits) == 12  # the page is still full, of clean results
    assert not [hit.text for hit in result.hits if words_of(service, hit.id) & RED]
    assert {"red", "красный"} <= set(result.excluded)
    assert sum(bool(hit.matched) for hit in result.hits[:5]) == 5  # still about flowers


def test_an_excluded_hashtag_word_leaves_out_the_documents_tagged_in_both_languages(service):
    result = service.search(SearchRequest(Query(text="animals -birds"), 12))

    tagged = [hit.text for hit in result.hits if {"birds", "птицы"} & set(hit.tags)]
    assert not tagged
    assert "#birds" in result.excluded and "#птицы" in result.excluded


CAR = {"car", "#car", "#cars", "машина", "автомобиль"}


def test_an_excluded_word_leaves_out_what_the_same_word_asked_would_count_as_containing_it(
    service,
):
    # given the built-in collection, where fire and tow trucks are "машина" in their Russian
    # captions ('car' in the dictionary) and the collection pairs 'car' with 'седан' first
    asked = service.search(SearchRequest(Query(text="truck car"), 12))
    assert any(words_of(service, hit.id) & CAR for hit in asked.hits)
    # when the visitor leaves cars out
    result = service.search(SearchRequest(Query(text="truck -car"), 12))
    # then no document that "car" would count as containing is left: not by the word, its
    # hashtag or its dictionary translation
    assert not [hit.text for hit in result.hits if words_of(service, hit.id) & CAR]
    assert {"car", "машина"} <= set(result.excluded)
    assert all("truck" in words_of(service, hit.id) for hit in result.hits[:2])  # trucks first


def test_a_word_the_model_knows_only_as_a_photo_class_excludes_no_photo_by_its_look(service):
    # given the built-in collection, whose captions never say 'краб' (crab): the model knows
    # it only as ImageNet's crab classes, which sea animals' photos sample too
    plain = service.search(SearchRequest(Query(text="рыба"), 12))
    # when a visitor leaves crabs out of fish
    result = service.search(SearchRequest(Query(text="рыба -краб"), 12))
    # then no fish leaves for looking like a crab: nothing contains the word
    assert result.excluded == []
    assert [hit.id for hit in result.hits] == [hit.id for hit in plain.hits]


@pytest.mark.parametrize("typed", ["red-flower", "wi-fi flower", "flower -"])
def test_a_dash_inside_a_word_or_alone_excludes_nothing(service, typed):
    result = service.search(SearchRequest(Query(text=typed), 12))

    assert result.excluded == []


# ------------------------------------------------------------------------ did you mean (12)


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("dgo", "dog"),  # two letters swapped
        ("flowr", "flower"),  # a letter left out
        ("sobaka", "собака"),  # Russian in Latin letters
        ("koshka", "кошка"),
        ("kniga", "книга"),  # known through its translation only
        ("flower dgo -red", "flower dog -red"),  # the rest of the query stays as typed
    ],
)
def test_did_you_mean_corrects_misspellings_and_transliteration(service, typed, meant):
    assert service.did_you_mean(typed) == meant


@pytest.mark.parametrize("typed", ["dog", "собака", "flower -red", "qwertyzzz", ""])
def test_known_words_or_hopeless_ones_get_no_suggestion(service, typed):
    assert service.did_you_mean(typed) is None


# -------------------------------------------------------------------------- duplicates (13)

FLOWER = "A flower. Цветок."


def test_documents_with_one_caption_and_alike_photos_collapse_into_one_hit(service, built):
    flowers = [doc.id for doc in service.active().engine.documents if doc.text == FLOWER]

    result = service.search(SearchRequest(Query(text="flower"), 12))

    shown = [hit for hit in result.hits if hit.text == FLOWER]
    assert len(shown) == 1
    assert sorted([shown[0].id, *shown[0].similar]) == sorted(flowers)
    assert len(result.hits) == 12  # distinct cards fill the page
    keys = [(hit.text, hit.image) for hit in result.hits]
    assert len(set(keys)) == 12


def test_collapsing_keeps_apart_documents_whose_captions_differ(service):
    before = service.search(SearchRequest(Query(text="lion"), 12, collapse_similar=False))
    after = service.search(SearchRequest(Query(text="lion"), 12))

    assert len({hit.text for hit in before.hits[:5]}) < len({hit.text for hit in after.hits[:5]})
    assert [hit.text for hit in after.hits].count("A lion. Лев.") == 1


# ------------------------------------------------------------------------------- the page


@pytest.fixture
def app(monkeypatch, built):
    from tests.test_app import open_app

    return open_app(monkeypatch, built.settings.data_dir)


def test_the_page_says_what_was_excluded_and_shows_no_red_flower(app, service):
    from tests.test_app import search, shown

    search(app, "flower -red")

    assert not app.exception
    excluded = [shown(info) for info in app.info if "Left out" in info.value]
    assert excluded and "red" in excluded[0] and "красный" in excluded[0]
    assert app.query_params["q"] == "flower -red"


def test_did_you_mean_runs_the_suggested_search_from_the_page(app):
    from tests.test_app import cards, search

    search(app, "dgo")
    button = next(b for b in app.button if b.label.startswith("Did you mean"))
    assert "dog" in button.label
    assert "Try words the collection is about" not in app.warning[0].value  # not both

    button.click().run()

    assert not app.exception
    assert app.query_params["q"] == "dog"
    assert app.text_input[0].value == "dog"
    assert any("12 results" in caption.value for caption in app.caption)
    assert any("dog" in card.casefold() for card in cards(app))
    assert not [b for b in app.button if b.label.startswith("Did you mean")]


def test_a_russian_visitor_gets_did_you_mean_in_russian(app):
    from tests.test_app import search

    app.segmented_control(key="language").set_value("ru").run()
    search(app, "sobaka")

    labels = [b.label for b in app.button if b.label.startswith("Возможно, вы искали")]
    assert labels and "собака" in labels[0]


def test_a_russian_visitor_searching_a_word_the_model_lacks_is_told_so_not_corrected(app):
    from tests.test_app import search

    app.segmented_control(key="language").set_value("ru").run()
    search(app, "собака на траве")

    assert not app.exception
    assert any("траве" in info.value for info in app.info)  # "Модель не знает (пропущено)"
    assert not [b for b in app.button if b.label.startswith("Возможно, вы искали")]
    assert any("12 результатов" in caption.value for caption in app.caption)


def popover_labels(node) -> list[str]:
    """The labels of every popover under ``node`` (AppTest has no popover element of its own)."""
    proto = getattr(node, "proto", None)
    try:
        found = [proto.popover.label] if proto is not None and proto.HasField("popover") else []
    except ValueError:  # a proto without a popover field: an element
        found = []
    for child in getattr(node, "children", {}).values():
        found += popover_labels(child)
    return found


def test_one_card_stands_for_its_similar_documents(app, service):
    from tests.test_app import cards, search

    search(app, "flower")

    flower_cards = [card for card in cards(app) if card.startswith("A flower. Цветок.")]
    assert len(flower_cards) == 1
    assert "4 similar" in popover_labels(app._tree)
    assert len(cards(app)) == 12


@pytest.mark.parametrize("typed", ["траве", "трава", "grass"])
def test_a_real_word_the_model_does_not_know_is_not_called_a_typo(service, typed):
    """A correctly spelled word is not "corrected" into a near one that means something else
    ("траве" into "трире"): the page already says the model does not know it."""
    engine = service.active().engine
    assert not engine.reader.can_read(typed, engine.ranking)

    assert service.did_you_mean(typed) is None
    assert service.did_you_mean(f"dgo {typed}") == f"dog {typed}"
