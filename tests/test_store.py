"""The metadata store: schema migrations, the model-version lifecycle, activation, live weights.

Every database test runs on SQLite (a file in tmp_path) and on a throwaway PostgreSQL server that
the ``postgres_server`` fixture (tests/postgres.py) starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.reading.collection import Document
from core.settings import REPO_ROOT
from core.storage.database import (
    copy_database,
    create_db_engine,
    downgrade_database,
    head_revision,
    open_database,
    session_factory,
    upgrade_database,
)
from core.storage.modality_names import DisplayName
from core.storage.searches import Search, record_search, record_vote, search_votes
from core.storage.store import (
    STALE_BUILD_ERROR,
    Base,
    ModelVersion,
    TermRecord,
    Topic,
    TopicRecord,
    activate_version,
    active_version,
    fail_version,
    finish_version,
    get_version,
    list_versions,
    mark_stale_builds_failed,
    modality_display_names,
    modality_weights,
    next_version_name,
    set_modality_weight,
    start_version,
    version_topics,
)
from tests.postgres import DATABASES, database_url_for

TABLES = {
    "model_versions",
    "active_version",
    "version_modalities",
    "topics",
    "topic_terms",
    "documents",
    "searches",
    "relevance_votes",
    "users",
    "sign_in_sessions",
    "session_handoffs",
    "audit_log",
    "document_labels",
    "hidden_documents",
    "hidden_generation",
    "jobs",
    "workers",
    "added_documents",
    "addition_thetas",
    "taken_down",
}


# --------------------------------------------------------------------------------------------------
# Databases and sample builds
# --------------------------------------------------------------------------------------------------


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no tables yet)."""
    return database_url_for(request, tmp_path / "data" / "metadata.sqlite3")


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    upgrade_database(database_url)
    engine = create_db_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: sa.Engine) -> Iterator[Session]:
    with session_factory(engine)() as session:
        yield session


def schema(url: str) -> dict[str, object]:
    """The tables with their columns, and the migration the database is at."""
    engine = create_db_engine(url)
    try:
        inspector = sa.inspect(engine)
        tables = {
            table: sorted(column["name"] for column in inspector.get_columns(table))
            for table in inspector.get_table_names()
        }
        revision = None
        if "alembic_version" in tables:
            with engine.connect() as connection:
                revision = connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        return {"tables": tables, "revision": revision}
    finally:
        engine.dispose()


def start(session: Session, **overrides: object) -> ModelVersion:
    arguments: dict[str, object] = {
        "name": next_version_name(session),
        "params": {"num_topics": 2, "passes": 10},
        "collection": "data/collection",
        "num_topics": 2,
    }
    arguments.update(overrides)
    return start_version(session, **arguments)  # type: ignore[arg-type]


def finish(session: Session, version: ModelVersion, **overrides: object) -> None:
    arguments: dict[str, object] = {
        "artifact_dir": f"/models/{version.name}",
        "scores": {"perplexity": {"@text": [900.0, 450.5]}, "sparsity_phi": 0.8},
        "num_documents": 2,
        "modalities": {"@text": (1.0, 1200), "@tag": (0.5, 300), "@visual": (2.0, 1000)},
        "topics": [
            TopicRecord(
                index=1,
                name="topic_1",
                label="sea",
                status="normal",
                terms=[
                    TermRecord("@text", "wave", "waves", 0.2, 2),
                    TermRecord("@text", "sea", "sea", 0.3, 1),
                    TermRecord("@tag", "beach", "beach", 0.4, 1),
                ],
            ),
            TopicRecord(index=0, name="background_0", label="", status="background"),
        ],
        "documents": [
            Document(
                "doc-1",
                "Sunset at the sea #beach",
                ("beach",),
                image_ref="img/1.jpg",
                image_hash="ab12",
            ),
            Document("doc-2", "A cat"),
        ],
    }
    arguments.update(overrides)
    finish_version(session, version, **arguments)  # type: ignore[arg-type]


def ready_version(session: Session) -> ModelVersion:
    version = start(session)
    finish(session, version)
    return version


# --------------------------------------------------------------------------------------------------
# Migrations
# --------------------------------------------------------------------------------------------------


