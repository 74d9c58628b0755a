"""Background priority for the processes that add, build and train beside the web process.

An add runs the CNN over every new photo and keeps both cores busy; on a node that also serves
visitors, their searches then wait for a core (``reports/live.md``). The job worker and
``python -m core add`` therefore lower their own CPU priority (``nice``), so the scheduler gives
the web process a core whenever it asks for one and the add takes what is left: an add on an
idle node runs as fast as before.

On Linux a priority belongs to a thread, and a new thread or process inherits its creator's:
every thread the process already has (a numeric library's pool, TensorFlow's once it has run)
is lowered too, and whatever starts later (Dask workers, TensorFlow's pools) starts lowered.
"""

from __future__ import annotations

import os
from contextlib import suppress
from pathlib import Path

BACKGROUND_NICENESS = 10  # CFS weight 110 against 1024 for the web process at 0: about 1/10


def lower_to_background() -> int:
    """Lower this process, each of its threads, to ``BACKGROUND_NICENESS``; never raise it.

    Returns the niceness the calling thread has afterwards. A process already nicer (started
    under ``nice -n 19``) is left as it is.
    """
    for thread in _threads():
        with suppress(ProcessLookupError):  # a thread that ended meanwhile
            if os.getpriority(os.PRIO_PROCESS, thread) < BACKGROUND_NICENESS:
                os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICENESS)
    return os.getpriority(os.PRIO_PROCESS, 0)


def _threads() -> list[int]:
    """Ids of this process's threads (Linux: ``/proc/self/task``); elsewhere the process itself,
    whose priority there is shared by its threads."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return [0]
    return [int(task.name) for task in tasks.iterdir() if task.name.isdigit()]
