"""Staff sessions (issue 20) without a browser: the session store on SQLite and PostgreSQL, the
one-time code that gives a browser its cookie, what ends a session, and the cookie endpoints."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from admin import auth, session_cookie
from admin.cli import main
from admin.navigation import adopt_session_cookie
from admin.ui import TOKEN_KEY
from core.storage import database
from core.storage.admin_tables import SessionHandoff, SignInSession, User
from tests.postgres import DATABASES, database_url_for

PASSWORD = "correct horse battery"
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


@pytest.fixture(params=DATABASES)
def session(request: pytest.FixtureRequest, tmp_path) -> Iterator[Session]:
    """A session on an empty store with moderator "mia", in SQLite and in PostgreSQL."""
    sessions = database.open_database(database_url_for(request, tmp_path / "metadata.sqlite3"))
    with sessions() as session:
        auth.add_user(session, "mia", "moderator", PASSWORD, by="test")
        yield session


def signed_in_with_cookie(session: Session, now: datetime | None = None) -> tuple[str, str]:
    """The session id of the tab that signed in, and the one its browser's cookie got."""
    tab = auth.sign_in(session, "mia", PASSWORD, now=now)
    cookie, _ = auth.redeem_handoff(session, auth.hand_off(session, tab, now=now), now=now)
    return tab, cookie


def test_a_session_id_is_32_random_bytes_and_only_its_sha256_is_stored(session):
    tab, cookie = signed_in_with_cookie(session, NOW)

    assert len(tab) == len(cookie) == 43  # token_urlsafe(32): 32 bytes in URL-safe base64
    stored = set(session.scalars(select(SignInSession.token_hash)))
    assert stored == {hashlib.sha256(id.encode()).hexdigest() for id in (tab, cookie)}


def test_a_session_names_its_user_until_it_expires_and_its_expiry_is_audited(session):
    tab, cookie = signed_in_with_cookie(session, NOW)

    last_minute = NOW + auth.SESSION_DURATION - timedelta(minutes=1)
    assert auth.current_user(session, cookie, now=last_minute).name == "mia"
    expired = NOW + auth.SESSION_DURATION
    assert auth.current_user(session, cookie, now=expired) is None
    assert auth.current_user(session, tab, now=expired) is None

    assert session.scalars(select(SignInSession)).all() == []
    entry = auth.audit_log(session)[0]
    assert (entry.user_name, entry.action, entry.details) == (
        "mia",
        "session_expired",
        {"sessions": 2},
    )


def test_a_tampered_or_made_up_id_signs_in_nobody(session):
    _, cookie = signed_in_with_cookie(session, NOW)
    flipped = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")

    for forged in (flipped, cookie[:-1], cookie + "x", cookie.upper(), "", None, "x" * 43):
        assert auth.current_user(session, forged, now=NOW) is None
    assert auth.current_user(session, cookie, now=NOW).name == "mia"


def test_the_cookie_gets_a_session_of_its_own_through_a_one_time_code(session):
    tab = auth.sign_in(session, "mia", PASSWORD, now=NOW)
    code = auth.hand_off(session, tab, now=NOW)

    assert (
        session.scalar(select(SessionHandoff.code_hash))
        == hashlib.sha256(code.encode()).hexdigest()
    )
    cookie, expires_at = auth.redeem_handoff(session, code, now=NOW + timedelta(seconds=5))
    assert cookie != tab and expires_at == NOW + auth.SESSION_DURATION  # the tab's expiry
    assert auth.current_user(session, cookie, now=NOW).name == "mia"
    assert auth.redeem_handoff(session, code, now=NOW) is None  # used up
    assert auth.redeem_handoff(session, "made-up", now=NOW) is None


def test_a_stale_handoff_code_is_refused_and_a_dead_session_has_none(session):
    tab = auth.sign_in(session, "mia", PASSWORD, now=NOW)
    code = auth.hand_off(session, tab, now=NOW)
    assert auth.redeem_handoff(session, code, now=NOW + auth.HANDOFF_DURATION) is None

    code = auth.hand_off(session, tab, now=NOW)
    auth.sign_out(session, tab)
    assert auth.redeem_handoff(session, code, now=NOW) is None
    assert session.scalars(select(SessionHandoff)).all() == []  # gone with the session
    with pytest.raises(ValueError, match="no live session"):
        auth.hand_off(session, tab, now=NOW)


def _sign_out(session: Session, tab: str) -> None:
    auth.sign_out(session, tab)


def _reset(session: Session, tab: str) -> None:
    auth.reset_user(session, "mia", "a new long password", by="test")


def _role_change(session: Session, tab: str) -> None:
    auth.set_role(session, "mia", "admin", by="test")


def _removal(session: Session, tab: str) -> None:
    auth.remove_user(session, "mia", by="test")


def _deleted_in_sql(session: Session, tab: str) -> None:
    """Removed behind the app's back: the foreign key takes the sessions along."""
    session.execute(delete(User).where(User.name == "mia"))
    session.commit()


