"""The admin tables of the metadata database: accounts, sign-in sessions and the one-time codes
that hand a session to its cookie, the audit log, moderators' document labels, documents hidden by
the junk filter, background jobs and the workers that run them.

They share ``core.storage.orm.Base`` with ``core.storage.store`` (which imports this module, so
``Base.metadata`` is always complete) and are created by migrations 0003, 0004 and 0005. Serving
reads only the hidden documents, through ``hidden_documents``; jobs and workers belong to
``core.storage.jobs``; everything else is written and read by the ``admin`` package. The errors of
signing in and of permissions live here too, beside the accounts, so that the interface can say
them in a visitor's language without importing the ``admin`` package that sits above it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.storage.orm import Base, UTCDateTime, one_of, utcnow

ROLES = ("admin", "moderator")
LABELS = ("wanted", "unwanted")
JOB_STATUSES = ("queued", "running", "done", "failed", "cancelled")


class User(Base):
    """An account of the admin panel; the password is kept only as a slow salted hash."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def __repr__(self) -> str:
        return f"<User {self.name} ({self.role})>"


class SignInSession(Base):
    """A signed-in browser session; only a hash of its token is stored, and it expires."""

    __tablename__ = "sign_in_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SessionHandoff(Base):
    """A one-time code, good for a minute, that lets the browser tab which just signed in get a
    session cookie from the server (``admin.session_cookie``), so that the id in the cookie never
    appears in the page. Only a hash of the code is stored; it dies with its session."""

    __tablename__ = "session_handoffs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sign_in_sessions.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Who did what and when; kept by name so it outlives the account."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_name: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class DocumentLabel(Base):
    """A moderator's judgement of a document for the junk filter (by document id, any version)."""

    __tablename__ = "document_labels"
    __table_args__ = (CheckConstraint(one_of("label", LABELS), name="label"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String, unique=True)
    label: Mapped[str] = mapped_column(String(16))
    labeled_by: Mapped[str] = mapped_column(String(64))
    labeled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HiddenDocument(Base):
    """A document the junk filter hides from search, until a moderator restores it."""

    __tablename__ = "hidden_documents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc_id: Mapped[str] = mapped_column(String, unique=True)
    score: Mapped[float | None] = mapped_column(Float)
    hidden_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class HiddenGeneration(Base):
    """One row counting changes to what serving may return (hidden, added, taken-down
    documents), so serving re-reads them only then (the table keeps its first name)."""

    __tablename__ = "hidden_generation"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    generation: Mapped[int] = mapped_column(Integer, default=0)


class Job(Base):
    """A long job (build, re-index, add a modality...): the request as JSON ``params``, which
    worker runs it, its progress, outcome, and a cancel request (see ``core.storage.jobs``)."""

    __tablename__ = "jobs"
    __table_args__ = (CheckConstraint(one_of("status", JOB_STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_by: Mapped[str] = mapped_column(String(64))
    worker: Mapped[str | None] = mapped_column(String(255))  # the JobWorker.name that claimed it
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)  # requested
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str] = mapped_column(String(32), default="")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    version_name: Mapped[str | None] = mapped_column(String(32))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)


class JobWorker(Base):
    """A running ``python -m core worker`` process and its latest heartbeat; it is presumed dead
    once its heartbeat is several intervals old."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)  # host:pid:random
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_every_s: Mapped[float] = mapped_column(Float)
    job_id: Mapped[int | None] = mapped_column(Integer)


def collection_generation(session: Session) -> int:
    """How many times what serving may return changed (documents hidden or restored, added or
    taken down): the cheap check a replica makes on every request before re-reading them."""
    return session.scalar(select(HiddenGeneration.generation)) or 0


def hidden_document_ids(session: Session) -> set[str]:
    """Ids of the documents search must not return."""
    return set(session.scalars(select(HiddenDocument.doc_id)))


def bump_collection_generation(session: Session) -> None:
    """Mark what serving may return changed (inside the caller's transaction): one upsert, so
    that two replicas bumping it at once for the first time both count."""
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        upsert(HiddenGeneration)
        .values(id=1, generation=1)
        .on_conflict_do_update(
            index_elements=[HiddenGeneration.id],
            set_={"generation": HiddenGeneration.generation + 1},
        )
    )


class PermissionDenied(PermissionError):
    """The acting user's role does not allow the action (or nobody is signed in); ``who``,
    ``action`` (the action function's name, as the audit log records it) and ``permission``
    let an interface say it in another language."""

    def __init__(self, who: str, action: str, permission: str) -> None:
        self.who, self.action, self.permission = who, action, permission
        doing = action.replace("_", " ")
        super().__init__(f"{who} may not {doing} (needs the {permission!r} permission)")


class SignInError(ValueError):
    """Wrong name or password (``locked_until`` None), or an account locked until then; the
    message is safe to show."""

    def __init__(self, locked_until: datetime | None = None) -> None:
        self.locked_until = locked_until
        if locked_until is None:
            super().__init__("wrong name or password")
        else:
            super().__init__(
                f"too many failed sign-ins: the account is locked until {locked_until:%H:%M} UTC"
            )
