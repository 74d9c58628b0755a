"""Staff journeys of issue 20 (problems 2 and 14) in a real browser: a moderator's rename shows in
the topic's header at once; an admin meets a retrain's version waiting, compares it with the
active one and activates it after confirming, in Russian. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import pytest
from playwright.sync_api import BrowserContext, Page

from core.building.pipeline import retrain_version
from core.settings import Settings
from core.storage import database, store
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, click_for_a_run, page_shown_on_failure, wait_until_idle
from tests.conftest import STAFF_PASSWORD, staff_deployment

pytestmark = pytest.mark.browser

PASSWORD = STAFF_PASSWORD
EN, RU = MESSAGES["en"], MESSAGES["ru"]


@pytest.fixture(scope="module")
def deployment_copy(small_template, tmp_path_factory) -> Settings:
    """A private copy of the small build with a retrain (4 topics) waiting for activation, an
    admin "anna" and a moderator "mia"."""
    data_dir = tmp_path_factory.mktemp("journeys") / "data"
    settings = staff_deployment(small_template, data_dir, {"anna": "admin", "mia": "moderator"})
    with database.open_database(settings.database_url)() as session:
        parent = store.active_version(session).name
    retrain_version(settings, parent, {"num_topics": 4})
    return settings


def signed_in(browser, app_url: str, name: str, language: str) -> tuple[BrowserContext, Page]:
    messages = MESSAGES[language]
    context = browser.new_context(
        viewport={"width": 1400, "height": 1400}, locale={"en": "en-US", "ru": "ru-RU"}[language]
    )
    page = context.new_page()
    page.goto(f"{app_url}/account")
    wait_until_idle(page)
    page.get_by_role("textbox", name=messages["account_name"]).fill(name)
    page.get_by_role("textbox", name=messages["account_password"]).fill(PASSWORD)
    page.get_by_role("button", name=messages["sign_in"]).click()
    page.get_by_text(messages["signed_in_as"].split("{")[0]).first.wait_for(timeout=60_000)
    wait_until_idle(page)
    return context, page


def open_topic_review(page: Page) -> None:
    """Go to Topic review by the sidebar (in English) and wait until it has drawn."""
    page.get_by_role("link", name=EN["nav_review_topics"]).click()
    page.get_by_role("heading", name=EN["review_title"]).wait_for(timeout=60_000)
    wait_until_idle(page)


def test_a_rename_shows_in_the_topics_header_at_once(browser, app_url):
    context, page = signed_in(browser, app_url, "mia", "en")
    try:
        open_topic_review(page)
        page.get_by_text(EN["edit_topic"]).first.click()
        label = page.get_by_role("textbox", name=EN["label"], exact=True).first
        label.fill("Monuments of the world")
        with page_shown_on_failure(page):
            click_for_a_run(page, page.get_by_role("button", name=EN["save"]).first)
            page.get_by_text(EN["saved"]).wait_for(timeout=60_000)
        wait_until_idle(page)
        header = page.get_by_text("#0 · Monuments of the world · normal")
        assert header.count() == 1
        page.screenshot(path=ARTIFACTS / "en-topic-renamed.png", full_page=True)
    finally:
        context.close()


def choose(page: Page, label: str, option: str) -> None:
    """Pick ``option`` in the first selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label).first.click()
    click_for_a_run(page, page.get_by_role("option", name=option, exact=True))
    wait_until_idle(page)


def chosen(page: Page, label: str) -> str:
    """What the first selectbox labelled ``label`` shows."""
    return page.get_by_role("combobox", name=label).first.input_value()


def test_the_topic_filters_keep_their_choice_in_the_new_language_after_a_switch(browser, app_url):
    context, page = signed_in(browser, app_url, "mia", "en")
    try:
        open_topic_review(page)
        choose(page, EN["field_status"], EN["topic_normal"])
        choose(page, EN["modality"], "Hashtags (@tag)")
        assert (chosen(page, EN["modality"]), chosen(page, EN["set_status"])) == (
            "Hashtags (@tag)",
            EN["topic_normal"],
        )

        switch = page.locator("[data-testid='stButtonGroup'] button", has_text="Русский")
        click_for_a_run(page, switch)
        page.get_by_role("heading", name=RU["review_title"]).wait_for(timeout=60_000)
        wait_until_idle(page)

        with page_shown_on_failure(page):
            assert chosen(page, RU["field_status"]) == RU["topic_normal"]
            assert chosen(page, RU["modality"]) == "Хэштеги (@tag)"
            assert chosen(page, RU["set_status"]) == RU["topic_normal"]
            assert page.get_by_text(RU["review_count"].split("{")[0]).count() == 1
        page.screenshot(path=ARTIFACTS / "ru-topic-filters-after-switch.png", full_page=True)
    finally:
        context.close()


def test_a_waiting_retrain_is_compared_then_activated_after_confirming_in_russian(
    browser, app_url, deployment_copy
):
    context, page = signed_in(browser, app_url, "anna", "ru")
    try:
        page.get_by_role("link", name=RU["nav_versions"]).click()
        page.get_by_text(RU["versions_waiting"].format(versions="v0002")).wait_for(timeout=60_000)
        activate = page.get_by_role("button", name=RU["activate_version"].format(version="v0002"))
        activate.wait_for(timeout=120_000)  # after the comparison: its figures are above it
        wait_until_idle(page)
        assert page.get_by_text(" из 10 тем версии v0001 совпадают с темами v0002").count() == 1
        page.screenshot(path=ARTIFACTS / "ru-version-waiting-compared.png", full_page=True)

        activate.click()
        confirm = RU["confirm_activation"].format(version="v0002", active="v0001")
        page.get_by_text(confirm).wait_for(timeout=60_000)
        with database.open_database(deployment_copy.database_url)() as session:
            assert store.active_version(session).name == "v0001"  # not before the confirmation
        page.get_by_role("button", name=RU["confirm"]).click()

        page.get_by_text(RU["is_active"].format(version="v0002")).wait_for(timeout=60_000)
        wait_until_idle(page)
        with database.open_database(deployment_copy.database_url)() as session:
            assert store.active_version(session).name == "v0002"
        page.screenshot(path=ARTIFACTS / "ru-version-activated.png", full_page=True)
    finally:
        context.close()
