"""Per-process resources and per-visitor state shared by all pages."""

import uuid

import streamlit as st

from core.service import ActiveModel, NoActiveModel, Service
from core.settings import load_settings
from streamlit_app.widgets import escape_markdown

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]
SERVING_FROM_MEMORY = (
    "The metadata database is not reachable right now. You see the model as it was a moment "
    "ago; your searches and votes are kept and saved as soon as the database is back."
)
VOTE_KEPT = "Your vote is kept and will be saved as soon as the metadata database is back."


@st.cache_resource(show_spinner="Loading the search engine…")
def get_service() -> Service:
    """One service per process; it reloads the model itself when the active version changes."""
    return Service(load_settings())


def active_model_or_stop() -> ActiveModel:
    """The active model (with a notice while the metadata database is unreachable), or a page
    that says how to build one (no model built yet). With no model read yet and the database
    unreachable, ``DatabaseUnavailable`` goes up to ``app.py``, which says so."""
    try:
        active = get_service().active()
    except NoActiveModel:
        st.info(
            "No model has been built yet. Build one from the built-in collection with\n\n"
            "`python -m core build`\n\n"
            "(or `bash scripts/demo.sh`, which builds it before starting the app), then reload "
            "this page."
        )
        st.stop()
    if active.database_down:
        st.warning(SERVING_FROM_MEMORY)
    return active


def visitor_id() -> str:
    """A random id for this browser session: it ties a visitor's votes to their searches."""
    if "visitor" not in st.session_state:
        st.session_state.visitor = uuid.uuid4().hex
    return st.session_state.visitor


def upload_limit_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


def keep_vote_message(stored: bool) -> None:
    """Remember, for the next run of the page, that a vote waits for the database."""
    if not stored:
        st.session_state.vote_notice = VOTE_KEPT


def vote_refused(error: Exception) -> None:
    st.session_state.vote_error = f"Your vote was not recorded: {error}"


def show_vote_messages() -> None:
    """What became of the visitor's last vote, if it was not simply stored; shown once."""
    if error := st.session_state.pop("vote_error", None):
        st.error(escape_markdown(error))
    if notice := st.session_state.pop("vote_notice", None):
        st.info(notice)
