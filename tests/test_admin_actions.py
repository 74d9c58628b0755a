"""Admin actions on a real small build: live weights, versions, topic review, adding a modality,
re-indexing, retraining, the junk filter. Each test works on its own copy of the build
(``deployment``); the tests marked ``@both_databases`` run with its metadata in SQLite and in
PostgreSQL. Jobs the actions queue are run by a real job worker (``core.building.worker``)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from admin import auth, junk_filter, modalities, topics, versions
from core.serving.answers import AnnotationRequest, SearchRequest
from core.serving.engine import Query
from core.serving.service import Service
from core.serving.version_files import VersionFiles
from core.storage import database, jobs, store
from core.storage.admin_tables import AuditEntry, Job, JobWorker
from tests.conftest import (
    both_databases,
    builtin_rows,
    copy_collection,
    run_queued_jobs,
    running_worker,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def sessions(deployment):
    return database.open_database(deployment.database_url)


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


def run_job(job: Job, deployment) -> Job:
    """Run the queued job with a real worker; the job as it ended."""
    run_queued_jobs(deployment)
    with database.open_database(deployment.database_url)() as session:
        return session.get(Job, job.id)


# --------------------------------------------------------------------------------------------------
# Live weights and versions
# --------------------------------------------------------------------------------------------------


@both_databases
def test_live_weights_reach_every_session_from_its_next_query(deployment, sessions, admin):
    first, second = Service(deployment), Service(deployment)
    photo = next((deployment.collection / "images").iterdir()).read_bytes()
    query = Query(text="bird", image=photo)
    before = [ids(first.search(SearchRequest(query))), ids(second.search(SearchRequest(query)))]
    key_before = first.active().cache_key

    with sessions() as session:
        versions.apply_live_weights(session, admin, {"@visual": 0.0})

    text_only = ids(first.search(SearchRequest(Query(text="bird"))))
    assert (
        ids(first.search(SearchRequest(query)))
        == ids(second.search(SearchRequest(query)))
        == text_only
    )
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
def test_reindex_makes_a_new_version_that_waits_while_the_old_one_serves(
    deployment, sessions, admin
):
    old = active(sessions)
    with sessions() as session:
        queued = modalities.start_reindex(session, admin, {"@visual": 0.0})
    job = run_job(queued, deployment)

    assert (job.status, job.stage, job.done, job.total) == ("done", "index", 1, 1)
    assert job.result == {"activated": False} and active(sessions).id == old.id
    with sessions() as session:
        versions.activate(session, admin, job.version_name)
    new = active(sessions)
    assert (new.name, new.parent_id) == (job.version_name, old.id)
    with sessions() as session:
        assert store.modality_weights(session, new.id)["@visual"] == 0.0
    old_thetas = VersionFiles(Path(old.artifact_dir)).read_index().thetas
    new_thetas = VersionFiles(Path(new.artifact_dir)).read_index().thetas
    assert old_thetas.shape == new_thetas.shape and not np.allclose(old_thetas, new_thetas)


@both_databases
def test_activate_roll_back_and_delete(deployment, sessions, admin):
    first = active(sessions)
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, {"@tag": 0.5}, True), deployment)
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
        run_job(modalities.start_reindex(session, admin, {"@tag": 0.5}, True), deployment)
        versions.delete_version(session, admin, first.name)
        (row,) = versions.version_rows(session)
    assert (row.active, row.parent, row.derived) == (True, None, "reindex")
    assert not Path(first.artifact_dir).exists()


@both_databases
def test_switching_versions_never_fails_a_query_in_flight(deployment, sessions, admin):
    first = active(sessions).name
    with sessions() as session:
        run_job(modalities.start_reindex(session, admin, {"@tag": 0.5}, True), deployment)
    second = active(sessions).name
    service, errors, stop = Service(deployment), [], threading.Event()

    def visitor() -> None:
        while not stop.is_set():
            try:
                assert service.search(SearchRequest(Query(text="bird"), k=5)).hits
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
        run_job(modalities.start_reindex(session, admin, {"@tag": 0.5}, True), deployment)
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
        _, term = every[0].terms["@text"][0]  # (token, display)
        found = topics.review_topics(session, term=term.upper(), modality="@text")
        topics.edit_topic(session, moderator, found[0].id, "Cats", "junk", "ads, mostly")
        edited = topics.review_topics(session, status="junk")

    assert len(every) == 10 and found and all(set(row.terms) == {"@text"} for row in found)
    assert any(term in dict(row.terms["@text"]).values() for row in found)
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


CATEGORY = {"name_en": "Category", "name_ru": "Категория"}  # what visitors read


def category_tokens(sessions) -> dict[str, Counter[str]]:
    """A 'category' per document: its first hashtag, as an admin might bring one."""
    with sessions() as session:
        documents = store.version_documents(session, active(sessions).id)
    return {d.id: Counter([f"cat-{d.tags[0]}"]) for d in documents if d.tags}


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
        queued = modalities.start_add_modality(
            session, admin, "@category", tokens, 1.0, retrain=False, activate=True, **CATEGORY
        )
    job = run_job(queued, deployment)
    assert job.status == "done", job.error

    new = active(sessions)
    before = VersionFiles(Path(old.artifact_dir)).read_model().phi
    after = VersionFiles(Path(new.artifact_dir)).read_model().phi
    assert set(after) == set(before) | {"@category"}
    for modality, phi in before.items():
        assert after[modality].tokens == phi.tokens
        assert np.array_equal(after[modality].matrix, phi.matrix)  # bit-identical
    old_thetas = VersionFiles(Path(old.artifact_dir)).read_index().thetas
    assert np.array_equal(VersionFiles(Path(new.artifact_dir)).read_index().thetas, old_thetas)
    with sessions() as session:
        kept = topics.review_topics(session)[3]
        assert (kept.label, kept.status, kept.note) == ("Labelled", "background", "kept")
        assert "@category" in kept.terms

    service = Service(deployment)
    category = next(iter(tokens.values()))
    _, annotations = service.annotate(AnnotationRequest(Query(text="bird"), ["@category"], k=3))
    assert all(a.token.startswith("cat-") for a in annotations["@category"])
    by_category = service.search(SearchRequest(Query(extra={"@category": category}), k=5))
    assert by_category.query.recognized == {"@category": dict(category)}


def test_a_full_retrain_with_the_new_modality_changes_the_topic_space(deployment, sessions, admin):
    old = active(sessions)
    with sessions() as session:
        queued = modalities.start_add_modality(
            session, admin, "@category", category_tokens(sessions), 1.0, True, True, **CATEGORY
        )
    assert run_job(queued, deployment).status == "done"

    new = active(sessions)
    before = VersionFiles(Path(old.artifact_dir)).read_model().phi["@text"]
    after = VersionFiles(Path(new.artifact_dir)).read_model().phi["@text"]
    aligned = after.matrix[[after.index[token] for token in before.tokens]]
    assert set(after.tokens) == set(before.tokens) and not np.allclose(aligned, before.matrix)
    assert new.params["derived"] == "retrain"


def test_a_retrain_job_trains_the_active_versions_documents_anew(deployment, sessions, admin):
    old = active(sessions)
    with sessions() as session:
        with pytest.raises(ValueError, match=r"unknown model parameter\(s\) \['topics'\]"):
            versions.start_retrain(session, admin, {"topics": 4})
        queued = versions.start_retrain(session, admin, {"num_topics": 4}, activate=True)
    job = run_job(queued, deployment)
    assert (job.status, job.result["activated"]) == ("done", True)

    new = active(sessions)
    assert (new.parent_id, new.num_topics, new.params["derived"]) == (old.id, 4, "retrain")
    assert (
        Service(deployment).search(SearchRequest(Query(text="bird"), k=3)).model_version == new.name
    )


def test_a_build_job_makes_a_version_from_a_collection_folder(
    deployment, sessions, admin, tmp_path
):
    collection = copy_collection(builtin_rows()[:30], tmp_path / "thirty")
    with sessions() as session:
        queued = versions.start_build(session, admin, str(collection))
        assert jobs.describe(queued) == f"build from {collection}"
    job = run_job(queued, deployment)

    assert (job.status, job.error, job.result["documents"]) == ("done", None, 30)
    new = active(sessions)
    assert (new.name, new.num_documents, new.collection) == (job.version_name, 30, str(collection))


def test_a_build_job_with_a_training_sample_trains_phi_on_that_many_documents(
    deployment, sessions, admin, tmp_path
):
    collection = copy_collection(builtin_rows()[:30], tmp_path / "thirty")
    with sessions() as session:
        queued = versions.start_build(session, admin, str(collection), training_sample=12)
    job = run_job(queued, deployment)

    assert (job.status, job.result["documents"], job.result["training_documents"]) == (
        "done",
        30,
        12,
    )
    new = active(sessions)
    assert (new.params["model"]["training_sample"], new.params["training_documents"]) == (12, 12)


@both_databases
def test_a_queued_job_is_cancelled_at_once_and_never_runs(deployment, sessions, admin):
    old = active(sessions)
    with sessions() as session:
        queued = modalities.start_reindex(session, admin, {"@tag": 0.5})
        modalities.cancel_job(session, admin, queued.id)

    assert run_job(queued, deployment).status == "cancelled"
    with sessions() as session:
        assert [v.id for v in store.list_versions(session)] == [old.id]
        with pytest.raises(ValueError, match="is cancelled: only a queued or running job"):
            modalities.cancel_job(session, admin, queued.id)


@both_databases
def test_a_running_modality_job_can_be_cancelled_and_leaves_the_old_version_serving(
    deployment, sessions, admin, monkeypatch
):
    old = active(sessions)
    training, cancelled = threading.Event(), threading.Event()
    report_progress = jobs.report_progress

    def hold_at_the_first_pass(session, job_id, worker, stage, done, total):
        report_progress(session, job_id, worker, stage, done, total)
        if stage == "train" and not training.is_set():
            training.set()
            assert cancelled.wait(60)

    monkeypatch.setattr(jobs, "report_progress", hold_at_the_first_pass)
    with sessions() as session:
        queued = modalities.start_add_modality(
            session, admin, "@category", category_tokens(sessions), 1.0, retrain=True, **CATEGORY
        )
    with running_worker(deployment):
        assert training.wait(120)
        with sessions() as session:
            running = jobs.recent_jobs(session)[0]
            assert (running.status, running.stage, running.done) == ("running", "train", 1)
            modalities.cancel_job(session, admin, queued.id)
        cancelled.set()
        job = wait_for_job(sessions, queued.id)

    assert (job.status, job.cancel_requested) == ("cancelled", True)
    assert active(sessions).id == old.id
    with sessions() as session:
        failed = [v for v in store.list_versions(session) if v.id != old.id]
        assert [(v.status, v.artifact_dir) for v in failed] == [("failed", None)]


def test_a_modality_the_version_has_is_refused(deployment, sessions, admin):
    with sessions() as session, pytest.raises(ValueError, match="already has modality @tag"):
        modalities.start_add_modality(
            session, admin, "@tag", {"x": Counter("a")}, 1.0, retrain=False, **CATEGORY
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
        too_few = junk_filter.start_junk_filter_training(session, admin)
    assert "label at least 5 wanted and 5 unwanted" in run_job(too_few, deployment).error
    with sessions() as session:
        monuments = [d for d in documents if "monuments" in d.tags]
        others = [d for d in documents if "monuments" not in d.tags]
        for document in monuments[:8]:
            junk_filter.label_document(session, moderator, document.id, "unwanted")
        for document in others[:12]:
            junk_filter.label_document(session, moderator, document.id, "wanted")
        training = junk_filter.start_junk_filter_training(session, admin)
    assert run_job(training, deployment).status == "done"
    with sessions() as session:
        report = junk_filter.latest_junk_filter_report(session)
    assert (report.wanted, report.unwanted) == (12, 8)
    assert 0 <= report.precision <= 1 and 0 <= report.recall <= 1
    assert {d.id for d in monuments[:8]} <= set(report.predicted_unwanted)
    assert not {d.id for d in others[:12]} & set(report.predicted_unwanted)

    service = Service(deployment)
    monument = monuments[0].id
    shown_before = ids(service.search(SearchRequest(Query(text="bird"), k=len(documents))))
    key_before = service.active().cache_key
    with sessions() as session:
        assert junk_filter.apply_junk_filter(session, admin, report) == len(
            report.predicted_unwanted
        )
    assert service.active().cache_key != key_before
    shown = ids(service.search(SearchRequest(Query(text="bird"), k=len(documents))))
    assert monument in shown_before and not set(shown) & set(report.predicted_unwanted)

    with sessions() as session:
        assert junk_filter.review_queue(session)[0].id in report.predicted_unwanted
        junk_filter.label_document(session, moderator, monument, "wanted")
        assert monument not in junk_filter.hidden_documents(session)
    assert monument in ids(service.search(SearchRequest(Query(text="bird"), k=len(documents))))

    with sessions() as session:
        junk_filter.unhide_all(session, admin)
        actions = session.scalars(select(AuditEntry.action).where(AuditEntry.user_name == "anna"))
        assert {"start_junk_filter_training", "apply_junk_filter", "unhide_all"} <= set(actions)
    assert ids(service.search(SearchRequest(Query(text="bird"), k=len(documents)))) == shown_before


def test_moderators_label_documents_but_cannot_run_the_filter(sessions, moderator):
    with sessions() as session:
        with pytest.raises(auth.PermissionDenied):
            junk_filter.start_junk_filter_training(session, moderator)
        with pytest.raises(ValueError, match="a label is one of"):
            junk_filter.label_document(session, moderator, "x", "spam")


@both_databases
def test_a_running_job_whose_worker_stopped_beating_is_listed_as_failed(sessions):
    now = datetime.now(UTC)
    with sessions() as session:
        session.add_all(
            [
                JobWorker(name="alive", heartbeat_at=now, heartbeat_every_s=2),
                JobWorker(
                    name="dead", heartbeat_at=now - timedelta(seconds=11), heartbeat_every_s=2
                ),
            ]
        )
        for worker in ("alive", "dead", "gone"):
            session.add(Job(kind="reindex", started_by="anna", worker=worker, status="running"))
        session.add(Job(kind="reindex", started_by="anna"))  # queued: waits for any worker
        session.commit()

        queued, gone, dead, alive = jobs.recent_jobs(session)

    assert [w.name for w in jobs.alive_workers(session)] == ["alive"]
    assert (
        (dead.status, dead.error)
        == (gone.status, gone.error)
        == (
            "failed",
            jobs.DEAD_WORKER_ERROR,
        )
    )
    assert (alive.status, queued.status) == ("running", "queued")


def wait_for_job(sessions, job_id: int, timeout: float = 120) -> Job:
    """The job once it has ended (a worker runs it meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        with sessions() as session:
            job = session.get(Job, job_id)
        if job.status not in ("queued", "running") or time.monotonic() > deadline:
            return job
        time.sleep(0.1)
