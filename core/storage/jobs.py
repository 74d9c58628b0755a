"""The job queue in the metadata database: long work is requested here and run by workers.

An app process (any replica) *submits* a job: the parameters of its kind (one class each, in
``core.storage.job_kinds``) stored as JSON, status ``queued``. A worker process (``python -m core
worker``, see ``core.building.worker``) *claims* the oldest queued job, runs it and writes its
progress, outcome and result into the same row, so every page of every replica can follow it.
On PostgreSQL several workers claim with ``SELECT ... FOR UPDATE SKIP LOCKED``; on SQLite one
worker runs at a time (a second one is refused when it starts).

Workers send heartbeats (table ``workers``). A worker whose heartbeat is ``DEAD_AFTER_BEATS``
intervals old is presumed dead; its running job is marked **failed**, not queued again: a job
that killed its worker (out of memory, say) would kill the next one too, and an admin can start
it again. The version it was building never became ready (versions are published atomically);
``core.building.worker`` removes its files and marks it failed. Cancelling is cooperative: the
job's next progress report raises ``Cancelled``. A queued job is cancelled at once.

Times come from each process's UTC clock: machines sharing the database need synchronized clocks
(NTP; the default timeout is ten seconds).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from core.storage.admin_tables import Job, JobWorker
from core.storage.job_kinds import JobParams, params_from_json

DEAD_AFTER_BEATS = 5
DEAD_WORKER_ERROR = (
    "the worker running this job stopped sending heartbeats (it was killed or lost the database); "
    "nothing of it was published: start the job again"
)
STOPPED_WORKER_ERROR = "the worker was stopped before the job finished; start the job again"
START_A_WORKER = "start one with `python -m core worker`"


class Cancelled(Exception):
    """Raised inside a job's work when someone asked to cancel it."""


class JobLost(Exception):
    """Raised inside a job's work when the job is no longer this worker's (it was presumed dead
    and marked failed meanwhile): the work stops without publishing."""


class WorkerRefused(Exception):
    """A worker cannot start here (SQLite already has a live worker)."""


def submit(session: Session, params: JobParams, started_by: str) -> Job:
    """Queue a job of ``params.kind``; its parameters are stored as JSON (what a worker on
    another machine reads)."""
    job = Job(
        kind=params.kind,
        params=params.to_json(),
        started_by=started_by,
        status="queued",
        stage="queued",
    )
    session.add(job)
    session.commit()
    return job


def describe(job: Job, language: str = "en") -> str:
    """What the job does, in words of ``language``, for the job lists and the worker's log; a job
    whose stored parameters its kind cannot read is named by its kind."""
    try:
        return params_from_json(job.kind, job.params).describe(language)
    except ValueError:
        return job.kind


