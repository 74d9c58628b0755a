"""Importing a collection: a folder of images plus a CSV or JSONL file of documents.

Columns / keys: ``id``, ``image`` (path relative to the folder; may be empty for a text-only
document), ``text``, optional ``tags`` and optional extra modalities (any key starting with
``@``) as token lists or token:count maps. In CSV, tags and tokens are separated by spaces,
commas or semicolons, and counts are written ``token:3``.

Bad rows are reported row by row and skipped; the rest is imported.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.reading.images import ImageError, load_image

TokenCounts = dict[str, Counter[str]]  # a document's or a query's tokens per modality

DOCUMENT_FILES = ("documents.jsonl", "documents.csv")
SEPARATORS = re.compile(r"[\s,;]+")


@dataclass(frozen=True)
class Document:
    """One photo with its comment: the one record of a document, read the same way from the
    collection file (here), after ingest, in a version's files (``core.serving.version_files``)
    and in the metadata database (``core.storage.store.DocumentRow``).

    ``tokens`` are per modality: at import only the extra modalities the collection brings (a
    build's ingest adds words, hashtags and visual words). ``image`` is the photo's file,
    ``image_ref`` the name the collection file gave it, ``image_hash`` its content hash once
    ingested.
    """

    id: str
    text: str
    tags: tuple[str, ...] = ()
    image: Path | None = None
    image_ref: str | None = None
    image_hash: str | None = None
    tokens: TokenCounts = field(default_factory=dict)


@dataclass(frozen=True)
class RowProblem:
    row: int
    id: str | None
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}" + (f" (id {self.id})" if self.id else "") + f": {self.reason}"


@dataclass
class ImportReport:
    folder: Path
    documents: list[Document] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # document id -> its row in the file


def find_documents_file(folder: Path) -> Path:
    """The collection's documents file, or a clear error naming what was looked for."""
    folder = Path(folder)
    if folder.is_file():
        return folder
    for name in DOCUMENT_FILES:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"no {' or '.join(DOCUMENT_FILES)} in {folder}")


def import_collection(path: Path, check_images: bool = True) -> ImportReport:
    """Reads a collection folder (or its documents file); bad rows become ``problems``.

    ``check_images`` decodes every image once so unreadable files are reported here, not halfway
    through a build.
    """
    documents_file = find_documents_file(path)
    report = ImportReport(folder=documents_file.parent.resolve())
    for row_number, document in _checked_rows(documents_file, check_images, report.problems):
        report.documents.append(document)
        report.rows[document.id] = row_number
    return report


@dataclass(frozen=True)
class CollectionRows(Collection[Document]):
    """The good rows of a collection file as documents, read from the file one at a time on
    every pass: a build's import keeps the rows it skips and a count, not the documents
    (ten million captions with their paths would not fit the driver's memory)."""

    file: Path
    skipped: frozenset[int]  # rows of the file that are no documents
    count: int

    @property
    def folder(self) -> Path:
        return self.file.parent.resolve()

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Document]:
        return (document for _, document in self.numbered())

    def __contains__(self, document: object) -> bool:
        return any(mine == document for mine in self)

    def numbered(self) -> Iterator[tuple[int, Document]]:
        """(row number, document) of every good row; its image was checked by the scan."""
        for row_number, row in _read_rows(self.file):
            if row_number not in self.skipped:
                yield row_number, _document_from_row(row, self.folder, check_images=False)

    def without(self, rows: Collection[int]) -> CollectionRows:
        """These rows with ``rows`` (good ones) skipped too."""
        return replace(self, skipped=self.skipped | frozenset(rows), count=self.count - len(rows))


def scan_collection(
    path: Path, check_images: bool = True
) -> tuple[CollectionRows, list[RowProblem]]:
    """``import_collection`` for a build: every row checked once, as it imports them, keeping
    the problems and how many documents there are; the documents are read again from the
    file when they are needed (``CollectionRows``)."""
    documents_file = find_documents_file(path)
    problems: list[RowProblem] = []
    count = sum(1 for _ in _checked_rows(documents_file, check_images, problems))
    return CollectionRows(documents_file, frozenset(p.row for p in problems), count), problems


