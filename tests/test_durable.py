"""Durable writes: given a file written through ``core.durable``, then it is whole and in place,
no temporary is left behind, and a failed write leaves the old file untouched."""

from __future__ import annotations

import pytest

from core import durable


def test_a_written_file_is_whole_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "new" / "deeper" / "file.bin"
    durable.write_bytes(path, b"complete")
    assert path.read_bytes() == b"complete"
    assert list(path.parent.iterdir()) == [path]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "file.txt"
    durable.write_text(path, "old")
    with pytest.raises(RuntimeError), durable.atomic_writer(path) as file:
        file.write(b"half")
        raise RuntimeError("killed mid-write")
    assert path.read_text() == "old"
    assert list(tmp_path.iterdir()) == [path]


def test_a_published_directory_replaces_its_temporary_name(tmp_path):
    temporary = tmp_path / ".building-v1"
    (temporary / "sub").mkdir(parents=True)
    (temporary / "sub" / "a.npy").write_bytes(b"a")
    durable.publish_directory(temporary, tmp_path / "v1")
    assert (tmp_path / "v1" / "sub" / "a.npy").read_bytes() == b"a"
    assert not temporary.exists()


def test_removing_a_missing_file_is_not_an_error(tmp_path):
    durable.write_text(tmp_path / "gone.txt", "x")
    durable.remove(tmp_path / "gone.txt")
    durable.remove(tmp_path / "gone.txt")
    assert not (tmp_path / "gone.txt").exists()
