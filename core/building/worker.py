"""The job worker (``python -m core worker``): claims queued jobs and runs them, one at a time.

This process, and the CLI's own ``build``, are where BigARTM trains; app processes only queue jobs
and read their progress (``core.storage.jobs``). The worker reads a job's parameters with its kind's
class (``core.storage.job_kinds``) and runs it with its kind's function
(``core.building.job_runners``): it knows no kind itself. A heartbeat thread keeps the worker's
row fresh.
Between jobs the worker fails the jobs of dead workers and, when no build holds the data directory,
cleans up what a killed build left behind (a version left ``building`` and its files).

A job that finds another build running on the same model store goes back to the queue untouched
and is claimed again later. On SIGTERM or Ctrl-C the running job stops at its next progress
report and is marked failed (its version removed), and the worker leaves.
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
import threading
from contextlib import suppress
from dataclasses import asdict
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.building import pipeline
from core.building.job_runners import JobContext, JobOutcome, run_job
from core.settings import Settings
from core.storage import database, jobs, store
from core.storage.admin_tables import Job, JobWorker
from core.storage.job_kinds import params_from_json

HEARTBEAT_EVERY_S = 2.0
POLL_EVERY_S = 1.0


class Stopping(Exception):
    """Raised inside a job's work when the worker was asked to stop."""


class Worker:
    """A worker process's registration, heartbeat and job loop; use it as a context manager."""

    def __init__(
        self,
        settings: Settings,
        heartbeat_every_s: float = HEARTBEAT_EVERY_S,
        poll_every_s: float = POLL_EVERY_S,
        log=None,
    ) -> None:
        if heartbeat_every_s <= 0 or poll_every_s <= 0:
            raise ValueError("heartbeat and poll intervals must be > 0 seconds")
        self.settings = settings
        self.heartbeat_every_s = heartbeat_every_s
        self.poll_every_s = poll_every_s
        self.name = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.stopping = threading.Event()
        self._log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._engine: Engine | None = None
        self._sessions: sessionmaker[Session] | None = None
        self._row: JobWorker | None = None
        self._quiet = threading.Event()
        self._heart: threading.Thread | None = None
        self._unrecorded: list[tuple[Job, str, dict[str, Any]]] = []  # outcomes to write again

    def __enter__(self) -> Worker:
        database.upgrade_database(self.settings.database_url)
        self._engine = database.create_db_engine(self.settings.database_url)
        self._sessions = database.session_factory(self._engine)
        try:
            with self._sessions() as session:
                self._row = jobs.register_worker(session, self.name, self.heartbeat_every_s)
        except BaseException:
            self._engine.dispose()
            raise
        self._heart = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
        self._heart.start()
        backend = self._engine.dialect.name
        self._log(f"worker {self.name} started ({backend}, data in {self.settings.data_dir})")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._quiet.set()
        self._heart.join()
        # If the database is unreachable, the row stays and its heartbeat simply stops.
        with suppress(SQLAlchemyError), self._sessions() as session:
            jobs.unregister_worker(session, self._row.id)
        self._engine.dispose()
        self._log(f"worker {self.name} stopped")

    def stop(self) -> None:
        """Stop after the running job's next progress report (it is marked failed)."""
        self.stopping.set()

    def run(self) -> None:
        """Run jobs as they come until ``stop()``; rides out database outages."""
        while not self.stopping.is_set():
            try:
                ran = self.run_one()
            except SQLAlchemyError as error:
                self._log(f"worker {self.name}: the database is unreachable ({error}); waiting")
                ran = False
            if not ran:
                self.stopping.wait(self.poll_every_s)

    def run_until_idle(self) -> int:
        """Run queued jobs until none is left (or ``stop()``); returns how many ran."""
        count = 0
        while not self.stopping.is_set() and self.run_one():
            count += 1
        return count

    def run_one(self) -> bool:
        """Tidy up after dead workers, then claim and run one job; False if none was queued."""
        while self._unrecorded:  # outcomes the database missed while it was away
            self._finish(*self._unrecorded[0])
            self._unrecorded.pop(0)
        self._tidy_up()
        with self._sessions() as session:
            job = jobs.claim_next(session, self._row)
        if job is None:
            return False
        self._log(f"job {job.id} ({jobs.describe(job)}, by {job.started_by}): started")
        try:
            made = self._work(job)
        except pipeline.BuildInProgress as busy:
            self._requeue(job, str(busy))
            self.stopping.wait(self.poll_every_s)
            return True
        except jobs.JobLost as lost:
            self._log(f"job {job.id}: {lost}; its work was dropped")
            return True
        except jobs.Cancelled:
            outcome: tuple[str, dict[str, Any]] = ("cancelled", {})
        except Stopping:
            outcome = ("failed", {"error": jobs.STOPPED_WORKER_ERROR})
        except Exception as error:  # any failure of the work is the job's outcome, not ours
            outcome = ("failed", {"error": f"{type(error).__name__}: {error}"})
        else:
            outcome = ("done", asdict(made))
        self._unrecorded.append((job, *outcome))
        self._finish(job, *outcome)
        self._unrecorded.pop()
        return True

    # ----------------------------------------------------------------------------------------------

    def _work(self, job: Job) -> JobOutcome:
        """Run the job's work with the runner of its kind."""

        def progress(stage: str, done: int, total: int) -> None:
            if self.stopping.is_set():
                raise Stopping(f"worker {self.name} is stopping")
            with self._sessions() as session:
                jobs.report_progress(session, job.id, self.name, stage, done, total)

        params = params_from_json(job.kind, job.params)
        return run_job(params, JobContext(self.settings, self._sessions, progress))

    def _finish(self, job: Job, status: str, outcome: dict[str, Any]) -> None:
        with self._sessions() as session:
            recorded = jobs.finish(session, job.id, self.name, status, **outcome)
        made = f" -> {outcome['version_name']}" if outcome.get("version_name") else ""
        error = f": {outcome['error']}" if outcome.get("error") else ""
        lost = "" if recorded else " (not recorded: the job was no longer this worker's)"
        self._log(f"job {job.id}: {status}{made}{error}{lost}")

    def _requeue(self, job: Job, reason: str) -> None:
        """Put a job that could not start back in the queue, as it was."""
        with self._sessions() as session:
            session.execute(
                update(Job)
                .where(Job.id == job.id, Job.worker == self.name, Job.status == "running")
                .values(status="queued", worker=None, claimed_at=None, stage="queued")
            )
            session.execute(
                update(JobWorker).where(JobWorker.id == self._row.id).values(job_id=None)
            )
            session.commit()
        self._log(f"job {job.id}: back in the queue ({reason})")

    def _tidy_up(self) -> None:
        """Fail the jobs of dead workers; remove what killed builds left, if no build runs."""
        with self._sessions() as session:
            for job_id in jobs.fail_jobs_of_dead_workers(session):
                self._log(f"job {job_id}: failed, its worker stopped sending heartbeats")
            building = session.scalar(
                select(store.ModelVersion.id).where(store.ModelVersion.status == "building")
            )
        if building is not None:
            pipeline.clean_up_killed_builds(self.settings, self._sessions)

    def _beat(self) -> None:
        while not self._quiet.wait(self.heartbeat_every_s):
            try:
                with self._sessions() as session:
                    jobs.heartbeat(session, self._row.id)
            except Exception as error:  # the database may be briefly unreachable; keep beating
                self._log(f"worker {self.name}: heartbeat failed: {error}")