ENDINGS: dict[str, tuple[Callable[[Session, str], None], str | None]] = {
    "sign-out": (_sign_out, "sign_out"),
    "password reset": (_reset, "reset_user"),
    "role change": (_role_change, "set_role"),
    "account removal": (_removal, "remove_user"),
    "account deleted in SQL": (_deleted_in_sql, None),
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_session_of_the_user_ends_everywhere_and_is_audited(session, ending):
    end, audited_as = ENDINGS[ending]
    tab, cookie = signed_in_with_cookie(session)
    other_browser, _ = signed_in_with_cookie(session)

    end(session, tab)

    for stolen in (tab, cookie, other_browser):  # ids copied before: now worth nothing
        assert auth.current_user(session, stolen) is None
    assert session.scalars(select(SignInSession)).all() == []
    if audited_as:
        entry = auth.audit_log(session)[0]
        assert (entry.action, entry.outcome, entry.details["sessions"]) == (audited_as, "ok", 4)


def test_sign_out_with_an_unknown_id_changes_nothing(session):
    _, cookie = signed_in_with_cookie(session)
    entries = len(auth.audit_log(session))

    auth.sign_out(session, "made-up")

    assert auth.current_user(session, cookie).name == "mia"
    assert len(auth.audit_log(session)) == entries


def test_the_command_line_changes_a_role_and_removes_a_user(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(tmp_path))
    sessions = database.open_database(f"sqlite:///{tmp_path / 'metadata.sqlite3'}")
    with sessions() as session:
        auth.add_user(session, "mia", "moderator", PASSWORD, by="test")
        token = auth.sign_in(session, "mia", PASSWORD)

    assert main(["users", "role", "mia", "--role", "admin"]) == 0
    with sessions() as session:
        assert auth.current_user(session, token) is None
        assert auth.find_user(session, "mia").role == "admin"
        token = auth.sign_in(session, "mia", PASSWORD)
    assert main(["users", "remove", "mia"]) == 0
    assert main(["users", "remove", "mia"]) == 2
    assert "there is no user 'mia'" in capsys.readouterr().err
    with sessions() as session:
        assert auth.current_user(session, token) is None and auth.list_users(session) == []
        actions = [entry.action for entry in auth.audit_log(session)[:3]]
    assert actions == ["remove_user", "sign_in", "set_role"]


# --------------------------------------------------------------------------------------------------
# The tab's session, and the cookie endpoints
# --------------------------------------------------------------------------------------------------


def test_a_tab_without_a_session_takes_the_cookies_and_keeps_its_own_otherwise():
    state: dict = {}
    adopt_session_cookie(state, {auth.SESSION_COOKIE: "from-the-cookie"})
    assert state == {TOKEN_KEY: "from-the-cookie"}

    state = {TOKEN_KEY: "own"}
    adopt_session_cookie(state, {auth.SESSION_COOKIE: "from-the-cookie"})
    assert state == {TOKEN_KEY: "own"}

    state = {}
    adopt_session_cookie(state, {"other": "cookie"})
    assert state == {}


@pytest.fixture
def app_database(tmp_path, monkeypatch) -> Iterator[Session]:
    """The database the endpoints open (from the settings), with moderator "mia"."""
    monkeypatch.setenv("TOPICSEARCH_DATA_DIR", str(tmp_path))
    session_cookie._sessions.cache_clear()
    with session_cookie._sessions()() as session:
        auth.add_user(session, "mia", "moderator", PASSWORD, by="test")
        yield session
    session_cookie._sessions.cache_clear()


def post(endpoint, body: str = "", origin: str | None = "http://app.test", scheme: str = "http"):
    """Call an endpoint as a browser's POST to ``scheme://app.test`` would."""
    from starlette.requests import Request

    headers = [(b"host", b"app.test")] + ([(b"origin", origin.encode())] if origin else [])
    scope = {
        "type": "http",
        "method": "POST",
        "scheme": scheme,
        "server": ("app.test", 443 if scheme == "https" else 80),
        "path": "/staff-session",
        "query_string": b"",
        "headers": headers,
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    return asyncio.run(endpoint(Request(scope, receive)))


def test_the_endpoint_sets_an_http_only_strict_cookie_for_a_one_time_code(app_database):
    tab = auth.sign_in(app_database, "mia", PASSWORD)

    response = post(session_cookie.start, auth.hand_off(app_database, tab))

    assert response.status_code == 204
    name_value, *attributes = response.headers["set-cookie"].split("; ")
    name, value = name_value.split("=", 1)
    assert name == auth.SESSION_COOKIE and value != tab
    assert auth.current_user(app_database, value).name == "mia"
    assert {"HttpOnly", "Path=/", "SameSite=strict"} <= set(attributes)
    assert "Secure" not in attributes
    max_age = int(next(a for a in attributes if a.startswith("Max-Age=")).split("=")[1])
    assert (
        auth.SESSION_DURATION.total_seconds() - 60
        < max_age
        <= auth.SESSION_DURATION.total_seconds()
    )


def test_over_https_the_cookie_is_also_secure(app_database):
    tab = auth.sign_in(app_database, "mia", PASSWORD)
    code = auth.hand_off(app_database, tab)

    response = post(session_cookie.start, code, origin="https://app.test", scheme="https")

    assert "Secure" in response.headers["set-cookie"].split("; ")


def test_the_endpoints_refuse_another_sites_page_and_a_bad_code(app_database):
    code = auth.hand_off(app_database, auth.sign_in(app_database, "mia", PASSWORD))

    for origin in ("http://evil.test", None):
        assert post(session_cookie.start, code, origin=origin).status_code == 403
        assert post(session_cookie.end, origin=origin).status_code == 403
    assert post(session_cookie.start, "made-up").status_code == 400
    assert post(session_cookie.start, code).status_code == 204  # still unused after refusals
    assert post(session_cookie.start, code).status_code == 400


def test_the_end_endpoint_clears_the_cookie():
    response = post(session_cookie.end)

    assert response.status_code == 204
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f'{auth.SESSION_COOKIE}="";') and "Max-Age=0" in cookie
