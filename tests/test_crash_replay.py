"""Power cuts (issue 22): given a build or an activation recorded under strace, when the power
goes off at any point of it and the disk keeps only what an fsync made durable (the rest lost or
reordered, as ALICE models it: ``tests/crash_replay.py``), then the app serves the previous
version or the new one, whole, with the answers that version gave before, and every cached file
is whole.

The default suite replays every ``SAMPLE_EVERY``-th crash point of the build and all of the
activation; ``-m slow`` replays every point of both.
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
from core.serving.answers import Query, SearchRequest
from core.serving.model import ModelParams
from core.settings import REPO_ROOT, Settings
from tests.conftest import builtin_rows, copy_collection
from tests.crash_replay import Trace, record, replay

QUERIES = ("cat", "farm animals", "ферма", "music")
PARAMS = ("--topics", "4", "--passes", "3")
FIRST, SECOND = 20, 24  # documents of the first and the second build: 4 photos new to the cache
SAMPLE_EVERY = 4


@dataclass
class Recorded:
    """The workloads recorded on one data dir and what each version answered."""

    build: Trace
    activation: Trace
    answers: dict[str, list[list[str]]]  # version name -> hit ids per query
    cache: dict[Path, bytes]  # every cache file as the workloads left it


def answers_of(data_dir: Path) -> tuple[str, list[list[str]]]:
    """The active version's name and its hits for ``QUERIES``, through the app's service."""
    from core.serving.service import Service

    service = Service(Settings(data_dir=data_dir))
    try:
        active = service.active()
        hits = [
            [hit.id for hit in service.search(SearchRequest(Query(text), k=8), active=active).hits]
            for text in QUERIES
        ]
        return active.version.name, hits
    finally:
        service.sessions.kw["bind"].dispose()


def run_cli(data_dir: Path) -> Callable[..., Trace]:
    """A workload: ``python -m core ARGS`` on ``data_dir``, recorded under strace."""

    def recorded(*arguments: str) -> Trace:
        env = {**os.environ, "TOPICSEARCH_DATA_DIR": str(data_dir)}
        return record(
            [sys.executable, "-m", "core", *arguments],
            data_dir,
            data_dir / "metadata.sqlite3",
            env,
            REPO_ROOT,
        )

    return recorded


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> Recorded:
    """v0001 built in this process; then, recorded: a build of v0002 from a collection with four
    more photos (new visual-word cache files), and the activation of v0001 again."""
    root = tmp_path_factory.mktemp("crash")
    rows = builtin_rows()
    first = copy_collection(rows[:FIRST], root / "first")
    second = copy_collection(rows[:SECOND], root / "second")
    data_dir = root / "data"
    build(Settings(data_dir=data_dir), first, ModelParams(num_topics=4, passes=3))
    name, hits = answers_of(data_dir)
    answers = {name: hits}

    workload = run_cli(data_dir)
    built = workload("build", "--collection", str(second), *PARAMS)
    name, hits = answers_of(data_dir)
    answers[name] = hits
    activation = workload("models", "activate", "v0001")
    cache = {p: p.read_bytes() for p in (data_dir / "cache").rglob("*") if p.is_file()}
    return Recorded(built, activation, answers, cache)


def serves_a_whole_version(recorded: Recorded) -> Callable[[Path], None]:
    """The check of one crash state: the active version is one the workloads made, it answers
    as it did, and a cache file that is there is whole."""

    def check(data_dir: Path) -> None:
        name, hits = answers_of(data_dir)
        assert name in recorded.answers, f"active version {name}"
        assert hits == recorded.answers[name], f"{name} answers otherwise"
        for path in (data_dir / "cache").rglob("*.npy"):
            assert path.read_bytes() == recorded.cache[path], f"{path.name} is not whole"

    return check


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


def test_the_workloads_write_fsync_and_rename_under_the_data_dir(recorded):
    """The recording sees the build's files, renames and fsyncs (a trace that saw nothing
    would make every replay pass)."""
    counts = recorded.build.counts()
    assert counts["write"] > 0 and counts["rename"] > 0 and counts["fsync"] > 0
    assert set(recorded.answers) == {"v0001", "v0002"}


def test_a_power_cut_during_a_build_leaves_one_whole_version(recorded):
    trace = recorded.build
    points = range(0, len(trace.ops) + 1, SAMPLE_EVERY)
    report = replay(trace, serves_a_whole_version(recorded), points, what_the_app_reads)
    print(
        f"build: {len(trace.ops)} operations, {len(points)} crash points, {report.states} states, "
        f"{report.checked} checked"
    )
    assert report.failures == []


def test_a_power_cut_during_an_activation_leaves_one_whole_version(recorded):
    trace = recorded.activation
    report = replay(trace, serves_a_whole_version(recorded), equivalent=what_the_app_reads)
    print(
        f"activation: {len(trace.ops)} operations, {report.states} states, {report.checked} checked"
    )
    assert report.failures == []


@pytest.mark.slow
def test_a_power_cut_at_any_point_of_a_build_leaves_one_whole_version(recorded):
    trace = recorded.build
    report = replay(trace, serves_a_whole_version(recorded), equivalent=what_the_app_reads)
    print(
        f"build: {len(trace.ops)} operations, every crash point, {report.states} states, "
        f"{report.checked} checked"
    )
    assert report.failures == []
