"""Which admin pages a browser session sees: none before sign-in, then those its role allows.

``streamlit_app/app.py`` merges ``admin_sections(st.session_state)`` into its ``st.navigation``;
a page that is not registered cannot be opened by any URL. Each page checks the role again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from admin import auth
from admin.ui import signed_in_user
from core.outage import DatabaseUnavailable

PAGES_DIR = Path(__file__).resolve().parent / "pages"

# (file, title, icon, permission needed)
ADMIN_PAGES = [
    ("review_topics.py", "Topic review", ":material/label:", "review_topics"),
    ("junk_filter.py", "Junk filter", ":material/filter_alt:", "label_documents"),
    ("weights.py", "Modality weights", ":material/tune:", "weights"),
    ("versions.py", "Model versions", ":material/history:", "versions"),
    ("add_modality.py", "Add a modality", ":material/add_circle:", "modalities"),
    ("audit_log.py", "Audit log", ":material/receipt_long:", "users"),
]


def visible_admin_pages(state: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """The entries of ``ADMIN_PAGES`` that the session's signed-in user may open (none while the
    metadata database is unreachable: roles cannot be checked)."""
    try:
        user = signed_in_user(state)
    except DatabaseUnavailable:
        return []
    return [page for page in ADMIN_PAGES if auth.allowed(user, page[3])]


def admin_sections(state: Mapping[str, Any]) -> dict[str, list[st.Page]]:
    """Navigation sections to add: "Account" always, "Admin" with the pages the role allows."""
    account = st.Page(
        PAGES_DIR / "account.py", title="Account", icon=":material/key:", url_path="account"
    )
    pages = [
        st.Page(PAGES_DIR / file, title=title, icon=icon, url_path=f"admin-{Path(file).stem}")
        for file, title, icon, _ in visible_admin_pages(state)
    ]
    return {"Admin": pages, "Account": [account]} if pages else {"Account": [account]}
