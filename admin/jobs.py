"""Background jobs: long work (re-indexing, adding a modality) runs in a thread of the app's
process while its progress, outcome and any cancel request live in the ``jobs`` table, so every
page and session can follow it.

Cancelling is cooperative: the next progress report raises ``Cancelled`` inside the work, and the
build machinery marks the unfinished version failed and removes its files. A job whose process
died (the app was restarted) is marked failed the next time jobs are listed on its host.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core import store
from core.admin_tables import Job
from core.pipeline import ProgressCallback

DEAD_WORKER_ERROR = "the process running the job stopped before it finished"


class Cancelled(Exception):
    """Raised inside a job's work when someone asked to cancel it."""


@dataclass(frozen=True)
class JobHandle:
    id: int
    thread: threading.Thread

    def wait(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)


def start_job(
    session: Session, kind: str, started_by: str, work: Callable[[ProgressCallback], str]
) -> JobHandle:
    """Run ``work(progress)`` in a thread; it returns the name of the version it made."""
    job = Job(
        kind=kind, started_by=started_by, worker=_this_worker(), status="running", stage="starting"
    )
    session.add(job)
    session.commit()
    sessions = store.session_factory(session.get_bind())
    thread = threading.Thread(
        target=_run, args=(sessions, job.id, work), name=f"job-{job.id}-{kind}", daemon=True
    )
    thread.start()
    return JobHandle(job.id, thread)


def _run(
    sessions: sessionmaker[Session], job_id: int, work: Callable[[ProgressCallback], str]
) -> None:
    def progress(stage: str, done: int, total: int) -> None:
        with sessions() as session:
            job = session.get(Job, job_id)
            job.stage, job.done, job.total = stage, done, total
            session.commit()
            if job.cancel_requested:
                raise Cancelled(f"job {job_id} was cancelled")

    try:
        version_name = work(progress)
    except Cancelled:
        _finish(sessions, job_id, "cancelled")
    except Exception as error:
        _finish(sessions, job_id, "failed", error=f"{type(error).__name__}: {error}")
    else:
        _finish(sessions, job_id, "done", version_name=version_name)


def _finish(sessions: sessionmaker[Session], job_id: int, status: str, **values: str) -> None:
    with sessions() as session:
        job = session.get(Job, job_id)
        job.status = status
        job.finished_at = datetime.now(UTC)
        for key, value in values.items():
            setattr(job, key, value)
        session.commit()


def request_cancel(session: Session, job_id: int) -> None:
    job = session.get(Job, job_id)
    if job is None:
        raise ValueError(f"there is no job {job_id}")
    if job.status != "running":
        raise ValueError(f"job {job_id} is {job.status}, not running")
    job.cancel_requested = True


def recent_jobs(session: Session, limit: int = 10) -> list[Job]:
    """Newest first, as stored now (other threads update them)."""
    _fail_dead_jobs(session)
    return list(
        session.scalars(
            select(Job)
            .order_by(Job.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
    )


def _this_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _fail_dead_jobs(session: Session) -> None:
    """Mark failed the running jobs of this host whose process no longer exists."""
    host = socket.gethostname()
    dead = [
        job
        for job in session.scalars(select(Job).where(Job.status == "running"))
        if job.worker.rpartition(":")[0] == host
        and not _process_exists(int(job.worker.rpartition(":")[2]))
    ]
    for job in dead:
        job.status, job.error, job.finished_at = "failed", DEAD_WORKER_ERROR, datetime.now(UTC)
    if dead:
        session.commit()


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True
