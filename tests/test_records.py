"""The contract every ``DocumentRecords`` passes: the records of a version's documents by row,
by id and by photo hash, and extended by a collection's additions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from core.reading.collection import Document
from core.serving.records import (
    DocumentRecords,
    InMemoryRecords,
    MappedRecords,
    RecordTokens,
    RowsById,
    write_record_index,
)
from core.serving.version_files import VersionFiles

DOCUMENTS = [
    Document(
        "cat-1",
        "Кот на окне\u2028second line",  # a line separator JSON leaves unescaped
        ("кот", "cat"),
        Path("/photos/cat.jpg"),
        image_hash="aa11",
        tokens={"@text": Counter({"кот": 2, "окно": 1}), "@visual": Counter({"v281": 3})},
    ),
    Document("dog", "a dog", ("dog",), None, tokens={"@text": Counter({"dog": 1})}),
    Document(
        "cat-2",
        "the same photo, another caption",
        (),
        Path("/photos/cat-copy.jpg"),
        image_hash="aa11",
        tokens={"@visual": Counter({"v281": 3})},
    ),
    Document("dog", "the id again", (), Path("/photos/b.jpg"), image_hash="bb22"),
]
ADDED = [
    Document("new", "added later", ("new",), Path("/photos/new.jpg"), image_hash="bb22"),
    Document("dog", "an addition may repeat an id", ()),
]


def in_memory(tmp_path: Path) -> DocumentRecords:
    return InMemoryRecords(DOCUMENTS)


def mapped(tmp_path: Path) -> DocumentRecords:
    write_record_index(tmp_path, DOCUMENTS)
    return MappedRecords(tmp_path)


IMPLEMENTATIONS = [in_memory, mapped]


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda made: made.__name__)
def records(request, tmp_path) -> DocumentRecords:
    made: Callable[[Path], DocumentRecords] = request.param
    return made(tmp_path)


def test_given_records_then_each_row_reads_back_its_document(records):
    assert isinstance(records, DocumentRecords)
    assert len(records) == len(DOCUMENTS)
    assert [records[row] for row in range(len(records))] == DOCUMENTS
    assert list(records) == DOCUMENTS and records[-1] == DOCUMENTS[-1]
    assert records[1:3] == DOCUMENTS[1:3]
    with pytest.raises(IndexError):
        records[len(DOCUMENTS)]


def test_given_records_then_rows_are_found_by_id_and_by_photo_hash(records):
    assert records.rows_of_id("cat-1").tolist() == [0]
    assert records.rows_of_id("dog").tolist() == [1, 3]
    assert records.rows_of_id("missing").tolist() == []
    assert records.rows_of_id("").tolist() == []
    assert records.rows_of_id("a-much-longer-id-than-any-stored").tolist() == []
    assert records.rows_of_image("aa11").tolist() == [0, 2]
    assert records.rows_of_image("bb22").tolist() == [3]
    assert records.rows_of_image("cc33").tolist() == []
    by_id = RowsById(records)
    assert by_id["dog"] == 3 and by_id.get("missing") is None  # the last row, as a dict would
    assert list(by_id) == ["cat-1", "dog", "cat-2"]


def test_given_additions_then_they_follow_the_records_and_are_found_too(records):
    extended = records.extended(ADDED)

    assert list(extended) == DOCUMENTS + ADDED
    assert extended.rows_of_id("dog").tolist() == [1, 3, 5]
    assert extended.rows_of_image("bb22").tolist() == [3, 4]
    assert extended.extended(ADDED[:1])[6] == ADDED[0]
    assert records.extended([]) is records
    assert RecordTokens(extended)[0] == {
        "@text": Counter({"кот": 2, "окно": 1}),
        "@visual": Counter({"v281": 3}),
    }


def test_a_version_reads_its_documents_mapped_and_one_written_before_reads_them_parsed(tmp_path):
    write_record_index(tmp_path, DOCUMENTS)
    assert isinstance(VersionFiles(tmp_path).read_records(), MappedRecords)
    assert VersionFiles(tmp_path).read_documents() == DOCUMENTS

    for older in tmp_path.glob("documents.*.npy"):
        older.unlink()
    records = VersionFiles(tmp_path).read_records()
    assert isinstance(records, InMemoryRecords) and list(records) == DOCUMENTS
    assert np.array_equal(records.rows_of_id("dog"), [1, 3])
