"""An admin adds photos from the admin panel in a real browser, in Russian: two photos with their
captions and hashtags are queued, the job worker adds them, the job reads as what the admin did,
the form is empty again (a second click cannot queue the same photos twice), and a visitor's
search by a photo's words finds it, and by a word of its caption the model never learned.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from core.settings import Settings
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, RESULTS_CAPTION, wait_until_idle
from tests.conftest import BUILTIN_COLLECTION, builtin_rows, running_worker, staff_deployment
from tests.test_browser_data_scientist import finished_jobs, sign_in

pytestmark = pytest.mark.browser

RU = MESSAGES["ru"]
# Documents the small build lacks, each with a caption word at most two of its documents share
# (as in tests/test_live_collection.py), so that a search by its words can find it.
NEW_ROWS = (168, 162)
NEW_WORD = "Зубр"  # added to the first photo's caption: the build never learned it


@pytest.fixture(scope="module")
def deployment_copy(small_template, tmp_path_factory) -> Settings:
    data_dir = tmp_path_factory.mktemp("add-photos") / "data"
    return staff_deployment(small_template, data_dir, {"anna": "admin"})


@pytest.fixture
def worker(deployment_copy) -> Iterator[None]:
    """At the default heartbeat: at 0.2 s (presumed dead after 1 s) a beat lapses on a loaded
    machine, and the job is failed as a dead worker's."""
    with running_worker(deployment_copy):
        yield


def test_added_photos_are_named_by_what_the_admin_did_clear_the_form_and_are_found(
    browser, app_url, deployment_copy, worker
):
    rows = [builtin_rows()[number] for number in NEW_ROWS]
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, locale="ru-RU")
    page = context.new_page()
    try:
        sign_in(page, app_url, "ru")
        page.goto(f"{app_url}/admin-add_photos")
        wait_until_idle(page)
        page.locator("input[type=file]").first.set_input_files(
            [str(BUILTIN_COLLECTION / row["image"]) for row in rows]
        )
        captions = page.get_by_role("textbox", name=RU["photo_caption"])
        captions.first.wait_for(timeout=60_000)
        for number, row in enumerate(rows):
            captions.nth(number).fill(row["text"] + (f" {NEW_WORD}." if number == 0 else ""))
            page.get_by_role("textbox", name=RU["photo_hashtags"]).nth(number).fill(
                " ".join("#" + tag for tag in row["tags"])
            )
            page.get_by_role("textbox", name=RU["photo_hashtags"]).nth(number).press("Tab")
        wait_until_idle(page)
        page.get_by_role("button", name=RU["add_these_photos"]).click()
        page.get_by_text(RU["photos_queued"]).wait_for(timeout=60_000)

        [job] = finished_jobs(deployment_copy)
        assert job.status == "done", job.error
        assert len(job.result["added"]) == 2
        done = page.get_by_text("добавление 2 фото от anna: добавлено 2")
        done.wait_for(timeout=60_000)  # the job panel refreshes by itself
        wait_until_idle(page)
        page.screenshot(path=ARTIFACTS / "ru-photos-added.png", full_page=True)
        assert page.get_by_role("textbox", name=RU["photo_caption"]).count() == 0
        assert page.get_by_role("button", name=RU["add_these_photos"]).is_disabled()
        assert not any(Path(row["image"]).name in page.content() for row in rows)

        words = " ".join([rows[0]["text"], *("#" + tag for tag in rows[0]["tags"])])
        page.goto(f"{app_url}/?q={quote(words)}")
        page.locator(RESULTS_CAPTION).wait_for(timeout=120_000)
        wait_until_idle(page)
        assert page.get_by_text(rows[0]["text"], exact=False).count() >= 1

        # a word of the admin's caption that the model never learned finds the photo, first
        page.goto(f"{app_url}/?q={quote(NEW_WORD.lower())}")
        page.locator(RESULTS_CAPTION).wait_for(timeout=120_000)
        wait_until_idle(page)
        page.screenshot(path=ARTIFACTS / "ru-found-by-a-new-word.png", full_page=True)
        results = page.inner_text("[data-testid='stMain']").split(
            page.locator(RESULTS_CAPTION).inner_text()
        )[1]
        strengths = [results.find(RU[f"strength_{s}"]) for s in ("strong", "good", "weak")]
        first_card_ends = min(at for at in strengths if at >= 0)  # the first card's detail line
        assert 0 <= results.find(rows[0]["text"]) < first_card_ends
        assert page.get_by_text(RU["unknown_ignored"].split(":")[0]).count() == 0
        assert page.get_by_text(RU["fit_sentence_unlearned"]).count() == 1
    finally:
        context.close()
