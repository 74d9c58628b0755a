"""What every table of the metadata database shares: the declarative base with its naming
convention, a UTC datetime column type, small helpers for columns and constraints, and the
all-or-nothing transaction that the writing functions commit through.

``core.storage.store`` (versions, topics), ``core.storage.searches`` (searches and votes) and
``core.storage.admin_tables`` (accounts, audit log, jobs) all build on it; ``core.storage.store``
imports the other two so that ``Base.metadata`` is complete wherever the store is used, and
``core.storage.database`` imports all three (copying a database, migrations).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, Dialect, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Session


class UTCDateTime(TypeDecorator[datetime]):
    """A time-zone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamp with time zone``; SQLite keeps no time zone, so values are
    converted to UTC before they are written and marked as UTC when they are read back.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a time zone (use datetime.now(UTC))")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK constraint: ``column`` holds one of ``values``."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


class Base(DeclarativeBase):
    """Base of the ORM classes; constraint names follow one convention on every backend."""

    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        }
    )


@contextmanager
def committing(session: Session) -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back if the block raises."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise
