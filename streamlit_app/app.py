"""Entry point: ``streamlit run streamlit_app/app.py``. Registers the pages."""

import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from admin.navigation import admin_sections
from core.outage import DatabaseUnavailable
from streamlit_app.widgets import escape_markdown

PUBLIC_PAGES = [
    st.Page("views/search.py", title="Search", icon=":material/search:", default=True),
    st.Page("views/annotate.py", title="Annotate a photo", icon=":material/sell:"),
    st.Page("views/topics.py", title="Topics", icon=":material/category:"),
    st.Page("views/about.py", title="About the model", icon=":material/info:"),
]

st.set_page_config(page_title="Topic search", page_icon="🔎", layout="wide")
# Admin pages are registered only for a signed-in user whose role allows them.
page = st.navigation({"Topic search": PUBLIC_PAGES, **admin_sections(st.session_state)})
try:
    page.run()
except DatabaseUnavailable as error:
    # Every page of every visitor: the next run after the database is back shows the page
    # again (the service reconnects by itself).
    st.error(escape_markdown(str(error)))
    st.button("Try again", type="primary")