def test_upgrade_creates_the_schema_and_a_second_upgrade_changes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the migrations are found without running from the repository

    upgrade_database(database_url)
    first = schema(database_url)
    upgrade_database(database_url)

    assert set(first["tables"]) == TABLES | {"alembic_version"}  # type: ignore[arg-type]
    assert first["revision"] == head_revision()
    assert schema(database_url) == first


def test_downgrade_to_base_removes_every_table(database_url: str) -> None:
    upgrade_database(database_url)

    downgrade_database(database_url)

    after = schema(database_url)
    assert set(after["tables"]) <= {"alembic_version"}  # type: ignore[arg-type]
    assert after["revision"] is None


def test_the_orm_classes_match_the_migration(engine: sa.Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_the_alembic_command_line_takes_the_database_from_the_settings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli' / 'metadata.sqlite3'}"
    environment = {**os.environ, "TOPICSEARCH_DATABASE_URL": url}
    alembic = [sys.executable, "-m", "alembic", "-c", str(REPO_ROOT / "alembic.ini")]

    subprocess.run([*alembic, "upgrade", "head"], cwd=tmp_path, env=environment, check=True)

    assert schema(url)["revision"] == head_revision()


def test_sqlite_connections_enforce_foreign_keys_and_use_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'metadata.sqlite3'}"
    upgrade_database(url)
    engine = create_db_engine(url)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        with pytest.raises(IntegrityError):
            connection.execute(sa.text("INSERT INTO active_version VALUES (1, 42)"))
    engine.dispose()


# --------------------------------------------------------------------------------------------------
# Model versions
# --------------------------------------------------------------------------------------------------


def test_a_build_starts_finishes_and_is_activated(session: Session) -> None:
    assert next_version_name(session) == "v0001"
    assert active_version(session) is None

    version = start(session)

    assert (version.name, version.status, version.artifact_dir) == ("v0001", "building", None)
    assert version.created_at.tzinfo == UTC
    assert next_version_name(session) == "v0002"

    finish(session, version)
    activate_version(session, version.id)

    stored = get_version(session, "v0001")
    assert stored is not None and stored.status == "ready"
    assert stored.artifact_dir == "/models/v0001"
    assert stored.scores["perplexity"]["@text"] == [900.0, 450.5]
    assert stored.finished_at is not None and stored.finished_at >= stored.created_at
    assert active_version(session) == version
    assert modality_weights(session, version.id) == {"@tag": 0.5, "@text": 1.0, "@visual": 2.0}

    topics = version_topics(session, version.id)
    assert [(t.index, t.name, t.status, t.note) for t in topics] == [
        (0, "background_0", "background", ""),
        (1, "topic_1", "normal", ""),
    ]
    assert [(term.modality, term.term, term.rank) for term in topics[1].terms] == [
        ("@tag", "beach", 1),
        ("@text", "sea", 1),
        ("@text", "wave", 2),
    ]

    documents = session.execute(
        sa.text("SELECT doc_id, tags, image FROM documents ORDER BY doc_id")
    ).all()
    assert [(doc_id, image) for doc_id, _, image in documents] == [
        ("doc-1", "img/1.jpg"),
        ("doc-2", None),
    ]


def test_versions_are_listed_oldest_first_and_found_by_id_or_name(session: Session) -> None:
    first, second = ready_version(session), start(session, parent_id=None)
    derived = start(session, parent_id=first.id)

    assert list_versions(session) == [first, second, derived]
    assert get_version(session, second.id) == second
    assert get_version(session, str(second.id)) == second
    assert get_version(session, "v0002") == second
    assert get_version(session, "v9999") is None
    assert derived.parent_id == first.id


def test_a_build_started_in_one_session_can_finish_in_another(engine: sa.Engine) -> None:
    with session_factory(engine)() as first:
        building, failing = start(first), start(first)

    with session_factory(engine)() as second:
        finish(second, building)
        fail_version(second, failing, "killed")

    with session_factory(engine)() as third:
        assert [v.status for v in list_versions(third)] == ["ready", "failed"]


def test_a_finished_version_cannot_change_its_status(session: Session) -> None:
    version = ready_version(session)

    with pytest.raises(ValueError, match="only a build can finish"):
        finish(session, version)
    with pytest.raises(ValueError, match="only a build can fail"):
        fail_version(session, version, "too late")

    assert get_version(session, version.id).status == "ready"  # type: ignore[union-attr]


