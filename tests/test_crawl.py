"""A crawl of the whole interface (issue 20, item 7): as a visitor, a moderator and an admin, in
Russian and in English, open every page the sidebar links to and work every control on it — each
button, toggle, tab, expander, radio option and checkbox, every text field filled with a normal
query — and fail on a Streamlit exception, a traceback or, in Russian, a Latin word that is not a
name the Russian interface may show (the allowlist below: the collection's own words and
hashtags, read from the deployment, and a few proper names).

Controls that delete, roll back, activate, start a job or sign out are skipped, named by their
message keys so the list survives rewording. A control is worked once per page (the first of
those sharing a label: one "Похожие" stands for every card's), at most ``MAX_ACTIONS`` per
page to keep a case within its CI budget. Screenshots of failures go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page

from admin import auth
from admin.navigation import ADMIN_PAGES
from core.settings import Settings
from interface.i18n import LANGUAGES
from interface.messages import MESSAGES
from tests.browser import ARTIFACTS, wait_until_idle
from tests.conftest import STAFF_PASSWORD, staff_deployment

pytestmark = pytest.mark.browser

PASSWORD = STAFF_PASSWORD
QUERY = {"ru": "собака", "en": "dog"}
LOCALE = {"ru": "ru-RU", "en": "en-US"}
MAX_ACTIONS = 30  # per page: every page of the small build has fewer distinct controls
PUBLIC_PAGES = ["", "annotate", "topics", "about", "account"]  # "" is the search
STAFF = ("moderator", "admin")  # each signs in under the name of its role

# Controls never worked: they change what every visitor gets or end the session.
DESTRUCTIVE = (
    "delete",
    "roll_back",
    "activate_version",
    "build_new",
    "retrain_active",
    "reindex",
    "start",
    "train_svm",
    "apply_hide",
    "unhide_all",
    "apply_live",
    "cancel",
    "sign_out",
)

# Latin words the Russian interface shows on purpose, besides the collection's own words.
PROPER_NAMES = {
    "BigARTM",
    "ImageNet",
    "EfficientNet",
    "L1",
    "MB",
    "ms",
    "UTC",
    "JPEG",  # file formats: the photos the uploader takes, a new modality's tokens
    "PNG",
    "WebP",
    "CSV",
    "JSONL",
    *LANGUAGES.values(),  # the language switch names each language in itself
}
VERSION_NAME = re.compile(r"^v\d+$")
HASHTAG = re.compile(r"#\w+")
STAFF_MODALITY = re.compile(r"@[\w-]+")  # a modality's id, for staff: "Хэштеги (@tag)"
UNTRANSLATED = re.compile(r"[A-Za-z][A-Za-z' -]* \(англ\.\)")  # an ImageNet class without a name
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")

# Every control the crawl works, tagged with its index so Python can click it; the sidebar (the
# language switch and the page links) is left out: the crawl opens the pages itself.
CONTROLS_SCRIPT = """() => {
    document.querySelectorAll("[data-crawl]").forEach(e => e.removeAttribute("data-crawl"));
    const main = document.querySelector("[data-testid='stMain']");
    const found = [];
    const add = (kind, selector, label) => main.querySelectorAll(selector).forEach(e => {
        const off = e.disabled || e.getAttribute("aria-disabled") === "true";
        const shown = e.checkVisibility({visibilityProperty: true});  // not in a closed expander
        if (shown && !off) found.push([kind, label(e).trim(), e]);
    });
    const text = e => {  // without icon ligatures
        const copy = e.cloneNode(true);
        copy.querySelectorAll("[data-testid='stIconMaterial']").forEach(icon => icon.remove());
        return copy.textContent.replace(/\\s+/g, " ");
    };
    add("expander", "[data-testid='stExpander'] summary", text);
    add("tab", "button[role='tab']", text);
    add("button", "[data-testid='stButton'] button, [data-testid='stFormSubmitButton'] button, "
        + "[data-testid='stButtonGroup'] button, [data-testid='stPopover'] button, "
        + "[data-testid='stFeedback'] button",
        e => text(e) || e.getAttribute("aria-label") || "");
    add("checkbox", "[data-testid='stCheckbox'] label", text);
    add("radio", "[data-testid='stRadio'] [role='radiogroup'] label", text);
    add("text field", "[data-testid='stTextInput'] input, [data-testid='stTextArea'] textarea",
        e => e.getAttribute("aria-label") || "");
    return found.map(([kind, label, e], i) => {
        e.setAttribute("data-crawl", String(i));
        return [kind, label];
    });
}"""

# What a reader sees: text nodes laid out on the page, without icon ligatures (":material/search:"
# is drawn from the word "search") and without what is parked off-screen until focused
# (Streamlit's "Skip to main content" link); code (a command to run, a file's columns) is typed
# as it is in every language.
VISIBLE_TEXT_SCRIPT = """() => {
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const parts = [];
    while (walker.nextNode()) {
        const node = walker.currentNode;
        const parent = node.parentElement;
        const skipped = "[data-testid='stIconMaterial'], code, style, script";
        if (!parent || parent.closest(skipped)) continue;
        const box = parent.getBoundingClientRect();
        if (box.width === 0 || box.height === 0 || box.right <= 0 || box.bottom <= 0) continue;
        if (getComputedStyle(parent).visibility === "hidden") continue;
        parts.push(node.textContent);
    }
    document.querySelectorAll("input:placeholder-shown, textarea:placeholder-shown").forEach(
        field => { if (field.getClientRects().length) parts.push(field.placeholder); });
    return parts.join("\\n");
}"""

SIDEBAR_LINKS_SCRIPT = """() => [...document.querySelectorAll("[data-testid='stSidebarNav'] a")]
    .map(link => link.href)"""


@dataclass(frozen=True)
class Control:
    kind: str
    label: str
    index: int


@pytest.fixture(scope="module")
def deployment_copy(small_template, tmp_path_factory) -> Settings:
    """A private copy of the small build, with a moderator and an admin."""
    data_dir = tmp_path_factory.mktemp("crawl") / "data"
    return staff_deployment(small_template, data_dir, {role: role for role in STAFF})


@pytest.fixture(scope="module")
def collection_words(deployment_copy) -> set[str]:
    """Latin words the deployment itself brings: its collection's captions, tags, tokens and
    their display forms in every version as stored, the collection's folder and the image
    backbone's name (both shown on the About page)."""
    words = set(LATIN_WORD.findall(f"{deployment_copy.collection} {deployment_copy.backbone}"))
    for manifest in deployment_copy.models_dir.glob("*/version.json"):
        version = manifest.parent
        for line in (version / "documents.jsonl").read_text().splitlines():
            record = json.loads(line)
            texts = [record["id"], record["text"], *record["tags"]]
            texts += [token for bag in record["tokens"].values() for token in bag]
            words.update(w for text in texts for w in LATIN_WORD.findall(text))
        forms = json.loads((version / "display.json").read_text())
        for bag in forms.values():
            words.update(w for form in bag.values() for w in LATIN_WORD.findall(form))
    return words


