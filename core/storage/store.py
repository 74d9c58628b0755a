"""The metadata database's model versions: versions, the active version, modalities and their
live weights, topics with their top terms, and the documents of each version.

The schema is created and changed only by the Alembic migrations in ``migrations/`` (see
``core.storage.database``); the ORM classes below mirror it, and a test checks that they agree.
The searches visitors made, with their relevance votes, are ``core.storage.searches``.

Model versions are immutable: a build starts a ``building`` row (``start_version``), then writes
everything it made and marks the row ``ready`` in one transaction (``finish_version``), or marks it
``failed`` (``fail_version``). Only a ready version can be activated, and activation changes a
single row in one transaction.

Every function takes an explicit ``Session``. Functions that write commit their own transaction:
all of it, or (if they raise) none of it, and the session stays usable either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship, selectinload

from core.reading.collection import Document
from core.storage import admin_tables, searches  # noqa: F401  (their tables complete Base.metadata)
from core.storage.modality_names import MAX_NAME_CHARS, DisplayName, default_display_name
from core.storage.orm import Base, UTCDateTime, committing, one_of, utcnow
from core.weights import validate_weights

VERSION_STATUSES = ("building", "ready", "failed")
TOPIC_STATUSES = ("normal", "background", "junk")

STALE_BUILD_ERROR = "the build process stopped before the version was finished"
INSERT_CHUNK = 5000  # document rows per INSERT of finish_version


# --------------------------------------------------------------------------------------------------
# Schema
# --------------------------------------------------------------------------------------------------


class ModelVersion(Base):
    """One build of the topic model: its parameters, scores, artifacts and lifecycle."""

    __tablename__ = "model_versions"
    __table_args__ = (CheckConstraint(one_of("status", VERSION_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="building")
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_dir: Mapped[str | None] = mapped_column(String)
    collection: Mapped[str] = mapped_column(String)
    num_documents: Mapped[int] = mapped_column(Integer, default=0)
    num_topics: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"))
    error: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return f"<ModelVersion {self.id} {self.name} {self.status}>"


class ActiveVersion(Base):
    """The single row (id 1) naming the version that serves queries."""

    __tablename__ = "active_version"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))


class VersionModality(Base):
    """A modality of a version; the weight of the active version's row is the live global weight.
    ``display_en`` and ``display_ru`` are what people call it (``core.storage.modality_names``)."""

    __tablename__ = "version_modalities"
    __table_args__ = (
        UniqueConstraint("version_id", "name"),
        CheckConstraint("weight >= 0", name="weight_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(Float)
    vocabulary_size: Mapped[int] = mapped_column(Integer)
    display_en: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))
    display_ru: Mapped[str] = mapped_column(String(MAX_NAME_CHARS))


class Topic(Base):
    """A topic of a version: column ``index`` of theta, with a moderator's label and status."""

    __tablename__ = "topics"
    __table_args__ = (
        UniqueConstraint("version_id", "index"),
        CheckConstraint(one_of("status", TOPIC_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String)
    label: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(16), default="normal")
    note: Mapped[str] = mapped_column(Text, default="", server_default=text("''"))

    terms: Mapped[list[TopicTerm]] = relationship(
        back_populates="topic",
        order_by="(TopicTerm.modality, TopicTerm.rank)",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    def __repr__(self) -> str:
        return f"<Topic {self.index} {self.name!r} of version {self.version_id}>"


class TopicTerm(Base):
    """One of a topic's top terms in one modality, ranked by p(term | topic)."""

    __tablename__ = "topic_terms"
    __table_args__ = (Index(None, "topic_id", "modality", "rank"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(64))
    term: Mapped[str] = mapped_column(String)
    display: Mapped[str] = mapped_column(String)
    probability: Mapped[float] = mapped_column(Float)
    rank: Mapped[int] = mapped_column(Integer)

    topic: Mapped[Topic] = relationship(back_populates="terms")


class DocumentRow(Base):
    """A document of a version's collection (read as ``core.reading.collection.Document``)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("version_id", "doc_id"), Index(None, "image_hash"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    image: Mapped[str | None] = mapped_column(String)
    image_hash: Mapped[str | None] = mapped_column(String(128))


# --------------------------------------------------------------------------------------------------
# Model versions
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TermRecord:
    """A top term of a topic, as a build hands it to ``finish_version``."""

    modality: str
    term: str
    display: str
    probability: float
    rank: int


@dataclass(frozen=True)
class TopicRecord:
    """A topic, as a build hands it to ``finish_version``."""

    index: int
    name: str
    label: str
    status: str = "normal"
    terms: list[TermRecord] = field(default_factory=list)
    note: str = ""


def next_version_name(session: Session) -> str:
    """The name for a new version: ``v0001``, then one more than the highest existing number."""
    numbers = [
        int(match.group(1))
        for name in session.scalars(select(ModelVersion.name))
        if (match := re.fullmatch(r"v(\d+)", name))
    ]
    return f"v{max(numbers, default=0) + 1:04d}"


def start_version(
    session: Session,
    *,
    name: str,
    params: dict[str, Any],
    collection: str,
    num_topics: int,
    parent_id: int | None = None,
) -> ModelVersion:
    """Record a new version in status ``building`` (committed, so other processes see the build)."""
    version = ModelVersion(
        name=name,
        status="building",
        params=params,
        collection=collection,
        num_topics=num_topics,
        parent_id=parent_id,
    )
    with committing(session):
        session.add(version)
    return version


def finish_version(
    session: Session,
    version: ModelVersion,
    *,
    artifact_dir: str | Path,
    scores: dict[str, Any],
    num_documents: int,
    modalities: dict[str, tuple[float, int]],
    topics: list[TopicRecord],
    documents: Iterable[Document],
    display_names: Mapping[str, DisplayName] | None = None,
    training_documents: int | None = None,
) -> None:
    """Store what a build made and mark ``version`` ready, all in one transaction.

    The documents' rows go in ``INSERT_CHUNK`` at a time as ``documents`` yields them (a build
    streams them from disk), as plain inserts that the session does not keep.

    ``modalities`` maps a modality name to its (weight, vocabulary size); ``display_names`` what
    people call them (a modality it leaves out gets ``default_display_name``);
    ``training_documents``, how many documents phi was trained on, goes into the version's
    params (a build on a sample trains on fewer than ``num_documents``). Raises
    ``ValueError`` if the version is not ``building`` or a weight is invalid; then nothing is
    written.
    """
    display_names = display_names or {}
    if version.status != "building":
        raise ValueError(f"version {version.name} is {version.status}; only a build can finish")
    validate_weights({name: weight for name, (weight, _) in modalities.items()})
    with committing(session):
        session.add(version)  # the version may come from an earlier, closed session
        for name, (weight, size) in modalities.items():
            display = display_names.get(name) or default_display_name(name)
            session.add(
                VersionModality(
                    version_id=version.id,
                    name=name,
                    weight=weight,
                    vocabulary_size=size,
                    display_en=display.en,
                    display_ru=display.ru,
                )
            )
        session.add_all(
            Topic(
                version_id=version.id,
                index=topic.index,
                name=topic.name,
                label=topic.label,
                status=topic.status,
                note=topic.note,
                terms=[
                    TopicTerm(
                        modality=term.modality,
                        term=term.term,
                        display=term.display,
                        probability=term.probability,
                        rank=term.rank,
                    )
                    for term in topic.terms
                ],
            )
            for topic in topics
        )
        rows = (
            {
                "version_id": version.id,
                "doc_id": document.id,
                "text": document.text,
                "tags": list(document.tags),
                "image": document.image_ref,
                "image_hash": document.image_hash,
            }
            for document in documents
        )
        for chunk in iter(lambda: list(islice(rows, INSERT_CHUNK)), []):
            session.execute(insert(DocumentRow), chunk)
        version.artifact_dir = str(artifact_dir)
        version.scores = scores
        version.num_documents = num_documents
        if training_documents is not None:
            version.params = {**version.params, "training_documents": training_documents}
        version.status = "ready"
        version.finished_at = utcnow()


def fail_version(session: Session, version: ModelVersion, error: str) -> None:
    """Mark the build ``version`` failed with ``error`` (a ready version can't fail)."""
    if version.status != "building":
        raise ValueError(f"version {version.name} is {version.status}; only a build can fail")
    with committing(session):
        session.add(version)  # the version may come from an earlier, closed session
        version.status = "failed"
        version.error = error
        version.finished_at = utcnow()


def mark_stale_builds_failed(session: Session) -> int:
    """Mark every version still ``building`` as failed; returns how many.

    Builds run one at a time, so before a new one starts any version left ``building`` belongs to a
    process that was killed.
    """
    with committing(session):
        result = session.execute(
            update(ModelVersion)
            .where(ModelVersion.status == "building")
            .values(status="failed", error=STALE_BUILD_ERROR, finished_at=utcnow())
        )
    return result.rowcount


def activate_version(session: Session, version_id: int) -> None:
    """Make the ready version ``version_id`` serve queries, in one transaction.

    Raises ``ValueError`` (and changes nothing) if there is no such version or it is not ready.
    """
    version = session.get(ModelVersion, version_id, populate_existing=True)
    if version is None:
        raise ValueError(f"there is no model version with id {version_id}")
    if version.status != "ready":
        raise ValueError(
            f"version {version.name} is {version.status}; only a ready version can be activated"
        )
    with committing(session):
        updated = session.execute(
            update(ActiveVersion).where(ActiveVersion.id == 1).values(version_id=version_id)
        )
        if updated.rowcount == 0:
            session.execute(insert(ActiveVersion).values(id=1, version_id=version_id))


def active_version(session: Session) -> ModelVersion | None:
    """The version serving queries, or None before the first activation."""
    return session.scalar(
        select(ModelVersion).join(ActiveVersion, ActiveVersion.version_id == ModelVersion.id)
    )


def active_version_id(session: Session) -> int | None:
    """The id of the version serving queries (None before the first activation): the one
    column a query needs to know whether the version it holds is still the active one."""
    return session.scalar(select(ActiveVersion.version_id))


def list_versions(session: Session) -> list[ModelVersion]:
    """All versions, oldest first."""
    return list(session.scalars(select(ModelVersion).order_by(ModelVersion.id)))


def get_version(session: Session, id_or_name: int | str) -> ModelVersion | None:
    """The version with this id (an int or a string of digits) or this name (``"v0003"``)."""
    if isinstance(id_or_name, int) or id_or_name.isdigit():
        return session.get(ModelVersion, int(id_or_name))
    return session.scalar(select(ModelVersion).where(ModelVersion.name == id_or_name))


def delete_version(session: Session, version_id: int) -> str | None:
    """Delete a version that is neither active nor building, with its topics, terms, modalities
    and documents; returns its artifact directory, for the caller to remove.

    Versions derived from it keep existing and lose their parent link.
    """
    version = session.get(ModelVersion, version_id, populate_existing=True)
    if version is None:
        raise ValueError(f"there is no model version with id {version_id}")
    active = active_version(session)
    if active is not None and active.id == version_id:
        raise ValueError(f"version {version.name} is active; activate another one first")
    if version.status == "building":
        raise ValueError(f"version {version.name} is still building")
    with committing(session):
        session.execute(
            update(ModelVersion).where(ModelVersion.parent_id == version_id).values(parent_id=None)
        )
        session.delete(version)
    return version.artifact_dir


def version_documents(session: Session, version_id: int) -> list[Document]:
    """The documents of a version, as a derived version (same documents) hands them on; each
    names its image as the collection file does (``image_ref``)."""
    rows = session.scalars(
        select(DocumentRow).where(DocumentRow.version_id == version_id).order_by(DocumentRow.id)
    )
    return [
        Document(d.doc_id, d.text, tuple(d.tags), image_ref=d.image, image_hash=d.image_hash)
        for d in rows
    ]


# --------------------------------------------------------------------------------------------------
# Modalities and topics
# --------------------------------------------------------------------------------------------------


def modality_weights(session: Session, version_id: int) -> dict[str, float]:
    """Modality name -> weight of a version, read from the database on every call."""
    rows = session.execute(
        select(VersionModality.name, VersionModality.weight)
        .where(VersionModality.version_id == version_id)
        .order_by(VersionModality.name)
    )
    return {name: weight for name, weight in rows}


def modality_display_names(session: Session, version_id: int) -> dict[str, DisplayName]:
    """Modality name -> what people call it, for every modality of a version."""
    rows = session.execute(
        select(VersionModality.name, VersionModality.display_en, VersionModality.display_ru)
        .where(VersionModality.version_id == version_id)
        .order_by(VersionModality.name)
    )
    return {name: DisplayName(en, ru) for name, en, ru in rows}


def set_modality_weight(session: Session, version_id: int, name: str, weight: float) -> None:
    """Change the weight of modality ``name`` of a version; for the active version it is live.

    Raises ``ValueError`` (and changes nothing) for a negative or non-finite weight or a modality
    the version doesn't have.
    """
    set_modality_weights(session, version_id, {name: weight})


def set_modality_weights(session: Session, version_id: int, weights: dict[str, float]) -> None:
    """Change several weights of a version in one transaction, so no query sees half of them.

    Raises ``ValueError`` (and changes nothing) as ``set_modality_weight`` does.
    """
    validate_weights(weights)
    with committing(session):
        for name, weight in weights.items():
            result = session.execute(
                update(VersionModality)
                .where(VersionModality.version_id == version_id, VersionModality.name == name)
                .values(weight=float(weight))
            )
            if result.rowcount != 1:
                known = sorted(modality_weights(session, version_id))
                raise ValueError(f"version {version_id} has no modality {name!r}; it has {known}")


def version_topics(session: Session, version_id: int) -> list[Topic]:
    """The topics of a version in theta order, each with its terms (by modality, then rank)."""
    return list(
        session.scalars(
            select(Topic)
            .where(Topic.version_id == version_id)
            .order_by(Topic.index)
            .options(selectinload(Topic.terms))
            .execution_options(populate_existing=True)  # as stored, even if this session has them
        )
    )


def topic_labels(session: Session, version_id: int) -> dict[int, str]:
    """Topic index -> label of a version: one light query, cheap enough for every page view."""
    rows = session.execute(select(Topic.index, Topic.label).where(Topic.version_id == version_id))
    return {index: label for index, label in rows}
