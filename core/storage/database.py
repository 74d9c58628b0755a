"""The metadata database itself: engines, sessions and the schema migrations.

SQLite under the data directory is the embedded default and PostgreSQL the production database;
the same code serves both through a SQLAlchemy URL. The schema is created and changed only by the
Alembic migrations in ``migrations/`` (``upgrade_database``); ``copy_database`` moves every row of
one database into another.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, func, insert, make_url, select, text
from sqlalchemy.orm import Session, sessionmaker

from core.storage import (  # noqa: F401  (complete Base.metadata)
    admin_tables,
    collection_changes,
    searches,
    store,
)
from core.storage.orm import Base

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

CONNECT_TIMEOUT_S = 5
_MIGRATING = threading.Lock()  # Alembic keeps its running migration in module globals


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
