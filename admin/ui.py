"""What every admin page shares: the database, the signed-in user, the role gate, and running an
action so that the page shows its result at once.

A page reads what it shows (topics, versions, labels) before its buttons run, in the same run of
its script; an action's result would show only on the next run. So ``perform`` reruns the page
after every action that succeeds, and the next run, reading everything again, shows the action's
message under the page's title (``require``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from admin import auth
from admin.collection import take_down_document
from admin.modalities import cancel_job
from core.settings import load_settings
from core.storage import database, jobs, store
from core.storage.admin_tables import User
from core.storage.job_kinds import AddDocumentsParams
from core.storage.outage import translated_outage
from interface.errors import error_text
from interface.i18n import language, t, t_or

TOKEN_KEY = "admin_token"
NOTICE_KEY = "admin_notice"  # what the last action did, shown once by the next run
JOB_REFRESH_S = 2  # the job panel's refresh while a job is unfinished
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


def require(permission: str, title: str | None = None) -> User:
    """The signed-in user if their role allows ``permission``; otherwise the page stops here.
    With a ``title``, the page's title follows, then what the last action did, if anything."""
    user = signed_in_user(st.session_state)
    if not auth.allowed(user, permission):
        st.error(t("staff_only"))
        st.stop()
    if title is not None:
        st.title(title)
    show_notice()
    return user


def show_notice() -> None:
    """What the last action did (``perform``), once."""
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)


def take_down_control(user: User | None, documents: Sequence[tuple[str, str]], key: str) -> None:
    """A moderator's "Take down" for one of ``documents`` (id, caption) shown beside it: pick
    it (when there are several), say why, then confirm; nothing for anyone else."""
    if not documents or not auth.allowed(user, "take_down"):
        return
    captions = dict(documents)
    with st.popover(t("take_down")):
        doc_id = st.selectbox(
            t("take_down_which"),
            list(captions),
            format_func=lambda doc: captions[doc] or doc,
            key=f"take-down-which-{key}",
            disabled=len(captions) == 1,
        )
        reason = st.text_input(t("take_down_reason"), key=f"take-down-reason-{key}")
        st.caption(t("take_down_warning"))
        if st.button(
            t("take_down_confirm"),
            key=f"take-down-{key}",
            type="primary",
            disabled=not reason.strip(),
        ):
            perform(
                take_down_document,
                user,
                load_settings(),
                doc_id,
                reason,
                done=t("taken_down_notice", document=doc_id),
            )


def perform(
    action: Callable[..., T],
    user: User,
    *args: Any,
    done: str | Callable[[T], str] = "",
    then: Callable[[T], None] | None = None,
    **kwargs: Any,
) -> None:
    """Run an admin action as ``user``. A refusal or bad input is shown here and the page goes
    on; on success ``then(result)`` runs, and the page runs again from the top, so that all it
    shows is read after the action, with ``done`` (or ``done(result)``) under its title."""
    try:
        with db() as session:
            result = action(session, user, *args, **kwargs)
    except (ValueError, auth.PermissionDenied) as error:
        st.error(t("action_failed", error=error_text(error)))
        return
    if then is not None:
        then(result)
    if message := done(result) if callable(done) else done:
        st.session_state[NOTICE_KEY] = message
    st.rerun()


def worker_notice() -> None:
    """Warn when no job worker is alive: queued jobs would wait for ever."""
    with db() as session:
        alive = jobs.alive_workers(session)
    if not alive:
        st.warning(t("no_worker"))


def job_panel(user: User) -> None:
    """The latest jobs with live progress (from any worker, started from any app replica), a
    cancel button for unfinished ones, and a warning when no worker is alive. It runs again
    every ``JOB_REFRESH_S`` while a job it shows is unfinished, not otherwise: a click on the
    page's own buttons was lost now and then to that rerun (a CI run's "Retrain" showed
    nothing), and an idle page need not read the jobs table every two seconds."""
    with db() as session:
        latest = jobs.recent_jobs(session, limit=5)
    unfinished = any(job.status in ("queued", "running") for job in latest)
    st.fragment(_job_list, run_every=JOB_REFRESH_S if unfinished else None)(user)


def _job_list(user: User) -> None:
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
                text=t(
                    "job_running",
                    job=title,
                    stage=t_or(f"job_stage_{job.stage}", job.stage),
                    done=job.done,
                    total=job.total,
                ),
            )
            if not job.cancel_requested and st.button(t("cancel"), key=f"cancel-{job.id}"):
                perform(cancel_job, user, job.id)
        elif job.status == "done" and job.kind == AddDocumentsParams.kind:
            added = job.result or {}
            st.success(
                t(
                    "job_done_added",
                    job=title,
                    added=len(added.get("added", [])),
                    linked=len(added.get("linked", {})),
                    refused=len(added.get("refused", [])),
                )
            )
            for problem in added.get("refused", [])[:20]:
                st.caption(problem)
        elif job.status == "done" and (job.result or {}).get("activated") is False:
            st.success(t("job_done_waiting", job=title, version=job.version_name))
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
