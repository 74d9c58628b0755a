"""Alembic environment of the metadata database.

The URL comes from the Alembic config (``core.storage.database.upgrade_database`` sets it), else
from ``alembic -x url=...``, else from the project settings. SQLite tables are changed in batch
mode (copy, then swap), because SQLite's ALTER TABLE can't change most things.
"""

from logging.config import fileConfig

from alembic import context

from core.settings import load_settings
from core.storage.database import create_db_engine
from core.storage.store import Base

config = context.config

# Only the command line has an ini file; the application keeps its own logging setup.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    return (
        config.get_main_option("sqlalchemy.url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or load_settings().database_url
    )


def run_migrations_offline() -> None:
    """Write the SQL to standard output instead of running it (``alembic upgrade head --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_db_engine(database_url())
    try:
        with engine.connect() as connection:
            is_sqlite = connection.dialect.name == "sqlite"
            if is_sqlite:
                # A batch migration drops the old copy of a table; with foreign keys on, that drop
                # would cascade to the rows that reference it. (PRAGMA works outside a transaction.)
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            context.configure(
                connection=connection,
                target_metadata=Base.metadata,
                render_as_batch=is_sqlite,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
