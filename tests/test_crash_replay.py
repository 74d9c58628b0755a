"""Power cuts (issue 22): given a build or an activation recorded under strace, when the power
goes off at any point of it and the disk keeps only what an fsync made durable (the rest lost or
reordered, as ALICE models it: ``tests/crash_replay.py``), then the app answers exactly as it did
before the workload or as it did after it, never from half a version, and every cached file is
whole.

The workloads: a build, an addition of a photo to the live collection (``python -m core add``),
its take-down (``python -m core remove``) and an activation. The addition is one document, so
that "before or after" is exact: a batch commits each document on its own, and a state between
two of its documents is neither. The default suite replays every ``SAMPLE_EVERY``-th crash point
of the build and every point of the others; ``-m slow`` every point of the build. Another
workload is one more ``recorded_workload(data_dir, *cli_arguments)`` in the fixture and one more
test calling ``replayed``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.building.pipeline import BUILDING_PREFIX, build
from core.reading.images import content_hash
from core.serving.answers import Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.serving.model import ModelParams
from core.settings import REPO_ROOT, Settings
from tests.conftest import builtin_rows, copy_collection
from tests.crash_replay import ReplayReport, Trace, record, replay

QUERIES = ("cat", "farm animals", "ферма", "music", "berlin cathedral", "brandenburg gate")
PARAMS = ("--topics", "4", "--passes", "3")
FIRST, SECOND = 20, 24  # documents of the first and the second build: 4 photos new to the cache
ADDED = 25  # document SECOND is added to the live collection (Berlin Cathedral)
SAMPLE_EVERY = 4


Outcome = tuple[str, list[list[str]]]  # the active version's name, its hit ids per query


def answers_of(data_dir: Path) -> Outcome:
    """The active version's name and its hits for ``QUERIES``, through the app's service."""
    from core.serving.service import Service

    service = Service(Settings(data_dir=data_dir))

    def hit_ids(text: str, active) -> list[str]:
        try:
            answer = service.search(SearchRequest(Query(text), k=8), active=active)
        except NothingRecognized:  # a version whose vocabulary lacks the words answers that
            return []
        return [hit.id for hit in answer.hits]

    try:
        active = service.active()
        return active.version.name, [hit_ids(text, active) for text in QUERIES]
    finally:
        service.sessions.kw["bind"].dispose()


@dataclass
class Workload:
    """A workload recorded under strace and what the app answered before and after it."""

    trace: Trace
    before: Outcome
    after: Outcome


def recorded_workload(data_dir: Path, *arguments: str) -> Workload:
    """``python -m core ARGUMENTS`` on ``data_dir`` under strace, with the app's answers before
    and after: how any workload (a build, an activation, an addition, a take-down) is recorded
    for ``replayed``."""
    before = answers_of(data_dir)
    trace = record(
        [sys.executable, "-m", "core", *arguments],
        data_dir,
        data_dir / "metadata.sqlite3",
        {**os.environ, "TOPICSEARCH_DATA_DIR": str(data_dir)},
        REPO_ROOT,
    )
    return Workload(trace, before, answers_of(data_dir))


@dataclass
class Recorded:
    build: Workload
    addition: Workload
    take_down: Workload
    activation: Workload
    # every cache file any workload left (an entry never changes; a take-down only deletes)
    cache: dict[Path, bytes]
    added_id: str  # the added document the take-down took down


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    """v0001 built in this process; then, recorded: a build of v0002 from a collection with four
    more photos (new visual-word cache files), an addition of one more photo to the live
    collection (read into both versions), its take-down, and the activation of v0001 again."""
    root = tmp_path_factory.mktemp("crash")
    rows = builtin_rows()
    first = copy_collection(rows[:FIRST], root / "first")
    second = copy_collection(rows[:SECOND], root / "second")
    additions = copy_collection(rows[SECOND:ADDED], root / "additions")
    data_dir = root / "data"
    build(Settings(data_dir=data_dir), first, ModelParams(num_topics=4, passes=3))
    cache: dict[Path, bytes] = {}

    def recorded_with_cache(*arguments: str) -> Workload:
        workload = recorded_workload(data_dir, *arguments)
        cache.update({p: p.read_bytes() for p in (data_dir / "cache").rglob("*") if p.is_file()})
        return workload

    built = recorded_with_cache("build", "--collection", str(second), *PARAMS)
    addition = recorded_with_cache("add", str(additions))
    added_id = rows[SECOND]["id"]
    take_down = recorded_with_cache("remove", added_id, "--reason", "asked by its author")
    activation = recorded_with_cache("models", "activate", "v0001")
    return Recorded(built, addition, take_down, activation, cache, added_id)


def serves_before_or_after(workload: Workload, cache: dict[Path, bytes]) -> Callable[[Path], None]:
    """The check of one crash state: the app answers as it did before the workload or as it did
    after it (the same version, whole), and a cache file that is there is whole."""

    def check(data_dir: Path) -> None:
        outcome = answers_of(data_dir)
        assert outcome in (workload.before, workload.after), f"{outcome[0]} answers otherwise"
        for path in (data_dir / "cache").rglob("*.npy"):
            assert path.read_bytes() == cache[path], f"{path.name} is not whole"
        for photo, image_hash in added_photos(data_dir):
            assert photo.is_file(), f"added photo {photo.name} is missing"
            assert content_hash(photo) == image_hash, f"added photo {photo.name} is not whole"

    return check


def added_photos(data_dir: Path) -> list[tuple[Path, str]]:
    """(photo file, content hash) of every added document the database records."""
    connection = sqlite3.connect(data_dir / "metadata.sqlite3")
    try:
        rows = connection.execute("SELECT image, image_hash FROM added_documents").fetchall()
    finally:
        connection.close()
    return [(Path(image), image_hash) for image, image_hash in rows if image]


def what_the_app_reads(data_dir: Path) -> tuple:
    """The database's rows (not its bytes: SQLite writes its WAL in many steps that change no
    row) and every other file but those of unfinished builds, which nothing serves."""
    connection = sqlite3.connect(data_dir / "metadata.sqlite3")
    try:
        rows = hashlib.sha256("\n".join(connection.iterdump()).encode()).hexdigest()
    finally:
        connection.close()
    files = sorted(
        (str(path.relative_to(data_dir)), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in data_dir.rglob("*")
        if path.is_file()
        and not path.name.startswith("metadata.sqlite3")
        and not any(part.startswith(BUILDING_PREFIX) for part in path.parts)
    )
    return rows, tuple(files)


def replayed(workload: Workload, cache: dict[Path, bytes], every: int = 1) -> ReplayReport:
    """Replay every ``every``-th crash point of ``workload`` (and the end), reporting counts."""
    trace = workload.trace
    points = sorted({*range(0, len(trace.ops) + 1, every), len(trace.ops)})
    check = serves_before_or_after(workload, cache)
    report = replay(trace, check, points, what_the_app_reads)
    print(
        f"{len(trace.ops)} operations {trace.counts()}, {len(points)} crash points, "
        f"{report.states} states, {report.checked} checked, {len(report.failures)} failed"
    )
    return report


def test_the_workloads_write_fsync_and_rename_under_the_data_dir(recorded):
    """The recording sees the build's files, renames and fsyncs, the addition's photos and the
    take-down's deletions, and each workload changes what the app answers (a trace that saw
    nothing, or workloads that changed nothing, would make every replay pass)."""
    counts = recorded.build.trace.counts()
    assert counts["write"] > 0 and counts["rename"] > 0 and counts["fsync"] > 0
    assert [recorded.build.before[0], recorded.build.after[0]] == ["v0001", "v0002"]
    assert recorded.addition.trace.counts()["create"] >= 1
    assert recorded.take_down.trace.counts()["unlink"] >= 1
    for workload in (recorded.addition, recorded.take_down, recorded.activation):
        assert workload.after != workload.before
    added = {hit for hits in recorded.addition.after[1] for hit in hits} - {
        hit for hits in recorded.addition.before[1] for hit in hits
    }
    assert recorded.added_id in added
    assert all(recorded.added_id not in hits for hits in recorded.take_down.after[1])


def test_a_power_cut_during_a_build_leaves_one_whole_version(recorded):
    report = replayed(recorded.build, recorded.cache, every=SAMPLE_EVERY)
    assert report.failures == []


def test_a_power_cut_during_an_addition_leaves_each_document_searchable_or_absent(recorded):
    report = replayed(recorded.addition, recorded.cache)
    assert report.failures == []


def test_a_power_cut_during_a_take_down_leaves_the_document_served_or_gone(recorded):
    report = replayed(recorded.take_down, recorded.cache)
    assert report.failures == []


def test_a_power_cut_during_an_activation_leaves_one_whole_version(recorded):
    report = replayed(recorded.activation, recorded.cache)
    assert report.failures == []


@pytest.mark.slow
def test_a_power_cut_at_any_point_of_a_build_leaves_one_whole_version(recorded):
    report = replayed(recorded.build, recorded.cache)
    assert report.failures == []


def crash_contents(tmp_path: Path, write: str) -> set[bytes | None]:
    """What ``data/file`` holds (None: missing) in each state a power cut during ``write`` (Python
    run with ``path`` bound to it, ``data/file`` holding b"old" before) may leave."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "file"
    path.write_bytes(b"old")
    program = f"from pathlib import Path; from core import durable; path = Path({str(path)!r}); "
    trace = record(
        [sys.executable, "-c", program + write], data_dir, data_dir / "none", {}, REPO_ROOT
    )
    contents: set[bytes | None] = set()
    replay(trace, lambda root: contents.add(path.read_bytes() if path.exists() else None))
    return contents


def test_a_durable_write_leaves_the_old_file_or_the_new_one(tmp_path):
    assert crash_contents(tmp_path, "durable.write_bytes(path, b'new')") == {b"old", b"new"}


def test_a_write_and_rename_without_fsync_can_leave_an_empty_file(tmp_path):
    plain = "path.with_name('tmp').write_bytes(b'new'); path.with_name('tmp').replace(path)"
    assert b"" in crash_contents(tmp_path, plain)
