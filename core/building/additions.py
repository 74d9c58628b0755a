"""Adding documents to the live collection without a retrain (issue 22).

A new document goes through the build's own ingest (``pipeline.prepare_corpus``: text
processing, visual words, the filter of documents with too few significant tokens) under the
active version's parameters, and gets its theta with the version's phi fixed, by the very
inference the build gives its own documents (``pipeline.document_thetas``). Its photo is copied
durably into the data dir, then the document and its theta are committed in one transaction
(``core.storage.collection_changes``): each document is searchable on every replica from its
commit on, or absent, whatever kills the process. Run the same add again and what it already
added is recognised by its photo; the photo a killed add copied and never committed is deleted
by the next add (``collection_changes.remove_stray_photos``).

A photo already in the collection (the same bytes, under any id) is linked to the document
that has it, not added twice; a photo or id taken down is refused; bad rows are listed and the
good ones added. A version that becomes active later reads the additions in with its own phi
(``read_additions_into``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import durable
from core.building.ingest import IngestExecutor, LocalIngest
from core.building.pipeline import ProgressCallback, document_thetas, prepare_corpus
from core.reading.backbones import load_backbone
from core.reading.collection import Document, RowProblem, import_collection
from core.reading.images import content_hash
from core.reading.text import TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.version_files import VersionFiles
from core.settings import Settings
from core.storage import collection_changes, database, store

TAKEN_DOWN = "taken down; it cannot be added again"
KNOWN_ID = "id already in the collection (with another photo)"
TOO_FEW_TOKENS = "too few words, hashtags or tokens to place it among the topics"


@dataclass
class AddReport:
    """What an add did: documents added, ones whose photo the collection already had (new id
    -> the id of the document that has it), and rows refused with the reason."""

    added: list[str] = field(default_factory=list)
    linked: dict[str, str] = field(default_factory=dict)
    refused: list[RowProblem] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "added": self.added,
            "linked": self.linked,
            "refused": [str(problem) for problem in self.refused],
        }


def add_documents(
    settings: Settings,
    path: Path,
    added_by: str = "command line",
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> AddReport:
    """Add the documents of the collection folder (or documents file) at ``path`` to the
    active version; ``progress`` hears stages ``vectorize`` and ``add`` (documents done).
    Raises ``ValueError`` when no version is active."""
    imported = import_collection(path)
    report = AddReport(refused=list(imported.problems))
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        active = store.active_version(session)
        if active is None:
            raise ValueError("no active model version; run `python -m core build` first")
        collection_changes.remove_stray_photos(session, settings)
        others = [
            v for v in store.list_versions(session) if v.status == "ready" and v.id != active.id
        ]
        fresh = _screen(session, active.id, imported.documents, imported.rows, report)
    ingested = _ingest(settings, active, fresh, progress, executor)
    kept = {document.id for document, _ in ingested}
    for document in fresh:
        if document.id not in kept:
            row = imported.rows[document.id]
            report.refused.append(RowProblem(row, document.id, TOO_FEW_TOKENS))
    # every other ready version reads them too: a rollback or a later activation serves them
    elsewhere = {
        version.id: {
            doc.id: (doc.tokens, theta) for doc, theta in _ingest(settings, version, fresh)
        }
        for version in others
    }
    extra = {document.id: document.tokens for document in fresh}
    for done, (document, theta) in enumerate(ingested, start=1):
        document = _keep_photo(settings, document)
        readings = {active.id: (document.tokens, theta)}
        for version_id, read in elsewhere.items():
            if document.id in read:
                readings[version_id] = read[document.id]
        with sessions() as session:
            try:
                collection_changes.record_addition(
                    session, document, extra[document.id], readings, added_by
                )
            except IntegrityError:  # another process added its id or photo meanwhile
                if _screen(session, active.id, [document], imported.rows, report):
                    raise
                if document.id not in report.linked and document.image is not None:
                    durable.remove(document.image)  # refused: no row points at its copy
            else:
                report.added.append(document.id)
        if progress:
            progress("add", done, len(ingested))
    report.refused.sort(key=lambda problem: problem.row)
    return report


def _screen(
    session: Session,
    version_id: int,
    documents: Sequence[Document],
    rows: dict[str, int],
    report: AddReport,
) -> list[Document]:
    """The documents to add; the others go to the report: taken down (by id or photo),
    linked (their photo is in the collection), or refused (their id is)."""
    taken_down = collection_changes.taken_down_ids(session)
    taken_down_photos = collection_changes.taken_down_photos(session)
    known = collection_changes.known_ids(session, version_id, [d.id for d in documents])
    photos: dict[str, str] = {}  # photo hash -> the id of this batch's document with it
    fresh = []
    for document in documents:
        image_hash = content_hash(document.image) if document.image else None
        if document.id in taken_down or image_hash in taken_down_photos:
            report.refused.append(RowProblem(rows[document.id], document.id, TAKEN_DOWN))
            continue
        if image_hash is not None:
            existing = photos.get(image_hash) or collection_changes.document_with_photo(
                session, version_id, image_hash
            )
            if existing is not None:
                report.linked[document.id] = existing
                continue
            photos[image_hash] = document.id
        if document.id in known:
            report.refused.append(RowProblem(rows[document.id], document.id, KNOWN_ID))
            continue
        fresh.append(replace(document, image_hash=image_hash))
    return fresh


def _ingest(
    settings: Settings,
    version: store.ModelVersion,
    documents: Sequence[Document],
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> list[tuple[Document, np.ndarray]]:
    """(document with its tokens under ``version``, its theta) for each document the build's
    ingest keeps, inferred with the version's phi fixed on ``executor``, as the build infers
    its own."""
    if not documents:
        return []
    files = VersionFiles(Path(version.artifact_dir))
    params = files.read_params()
    if executor is None:
        backbone = (version.params or {}).get("backbone") or settings.backbone
        vectorizer = ImageVectorizer(
            load_backbone(backbone, settings.inception_weights), settings.cache_dir
        )
        executor = LocalIngest(TextProcessor(), vectorizer)
    corpus = prepare_corpus(list(documents), params, executor, progress)
    if not corpus.documents:
        return []
    thetas = document_thetas(
        files.read_model(), params, corpus.tokens, params.modality_weights, executor=executor
    )
    return list(zip(corpus.documents, thetas, strict=True))


def _keep_photo(settings: Settings, document: Document) -> Document:
    """The document with its photo copied durably into the data dir (named by its content, so
    an add run again after a crash writes the same file), before any row points at it."""
    if document.image is None or document.image_hash is None:
        return document
    kept = collection_changes.added_photo_path(settings, document.image_hash, document.image.suffix)
    durable.write_bytes(kept, document.image.read_bytes())
    return replace(document, image=kept, image_ref=str(kept))


def read_additions_into(
    settings: Settings,
    version_id: int,
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> int:
    """Give ``version_id`` every added document it lacks (tokens under its parameters, theta
    under its phi), one transaction each; returns how many. A version activated later, or
    rolled back to, so keeps every addition searchable."""
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        version = store.get_version(session, version_id)
        if version is None or version.status != "ready":
            raise ValueError(f"there is no ready version {version_id!r}")
        missing = collection_changes.additions_missing_from(session, version_id)
    ingested = _ingest(settings, version, missing, progress, executor)
    for done, (document, theta) in enumerate(ingested, start=1):
        with sessions() as session:
            collection_changes.record_addition_theta(
                session, document.id, version_id, document.tokens, theta
            )
        if progress:
            progress("add", done, len(ingested))
    return len(ingested)