def stray_latin(text: str, allowed: set[str]) -> list[str]:
    """Latin words in ``text`` that the Russian interface should not show."""
    for marked in (HASHTAG, STAFF_MODALITY, UNTRANSLATED):
        text = marked.sub(" ", text)
    return sorted(
        {
            word
            for word in LATIN_WORD.findall(text)
            if word not in allowed and word not in PROPER_NAMES and not VERSION_NAME.match(word)
        }
    )


class Crawl:
    """One role in one language: works the controls of each page and collects what went wrong."""

    def __init__(self, page: Page, language: str, allowed: set[str]) -> None:
        self.page = page
        self.language = language
        self.allowed = allowed
        messages = MESSAGES[language]
        # "Activate {version}" skips "Activate v0002"
        self.skipped = [
            re.compile(re.sub(r"\\\{\w*\\\}", ".+", re.escape(messages[key])) + "$")
            for key in DESTRUCTIVE
        ]
        self.failures: list[str] = []
        self.worked: list[str] = []

    def check(self, where: str) -> None:
        """Record an exception block, a traceback or (in Russian) stray Latin on the page."""
        page = self.page
        problems = []
        for block in page.locator("[data-testid='stException']").all():
            problems.append(f"exception: {block.inner_text()[:300]!r}")
        text = page.evaluate(VISIBLE_TEXT_SCRIPT)
        if "Traceback (most recent call last)" in text:
            problems.append("a traceback")
        if self.language == "ru" and (latin := stray_latin(text, self.allowed)):
            problems.append(f"Latin words {latin}")
        if problems:
            self.failures.append(f"{where}: {'; '.join(problems)}")
            name = re.sub(r"\W+", "-", where)[:80]
            page.screenshot(path=ARTIFACTS / f"crawl-{self.language}-{name}.png", full_page=True)

    def open(self, url: str) -> None:
        self.page.goto(url)
        wait_until_idle(self.page)

    def crawl_page(self, url: str, name: str) -> None:
        """Open ``url`` and work each of its controls once, reopening it when one leaves it."""
        self.open(url)
        self.check(f"{name}, opened")
        worked: set[tuple[str, str]] = set()
        for _ in range(MAX_ACTIONS):
            control = self.next_control(worked)
            if control is None:
                return
            worked.add((control.kind, control.label))
            where = f"{name} → {control.kind} «{control.label}»"
            self.worked.append(where)
            try:
                self.work_settled(control)
            except PlaywrightError as error:
                self.failures.append(f"{where}: cannot be worked: {error.message[-300:]}")
                self.open(url)
                continue
            self.check(where)
            if self.page.url.split("?")[0] != url.split("?")[0]:
                self.open(url)
        self.failures.append(f"{name}: more than {MAX_ACTIONS} controls; raise MAX_ACTIONS")

    def marked(self) -> list[Control]:
        """The page's controls now, each freshly marked for ``work``."""
        return [
            Control(kind, label, index)
            for index, (kind, label) in enumerate(self.page.evaluate(CONTROLS_SCRIPT))
        ]

    def next_control(self, worked: set[tuple[str, str]]) -> Control | None:
        for control in self.marked():
            skipped = any(template.match(control.label) for template in self.skipped)
            if (control.kind, control.label) not in worked and not skipped:
                return control
        return None

    def work_settled(self, control: Control) -> None:
        """Work ``control``; if the page redrew it between its marking and the click (seen on a
        loaded CI machine: "element is not attached to the DOM"), wait until the page is idle,
        mark the controls again and work the same one once more."""
        try:
            self.work(control)
        except PlaywrightError:
            wait_until_idle(self.page)
            again = [c for c in self.marked() if (c.kind, c.label) == (control.kind, control.label)]
            if not again:
                raise
            self.work(again[0])

    def work(self, control: Control) -> None:
        element = self.page.locator(f"[data-crawl='{control.index}']")
        if control.kind == "text field":
            element.fill(QUERY[self.language])
            element.press("Enter")
        else:
            element.click(timeout=5_000)
        wait_until_idle(self.page)


