"""The admin pages, driven headless with AppTest: nobody reaches them without signing in, and a
signed-in user sees and uses only what their role allows."""

from __future__ import annotations

import json
import re
import time

import pytest
from streamlit.testing.v1 import AppTest

from admin import auth, versions
from admin.junk_filter import document_labels, review_queue
from admin.navigation import ADMIN_PAGES, visible_admin_pages
from admin.ui import TOKEN_KEY
from admin.versions import apply_live_weights
from core.building.additions import add_documents
from core.settings import REPO_ROOT
from core.storage import database, jobs, store
from core.storage.jobs import START_A_WORKER
from interface.messages import MESSAGES
from tests.conftest import builtin_rows, copy_collection, running_worker

APP = str(REPO_ROOT / "streamlit_app" / "main.py")
PAGE_FILES = [file for file, *_ in ADMIN_PAGES]
TITLE_KEYS = [
    "review_title",
    "junk_title",
    "weights_admin_title",
    "versions_title",
    "add_modality_title",
    "add_photos_title",
    "audit_title",
]
PASSWORD = "correct horse battery"


@pytest.fixture
def sessions(deployment, monkeypatch):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(deployment.data_dir))
    from interface.state import get_service

    get_service.clear()
    sessions = database.open_database(deployment.database_url)
    with sessions() as session:
        auth.add_user(session, "anna", "admin", PASSWORD, by="test")
        auth.add_user(session, "mia", "moderator", PASSWORD, by="test")
    return sessions


def token_of(sessions, name: str) -> str:
    with sessions() as session:
        return auth.sign_in(session, name, PASSWORD)


def app_signed_in_as(sessions, name: str | None) -> AppTest:
    app = AppTest.from_file(APP, default_timeout=120)
    if name is not None:
        app.session_state[TOKEN_KEY] = token_of(sessions, name)
    return app.run()


def titles(state: dict) -> set[str]:
    return {title for _, title, *_ in visible_admin_pages(state)}


def test_the_menu_lists_admin_pages_only_for_the_roles_that_may_use_them(sessions):
    assert titles({}) == titles({TOKEN_KEY: "forged"}) == set()
    assert titles({TOKEN_KEY: token_of(sessions, "mia")}) == {
        "nav_review_topics",
        "nav_junk_filter",
    }
    assert titles({TOKEN_KEY: token_of(sessions, "anna")}) == {t for _, t, *_ in ADMIN_PAGES}


@pytest.mark.parametrize("page", PAGE_FILES)
def test_an_anonymous_session_cannot_open_an_admin_page(sessions, page):
    app = app_signed_in_as(sessions, None)

    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page(f"../admin/pages/{page}")

    direct = AppTest.from_file(str(REPO_ROOT / "admin" / "pages" / page), default_timeout=60).run()
    assert not direct.exception
    assert "staff only" in direct.error[0].value
    assert not direct.title and not direct.button


def test_a_moderator_cannot_open_the_model_pages_even_by_running_them(sessions):
    app = app_signed_in_as(sessions, "mia")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("../admin/pages/weights.py")

    direct = AppTest.from_file(str(REPO_ROOT / "admin" / "pages" / "versions.py"))
    direct.session_state[TOKEN_KEY] = token_of(sessions, "mia")
    direct.run()
    assert "staff only" in direct.error[0].value and not direct.title


def test_signing_in_with_a_wrong_password_shows_an_error_and_no_admin_pages(sessions):
    app = app_signed_in_as(sessions, None).switch_page("../admin/pages/account.py").run()
    app.text_input[0].input("anna")
    app.text_input[1].input("wrong password")
    app.button[0].click().run()

    assert app.error[0].value == "Wrong name or password."
    assert TOKEN_KEY not in app.session_state
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        app.switch_page("../admin/pages/weights.py")


def test_an_admin_signs_in_and_switches_a_modality_off_live(sessions):
    app = app_signed_in_as(sessions, None).switch_page("../admin/pages/account.py").run()
    app.text_input[0].input("anna")
    app.text_input[1].input(PASSWORD)
    app.button[0].click().run()
    assert "Signed in as anna (admin)" in app.success[0].value

    app.switch_page("../admin/pages/weights.py").run()
    assert app.title[0].value == "Modality weights"
    next(box for box in app.number_input if box.label == "Picture (@visual)").set_value(0.0)
    next(button for button in app.button if button.label == "Apply live").click().run()

    assert not app.exception and "Applied" in app.success[0].value
    with sessions() as session:
        version = store.active_version(session)
        assert store.modality_weights(session, version.id)["@visual"] == 0.0
        entry = auth.audit_log(session)[0]
    assert (entry.user_name, entry.action, entry.outcome) == ("anna", "apply_live_weights", "ok")


