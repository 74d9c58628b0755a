"""The demo in a real browser: a Russian query, a photo annotation, a vote that lands in the
database, and an admin who signs in and switches a modality off for everyone. Screenshots go to
``test-artifacts/`` (or ``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from admin import auth
from core.settings import REPO_ROOT
from core.storage import searches, store
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, chromium, search, serve_app, wait_until_idle

pytestmark = pytest.mark.browser

TIGER = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"


@pytest.fixture(scope="module")
def page(built):
    with serve_app(built.settings.data_dir) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        yield page


def test_a_pasted_query_over_the_limit_is_kept_and_explained(page):
    page.get_by_role("link", name="Search").click()
    page.get_by_role("textbox", name="Words").fill("собака " * 500)
    page.get_by_role("button", name="Search", exact=True).click()
    # the click's rerun may not have started yet when the app first looks idle: wait for its text
    explained = page.get_by_text("at most 2,000 characters, this one has 3,500")
    explained.wait_for(timeout=60_000)
    wait_until_idle(page)

    assert page.get_by_role("textbox", name="Words").input_value().startswith("собака собака")
    assert explained.count() == 1


def test_a_russian_query_shows_results_and_a_vote_is_stored(page, service):
    caption = search(page, "цветы в саду")

    page.screenshot(path=ARTIFACTS / "search-ru.png", full_page=True)
    search_id = int(re.search(r"search #(\d+)", caption).group(1))
    assert "12 results" in caption
    assert page.get_by_text("#plants").count() > 0

    with service.sessions() as session:
        result_ids = session.scalars(
            select(searches.Search.result_ids).where(searches.Search.id == search_id)
        ).one()
    # One vote at a time, as a visitor who sees each confirmation: a click that lands while the
    # page is still rerunning for the previous vote can be lost with the element it hit.
    page.get_by_role("radio", name="Thumbs up").first.click()
    assert eventually(lambda: votes_of(service, search_id) == {result_ids[0]: 1})
    wait_until_idle(page)
    page.get_by_role("radio", name="Thumbs down").nth(1).click()
    expected = {result_ids[0]: 1, result_ids[1]: -1}
    assert eventually(lambda: votes_of(service, search_id) == expected)


@pytest.mark.parametrize("query", ["horse", "музыка", "red apple", "собака"])
def test_thumbs_clicked_quickly_are_all_stored(page, service, query):
    """A visitor who does not wait for the page to settle: each click lands while the page still
    reruns for the previous one (before the fix, one such click in a few dozen was lost)."""
    page.set_viewport_size({"width": 1400, "height": 4000})  # every thumb on screen at once
    search_id = int(re.search(r"search #(\d+)", search(page, query)).group(1))
    boxes = [
        [page.get_by_role("radio", name=name).nth(n).bounding_box() for n in range(12)]
        for name in ("Thumbs up", "Thumbs down")
    ]

    for n in range(12):  # up on even results, down on odd ones, 30 ms apart
        box = boxes[n % 2][n]
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_timeout(30)

    with service.sessions() as session:
        result_ids = session.get(searches.Search, search_id).result_ids
    expected = {doc_id: 1 if n % 2 == 0 else -1 for n, doc_id in enumerate(result_ids[:12])}
    assert eventually(lambda: votes_of(service, search_id) == expected)
    wait_until_idle(page)
    page.set_viewport_size({"width": 1400, "height": 1000})


def votes_of(service, search_id: int) -> dict[str, int]:
    with service.sessions() as session:
        return searches.search_votes(session, search_id)


def eventually(condition, timeout: float = 30) -> bool:
    """Whether ``condition()`` becomes true within ``timeout`` seconds (the app stores a vote
    after the click's round trip)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_an_uploaded_photo_is_annotated(page):
    page.get_by_role("link", name="Annotate a photo").click()
    page.get_by_text("Words and hashtags for a photo").wait_for()
    page.locator("input[type=file]").set_input_files(TIGER)

    page.get_by_text("How a photo becomes words").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "annotate.png", full_page=True)
    assert page.get_by_text("Hashtags", exact=True).is_visible()
    assert page.get_by_text(re.compile(r"^tiger: \d")).count() == 1


def test_a_russian_visitor_reads_the_photos_classes_in_russian(page):
    url = "/".join(page.url.split("/")[:3])
    context = page.context.browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale="ru-RU"
    )
    visitor = context.new_page()
    try:
        visitor.goto(f"{url}/annotate")
        visitor.get_by_role("heading", name=MESSAGES["ru"]["annotate_title"]).wait_for()
        visitor.locator("input[type=file]").set_input_files(TIGER)
        visitor.get_by_text(MESSAGES["ru"]["how_photo_becomes_words"]).wait_for(timeout=60_000)
        visitor.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)
        visitor.screenshot(path=ARTIFACTS / "ru-annotate-photo.png", full_page=True)
        assert visitor.get_by_text(re.compile(r"^тигр: \d")).count() == 1
        assert visitor.get_by_text(re.compile(r" \(англ\.\): \d")).count() >= 1
    finally:
        context.close()


