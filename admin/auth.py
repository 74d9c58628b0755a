"""Accounts, sign-in, roles and the audit log.

Passwords are stored as scrypt hashes (memory-hard and slow, from the standard library). After
``MAX_FAILED_SIGN_INS`` wrong passwords in a row an account is locked for ``LOCK_DURATION``. A
sign-in returns a random session id (32 bytes); only its SHA-256 is stored, and it expires after
``SESSION_DURATION``. The browser keeps a session of its own in the ``SESSION_COOKIE`` cookie, so
that a reload or a second tab stays signed in: the tab that signed in gets a one-time code
(``hand_off``) that ``admin.session_cookie`` redeems for it. A user's sessions all end together,
on sign-out, a password reset, a role change or the account's removal.

Every admin action is a function decorated with ``@action(permission)``: it checks the acting
user's role on the server and writes who did what, when, to the audit log; the action adds what it
changed, from what to what, with ``audit_note``.
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import inspect
import secrets
from collections import Counter
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.storage.admin_tables import (
    ROLES,
    AuditEntry,
    PermissionDenied,
    SessionHandoff,
    SignInError,
    SignInSession,
    User,
)

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
SESSION_DURATION = timedelta(hours=8)
HANDOFF_DURATION = timedelta(minutes=1)
SESSION_COOKIE = "topicsearch_session"
MIN_PASSWORD_LENGTH = 8

# scrypt cost: 2**15 x 8 x 128 bytes = 32 MiB and about 0.1 s per hash.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}

PERMISSIONS: dict[str, frozenset[str]] = {
    "moderator": frozenset({"review_topics", "label_documents", "take_down"}),
    "admin": frozenset(
        {
            "review_topics",
            "label_documents",
            "take_down",
            "add_documents",
            "junk_filter",
            "weights",
            "versions",
            "modalities",
            "users",
        }
    ),
}


# --------------------------------------------------------------------------------------------------
# Passwords
# --------------------------------------------------------------------------------------------------


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh random salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, **_SCRYPT)
    params = "$".join(str(_SCRYPT[key]) for key in ("n", "r", "p"))
    return f"scrypt${params}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches the stored hash (compared in constant time)."""
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        raise ValueError(f"unknown password hash scheme {scheme!r}")
    candidate = _scrypt(password, base64.b64decode(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate, base64.b64decode(digest))


def _scrypt(password: str, salt: bytes, *, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * n * r, dklen=32
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# Checked against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def read_new_password(environment_variable: str | None, environ: dict[str, str]) -> str:
    """The password from ``environment_variable``, else typed twice without echo."""
    if environment_variable:
        password = environ.get(environment_variable)
        if password is None:
            raise ValueError(f"environment variable {environment_variable} is not set")
        return password
    password = getpass.getpass("New password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise ValueError("the two passwords differ")
    return password


# --------------------------------------------------------------------------------------------------
# Accounts (command line)
# --------------------------------------------------------------------------------------------------


def add_user(session: Session, name: str, role: str, password: str, by: str) -> User:
    """Create an account; raises ``ValueError`` for a taken name, unknown role or short password."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if not name.strip() or name != name.strip():
        raise ValueError("a user name must be non-empty without surrounding spaces")
    check_password_rules(password)
    if find_user(session, name) is not None:
        raise ValueError(f"user {name!r} already exists")
    user = User(name=name, role=role, password_hash=hash_password(password), failed_sign_ins=0)
    session.add(user)
    _audit(session, by, "add_user", "ok", {"name": name, "role": role})
    session.commit()
    return user


def reset_user(
    session: Session, name: str, password: str, by: str, role: str | None = None
) -> User:
    """New password (and optionally role); unlocks the account and ends its sessions."""
    user = _existing_user(session, name)
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.role = role or user.role
    user.failed_sign_ins = 0
    user.locked_until = None
    ended = _end_sessions(session, user.id)
    _audit(session, by, "reset_user", "ok", {"name": name, "role": user.role, "sessions": ended})
    session.commit()
    return user


def set_role(session: Session, name: str, role: str, by: str) -> User:
    """Give an account another role; its sessions end, so it signs in again under the new one."""
    user = _existing_user(session, name)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    before, user.role = user.role, role
    ended = _end_sessions(session, user.id)
    _audit(
        session, by, "set_role", "ok", {"name": name, "from": before, "to": role, "sessions": ended}
    )
    session.commit()
    return user


def remove_user(session: Session, name: str, by: str) -> None:
    """Delete an account and end its sessions (the audit log keeps its name)."""
    user = _existing_user(session, name)
    ended = _end_sessions(session, user.id)
    session.delete(user)
    _audit(session, by, "remove_user", "ok", {"name": name, "role": user.role, "sessions": ended})
    session.commit()


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


def _existing_user(session: Session, name: str) -> User:
    user = find_user(session, name)
    if user is None:
        raise ValueError(f"there is no user {name!r}")
    return user


# --------------------------------------------------------------------------------------------------
# Sign-in sessions
# --------------------------------------------------------------------------------------------------


def sign_in(session: Session, name: str, password: str, now: datetime | None = None) -> str:
    """A session token for a right name and password; raises ``SignInError`` otherwise.

    Wrong passwords are counted; the ``MAX_FAILED_SIGN_INS``-th in a row locks the account for
    ``LOCK_DURATION``, during which even the right password is refused.
    """
    now = now or datetime.now(UTC)
    user = find_user(session, name)
    if user is None:
        verify_password(password, _DUMMY_HASH)
        _audit(session, name, "sign_in", "denied", {"reason": "unknown user"})
        session.commit()
        raise SignInError()
    if user.locked_until is not None and user.locked_until > now:
        _audit(session, name, "sign_in", "denied", {"reason": "locked"})
        session.commit()
        raise SignInError(user.locked_until)
    if not verify_password(password, user.password_hash):
        user.failed_sign_ins += 1
        if user.failed_sign_ins >= MAX_FAILED_SIGN_INS:
            user.locked_until = now + LOCK_DURATION
            user.failed_sign_ins = 0
        _audit(session, name, "sign_in", "denied", {"reason": "wrong password"})
        session.commit()
        raise SignInError()
    user.failed_sign_ins = 0
    user.locked_until = None
    _end_expired(session, now)
    token = _new_session(session, user.id, now, now + SESSION_DURATION)
    _audit(session, name, "sign_in", "ok", {})
    session.commit()
    return token


def current_user(session: Session, token: str | None, now: datetime | None = None) -> User | None:
    """The user a session id signs in, or None if it is unknown (forged, altered, or ended) or
    expired; an expired session is ended and audited here, the first time it is presented."""
    if not token:
        return None
    now = now or datetime.now(UTC)
    signed_in = session.scalar(
        select(SignInSession).where(SignInSession.token_hash == _token_hash(token))
    )
    if signed_in is None:
        return None
    if signed_in.expires_at <= now:
        _end_expired(session, now)
        session.commit()
        return None
    return session.get(User, signed_in.user_id)


def sign_out(session: Session, token: str) -> None:
    """End every session of the user whose id ``token`` is: each tab and browser of theirs is
    signed out at its next run (nothing happens for an unknown id)."""
    user = current_user(session, token)
    if user is None:
        return
    ended = _end_sessions(session, user.id)
    _audit(session, user.name, "sign_out", "ok", {"sessions": ended})
    session.commit()


def hand_off(session: Session, token: str, now: datetime | None = None) -> str:
    """A one-time code, good for ``HANDOFF_DURATION``, that ``redeem_handoff`` turns into a
    session for the browser's cookie: the page carries only this code, never a session id."""
    now = now or datetime.now(UTC)
    signed_in = session.scalar(
        select(SignInSession).where(
            SignInSession.token_hash == _token_hash(token), SignInSession.expires_at > now
        )
    )
    if signed_in is None:
        raise ValueError("no live session to hand off")
    code = secrets.token_urlsafe(32)
    session.add(
        SessionHandoff(
            code_hash=_token_hash(code), session_id=signed_in.id, expires_at=now + HANDOFF_DURATION
        )
    )
    session.commit()
    return code


def redeem_handoff(
    session: Session, code: str, now: datetime | None = None
) -> tuple[str, datetime] | None:
    """A new session id for the cookie and when it expires (with the session handed off), or
    None for an unknown, used or stale code. The code is used up either way, atomically: two
    requests with one code cannot both win."""
    now = now or datetime.now(UTC)
    handed = session.execute(
        delete(SessionHandoff)
        .where(SessionHandoff.code_hash == _token_hash(code))
        .returning(SessionHandoff.session_id, SessionHandoff.expires_at)
    ).one_or_none()
    original = session.get(SignInSession, handed.session_id) if handed else None
    if handed is None or handed.expires_at <= now or original is None:
        session.commit()
        return None
    if original.expires_at <= now:
        _end_expired(session, now)
        session.commit()
        return None
    token = _new_session(session, original.user_id, now, original.expires_at)
    session.commit()
    return token, original.expires_at


def _new_session(session: Session, user_id: int, now: datetime, expires_at: datetime) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_hash=_token_hash(token), user_id=user_id, created_at=now, expires_at=expires_at
        )
    )
    return token


def _end_sessions(session: Session, user_id: int) -> int:
    """Delete every session of a user (their handoff codes go with them); how many there were."""
    ended = session.execute(delete(SignInSession).where(SignInSession.user_id == user_id))
    return ended.rowcount


def _end_expired(session: Session, now: datetime) -> None:
    """Delete expired sessions and stale handoff codes; one audit entry per user whose sessions
    expired."""
    session.execute(delete(SessionHandoff).where(SessionHandoff.expires_at <= now))
    expired = Counter(
        session.scalars(
            select(User.name)
            .join(SignInSession, SignInSession.user_id == User.id)
            .where(SignInSession.expires_at <= now)
        )
    )
    session.execute(delete(SignInSession).where(SignInSession.expires_at <= now))
    for name, count in sorted(expired.items()):
        _audit(session, name, "session_expired", "ok", {"sessions": count})


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Roles and the audit log
# --------------------------------------------------------------------------------------------------


def allowed(user: User | None, permission: str) -> bool:
    return user is not None and permission in PERMISSIONS.get(user.role, frozenset())


P = ParamSpec("P")
R = TypeVar("R")
_NOTES: ContextVar[dict[str, Any] | None] = ContextVar("audit_notes", default=None)


def audit_note(**details: Any) -> None:
    """Add to the audit entry of the admin action running now what it changed, from what to
    what (``label={"from": "x", "to": "y"}``), or a summary in place of an argument too bulky to
    record (``tokens=3201``); written with the entry whether the action then succeeds or fails."""
    notes = _NOTES.get()
    if notes is None:
        raise RuntimeError("audit_note is for the admin actions (functions under @action)")
    notes.update({key: _loggable(value, limit=None) for key, value in details.items()})


def action(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a function ``f(session, user, ...)`` an admin action.

    The role, as stored now, is checked before the function runs (so a role changed on the
    command line applies at once); the audit log gets one entry per call: ``ok``,
    ``denied`` (then ``PermissionDenied`` is raised) or ``error`` (the function's exception is
    re-raised). The entry's details are the call's arguments after ``session`` and ``user``,
    then what the function noted with ``audit_note`` (which replaces an argument of its name).
    """

    def decorate(function: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            session, user = bound.args[0], bound.args[1]
            details = {k: _loggable(v) for k, v in list(bound.arguments.items())[2:]}
            who = user.name if user is not None else "(anonymous)"
            stored = session.get(User, user.id) if user is not None else None  # role as of now
            if not allowed(stored, permission):
                _audit(session, who, function.__name__, "denied", details)
                session.commit()
                raise PermissionDenied(who, function.__name__, permission)
            notes: dict[str, Any] = {}
            noting = _NOTES.set(notes)
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                session.rollback()
                failed = {**details, **notes, "error": str(error)}
                _audit(session, who, function.__name__, "error", failed)
                session.commit()
                raise
            finally:
                _NOTES.reset(noting)
            _audit(session, who, function.__name__, "ok", {**details, **notes})
            session.commit()
            return result

        run.permission = permission  # type: ignore[attr-defined]  # what it needs, for audits
        return run

    return decorate


def audit_log(session: Session, limit: int = 200) -> list[AuditEntry]:
    """The newest entries first."""
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


def _audit(session: Session, who: str, what: str, outcome: str, details: dict[str, Any]) -> None:
    session.add(AuditEntry(user_name=who, action=what, outcome=outcome, details=details))


def _loggable(value: Any, limit: int | None = 20) -> Any:
    """JSON-safe and short: the audit log records what was asked, not bulk data (collections of
    more than ``limit`` items; None: what an action noted itself, any size)."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    fits = limit is None or len(value) <= limit if isinstance(value, dict | list | tuple) else False
    if isinstance(value, dict) and fits:
        return {str(k): _loggable(v, limit) for k, v in value.items()}
    if isinstance(value, list | tuple) and fits:
        return [_loggable(v, limit) for v in value]
    return f"<{type(value).__name__}>"
