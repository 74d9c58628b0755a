"""Accounts, sign-in, roles and the audit log: the admin panel's door."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import admin
from admin import auth, collection, junk_filter, modalities, topics, versions
from admin.cli import main
from admin.topics import edit_topic
from admin.versions import apply_live_weights
from core.storage import database
from core.storage.admin_tables import AuditEntry, User
from tests.postgres import DATABASES, database_url_for

PASSWORD = "correct horse battery"


@pytest.fixture(params=DATABASES)
def session(request: pytest.FixtureRequest, tmp_path) -> Iterator[Session]:
    """A session on an empty store, in SQLite and in PostgreSQL."""
    sessions = database.open_database(database_url_for(request, tmp_path / "metadata.sqlite3"))
    with sessions() as session:
        yield session


def test_a_password_is_stored_as_a_salted_scrypt_hash_and_verified(session):
    user = auth.add_user(session, "anna", "admin", PASSWORD, by="test")

    assert user.password_hash.startswith("scrypt$")
    assert PASSWORD not in user.password_hash
    assert auth.hash_password(PASSWORD) != auth.hash_password(PASSWORD)  # fresh salt each time
    assert auth.verify_password(PASSWORD, user.password_hash)
    assert not auth.verify_password(PASSWORD + "!", user.password_hash)


def test_bad_accounts_are_refused_with_a_clear_message(session):
    auth.add_user(session, "anna", "admin", PASSWORD, by="test")

    with pytest.raises(ValueError, match="already exists"):
        auth.add_user(session, "anna", "moderator", PASSWORD, by="test")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        auth.add_user(session, "boris", "root", PASSWORD, by="test")
    with pytest.raises(ValueError, match="at least 8 characters"):
        auth.add_user(session, "boris", "moderator", "short", by="test")


def test_sign_in_gives_a_token_that_names_the_user_until_it_expires(session):
    auth.add_user(session, "anna", "moderator", PASSWORD, by="test")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)

    token = auth.sign_in(session, "anna", PASSWORD, now=now)

    assert auth.current_user(session, token, now=now).name == "anna"
    later = now + auth.SESSION_DURATION
    assert auth.current_user(session, token, now=later) is None
    assert auth.current_user(session, "forged-token", now=now) is None


def test_wrong_name_and_wrong_password_get_the_same_answer(session):
    auth.add_user(session, "anna", "moderator", PASSWORD, by="test")

    with pytest.raises(auth.SignInError, match="wrong name or password"):
        auth.sign_in(session, "anna", "not the password")
    with pytest.raises(auth.SignInError, match="wrong name or password"):
        auth.sign_in(session, "nobody", PASSWORD)


def test_repeated_failures_lock_the_account_even_for_the_right_password(session):
    auth.add_user(session, "anna", "admin", PASSWORD, by="test")
    now = datetime(2026, 1, 1, 12, tzinfo=UTC)
    for _ in range(auth.MAX_FAILED_SIGN_INS):
        with pytest.raises(auth.SignInError, match="wrong name or password"):
            auth.sign_in(session, "anna", "guess", now=now)

    with pytest.raises(auth.SignInError, match="locked until"):
        auth.sign_in(session, "anna", PASSWORD, now=now)
    assert auth.sign_in(session, "anna", PASSWORD, now=now + auth.LOCK_DURATION)


def test_a_reset_unlocks_changes_the_password_and_ends_every_session(session):
    auth.add_user(session, "anna", "moderator", PASSWORD, by="test")
    token = auth.sign_in(session, "anna", PASSWORD)
    for _ in range(auth.MAX_FAILED_SIGN_INS):
        with pytest.raises(auth.SignInError):
            auth.sign_in(session, "anna", "guess")

    auth.reset_user(session, "anna", "a new long password", by="test", role="admin")

    assert auth.current_user(session, token) is None
    new_token = auth.sign_in(session, "anna", "a new long password")
    assert auth.current_user(session, new_token).role == "admin"


def test_sign_out_ends_the_session(session):
    auth.add_user(session, "anna", "moderator", PASSWORD, by="test")
    token = auth.sign_in(session, "anna", PASSWORD)

    auth.sign_out(session, token)

    assert auth.current_user(session, token) is None


def test_moderators_may_review_topics_but_not_run_the_model():
    moderator, admin = User(name="m", role="moderator"), User(name="a", role="admin")

    assert auth.allowed(moderator, "review_topics") and auth.allowed(moderator, "label_documents")
    assert not any(auth.allowed(moderator, p) for p in ("weights", "versions", "modalities"))
    assert all(auth.allowed(admin, p) for p in auth.PERMISSIONS["admin"])
    assert not auth.allowed(None, "review_topics")


def test_an_action_checks_the_role_on_the_server_and_audits_the_refusal(session):
    moderator = auth.add_user(session, "mia", "moderator", PASSWORD, by="test")

    with pytest.raises(auth.PermissionDenied, match="mia may not apply live weights"):
        apply_live_weights(session, moderator, {"@text": 0.0})
    with pytest.raises(auth.PermissionDenied, match=r"\(anonymous\) may not edit topic"):
        edit_topic(session, None, 1, "cats", "normal")

    entries = session.scalars(select(AuditEntry).where(AuditEntry.outcome == "denied")).all()
    assert [(e.user_name, e.action, e.details) for e in entries] == [
        ("mia", "apply_live_weights", {"weights": {"@text": 0.0}}),
        ("(anonymous)", "edit_topic", {"topic_id": 1, "label": "cats", "status": "normal"}),
    ]


def test_an_allowed_action_that_fails_is_audited_as_an_error(session):
    admin = auth.add_user(session, "anna", "admin", PASSWORD, by="test")

    with pytest.raises(ValueError, match="no model version is active"):
        apply_live_weights(session, admin, {"@text": 0.0})

    entry = auth.audit_log(session)[0]
    assert (entry.user_name, entry.action, entry.outcome) == ("anna", "apply_live_weights", "error")
    assert "no model version is active" in entry.details["error"]


@auth.action("versions")
def rename_everything(session: Session, user: User, tokens: dict, fail: bool) -> None:
    """An action for the tests below: notes a summary of ``tokens`` and a change."""
    auth.audit_note(tokens=sum(tokens.values()), name={"from": "a", "to": "b"})
    if fail:
        raise ValueError("it went wrong")


@pytest.mark.parametrize("fail", [False, True])
def test_what_an_action_notes_replaces_its_arguments_in_the_audit_log(session, fail):
    admin = auth.add_user(session, "anna", "admin", PASSWORD, by="test")
    tokens = {f"token{n}": n for n in range(30)}  # too many to record as they are

    if fail:
        with pytest.raises(ValueError, match="went wrong"):
            rename_everything(session, admin, tokens, fail)
    else:
        rename_everything(session, admin, tokens, fail)

    details = auth.audit_log(session)[0].details
    assert details["tokens"] == 435 and details["name"] == {"from": "a", "to": "b"}
    assert details["fail"] is fail and ("error" in details) is fail
    with pytest.raises(RuntimeError, match="admin actions"):
        auth.audit_note(tokens=1)  # outside an action there is no entry to add to


def test_the_command_line_adds_resets_and_lists_users(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)

    assert (
        main(["users", "add", "anna", "--role", "admin", "--password-env", "ADMIN_PASSWORD"]) == 0
    )
    assert (
        main(["users", "add", "anna", "--role", "admin", "--password-env", "ADMIN_PASSWORD"]) == 2
    )
    assert "already exists" in capsys.readouterr().err
    assert main(["users", "add", "bob", "--role", "moderator", "--password-env", "UNSET_VAR"]) == 2
    assert "UNSET_VAR is not set" in capsys.readouterr().err
    monkeypatch.setenv("ADMIN_PASSWORD", "another long one")
    assert main(["users", "reset", "anna", "--password-env", "ADMIN_PASSWORD"]) == 0
    capsys.readouterr()
    assert main(["users", "list"]) == 0

    assert "anna" in capsys.readouterr().out
    sessions = database.open_database(f"sqlite:///{tmp_path / 'metadata.sqlite3'}")
    with sessions() as session:
        assert auth.sign_in(session, "anna", "another long one")
        actions = [(e.action, e.outcome) for e in reversed(auth.audit_log(session))]
    assert actions[:2] == [("add_user", "ok"), ("reset_user", "ok")]


def test_a_role_taken_away_on_the_command_line_applies_to_the_next_action(tmp_path):
    sessions = database.open_database(f"sqlite:///{tmp_path / 'metadata.sqlite3'}")
    with sessions() as session:
        signed_in = auth.add_user(session, "anna", "admin", PASSWORD, by="test")
    with sessions() as session:
        auth.reset_user(session, "anna", PASSWORD, by="test", role="moderator")

    with sessions() as session, pytest.raises(auth.PermissionDenied, match="anna may not"):
        apply_live_weights(session, signed_in, {"@text": 0.0})
    assert signed_in.role == "admin"  # the page's copy is stale; the check used the database


ADMIN_ONLY = [
    (versions.apply_live_weights, ({"@text": 1.0},)),
    (versions.activate, ("v0001",)),
    (versions.roll_back, ()),
    (versions.delete_version, ("v0001",)),
    (versions.start_build, ("",)),
    (versions.start_retrain, ({"num_topics": 4},)),
    (modalities.start_reindex, ({"@text": 1.0},)),
    (modalities.start_add_modality, ("@category", {}, 1.0, False)),
    (modalities.cancel_job, (1,)),
    (junk_filter.start_junk_filter_training, ()),
    (junk_filter.apply_junk_filter, (None,)),
    (junk_filter.unhide_all, ()),
    (collection.queue_photos, (None, [])),  # refused before the settings are read
]
KEYWORDS = {modalities.start_add_modality: {"name_en": "Category", "name_ru": "Категория"}}
MODERATOR = [
    (topics.edit_topic, (1, "cats", "normal")),
    (topics.set_topic_statuses, ([1], "junk")),
    (junk_filter.label_document, ("doc", "wanted")),
    (junk_filter.clear_document_label, ("doc",)),
    (collection.take_down_document, (None, "doc", "asked by its author")),
]


def test_the_refusal_tests_below_cover_every_admin_action():
    modules = [
        importlib.import_module(f"admin.{module.name}")
        for module in pkgutil.iter_modules(admin.__path__)
        # admin.pages holds Streamlit scripts, not actions; __main__ runs the command line
        if not module.ispkg and module.name != "__main__"
    ]
    actions = {
        member
        for module in modules
        for member in vars(module).values()
        if callable(member) and hasattr(member, "permission")
    }
    assert actions == {action for action, _ in ADMIN_ONLY + MODERATOR}


@pytest.mark.parametrize(("action", "args"), ADMIN_ONLY, ids=lambda a: getattr(a, "__name__", ""))
def test_every_model_action_refuses_a_moderator(session, action, args):
    moderator = auth.add_user(session, "mia", "moderator", PASSWORD, by="test")

    with pytest.raises(auth.PermissionDenied, match="mia may not"):
        action(session, moderator, *args, **KEYWORDS.get(action, {}))


@pytest.mark.parametrize(
    ("action", "args"), ADMIN_ONLY + MODERATOR, ids=lambda a: getattr(a, "__name__", "")
)
def test_every_action_refuses_an_anonymous_caller(session, action, args):
    with pytest.raises(auth.PermissionDenied, match=r"\(anonymous\) may not"):
        action(session, None, *args, **KEYWORDS.get(action, {}))