def test_markup_in_a_query_stays_inert_text(page):
    page.get_by_role("link", name="Search").click()
    page.get_by_text("Search photos by meaning").wait_for()
    search(page, '<img src=x onerror="window.injected = 1"> **bold** цветы')

    assert page.evaluate("window.injected") is None
    assert page.get_by_text("Not known to the model (ignored)").count() == 1


def test_an_admin_who_switches_hashtags_off_changes_the_ranking_a_visitor_sees(page, service):
    query = "bird"  # a word that is also a hashtag, so hashtags weigh in its ranking
    with service.sessions() as session:
        auth.add_user(session, "ada", "admin", "correct horse battery", by="test")
        session.commit()
        live_weights = store.modality_weights(session, store.active_version(session).id)
    page.get_by_role("link", name="Search").click()
    page.get_by_text("Search photos by meaning").wait_for()
    before = recorded(service, search(page, query))

    admin = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        admin.goto(page.url)
        admin.get_by_role("link", name="Account").click()
        admin.get_by_role("textbox", name="Name").fill("ada")
        admin.get_by_role("textbox", name="Password").fill("correct horse battery")
        admin.get_by_role("button", name="Sign in").click()
        admin.get_by_text("Signed in as ada (admin).").wait_for()
        admin.get_by_role("link", name="Modality weights").click()
        admin.get_by_role("spinbutton", name="@tag").fill("0")
        admin.get_by_role("spinbutton", name="@tag").press("Enter")
        wait_until_idle(admin)
        admin.get_by_role("button", name="Apply live").click()
        admin.get_by_text("Applied: the next query uses them.").wait_for()
        admin.screenshot(path=ARTIFACTS / "admin-weights.png", full_page=True)

        after = recorded(service, search(page, query))
    finally:
        admin.close()
        with service.sessions() as session:
            version_id = store.active_version(session).id
            store.set_modality_weights(session, version_id, live_weights)
            session.commit()

    assert before.weights["@tag"] > 0 and after.weights["@tag"] == 0
    assert after.result_ids != before.result_ids


def recorded(service, caption: str) -> sa.Row:
    """The weights and shown documents recorded with the search that ``caption`` names."""
    search_id = int(re.search(r"search #(\d+)", caption).group(1))
    with service.sessions() as session:
        return session.execute(
            select(searches.Search.weights, searches.Search.result_ids).where(
                searches.Search.id == search_id
            )
        ).one()


PUBLIC_PAGES = {"": "search_title", "annotate": "annotate_title", "topics": "topics_title",
                "about": "about_title"}  # fmt: skip
STAFF_PAGES = {  # menu entry -> title
    "nav_review_topics": "review_title",
    "nav_junk_filter": "junk_title",
    "nav_weights": "weights_admin_title",
    "nav_versions": "versions_title",
    "nav_add_modality": "add_modality_title",
    "nav_audit_log": "audit_title",
}


@pytest.mark.parametrize("locale", ["en-US", "ru-RU"])
def test_every_page_speaks_the_browsers_language(page, service, locale):
    """Visitor pages, then every admin page once signed in: the language comes from the
    browser (no switch touched), and each page's title is in it."""
    language = locale[:2]
    messages = MESSAGES[language]
    with service.sessions() as session:
        if auth.find_user(session, "olga") is None:
            auth.add_user(session, "olga", "admin", "correct horse battery", by="test")
            session.commit()
    url = "/".join(page.url.split("/")[:3])
    context = page.context.browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale=locale
    )
    visitor = context.new_page()
    try:
        for path, title in PUBLIC_PAGES.items():
            visitor.goto(f"{url}/{path}")
            visitor.get_by_role("heading", name=messages[title]).wait_for(timeout=120_000)
            wait_until_idle(visitor)
            visitor.screenshot(
                path=ARTIFACTS / f"{language}-{path or 'search'}.png", full_page=True
            )
        visitor.goto(f"{url}/account")
        visitor.get_by_role("textbox", name=messages["account_name"]).fill("olga")
        visitor.get_by_role("textbox", name=messages["account_password"]).fill(
            "correct horse battery"
        )
        visitor.get_by_role("button", name=messages["sign_in"]).click()
        visitor.get_by_role("link", name=messages["nav_review_topics"]).wait_for()
        for entry, title in STAFF_PAGES.items():  # links: a reload would sign out
            visitor.get_by_role("link", name=messages[entry]).click()
            visitor.get_by_role("heading", name=messages[title]).wait_for(timeout=120_000)
            wait_until_idle(visitor)
            visitor.screenshot(path=ARTIFACTS / f"{language}-{title}.png", full_page=True)
    finally:
        context.close()
