"""A live collection (issue 22): photos added to the active version without a retrain, and
taken down within seconds, on a small real build (``deployment``: 120 documents, 10 topics)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, select
from streamlit.testing.v1 import AppTest

from admin import auth, versions
from admin.collection import NewPhoto, queue_photos, take_down_document
from admin.ui import TOKEN_KEY
from core.building.additions import add_documents
from core.building.pipeline import build, reindex_version
from core.building.priority import BACKGROUND_NICENESS
from core.serving.answers import Query, SearchRequest, UnknownDocument
from core.serving.model import ModelParams
from core.serving.records import write_record_index
from core.serving.service import Service
from core.serving.version_files import VersionFiles
from core.settings import BUILTIN_COLLECTION, REPO_ROOT, Settings
from core.storage import collection_changes, database, store
from core.storage.admin_tables import AuditEntry, Job, User
from core.storage.collection_changes import AdditionTheta
from tests.conftest import both_databases, builtin_rows, copy_collection, run_queued_jobs

TEMPLATE_DOCUMENTS = 120  # the small build's documents are the built-in collection's first 120


@pytest.fixture
def deployment(deployment: Settings, tmp_path: Path) -> Settings:
    """The small build's private copy, with a private copy of its collection folder too: a
    take-down deletes photos, which other tests' builds still import."""
    own = tmp_path / "own-collection"
    with database.open_database(deployment.database_url)() as session:
        versions = store.list_versions(session)
        shared = versions[0].collection
        shutil.copytree(shared, own)
        for version in versions:
            version.collection = str(own)
            files = VersionFiles(Path(version.artifact_dir))
            moved = [
                replace(doc, image=Path(str(doc.image).replace(shared, str(own))))
                if doc.image
                else doc
                for doc in files.read_documents()
            ]
            write_record_index(files.directory, moved)
        session.commit()
    return replace(deployment, collection=own)


def new_rows(count: int, start: int = TEMPLATE_DOCUMENTS) -> list[dict]:
    """Built-in documents the small build never saw."""
    return builtin_rows()[start : start + count]


def findable_rows() -> list[dict]:
    """New documents (a bison, a whale, a sheep) whose caption has a word that at most two of
    the small build's documents share, so that searching its words can find it."""
    return [builtin_rows()[number] for number in (168, 162, 180)]


def words_of(row: dict) -> str:
    """A document's caption and hashtags as a visitor would type them."""
    return " ".join([row["text"], *("#" + tag for tag in row["tags"])])


def search_ids(service: Service, request: SearchRequest) -> list[str]:
    return [hit.id for hit in service.search(request).hits]


def version_count(settings: Settings) -> int:
    with database.open_database(settings.database_url)() as session:
        return len(store.list_versions(session))


def test_an_added_photo_is_found_by_words_by_photo_and_more_like_this(deployment, tmp_path):
    serving = Service(deployment)
    serving.active()  # a replica already serving before the add
    versions = version_count(deployment)
    rows = findable_rows()
    report = add_documents(deployment, copy_collection(rows, tmp_path / "new"), added_by="ada")

    assert report.added == [row["id"] for row in rows] and not report.refused
    assert version_count(deployment) == versions  # no new version, no retrain
    bison = rows[0]
    by_words = search_ids(serving, SearchRequest(Query(text=words_of(bison)), k=5))
    assert bison["id"] in by_words
    photo = (BUILTIN_COLLECTION / bison["image"]).read_bytes()
    by_photo = serving.search(SearchRequest(Query(image=photo), k=5)).hits
    assert by_photo[0].id == bison["id"] and by_photo[0].same_photo
    assert Path(by_photo[0].image).read_bytes() == photo  # its own durable copy
    similar = [hit.id for hit in serving.more_like(bison["id"], SearchRequest(k=5)).hits]
    assert len(similar) == 5 and bison["id"] not in similar
    like_sheep = serving.more_like(
        rows[2]["id"], SearchRequest(k=len(serving.active().engine.documents) - 1)
    )
    assert {bison["id"], rows[1]["id"]} <= {hit.id for hit in like_sheep.hits}


