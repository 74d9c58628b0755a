"""Shared fixtures: one real build of the built-in collection (minus held-out photos) per run."""

from __future__ import annotations

import os

# The suite trains in this process after loading image backbones, so BigARTM is loaded first, with
# the pure-Python protobuf it needs (see core/building/artm_loader.py): before Streamlit imports
# protobuf.
os.environ["PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION"] = "python"
import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import core.building.artm_loader  # noqa: F401
from admin.auth import add_user
from core.building.pipeline import BuildReport, build, copy_deployment
from core.building.worker import Worker
from core.reading.collection import Document, import_collection
from core.serving.model import ModelParams
from core.settings import BUILTIN_COLLECTION, Settings
from core.storage.database import open_database
from tests.postgres import DATABASES, database_url_for
from tests.postgres import postgres_server as postgres_server  # for any test: the session's server

if TYPE_CHECKING:
    from playwright.sync_api import Browser

HELD_OUT_EVERY = 10
both_databases = pytest.mark.parametrize("deployment", DATABASES, indirect=True)


@dataclass
class BuiltCollection:
    settings: Settings
    report: BuildReport
    held_out: list[Document]


def copy_collection(rows: list[dict], destination: Path) -> Path:
    """A collection folder with ``rows`` and copies of their images (paths stay inside it)."""
    (destination / "images").mkdir(parents=True)
    for row in rows:
        shutil.copy(BUILTIN_COLLECTION / row["image"], destination / row["image"])
    lines = [json.dumps(row, ensure_ascii=False) for row in rows]
    (destination / "documents.jsonl").write_text("\n".join(lines) + "\n")
    return destination


def builtin_rows() -> list[dict]:
    text = (BUILTIN_COLLECTION / "documents.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def vision_cache(tmp_path_factory) -> Path:
    """One image-probability cache for every build in the run: each photo goes through the CNN
    once."""
    return tmp_path_factory.mktemp("vision-cache")


def settings_for(data_dir: Path, vision_cache: Path, collection: Path) -> Settings:
    settings = Settings(data_dir=data_dir, collection=collection)
    (data_dir / "cache").parent.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(vision_cache, target_is_directory=True)
    return settings


@pytest.fixture(scope="session")
def built(tmp_path_factory, vision_cache) -> BuiltCollection:
    """The built-in collection without every 10th document, built with default parameters."""
    rows = builtin_rows()
    kept = [row for number, row in enumerate(rows) if number % HELD_OUT_EVERY]
    root = tmp_path_factory.mktemp("built")
    collection = copy_collection(kept, root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    report = build(settings)
    held_out = [
        doc
        for number, doc in enumerate(import_collection(BUILTIN_COLLECTION).documents)
        if number % HELD_OUT_EVERY == 0
    ]
    return BuiltCollection(settings, report, held_out)


@pytest.fixture(scope="session")
def service(built):
    from core.serving.service import Service

    return Service(built.settings)


@pytest.fixture(scope="session")
def small_template(tmp_path_factory, vision_cache) -> Settings:
    """A small real build (120 documents, 10 topics) that admin tests copy before changing it."""
    root = tmp_path_factory.mktemp("small")
    collection = copy_collection(builtin_rows()[:120], root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    build(settings, params=ModelParams(num_topics=10, passes=5))
    return settings


@pytest.fixture
def deployment(request: pytest.FixtureRequest, small_template, tmp_path) -> Settings:
    """A private copy of the small build: a test may activate, delete and derive versions.

    Its metadata is a SQLite file, or a PostgreSQL database for a test parametrised with
    ``@both_databases``.
    """
    data_dir = tmp_path / "data"
    return copy_deployment(
        small_template, data_dir, database_url_for(request, data_dir / "metadata.sqlite3")
    )


@contextmanager
def running_worker(settings: Settings, **options: float) -> Iterator[Worker]:
    """A real job worker (``core.building.worker``, as ``python -m core worker`` runs it) looping
    in a thread of the test process until the block ends."""
    with Worker(settings, log=lambda line: None, **options) as worker:
        loop = threading.Thread(target=worker.run, name="test-worker")
        loop.start()
        try:
            yield worker
        finally:
            worker.stop()
            loop.join()


STAFF_PASSWORD = "correct horse battery"


def staff_deployment(template: Settings, data_dir: Path, staff: dict[str, str]) -> Settings:
    """A private copy of ``template`` in ``data_dir`` with an account per name -> role in
    ``staff``, each with ``STAFF_PASSWORD``."""
    settings = copy_deployment(template, data_dir)
    with open_database(settings.database_url)() as session:
        for name, role in staff.items():
            add_user(session, name, role, STAFF_PASSWORD, by="test")
    return settings


@pytest.fixture(scope="module")
def app_url(deployment_copy: Settings) -> Iterator[str]:
    """The app served by a real ``streamlit run`` over the module's own ``deployment_copy``."""
    from tests.browser import serve_app

    with serve_app(deployment_copy.data_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium, one per module (each test opens its own contexts)."""
    from tests.browser import chromium

    with chromium() as browser:
        yield browser


def run_queued_jobs(settings: Settings) -> int:
    """Run every queued job with a real worker, as ``python -m core worker --until-idle``."""
    with Worker(settings, log=lambda line: None) as worker:
        return worker.run_until_idle()
