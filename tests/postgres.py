"""A throwaway PostgreSQL server for the test session, and databases on it for any test.

The server runs from the installed PostgreSQL binaries (Debian keeps them in
/usr/lib/postgresql/<version>/bin). Without them, or without the psycopg driver, tests that need
the server are skipped locally but fail when ``CI=true``: CI must really run PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

DATABASES = ["sqlite", "postgresql"]


def _postgres_bin_dir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian keeps them off the PATH)."""
    installed = sorted(
        Path("/usr/lib/postgresql").glob("[0-9]*/bin/initdb"),
        key=lambda initdb: int(initdb.parent.parent.name),
    )
    if installed:
        return installed[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _missing(reason: str) -> None:
    """Skip the test, or fail it on CI, where PostgreSQL must be installed."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the PostgreSQL tests, but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class PostgresServer:
    """A running server; each test gets a database of its own from ``create_database``."""

    port: int
    bin_dir: Path
    data_dir: Path
    log_file: Path
    run_as: list[str]
    user: str = "topicsearch"
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """The URL of a new, empty database."""
        name = f"test_{next(self._numbers)}"
        engine = sa.create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url(name)

    def pg_ctl(self, *args: str) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir.parent} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        command = [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file)]
        try:
            self._run(*command, "-o", options, "-w", *args)
        except subprocess.CalledProcessError as error:
            log = self.log_file.read_text() if self.log_file.exists() else ""
            pytest.fail(f"pg_ctl {' '.join(args)} failed: {error.stderr}\n{log}")

    @contextmanager
    def stopped(self) -> Iterator[None]:
        """The server is down inside the block (an outage) and running again after it."""
        self.pg_ctl("-m", "fast", "stop")
        try:
            yield
        finally:
            self.pg_ctl("start")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, text=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start a PostgreSQL server in a temporary directory for this test session, then remove it.

    PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user.
    """
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        _missing("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the psycopg driver is not installed (psycopg[binary])")

    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="topicsearch-pg-"))
    if os.geteuid() == 0:
        postgres_user = pwd.getpwnam("postgres")
        os.chown(root, postgres_user.pw_uid, postgres_user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(_free_port(), bin_dir, root / "data", root / "server.log", run_as)
    try:
        server._run(str(bin_dir / "initdb"), "-D", str(server.data_dir), "-U", server.user,
                    "--auth=trust", "--encoding=UTF8", "--no-sync")  # fmt: skip
        server.pg_ctl("start")
        yield server
        server.pg_ctl("-m", "immediate", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def database_url_for(request: pytest.FixtureRequest, sqlite_path: Path) -> str:
    """An empty database of the kind a test is parametrised with (``DATABASES``): a SQLite file at
    ``sqlite_path`` or a new database on the session's PostgreSQL server."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        return f"sqlite:///{sqlite_path}"
    return request.getfixturevalue("postgres_server").create_database()
