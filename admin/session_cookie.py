"""The staff session cookie, set and cleared by two HTTP endpoints served beside Streamlit's own.

A Streamlit script cannot set a cookie (``st.context.cookies`` only reads the ones the browser
sent when the page connected), and JavaScript's ``document.cookie`` cannot set ``HttpOnly``. But
Streamlit's ``st.App`` serves extra Starlette routes (``streamlit_app/app.py``), and their
responses may set any cookie. So after a sign-in the page posts a one-time code
(``auth.hand_off``) to ``START_PATH``, which answers with a new session id in ``Set-Cookie`` with
``HttpOnly; SameSite=Strict; Path=/; Max-Age=<the rest of the session>`` (and ``Secure`` when the
request came over https): no session id is ever in the page. After a sign-out the page posts to
``END_PATH``, which clears the cookie (the sessions themselves already ended on the server).
Both refuse a request whose ``Origin`` is another site.
"""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from admin import auth
from core.settings import load_settings
from core.storage import database

START_PATH = "/staff-session"
END_PATH = "/staff-session/end"
MAX_CODE_LENGTH = 100


@functools.cache
def _sessions() -> sessionmaker[Session]:
    return database.open_database(load_settings().database_url)


def _same_origin(request: Request) -> bool:
    """Whether the request comes from a page of this site (browsers send ``Origin`` with every
    POST; its host must be the one the request was sent to)."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc == request.headers.get("host")


def _redeem(code: str) -> tuple[str, datetime] | None:
    with _sessions()() as session:
        return auth.redeem_handoff(session, code)


async def start(request: Request) -> Response:
    """Redeem the posted one-time code for a session cookie (204), or refuse (403, 400)."""
    if not _same_origin(request):
        return Response(status_code=403)
    code = (await request.body())[:MAX_CODE_LENGTH].decode(errors="replace")
    redeemed = await run_in_threadpool(_redeem, code)
    if redeemed is None:
        return Response(status_code=400)
    session_id, expires_at = redeemed
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        auth.SESSION_COOKIE,
        session_id,
        max_age=int((expires_at - datetime.now(UTC)).total_seconds()),
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


async def end(request: Request) -> Response:
    """Clear the session cookie (204)."""
    if not _same_origin(request):
        return Response(status_code=403)
    response = Response(status_code=204, headers={"Cache-Control": "no-store"})
    response.delete_cookie(
        auth.SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


ROUTES = [Route(START_PATH, start, methods=["POST"]), Route(END_PATH, end, methods=["POST"])]


def start_script(code: str) -> str:
    """The page's part of a sign-in: post the one-time code; the answer sets the cookie."""
    return _post_script(START_PATH, code)


def end_script() -> str:
    """The page's part of a sign-out: ask for the cookie to be cleared."""
    return _post_script(END_PATH, "")


def _post_script(path: str, body: str) -> str:
    return (
        f"<script>fetch({json.dumps(path)}, {{method: 'POST', body: {json.dumps(body)},"
        " credentials: 'same-origin', cache: 'no-store'});</script>"
    )