def test_a_moderator_relabels_a_topic_on_the_review_page(sessions):
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/review_topics.py").run()
    assert not app.exception
    first = app.expander[0]
    first.text_input[0].input("Monuments of the world")
    first.selectbox[0].set_value("junk")
    first.button[0].click().run()

    assert not app.exception
    with sessions() as session:
        version = store.active_version(session)
        topic = store.version_topics(session, version.id)[0]
    assert (topic.label, topic.status) == ("Monuments of the world", "junk")


@pytest.mark.parametrize(
    "page", ["versions.py", "add_modality.py", "junk_filter.py", "add_photos.py"]
)
def test_the_other_admin_pages_render_for_an_admin(sessions, page):
    app = app_signed_in_as(sessions, "anna").switch_page(f"../admin/pages/{page}").run()

    assert not app.exception
    assert app.title


def test_a_moderator_labels_a_document_from_the_review_queue(sessions):
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/junk_filter.py").run()
    first = app.caption[1].value.split(" · ")[0]  # the first queued document's id

    next(button for button in app.button if button.label == "Unwanted").click().run()

    assert not app.exception
    with sessions() as session:
        assert document_labels(session) == {first: "unwanted"}
    assert any("An admin trains" in info.value for info in app.info)


def test_an_admin_uploads_a_modality_file_sees_its_problems_and_a_worker_trains_it(
    sessions, deployment
):
    with sessions() as session:
        version = store.active_version(session)
        documents = store.version_documents(session, version.id)
    lines = [json.dumps({"id": d.id, "tokens": [f"cat-{d.tags[0]}"]}) for d in documents]
    content = "\n".join([*lines, '{"id": "nope", "tokens": ["x"]}']).encode()
    app = app_signed_in_as(sessions, "anna").switch_page("../admin/pages/add_modality.py").run()
    assert START_A_WORKER in app.warning[0].value  # no worker is alive yet

    app.text_input(key="modality-id").input("@category")
    app.text_input(key="modality-name-en").input("Category")
    app.text_input(key="modality-name-ru").input("Категория")
    app.get("file_uploader")[0].set_value(("cats.jsonl", content, "application/json")).run()
    assert "unknown document id 'nope'" in app.text[0].value
    next(button for button in app.button if button.label == "Start").click().run()

    assert not app.exception and "Queued" in app.success[0].value
    with sessions() as session:
        assert jobs.recent_jobs(session)[0].status == "queued"
    with running_worker(deployment):  # at 0.2 s a beat lapses under load, failing the job
        deadline = time.monotonic() + 120
        with sessions() as session:
            job = jobs.recent_jobs(session)[0]
        while job.status in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.5)
            with sessions() as session:
                job = jobs.recent_jobs(session)[0]
        assert (job.status, job.error) == ("done", None)
        app.run()
        assert not any(START_A_WORKER in warning.value for warning in app.warning)
    with sessions() as session:
        made = store.get_version(session, job.version_name)
        assert "@category" in store.modality_weights(session, made.id)
        assert store.active_version(session).id != made.id  # it waits for an admin


def test_a_live_weight_reaches_two_visitor_sessions_from_their_next_query(sessions):
    def visitor_search(app: AppTest, text: str) -> list[str]:
        app.text_input[0].input(text)
        app.button[0].click().run()
        assert not app.exception
        cards = [card.value for card in app.markdown if ":small[:gray[" in card.value]
        return [card.rsplit("\n", 1)[0] for card in cards]  # caption and tags, in ranked order

    first, second = app_signed_in_as(sessions, None), app_signed_in_as(sessions, None)
    # "bird" and "birds" are the same tokens; two texts because a page reuses a text's answer.
    before = [visitor_search(first, "bird"), visitor_search(second, "birds")]
    with sessions() as session:
        admin = auth.find_user(session, "anna")
        apply_live_weights(session, admin, {"@tag": 0.0})

    after = [visitor_search(first, "birds"), visitor_search(second, "bird")]

    assert before[0] == before[1] and after[0] == after[1]
    assert after[0] != before[0]


# --------------------------------------------------------------------------------------------------
# Bugs found in the browser (issue 13)
# --------------------------------------------------------------------------------------------------


def test_a_search_that_finds_a_queued_document_shows_it_in_both_tabs(sessions):
    with sessions() as session:
        queued = review_queue(session, limit=12)[0]
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/junk_filter.py").run()

    app.text_input(key="junk-search").input(queued.text).run()

    assert not app.exception
    shown = [caption.value for caption in app.caption]
    assert sum(caption.startswith(queued.id) for caption in shown) == 2


def test_after_applying_weights_live_the_next_edit_is_kept(sessions):
    app = app_signed_in_as(sessions, "anna").switch_page("../admin/pages/weights.py").run()
    visual = next(box for box in app.number_input if box.label == "Picture (@visual)")
    visual.set_value(0.006)
    next(button for button in app.button if button.label == "Apply live").click().run()

    next(box for box in app.number_input if box.label == "Picture (@visual)").set_value(0.004).run()

    assert not app.exception
    assert next(box for box in app.number_input if box.label == "Picture (@visual)").value == 0.004


