"""What every admin page shares: the database, the signed-in user, and the role gate."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from admin import auth
from admin.modalities import cancel_job
from core.settings import load_settings
from core.storage import database, jobs, store
from core.storage.admin_tables import User
from core.storage.outage import translated_outage
from interface.errors import error_text
from interface.i18n import language, t, t_or

TOKEN_KEY = "admin_token"
T = TypeVar("T")


@st.cache_resource(show_spinner=False)
def _sessions(database_url: str) -> sessionmaker[Session]:
    return database.open_database(database_url)


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
        st.error(t("staff_only"))
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
        st.error(t("action_failed", error=error_text(error)))
        return None
    if done:
        st.success(done)
    return result


def worker_notice() -> None:
    """Warn when no job worker is alive: queued jobs would wait for ever."""
    with db() as session:
        alive = jobs.alive_workers(session)
    if not alive:
        st.warning(t("no_worker"))


@st.fragment(run_every=2)
def job_panel(user: User) -> None:
    """The latest jobs with live progress (from any worker, started from any app replica), a
    cancel button for unfinished ones, and a warning when no worker is alive."""
    worker_notice()
    with db() as session:
        latest = jobs.recent_jobs(session, limit=5)
    if not latest:
        return
    st.subheader(t("jobs_title"))
    for job in latest:
        title = f"#{job.id} {jobs.describe(job, language())}"
        if job.status in ("queued", "running"):
            fraction = job.done / job.total if job.total else 0.0
            st.progress(
                fraction,
                text=t("job_running", job=title, stage=job.stage, done=job.done, total=job.total),
            )
            if not job.cancel_requested and st.button(t("cancel"), key=f"cancel-{job.id}"):
                perform(cancel_job, user, job.id)
        elif job.status == "done":
            st.success(t("job_done", job=title, version=job.version_name or ""))
        else:
            status = t_or(f"job_status_{job.status}", job.status)
            st.warning(t("job_other", job=title, status=status, error=job.error or ""))


def active_version_or_stop() -> store.ModelVersion:
    """The active model version; without one the page says so and stops."""
    with db() as session:
        version = store.active_version(session)
    if version is None:
        st.info(t("no_active_version"))
        st.stop()
    return version


def details_text(details: Mapping[str, Any] | None) -> str:
    """An audit entry's details as "name: value" pairs, lists and maps written out plainly."""

    def plain(value: Any) -> str:
        if isinstance(value, Mapping):
            return ", ".join(f"{key}={plain(item)}" for key, item in value.items())
        if isinstance(value, list | tuple):
            return ", ".join(plain(item) for item in value)
        return str(value)

    return "; ".join(f"{key}: {plain(value)}" for key, value in (details or {}).items())
