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
from core.storage.outage import DatabaseUnavailable
from interface.i18n import t

PAGES_DIR = Path(__file__).resolve().parent / "pages"

# (file, title's message key, icon, permission needed)
ADMIN_PAGES = [
    ("review_topics.py", "nav_review_topics", ":material/label:", "review_topics"),
    ("junk_filter.py", "nav_junk_filter", ":material/filter_alt:", "label_documents"),
    ("weights.py", "nav_weights", ":material/tune:", "weights"),
    ("versions.py", "nav_versions", ":material/history:", "versions"),
    ("add_modality.py", "nav_add_modality", ":material/add_circle:", "modalities"),
    ("audit_log.py", "nav_audit_log", ":material/receipt_long:", "users"),
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
        PAGES_DIR / "account.py", title=t("nav_account"), icon=":material/key:", url_path="account"
    )
    pages = [
        st.Page(PAGES_DIR / file, title=t(title), icon=icon, url_path=f"admin-{Path(file).stem}")
        for file, title, icon, _ in visible_admin_pages(state)
    ]
    staff = {t("nav_section_account"): [account]}
    return {t("nav_section_admin"): pages, **staff} if pages else staff
