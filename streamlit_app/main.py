"""The app's script: registers the pages (served by ``streamlit run streamlit_app/app.py``, whose
``st.App`` runs this file)."""

import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from admin.navigation import admin_sections, adopt_session_cookie, send_cookie_requests
from core.storage.outage import DatabaseUnavailable
from interface.errors import error_text
from interface.i18n import language_switch, t
from interface.widgets import IMAGE_BOX_STYLE, escape_markdown, streamlit_hints_style

language_switch()
st.set_page_config(page_title=t("app_title"), page_icon="🔎", layout="wide")
# Every page: Streamlit's own English hints are hidden or replaced (text fields are on most).
st.html(IMAGE_BOX_STYLE + streamlit_hints_style())
public_pages = [
    st.Page("views/search.py", title=t("nav_search"), icon=":material/search:", default=True),
    st.Page("views/annotate.py", title=t("nav_annotate"), icon=":material/sell:"),
    st.Page("views/topics.py", title=t("nav_topics"), icon=":material/category:"),
    st.Page("views/about.py", title=t("nav_about"), icon=":material/info:"),
]
# A reload or a new tab signs in with the browser's session cookie.
adopt_session_cookie(st.session_state, st.context.cookies)
# Admin pages are registered only for a signed-in user whose role allows them.
page = st.navigation({t("app_title"): public_pages, **admin_sections(st.session_state)})
with st.sidebar:
    send_cookie_requests(st.session_state)
try:
    page.run()
except DatabaseUnavailable as error:
    # Every page of every visitor: the next run after the database is back shows the page
    # again (the service reconnects by itself).
    st.error(escape_markdown(error_text(error)))
    st.button(t("try_again"), type="primary")
