"""Durable file writes: what the metadata database points at must survive a power cut.

A killed process leaves the page cache to the kernel, which writes it out later; a power cut
does not. Until a file's data is fsynced it may be lost, and until its directory is fsynced its
name (a create or a rename) may be lost or reordered with the other names (ALICE, OSDI 2014).
So every writer that a database row will point at follows one order, kept here:

1. write the file under a temporary name in its final directory, fsync it;
2. rename it into place, fsync the directory;
3. only then record it in the database.

A version directory is built whole under a temporary name, every file and directory in it
synced (``sync_tree``), then renamed into place and its parent synced (``publish_directory``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

TEMPORARY_SUFFIX = ".tmp"


def sync_directory(directory: Path) -> None:
    """Make the names in ``directory`` (files created, renamed or removed in it) durable."""
    handle = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def sync_file(path: Path) -> None:
    """Make the data of the file at ``path`` durable (not its name: see ``sync_directory``)."""
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` whole or not at all, durably: readers see the old file or the new one.

    The block writes to a temporary file next to ``path``; if it raises, the temporary file is
    removed and ``path`` is untouched. Directories on the way are created (and synced).
    """
    path = Path(path)
    make_directories(path.parent)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=TEMPORARY_SUFFIX)
    try:
        with os.fdopen(handle, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    sync_directory(path.parent)


def write_bytes(path: Path, data: bytes) -> None:
    """``atomic_writer`` for data already in memory."""
    with atomic_writer(path) as file:
        file.write(data)


def write_text(path: Path, text: str) -> None:
    """``write_bytes`` of ``text`` in UTF-8."""
    write_bytes(path, text.encode("utf-8"))


def remove(path: Path) -> None:
    """Remove the file at ``path`` (if it is there) so that it stays removed after a power cut."""
    path = Path(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return
    sync_directory(path.parent)


def sync_tree(root: Path) -> None:
    """Fsync every file and directory under ``root`` (files first, each directory after its
    contents): for a directory written by libraries that do not sync (numpy, BigARTM)."""
    for directory, _subdirectories, files in os.walk(root, topdown=False):
        for name in files:
            sync_file(Path(directory) / name)
        sync_directory(Path(directory))


def publish_directory(temporary: Path, final: Path) -> None:
    """Move the complete directory ``temporary`` to ``final`` durably: its contents synced
    before the rename, the rename synced after it. ``final`` must not exist."""
    sync_tree(temporary)
    os.replace(temporary, final)
    sync_directory(Path(final).parent)


def make_directories(directory: Path) -> None:
    """``mkdir -p`` whose new directories' names are durable too: a file synced into a directory
    whose own name a power cut takes back is lost with it."""
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for new in reversed(missing):
        new.mkdir(exist_ok=True)
        sync_directory(new.parent)
