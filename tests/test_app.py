"""The Streamlit search page, driven headless with AppTest."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.settings import REPO_ROOT

APP = str(REPO_ROOT / "streamlit_app" / "app.py")


@pytest.fixture
def app(monkeypatch, built):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(built.settings.data_dir))
    from streamlit_app.state import get_service

    get_service.clear()
    return AppTest.from_file(APP, default_timeout=120).run()


def search(app: AppTest, text: str) -> AppTest:
    app.text_input[0].input(text)
    return app.button[0].click().run()


def test_a_russian_query_shows_results_with_plain_text_captions(app):
    search(app, "цветы")
    assert not app.exception
    assert any("results" in caption.value for caption in app.caption)
    assert any("#plants" in text.value for text in app.text)


def test_an_unknown_word_gets_a_clear_message_not_results(app):
    search(app, "qwertyzzz")
    assert not app.exception
    assert "does not know any of these words: qwertyzzz" in app.warning[0].value


def test_an_empty_query_asks_for_words(app):
    search(app, "   ")
    assert "Type a few words" in app.warning[0].value


def test_without_a_model_the_page_says_how_to_build_one(monkeypatch, tmp_path):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(tmp_path))
    from streamlit_app.state import get_service

    get_service.clear()
    app = AppTest.from_file(APP, default_timeout=120).run()
    search(app, "cat")
    assert "python -m core build" in app.error[0].value
