"""Accounts, sign-in, roles and the audit log.

Passwords are stored as scrypt hashes (memory-hard and slow, from the standard library). After
``MAX_FAILED_SIGN_INS`` wrong passwords in a row an account is locked for ``LOCK_DURATION``. A
sign-in returns a random token; only its SHA-256 is stored, and it expires after
``SESSION_DURATION``. Every admin action is a function decorated with ``@action(permission)``: it
checks the acting user's role on the server and writes who did what, when, to the audit log.
"""

from __future__ import annotations

import base64
import functools
import getpass
import hashlib
import hmac
import inspect
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.storage.admin_tables import (
    ROLES,
    AuditEntry,
    PermissionDenied,
    SignInError,
    SignInSession,
    User,
)

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
SESSION_DURATION = timedelta(hours=8)
MIN_PASSWORD_LENGTH = 8

# scrypt cost: 2**15 x 8 x 128 bytes = 32 MiB and about 0.1 s per hash.
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}

PERMISSIONS: dict[str, frozenset[str]] = {
    "moderator": frozenset({"review_topics", "label_documents"}),
    "admin": frozenset(
        {
            "review_topics",
            "label_documents",
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
    user = find_user(session, name)
    if user is None:
        raise ValueError(f"there is no user {name!r}")
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.role = role or user.role
    user.failed_sign_ins = 0
    user.locked_until = None
    session.execute(delete(SignInSession).where(SignInSession.user_id == user.id))
    _audit(session, by, "reset_user", "ok", {"name": name, "role": user.role})
    session.commit()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def find_user(session: Session, name: str) -> User | None:
    return session.scalar(select(User).where(User.name == name))


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
    session.execute(delete(SignInSession).where(SignInSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    session.add(
        SignInSession(
            token_hash=_token_hash(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + SESSION_DURATION,
        )
    )
    _audit(session, name, "sign_in", "ok", {})
    session.commit()
    return token


def current_user(session: Session, token: str | None, now: datetime | None = None) -> User | None:
    """The user a token signs in, or None if there is none, it is unknown or it expired."""
    if not token:
        return None
    now = now or datetime.now(UTC)
    signed_in = session.scalar(
        select(SignInSession).where(SignInSession.token_hash == _token_hash(token))
    )
    if signed_in is None or signed_in.expires_at <= now:
        return None
    return session.get(User, signed_in.user_id)


def sign_out(session: Session, token: str) -> None:
    """End the session of ``token`` (nothing happens for an unknown token)."""
    user = current_user(session, token)
    session.execute(delete(SignInSession).where(SignInSession.token_hash == _token_hash(token)))
    if user is not None:
        _audit(session, user.name, "sign_out", "ok", {})
    session.commit()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --------------------------------------------------------------------------------------------------
# Roles and the audit log
# --------------------------------------------------------------------------------------------------


def allowed(user: User | None, permission: str) -> bool:
    return user is not None and permission in PERMISSIONS.get(user.role, frozenset())


P = ParamSpec("P")
R = TypeVar("R")


def action(permission: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Make a function ``f(session, user, ...)`` an admin action.

    The role, as stored now, is checked before the function runs (so a role changed on the
    command line applies at once); the audit log gets one entry per call: ``ok``,
    ``denied`` (then ``PermissionDenied`` is raised) or ``error`` (the function's exception is
    re-raised). The entry's details are the call's arguments after ``session`` and ``user``.
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
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                session.rollback()
                _audit(session, who, function.__name__, "error", {**details, "error": str(error)})
                session.commit()
                raise
            _audit(session, who, function.__name__, "ok", details)
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


def _loggable(value: Any) -> Any:
    """JSON-safe and short: the audit log records what was asked, not bulk data."""
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict) and len(value) <= 20:
        return {str(k): _loggable(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and len(value) <= 20:
        return [_loggable(v) for v in value]
    return f"<{type(value).__name__}>"
