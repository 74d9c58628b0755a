"""A build or re-index that stops at a progress stage and waits there, so that a test can SIGKILL
it at a known point rather than racing the work:

    python -m tests.paused_run STAGE build
    python -m tests.paused_run STAGE reindex PARENT
    python -m tests.paused_run STAGE worker [WORKER OPTIONS]

Settings come from the environment, as for ``python -m core``. Each progress report is printed;
at the first report of STAGE it prints ``paused`` and waits for a signal. STAGE ``commit`` is no
progress stage: it pauses after the version directory got its final name, just before the
database marks the version ready. ``worker`` runs ``python -m core worker``; its job pauses just
after storing the progress report of STAGE, and goes on after SIGUSR1 (or SIGTERM, after which
the worker stops the job at its next report).
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from core.building.pipeline import build, reindex_version
from core.cli import main as command_line
from core.settings import load_settings
from core.storage import jobs, store
from tests.fault_helpers import SMALL


def pause() -> None:
    print("paused", flush=True)
    while True:
        signal.pause()


def pause_at(stage: str):
    def progress(reported: str, done: int, total: int) -> None:
        print(reported, done, total, flush=True)
        if reported == stage:
            pause()

    return progress


def pause_worker_at(stage: str):
    report_progress = jobs.report_progress

    def progress(session, job_id, worker, reported, done, total) -> None:
        report_progress(session, job_id, worker, reported, done, total)
        print(reported, done, total, flush=True)
        if reported == stage:
            hold_until_a_signal()

    return progress


def hold_until_a_signal() -> None:
    """Wait for SIGUSR1 or SIGTERM; the worker's own SIGTERM handler still runs. (Polling a flag:
    a signal arriving just before ``signal.pause()`` would be missed.)"""
    resumed = threading.Event()
    stop = signal.getsignal(signal.SIGTERM)

    def on_term(number, frame) -> None:
        resumed.set()
        stop(number, frame)

    signal.signal(signal.SIGUSR1, lambda *_: resumed.set())
    signal.signal(signal.SIGTERM, on_term)
    print("paused", flush=True)
    while not resumed.is_set():
        time.sleep(0.05)
    signal.signal(signal.SIGTERM, stop)


def main(stage: str, command: str, *parent: str) -> None:
    settings = load_settings()
    if command == "worker":
        jobs.report_progress = pause_worker_at(stage)
        sys.exit(command_line(["worker", *parent]))
    if stage == "commit":
        store.finish_version = lambda *args, **kwargs: pause()
    if command == "build":
        build(settings, params=SMALL, progress=pause_at(stage))
    elif command == "reindex":
        reindex_version(settings, *parent, {"@visual": 0.0}, pause_at(stage))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
