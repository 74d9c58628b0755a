"""A live collection: documents added to the collection after a build, and documents taken
down, recorded in the metadata database (migration 0007).

A version's files never change (its base segment). An addition is rows: the document itself
(``AddedDocument``: text, hashtags, its photo's durable copy and content hash, the extra
modalities it brought) and, per version, the tokens it has under that version's parameters and
its theta under that version's phi (``AdditionTheta``). The document and its first theta are
written in one transaction, so a document is either fully added or absent whatever kills the
process. A take-down (``TakenDown``) keeps the document's id and photo hash, who took it down,
when and why; its photo and cached visual words are deleted, and no add, rebuild or rollback
brings it back.

Serving learns of both through the one counter it already polls (``collection_generation``):
every add, take-down, hide or restore bumps it, and a replica that sees it change re-reads the
additions and the documents it must leave out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core import durable
from core.reading.collection import Document, TokenCounts
from core.reading.images import content_hash
from core.reading.vision import cached_probability_files
from core.settings import Settings
from core.storage.admin_tables import AuditEntry, bump_collection_generation
from core.storage.orm import Base, UTCDateTime, committing, utcnow
from core.storage.store import DocumentRow, ModelVersion

ADDED_PHOTOS = "added"  # folder of the data dir that keeps the photos of added documents
# A photo no row records is a stray once this old: an add writes a photo moments before its
# commit, so a younger one may be another process's add in flight.
STRAY_AFTER_SECONDS = 600.0


class AddedDocument(Base):
    """A document added to the collection after a build (the same in every version)."""

    __tablename__ = "added_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String, unique=True)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    image: Mapped[str | None] = mapped_column(String)  # its durable copy under the data dir
    image_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # imported modalities
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AdditionTheta(Base):
    """An added document as one version reads it: its tokens under the version's parameters
    and its theta (float32 bytes) under the version's phi."""

    __tablename__ = "addition_thetas"
    __table_args__ = (UniqueConstraint("document_id", "version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("added_documents.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    tokens: Mapped[dict[str, Any]] = mapped_column(JSON)
    theta: Mapped[bytes] = mapped_column(LargeBinary)


class TakenDown(Base):
    """A document taken down: by id and by photo, so that it never comes back."""

    __tablename__ = "taken_down"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String, unique=True)
    image_hash: Mapped[str | None] = mapped_column(String(128), index=True)
    taken_down_by: Mapped[str] = mapped_column(String(64))
    taken_down_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(Text)


Reading = tuple[TokenCounts, np.ndarray]  # a document's tokens and theta in one version


@dataclass(frozen=True)
class Addition:
    """An added document as a version serves it: tokens per modality, and its theta."""

    document: Document
    theta: np.ndarray


def added_photo_path(settings: Settings, image_hash: str, suffix: str) -> Path:
    """Where the collection keeps the photo of an added document: by content, so that an add
    that was killed and run again writes the same file."""
    return settings.data_dir / ADDED_PHOTOS / image_hash[:2] / f"{image_hash}{suffix.lower()}"


def remove_stray_photos(
    session: Session, settings: Settings, older_than: float = STRAY_AFTER_SECONDS
) -> list[Path]:
    """Delete the photos of the added-photos folder that no added document records and that
    are older than ``older_than`` seconds, and return them: an add killed between copying a
    photo and committing its document leaves one, as does a take-down killed between its commit
    and the deletion. Each add starts with this, so neither outlives the next add."""
    folder = settings.data_dir / ADDED_PHOTOS
    if not folder.is_dir():
        return []
    # by name (the photo's content hash): a data dir copied elsewhere keeps its rows' old paths
    recorded = {
        Path(image).name
        for image in session.scalars(select(AddedDocument.image))
        if image is not None
    }
    now = datetime.now().timestamp()
    strays = [
        photo
        for photo in folder.glob("*/*")
        if photo.is_file()
        and photo.name not in recorded
        and now - photo.stat().st_mtime > older_than
    ]
    for photo in strays:
        durable.remove(photo)
    return strays


def photo_id(data: bytes) -> str:
    """A short id for a photo that came without one (an upload): the start of its content hash."""
    return content_hash(data)[:16]


def record_addition(
    session: Session,
    document: Document,
    extra: TokenCounts,
    readings: Mapping[int, Reading],
    added_by: str,
) -> None:
    """Add ``document`` (its photo already durable at ``document.image``) with how each
    version reads it (``readings``: version id -> tokens, theta), in one transaction:
    searchable on every replica after the commit, or absent. Raises
    ``sqlalchemy.exc.IntegrityError`` if its id or photo is already added."""
    with committing(session):
        added = AddedDocument(
            doc_id=document.id,
            text=document.text,
            tags=list(document.tags),
            image=str(document.image) if document.image else None,
            image_hash=document.image_hash,
            extra={modality: dict(bag) for modality, bag in extra.items()},
            added_by=added_by,
        )
        session.add(added)
        session.flush()
        for version_id, (tokens, theta) in readings.items():
            session.add(_theta_row(added.id, version_id, tokens, theta))
        bump_collection_generation(session)


def record_addition_theta(
    session: Session, doc_id: str, version_id: int, tokens: TokenCounts, theta: np.ndarray
) -> None:
    """An added document read into one more version (one a rollback or activation serves)."""
    with committing(session):
        added = session.scalar(select(AddedDocument.id).where(AddedDocument.doc_id == doc_id))
        if added is None:
            return  # taken down meanwhile
        session.add(_theta_row(added, version_id, tokens, theta))
        bump_collection_generation(session)


def _theta_row(
    document_id: int, version_id: int, tokens: TokenCounts, theta: np.ndarray
) -> AdditionTheta:
    return AdditionTheta(
        document_id=document_id,
        version_id=version_id,
        tokens={modality: dict(bag) for modality, bag in tokens.items()},
        theta=np.asarray(theta, dtype=np.float32).tobytes(),
    )


def version_additions(session: Session, version_id: int) -> list[Addition]:
    """The added documents ``version_id`` serves besides its own, in the order they were added,
    leaving out any its own documents already hold (a rebuild trained on them)."""
    own = select(DocumentRow.doc_id).where(DocumentRow.version_id == version_id)
    rows = session.execute(
        select(AddedDocument, AdditionTheta)
        .join(AdditionTheta, AdditionTheta.document_id == AddedDocument.id)
        .where(AdditionTheta.version_id == version_id, AddedDocument.doc_id.not_in(own))
        .order_by(AddedDocument.id)
    )
    return [
        Addition(
            _document(added, {m: Counter(bag) for m, bag in reading.tokens.items()}),
            np.frombuffer(reading.theta, dtype=np.float32),
        )
        for added, reading in rows
    ]


def additions_missing_from(session: Session, version_id: int) -> list[Document]:
    """Added documents that ``version_id`` neither trained on nor has a theta of yet, each with
    the extra modalities it brought as its tokens (ingest adds the rest)."""
    own = select(DocumentRow.doc_id).where(DocumentRow.version_id == version_id)
    read = select(AdditionTheta.document_id).where(AdditionTheta.version_id == version_id)
    rows = session.scalars(
        select(AddedDocument)
        .where(AddedDocument.doc_id.not_in(own), AddedDocument.id.not_in(read))
        .order_by(AddedDocument.id)
    )
    return [_document(added, {m: Counter(bag) for m, bag in added.extra.items()}) for added in rows]


def addition_dates(session: Session) -> dict[str, datetime]:
    """When each added document was added, by id."""
    rows = session.execute(select(AddedDocument.doc_id, AddedDocument.added_at))
    return {doc_id: added_at for doc_id, added_at in rows}


def added_documents(session: Session) -> list[Document]:
    """Every added document, as a rebuild imports it (tokens: the extra modalities it brought)."""
    rows = session.scalars(select(AddedDocument).order_by(AddedDocument.id))
    return [_document(added, {m: Counter(bag) for m, bag in added.extra.items()}) for added in rows]


def _document(added: AddedDocument, tokens: TokenCounts) -> Document:
    image = Path(added.image) if added.image else None
    return Document(
        added.doc_id,
        added.text,
        tuple(added.tags),
        image=image,
        image_ref=added.image,
        image_hash=added.image_hash,
        tokens=tokens,
    )


def document_with_photo(session: Session, version_id: int, image_hash: str) -> str | None:
    """The id of the document of ``version_id`` or of the additions whose photo this is."""
    return session.scalar(
        select(AddedDocument.doc_id).where(AddedDocument.image_hash == image_hash)
    ) or session.scalar(
        select(DocumentRow.doc_id)
        .where(DocumentRow.version_id == version_id, DocumentRow.image_hash == image_hash)
        .limit(1)
    )


def known_ids(session: Session, version_id: int, ids: list[str]) -> set[str]:
    """Which of ``ids`` the collection already has (``version_id``'s documents or additions)."""
    in_version = select(DocumentRow.doc_id).where(
        DocumentRow.version_id == version_id, DocumentRow.doc_id.in_(ids)
    )
    added = select(AddedDocument.doc_id).where(AddedDocument.doc_id.in_(ids))
    return set(session.scalars(in_version)) | set(session.scalars(added))


# --------------------------------------------------------------------------------------------------
# Take-downs
# --------------------------------------------------------------------------------------------------


def take_down(
    session: Session,
    settings: Settings,
    doc_id: str,
    who: str,
    reason: str,
    *,
    audit: bool = True,
) -> TakenDown:
    """Take ``doc_id`` down: gone from every answer of every replica and version from the
    commit on, its photo and cached visual words deleted after it. ``audit`` writes the audit
    log's entry too (an admin action's own entry makes it False). Raises ``ValueError`` for an
    empty reason or an id the collection does not have; taking a document down twice changes
    nothing but deletes any file the first time left."""
    if not reason.strip():
        raise ValueError("say why the document is taken down")
    existing = taken_down_record(session, doc_id)
    if existing is None:
        photo, image_hash = _photo_of(session, doc_id)
        with committing(session):
            existing = TakenDown(
                doc_id=doc_id, image_hash=image_hash, taken_down_by=who, reason=reason.strip()
            )
            session.add(existing)
            session.execute(delete(AddedDocument).where(AddedDocument.doc_id == doc_id))
            if audit:
                details = {"document": doc_id, "reason": reason.strip()}
                session.add(
                    AuditEntry(user_name=who, action="take_down", outcome="ok", details=details)
                )
            bump_collection_generation(session)
    else:
        photo, _ = _photo_of(session, doc_id, taken_down=True)
    if photo is not None:
        durable.remove(photo)
    if existing.image_hash:
        for cached in cached_probability_files(settings.cache_dir, existing.image_hash):
            durable.remove(cached)
    return existing


def _photo_of(
    session: Session, doc_id: str, taken_down: bool = False
) -> tuple[Path | None, str | None]:
    """(photo file, content hash) of a document of any version or of the additions."""
    added = session.scalar(select(AddedDocument).where(AddedDocument.doc_id == doc_id))
    if added is not None:
        return (Path(added.image) if added.image else None), added.image_hash
    row = session.scalar(
        select(DocumentRow).where(DocumentRow.doc_id == doc_id).order_by(DocumentRow.id.desc())
    )
    if row is None:
        if taken_down:
            return None, None
        raise ValueError(f"there is no document {doc_id!r} in the collection")
    version = session.get(ModelVersion, row.version_id)
    folder = Path(version.collection) if version is not None else None
    photo = folder / row.image if folder is not None and row.image else None
    return photo, row.image_hash


def taken_down_record(session: Session, doc_id: str) -> TakenDown | None:
    return session.scalar(select(TakenDown).where(TakenDown.doc_id == doc_id))


def taken_down_ids(session: Session) -> set[str]:
    """Ids of the documents no answer may return, in any version."""
    return set(session.scalars(select(TakenDown.doc_id)))


def taken_down_photos(session: Session) -> set[str]:
    """Content hashes of the photos taken down: an add of one of them is refused."""
    return set(
        session.scalars(select(TakenDown.image_hash).where(TakenDown.image_hash.is_not(None)))
    )