def sign_in(page: Page, url: str, name: str, messages: dict) -> None:
    page.goto(f"{url}/account")
    wait_until_idle(page)
    page.get_by_role("textbox", name=messages["account_name"]).fill(name)
    page.get_by_role("textbox", name=messages["account_password"]).fill(PASSWORD)
    page.get_by_role("button", name=messages["sign_in"]).click()
    page.get_by_role("button", name=messages["sign_out"]).wait_for(timeout=60_000)
    wait_until_idle(page)


def pages_of(role: str) -> list[str]:
    """The addresses of the pages ``role`` sees in the sidebar: the public ones and Account, and
    the admin pages its permissions allow."""
    allowed = auth.PERMISSIONS.get(role, frozenset())
    staff = [f"admin-{Path(file).stem}" for file, _, _, need in ADMIN_PAGES if need in allowed]
    return [*PUBLIC_PAGES, *staff]


def crawl_case(role: str, language: str, address: str) -> pytest.param:
    return pytest.param(role, language, address, id=f"{role}-{language}-/{address}")


@pytest.mark.parametrize("role", ["visitor", *STAFF])
def test_the_sidebar_links_to_the_pages_the_role_may_see(app_url, browser, role):
    context = browser.new_context(locale="en-US")
    try:
        page = context.new_page()
        if role in STAFF:
            sign_in(page, app_url, role, MESSAGES["en"])
        else:
            page.goto(app_url)
            wait_until_idle(page)
        links = [link.removeprefix(f"{app_url}/") for link in page.evaluate(SIDEBAR_LINKS_SCRIPT)]
        assert sorted(links) == sorted(pages_of(role))
    finally:
        context.close()


@pytest.mark.parametrize(
    ("role", "language", "address"),
    [
        crawl_case(role, language, address)
        for language in ("ru", "en")
        for role in ("visitor", *STAFF)
        for address in pages_of(role)
    ],
)
def test_every_control_of_the_page_works_without_errors_in_the_interface_language(
    app_url, browser, collection_words, role, language, address
):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale=LOCALE[language])
    try:
        page = context.new_page()
        if role in STAFF:
            sign_in(page, app_url, role, MESSAGES[language])
        # Account shows the signed-in user's name, which is data ("Вы вошли как moderator").
        crawl = Crawl(page, language, collection_words | set(STAFF))
        crawl.crawl_page(f"{app_url}/{address}", f"/{address}")
    finally:
        context.close()
    print(f"{role}/{language}: " + "; ".join(crawl.worked))
    assert not crawl.failures, "\n".join(crawl.failures)
