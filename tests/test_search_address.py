"""The search page keeps its search in the address, and the weight sliders show the weights the
search used (issue 20, problems 11 and 3), driven headless with AppTest against a real model."""

from __future__ import annotations

import hashlib

import pytest
from streamlit.testing.v1 import AppTest

from core.serving.model import ModelParams
from core.serving.upload_cache import PhotoStore
from interface.address import Notice, SearchAddress, parse_address
from interface.messages import MESSAGES
from interface.widgets import escape_markdown
from tests.test_app import APP, PHOTOS, cards, jpeg, open_app, search, shown, slider

GLOBAL = {modality: float(weight) for modality, weight in ModelParams().modality_weights.items()}


@pytest.fixture
def app(monkeypatch, built) -> AppTest:
    return open_app(monkeypatch, built.settings.data_dir)


def used_weights(app: AppTest) -> dict[str, float]:
    """The weights of the search whose results the page shows."""
    return app.session_state["answer"][1].weights


def shown_weights(app: AppTest) -> dict[str, float]:
    return {s.label: s.value for s in app.select_slider}


def as_a_browser_shows_it(app: AppTest, shown: dict[str, object]) -> AppTest:
    """After a run, the sliders as a browser shows them: Streamlit's frontend keeps a slider at
    what the visitor last saw (``shown``, by widget id) unless the app set its value in that run
    (``set_value``); AppTest alone would show the server's value and hide such a split."""
    for element in app.select_slider:
        if not element.proto.set_value and element.id in shown:
            element.set_value(shown[element.id])
    return app


def move(app: AppTest, label: str, value: float) -> AppTest:
    """Move one slider, as in a browser."""
    shown = {s.id: s.value for s in app.select_slider}
    moved = slider(app, label).set_value(value)
    shown[moved.id] = value
    return as_a_browser_shows_it(app.run(), shown)


def click(app: AppTest, label: str) -> AppTest:
    """Click a button, as in a browser."""
    shown = {s.id: s.value for s in app.select_slider}
    next(b for b in app.button if b.label == label).click()
    return as_a_browser_shows_it(app.run(), shown)


def test_a_slider_moved_after_going_back_to_everyones_weights_moves_only_itself(app):
    search(app, "цветы")
    move(app, "Words", 0.0)
    move(app, "Hashtags", 0.1)
    click(app, "Back to everyone's weights")

    move(app, "Picture", 0.01)

    assert not app.exception
    assert shown_weights(app) == {"Hashtags": 1.0, "Words": 1.0, "Picture": 0.01}
    assert not app.warning  # e.g. "nothing is left to search with"
    assert used_weights(app) == {**GLOBAL, "@visual": 0.01}


# --------------------------------------------------------------------------------------------------
# The search in the address (problem 11)
# --------------------------------------------------------------------------------------------------


def opened(monkeypatch, built, params: dict[str, str], language: str = "en") -> AppTest:
    """The search page opened at an address, in a new browser session (a reload, a shared link)."""
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(built.settings.data_dir))
    app = AppTest.from_file(APP, default_timeout=120)
    app.query_params = dict(params)
    app.session_state["language"] = language
    return app.run()


def result_ids(app: AppTest) -> list[str]:
    return [hit.id for hit in app.session_state["answer"][1].hits]


def test_a_words_search_lives_in_the_address_and_a_new_session_shows_its_results(
    app, monkeypatch, built
):
    search(app, "цветы")
    move(app, "Picture", 0.01)

    assert app.query_params == {"q": "цветы", "w-visual": "0.01"}
    again = opened(monkeypatch, built, app.query_params)
    assert not again.exception and not again.warning
    assert again.text_input[0].value == "цветы"
    assert shown_weights(again)["Picture"] == 0.01
    assert result_ids(again) == result_ids(app)
    assert cards(again) == cards(app)


def test_each_new_search_searches_what_was_typed_not_the_search_before(app):
    """The page writes each search into the address; the next run must not take that for a
    link opened from outside and put the previous words back over the ones just typed."""
    for typed in ["cat", "dog", "цветы", ""]:
        photo = jpeg("tiger.jpg") if not typed else None
        search(app, typed, photo)

        assert not app.exception
        assert app.query_params.get("q", "") == typed
        assert app.text_input[0].value == typed
        assert app.session_state["answer"][0][0][0] == typed  # the words that were searched


def test_a_photo_search_link_is_answered_in_a_new_session(app, monkeypatch, built):
    search(app, "", jpeg("tiger.jpg"))
    digest = hashlib.sha256(jpeg("tiger.jpg")[1]).hexdigest()

    assert app.query_params == {"photo": digest}
    again = opened(monkeypatch, built, app.query_params)
    assert not again.exception
    assert result_ids(again) == result_ids(app)
    assert again.checkbox[0].label == "Search with this photo too" and again.checkbox[0].value


