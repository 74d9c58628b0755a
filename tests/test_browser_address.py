"""The search in the address, in a real browser (issue 20, problems 11 and 3): a reload, a new
browser and a shared link show the same results, for words, a photo and "more like this", in both
languages; the weight sliders show the weights the search used. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page

from core.settings import REPO_ROOT
from core.storage import searches
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, chromium, serve_app, wait_until_idle

pytestmark = pytest.mark.browser

TIGER = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"
SEARCH_NUMBER = re.compile(r"(?:search #|поиск №)(\d+)")
LOCALES = {"en": "en-US", "ru": "ru-RU"}


@pytest.fixture(scope="module")
def served(built):
    with serve_app(built.settings.data_dir) as url, chromium() as browser:
        yield url, browser


def visitor(browser: Browser, language: str) -> Page:
    """A page in a browser context of its own (no shared session, cookies or storage)."""
    size = {"width": 1400, "height": 1000}
    return browser.new_context(viewport=size, locale=LOCALES[language]).new_page()


def shown_search(page: Page, after: int | None = None, timeout: float = 120_000) -> int:
    """The number of the search whose results the page shows, once it has settled (and shows
    another than search ``after``: the previous results stay on screen while the next run
    starts)."""
    caption = page.get_by_text(SEARCH_NUMBER)
    caption.wait_for(timeout=timeout)
    if after is not None:
        page.wait_for_function(
            "([pattern, after]) => [...document.querySelectorAll('p')].some(e => {"
            " const m = e.innerText.match(new RegExp(pattern));"
            " return m !== null && Number(m[1]) !== after; })",
            arg=[SEARCH_NUMBER.pattern, after],
            timeout=timeout,
        )
    wait_until_idle(page)
    return int(SEARCH_NUMBER.search(caption.inner_text())[1])


def searched(page: Page, language: str, text: str) -> int:
    messages = MESSAGES[language]
    page.get_by_role("textbox", name=messages["words_field"]).fill(text)
    page.get_by_role("button", name=messages["search_button"], exact=True).click()
    page.wait_for_url(re.compile(r"[?&]q="), timeout=60_000)
    return shown_search(page)


def params(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def results(service, search_number: int) -> list[str]:
    with service.sessions() as session:
        return session.get(searches.Search, search_number).result_ids


def weights(service, search_number: int) -> dict[str, float]:
    with service.sessions() as session:
        return session.get(searches.Search, search_number).weights


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_words_search_survives_a_reload_and_opens_in_another_browser(served, service, language):
    url, browser = served
    page = visitor(browser, language)
    page.goto(url)
    first = searched(page, language, "цветы в саду")

    assert params(page) == {"q": ["цветы в саду"]}
    page.reload()
    reloaded = shown_search(page)
    page.screenshot(path=ARTIFACTS / f"address-words-{language}.png", full_page=True)
    other = visitor(browser, language)
    other.goto(page.url)
    shared = shown_search(other)

    assert reloaded != first and shared != reloaded  # each one searched again
    assert results(service, reloaded) == results(service, first) == results(service, shared)
    words = other.get_by_role("textbox", name=MESSAGES[language]["words_field"])
    assert words.input_value() == "цветы в саду"
    page.context.close()
    other.context.close()


def test_a_photo_search_link_opens_in_another_browser(served, service):
    url, browser = served
    page = visitor(browser, "en")
    page.goto(url)
    page.locator("input[type=file]").set_input_files(TIGER)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"[?&]photo="), timeout=60_000)
    first = shown_search(page)

    other = visitor(browser, "ru")
    other.goto(page.url)
    shared = shown_search(other)
    other.screenshot(path=ARTIFACTS / "address-photo-ru.png", full_page=True)

    assert set(params(page)) == {"photo"}
    assert results(service, shared) == results(service, first)
    assert other.get_by_role("checkbox", name=MESSAGES["ru"]["keep_linked_photo"]).is_checked()
    page.context.close()
    other.context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_more_like_this_survives_a_reload(served, service, language):
    url, browser = served
    page = visitor(browser, language)
    page.goto(url)
    words = searched(page, language, "собака")

    page.get_by_role("button", name=MESSAGES[language]["more_like_this"]).first.click()
    page.wait_for_url(re.compile(r"[?&]like="), timeout=60_000)
    like = shown_search(page, after=words)
    page.reload()
    reloaded = shown_search(page)
    page.screenshot(path=ARTIFACTS / f"address-like-{language}.png", full_page=True)

    assert set(params(page)) == {"q", "like"}
    assert results(service, reloaded) == results(service, like)
    documents_like = MESSAGES[language]["like_info"].split("{")[0]
    assert page.get_by_text(documents_like).count() == 1
    page.context.close()


def test_back_from_more_like_this_is_one_step_in_a_language_chosen_over_the_browsers(
    served, service
):
    url, browser = served
    page = visitor(browser, "en")  # an English browser, the page read in Russian
    page.goto(f"{url}/?lang=ru")
    words = searched(page, "ru", "собака")
    page.get_by_role("button", name=MESSAGES["ru"]["more_like_this"]).first.click()
    page.wait_for_url(re.compile(r"[?&]like="), timeout=60_000)
    like = shown_search(page, after=words)
    assert params(page)["lang"] == ["ru"]

    page.go_back()
    page.wait_for_url(lambda address: "like=" not in address, timeout=60_000)
    back = shown_search(page, after=like)  # Back keeps the page: its results stay a while

    assert params(page) == {"q": ["собака"], "lang": ["ru"]}
    assert results(service, back) == results(service, words)
    page.context.close()


def slider_text(page: Page, label: str) -> str:
    """What a weight slider shows (its thumb's value)."""
    return page.get_by_role("slider", name=label).get_attribute("aria-valuetext")


def step(page: Page, label: str, key: str, times: int = 1) -> None:
    """Move a weight slider with the keyboard, one step per key press, and wait for the page."""
    thumb = page.get_by_role("slider", name=label)
    for _ in range(times):
        thumb.focus()
        thumb.press(key)
        page.wait_for_timeout(300)
        wait_until_idle(page)


def test_a_slider_moved_after_going_back_to_everyones_weights_moves_only_itself(served, service):
    url, browser = served
    page = visitor(browser, "en")
    page.goto(url)
    first = searched(page, "en", "цветы")
    step(page, "Words", "Home")  # Off
    step(page, "Hashtags", "ArrowLeft", 3)  # 1 -> 0.5 -> 0.2 -> 0.1
    assert (slider_text(page, "Words"), slider_text(page, "Hashtags")) == ("Off", "0.1")
    page.get_by_role("button", name="Back to everyone's weights").click()
    wait_until_idle(page)

    step(page, "Picture", "ArrowRight")  # 0.005 -> 0.01
    last = shown_search(page, after=first)
    page.screenshot(path=ARTIFACTS / "address-sliders-en.png", full_page=True)

    shown = [slider_text(page, label) for label in ("Hashtags", "Words", "Picture")]
    assert shown == ["1", "1", "0.01"]
    assert weights(service, last) == {"@tag": 1.0, "@text": 1.0, "@visual": 0.01}
    assert params(page) == {"q": ["цветы"], "w-visual": ["0.01"]}
    page.context.close()


def test_a_broken_link_says_what_was_left_out_in_the_visitors_language(served):
    url, browser = served
    page = visitor(browser, "ru")
    page.goto(f"{url}/?q=%D1%86%D0%B2%D0%B5%D1%82%D1%8B&photo={'0' * 64}&w-text=lots&w-smell=1")
    shown_search(page)
    page.screenshot(path=ARTIFACTS / "address-broken-link-ru.png", full_page=True)

    messages = MESSAGES["ru"]
    assert page.get_by_text(messages["link_photo_gone"]).count() == 1
    assert page.get_by_text("«lots» для «Слова»").count() == 1
    assert page.get_by_text("«smell»").count() == 1
    assert params(page) == {"q": ["цветы"]}
    page.context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_visitor_searching_again_gets_what_they_typed_then_their_photo_alone(
    served, service, language
):
    """Type, search, type something else, search: the second search is the new words (it used
    to come back as the first ones), and clearing the words for a photo searches the photo."""
    url, browser = served
    page = visitor(browser, language)
    page.goto(url)
    messages = MESSAGES[language]
    box = page.get_by_role("textbox", name=messages["words_field"])
    search_button = page.get_by_role("button", name=messages["search_button"], exact=True)

    first = searched(page, language, "flower")
    box.fill("dog")
    search_button.click()
    second = shown_search(page, after=first)

    assert box.input_value() == "dog"
    assert params(page)["q"] == ["dog"]
    with service.sessions() as session:
        assert session.get(searches.Search, second).text == "dog"

    box.fill("")
    page.locator("input[type=file]").first.set_input_files(TIGER)
    search_button.click()
    third = shown_search(page, after=second)

    assert box.input_value() == ""
    assert "q" not in params(page) and "photo" in params(page)
    with service.sessions() as session:
        assert session.get(searches.Search, third).text == ""
    page.screenshot(path=ARTIFACTS / f"search-again-{language}.png", full_page=True)
