"""Admin actions on a real small build: live weights, versions, topic review, adding a modality,
re-indexing, the junk filter. Each test works on its own copy of the build (``deployment``); the
tests marked ``@both_databases`` run with its metadata in SQLite and in PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from admin import auth, junk_filter, modalities, topics, versions
from admin.jobs import DEAD_WORKER_ERROR, recent_jobs
from core import store
from core.admin_tables import AuditEntry, Job
from core.engine import Query
from core.index import NeighborIndex
from core.model import FittedModel
from core.service import Service
from tests.conftest import both_databases

PASSWORD = "correct horse battery"


@pytest.fixture
def sessions(deployment):
    return store.open_database(deployment.database_url)


@pytest.fixture
def admin(sessions):
    with sessions() as session:
        return auth.add_user(session, "anna", "admin", PASSWORD, by="test")


@pytest.fixture
def moderator(sessions):
    with sessions() as session:
        return auth.add_user(session, "mia", "moderator", PASSWORD, by="test")


def active(sessions) -> store.ModelVersion:
    with sessions() as session:
        return store.active_version(session)


def ids(result) -> list[str]:
    return [hit.id for hit in result.hits]


def run_job(handle, sessions) -> Job:
    handle.wait(timeout=300)
    with sessions() as session:
        return session.get(Job, handle.id)


# --------------------------------------------------------------------------------------------------
# Live weights and versions
# --------------------------------------------------------------------------------------------------


@both_databases
def test_live_weights_reach_every_session_from_its_next_query(deployment, sessions, admin):
    first, second = Service(deployment), Service(deployment)
    photo = next((deployment.collection / "images").iterdir()).read_bytes()
    query = Query(text="bird", image=photo)
    before = [ids(first.search(query)), ids(second.search(query))]
    key_before = first.active().cache_key

    with sessions() as session:
        versions.apply_live_weights(session, admin, {"@visual": 0.0})

    text_only = ids(first.search(Query(text="bird")))
    assert ids(first.search(query)) == ids(second.search(query)) == text_only
    assert before[0] == before[1] != text_only
    assert second.active().cache_key != key_before  # pages caching answers see the change


@both_databases
def test_bad_weights_change_nothing(sessions, admin):
    version = active(sessions)
    with sessions() as session:
        before = store.modality_weights(session, version.id)
        with pytest.raises(ValueError, match="has no modality"):
            versions.apply_live_weights(session, admin, {"@text": 0.5, "@nope": 1.0})
        with pytest.raises(ValueError, match="at least one modality"):
            versions.apply_live_weights(session, admin, {m: 0.0 for m in before})
        with pytest.raises(ValueError, match="has no modality '@nope'"):
            store.set_modality_weights(session, version.id, {"@text": 0.5, "@nope": 1.0})
        assert store.modality_weights(session, version.id) == before


@both_databases
def test_reindex_makes_a_new_version_while_the_old_one_serves(deployment, sessions, admin):
    old = active(sessions)
    with sessions() as session:
        handle = modalities.start_reindex(session, admin, deployment, {"@visual": 0.0})
    job = run_job(handle, sessions)

    assert (job.status, job.stage, job.done, job.total) == ("done", "index", 1, 1)
    new = active(sessions)
    assert (new.name, new.parent_id) == (job.version_name, old.id)
    with sessions() as session:
        assert store.modality_weights(session, new.id)["@visual"] == 0.0
    old_thetas = NeighborIndex.load(Path(old.artifact_dir) / "index").thetas
    new_thetas = NeighborIndex.load(Path(new.artifact_dir) / "index").thetas
    assert old_thetas.shape == new_thetas.shape and not np.allclose(old_thetas, new_thetas)


@both_databases
def test_activate_roll_back_and_delete(deployment, sessions, admin):
    first = active(sessions)
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, deployment, {"@tag": 0.5}), sessions)
    second = active(sessions)
    assert second.id != first.id

    with sessions() as session:
        assert versions.roll_back(session, admin) == first.name
        with pytest.raises(ValueError, match="is active"):
            versions.delete_version(session, admin, first.name)
        versions.delete_version(session, admin, second.name)
        assert store.get_version(session, second.name) is None
    assert active(sessions).id == first.id
    assert not Path(second.artifact_dir).exists()


@both_databases
def test_deleting_a_version_keeps_the_versions_made_from_it(deployment, sessions, admin):
    first = active(sessions)
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, deployment, {"@tag": 0.5}), sessions)
        versions.delete_version(session, admin, first.name)
        (row,) = versions.version_rows(session)
    assert (row.active, row.parent, row.derived) == (True, None, "reindex")
    assert not Path(first.artifact_dir).exists()


@both_databases
def test_switching_versions_never_fails_a_query_in_flight(deployment, sessions, admin):
    first = active(sessions).name
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, deployment, {"@tag": 0.5}), sessions)
    second = active(sessions).name
    service, errors, stop = Service(deployment), [], threading.Event()

    def visitor() -> None:
        while not stop.is_set():
            try:
                assert service.search(Query(text="bird"), k=5).hits
            except Exception as error:  # any failure at all is what this test looks for
                errors.append(error)

    threads = [threading.Thread(target=visitor) for _ in range(4)]
    for thread in threads:
        thread.start()
    with sessions() as session:
        for number in range(20):
            versions.activate(session, admin, first if number % 2 else second)
    stop.set()
    for thread in threads:
        thread.join()
    assert errors == []


@both_databases
def test_versions_are_listed_with_parameters_and_scores(deployment, sessions, admin):
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, deployment, {"@tag": 0.5}), sessions)
        rows = versions.version_rows(session)

    assert [(row.active, row.derived) for row in rows] == [(True, "reindex"), (False, "build")]
    assert rows[0].parent == rows[1].name and rows[0].weights["@tag"] == 0.5
    assert "perplexity@text" in rows[1].scores


# --------------------------------------------------------------------------------------------------
# Topic review
# --------------------------------------------------------------------------------------------------


@both_databases
def test_moderators_find_topics_by_term_and_edit_them(sessions, moderator):
    with sessions() as session:
        every = topics.review_topics(session)
        term = every[0].terms["@text"][0]
        found = topics.review_topics(session, term=term.upper(), modality="@text")
        topics.edit_topic(session, moderator, found[0].id, "Cats", "junk", "ads, mostly")
        edited = topics.review_topics(session, status="junk")

    assert len(every) == 10 and found and all(set(row.terms) == {"@text"} for row in found)
    assert any(term in row.terms["@text"] for row in found)
    assert [(row.label, row.status, row.note) for row in edited] == [
        ("Cats", "junk", "ads, mostly")
    ]


@both_databases
def test_a_topic_edit_with_a_bad_status_changes_nothing(sessions, moderator):
    with sessions() as session:
        topic = topics.review_topics(session)[0]
        with pytest.raises(ValueError, match="status is one of"):
            topics.edit_topic(session, moderator, topic.id, "x", "spam")
        assert topics.review_topics(session)[0] == topic


@both_databases
def test_topics_sort_by_label(sessions):
    with sessions() as session:
        labels = [row.label for row in topics.review_topics(session, sort="label")]
    assert labels == sorted(labels)


# --------------------------------------------------------------------------------------------------
# Adding a modality
# --------------------------------------------------------------------------------------------------


def category_tokens(sessions) -> dict[str, Counter[str]]:
    """A 'category' per document: its first hashtag, as an admin might bring one."""
    with sessions() as session:
        documents = store.version_documents(session, active(sessions).id)
    return {d.doc_id: Counter([f"cat-{d.tags[0]}"]) for d in documents if d.tags}


def test_a_modality_file_reports_unknown_ids_and_malformed_rows():
    content = "\n".join(
        [
            '{"id": "a", "tokens": ["x", "y:2"]}',
            '{"id": "zzz", "tokens": ["x"]}',
            "not json",
            '{"id": "b", "tokens": {"x": -1}}',
            '{"id": "b", "tokens": "x z"}',
        ]
    ).encode()

    result = modalities.read_modality_file("cats.jsonl", content, {"a", "b"})

    assert result.tokens == {"a": Counter({"x": 1, "y": 2}), "b": Counter({"x": 1, "z": 1})}
    assert [problem.split(":")[0] for problem in result.problems] == ["row 2", "row 3", "row 4"]
    assert "unknown document id 'zzz'" in result.problems[0]
    csv = modalities.read_modality_file("c.csv", b"id,tokens\na,p q:3\n", {"a"})
    assert csv.tokens == {"a": Counter({"p": 1, "q": 3})}
    with pytest.raises(ValueError, match="columns id and tokens"):
        modalities.read_modality_file("c.csv", b"doc,words\na,p\n", {"a"})


def test_a_modality_can_come_from_a_column_the_collection_gained_after_the_build(
    deployment, sessions, tmp_path
):
    rows = [json.loads(line) for line in (deployment.collection / "documents.jsonl").open()]
    grown = tmp_path / "grown"
    shutil.copytree(deployment.collection / "images", grown / "images", copy_function=os.link)
    authored = [{**row, "@author": [f"author{number % 3}"]} for number, row in enumerate(rows)]
    lines = [json.dumps(row, ensure_ascii=False) for row in authored]
    (grown / "documents.jsonl").write_text("\n".join(lines) + "\n")
    with sessions() as session:
        known = modalities.active_document_ids(session)
        present = set(store.modality_weights(session, active(sessions).id))

    assert modalities.extra_modalities(grown, present) == ["@author"]
    imported = modalities.modality_from_collection(grown, "@author", known - {rows[0]["id"]})
    assert len(imported.tokens) == len(rows) - 1
    assert imported.tokens[rows[1]["id"]] == Counter({"author1": 1})


@both_databases
def test_a_modality_trained_with_frozen_phi_leaves_the_topic_space_exactly_as_it_was(
    deployment, sessions, admin
):
    old = active(sessions)
    tokens = category_tokens(sessions)
    with sessions() as session:
        topic = topics.review_topics(session)[3]
        topics.edit_topic(session, admin, topic.id, "Labelled", "background", "kept")
        handle = modalities.start_add_modality(
            session, admin, deployment, "@category", tokens, 1.0, retrain=False
        )
    job = run_job(handle, sessions)
    assert job.status == "done", job.error

    new = active(sessions)
    before = FittedModel.load(Path(old.artifact_dir) / "model").phi
    after = FittedModel.load(Path(new.artifact_dir) / "model").phi
    assert set(after) == set(before) | {"@category"}
    for modality, phi in before.items():
        assert after[modality].tokens == phi.tokens
        assert np.array_equal(after[modality].matrix, phi.matrix)  # bit-identical
    old_thetas = NeighborIndex.load(Path(old.artifact_dir) / "index").thetas
    assert np.array_equal(NeighborIndex.load(Path(new.artifact_dir) / "index").thetas, old_thetas)
    with sessions() as session:
        kept = topics.review_topics(session)[3]
        assert (kept.label, kept.status, kept.note) == ("Labelled", "background", "kept")
        assert "@category" in kept.terms

    service = Service(deployment)
    category = next(iter(tokens.values()))
    _, annotations = service.annotate(Query(text="bird"), ["@category"], k=3)
    assert all(a.token.startswith("cat-") for a in annotations["@category"])
    by_category = service.search(Query(extra={"@category": category}), k=5)
    assert by_category.query.recognized == {"@category": dict(category)}


def test_a_full_retrain_with_the_new_modality_changes_the_topic_space(deployment, sessions, admin):
    old = active(sessions)
    with sessions() as session:
        handle = modalities.start_add_modality(
            session, admin, deployment, "@category", category_tokens(sessions), 1.0, retrain=True
        )
    assert run_job(handle, sessions).status == "done"

    new = active(sessions)
    before = FittedModel.load(Path(old.artifact_dir) / "model").phi["@text"]
    after = FittedModel.load(Path(new.artifact_dir) / "model").phi["@text"]
    aligned = after.matrix[[after.index[token] for token in before.tokens]]
    assert set(after.tokens) == set(before.tokens) and not np.allclose(aligned, before.matrix)
    assert new.params["derived"] == "retrain"


@both_databases
def test_a_modality_job_can_be_cancelled_and_leaves_the_old_version_serving(
    deployment, sessions, admin
):
    old = active(sessions)
    with sessions() as session:
        handle = modalities.start_add_modality(
            session, admin, deployment, "@category", category_tokens(sessions), 1.0, retrain=True
        )
        modalities.cancel_job(session, admin, handle.id)
    job = run_job(handle, sessions)

    assert job.status == "cancelled"
    assert active(sessions).id == old.id
    with sessions() as session:
        failed = [v for v in store.list_versions(session) if v.id != old.id]
        assert [(v.status, v.artifact_dir) for v in failed] == [("failed", None)]
        assert recent_jobs(session)[0].cancel_requested


def test_a_modality_the_version_has_is_refused(deployment, sessions, admin):
    with sessions() as session, pytest.raises(ValueError, match="already has modality @tag"):
        modalities.start_add_modality(
            session, admin, deployment, "@tag", {"x": Counter("a")}, 1.0, retrain=False
        )


# --------------------------------------------------------------------------------------------------
# Junk filter
# --------------------------------------------------------------------------------------------------


@both_databases
def test_the_junk_filter_hides_what_it_predicts_unwanted_and_a_moderator_can_restore_it(
    deployment, sessions, admin, moderator
):
    with sessions() as session:
        documents = store.version_documents(session, active(sessions).id)
        with pytest.raises(ValueError, match="label at least 5 wanted and 5 unwanted"):
            junk_filter.train_junk_filter(session, admin)
        monuments = [d for d in documents if "monuments" in d.tags]
        others = [d for d in documents if "monuments" not in d.tags]
        for document in monuments[:8]:
            junk_filter.label_document(session, moderator, document.doc_id, "unwanted")
        for document in others[:12]:
            junk_filter.label_document(session, moderator, document.doc_id, "wanted")
        report = junk_filter.train_junk_filter(session, admin)
        assert (report.wanted, report.unwanted) == (12, 8)
        assert 0 <= report.precision <= 1 and 0 <= report.recall <= 1
        assert {d.doc_id for d in monuments[:8]} <= set(report.predicted_unwanted)
        assert not {d.doc_id for d in others[:12]} & set(report.predicted_unwanted)

    service = Service(deployment)
    monument = monuments[0].doc_id
    shown_before = ids(service.search(Query(text="bird"), k=len(documents)))
    key_before = service.active().cache_key
    with sessions() as session:
        assert junk_filter.apply_junk_filter(session, admin, report) == len(
            report.predicted_unwanted
        )
    assert service.active().cache_key != key_before
    shown = ids(service.search(Query(text="bird"), k=len(documents)))
    assert monument in shown_before and not set(shown) & set(report.predicted_unwanted)

    with sessions() as session:
        assert junk_filter.review_queue(session)[0].doc_id in report.predicted_unwanted
        junk_filter.label_document(session, moderator, monument, "wanted")
        assert monument not in junk_filter.hidden_documents(session)
    assert monument in ids(service.search(Query(text="bird"), k=len(documents)))

    with sessions() as session:
        junk_filter.unhide_all(session, admin)
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.user_name == "anna"))
        assert {"train_junk_filter", "apply_junk_filter", "unhide_all"} <= set(actions)
    assert ids(service.search(Query(text="bird"), k=len(documents))) == shown_before


def test_moderators_label_documents_but_cannot_run_the_filter(sessions, moderator):
    with sessions() as session:
        with pytest.raises(auth.PermissionDenied):
            junk_filter.train_junk_filter(session, moderator)
        with pytest.raises(ValueError, match="a label is one of"):
            junk_filter.label_document(session, moderator, "x", "spam")


@both_databases
def test_a_job_whose_process_died_is_listed_as_failed(sessions):
    finished = subprocess.Popen(["true"])
    finished.wait()
    host = socket.gethostname()
    with sessions() as session:
        session.add_all(
            [
                Job(kind="re-index", started_by="anna", worker=f"{host}:{finished.pid}"),
                Job(kind="re-index", started_by="anna", worker=f"{host}:{os.getpid()}"),
            ]
        )
        session.commit()

        alive, dead = recent_jobs(session)

    assert (dead.status, dead.error) == ("failed", DEAD_WORKER_ERROR)
    assert alive.status == "running"
