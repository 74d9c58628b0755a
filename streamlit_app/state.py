"""Per-process resources and per-visitor state shared by all pages."""

import uuid

import streamlit as st

from core.service import ActiveModel, DatabaseUnavailable, NoActiveModel, Service
from core.settings import load_settings
from streamlit_app.widgets import escape_markdown

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]
VOTE_KEPT = (
    "Your vote is kept: the metadata database was not reachable, so it is saved as soon as the "
    "database answers again."
)


@st.cache_resource(show_spinner="Loading the search engine…")
def get_service() -> Service:
    """One service per process; it reloads the model itself when the active version changes."""
    return Service(load_settings())


def active_model_or_stop() -> ActiveModel:
    """The active model, or a page that says how to build one (no model built yet) or that the
    metadata database is unreachable."""
    try:
        return get_service().active()
    except DatabaseUnavailable as error:
        database_down_page(error)
        st.stop()
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


def database_down_page(error: DatabaseUnavailable) -> None:
    """What every public page shows while the metadata database is unreachable; the next run
    after it is back shows the page again (the service reconnects by itself)."""
    st.title("Temporarily unavailable")
    st.error(escape_markdown(str(error)))
    show_vote_messages()
    st.button("Try again", type="primary")


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
