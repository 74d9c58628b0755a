"""The app as a visitor meets it: a real `streamlit run` server on a free local port, and Debian's
Chromium driven by Playwright (``playwright install`` cannot download browsers here; NOTES.md).

Used by the browser tests, ``scripts/measure_app.py`` and ``scripts/load_test.py``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from core.settings import REPO_ROOT

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
# The results caption: "Model v0001 · 12 results · 85 ms" ("Модель v0001 · 12 результатов ...").
RESULTS_CAPTION = (
    "[data-testid='stCaptionContainer']:is(:has-text(' result'), :has-text(' результат'))"
)
# Page-side predicates for wait_for_function, shared with the async load test.
NEW_RESULTS_SCRIPT = """(before) => {
    const captions = [...document.querySelectorAll("[data-testid='stCaptionContainer']")];
    const results = captions.find(e => /· [0-9]+ (ms|мс)$/.test(e.innerText.trim()));
    return results !== undefined && results.innerText !== before;
}"""
SCRIPT_IDLE_SCRIPT = """() => {
    const app = document.querySelector("[data-testid='stApp']");
    return app !== null && app.getAttribute("data-test-script-state") === "notRunning";
}"""

# The page has settled when its DOM has not changed for QUIET_MS. The same watch counts the
# script runs the page has seen start (``topicsearchRuns``), to tell a click the app never got.
WATCH_CHANGES_SCRIPT = """() => {
    if (window.topicsearchLastChange !== undefined) return;
    window.topicsearchLastChange = performance.now();
    window.topicsearchRuns = 0;
    new MutationObserver((records) => {
        window.topicsearchLastChange = performance.now();
        for (const record of records) {
            if (record.attributeName === "data-test-script-state"
                && record.oldValue === "notRunning") window.topicsearchRuns += 1;
        }
    }).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeOldValue: true,
        characterData: true});
}"""
QUIET_SCRIPT = "(quiet) => performance.now() - window.topicsearchLastChange > quiet"
QUIET_MS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_environment(**settings: str) -> dict[str, str]:
    """This process's environment as a web process gets it: without the protobuf choice that the
    test suite makes for BigARTM (see tests/conftest.py), plus ``settings``."""
    environment = dict(os.environ)
    environment.pop("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", None)
    return {**environment, **settings}


@dataclass(frozen=True)
class ServedApp:
    url: str
    process: subprocess.Popen

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process (all its threads) has used so far."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve_app(data_dir: Path, timeout: float = 120) -> Iterator[str]:
    """Run the app on its own port over ``data_dir``; yields its URL once the server is healthy."""
    with served_app(data_dir, timeout) as app:
        yield app.url


@contextmanager
def served_app(data_dir: Path, timeout: float = 120) -> Iterator[ServedApp]:
    """Run the app on its own port over ``data_dir``; yields it once the server is healthy.

    The server is started as ``scripts/demo.sh`` starts it (from the repository root, so
    ``.streamlit/config.toml`` applies), on protobuf's default implementation (the web process
    never loads BigARTM, which would need the pure-Python one), and stopped on exit; its log is
    kept with the artifacts.
    """
    port = free_port()
    environment = web_environment(TOPICSEARCH_DATA_DIR=str(data_dir))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / f"streamlit-{port}.log", "wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "streamlit_app/app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
            ],
            cwd=REPO_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, server, timeout)
            yield ServedApp(url, server)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_healthy(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the app exited with code {server.returncode}; see its log")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"the app at {url} was not healthy after {timeout:.0f} s")


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless; fails with the install command when it is missing."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} not found: install it with `apt-get install chromium`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def search(page: Page, text: str, timeout: float = 60_000) -> str:
    """Type ``text`` into the search form, submit it, and wait until its results are on screen.

    Returns the results caption, which names the search's id, so every search is told apart.
    """
    caption = page.locator(RESULTS_CAPTION)
    before = caption.inner_text() if caption.count() else ""
    page.get_by_role("textbox", name="Words").fill(text)
    click_for_a_run(page, page.get_by_role("button", name="Search", exact=True))
    page.wait_for_function(NEW_RESULTS_SCRIPT, arg=before, timeout=timeout)
    wait_until_idle(page, timeout)
    return caption.inner_text()


def wait_until_idle(page: Page, timeout: float = 60_000) -> None:
    """Wait until the app's script run has finished and the page has drawn all it sent.

    Streamlit renders while the script runs, and keeps adding elements for a moment after it
    reports "not running" (a results page had 2 of its 26 thumbs a few milliseconds after, all
    of them 200 ms later): a locator resolved in between finds a later card's thumb first.
    """
    watch_changes(page)
    page.wait_for_function(SCRIPT_IDLE_SCRIPT, timeout=timeout)
    page.wait_for_function(QUIET_SCRIPT, arg=QUIET_MS, timeout=timeout)


def click_for_a_run(page: Page, control: Locator, wait_for_run: float = 15_000) -> None:
    """Click ``control`` and wait until the app starts the script run it asks for.

    A click the app never got (no run starts: the page's connection was busy or the control was
    redrawn under the pointer, as seen only on a loaded CI machine) is clicked again, once; a
    click the app got and answered wrongly is the test's to catch, not retried.
    """
    watch_changes(page)
    runs = page.evaluate("() => window.topicsearchRuns")
    for attempt in range(2):
        control.click()
        try:
            page.wait_for_function(
                "(runs) => window.topicsearchRuns > runs", arg=runs, timeout=wait_for_run
            )
            return
        except PlaywrightTimeoutError:
            if attempt == 1:
                raise


@contextmanager
def page_shown_on_failure(page: Page) -> Iterator[None]:
    """On a failure inside, print what the page showed (its script state and text), so that a CI
    log says what the visitor saw when the test gave up."""
    try:
        yield
    except Exception:
        state = page.evaluate(
            "() => document.querySelector(\"[data-testid='stApp']\")"
            "?.getAttribute('data-test-script-state')"
        )
        print(f"The page at {page.url} (script {state}) showed:\n{page.inner_text('body')[:4000]}")
        raise


def watch_changes(page: Page) -> None:
    """Start noting when the page last changed, unless it already does (a load starts over)."""
    page.evaluate(WATCH_CHANGES_SCRIPT)


def page_clock(page: Page) -> float:
    """The page's ``performance.now()``, in milliseconds."""
    return page.evaluate("() => performance.now()")


def last_change(page: Page) -> float:
    """When the page last changed, on the page's clock (after ``watch_changes``)."""
    return page.evaluate("() => window.topicsearchLastChange")


def filled(template: str, **values: str) -> re.Pattern[str]:
    """A message as a page shows it: ``values`` filled in, any other placeholder anything."""
    pattern = ""
    for number, part in enumerate(re.split(r"\{(\w+)(?::[^}]*)?\}", template)):
        if number % 2 == 0:  # the text between placeholders
            pattern += re.escape(part)
        else:
            pattern += re.escape(values[part]) if part in values else ".+"
    return re.compile(pattern)