@pytest.mark.parametrize(
    ("typed", "word"),
    [
        ("fish -shrimp", "shrimp"),  # a word the model never learned
        ("рыба -креветка", "креветка"),
        ("fish -lobster", "lobster"),  # a word the model knows only as photos' ImageNet classes
    ],
)
def test_an_excluded_word_the_model_never_learned_leaves_out_the_added_documents_saying_it(
    deployment, tmp_path, typed, word
):
    # given the small build, whose training documents never say 'shrimp', 'креветка' or
    # 'lobster', and a shrimp and a spiny lobster added to it, both tagged #fish
    rows = [builtin_rows()[number] for number in (129, 132)]
    add_documents(deployment, copy_collection(rows, tmp_path / "new"))
    serving = Service(deployment)
    engine = serving.active().engine
    assert word not in engine.model.phi["@text"].index
    added = {row["id"]: row for row in rows}
    every = SearchRequest(Query(text=typed.split(" -")[0]), k=len(engine.documents))
    assert set(added) <= set(search_ids(serving, replace(every, collapse_similar=False)))
    # when a visitor leaves the word out, however far down the results they look
    found = search_ids(serving, replace(every, query=Query(text=typed), collapse_similar=False))
    # then no document whose caption says it is left, and the others still are
    saying = {
        i
        for i, row in added.items()
        if word in engine.processor.analyze(row["text"]).tokens["@text"]
    }
    assert saying and not saying & set(found)
    assert set(added) - saying <= set(found)


@pytest.mark.parametrize("word", ["shrimp", "креветка"])
def test_a_word_only_an_added_document_says_finds_it_first(deployment, tmp_path, word):
    # given the small build, whose training documents never say 'shrimp' or 'креветка', and a
    # shrimp ("A shrimp. Креветка.") and a spiny lobster added to it, both tagged #fish
    rows = [builtin_rows()[number] for number in (129, 132)]
    add_documents(deployment, copy_collection(rows, tmp_path / "new"))
    serving = Service(deployment)
    assert word not in serving.active().engine.model.phi["@text"].index
    shrimp = next(row["id"] for row in rows if "shrimp" in row["id"])
    # when a visitor searches the word alone, and with a word both added documents say
    alone = serving.search(SearchRequest(Query(text=word), k=5))
    with_fish = serving.search(SearchRequest(Query(text=f"fish {word}"), k=5))
    # then the shrimp comes first, its card says it contains the word, and nothing calls the
    # word unknown nor offers to correct it
    assert alone.hits[0].id == shrimp and alone.hits[0].matched == [word]
    assert with_fish.hits[0].id == shrimp and set(with_fish.hits[0].matched) == {"fish", word}
    assert alone.query.unknown == {} and serving.did_you_mean(word) is None
    # and the visitor who then leaves it out sees it named among the words left out
    without = serving.search(SearchRequest(Query(text=f"fish -{word}"), k=5))
    assert shrimp not in [hit.id for hit in without.hits] and word in without.excluded


def test_an_added_copy_of_a_training_photo_gets_a_theta_next_to_the_built_one(deployment, tmp_path):
    """Same picture, other bytes (a trailing byte JPEG readers ignore): not a duplicate, and
    its theta, inferred with phi fixed, lies next to the one the build gave the original."""
    original = builtin_rows()[5]
    folder = tmp_path / "copy"
    (folder / "images").mkdir(parents=True)
    image = (BUILTIN_COLLECTION / original["image"]).read_bytes()
    (folder / "images" / "copy.jpg").write_bytes(image + b"\0")
    row = {**original, "id": "copy-of-5", "image": "images/copy.jpg"}
    (folder / "documents.jsonl").write_text(json.dumps(row, ensure_ascii=False) + "\n")

    assert add_documents(deployment, folder).added == ["copy-of-5"]

    engine = Service(deployment).active().engine
    added = engine.document_theta(engine.rows_by_id["copy-of-5"])
    built = engine.document_theta(engine.rows_by_id[original["id"]])
    assert np.abs(added - built).sum() < 0.3
    distances = np.abs(engine.thetas - added).sum(axis=1)
    assert engine.documents[int(np.argsort(distances)[1])].id == original["id"]


