"""Runs every page of the app (public and admin, signed in as an admin) in this process, then
prints one JSON line: the pages run, their errors, the protobuf implementation in use and whether
BigARTM or TensorFlow were loaded. ``tests/test_lean_web.py`` runs it in a fresh process, the way
``streamlit run`` starts: nothing but the data directory in the environment.

    TOPICSEARCH_DATA_DIR=var .venv/bin/python -m tests.run_every_page
"""

from __future__ import annotations

import json
import sys

from google.protobuf.internal import api_implementation
from streamlit.testing.v1 import AppTest

from admin import auth
from admin.ui import TOKEN_KEY
from core.settings import REPO_ROOT, load_settings
from core.storage import database

APP_DIR = REPO_ROOT / "streamlit_app"
USER, PASSWORD = "page-runner", "a long enough password"


def page_paths() -> list[str]:
    """Every page file, as ``AppTest.switch_page`` names it (relative to the app's folder)."""
    public = sorted((APP_DIR / "views").glob("*.py"))
    admin = sorted((REPO_ROOT / "admin" / "pages").glob("*.py"))
    return [f"views/{path.name}" for path in public] + [f"../admin/pages/{p.name}" for p in admin]


def run_every_page() -> dict:
    settings = load_settings()
    with database.open_database(settings.database_url)() as session:
        auth.add_user(session, USER, "admin", PASSWORD, by="tests.run_every_page")
        token = auth.sign_in(session, USER, PASSWORD)
    app = AppTest.from_file(str(APP_DIR / "main.py"), default_timeout=180)
    app.session_state[TOKEN_KEY] = token
    app.run()
    errors = {}
    for page in page_paths():
        app.switch_page(page).run()
        refused = [e.value for e in app.error if "staff only" in e.value]  # not signed in
        if app.exception or refused:
            errors[page] = [exception.message for exception in app.exception] + refused
    app.switch_page("views/search.py").run()
    app.text_input[0].input("bird")
    app.button[0].click().run()
    if app.exception:
        errors["a search"] = [exception.message for exception in app.exception]
    return {
        "pages": page_paths(),
        "search_answered": any("results" in caption.value for caption in app.caption),
        "errors": errors,
        "protobuf": api_implementation.Type(),
        "artm_loaded": "artm" in sys.modules,
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


if __name__ == "__main__":
    print(json.dumps(run_every_page()))
