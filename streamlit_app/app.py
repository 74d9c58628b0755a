"""The app: ``streamlit run streamlit_app/app.py``. Streamlit finds the ``st.App`` below and
serves the pages of ``main.py`` and, beside them, the two endpoints that set and clear the staff
session cookie (``admin.session_cookie``), which a Streamlit script alone cannot do."""

import sys
from pathlib import Path

# `streamlit run` puts this file's folder on sys.path, not the repository root.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from admin.session_cookie import ROUTES

app = st.App("main.py", routes=ROUTES)
