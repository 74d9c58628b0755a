"""Per-process resources and per-visitor state shared by all pages."""

import threading
import uuid
from collections.abc import Callable

import streamlit as st

from core.serving.service import ActiveModel, NoActiveModel, Service
from core.settings import load_settings
from core.storage.outage import DatabaseUnavailable
from interface.errors import error_text
from interface.i18n import t
from interface.widgets import escape_markdown

UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp"]
VOTE_KEY = "vote:"
STORED_VOTES_KEY = "stored_votes"  # thumbs widget key -> the thumb last stored for it


@st.cache_resource(show_spinner=False)
def get_service() -> Service:
    """One service per process; it reloads the model itself when the active version changes."""
    return Service(load_settings())


_SERVICE_LOADED = threading.Event()


def service() -> Service:
    """The process's service, loaded with a spinner the first time (a spinner costs a thread
    per call, so warm pages go without)."""
    if _SERVICE_LOADED.is_set():
        return get_service()
    with st.spinner(t("loading_engine")):
        loaded = get_service()
    _SERVICE_LOADED.set()
    return loaded


def active_model_or_stop() -> ActiveModel:
    """The active model (with a notice while the metadata database is unreachable), or a page
    that says how to build one (no model built yet). With no model read yet and the database
    unreachable, ``DatabaseUnavailable`` goes up to ``main.py``, which says so."""
    try:
        active = service().active()
    except NoActiveModel:
        st.info(t("no_model"))
        st.stop()
    if active.database_down:
        st.warning(t("serving_from_memory"))
    return active


def visitor_id() -> str:
    """A random id for this browser session: it ties a visitor's votes to their searches."""
    if "visitor" not in st.session_state:
        st.session_state.visitor = uuid.uuid4().hex
    return st.session_state.visitor


def upload_limit_mb() -> int:
    return int(st.get_option("server.maxUploadSize"))


def photo_uploader(
    key: str | None = None, on_change: Callable[..., None] | None = None, args: tuple = ()
) -> st.runtime.uploaded_file_manager.UploadedFile | None:
    """The photo upload field, with the accepted formats and size limit in its label (in the
    visitor's language) instead of Streamlit's English hint and button text (hidden by
    ``streamlit_hints_style``, on every page)."""
    return st.file_uploader(
        t("photo_field", mb=upload_limit_mb()),
        type=UPLOAD_TYPES,
        key=key,
        on_change=on_change,
        args=args,
    )


def vote_key(search_id: int, doc_id: str) -> str:
    """The key of the thumbs widget for one result of one search."""
    return f"{VOTE_KEY}{search_id}:{doc_id}"


def store_new_votes(service: Service) -> None:
    """Store every thumb the visitor set that is not stored yet: up +1, down -1 (taking a thumb
    back leaves the last vote stored); remember what became of them for the next messages.

    This runs first thing in every run of the page, not in the thumbs' ``on_change`` callback:
    each click reruns the page with the state of all thumbs, but a click that lands while the
    page still reruns for the previous one can lose its callback (Streamlit runs the callbacks
    of one rerun in a row and a session-state write in one of them may start the next rerun,
    skipping the rest; in Chromium about one quick click in eight was lost). Comparing with the
    votes this session stored, instead of with the last run, cannot skip one; storing the same
    vote twice changes nothing.
    """
    stored: dict[str, int] = st.session_state.setdefault(STORED_VOTES_KEY, {})
    for key in [key for key in st.session_state if str(key).startswith(VOTE_KEY)]:
        thumb = st.session_state[key]
        if thumb is None or stored.get(key) == thumb:
            continue
        _, search_id, doc_id = key.split(":", 2)
        try:
            kept = service.vote(int(search_id), doc_id, 1 if thumb == 1 else -1)
        except (ValueError, DatabaseUnavailable) as error:
            st.session_state.vote_error = error_text(error)
        else:
            st.session_state.vote_notice = "vote_saved" if kept else "vote_kept"
        stored[key] = thumb


def show_vote_messages() -> None:
    """What became of the visitor's last vote; shown once, as a toast when it was stored."""
    if error := st.session_state.pop("vote_error", None):
        st.error(escape_markdown(t("vote_refused", error=error)))
    notice = st.session_state.pop("vote_notice", None)
    if notice == "vote_saved":
        st.toast(t("vote_saved"), icon="👍")
    elif notice == "vote_kept":
        st.info(t("vote_kept"))
