"""Modality display names (issue 20, problem 8): every modality has a name in both languages,
asked when an admin adds it; visitors read that name in their language and never a raw
``@id``; staff pages read "Hashtags (@tag)"."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from admin import auth, modalities
from admin.ui import TOKEN_KEY
from core.building.pipeline import copy_deployment
from core.settings import REPO_ROOT, Settings
from core.storage import database, jobs, store
from interface import i18n
from interface.messages import MESSAGES
from tests.conftest import run_queued_jobs

APP = str(REPO_ROOT / "streamlit_app" / "main.py")
PASSWORD = "correct horse battery"
SOURCE = {"en": "Source", "ru": "Источник"}
NAMES = {"name_en": SOURCE["en"], "name_ru": SOURCE["ru"]}
BUILT_IN = {"en": "Hashtags", "ru": "Хэштеги"}
MODALITY_ID = re.compile(r"@[a-z]\w*")
CARD_DETAIL = ":small[:gray["  # the detail line of a result card
QUERY = {"en": "dog", "ru": "собака"}


@pytest.fixture(scope="module")
def with_source(small_template, tmp_path_factory) -> Settings:
    """A copy of the small build to which an admin added ``@source`` (named Source /
    Источник, one token per document from its first hashtag) with the add-modality job,
    activated when done."""
    settings = copy_deployment(small_template, tmp_path_factory.mktemp("names") / "data")
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        auth.add_user(session, "anna", "admin", PASSWORD, by="test")
        anna = auth.find_user(session, "anna")
        version = store.active_version(session)
        tokens = {
            document.id: Counter({f"src-{document.tags[0]}": 1})
            for document in store.version_documents(session, version.id)
            if document.tags
        }
        modalities.start_add_modality(session, anna, "@source", tokens, 1.0, False, True, **NAMES)
    assert run_queued_jobs(settings) == 1
    return settings


@pytest.fixture(autouse=True)
def thread_language() -> Iterator[None]:
    """Leave the test thread's language as it was (``open_app`` sets it)."""
    before = i18n._THIS_RUN.set(None)
    yield
    i18n._THIS_RUN.reset(before)


def open_app(monkeypatch: pytest.MonkeyPatch, settings: Settings, language: str) -> AppTest:
    """The app in ``language``; AppTest formats a widget's options in the test's own thread,
    so the language is set for this thread too, as each run of a page sets it."""
    i18n._THIS_RUN.set(language)
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(settings.data_dir))
    from interface.state import get_service

    get_service.clear()
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["language"] = language
    return app.run()


def unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def search(app: AppTest, text: str) -> AppTest:
    app.text_input[0].input(text)
    app.button[0].click().run()
    return app.toggle(key="show-understood").set_value(True).run()


def walk(node: Any) -> Iterator[Any]:
    """An element of the page and every element inside it."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def everything_shown(app: AppTest) -> list[str]:
    """Every text a visitor can read on the page: elements, labels and tooltips, tables."""
    shown = []
    for element in [*walk(app.main), *walk(app.sidebar)]:
        for attribute in ("value", "label", "help", "body"):
            value = getattr(element, attribute, None)
            if isinstance(value, str):
                shown.append(unescaped(value))
        proto = getattr(element, "proto", None)
        if proto is not None and isinstance(getattr(proto, "help", None), str):
            shown.append(unescaped(proto.help))
    for table in app.dataframe:
        shown.append(table.value.to_string())
    return shown


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_added_modalitys_names_reach_the_visitors_slider_and_tooltip(
    monkeypatch, with_source, language
):
    app = open_app(monkeypatch, with_source, language)

    search(app, QUERY[language])

    assert not app.exception
    sliders = [slider.label for slider in app.select_slider]
    assert SOURCE[language] in sliders and BUILT_IN[language] in sliders
    tooltips = [
        unescaped(markdown.proto.help) for markdown in app.markdown if CARD_DETAIL in markdown.value
    ]
    assert tooltips and any(f"{SOURCE[language]}: src-" in tip for tip in tooltips)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("page", ["views/search.py", "views/topics.py", "views/about.py"])
def test_no_visitor_page_shows_a_modality_id(monkeypatch, with_source, language, page):
    app = open_app(monkeypatch, with_source, language)
    if page == "views/search.py":
        search(app, QUERY[language])
    else:
        app.switch_page(page).run()

    assert not app.exception
    ids = {found for text in everything_shown(app) for found in MODALITY_ID.findall(text)}
    assert ids == set()


def staff_page(
    monkeypatch: pytest.MonkeyPatch, settings: Settings, language: str, page: str
) -> AppTest:
    """An admin page as anna, the admin, sees it in ``language``."""
    app = open_app(monkeypatch, settings, language)
    with database.open_database(settings.database_url)() as session:
        app.session_state[TOKEN_KEY] = auth.sign_in(session, "anna", PASSWORD)
    return app.run().switch_page(f"../admin/pages/{page}").run()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_staff_read_a_modality_by_its_name_and_its_id(monkeypatch, with_source, language):
    source, hashtags = f"{SOURCE[language]} (@source)", f"{BUILT_IN[language]} (@tag)"

    review = staff_page(monkeypatch, with_source, language, "review_topics.py")
    weights = staff_page(monkeypatch, with_source, language, "weights.py")
    audit = staff_page(monkeypatch, with_source, language, "audit_log.py")

    assert not review.exception and not weights.exception and not audit.exception
    terms = "\n".join(text.value for text in review.text)
    assert f"{source}: src-" in terms and f"{hashtags}: " in terms
    assert source in review.selectbox(key=f"review-modality:{language}").options
    assert source in [box.label for box in weights.number_input]
    assert any(source in text for text in everything_shown(audit))


@pytest.mark.parametrize("language", ["en", "ru"])
def test_adding_a_modality_asks_for_its_name_in_both_languages(monkeypatch, deployment, language):
    sessions = database.open_database(deployment.database_url)
    with sessions() as session:
        auth.add_user(session, "anna", "admin", PASSWORD, by="test")
        version = store.active_version(session)
        documents = store.version_documents(session, version.id)
        token = auth.sign_in(session, "anna", PASSWORD)
    content = "\n".join(f"{d.id},src-{d.tags[0]}" for d in documents if d.tags).encode()
    app = open_app(monkeypatch, deployment, language)
    app.session_state[TOKEN_KEY] = token
    app.run().switch_page("../admin/pages/add_modality.py").run()
    app.text_input(key="modality-id").input("@source")
    app.text_input(key="modality-name-en").input(SOURCE["en"])
    upload = ("source.csv", b"id,tokens\n" + content, "text/csv")
    app.get("file_uploader")[0].set_value(upload).run()
    start = MESSAGES[language]["start"]

    next(button for button in app.button if button.label == start).click().run()

    assert not app.exception
    needs_names = MESSAGES[language]["modality_needs_names"]
    assert any(needs_names in error.value for error in app.error)
    with sessions() as session:
        assert jobs.recent_jobs(session) == []

    app.text_input(key="modality-name-ru").input(SOURCE["ru"])
    next(button for button in app.button if button.label == start).click().run()

    assert not app.exception and not app.error
    with sessions() as session:
        queued = jobs.recent_jobs(session)[0].params
    assert (queued["name_en"], queued["name_ru"]) == (SOURCE["en"], SOURCE["ru"])