def test_the_same_photo_added_twice_is_linked_not_duplicated(deployment, tmp_path):
    rows = new_rows(2)
    add_documents(deployment, copy_collection(rows, tmp_path / "first"))
    trained = builtin_rows()[7]
    again = [{**rows[0], "id": "same-photo-new-id"}, {**trained, "id": "trained-photo-new-id"}]
    report = add_documents(deployment, copy_collection(again, tmp_path / "again"))

    assert report.added == []
    assert report.linked == {
        "same-photo-new-id": rows[0]["id"],
        "trained-photo-new-id": trained["id"],
    }
    engine = Service(deployment).active().engine
    assert len(engine.documents) == TEMPLATE_DOCUMENTS + 2
    assert "same-photo-new-id" not in engine.rows_by_id


def test_bad_rows_of_a_csv_are_listed_and_the_good_ones_added(deployment, tmp_path):
    good = new_rows(1)[0]
    folder = copy_collection([good], tmp_path / "csv")
    (folder / "images" / "broken.jpg").write_bytes(b"not a photo")
    lines = [
        "id,image,text,tags",
        f"{good['id']},{good['image']},{good['text']},{' '.join(good['tags'])}",
        "no-image,images/missing.jpg,A photo that is not there,",
        "broken,images/broken.jpg,A broken photo,",
        ",images/broken.jpg,no id,",
        f"{builtin_rows()[3]['id']},,the id of a trained document,",
    ]
    (folder / "documents.csv").write_text("\n".join(lines) + "\n")
    (folder / "documents.jsonl").unlink()

    report = add_documents(deployment, folder)

    assert report.added == [good["id"]]
    problems = {problem.row: problem.reason for problem in report.refused}
    assert set(problems) == {3, 4, 5, 6}
    assert "not found" in problems[3] and "unreadable" in problems[4]
    assert "missing id" in problems[5] and "already in the collection" in problems[6]


def run_core(args: list[str], settings: Settings, **options) -> subprocess.Popen:
    env = {**os.environ, "TOPICSEARCH_DATA_DIR": str(settings.data_dir)}
    env["TOPICSEARCH_DATABASE_URL"] = settings.database_url
    return subprocess.Popen(
        [sys.executable, "-m", "core", *args], cwd=REPO_ROOT, env=env, text=True, **options
    )


def additions_recorded(settings: Settings) -> list[str]:
    with database.open_database(settings.database_url)() as session:
        version = store.active_version(session)
        return [a.document.id for a in collection_changes.version_additions(session, version.id)]


def test_sigkill_in_an_add_leaves_every_document_searchable_or_absent(deployment, tmp_path):
    rows = new_rows(40)
    folder = copy_collection(rows, tmp_path / "batch")
    adding = run_core(["add", str(folder)], deployment, stderr=subprocess.DEVNULL)
    while not additions_recorded(deployment) and adding.poll() is None:
        time.sleep(0.005)
    os.kill(adding.pid, signal.SIGKILL)  # in the middle: some added, the others not yet
    adding.wait()
    assert adding.returncode == -signal.SIGKILL

    recorded = additions_recorded(deployment)
    assert 0 < len(recorded) < len(rows)
    serving = Service(deployment)
    engine = serving.active().engine
    assert set(recorded) <= set(engine.rows_by_id)
    for row in rows:
        if row["id"] in recorded:
            photo = (BUILTIN_COLLECTION / row["image"]).read_bytes()
            assert search_ids(serving, SearchRequest(Query(image=photo), k=1)) == [row["id"]]
        else:
            assert row["id"] not in engine.rows_by_id

    report = add_documents(deployment, folder)  # the same add again finishes the batch
    assert sorted(report.added + list(report.linked)) == sorted(row["id"] for row in rows)
    assert set(report.linked) == set(recorded)


