"""Words for people and one vocabulary (issue 20): what Annotate suggests, Search understands;
visitors read plain sentences and match strengths that follow the order; figures stay in
"What the model understood"."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from core.reading.images import ImageError, load_image
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.twins import tag_twins
from core.reading.vision import VISUAL
from core.serving.annotation import hashtag_query
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.engine import REMOTE_SHARE
from core.settings import REPO_ROOT
from interface.messages import MESSAGES
from tests.test_app import APP, jpeg, open_app, search, shown, slider, understood

PHOTOS = sorted((REPO_ROOT / "tests" / "fixtures").glob("*/*.jpg"))
FIGURES = re.compile(r"perplexit|перплекси|\bL1\b", re.IGNORECASE)


@pytest.fixture
def app(monkeypatch, built) -> AppTest:
    return open_app(monkeypatch, built.settings.data_dir)


def in_language(app: AppTest, language: str) -> AppTest:
    """The app after the visitor picks ``language`` (English is the default)."""
    if language == "en":
        return app
    return app.segmented_control(key="language").set_value(language).run()


def visible_texts(app: AppTest) -> list[str]:
    """What a visitor reads on the page: every text, caption, note and card (not tooltips)."""
    kinds = ("markdown", "caption", "text", "info", "warning", "error", "success", "subheader")
    return [shown(element) for kind in kinds for element in app.get(kind)]


def annotate(app: AppTest, photo: tuple[str, bytes, str]) -> AppTest:
    app.switch_page("views/annotate.py").run()
    return app.file_uploader[0].set_value(photo).run()


# --------------------------------------------------------------------------------------------------
# One vocabulary (problem 4)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("photo", PHOTOS, ids=lambda path: path.name)
def test_every_word_annotate_suggests_is_understood_by_search(service, photo):
    _, suggested = service.annotate(
        AnnotationRequest(Query(image=photo.read_bytes()), [TAG, TEXT], 15)
    )

    not_understood = []
    for modality, found in suggested.items():
        for annotation in found:
            words = f"#{annotation.token}" if modality == TAG else annotation.display
            result = service.search(SearchRequest(Query(text=words), 5))
            if any(result.query.unknown.values()) or not result.hits:
                not_understood.append(words)
    assert not_understood == []


@pytest.mark.parametrize(
    ("shown", "token"),
    [
        ("ПознаваемМир", "познаваеммир"),
        ("science space earth globe", "sciencespaceearthglobe"),
        ("hash(0x8a09834)", "hash0x8a09834"),
        ("pere noel", "perenoel"),
    ],
)
def test_a_suggested_hashtag_searches_exactly_that_hashtag(shown, token):
    """A collection keyword written with spaces or signs is still one hashtag: its suggestion
    must not search a shorter hashtag and loose words."""
    query = hashtag_query(shown, token)
    read = TextProcessor().analyze(query)

    assert dict(read.tokens[TAG]) == {token: 1}
    assert not read.tokens[TEXT]
    if shown == "ПознаваемМир":
        assert query == "#ПознаваемМир"  # as the collection writes it


def test_a_suggested_word_is_a_link_that_runs_its_search(app):
    annotate(app, jpeg("dog.jpg"))
    links = app.get("page_link")

    # the search page is the app's default page, served at the root
    assert links and {link.proto.page for link in links} == {""}
    hashtags = [link for link in links if link.proto.label.startswith("\\#")]
    assert hashtags and "q=%23" in hashtags[0].proto.query_string

    query = dict(part.split("=", 1) for part in hashtags[0].proto.query_string.split("&"))
    app.query_params["q"] = query["q"].replace("%23", "#")
    app.switch_page("views/search.py").run()
    assert not app.exception
    assert any("results" in caption.value for caption in app.caption)
    assert not [info for info in app.info if "Not known" in info.value]


@pytest.mark.parametrize(("language", "script"), [("ru", "[а-яё]"), ("en", "[a-z]")])
def test_suggested_hashtags_are_links_in_the_visitors_language(app, language, script):
    """A hashtag the collection writes in both languages (#animals and #животные) is offered in
    the visitor's: a Russian visitor clicks #животные, an English one #animals."""
    in_language(app, language)
    annotate(app, jpeg("dog.jpg"))
    hashtags = [link.proto for link in app.get("page_link") if link.proto.label.startswith("\\#")]
    paired = [link for link in hashtags if has_twin(link.label.removeprefix("\\#"))]

    assert paired
    assert all(re.search(script, link.label, re.IGNORECASE) for link in paired)
    assert all(link.label.removeprefix("\\") in unquote(link.query_string) for link in paired)


def has_twin(tag: str) -> bool:
    twins = tag_twins().twins
    folded = tag.casefold()
    return any(folded in (key.casefold(), value.casefold()) for key, value in twins.items())


# --------------------------------------------------------------------------------------------------
# Plain words (problems 6, 16)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ru"])
def test_no_figures_on_visitor_pages_outside_what_the_model_understood(app, language):
    in_language(app, language)
    search(app, "dog")
    assert [text for text in visible_texts(app) if FIGURES.search(text)] == []
    understood(app)
    assert any(FIGURES.search(text) for text in visible_texts(app))  # for data scientists

    annotate(app, jpeg("tiger.jpg"))
    assert [text for text in visible_texts(app) if FIGURES.search(text)] == []


@pytest.mark.parametrize("language", ["en", "ru"])
def test_search_and_annotate_say_the_same_sentence_about_a_photo(app, language):
    photo = ("galaxies.jpg", (REPO_ROOT / "tests/fixtures/outside/galaxies.jpg").read_bytes(), "")
    in_language(app, language)
    search(app, "", photo)
    on_search = {text for text in visible_texts(app) if fit_sentence(text, language)}

    annotate(app, photo)
    on_annotate = {text for text in visible_texts(app) if fit_sentence(text, language)}

    assert len(on_search) == 1 and on_search == on_annotate


@pytest.mark.parametrize("language", ["en", "ru"])
def test_typed_words_read_as_photo_classes_are_called_words_not_a_photo(app, service, language):
    # given the built-in collection, whose captions never say 'краб' (crab): the model reads
    # the typed word as the visual words of ImageNet's crab classes
    fit = service.search(SearchRequest(Query(text="краб"), 12)).fit
    assert fit.kind == "photo" and fit.asked_kind == "words"
    # when a visitor types it, with no photo
    in_language(app, language)
    search(app, "краб")
    # then the page's sentence speaks of their words, not of a photo they never gave
    said = [text for text in visible_texts(app) if fit_sentence(text, language)]
    assert said == [MESSAGES[language][f"fit_sentence_{'weak' if fit.weak else 'ok'}_words"]]


def test_a_chosen_language_stays_for_a_reload_a_new_tab_or_a_shared_link(app):
    # given a visitor whose browser speaks English, who switches to Russian and searches
    in_language(app, "ru")
    search(app, "собака")
    address = dict(app.query_params)
    assert address["lang"] == "ru" and address["q"] == "собака"
    # when the same address opens in a new session (a reload, a new tab, a shared link)
    again = AppTest.from_file(APP, default_timeout=120)
    again.query_params.update(address)
    again.run()
    # then the page is in Russian, with the search's results
    assert again.title[0].value == MESSAGES["ru"]["search_title"]
    assert any("собака" in card for card in visible_texts(again))
    # and switching back to the browser's language takes the choice out of the address
    again.segmented_control(key="language").set_value("en").run()
    assert "lang" not in again.query_params


def fit_sentence(text: str, language: str) -> bool:
    sentences = [value for key, value in MESSAGES[language].items() if "fit_sentence_" in key]
    return text in sentences


# --------------------------------------------------------------------------------------------------
# Strength follows the order, and a translation's translation is no strong match; weight 0
# leaves a modality out of "contains" (problem 7)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("words", ["dog", "собака", "red flower"])
def test_match_strength_never_rises_down_the_list(service, words):
    hits = service.search(SearchRequest(Query(text=words), 12)).hits
    order = ["strong", "good", "weak"]

    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    strengths = [order.index(hit.strength) for hit in hits]
    assert strengths == sorted(strengths)


@pytest.mark.parametrize("words", ["sunset", "закат над морем"])
def test_a_word_found_only_as_a_translations_translation_is_no_strong_match(service, words):
    # given the built-in collection, which has no sunset, when a visitor asks for one
    engine = service.active().engine
    request = SearchRequest(Query(text=words), 12)
    hits = service.search(request).hits
    tokens, _ = engine.reader.tokens_of(request.query)
    terms = engine.reader.matched_terms(tokens, engine.ranking, words)

    def closest(hit) -> float:
        own = engine.documents[hit.row].tokens
        shares = [s for term in terms for m, form, s in term.forms if own.get(m, {}).get(form)]
        return max(shares, default=0.0)

    # then a hit that says the words only as a dictionary translation of a dictionary
    # translation ('sunset' -> 'конец' -> 'end'), and every hit below it, is no strong match
    remote = [n for n, hit in enumerate(hits) if hit.matched and closest(hit) <= REMOTE_SHARE]
    assert remote, "the collection has such hits: the case is met"
    assert all(hit.strength != "strong" for hit in hits[remote[0] :])
    # while a hit with a word itself or its dictionary translation above them may be strong
    assert all(closest(hit) > REMOTE_SHARE for hit in hits[: remote[0]] if hit.matched)


def test_more_like_a_document_says_the_words_hits_contain_as_the_collection_writes_them(service):
    # given a document whose words the text processor stems ('orange' -> 'orang')
    engine = service.active().engine
    orange = next(doc for doc in engine.documents if re.search(r"\borange\b", doc.text.lower()))
    # when a visitor asks for more like it, which has no typed words to show
    contained = {word for hit in service.more_like(orange.id).hits for word in hit.matched}
    # then the cards name the words, not their stems
    assert "orange" in contained and "orang" not in contained


def test_with_words_off_a_card_does_not_say_it_contains_words(service):
    weights = {TEXT: 0.0, TAG: 1.0, VISUAL: 0.01}
    result = service.search(SearchRequest(Query(text="red flower"), 12, weights))

    contained = [word for hit in result.hits for word in hit.matched]
    assert [word for word in contained if not word.startswith("#")] == []


def test_with_words_off_the_cards_say_strength_and_hashtags_only(app):
    search(app, "red flower")
    slider(app, "Words").set_value(0.0).run()

    details = [shown(md) for md in app.markdown if ":small[:gray[" in md.value]
    assert details and not [d for d in details if re.search(r"contains [^#]", d)]
    assert all(re.search(r"(Strong|Good|Weak) match", d) for d in details)


# --------------------------------------------------------------------------------------------------
# Smaller problems (9)
# --------------------------------------------------------------------------------------------------


def test_switched_off_names_only_the_modalities_the_query_has(app):
    search(app, "цветы")
    slider(app, "Words").set_value(0.0).run()
    slider(app, "Hashtags").set_value(0.0).run()

    message = shown(app.warning[0])
    assert "Words" in message and "Hashtags" not in message and "Picture" not in message
    slider(app, "Words").set_value(1.0).run()  # the step after: moving it up searches again
    assert any("results" in caption.value for caption in app.caption)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_too_many_pixels_names_the_pixels_not_the_format(app, language):
    big = io.BytesIO()
    Image.new("RGB", (8000, 8000), "white").save(big, "PNG")
    in_language(app, language)
    annotate(app, ("big.png", big.getvalue(), "image/png"))

    refusal = shown(app.error[0])
    assert "PNG" not in refusal and "JPEG" not in refusal
    assert ("64" in refusal) and ("megapixel" in refusal or "Мп" in refusal)


def test_the_core_pixel_message_names_the_pixel_count():
    big = io.BytesIO()
    Image.new("RGB", (8000, 8000), "white").save(big, "PNG")
    with pytest.raises(ImageError) as refused:
        load_image(big.getvalue())
    assert "64 megapixels" in str(refused.value)


def test_a_too_long_query_keeps_the_sliders(app):
    search(app, "собака " * 500)

    assert "at most 2,000 characters" in app.error[0].value
    assert [s.label for s in app.select_slider] == ["Hashtags", "Words", "Picture"]
    search(app, "собака")  # the step after: a shorter query searches
    assert any("12 results" in caption.value for caption in app.caption)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_streamlits_english_hints_are_replaced_in_the_visitors_language(app, language):
    in_language(app, language)

    styles = "".join(html.proto.body for html in app.get("html"))
    # "Press Enter to submit form" is hidden, Enter still submits
    assert "InputInstructions" in styles
    assert "stFileUploaderDropzoneInstructions" in styles
    assert MESSAGES[language]["upload_button"] in styles


def test_hashtags_read_as_the_collection_writes_them(service):
    twins = tag_twins().twins

    assert twins["explore"] == "ПознаваемМир"
    hits = service.search(SearchRequest(Query(text="#познаваеммир"), 3)).hits
    assert hits and all("ПознаваемМир" in hit.tags for hit in hits)
    tokens, _ = service.active().engine.reader.tokens_of(Query(text="#ПознаваемМир"))
    assert "познаваеммир" in tokens[TAG]