def test_a_finish_that_fails_writes_nothing_and_the_build_can_be_marked_failed(
    session: Session,
) -> None:
    version = start(session)
    duplicate = [Document("doc-1", "one"), Document("doc-1", "again")]

    with pytest.raises(IntegrityError):
        finish(session, version, documents=duplicate)

    assert version.status == "building"
    assert version_topics(session, version.id) == []
    assert modality_weights(session, version.id) == {}

    fail_version(session, version, "duplicate document id doc-1")

    assert (version.status, version.error) == ("failed", "duplicate document id doc-1")
    assert version.finished_at is not None


def test_activating_a_version_that_is_not_ready_raises_and_keeps_the_active_one(
    session: Session,
) -> None:
    serving = ready_version(session)
    activate_version(session, serving.id)
    building = start(session)
    failed = start(session)
    fail_version(session, failed, "out of memory")

    with pytest.raises(ValueError, match="building; only a ready version can be activated"):
        activate_version(session, building.id)
    with pytest.raises(ValueError, match="failed; only a ready version can be activated"):
        activate_version(session, failed.id)
    with pytest.raises(ValueError, match="no model version with id 999"):
        activate_version(session, 999)

    assert active_version(session) == serving


def test_only_one_version_is_active(session: Session, engine: sa.Engine) -> None:
    first, second = ready_version(session), ready_version(session)

    activate_version(session, first.id)
    activate_version(session, second.id)

    with session_factory(engine)() as other:
        assert active_version(other).id == second.id  # type: ignore[union-attr]
    assert session.scalar(sa.text("SELECT count(*) FROM active_version")) == 1

    activate_version(session, first.id)  # rollback = activate an older version
    assert active_version(session) == first

    with pytest.raises(IntegrityError):
        session.execute(sa.text(f"INSERT INTO active_version VALUES (2, {second.id})"))
    session.rollback()


def test_set_modality_weight_validates_and_is_seen_by_other_sessions(
    session: Session, engine: sa.Engine
) -> None:
    version = ready_version(session)
    activate_version(session, version.id)

    set_modality_weight(session, version.id, "@visual", 0.0)

    with session_factory(engine)() as other:
        assert modality_weights(other, version.id)["@visual"] == 0.0
    for bad_weight in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite number >= 0"):
            set_modality_weight(session, version.id, "@text", bad_weight)
    with pytest.raises(ValueError, match="no modality '@authors'"):
        set_modality_weight(session, version.id, "@authors", 1.0)
    assert modality_weights(session, version.id) == {"@tag": 0.5, "@text": 1.0, "@visual": 0.0}


def test_a_negative_weight_at_finish_is_refused(session: Session) -> None:
    version = start(session)

    with pytest.raises(ValueError, match="finite number >= 0"):
        finish(session, version, modalities={"@text": (-1.0, 10)})

    assert version.status == "building"


def test_builds_left_building_by_a_killed_process_are_marked_failed(session: Session) -> None:
    ready = ready_version(session)
    stale = [start(session), start(session)]

    assert mark_stale_builds_failed(session) == 2
    assert mark_stale_builds_failed(session) == 0

    for version in stale:
        session.refresh(version)
        assert (version.status, version.error) == ("failed", STALE_BUILD_ERROR)
    assert get_version(session, ready.id).status == "ready"  # type: ignore[union-attr]


def test_deleting_a_version_deletes_its_topics_terms_modalities_and_documents(
    session: Session,
) -> None:
    kept, deleted = ready_version(session), ready_version(session)

    session.delete(deleted)
    session.commit()

    counts = {
        table: session.scalar(sa.text(f"SELECT count(*) FROM {table}"))
        for table in ("topics", "topic_terms", "version_modalities", "documents")
    }
    assert counts == {"topics": 2, "topic_terms": 3, "version_modalities": 3, "documents": 2}
    assert {topic.version_id for topic in session.scalars(sa.select(Topic))} == {kept.id}


# --------------------------------------------------------------------------------------------------
# Searches and relevance votes
# --------------------------------------------------------------------------------------------------


