"""A build's ingested documents on disk, batch by batch: its driver holds counts, not documents.

Every ingest batch's kept documents go to one shard, ``<batch>.jsonl`` in the version's work
directory, one ``core.serving.records.document_line`` a line (the lines of the version's
``documents.jsonl``, tokens included). The shard is written where the batch was ingested (a Dask
worker writes to the shared storage itself) under a temporary name and renamed, so a batch run
twice (a retry after a lost worker) leaves one whole shard. :class:`StoredDocuments` reads the
shards back in batch order, one document at a time, as often as the build needs to: BigARTM's
batches, the thetas, the records, the ranking's counts, the translations and the database rows
are each made in one pass over it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.reading.collection import Document
from core.serving.records import document_from_line, document_line


@dataclass(frozen=True)
class Shard(Collection[Document]):
    """One batch's kept documents in ``path``: what the driver keeps of them is this name and
    their ``count``."""

    path: Path
    count: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Document]:
        with self.path.open(encoding="utf-8", newline="\n") as lines:
            for line in lines:
                yield document_from_line(line)

    def __contains__(self, document: object) -> bool:
        return any(stored == document for stored in self)


@dataclass(frozen=True)
class StoredDocuments(Collection[Document]):
    """The documents of every shard (``Shard``, or any collection of documents), in the shards'
    order; read from disk on every pass."""

    shards: Sequence[Collection[Document]]

    def __len__(self) -> int:
        return sum(len(shard) for shard in self.shards)

    def __iter__(self) -> Iterator[Document]:
        for shard in self.shards:
            yield from shard

    def __contains__(self, document: object) -> bool:
        return any(stored == document for stored in self)


def write_shard(directory: Path, number: int, documents: Iterable[Document]) -> Shard:
    """Writes ``documents`` as shard ``number`` of ``directory`` whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{number:08d}.jsonl"
    partial = directory / f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}"
    count = 0
    with partial.open("w", encoding="utf-8", newline="\n") as handle:
        for document in documents:
            handle.write(document_line(document) + "\n")
            count += 1
    os.replace(partial, path)
    return Shard(path, count)
