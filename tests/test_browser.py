"""The public demo in a real browser: a Russian query, a photo annotation, a vote that lands in
the database. Screenshots go to ``test-artifacts/`` (or ``$TEST_ARTIFACTS``)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core import store
from core.settings import REPO_ROOT
from tests.browser import ARTIFACTS, chromium, search, serve_app

pytestmark = pytest.mark.browser

TIGER = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"


@pytest.fixture(scope="module")
def page(built):
    with serve_app(built.settings.data_dir) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        yield page


def test_a_russian_query_shows_results_and_a_vote_is_stored(page, service):
    caption = search(page, "цветы в саду")

    page.screenshot(path=ARTIFACTS / "search-ru.png", full_page=True)
    search_id = int(re.search(r"search #(\d+)", caption).group(1))
    assert "12 results" in caption
    assert page.get_by_text("#plants").count() > 0

    page.get_by_role("button", name="Not relevant").nth(1).click()
    page.get_by_role("button", name="Relevant", exact=True).first.click()
    page.wait_for_timeout(500)  # both clicks round-trip to the server before we look

    with service.sessions() as session:
        result_ids = session.scalars(
            select(store.Search.result_ids).where(store.Search.id == search_id)
        ).one()
        assert store.search_votes(session, search_id) == {result_ids[0]: 1, result_ids[1]: -1}


def test_an_uploaded_photo_is_annotated(page):
    page.get_by_role("link", name="Annotate a photo").click()
    page.get_by_text("Words and hashtags for a photo").wait_for()
    page.locator("input[type=file]").set_input_files(TIGER)

    page.get_by_text("How a photo becomes words").wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=30_000)
    page.screenshot(path=ARTIFACTS / "annotate.png", full_page=True)
    assert page.get_by_text("Hashtags", exact=True).is_visible()
    assert page.get_by_text(re.compile(r"^tiger: \d")).count() == 1


def test_markup_in_a_query_stays_inert_text(page):
    page.get_by_role("link", name="Search").click()
    page.get_by_text("Search photos by meaning").wait_for()
    search(page, '<img src=x onerror="window.injected = 1"> **bold** цветы')

    assert page.evaluate("window.injected") is None
    assert page.get_by_text("Not known to the model (ignored)").count() == 1
