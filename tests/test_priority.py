"""Adds, builds and the job worker run at background priority, so visitors' searches keep a core.

Each test runs in a child process: lowering a priority cannot be undone without privileges, and
the test process must keep its own.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from core.building.priority import BACKGROUND_NICENESS

CHILD = textwrap.dedent(
    """
    import os, subprocess, sys, threading
    from core.building.priority import lower_to_background

    def niceness():
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    started, release = threading.Event(), threading.Event()
    seen = {}

    def older_thread():
        started.set()
        release.wait()
        seen["older"] = niceness()

    older = threading.Thread(target=older_thread)
    older.start()
    started.wait()
    seen["returned"] = lower_to_background()
    release.set()
    older.join()
    newer = threading.Thread(target=lambda: seen.__setitem__("newer", niceness()))
    newer.start()
    newer.join()
    seen["main"] = niceness()
    seen["child process"] = int(subprocess.check_output(
        [sys.executable, "-c", "import os; print(os.nice(0))"]
    ))
    print(seen)
    """
)


def _run_child(*prefix: str) -> dict[str, int]:
    output = subprocess.run(
        [*prefix, sys.executable, "-c", CHILD], capture_output=True, text=True, check=True
    ).stdout
    return ast.literal_eval(output)


def test_every_thread_and_whatever_starts_later_runs_at_background_priority() -> None:
    seen = _run_child()
    assert seen == {
        "returned": BACKGROUND_NICENESS,
        "older": BACKGROUND_NICENESS,
        "newer": BACKGROUND_NICENESS,
        "main": BACKGROUND_NICENESS,
        "child process": BACKGROUND_NICENESS,
    }


def test_a_process_started_nicer_stays_as_nice() -> None:
    seen = _run_child("nice", "-n", "19")
    assert set(seen.values()) == {19}