def _checked_rows(
    documents_file: Path, check_images: bool, problems: list[RowProblem]
) -> Iterator[tuple[int, Document]]:
    """(row number, document) of every good row, one at a time; each bad row (unparsable, a
    bad value, a repeated id) goes to ``problems`` instead."""
    folder = documents_file.parent.resolve()
    seen: set[str] = set()
    for row_number, row in _read_rows(documents_file):
        if isinstance(row, str):
            problems.append(RowProblem(row_number, None, row))
            continue
        try:
            document = _document_from_row(row, folder, check_images)
        except ValueError as error:
            raw_id = row.get("id")
            problems.append(RowProblem(row_number, str(raw_id) if raw_id else None, str(error)))
            continue
        if document.id in seen:
            problems.append(RowProblem(row_number, document.id, "duplicate id"))
            continue
        seen.add(document.id)
        yield row_number, document


NOT_UTF8 = re.compile("[\udc80-\udcff]")
NOT_UTF8_REASON = "not UTF-8 text (save the file as UTF-8)"


def _read_rows(path: Path) -> Iterator[tuple[int, dict | str]]:
    """(row number, row) pairs, read one line at a time; a row that cannot be parsed comes as
    an error string."""
    if path.suffix.lower() == ".jsonl":
        for number, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            if NOT_UTF8.search(line):
                yield number, NOT_UTF8_REASON
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                yield number, f"not valid JSON: {error.msg}"
                continue
            yield number, row if isinstance(row, dict) else "not a JSON object"
    elif path.suffix.lower() == ".csv":
        reader = csv.DictReader(_lines(path))
        missing = {"id", "text"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path} lacks required column(s): {', '.join(sorted(missing))}")
        for number, row in enumerate(reader, start=2):
            if any(NOT_UTF8.search(str(value)) for value in row.values()):
                yield number, NOT_UTF8_REASON
                continue
            yield number, {key: value for key, value in row.items() if key is not None}
    else:
        raise ValueError(f"documents file must be .jsonl or .csv, got {path.name}")


def _lines(path: Path) -> Iterator[str]:
    """The file's lines without their ends (\\n, \\r\\n or \\r), one at a time, a leading
    byte order mark dropped. Undecodable bytes become lone surrogates, so one line in another
    encoding is reported as a bad row instead of refusing the whole file."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        for line in handle:
            yield line.removesuffix("\n")


def _document_from_row(row: dict, folder: Path, check_images: bool) -> Document:
    doc_id = str(row.get("id") or "").strip()
    if not doc_id:
        raise ValueError("missing id")
    text = row.get("text") or ""
    if not isinstance(text, str):
        raise ValueError("text must be a string")
    image_ref = str(row.get("image") or "").strip() or None
    image = _resolve_image(image_ref, folder, check_images) if image_ref else None
    if not text.strip() and image is None:
        raise ValueError("empty text and no image")
    extra = {
        key: _parse_tokens(value, key)
        for key, value in row.items()
        if key.startswith("@") and value not in (None, "")
    }
    tags = tuple(_parse_tokens(row.get("tags") or [], "tags"))
    return Document(
        doc_id, text, tags, image, image_ref, tokens={k: v for k, v in extra.items() if v}
    )


def _resolve_image(ref: str, folder: Path, check: bool) -> Path:
    path = (folder / ref).resolve()
    if not path.is_relative_to(folder):
        raise ValueError(f"image path {ref!r} points outside the collection folder")
    if not path.is_file():
        raise ValueError(f"image file {ref!r} not found")
    if check:
        try:
            load_image(path)
        except ImageError as error:
            raise ValueError(f"image {ref!r} unreadable: {error}") from error
    return path


def _parse_tokens(value: object, what: str) -> Counter[str]:
    """Tokens from a list, a {token: count} map, or a 'a b:2 c' string."""
    if isinstance(value, str):
        value = [part for part in SEPARATORS.split(value) if part]
    if isinstance(value, dict):
        counts = Counter()
        for token, count in value.items():
            if not isinstance(count, int | float) or count < 0:
                raise ValueError(f"{what}: count of {token!r} must be a number >= 0")
            counts[str(token)] += count
        return counts
    if not isinstance(value, list):
        raise ValueError(f"{what} must be a list, a token:count map or a string")
    counts = Counter()
    for item in value:
        token, _, count = str(item).rpartition(":") if ":" in str(item) else (str(item), "", "1")
        if not token.strip():
            raise ValueError(f"{what}: empty token in {item!r}")
        try:
            counts[token] += float(count) if "." in count else int(count)
        except ValueError as error:
            raise ValueError(f"{what}: bad count in {item!r}") from error
    return counts
