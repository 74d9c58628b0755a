"""What every admin page shares: the database, the signed-in user, and the role gate."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from admin import auth
from admin.jobs import recent_jobs
from admin.modalities import cancel_job
from core import store
from core.admin_tables import User
from core.outage import translated_outage
from core.settings import load_settings

TOKEN_KEY = "admin_token"
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _sessions(database_url: str) -> sessionmaker[Session]:
    return store.open_database(database_url)


@contextmanager
def db() -> Iterator[Session]:
    """A session on the configured metadata database; losing it raises ``DatabaseUnavailable``,
    which the app shows as its "database unreachable" page."""
    with translated_outage(), _sessions(load_settings().database_url)() as session:
        yield session


def signed_in_user(state: Mapping[str, Any]) -> User | None:
    """The user whose unexpired sign-in token is in this browser session's state, if any."""
    token = state.get(TOKEN_KEY)
    if not token:
        return None
    with db() as session:
        return auth.current_user(session, token)


def require(permission: str) -> User:
    """The signed-in user if their role allows ``permission``; otherwise the page stops here."""
    user = signed_in_user(st.session_state)
    if not auth.allowed(user, permission):
        st.error("This page is for signed-in staff only. Sign in on the Account page.")
        st.stop()
    return user


def perform(
    action: Callable[..., T], user: User, *args: Any, done: str = "", **kwargs: Any
) -> T | None:
    """Run an admin action as ``user`` and say ``done``; a refusal or bad input is shown."""
    try:
        with db() as session:
            result = action(session, user, *args, **kwargs)
    except (ValueError, auth.PermissionDenied) as error:
        st.error(str(error))
        return None
    if done:
        st.success(done)
    return result


@st.fragment(run_every=2)
def job_panel(user: User) -> None:
    """The latest background jobs with live progress, and a cancel button for running ones."""
    with db() as session:
        jobs = recent_jobs(session, limit=5)
    if not jobs:
        return
    st.subheader("Background jobs")
    for job in jobs:
        if job.status == "running":
            fraction = job.done / job.total if job.total else 0.0
            st.progress(fraction, text=f"#{job.id} {job.kind}: {job.stage} {job.done}/{job.total}")
            if not job.cancel_requested and st.button("Cancel", key=f"cancel-{job.id}"):
                perform(cancel_job, user, job.id)
        elif job.status == "done":
            st.success(f"#{job.id} {job.kind}: made {job.version_name}")
        else:
            st.warning(f"#{job.id} {job.kind}: {job.status}. {job.error or ''}")


def active_version_or_stop() -> store.ModelVersion:
    """The active model version; without one the page says so and stops."""
    with db() as session:
        version = store.active_version(session)
    if version is None:
        st.info("No model version is active yet: build one with `python -m core build`.")
        st.stop()
    return version