def test_a_photo_a_killed_add_copied_but_never_recorded_is_deleted_by_the_next_add(
    deployment, tmp_path
):
    """A photo in the added-photos folder that no document records (the add was killed between
    copying it and committing) is gone after the next add, unless it is young enough to be
    another add in flight; the photos of documents added stay."""
    added = add_documents(deployment, copy_collection(new_rows(1), tmp_path / "first"))
    kept = additions_photos(deployment)
    assert len(added.added) == 1 and len(kept) == 1
    folder = kept[0].parent.parent
    stray = folder / "ab" / f"ab{'0' * 62}.jpg"
    in_flight = folder / "cd" / f"cd{'0' * 62}.jpg"
    for photo in (stray, in_flight):
        photo.parent.mkdir(exist_ok=True)
        photo.write_bytes(kept[0].read_bytes())
    an_hour_ago = time.time() - 3600
    os.utime(stray, (an_hour_ago, an_hour_ago))

    add_documents(
        deployment, copy_collection(new_rows(1, start=TEMPLATE_DOCUMENTS + 1), tmp_path / "next")
    )

    assert not stray.exists()
    assert in_flight.exists()
    assert all(photo.is_file() for photo in additions_photos(deployment))
    assert len(additions_photos(deployment)) == 2


def additions_photos(settings: Settings) -> list[Path]:
    with database.open_database(settings.database_url)() as session:
        return [
            Path(image) for image in session.scalars(select(collection_changes.AddedDocument.image))
        ]


def test_the_add_command_prints_a_summary(deployment, tmp_path):
    rows = new_rows(2)
    folder = copy_collection([rows[0]], tmp_path / "c")
    missing = {**rows[1], "image": "images/missing.jpg"}
    with (folder / "documents.jsonl").open("a") as documents:
        documents.write(json.dumps(missing, ensure_ascii=False) + "\n")
    adding = run_core(["add", str(folder)], deployment, stdout=subprocess.PIPE)
    output, _ = adding.communicate(timeout=300)
    assert adding.returncode == 0, output
    assert f"added 1 document(s): {rows[0]['id']}" in output
    assert "refused 1 row(s)" in output and "images/missing.jpg" in output


# --------------------------------------------------------------------------------------------------
# Take-downs
# --------------------------------------------------------------------------------------------------


def cached_probabilities(settings: Settings, image_hash: str) -> list[Path]:
    return list((settings.cache_dir / "vision").glob(f"*/{image_hash[:2]}/{image_hash}.npy"))


def test_a_taken_down_document_is_gone_everywhere_with_its_files(deployment, tmp_path):
    serving = Service(deployment)
    active = serving.active()
    engine = active.engine
    topic = int(np.argmax(engine.thetas.sum(axis=0)))
    victim = serving.typical_documents(topic, 1)[0].hit
    document = engine.documents[engine.rows_by_id[victim.id]]
    photo = Path(victim.image)
    photo_bytes = photo.read_bytes()
    assert cached_probabilities(deployment, document.image_hash)

    with database.open_database(deployment.database_url)() as session:
        collection_changes.take_down(session, deployment, victim.id, "ada", "asked by its author")

    assert victim.id not in [d.hit.id for d in serving.typical_documents(topic, 50)]
    assert victim.id not in search_ids(serving, SearchRequest(Query(text=victim.text), k=20))
    assert victim.id not in search_ids(serving, SearchRequest(Query(image=photo_bytes), k=20))
    other = (
        engine.documents[0].id if engine.documents[0].id != victim.id else engine.documents[1].id
    )
    assert victim.id not in [hit.id for hit in serving.more_like(other, SearchRequest(k=119)).hits]
    with pytest.raises(UnknownDocument):
        serving.more_like(victim.id)
    with pytest.raises(UnknownDocument):
        serving.document(victim.id)
    with serving.sessions() as session:
        version = store.active_version(session)
    thumbnails = serving.topic_thumbnails(version, [topic], 50)[topic]
    assert victim.id not in [d.hit.id for d in thumbnails]
    assert not photo.exists() and not cached_probabilities(deployment, document.image_hash)
    with database.open_database(deployment.database_url)() as session:
        record = collection_changes.taken_down_record(session, victim.id)
    assert (record.taken_down_by, record.reason) == ("ada", "asked by its author")
    assert record.image_hash == document.image_hash and record.taken_down_at is not None

    folder = tmp_path / "again"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "back.jpg").write_bytes(photo_bytes)
    again = {"id": "sneaking-back", "image": "images/back.jpg", "text": victim.text}
    (folder / "documents.jsonl").write_text(json.dumps(again) + "\n")
    report = add_documents(deployment, folder)
    assert report.added == [] and "taken down" in report.refused[0].reason


