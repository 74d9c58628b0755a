"""A version's document records (id, text, hashtags, photo, tokens) by row.

Search shows a few hits, so a replica need not hold every record: ``MappedRecords`` reads one
line of the version's ``documents.jsonl`` by its offset (the file memory-mapped, shared by every
replica of a node through the page cache) and finds rows by id or photo hash in sorted,
memory-mapped arrays. ``InMemoryRecords`` holds parsed ``Document`` objects: a version written
before the mapped files existed, and the additions to a collection. Both are a
``DocumentRecords``; ``tests/test_records.py`` holds the contract every implementation passes.
"""

from __future__ import annotations

import json
import mmap
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypeVar, overload, runtime_checkable

import numpy as np

from core.reading.collection import Document, TokenCounts

LINES = "documents.jsonl"
OFFSETS = "documents.offsets.npy"  # n + 1 byte offsets: record i is [offsets[i], offsets[i+1])
IDS, ID_ROWS = "documents.ids.npy", "documents.id_rows.npy"  # ids sorted (UTF-8), their rows
HASHES, HASH_ROWS = "documents.image_hashes.npy", "documents.image_hash_rows.npy"
Item = TypeVar("Item")


@runtime_checkable
class DocumentRecords(Protocol):
    """The documents of a version by row, as search shows them."""

    def __len__(self) -> int: ...

    def __getitem__(self, row: int) -> Document: ...

    def rows_of_id(self, doc_id: str) -> np.ndarray:
        """Rows of the documents with this id, ascending (one, unless an id repeats)."""
        ...

    def rows_of_image(self, image_hash: str) -> np.ndarray:
        """Rows of the documents whose photo has this content hash, ascending."""
        ...

    def extended(self, documents: Sequence[Document]) -> DocumentRecords:
        """These records with ``documents`` after them (a collection's additions)."""
        ...


class _Records(Sequence[Document]):
    """What every implementation shares: a sequence of documents that can be extended."""

    @overload
    def __getitem__(self, row: int) -> Document: ...

    @overload
    def __getitem__(self, row: slice) -> list[Document]: ...

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self.record(i) for i in range(*row.indices(len(self)))]
        if not -len(self) <= row < len(self):
            raise IndexError(f"row {row} out of range for {len(self)} documents")
        return self.record(row % len(self))

    def record(self, row: int) -> Document:
        raise NotImplementedError

    def extended(self, documents: Sequence[Document]) -> DocumentRecords:
        return ExtendedRecords(self, InMemoryRecords(documents)) if documents else self


