"""Per-process resources and per-visitor state shared by all pages."""

import uuid

import streamlit as st

from core.service import ActiveModel, NoActiveModel, Service
from core.settings import load_settings

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]


@st.cache_resource(show_spinner="Loading the search engine…")
def get_service() -> Service:
    """One service per process; it reloads the model itself when the active version changes."""
    return Service(load_settings())


def active_model_or_stop() -> ActiveModel:
    """The active model, or (with no model built yet) a page that says how to build one."""
    try:
        return get_service().active()
    except NoActiveModel:
        st.info(
            "No model has been built yet. Build one from the built-in collection with\n\n"
            "`python -m core build`\n\n"
            "(or `bash scripts/demo.sh`, which builds it before starting the app), then reload "
            "this page."
        )
        st.stop()


def visitor_id() -> str:
    """A random id for this browser session: it ties a visitor's votes to their searches."""
    if "visitor" not in st.session_state:
        st.session_state.visitor = uuid.uuid4().hex
    return st.session_state.visitor


def upload_limit_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))