def request_cancel(session: Session, job_id: int) -> None:
    """Cancel a queued job now, or ask a running one to stop at its next progress report."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None:
        raise ValueError(f"there is no job {job_id}")
    if job.status == "queued":
        job.status, job.finished_at = "cancelled", _now()
    elif job.status == "running":
        job.cancel_requested = True
    else:
        raise ValueError(f"job {job_id} is {job.status}: only a queued or running job is cancelled")
    session.commit()


def job_that_made(session: Session, version_name: str) -> Job | None:
    """The finished job that made the version ``version_name`` (None: made otherwise, e.g. by
    ``python -m core build``)."""
    return session.scalar(
        select(Job)
        .where(Job.version_name == version_name, Job.status == "done")
        .order_by(Job.id.desc())
        .limit(1)
    )


def recent_jobs(session: Session, limit: int = 10) -> list[Job]:
    """Newest first, as stored now (workers update them); jobs of dead workers are failed first."""
    fail_jobs_of_dead_workers(session)
    return list(
        session.scalars(
            select(Job)
            .order_by(Job.id.desc())
            .limit(limit)
            .execution_options(populate_existing=True)
        )
    )


# --------------------------------------------------------------------------------------------------
# Workers: registration, heartbeats, claiming, progress, outcome
# --------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _is_alive(worker: JobWorker, now: datetime) -> bool:
    return now - worker.heartbeat_at < timedelta(
        seconds=DEAD_AFTER_BEATS * worker.heartbeat_every_s
    )


def alive_workers(session: Session) -> list[JobWorker]:
    """Workers whose latest heartbeat is recent enough."""
    now = _now()
    workers = session.scalars(
        select(JobWorker).order_by(JobWorker.id).execution_options(populate_existing=True)
    )
    return [worker for worker in workers if _is_alive(worker, now)]


def register_worker(session: Session, name: str, heartbeat_every_s: float) -> JobWorker:
    """Add a worker; on SQLite, refuse it if another worker is alive (``WorkerRefused``)."""
    worker = JobWorker(name=name, heartbeat_every_s=heartbeat_every_s)
    session.add(worker)
    session.commit()
    if session.get_bind().dialect.name == "sqlite":
        others = [w for w in alive_workers(session) if w.id != worker.id]
        if others:  # both see each other if they start together: the newer one leaves
            older = [w for w in others if w.id < worker.id]
            if older:
                session.delete(worker)
                session.commit()
                raise WorkerRefused(
                    f"worker {older[0].name} already runs jobs on this SQLite database, which "
                    "allows one worker at a time; stop it first, or use PostgreSQL "
                    "(TOPICSEARCH_DATABASE_URL) for several workers"
                )
    return worker


def heartbeat(session: Session, worker_id: int) -> None:
    """Record that the worker is alive."""
    session.execute(update(JobWorker).where(JobWorker.id == worker_id).values(heartbeat_at=_now()))
    session.commit()


def unregister_worker(session: Session, worker_id: int) -> None:
    session.execute(delete(JobWorker).where(JobWorker.id == worker_id))
    session.commit()


def claim_next(session: Session, worker: JobWorker) -> Job | None:
    """The oldest queued job, now running on ``worker``; ``None`` if nothing is queued.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent workers take different jobs without
    waiting on each other. The conditional update makes the claim safe on any database.
    """
    candidate = session.scalar(
        select(Job.id)
        .where(Job.status == "queued")
        .order_by(Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if candidate is None:
        session.rollback()
        return None
    claimed = session.execute(
        update(Job)
        .where(Job.id == candidate, Job.status == "queued")
        .values(status="running", worker=worker.name, claimed_at=_now(), stage="starting")
    )
    session.execute(update(JobWorker).where(JobWorker.id == worker.id).values(job_id=candidate))
    session.commit()
    if claimed.rowcount != 1:
        return None
    return session.get(Job, candidate, populate_existing=True)


def report_progress(session: Session, job_id: int, worker_name: str, stage: str, done: int,
                    total: int) -> None:  # fmt: skip
    """Store progress; raise ``Cancelled`` if cancelling was asked, ``JobLost`` if the job is no
    longer this worker's."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.status != "running" or job.worker != worker_name:
        raise JobLost(f"job {job_id} is no longer run by {worker_name}")
    job.stage, job.done, job.total = stage[:32], done, total
    session.commit()
    if job.cancel_requested:
        raise Cancelled(f"job {job_id} was cancelled")


def finish(
    session: Session,
    job_id: int,
    worker_name: str,
    status: str,
    *,
    version_name: str | None = None,
    result: dict[str, Any] | None = None,
    error: str | None = None,
) -> bool:
    """Record the outcome, unless the job was meanwhile taken from this worker (returns False)."""
    finished = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status == "running", Job.worker == worker_name)
        .values(
            status=status,
            finished_at=_now(),
            version_name=version_name,
            result=result,
            error=error,
        )
    )
    session.execute(update(JobWorker).where(JobWorker.job_id == job_id).values(job_id=None))
    session.commit()
    return finished.rowcount == 1


def fail_jobs_of_dead_workers(session: Session) -> list[int]:
    """Mark failed every running job whose worker is dead or gone; returns their ids."""
    alive = {worker.name for worker in alive_workers(session)}
    running = session.execute(select(Job.id, Job.worker).where(Job.status == "running")).all()
    dead = [job_id for job_id, worker in running if worker not in alive]
    if dead:
        session.execute(
            update(Job)
            .where(Job.id.in_(dead), Job.status == "running", or_(Job.worker.is_(None),
                                                                   Job.worker.not_in(alive)))
            .values(status="failed", error=DEAD_WORKER_ERROR, finished_at=_now())
        )  # fmt: skip
        session.commit()
    return dead
