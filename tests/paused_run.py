"""A build or re-index that stops at a progress stage and waits there, so that a test can SIGKILL
it at a known point rather than racing the work:

    python -m tests.paused_run STAGE build
    python -m tests.paused_run STAGE reindex PARENT

Settings come from the environment, as for ``python -m core``. Each progress report is printed;
at the first report of STAGE it prints ``paused`` and waits for a signal. STAGE ``commit`` is no
progress stage: it pauses after the version directory got its final name, just before the
database marks the version ready.
"""

from __future__ import annotations

import signal
import sys

from core import store
from core.pipeline import build, reindex_version
from core.settings import load_settings
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


def main(stage: str, command: str, *parent: str) -> None:
    settings = load_settings()
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