def test_topic_review_finds_whole_words_not_parts_of_words(sessions):
    with sessions() as session:
        version = store.active_version(session)
        catamaran, cats = store.version_topics(session, version.id)[:2]
        catamaran.label, cats.label = "catamaran sailing", "кошки и котята"
        session.commit()
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/review_topics.py").run()

    app.text_input(key="review-term").input("cat").run()
    found_cat = listed_topics(app)
    app.text_input(key="review-term").input("кошка").run()
    found_koshka = listed_topics(app)

    assert catamaran.index not in found_cat
    assert cats.index in found_koshka  # the lemma of кошки


def listed_topics(app: AppTest) -> set[int]:
    """The topic numbers the review page lists (each topic's checkbox reads "#12 · label")."""
    labels = [re.sub(r"\\(.)", r"\1", box.label) for box in app.checkbox]
    return {int(m[1]) for label in labels if (m := re.match(r"#(\d+) ", label))}


def test_roll_back_is_disabled_when_there_is_no_version_to_go_back_to(sessions):
    app = app_signed_in_as(sessions, "anna").switch_page("../admin/pages/versions.py").run()

    roll_back = next(button for button in app.button if button.label == "Roll back")
    assert roll_back.disabled


def test_a_modality_file_row_without_tokens_is_reported(sessions):
    with sessions() as session:
        version = store.active_version(session)
        first, second = store.version_documents(session, version.id)[:2]
    content = f"id,tokens\n{first.id},news sport\n{second.id},\n".encode()
    app = app_signed_in_as(sessions, "anna").switch_page("../admin/pages/add_modality.py").run()

    app.text_input[0].input("@category")
    app.get("file_uploader")[0].set_value(("cats.csv", content, "text/csv")).run()

    assert not app.exception
    assert "row 3: no tokens" in app.text[0].value


def test_a_moderator_marks_several_topics_junk_at_once(sessions):
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/review_topics.py").run()
    app.checkbox[0].check()
    app.checkbox[2].check().run()

    app.selectbox(key="bulk-status:en").set_value("junk")
    next(button for button in app.button if button.label == "Set for the picked").click().run()

    assert not app.exception
    assert "2 topics changed" in app.success[0].value
    with sessions() as session:
        version = store.active_version(session)
        statuses = [topic.status for topic in store.version_topics(session, version.id)[:3]]
    assert statuses == ["junk", "normal", "junk"]


def test_topic_review_shows_each_topics_typical_photos_a_page_at_a_time(sessions):
    app = app_signed_in_as(sessions, "mia").switch_page("../admin/pages/review_topics.py").run()

    assert not app.exception
    assert 0 < len(app.checkbox) <= 20
    assert len(app.get("image")) >= len(app.checkbox) // 2


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("page", ["account.py", *PAGE_FILES])
def test_every_admin_page_renders_in_both_languages(sessions, page, language):
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state[TOKEN_KEY] = token_of(sessions, "anna")
    app.session_state["language"] = language
    app.run().switch_page(f"../admin/pages/{page}").run()

    assert not app.exception
    title = {"account.py": "account_title", **dict(zip(PAGE_FILES, TITLE_KEYS, strict=True))}[page]
    assert app.title[0].value == MESSAGES[language][title]


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_queued_jobs_stage_reads_in_the_interface_language(sessions, language):
    with sessions() as session:
        versions.start_retrain(session, auth.find_user(session, "anna"), {"num_topics": 4})
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["language"] = language
    app.session_state[TOKEN_KEY] = token_of(sessions, "anna")
    app.run().switch_page("../admin/pages/versions.py").run()

    progress = [element.proto.text for element in app.get("progress")]
    assert len(progress) == 1
    assert progress[0].endswith(f": {MESSAGES[language]['job_stage_queued']} 0/0")


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_versions_page_says_when_to_retrain_in_both_languages(
    sessions, deployment, tmp_path, language
):
    never_shown = [builtin_rows()[number] for number in range(230, 265)]  # clothes, food
    add_documents(deployment, copy_collection(never_shown, tmp_path / "new"))
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["language"] = language
    app.session_state[TOKEN_KEY] = token_of(sessions, "anna")
    app.run().switch_page("../admin/pages/versions.py").run()

    assert not app.exception
    messages = MESSAGES[language]
    assert messages["drift_title"] in [header.value for header in app.subheader]
    assert messages["drift_due"] in [warning.value for warning in app.warning]
    assert len(app.get("plotly_chart")) == 1
    assert [metric.value for metric in app.metric][:2] == ["120", "35"]