def a_search(session: Session) -> int:
    return record_search(
        session,
        visitor="visitor-1",
        version_name="v0001",
        text="рыба",
        image_hash=None,
        weights={"@text": 1.0, "@visual": 0.0},
        latency_ms=3.5,
        result_ids=["d1", "d2"],
    ).id


def test_a_search_is_stored_with_everything_evaluation_needs(session: Session) -> None:
    search_id = a_search(session)
    session.expunge_all()

    stored = session.scalars(sa.select(Search)).one()

    assert stored.id == search_id
    assert (stored.text, stored.version_name, stored.visitor) == ("рыба", "v0001", "visitor-1")
    assert stored.weights == {"@text": 1.0, "@visual": 0.0}
    assert stored.result_ids == ["d1", "d2"]
    assert stored.created_at.tzinfo is not None


def test_a_second_vote_on_the_same_result_replaces_the_first(session: Session) -> None:
    search_id = a_search(session)

    record_vote(session, search_id, "d1", 1)
    record_vote(session, search_id, "d2", -1)
    record_vote(session, search_id, "d1", -1)

    assert search_votes(session, search_id) == {"d1": -1, "d2": -1}
    assert session.scalar(sa.text("SELECT count(*) FROM relevance_votes")) == 2


@pytest.mark.parametrize(
    ("doc_id", "vote", "message"),
    [("d1", 0, r"\+1 or -1"), ("d9", 1, "not a result"), ("d1", 2, r"\+1 or -1")],
)
def test_a_vote_that_does_not_fit_the_search_is_refused(
    session: Session, doc_id: str, vote: int, message: str
) -> None:
    search_id = a_search(session)

    with pytest.raises(ValueError, match=message):
        record_vote(session, search_id, doc_id, vote)

    assert search_votes(session, search_id) == {}


def test_a_vote_on_an_unknown_search_is_refused(session: Session) -> None:
    with pytest.raises(ValueError, match="no search with id 42"):
        record_vote(session, 42, "d1", 1)


# --------------------------------------------------------------------------------------------------
# Copying a store
# --------------------------------------------------------------------------------------------------


def test_a_store_copied_into_an_empty_database_has_every_row_and_keeps_counting_ids(
    database_url: str, tmp_path: Path
) -> None:
    source_url = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    with open_database(source_url)() as source:
        version = ready_version(source)
        activate_version(source, version.id)
        search = record_search(
            source, visitor="v", version_name=version.name, text="sea", image_hash=None,
            weights={"@text": 1.0}, latency_ms=3.0, result_ids=["doc-1"],
        )  # fmt: skip
        record_vote(source, search.id, "doc-1", 1)

    copy_database(source_url, database_url)

    with open_database(database_url)() as target:
        assert active_version(target).name == version.name
        assert [t.label for t in version_topics(target, version.id)] == ["", "sea"]
        assert search_votes(target, search.id) == {"doc-1": 1}
        assert ready_version(target).id == version.id + 1  # the id sequences continue
    with pytest.raises(ValueError, match="already has rows"):
        copy_database(source_url, database_url)


def test_the_upgrade_names_the_modalities_of_versions_made_before_names_existed(
    database_url: str,
) -> None:
    upgrade_database(database_url)
    downgrade_database(database_url, "0005")
    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO model_versions (id, name, created_at, status, params, scores, "
                "collection, num_documents, num_topics) VALUES (1, 'v0001', "
                "'2026-12-01 00:00:00', 'ready', '{}', '{}', 'data/collection', 2, 2)"
            )
        )
        for number, name in enumerate(["@text", "@tag", "@visual", "@source"], 1):
            connection.execute(
                sa.text(
                    "INSERT INTO version_modalities (id, version_id, name, weight, "
                    "vocabulary_size) VALUES (:id, 1, :name, 1.0, 10)"
                ),
                {"id": number, "name": name},
            )
    engine.dispose()

    upgrade_database(database_url)

    engine = create_db_engine(database_url)
    with session_factory(engine)() as session:
        names = modality_display_names(session, 1)
    engine.dispose()
    assert names == {
        "@text": DisplayName("Words", "Слова"),
        "@tag": DisplayName("Hashtags", "Хэштеги"),
        "@visual": DisplayName("Picture", "Картинка"),
        "@source": DisplayName("source", "source"),
    }
