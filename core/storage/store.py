"""The metadata database: model versions, the active version, modalities and their live weights,
topics with their top terms, the documents of each version, and the searches visitors made with
their relevance votes.

SQLite under the data directory is the embedded default and PostgreSQL the production database;
the same code serves both through a SQLAlchemy URL. The schema is created and changed only by the
Alembic migrations in ``migrations/`` (``upgrade_database``); the ORM classes below mirror it, and
a test checks that they agree.

Model versions are immutable: a build starts a ``building`` row (``start_version``), then writes
everything it made and marks the row ``ready`` in one transaction (``finish_version``), or marks it
``failed`` (``fail_version``). Only a ready version can be activated, and activation changes a
single row in one transaction.

Every function takes an explicit ``Session``. Functions that write commit their own transaction:
all of it, or (if they raise) none of it, and the session stays usable either way.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    func,
    insert,
    make_url,
    select,
    text,
    update,
)
from sqlalchemy.orm import (
    Mapped,
    Session,
    mapped_column,
    relationship,
    selectinload,
    sessionmaker,
)

from core.reading.collection import Document
from core.storage import admin_tables  # noqa: F401  (its tables complete Base.metadata: copy_database)
from core.storage.orm import Base, UTCDateTime, one_of, utcnow
from core.weights import validate_weights

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

VERSION_STATUSES = ("building", "ready", "failed")
TOPIC_STATUSES = ("normal", "background", "junk")
VOTES = (-1, 1)

STALE_BUILD_ERROR = "the build process stopped before the version was finished"
CONNECT_TIMEOUT_S = 5
_MIGRATING = threading.Lock()  # Alembic keeps its running migration in module globals


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
    """A modality of a version; the weight of the active version's row is the live global weight."""

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
    __table_args__ = (UniqueConstraint("version_id", "doc_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String)
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSON)
    image: Mapped[str | None] = mapped_column(String)
    image_hash: Mapped[str | None] = mapped_column(String(128))


class Search(Base):
    """A query a visitor made and what it returned: the record relevance evaluation starts from.

    The version is kept by name, not by key, so deleting a version keeps its searches and votes.
    """

    __tablename__ = "searches"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    visitor: Mapped[str] = mapped_column(String(64))
    version_name: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    image_hash: Mapped[str | None] = mapped_column(String(128))
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    result_ids: Mapped[list[str]] = mapped_column(JSON)


class RelevanceVote(Base):
    """A visitor's judgement of one result of a search: +1 relevant, -1 not (the latest counts)."""

    __tablename__ = "relevance_votes"
    __table_args__ = (
        UniqueConstraint("search_id", "doc_id"),
        CheckConstraint(f"vote IN {VOTES}", name="up_or_down"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String)
    vote: Mapped[int] = mapped_column(Integer)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --------------------------------------------------------------------------------------------------
# Engine, sessions, migrations
# --------------------------------------------------------------------------------------------------


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite, creates the file's directory and turns on foreign keys
    and WAL (readers don't wait for the writer) on every connection.

    A database server's connections are checked before use, so after the server restarted the
    next query reconnects instead of failing on a dead connection; a PostgreSQL server that does
    not answer within ``CONNECT_TIMEOUT_S`` counts as unreachable.
    """
    backend = make_url(url).get_backend_name()
    if backend != "sqlite":
        timeout = {"connect_timeout": CONNECT_TIMEOUT_S} if backend == "postgresql" else {}
        return create_engine(url, pool_pre_ping=True, connect_args=timeout)
    engine = create_engine(url)

    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; objects stay readable after commit and after the session closes."""
    return sessionmaker(engine, expire_on_commit=False)


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Config values are interpolated, so a literal "%" (as in an escaped password) must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Create or bring the schema of the database at ``url`` up to the newest migration.

    Running it on an up-to-date database changes nothing. Threads of one process take turns.
    """
    with _MIGRATING:
        command.upgrade(_alembic_config(url), "head")


def head_revision() -> str:
    """The newest migration's revision: what ``upgrade_database`` brings a database to."""
    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def downgrade_database(url: str, revision: str = "base") -> None:
    """Undo migrations down to ``revision``; ``"base"`` drops every table."""
    command.downgrade(_alembic_config(url), revision)


def copy_database(source_url: str, target_url: str) -> None:
    """Copy every row of the database at ``source_url`` into the empty database at
    ``target_url`` (e.g. an embedded SQLite store into PostgreSQL), keeping primary keys.

    The target's schema is brought up to date first and its id sequences continue after the
    copied rows. Raises ``ValueError`` (and copies nothing) if the target already has rows.
    """
    upgrade_database(source_url)
    upgrade_database(target_url)
    source, target = create_db_engine(source_url), create_db_engine(target_url)
    try:
        with source.connect() as reading, target.begin() as writing:
            tables = Base.metadata.sorted_tables  # parents before the tables that refer to them
            if any(writing.scalar(select(func.count()).select_from(t)) for t in tables):
                raise ValueError("the target database already has rows; copy into an empty one")
            for table in tables:
                ordered = select(table).order_by(*table.primary_key.columns)  # parents first
                rows = [dict(row) for row in reading.execute(ordered).mappings()]
                if rows:
                    writing.execute(insert(table), rows)
            if writing.dialect.name == "postgresql":
                for table in tables:
                    if (column := table.autoincrement_column) is not None:
                        writing.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}',"
                                f" '{column.name}'), coalesce(max({column.name}), 0) + 1, false)"
                                f" FROM {table.name}"
                            )
                        )
    finally:
        source.dispose()
        target.dispose()


