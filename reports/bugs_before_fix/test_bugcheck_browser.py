"""Issue-13 bug 4 Chromium test from main's tests/test_browser.py, run on 3634a48. Copied
unchanged (the old page fixture and wait_until_idle are main's)."""

import pytest

from tests.browser import wait_until_idle
from tests.test_browser import page  # noqa: F401

pytestmark = pytest.mark.browser


def test_a_pasted_query_over_the_limit_is_kept_and_explained(page):  # noqa: F811
    page.get_by_role("link", name="Search").click()
    page.get_by_role("textbox", name="Words").fill("собака " * 500)
    page.get_by_role("button", name="Search", exact=True).click()
    # the click's rerun may not have started yet when the app first looks idle: wait for its text
    explained = page.get_by_text("at most 2,000 characters, this one has 3,500")
    explained.wait_for(timeout=60_000)
    wait_until_idle(page)

    assert page.get_by_role("textbox", name="Words").input_value().startswith("собака собака")
    assert explained.count() == 1