def test_an_added_document_can_be_taken_down_and_never_comes_back(deployment, tmp_path):
    row = new_rows(1)[0]
    folder = copy_collection([row], tmp_path / "new")
    add_documents(deployment, folder)
    serving = Service(deployment)
    assert row["id"] in serving.active().engine.rows_by_id
    image = Path(serving.document(row["id"]).image)

    removing = run_core(
        ["remove", row["id"], "--reason", "not ours", "--by", "bob"],
        deployment,
        stdout=subprocess.PIPE,
    )
    output, _ = removing.communicate(timeout=300)
    assert removing.returncode == 0 and f"took down {row['id']}" in output

    assert row["id"] not in search_ids(serving, SearchRequest(Query(text=words_of(row)), k=20))
    assert not image.exists()
    report = add_documents(deployment, folder)
    assert report.added == [] and "taken down" in report.refused[0].reason
    with database.open_database(deployment.database_url)() as session:
        assert collection_changes.taken_down_record(session, row["id"]).taken_down_by == "bob"


@both_databases
def test_every_replica_sees_an_add_and_a_take_down_on_its_next_request(deployment, tmp_path):
    replicas = [Service(deployment), Service(deployment)]
    for replica in replicas:
        replica.active()
    row = findable_rows()[0]
    add_documents(deployment, copy_collection([row], tmp_path / "new"))
    query = SearchRequest(Query(text=words_of(row)), k=5)

    # on the very next request, with no wait: the seconds it takes are bench-live's figure
    assert all(row["id"] in search_ids(replica, query) for replica in replicas)
    with database.open_database(deployment.database_url)() as session:
        collection_changes.take_down(session, deployment, row["id"], "ada", "spam")
    assert all(row["id"] not in search_ids(replica, query) for replica in replicas)


def test_an_add_does_not_copy_files_outside_the_data_dir(deployment, tmp_path):
    row = new_rows(1)[0]
    folder = copy_collection([row], tmp_path / "new")
    add_documents(deployment, folder)
    shutil.rmtree(folder)  # the upload folder may go: the collection keeps its own copy
    hit = Service(deployment).document(row["id"])
    assert Path(hit.image).is_relative_to(deployment.data_dir)
    assert Path(hit.image).is_file()


# --------------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------------


def activate(settings: Settings, name: str) -> None:
    with database.open_database(settings.database_url)() as session:
        store.activate_version(session, store.get_version(session, name).id)


def found_by_its_photo(service: Service, row: dict) -> bool:
    photo = (BUILTIN_COLLECTION / row["image"]).read_bytes()
    return search_ids(service, SearchRequest(Query(image=photo), k=1)) == [row["id"]]


def test_versions_before_and_after_an_add_serve_it_and_never_a_take_down(deployment, tmp_path):
    """A rollback to a version made before the add, and a version made after it, both serve
    the addition (inferred with their own phi) and neither serves what was taken down."""
    first = Service(deployment).active().version.name
    reindexed = reindex_version(deployment, first, {"@visual": 0.01}, activate=True).version_name
    row = findable_rows()[0]
    add_documents(deployment, copy_collection([row], tmp_path / "new"))
    victim = builtin_rows()[0]
    with database.open_database(deployment.database_url)() as session:
        collection_changes.take_down(session, deployment, victim["id"], "ada", "asked")
    later = reindex_version(deployment, first, {"@visual": 0.02}).version_name

    for name in (first, later, reindexed):
        activate(deployment, name)
        serving = Service(deployment)
        assert serving.active().version.name == name
        assert found_by_its_photo(serving, row)
        assert victim["id"] not in search_ids(
            serving, SearchRequest(Query(text=words_of(victim)), k=20)
        )