def open_database(url: str) -> sessionmaker[Session]:
    """Sessions on the database at ``url``, its schema brought up to date first."""
    upgrade_database(url)
    return session_factory(create_db_engine(url))


@contextmanager
def _committing(session: Session) -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back if the block raises."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


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
    with _committing(session):
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
    documents: list[Document],
) -> None:
    """Store what a build made and mark ``version`` ready, all in one transaction.

    ``modalities`` maps a modality name to its (weight, vocabulary size). Raises ``ValueError`` if
    the version is not ``building`` or a weight is invalid; then nothing is written.
    """
    if version.status != "building":
        raise ValueError(f"version {version.name} is {version.status}; only a build can finish")
    validate_weights({name: weight for name, (weight, _) in modalities.items()})
    with _committing(session):
        session.add(version)  # the version may come from an earlier, closed session
        session.add_all(
            VersionModality(version_id=version.id, name=name, weight=weight, vocabulary_size=size)
            for name, (weight, size) in modalities.items()
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
        session.add_all(
            DocumentRow(
                version_id=version.id,
                doc_id=document.id,
                text=document.text,
                tags=list(document.tags),
                image=document.image_ref,
                image_hash=document.image_hash,
            )
            for document in documents
        )
        version.artifact_dir = str(artifact_dir)
        version.scores = scores
        version.num_documents = num_documents
        version.status = "ready"
        version.finished_at = utcnow()


def fail_version(session: Session, version: ModelVersion, error: str) -> None:
    """Mark the build ``version`` failed with ``error`` (a ready version can't fail)."""
    if version.status != "building":
        raise ValueError(f"version {version.name} is {version.status}; only a build can fail")
    with _committing(session):
        session.add(version)  # the version may come from an earlier, closed session
        version.status = "failed"
        version.error = error
        version.finished_at = utcnow()


def mark_stale_builds_failed(session: Session) -> int:
    """Mark every version still ``building`` as failed; returns how many.

    Builds run one at a time, so before a new one starts any version left ``building`` belongs to a
    process that was killed.
    """
    with _committing(session):
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
    with _committing(session):
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
    with _committing(session):
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
    with _committing(session):
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


# --------------------------------------------------------------------------------------------------
# Searches and relevance votes
# --------------------------------------------------------------------------------------------------


def record_search(
    session: Session,
    *,
    visitor: str,
    version_name: str,
    text: str,
    image_hash: str | None,
    weights: dict[str, float],
    latency_ms: float,
    result_ids: list[str],
) -> Search:
    """Store a search as it was answered; votes on its results refer to it."""
    search = Search(
        visitor=visitor,
        version_name=version_name,
        text=text,
        image_hash=image_hash,
        weights=dict(weights),
        latency_ms=float(latency_ms),
        result_ids=list(result_ids),
    )
    with _committing(session):
        session.add(search)
    return search


# Why a vote is refused, in English.
VOTE_PROBLEMS = {
    "not_a_vote": "a vote is +1 or -1, not {vote!r}",
    "unknown_search": "there is no search with id {search_id}",
    "not_a_result": "document {doc_id!r} was not a result of search {search_id}",
}


class VoteRefused(ValueError):
    """A vote that does not fit: not +1/-1, an unknown search, or a document the search did not
    return. ``reason`` (a key of ``VOTE_PROBLEMS``) and ``details`` let an interface say it in
    another language."""

    def __init__(self, reason: str, **details: object) -> None:
        self.reason, self.details = reason, details
        super().__init__(VOTE_PROBLEMS[reason].format(**details))


def record_vote(session: Session, search_id: int, doc_id: str, vote: int) -> None:
    """Record +1 or -1 for a result of a search; voting again replaces the earlier vote.

    Raises ``VoteRefused`` (and changes nothing) for another vote value, an unknown search, or a
    document that was not among that search's results.
    """
    if vote not in VOTES:
        raise VoteRefused("not_a_vote", vote=vote)
    search = session.get(Search, search_id)
    if search is None:
        raise VoteRefused("unknown_search", search_id=search_id)
    if doc_id not in search.result_ids:
        raise VoteRefused("not_a_result", doc_id=doc_id, search_id=search_id)
    with _committing(session):
        existing = session.scalar(
            select(RelevanceVote).where(
                RelevanceVote.search_id == search_id, RelevanceVote.doc_id == doc_id
            )
        )
        if existing is None:
            session.add(RelevanceVote(search_id=search_id, doc_id=doc_id, vote=vote))
        else:
            existing.vote = vote
            existing.voted_at = utcnow()


def search_votes(session: Session, search_id: int) -> dict[str, int]:
    """Document id -> the latest vote on it, for one search."""
    rows = session.execute(
        select(RelevanceVote.doc_id, RelevanceVote.vote).where(RelevanceVote.search_id == search_id)
    )
    return {doc_id: vote for doc_id, vote in rows}
