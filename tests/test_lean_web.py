"""The web process starts the standard way and never loads BigARTM: given a deployment and an
environment with nothing but its data directory, when every page runs (admin pages included) or
``streamlit run`` serves the app, then it works on protobuf's default implementation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.settings import REPO_ROOT
from tests.browser import ARTIFACTS, chromium, serve_app, wait_until_idle
from tests.run_every_page import page_paths


def clean_environment(settings) -> dict[str, str]:
    environment = {
        k: v for k, v in os.environ.items() if k != "PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"
    }
    environment["TOPICSEARCH_DATA_DIR"] = str(settings.data_dir)
    environment["TOPICSEARCH_DATABASE_URL"] = settings.database_url
    return environment


def test_every_page_runs_without_loading_bigartm(deployment):
    result = subprocess.run(
        [sys.executable, "-m", "tests.run_every_page"],
        cwd=REPO_ROOT,
        env=clean_environment(deployment),
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert len(report["pages"]) == len(page_paths()) >= 10
    assert any("admin/pages/versions.py" in page for page in report["pages"])
    assert report["protobuf"] != "python"
    assert not report["artm_loaded"]


def test_streamlit_run_serves_the_app_in_a_clean_environment(deployment, monkeypatch):
    monkeypatch.delenv("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", raising=False)
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    with serve_app(deployment.data_dir) as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.get_by_label("Words").wait_for(timeout=120_000)
        wait_until_idle(page)
        page.screenshot(path=ARTIFACTS / "clean-environment.png")
        assert page.get_by_text("Traceback").count() == 0