def test_a_rebuild_trains_on_the_collection_plus_additions_minus_take_downs(deployment, tmp_path):
    rows = findable_rows()
    add_documents(deployment, copy_collection(rows, tmp_path / "new"))
    victims = [builtin_rows()[1]["id"], rows[1]["id"]]  # one imported, one added
    with database.open_database(deployment.database_url)() as session:
        for victim in victims:
            collection_changes.take_down(session, deployment, victim, "ada", "asked")

    report = build(deployment, params=ModelParams(num_topics=10, passes=2))

    with database.open_database(deployment.database_url)() as session:
        trained = {doc.id for doc in store.version_documents(session, report.version_id)}
        assert collection_changes.version_additions(session, report.version_id) == []
    expected = {row["id"] for row in builtin_rows()[:TEMPLATE_DOCUMENTS]} | {r["id"] for r in rows}
    assert trained == expected - set(victims)
    assert not any(problem.id in victims for problem in report.problems)
    assert found_by_its_photo(Service(deployment), rows[0])


# --------------------------------------------------------------------------------------------------
# Staff: the admin page "Add photos" and the "Take down" button
# --------------------------------------------------------------------------------------------------

PASSWORD = "correct horse battery"


def staff(settings: Settings, name: str, role: str) -> User:
    with database.open_database(settings.database_url)() as session:
        return auth.add_user(session, name, role, PASSWORD, by="test")


def test_photos_uploaded_by_an_admin_are_added_by_the_job_worker(deployment):
    anna = staff(deployment, "anna", "admin")
    rows = findable_rows()[:2]
    photos = [
        NewPhoto(
            Path(row["image"]).name,
            (BUILTIN_COLLECTION / row["image"]).read_bytes(),
            row["text"],
            " ".join("#" + tag for tag in row["tags"]),
        )
        for row in rows
    ]
    photos.append(NewPhoto("notes.txt", b"not a photo", "a text file", ""))
    with database.open_database(deployment.database_url)() as session:
        job = queue_photos(session, anna, deployment, photos)
        folder = Path(job.params["folder"])
    assert (folder / "documents.jsonl").is_file()

    assert run_queued_jobs(deployment) == 1
    with database.open_database(deployment.database_url)() as session:
        done = session.get(Job, job.id)
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert done.status == "done", done.error
    assert len(done.result["added"]) == 2 and len(done.result["refused"]) == 1
    assert "unreadable" in done.result["refused"][0]
    assert (entry.user_name, entry.action, entry.outcome) == ("anna", "queue_photos", "ok")
    assert not folder.exists()  # the collection keeps its own copies
    serving = Service(deployment)
    for row in rows:
        photo = (BUILTIN_COLLECTION / row["image"]).read_bytes()
        hit = serving.search(SearchRequest(Query(image=photo), k=1)).hits[0]
        assert hit.same_photo and hit.text == row["text"] and hit.tags == row["tags"]


def test_a_moderator_takes_a_document_down_and_the_audit_log_says_who_and_why(deployment):
    mia = staff(deployment, "mia", "moderator")
    victim = builtin_rows()[2]["id"]
    with database.open_database(deployment.database_url)() as session:
        with pytest.raises(ValueError, match="why"):
            take_down_document(session, mia, deployment, victim, "  ")
        take_down_document(session, mia, deployment, victim, "posted without consent")
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "take_down_document")
        )
        outcomes = [(e.user_name, e.outcome, e.details.get("reason")) for e in entries]
        record = collection_changes.taken_down_record(session, victim)
    assert outcomes == [
        ("mia", "error", "  "),
        ("mia", "ok", "posted without consent"),
    ]
    assert record.taken_down_by == "mia"
    with pytest.raises(UnknownDocument):
        Service(deployment).document(victim)


def test_a_moderator_takes_a_result_down_from_the_search_page(deployment, monkeypatch):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(deployment.data_dir))
    from interface.state import get_service

    get_service.clear()
    staff(deployment, "mia", "moderator")
    with database.open_database(deployment.database_url)() as session:
        token = auth.sign_in(session, "mia", PASSWORD)
    app = AppTest.from_file(str(REPO_ROOT / "streamlit_app" / "main.py"), default_timeout=120)
    app.session_state[TOKEN_KEY] = token
    app.run()
    app.text_input[0].input("bird")
    app.button[0].click().run()
    first = next(box for box in app.text_input if box.key.startswith("take-down-reason-hit-"))
    doc_id = first.key.removeprefix("take-down-reason-hit-")

    first.input("a copy of someone else's photo").run()
    app.button(key=f"take-down-hit-{doc_id}").click().run()

    assert not app.exception
    assert any(doc_id in notice.value for notice in app.success)
    remaining = [box.key for box in app.text_input if box.key.startswith("take-down-reason-")]
    assert remaining and f"take-down-reason-hit-{doc_id}" not in remaining
    with database.open_database(deployment.database_url)() as session:
        assert collection_changes.taken_down_record(session, doc_id).taken_down_by == "mia"


