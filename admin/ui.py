"""What every admin page shares: the database, the signed-in user, and the role gate."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import streamlit as st
from sqlalchemy.orm import Session, sessionmaker

from admin import auth
from core import store
from core.admin_tables import User
from core.settings import load_settings

TOKEN_KEY = "admin_token"


@st.cache_resource(show_spinner=False)
def _sessions(database_url: str) -> sessionmaker[Session]:
    return store.open_database(database_url)


@contextmanager
def db() -> Iterator[Session]:
    """A session on the configured metadata database."""
    with _sessions(load_settings().database_url)() as session:
        yield session


def signed_in_user(state: Mapping[str, Any]) -> User | None:
    """The user whose unexpired sign-in token is in this browser session's state, if any."""
    token = state.get(TOKEN_KEY)
    if not token:
        return None
    with db() as session:
        return auth.current_user(session, token)


def require(permission: str) -> User:
    """The signed-in user if their role allows ``permission``; otherwise the page stops here."""
    user = signed_in_user(st.session_state)
    if not auth.allowed(user, permission):
        st.error("This page is for signed-in staff only. Sign in on the Account page.")
        st.stop()
    return user
