"""The visitor's journey steps of issue 20 that had no browser test, in English and in Russian:
a suggested hashtag clicked runs that search, and Back or the shared address shows the
annotated photo again; an excluded word is said to be left out; a
misspelt word is offered its correction, which runs the search; a card standing for similar
documents opens them. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.sync_api import Browser, Page

from core.settings import REPO_ROOT
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, RESULTS_CAPTION, chromium, filled, serve_app, wait_until_idle

pytestmark = pytest.mark.browser

TIGER = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"
LOCALES = {"en": "en-US", "ru": "ru-RU"}
EXCLUDED = {"en": ("flower -red", "red"), "ru": ("цветок -красный", "красный")}
languages = pytest.mark.parametrize("language", ["en", "ru"])


@pytest.fixture(scope="module")
def served(built) -> Iterator[tuple[str, Browser]]:
    with serve_app(built.settings.data_dir) as url, chromium() as browser:
        yield url, browser


@pytest.fixture
def visitor(served, language) -> Iterator[Page]:
    """A page in a browser context of its own, in ``language``."""
    _, browser = served
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale=LOCALES[language]
    )
    yield context.new_page()
    context.close()


def open_search(page: Page, url: str, words: str) -> None:
    """A search opened from its link, on screen once its results are."""
    page.goto(f"{url}/?q={quote(words)}")
    page.locator(RESULTS_CAPTION).wait_for(timeout=120_000)
    wait_until_idle(page)


def asked(page: Page) -> list[str]:
    """The words of the search in the address bar."""
    return parse_qs(urlparse(page.url).query).get("q", [])


@languages
def test_a_suggested_hashtag_clicked_runs_that_search(served, visitor, language):
    url, _ = served
    text = MESSAGES[language]
    visitor.goto(f"{url}/annotate")
    visitor.get_by_role("heading", name=text["annotate_title"]).wait_for()
    visitor.locator("input[type=file]").set_input_files(TIGER)
    visitor.get_by_text(text["suggestions_caption"]).wait_for(timeout=60_000)
    wait_until_idle(visitor)
    suggestion = visitor.get_by_role("link", name=filled("#{tag}")).first
    hashtag = suggestion.inner_text().strip()

    suggestion.click()
    visitor.locator(RESULTS_CAPTION).wait_for(timeout=120_000)
    wait_until_idle(visitor)

    assert asked(visitor) == [hashtag]
    assert visitor.get_by_role("textbox", name=text["words_field"]).input_value() == hashtag
    visitor.screenshot(path=ARTIFACTS / f"visitor-{language}-suggestion.png", full_page=True)

    # Back: the photo and its annotation, as they were (the photo lives in the address).
    visitor.go_back()
    visitor.get_by_role("heading", name=text["annotate_title"]).wait_for()
    visitor.get_by_role("link", name=hashtag).first.wait_for(timeout=60_000)
    annotated = visitor.url
    assert "photo=" in annotated

    # The address shared: another browser sees the same annotation; the upload cleared, none.
    _, browser = served
    other = browser.new_context(locale=LOCALES[language]).new_page()
    try:
        other.goto(annotated)
        other.get_by_role("link", name=hashtag).first.wait_for(timeout=60_000)
    finally:
        other.context.close()
    visitor.locator("input[type=file]").set_input_files(TIGER)
    wait_until_idle(visitor)
    visitor.locator("[data-testid='stFileChipDeleteBtn'] button").first.click()
    visitor.get_by_text(text["suggestions_caption"]).wait_for(state="detached")
    assert "photo=" not in visitor.url


@languages
def test_an_excluded_word_is_said_to_be_left_out(served, visitor, language):
    url, _ = served
    typed, word = EXCLUDED[language]

    open_search(visitor, url, typed)

    left_out = visitor.get_by_text(filled(MESSAGES[language]["excluded_words"]))
    assert left_out.count() == 1 and word in left_out.inner_text()
    visitor.screenshot(path=ARTIFACTS / f"visitor-{language}-excluded.png", full_page=True)


@languages
def test_a_misspelt_word_is_offered_its_correction_which_runs_the_search(served, visitor, language):
    url, _ = served
    text = MESSAGES[language]
    visitor.goto(f"{url}/?q=dgo")
    offer = visitor.get_by_role("button", name=text["did_you_mean"].format(words="dog"))
    offer.wait_for(timeout=120_000)
    wait_until_idle(visitor)

    offer.click()
    visitor.locator(RESULTS_CAPTION).wait_for(timeout=120_000)
    wait_until_idle(visitor)

    assert asked(visitor) == ["dog"]
    assert visitor.get_by_role("textbox", name=text["words_field"]).input_value() == "dog"
    visitor.screenshot(path=ARTIFACTS / f"visitor-{language}-did-you-mean.png", full_page=True)


@languages
def test_a_card_standing_for_similar_documents_opens_them(served, visitor, language):
    url, _ = served
    open_search(visitor, url, "flower")
    forms = set(MESSAGES[language]["similar_documents"].values())  # "4 similar", "4 похожих"
    similar = visitor.get_by_role(
        "button", name=re.compile("|".join(filled(f).pattern for f in forms))
    )

    similar.first.click()
    wait_until_idle(visitor)

    photos = visitor.locator("[data-testid='stPopoverBody'] img")
    assert photos.count() >= 1
    visitor.screenshot(path=ARTIFACTS / f"visitor-{language}-similar.png", full_page=True)