class InMemoryRecords(_Records):
    """Parsed documents in a list, with dicts from id and photo hash to rows."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self.documents = list(documents)
        self._by_id: dict[str, list[int]] = {}
        self._by_image: dict[str, list[int]] = {}
        for row, doc in enumerate(self.documents):
            self._by_id.setdefault(doc.id, []).append(row)
            if doc.image_hash:
                self._by_image.setdefault(doc.image_hash, []).append(row)

    def __len__(self) -> int:
        return len(self.documents)

    def record(self, row: int) -> Document:
        return self.documents[row]

    def rows_of_id(self, doc_id: str) -> np.ndarray:
        return np.array(self._by_id.get(doc_id, []), dtype=np.int64)

    def rows_of_image(self, image_hash: str) -> np.ndarray:
        return np.array(self._by_image.get(image_hash, []), dtype=np.int64)


class MappedRecords(_Records):
    """Records read from a version's files on demand (see the module); written by
    ``write_record_index`` next to ``documents.jsonl``."""

    def __init__(self, directory: Path) -> None:
        directory = Path(directory)
        self.offsets = np.load(directory / OFFSETS, mmap_mode="r")
        self.ids = np.load(directory / IDS, mmap_mode="r")
        self.id_rows = np.load(directory / ID_ROWS, mmap_mode="r")
        self.hashes = np.load(directory / HASHES, mmap_mode="r")
        self.hash_rows = np.load(directory / HASH_ROWS, mmap_mode="r")
        with (directory / LINES).open("rb") as handle:
            size = (directory / LINES).stat().st_size
            self._lines = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""

    @staticmethod
    def exists(directory: Path) -> bool:
        return all((Path(directory) / name).is_file() for name in (OFFSETS, IDS, HASHES))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def record(self, row: int) -> Document:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return document_from_line(self._lines[start:end].decode("utf-8"))

    def rows_of_id(self, doc_id: str) -> np.ndarray:
        return _rows_of(self.ids, self.id_rows, doc_id)

    def rows_of_image(self, image_hash: str) -> np.ndarray:
        return _rows_of(self.hashes, self.hash_rows, image_hash)


class ExtendedRecords(_Records):
    """``base``'s rows, then ``added``'s."""

    def __init__(self, base: DocumentRecords, added: DocumentRecords) -> None:
        self.base, self.added = base, added

    def __len__(self) -> int:
        return len(self.base) + len(self.added)

    def record(self, row: int) -> Document:
        return self.base[row] if row < len(self.base) else self.added[row - len(self.base)]

    def rows_of_id(self, doc_id: str) -> np.ndarray:
        return np.concatenate(
            [self.base.rows_of_id(doc_id), self.added.rows_of_id(doc_id) + len(self.base)]
        )

    def rows_of_image(self, image_hash: str) -> np.ndarray:
        return np.concatenate(
            [
                self.base.rows_of_image(image_hash),
                self.added.rows_of_image(image_hash) + len(self.base),
            ]
        )


def _rows_of(keys: np.ndarray, rows: np.ndarray, key: str) -> np.ndarray:
    """Rows stored for ``key`` in ``keys`` (sorted, fixed-width UTF-8), ascending."""
    encoded = key.encode("utf-8")
    if not encoded or len(encoded) > keys.dtype.itemsize or encoded.endswith(b"\0"):
        return np.empty(0, dtype=np.int64)
    start = np.searchsorted(keys, encoded, side="left")
    end = np.searchsorted(keys, encoded, side="right")
    return np.sort(np.asarray(rows[start:end], dtype=np.int64))


def write_record_index(directory: Path, documents: Iterable[Document]) -> None:
    """Writes ``documents.jsonl`` and the arrays ``MappedRecords`` reads it by, in one pass over
    ``documents`` (a build streams them from its shards): only ids and photo hashes are kept."""
    directory = Path(directory)
    offsets = array("q", [0])
    ids: list[str] = []
    hashes: list[str] = []
    hash_rows = array("q")
    with (directory / LINES).open("wb") as handle:
        for row, document in enumerate(documents):
            line = (document_line(document) + "\n").encode("utf-8")
            handle.write(line)
            offsets.append(offsets[-1] + len(line))
            ids.append(document.id)
            if document.image_hash:
                hashes.append(document.image_hash)
                hash_rows.append(row)
    np.save(directory / OFFSETS, np.frombuffer(offsets, dtype=np.int64))
    _save_sorted(directory / IDS, directory / ID_ROWS, ids, np.arange(len(ids), dtype=np.int64))
    _save_sorted(
        directory / HASHES, directory / HASH_ROWS, hashes, np.frombuffer(hash_rows, np.int64)
    )


def _save_sorted(keys_path: Path, rows_path: Path, keys: list[str], rows: np.ndarray) -> None:
    encoded = np.array([key.encode("utf-8") for key in keys] or [b""], dtype=bytes)[: len(keys)]
    order = np.argsort(encoded, kind="stable")
    np.save(keys_path, encoded[order])
    np.save(rows_path, rows[order])


def chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter), taken as needed."""
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def document_line(document: Document) -> str:
    """One line of ``documents.jsonl``: id, text, tags, image (its path), image_ref (its name
    in the collection file), image_hash, tokens."""
    record = {
        "id": document.id,
        "text": document.text,
        "tags": list(document.tags),
        "image": str(document.image) if document.image else None,
        "image_ref": document.image_ref,
        "image_hash": document.image_hash,
        "tokens": {modality: dict(bag) for modality, bag in document.tokens.items()},
    }
    return json.dumps(record, ensure_ascii=False)


def document_from_line(line: str) -> Document:
    record = json.loads(line)
    return Document(
        record["id"],
        record["text"],
        tuple(record["tags"]),
        image=Path(record["image"]) if record["image"] else None,
        image_ref=record.get("image_ref"),  # a version written before it was kept has none
        image_hash=record["image_hash"],
        tokens={modality: Counter(bag) for modality, bag in record["tokens"].items()},
    )


class RowsById(Mapping[str, int]):
    """A document's row by its id (the last, should an id repeat), looked up in ``records``:
    nothing is built."""

    def __init__(self, records: DocumentRecords) -> None:
        self.records = records

    def __getitem__(self, doc_id: str) -> int:
        rows = self.records.rows_of_id(doc_id)
        if not len(rows):
            raise KeyError(doc_id)
        return int(rows[-1])

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(doc.id for doc in self.records))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class RecordTokens(Sequence[TokenCounts]):
    """Each record's token counts per modality, parsed when read."""

    def __init__(self, records: DocumentRecords) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    @overload
    def __getitem__(self, row: int) -> TokenCounts: ...

    @overload
    def __getitem__(self, row: slice) -> list[TokenCounts]: ...

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        tokens = self.records[row].tokens
        return {modality: Counter(bag) for modality, bag in tokens.items()}