def test_new_words_keep_the_linked_photo_unless_it_is_unticked(monkeypatch, built, app):
    search(app, "", jpeg("dog.jpg"))
    again = opened(monkeypatch, built, app.query_params)

    search(again, "собака")
    assert set(again.query_params) == {"q", "photo"}
    again.checkbox[0].uncheck()
    search(again, "собака")
    assert again.query_params == {"q": "собака"}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_link_whose_photo_is_gone_says_so_and_searches_with_its_words(
    monkeypatch, built, language
):
    app = opened(monkeypatch, built, {"q": "цветы", "photo": "0" * 64}, language)

    assert not app.exception
    assert [warning.value for warning in app.warning] == [
        escape_markdown(MESSAGES[language]["link_photo_gone"])
    ]
    chosen = {} if language == "en" else {"lang": language}  # not the browser's: kept
    assert app.query_params == {"q": "цветы", **chosen}
    assert len(app.session_state["answer"][1].hits) == 12


def test_malformed_parameters_are_left_out_with_a_message_each(monkeypatch, built):
    params = {
        "q": "собака",
        "w-text": "lots",
        "w-tag": "0.1",
        "w-smell": "1",
        "w-visual": "inf",
        "photo": "../../etc/passwd",
        "like": "x" * 5000,
        "utm_source": "mail",
    }
    app = opened(monkeypatch, built, params)

    assert not app.exception
    messages = [shown(warning) for warning in app.warning]
    assert messages == [
        "The photo reference in this link is not valid and was left out.",
        "The document reference in this link is not valid and was left out.",
        "The Words weight “lots” in this link is not one of the slider's steps and was left out.",
        "This model has no modality “smell”: its weight in the link was left out.",
        "The Picture weight “inf” in this link is not one of the slider's steps and was left out.",
    ]
    assert app.query_params == {"q": "собака", "w-tag": "0.1", "utm_source": "mail"}
    assert used_weights(app) == {**GLOBAL, "@tag": 0.1}


def test_words_over_the_limit_in_a_link_are_left_out_with_a_message(monkeypatch, built):
    app = opened(monkeypatch, built, {"q": "собака " * 500})

    assert not app.exception
    assert "longer than 2,000 characters" in shown(app.warning[0])
    assert "q" not in app.query_params


def test_more_like_this_lives_in_the_address_and_back_returns_to_the_search(
    app, monkeypatch, built
):
    search(app, "цветы")
    first = app.session_state["answer"][1].hits[0]
    next(b for b in app.button if b.label == "More like this").click().run()

    assert app.query_params == {"q": "цветы", "like": first.id}
    again = opened(monkeypatch, built, app.query_params)
    assert not again.exception
    assert result_ids(again) == result_ids(app)
    assert any(first.text[:20] in shown(info) for info in again.info)

    next(b for b in again.button if b.label == "Back to my search").click().run()
    assert again.query_params == {"q": "цветы"}
    assert first.id in result_ids(again)


def test_a_link_to_more_like_an_unknown_document_says_so(monkeypatch, built):
    app = opened(monkeypatch, built, {"like": "no-such-document"})

    assert not app.exception
    assert "no-such-document" in shown(app.error[0])
    assert "like" not in app.query_params


# --------------------------------------------------------------------------------------------------
# Reading an address, and keeping visitors' photos
# --------------------------------------------------------------------------------------------------

WEIGHTS = {"@tag": 1.0, "@text": 1.0, "@visual": 0.005}


def test_an_address_reads_back_what_it_was_written_from():
    address = SearchAddress("кошка #cats", "a" * 64, "doc-7", {"@text": 0.0, "@visual": 0.01})

    assert parse_address(address.params(), WEIGHTS) == (address, [])


def test_a_weight_at_everyones_value_is_no_override_and_a_global_off_the_steps_is_allowed():
    weights = {**WEIGHTS, "@visual": 0.0037}

    address, notices = parse_address({"w-visual": "0.0037", "w-tag": "1"}, weights)

    assert address.weights == {} and notices == []
    assert parse_address({"w-visual": "0.0036"}, weights)[1] == [
        Notice("link_bad_weight", {"modality": "@visual", "value": "0.0036"})
    ]


def test_the_photo_store_keeps_photos_by_hash_within_its_cap(tmp_path):
    photos = [(PHOTOS / name).read_bytes() for name in ("dog.jpg", "tiger.jpg", "horse.jpg")]
    store = PhotoStore(tmp_path, max_bytes=len(photos[0]) + len(photos[1]) + len(photos[2]) - 1)

    digests = [store.keep(photo) for photo in photos[:2]]
    assert store.photo(digests[0]).read_bytes() == photos[0]  # used: now the most recent
    store.keep(photos[2])

    assert store.photo(digests[1]) is None
    assert store.photo(digests[0]) is not None
    assert store.photo("../" * 20 + "etc/passwd") is None
    assert store.keep(photos[0]) == hashlib.sha256(photos[0]).hexdigest()
