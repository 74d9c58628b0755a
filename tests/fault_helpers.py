"""What the fault tests share: running a build in a subprocess that can be SIGKILLed at a known
stage, and the state a crash must leave (previous version active and serving, every ready version
complete, no temporary build directory left once the next build has started)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.reading.text import TextProcessor
from core.serving.answers import SearchRequest
from core.serving.engine import Query, SearchEngine
from core.serving.model import ModelParams
from core.serving.service import Service
from core.settings import REPO_ROOT, Settings
from core.storage import database, store
from tests.conftest import builtin_rows

SMALL = ModelParams(num_topics=6, num_background_topics=1, passes=4)


@contextmanager
def running(settings: Settings, *arguments: str) -> Iterator[subprocess.Popen]:
    """``python ARGUMENTS`` on the data dir and database of ``settings``, stdout and stderr in
    one pipe; killed on leaving the block if it is still running, so a failing test leaves no
    build behind."""
    env = {
        **os.environ,
        "TOPICSEARCH_DATA_DIR": str(settings.data_dir),
        "TOPICSEARCH_COLLECTION": str(settings.collection),
        "TOPICSEARCH_DATABASE_URL": settings.database_url,
    }
    process = subprocess.Popen(
        [sys.executable, *arguments],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def read_until(process: subprocess.Popen, marker: str, timeout: float = 120) -> str:
    """The subprocess's output up to ``marker``; fails with what it wrote if it never comes."""
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen:
        ready, _, _ = select.select([process.stdout], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b""
        assert chunk, f"the subprocess never wrote {marker!r}; it wrote:\n{seen}"
        seen += chunk.decode(errors="replace")
    return seen


def sigkill(process: subprocess.Popen) -> None:
    """SIGKILL, and make sure the process died of it rather than finishing first."""
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL


def state(settings: Settings) -> tuple[str | None, dict[str, tuple[str, str | None]]]:
    """(active version name, {name: (status, artifact dir)})."""
    with database.open_database(settings.database_url)() as session:
        active = store.active_version(session)
        versions = {v.name: (v.status, v.artifact_dir) for v in store.list_versions(session)}
    return (active.name if active else None), versions


def model_dirs(settings: Settings) -> list[str]:
    """What is in the models directory besides the build lock."""
    return sorted(p.name for p in settings.models_dir.iterdir() if not p.name.startswith(".build."))


def assert_every_ready_version_loads(settings: Settings) -> None:
    """No version is marked ready with a missing or half-written file: each one loads."""
    _, versions = state(settings)
    for name, (status, directory) in versions.items():
        if status == "ready":
            SearchEngine(Path(directory), name, TextProcessor(), vectorizer=None)


def assert_serving(settings: Settings, version_name: str) -> None:
    """``version_name`` is the active version and answers a search."""
    result = Service(settings).search(SearchRequest(Query(text=builtin_rows()[0]["text"]), k=3))
    assert result.model_version == version_name
    assert result.hits
