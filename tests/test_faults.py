"""Versions derived from another one (re-index, added modality) are all-or-nothing too: a kill or
a write error leaves the parent active and serving and nothing half-written marked ready.

Build faults are in test_pipeline.py.
"""

from __future__ import annotations

from collections import Counter

import pytest

from core.building.pipeline import add_modality_version, reindex_version
from core.settings import Settings
from core.storage import database, store
from tests.fault_helpers import (
    assert_every_ready_version_loads,
    assert_serving,
    model_dirs,
    read_until,
    running,
    sigkill,
    state,
)


def author_tokens(settings: Settings, version: str) -> dict[str, Counter[str]]:
    """An ``@author`` per document of ``version``, as an admin might bring one."""
    with database.open_database(settings.database_url)() as session:
        documents = store.version_documents(session, store.get_version(session, version).id)
    return {d.id: Counter([f"author-{n % 5}"]) for n, d in enumerate(documents)}


def test_given_a_reindex_killed_while_writing_files_then_the_parent_serves_and_the_next_one_works(
    deployment: Settings,
) -> None:
    """Re-indexing runs in the app's process; a restart of the app kills it like this."""
    parent, _ = state(deployment)
    with running(deployment, "-m", "tests.paused_run", "index", "reindex", parent) as process:
        read_until(process, "paused")
        [workdir] = deployment.models_dir.glob(".building-*")
        assert (workdir / "index").is_dir() and not (workdir / "version.json").exists()
        sigkill(process)

    active, versions = state(deployment)
    assert active == parent
    assert versions["v0002"] == ("building", None)
    assert_every_ready_version_loads(deployment)
    assert_serving(deployment, parent)

    report = reindex_version(deployment, parent, {"@visual": 0.0}, activate=True)
    active, versions = state(deployment)
    assert active == report.version_name == "v0003"
    assert versions["v0002"] == ("failed", None)
    assert model_dirs(deployment) == [parent, "v0003"]
    assert_every_ready_version_loads(deployment)
    assert_serving(deployment, "v0003")


@pytest.mark.parametrize(
    ("how", "stage"),
    [("reindex", "thetas"), ("reindex", "index"), ("frozen", "index"), ("retrain", "train")],
)
def test_given_a_write_error_while_deriving_a_version_then_nothing_half_written_is_left(
    deployment: Settings, how: str, stage: str
) -> None:
    """Stage index reports once the index files are written, before the other version files."""
    parent, _ = state(deployment)

    def disk_full(reported: str, done: int, total: int) -> None:
        if reported == stage:
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        if how == "reindex":
            reindex_version(deployment, parent, {"@visual": 0.0}, disk_full)
        else:
            tokens = author_tokens(deployment, parent)
            add_modality_version(
                deployment, parent, "@author", tokens, 1.0, how == "retrain", disk_full
            )
    active, versions = state(deployment)
    assert active == parent
    assert versions["v0002"] == ("failed", None)
    assert model_dirs(deployment) == [parent]
    assert_serving(deployment, parent)
