"""What every admin page shares: the database, the signed-in user, and the role gate."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from admin import auth
from admin.modalities import cancel_job
from core import jobs, store
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


def worker_notice() -> None:
    """Warn when no job worker is alive: queued jobs would wait for ever."""
    with db() as session:
        alive = jobs.alive_workers(session)
    if not alive:
        st.warning(f"No job worker is alive, so jobs wait in the queue: {jobs.START_A_WORKER}.")


@st.fragment(run_every=2)
def job_panel(user: User) -> None:
    """The latest jobs with live progress (from any worker, started from any app replica), a
    cancel button for unfinished ones, and a warning when no worker is alive."""
    worker_notice()
    with db() as session:
        latest = jobs.recent_jobs(session, limit=5)
    if not latest:
        return
    st.subheader("Background jobs")
    for job in latest:
        title = f"#{job.id} {jobs.describe(job)}"
        if job.status in ("queued", "running"):
            fraction = job.done / job.total if job.total else 0.0
            st.progress(fraction, text=f"{title}: {job.stage} {job.done}/{job.total}")
            if not job.cancel_requested and st.button("Cancel", key=f"cancel-{job.id}"):
                perform(cancel_job, user, job.id)
        elif job.status == "done":
            made = f"made {job.version_name}" if job.version_name else "done"
            st.success(f"{title}: {made}")
        else:
            st.warning(f"{title}: {job.status}. {job.error or ''}")


def active_version_or_stop() -> store.ModelVersion:
    """The active model version; without one the page says so and stops."""
    with db() as session:
        version = store.active_version(session)
    if version is None:
        st.info("No model version is active yet: build one with `python -m core build`.")
        st.stop()
    return version
