"""Which admin pages a browser session sees, and the staff session it runs under.

``streamlit_app/main.py`` merges ``admin_sections(st.session_state)`` into its ``st.navigation``:
an admin page's script is registered only for a signed-in user whose role allows it, so no URL
runs it for anyone else. Its address is taken by a hidden stand-in instead, which asks to sign
in (or says the role does not allow the page); after a sign-in the same address, rerun, finds
the real page. Each page checks the role again.

A tab's session id lives in ``st.session_state``, which a reload or a new tab starts without;
``adopt_session_cookie`` then takes the browser's from its ``HttpOnly`` cookie, which a sign-in
asks the server to set and a sign-out to clear (``send_cookie_requests``, ``admin.session_cookie``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import streamlit as st

from admin import auth, session_cookie
from admin.ui import TOKEN_KEY, db, signed_in_user
from core.storage.outage import DatabaseUnavailable
from interface.errors import error_text
from interface.i18n import t

PAGES_DIR = Path(__file__).resolve().parent / "pages"
HANDOFF_KEY = "session_cookie_code"  # a one-time code the next run posts for the cookie
END_COOKIE_KEY = "session_cookie_end"  # the next run asks for the cookie to be cleared

# (file, title's message key, icon, permission needed)
ADMIN_PAGES = [
    ("review_topics.py", "nav_review_topics", ":material/label:", "review_topics"),
    ("junk_filter.py", "nav_junk_filter", ":material/filter_alt:", "label_documents"),
    ("weights.py", "nav_weights", ":material/tune:", "weights"),
    ("versions.py", "nav_versions", ":material/history:", "versions"),
    ("add_modality.py", "nav_add_modality", ":material/add_circle:", "modalities"),
    ("add_photos.py", "nav_add_photos", ":material/add_photo_alternate:", "add_documents"),
    ("audit_log.py", "nav_audit_log", ":material/receipt_long:", "users"),
]


def visible_admin_pages(state: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """The entries of ``ADMIN_PAGES`` that the session's signed-in user may open."""
    user = signed_in_user(state)
    return [page for page in ADMIN_PAGES if auth.allowed(user, page[3])]


def admin_sections(state: Mapping[str, Any]) -> dict[str, list[st.Page]]:
    """Navigation sections to add: "Account" always, "Admin" with the pages the role allows,
    and a hidden stand-in at the address of each other admin page."""
    account = st.Page(
        PAGES_DIR / "account.py", title=t("nav_account"), icon=":material/key:", url_path="account"
    )
    try:
        visible = visible_admin_pages(state)
    except DatabaseUnavailable:
        # Roles cannot be checked: no admin page and no stand-in, so an admin page's address
        # shows the public search (served from memory) until the database is back.
        return {t("nav_section_account"): [account]}
    pages = [
        st.Page(PAGES_DIR / file, title=t(title), icon=icon, url_path=_url_path(file))
        for file, title, icon, _ in visible
    ]
    stand_ins = [
        st.Page(_stand_in(title), title=t(title), url_path=_url_path(file), visibility="hidden")
        for file, title, *_ in (page for page in ADMIN_PAGES if page not in visible)
    ]
    staff = {t("nav_section_account"): [account, *stand_ins]}
    return {t("nav_section_admin"): pages, **staff} if pages else staff


def _url_path(file: str) -> str:
    return f"admin-{Path(file).stem}"


def _stand_in(title: str) -> Callable[[], None]:
    """What an admin page's address shows to a session that may not open it."""

    def stand_in() -> None:
        user = signed_in_user(st.session_state)
        if user is None:
            st.title(t("account_title"))
            sign_in_form(reason=t("sign_in_to_open", page=t(title)))
        else:
            st.title(t(title))
            st.error(t("role_cannot_open", role=t(f"role_{user.role}")))

    return stand_in


def adopt_session_cookie(state: MutableMapping[str, Any], cookies: Mapping[str, str]) -> None:
    """A tab without a session id of its own takes the browser's, from the cookie it sent when
    it connected: that keeps a reload or a new tab signed in. Whether that id is still good is
    checked against the database at every use. (AppTest, with no browser, hands out mock
    cookies: only a string is an id.)"""
    cookie = cookies.get(auth.SESSION_COOKIE)
    if TOKEN_KEY not in state and isinstance(cookie, str) and cookie:
        state[TOKEN_KEY] = cookie


def send_cookie_requests(state: MutableMapping[str, Any]) -> None:
    """Ask the server, from the page, to set the session cookie after a sign-in or clear it
    after a sign-out (each once)."""
    if code := state.pop(HANDOFF_KEY, None):
        st.html(session_cookie.start_script(code), unsafe_allow_javascript=True)
    if state.pop(END_COOKIE_KEY, False):
        st.html(session_cookie.end_script(), unsafe_allow_javascript=True)


def sign_in_form(reason: str | None = None) -> None:
    """Name and password; a right pair signs this tab in, and the next run asks for the
    cookie that signs in the browser's other tabs and reloads."""
    if reason:
        st.info(reason)
    st.caption(t("account_caption"))
    with st.form("sign_in"):
        name = st.text_input(t("account_name"))
        password = st.text_input(t("account_password"), type="password")
        submitted = st.form_submit_button(t("sign_in"), type="primary")
    if not submitted:
        return
    try:
        with db() as session:
            token = auth.sign_in(session, name, password)
            code = auth.hand_off(session, token)
    except auth.SignInError as error:
        st.error(error_text(error))
        return
    st.session_state[TOKEN_KEY] = token
    st.session_state[HANDOFF_KEY] = code
    st.rerun()


def sign_out() -> None:
    """End the user's sessions everywhere and clear this browser's cookie."""
    with db() as session:
        auth.sign_out(session, st.session_state.pop(TOKEN_KEY))
    st.session_state[END_COOKIE_KEY] = True
    st.rerun()
