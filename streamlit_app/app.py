"""Entry point: ``streamlit run streamlit_app/app.py``. Registers the pages."""

import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from admin.navigation import admin_sections

st.set_page_config(page_title="Topic search", page_icon="🔎", layout="wide")
pages = {"Topic search": [st.Page("pages/search.py", title="Search", icon="🔎", default=True)]}
navigation = st.navigation({**pages, **admin_sections(st.session_state)})
navigation.run()
