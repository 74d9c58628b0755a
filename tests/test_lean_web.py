"""The web process starts the standard way and never loads BigARTM: given a deployment and an
environment with nothing but its data directory, when every page runs (admin pages included) or
``streamlit run`` serves the app, then it works on protobuf's default implementation."""

from __future__ import annotations

import json
import subprocess
import sys

from core.settings import REPO_ROOT
from tests.browser import ARTIFACTS, chromium, search, serve_app, web_environment
from tests.run_every_page import page_paths


def test_every_page_runs_without_loading_bigartm(deployment):
    result = subprocess.run(
        [sys.executable, "-m", "tests.run_every_page"],
        cwd=REPO_ROOT,
        env=web_environment(
            TOPICSEARCH_DATA_DIR=str(deployment.data_dir),
            TOPICSEARCH_DATABASE_URL=deployment.database_url,
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["search_answered"]
    assert len(report["pages"]) == len(page_paths()) >= 10
    assert any("admin/pages/versions.py" in page for page in report["pages"])
    assert report["protobuf"] != "python"
    assert not report["artm_loaded"]


def test_streamlit_run_serves_a_search_in_a_clean_environment(deployment, monkeypatch):
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    with serve_app(deployment.data_dir) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_role("textbox", name="Words").wait_for(timeout=120_000)
        caption = search(page, "bird", timeout=240_000)  # the first search loads the model
        page.screenshot(path=ARTIFACTS / "clean-environment.png")
        assert "results" in caption
        assert page.get_by_text("Traceback").count() == 0
