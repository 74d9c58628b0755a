"""The job worker as a process (``python -m core worker``): it runs what app processes queue,
survives nothing it should not, and a worker killed mid-job leaves the job failed and nothing
half-published, on SQLite and on PostgreSQL."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from admin import auth, modalities
from core.building.worker import Worker
from core.cli import main as command_line
from core.storage import database, jobs
from core.storage.admin_tables import Job, JobWorker
from core.storage.job_kinds import ReindexParams
from tests.conftest import both_databases, run_queued_jobs, running_worker
from tests.fault_helpers import (
    assert_every_ready_version_loads,
    assert_serving,
    model_dirs,
    read_until,
    running,
    sigkill,
    state,
)

HEARTBEAT_S = 0.3


@pytest.fixture
def sessions(deployment):
    return database.open_database(deployment.database_url)


@pytest.fixture
def admin(sessions):
    with sessions() as session:
        return auth.add_user(session, "anna", "admin", "correct horse battery", by="test")


def queue_reindex(sessions, admin) -> Job:
    with sessions() as session:
        return modalities.start_reindex(session, admin, {"@visual": 0.0})


def job_now(sessions, job_id: int) -> Job:
    with sessions() as session:
        return session.get(Job, job_id)


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def paused_worker(deployment, stage: str):
    """``python -m core worker`` whose job pauses right after reporting ``stage``."""
    heartbeat = f"--heartbeat={HEARTBEAT_S}"
    return running(deployment, "-m", "tests.paused_run", stage, "worker", heartbeat, "--poll=0.1")


@both_databases
def test_a_worker_killed_mid_job_leaves_the_job_failed_and_nothing_half_published(
    deployment, sessions, admin
):
    before = state(deployment)
    queued = queue_reindex(sessions, admin)

    with paused_worker(deployment, "thetas") as worker:
        read_until(worker, "paused")
        running_job = job_now(sessions, queued.id)
        assert (running_job.status, running_job.stage) == ("running", "thetas")
        sigkill(worker)

    with sessions() as session:
        assert jobs.recent_jobs(session)[0].status == "running"  # its heartbeat is still fresh
    time.sleep(jobs.DEAD_AFTER_BEATS * HEARTBEAT_S)
    with sessions() as session:
        failed = jobs.recent_jobs(session)[0]
        assert (failed.status, failed.error) == ("failed", jobs.DEAD_WORKER_ERROR)
        assert jobs.alive_workers(session) == []
    active, versions = state(deployment)
    assert active == before[0] and versions[active][0] == "ready"
    assert [status for status, _ in versions.values()].count("building") == 1  # never ready
    assert_serving(deployment, active)

    retried = queue_reindex(sessions, admin)
    assert run_queued_jobs(deployment) == 1  # the next worker cleans up, then runs the retry
    assert job_now(sessions, retried.id).status == "done"
    active, versions = state(deployment)
    assert sorted(status for status, _ in versions.values()) == ["failed", "ready", "ready"]
    assert model_dirs(deployment) == sorted(
        name for name, (status, _) in versions.items() if status == "ready"
    )
    assert_every_ready_version_loads(deployment)
    assert_serving(deployment, active)


def test_a_stopped_worker_fails_its_job_cleanly_and_leaves(deployment, sessions, admin):
    before = state(deployment)
    queued = queue_reindex(sessions, admin)

    with paused_worker(deployment, "thetas") as worker:
        read_until(worker, "paused")
        with sessions() as session:
            assert [w.name.split(":")[1] for w in jobs.alive_workers(session)] == [str(worker.pid)]
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0

    job = job_now(sessions, queued.id)
    assert (job.status, job.error) == ("failed", jobs.STOPPED_WORKER_ERROR)
    active, versions = state(deployment)
    assert active == before[0]
    assert sorted(status for status, _ in versions.values()) == ["failed", "ready"]
    assert model_dirs(deployment) == [active]
    with sessions() as session:
        assert jobs.alive_workers(session) == []


def test_sqlite_allows_one_worker_and_says_so(deployment, monkeypatch, capsys):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(deployment.data_dir))
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    with Worker(deployment, log=lambda line: None) as first:
        assert command_line(["worker", "--until-idle"]) == 2
        message = capsys.readouterr().err
        assert f"worker {first.name} already runs jobs on this SQLite database" in message
        assert "use PostgreSQL" in message
    assert command_line(["worker", "--until-idle"]) == 0  # once the first one left


@pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)
def test_workers_sharing_postgresql_run_each_job_exactly_once(deployment, sessions):
    with sessions() as session:
        queued = [
            jobs.submit(session, ReindexParams(parent="v0404", weights={}), "anna").id
            for _ in range(12)
        ]  # each fails fast: there is no such version
    started: list[str] = []
    workers = [
        Worker(deployment, poll_every_s=0.05, log=lambda line: started.append(line)) for _ in "ab"
    ]
    for worker in workers:
        worker.__enter__()
    with sessions() as session:
        assert len(jobs.alive_workers(session)) == 2
    threads = [threading.Thread(target=worker.run_until_idle) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.__exit__(None, None, None)

    claims = [line.split()[1] for line in started if line.endswith(": started")]
    assert sorted(map(int, claims)) == queued  # every job claimed once, by one worker
    with sessions() as session:
        ended = session.query(Job).order_by(Job.id).all()
        assert {(job.status, job.error) for job in ended} == {
            ("failed", "ValueError: there is no ready version 'v0404' to start from")
        }
        assert {job.worker for job in ended} <= {worker.name for worker in workers}
        assert session.query(JobWorker).count() == 0


@pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)
def test_a_worker_rides_out_a_database_outage(deployment, sessions, admin, postgres_server):
    with running_worker(deployment, heartbeat_every_s=0.2, poll_every_s=0.1):
        with postgres_server.stopped():
            time.sleep(1)  # its job loop and heartbeat fail meanwhile
        queued = queue_reindex(sessions, admin)
        wait_until(lambda: job_now(sessions, queued.id).status == "done", timeout=120)
        with sessions() as session:
            assert len(jobs.alive_workers(session)) == 1
