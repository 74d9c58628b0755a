"""The public Streamlit app, page by page, driven headless with AppTest against a real model."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from core import store
from core.explain import visible_topics
from core.model import ModelParams
from core.settings import REPO_ROOT
from streamlit_app.widgets import escape_markdown

APP = str(REPO_ROOT / "streamlit_app" / "app.py")
PHOTOS = REPO_ROOT / "tests" / "fixtures" / "images"
PAGES = ["views/search.py", "views/annotate.py", "views/topics.py", "views/about.py"]


def open_app(monkeypatch: pytest.MonkeyPatch, data_dir) -> AppTest:
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(data_dir))
    from streamlit_app.state import get_service

    get_service.clear()
    return AppTest.from_file(APP, default_timeout=120).run()


@pytest.fixture
def app(monkeypatch, built) -> AppTest:
    return open_app(monkeypatch, built.settings.data_dir)


def search(app: AppTest, text: str, photo: tuple[str, bytes, str] | None = None) -> AppTest:
    app.text_input[0].input(text)
    if photo is not None:
        app.file_uploader[0].set_value(photo)
    return app.button[0].click().run()


def texts(app: AppTest) -> list[str]:
    return [element.value for element in app.text]


def shown(markdown) -> str:
    """What a visitor reads of an escaped Markdown element."""
    return re.sub(r"\\(.)", r"\1", markdown.value)


def jpeg(name: str) -> tuple[str, bytes, str]:
    return (name, (PHOTOS / name).read_bytes(), "image/jpeg")


# --------------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------------


def test_a_russian_query_shows_a_grid_of_results_with_plain_text_captions(app):
    search(app, "цветы")

    assert not app.exception
    assert any("12 results" in caption.value for caption in app.caption)
    assert any("#plants" in text for text in texts(app))
    assert sum("L1 distance" in caption.value for caption in app.caption) == 12


def test_the_page_shows_what_the_model_understood_and_why_each_result_matched(app):
    search(app, "собака qwertyzzz")

    assert "Not known to the model (ignored): qwertyzzz" in shown(app.info[0])
    assert "@text: собака" in texts(app)
    assert len(app.get("plotly_chart")) == 1  # the query's topic vector
    weak = [text for text in texts(app) if text.startswith("A weak match")]
    explained = [text for text in texts(app) if "% of the match" in text and text not in weak]
    assert explained and len(explained) + len(weak) == 12  # each result is explained


def test_a_photo_query_shows_its_visual_words_by_imagenet_class_name(app):
    search(app, "", jpeg("tiger.jpg"))

    assert not app.exception
    visual = [text for text in texts(app) if text.startswith("@visual: ")]
    assert visual and "tiger" in visual[0]


def test_moving_a_weight_slider_changes_the_ranking_for_this_visitor_only(app, service):
    search(app, "цветы", jpeg("dog.jpg"))
    before = [text for text in texts(app)]
    visual_slider = next(s for s in app.slider if s.label == "@visual")

    visual_slider.set_value(1.0).run()

    after = [text for text in texts(app)]
    assert after != before
    assert app.session_state["weight_overrides"] == {"@visual": 1.0}
    with service.sessions() as session:
        version = store.active_version(session)
        assert store.modality_weights(session, version.id)["@visual"] == pytest.approx(
            ModelParams().modality_weights["@visual"]
        )


def test_show_more_adds_a_page_of_results(app):
    search(app, "цветы")

    next(b for b in app.button if b.label == "Show more results").click().run()

    assert any("24 results" in caption.value for caption in app.caption)


def test_a_vote_is_stored_with_the_search_it_judges(app, service):
    search(app, "цветы")

    app.feedback[0].set_value(1).run()
    app.feedback[1].set_value(0).run()

    with service.sessions() as session:
        search_row = session.scalars(
            select(store.Search).order_by(store.Search.id.desc()).limit(1)
        ).one()
        votes = store.search_votes(session, search_row.id)
    assert search_row.text == "цветы"
    assert search_row.latency_ms > 0
    assert search_row.weights == {
        "@tag": 1.0,
        "@text": 1.0,
        "@visual": ModelParams().modality_weights["@visual"],
    }
    assert votes == {search_row.result_ids[0]: 1, search_row.result_ids[1]: -1}


def test_an_unknown_word_gets_a_clear_message_with_suggestions(app):
    search(app, "qwertyzzz")

    assert not app.exception
    message = shown(app.warning[0])
    assert "does not know any of these words: qwertyzzz" in message
    assert "Try words the collection is about" in message


def test_an_empty_query_asks_for_words_or_a_photo(app):
    search(app, "   ")

    assert "Type a few words or choose a photo" in shown(app.warning[0])


def test_a_file_that_is_not_an_image_gets_a_clear_message(app):
    search(app, "", ("photo.jpg", b"<html><script>alert(1)</script></html>", "image/jpeg"))

    assert not app.exception
    assert "Could not read the photo" in shown(app.error[0])


# --------------------------------------------------------------------------------------------------
# Annotate, Topics, About
# --------------------------------------------------------------------------------------------------


def test_an_uploaded_photo_gets_hashtags_words_and_the_steps_to_its_visual_words(app):
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(jpeg("tiger.jpg")).run()

    assert not app.exception
    assert "Hashtags" in [markdown.value.strip("*") for markdown in app.markdown]
    assert any(text.startswith("tiger") for text in texts(app))  # the CNN's top class
    assert len(app.get("plotly_chart")) == 4  # hashtags, words, flattening, visual words


def test_annotating_a_broken_upload_says_so(app):
    app.switch_page("views/annotate.py").run()
    app.file_uploader[0].set_value(("cut.png", b"\x89PNG\r\n\x1a\n\0\0", "image/png")).run()

    assert not app.exception
    assert "Could not read the photo" in shown(app.error[0])


def test_the_topics_page_hides_junk_topics_and_shows_moderators_labels_as_typed(app, service):
    with service.sessions() as session:
        version = store.active_version(session)
        junk, relabelled = store.version_topics(session, version.id)[:2]
        original = (junk.status, relabelled.label)
        junk.status, relabelled.label = "junk", "<b>Кошки</b> *cats*"
        session.add_all([junk, relabelled])
        session.commit()
    try:
        app.switch_page("views/topics.py").run()

        headers = [header.value for header in app.subheader]
        assert escape_markdown(f"<b>Кошки</b> *cats* (#{relabelled.index})") in headers
        assert not any(f"#{junk.index})" in header.replace("\\", "") for header in headers)
    finally:
        with service.sessions() as session:
            junk.status, relabelled.label = original
            session.add_all([junk, relabelled])
            session.commit()


def test_finding_topics_by_a_term_lists_only_the_topics_that_have_it(app, service):
    app.switch_page("views/topics.py").run()
    app.text_input[0].input("dog").run()

    expected = visible_topics(service.topics(), "dog", include_background=False)
    shown = [header.value for header in app.subheader]
    assert 0 < len(shown) == min(len(expected), 10)
    assert shown == [escape_markdown(f"{t.label} (#{t.index})") for t in expected[:10]]


def test_the_about_page_shows_the_version_modalities_and_training_curves(app):
    app.switch_page("views/about.py").run()

    assert not app.exception
    assert "Version **v0001**" in app.markdown[0].value
    assert len(app.dataframe) == 2
    assert len(app.get("plotly_chart")) == 2


# --------------------------------------------------------------------------------------------------
# No model yet
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_without_a_model_every_page_says_how_to_build_one(monkeypatch, tmp_path, page):
    app = open_app(monkeypatch, tmp_path)

    app.switch_page(page).run()

    assert not app.exception
    assert "python -m core build" in shown(app.info[0])
