"""Staff sessions in a real browser (issue 20): a moderator stays signed in across a reload and
a second tab; signing out in one tab, or the session's expiry, signs every tab out; an admin
page's address opened signed out asks to sign in, then shows that page; the cookie is HttpOnly
and SameSite=Strict, and a tampered id or one kept from before a sign-out signs in nobody.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import BrowserContext, Page
from sqlalchemy import update

from admin import auth
from core.settings import Settings
from core.storage import database
from core.storage.admin_tables import SignInSession
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, wait_until_idle
from tests.conftest import STAFF_PASSWORD, staff_deployment

pytestmark = pytest.mark.browser

PASSWORD = STAFF_PASSWORD
EN = MESSAGES["en"]
REVIEW = "admin-review_topics"  # the topic review page's address


@pytest.fixture(scope="module")
def deployment_copy(small_template, tmp_path_factory) -> Settings:
    """A private copy of the small build, with moderator "mia"."""
    data_dir = tmp_path_factory.mktemp("sessions") / "data"
    return staff_deployment(small_template, data_dir, {"mia": "moderator"})


@pytest.fixture
def context(browser) -> BrowserContext:
    """A fresh browser profile (no cookies), as a new visitor has."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    yield context
    context.close()


def open_page(context: BrowserContext, url: str) -> Page:
    page = context.new_page()
    page.goto(url)
    wait_until_idle(page)
    return page


def sign_in(page: Page, messages: dict = EN) -> None:
    page.get_by_role("textbox", name=messages["account_name"]).fill("mia")
    page.get_by_role("textbox", name=messages["account_password"]).fill(PASSWORD)
    page.get_by_role("button", name=messages["sign_in"]).click()


def sees_review_page(page: Page) -> None:
    page.get_by_role("heading", name=EN["review_title"]).wait_for(timeout=60_000)
    wait_until_idle(page)


def test_a_moderator_stays_signed_in_after_a_reload_and_in_a_second_tab(app_url, context):
    first = open_page(context, f"{app_url}/account")
    sign_in(first)
    first.get_by_role("link", name=EN["nav_review_topics"]).click()
    sees_review_page(first)

    first.reload()
    sees_review_page(first)
    assert first.url == f"{app_url}/{REVIEW}"

    second = open_page(context, f"{app_url}/{REVIEW}")
    sees_review_page(second)
    assert second.get_by_role("link", name=EN["nav_junk_filter"]).count() == 1


def test_signing_out_in_one_tab_signs_the_other_out_at_its_next_action(app_url, context):
    first = open_page(context, f"{app_url}/account")
    sign_in(first)
    first.get_by_text("Signed in as mia").wait_for()
    second = open_page(context, f"{app_url}/{REVIEW}")
    sees_review_page(second)

    first.get_by_role("button", name=EN["sign_out"]).click()
    first.get_by_role("button", name=EN["sign_in"]).wait_for()

    second.get_by_role("link", name=EN["nav_account"]).click()  # the other tab's next action
    second.get_by_role("button", name=EN["sign_in"]).wait_for(timeout=60_000)
    wait_until_idle(second)
    assert second.get_by_text("Signed in as").count() == 0
    assert second.get_by_role("link", name=EN["nav_review_topics"]).count() == 0
    second.reload()
    second.get_by_role("button", name=EN["sign_in"]).wait_for(timeout=60_000)


def test_an_expired_session_signs_every_tab_out_at_its_next_action(
    app_url, context, deployment_copy
):
    first = open_page(context, f"{app_url}/account")
    sign_in(first)
    first.get_by_text("Signed in as mia").wait_for()
    second = open_page(context, f"{app_url}/{REVIEW}")
    sees_review_page(second)

    with database.open_database(deployment_copy.database_url)() as session:  # 8 hours later
        session.execute(update(SignInSession).values(expires_at=datetime.now(UTC)))
        session.commit()

    for page in (first, second):
        page.get_by_role("link", name=EN["nav_account"]).click()
        page.get_by_role("button", name=EN["sign_in"]).wait_for(timeout=60_000)
    with database.open_database(deployment_copy.database_url)() as session:
        assert auth.audit_log(session)[0].action == "session_expired"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_an_admin_address_opened_signed_out_asks_to_sign_in_then_shows_that_page(
    app_url, browser, language
):
    messages = MESSAGES[language]
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, locale={"en": "en-US", "ru": "ru-RU"}[language]
    )
    try:
        page = open_page(context, f"{app_url}/{REVIEW}")
        reason = messages["sign_in_to_open"].format(page=messages["nav_review_topics"])
        page.get_by_text(reason).wait_for(timeout=60_000)
        page.get_by_role("button", name=messages["sign_in"]).wait_for()
        page.screenshot(path=ARTIFACTS / f"{language}-sign-in-to-open.png", full_page=True)

        sign_in(page, messages)
        page.get_by_role("heading", name=messages["review_title"]).wait_for(timeout=60_000)
        wait_until_idle(page)
        assert page.url == f"{app_url}/{REVIEW}"
        page.screenshot(path=ARTIFACTS / f"{language}-signed-in-review.png", full_page=True)
    finally:
        context.close()


def test_the_session_cookie_is_http_only_strict_and_dies_with_the_session(
    app_url, context, browser
):
    page = open_page(context, f"{app_url}/account")
    sign_in(page)
    page.get_by_text("Signed in as mia").wait_for()
    wait_until_idle(page)

    (cookie,) = [c for c in context.cookies() if c["name"] == auth.SESSION_COOKIE]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # served over plain http here; https gets Secure
    assert auth.SESSION_COOKIE not in page.evaluate("document.cookie")

    tampered = browser.new_context(locale="en-US")
    try:
        tampered.add_cookies([{**cookie, "value": cookie["value"][:-2] + "xx"}])
        assert not signed_in_at(tampered, f"{app_url}/{REVIEW}")
        page.get_by_role("button", name=EN["sign_out"]).click()
        page.get_by_role("button", name=EN["sign_in"]).wait_for()
        stolen = browser.new_context(locale="en-US")
        stolen.add_cookies([cookie])  # the id as it was before the sign-out
        assert not signed_in_at(stolen, f"{app_url}/{REVIEW}")
        stolen.close()
    finally:
        tampered.close()


def signed_in_at(context: BrowserContext, url: str) -> bool:
    """Whether ``url`` opened in ``context`` shows a signed-in staff page (not the sign-in)."""
    page = open_page(context, url)
    page.get_by_role("heading").first.wait_for(timeout=60_000)
    wait_until_idle(page)
    return page.get_by_role("button", name=EN["sign_in"]).count() == 0
