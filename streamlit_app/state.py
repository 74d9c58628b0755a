"""Per-process resources shared by all pages."""

import streamlit as st

from core.service import Service
from core.settings import load_settings


@st.cache_resource(show_spinner="Loading the search engine…")
def get_service() -> Service:
    """One service per process; it reloads the model itself when the active version changes."""
    return Service(load_settings())