def test_a_visitor_sees_no_take_down_button(deployment, monkeypatch):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(deployment.data_dir))
    from interface.state import get_service

    get_service.clear()
    app = AppTest.from_file(str(REPO_ROOT / "streamlit_app" / "main.py"), default_timeout=120)
    app.run()
    app.text_input[0].input("bird")
    app.button[0].click().run()
    assert not app.exception and app.markdown
    assert not [box for box in app.text_input if (box.key or "").startswith("take-down-")]


# --------------------------------------------------------------------------------------------------
# Two replicas at once
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)
def test_two_replicas_adding_at_once_lose_nothing_and_add_a_shared_photo_once(deployment, tmp_path):
    rows = new_rows(16, start=200)
    shared = builtin_rows()[260]
    batches = [
        [*rows[:8], {**shared, "id": "shared-from-a"}],
        [*rows[8:], {**shared, "id": "shared-from-b"}],
    ]
    folders = [copy_collection(batch, tmp_path / f"replica-{n}") for n, batch in enumerate(batches)]
    serving = Service(deployment)
    photo = (BUILTIN_COLLECTION / rows[0]["image"]).read_bytes()
    serving.search(SearchRequest(Query(image=photo), k=5))  # loaded: the model and the backbone
    adding = [
        run_core(["add", str(folder), "--json"], deployment, stdout=subprocess.PIPE)
        for folder in folders
    ]
    latencies, niceness = [], {}
    while any(process.poll() is None for process in adding):  # visitors search meanwhile
        started = time.monotonic()
        serving.search(SearchRequest(Query(image=photo), k=5))
        latencies.append(time.monotonic() - started)
        for process in adding:
            with suppress(ProcessLookupError):  # ended since the poll
                niceness[process.pid] = os.getpriority(os.PRIO_PROCESS, process.pid)
    reports = [json.loads(process.communicate()[0]) for process in adding]

    assert [process.returncode for process in adding] == [0, 0]
    added = [doc_id for report in reports for doc_id in report["added"]]
    linked = {new: old for report in reports for new, old in report["linked"].items()}
    assert sorted(added) == sorted([row["id"] for row in rows] + list(set(linked.values())))
    assert len(linked) == 1 and set(linked.items()) < {
        ("shared-from-a", "shared-from-b"),
        ("shared-from-b", "shared-from-a"),
    }
    assert sorted(additions_recorded(deployment)) == sorted(added)
    assert all(found_by_its_photo(serving, row) for row in rows)
    # answered all along: no search waits for an add (on a loaded 2-core machine the slowest,
    # the one that appends the new documents, took up to 4 s)
    assert len(latencies) >= 10 and max(latencies) < 10
    # the adds yield the cores to visitors (seen last while they ran)
    assert niceness == {process.pid: BACKGROUND_NICENESS for process in adding}


def test_an_admin_activating_a_version_that_lacks_an_addition_queues_reading_it_in(
    deployment, tmp_path
):
    """A version that became ready while an add ran may lack its documents: activating it
    from the admin panel queues the job that reads them in with its phi."""
    anna = staff(deployment, "anna", "admin")
    first = Service(deployment).active().version.name
    later = reindex_version(deployment, first, {"@visual": 0.02}).version_name
    row = findable_rows()[0]
    add_documents(deployment, copy_collection([row], tmp_path / "new"))
    with database.open_database(deployment.database_url)() as session:
        version = store.get_version(session, later)
        session.execute(delete(AdditionTheta).where(AdditionTheta.version_id == version.id))
        session.commit()  # as if the add had listed the ready versions before this one
        versions.activate(session, anna, later)

    assert run_queued_jobs(deployment) == 1
    serving = Service(deployment)
    assert serving.active().version.name == later and found_by_its_photo(serving, row)
