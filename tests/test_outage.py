"""The metadata database going away and coming back: a real PostgreSQL server is stopped and
started again under a running service and a running app (no restart of either)."""

from __future__ import annotations

import logging
import re

import pytest
from sqlalchemy import select

from admin import auth
from admin.ui import TOKEN_KEY
from core.serving.answers import SearchRequest
from core.serving.engine import Query
from core.serving.service import Service
from core.settings import Settings
from core.storage import database, searches
from core.storage.outage import (
    DatabaseUnavailable,
    PendingSearch,
    PendingVote,
    WriteBehind,
    guarded,
)
from interface.messages import EN
from tests.postgres import PostgresServer
from tests.test_admin_app import PASSWORD, token_of
from tests.test_app import open_app, search

on_postgresql = pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)


def stored_search(url: str, search_id: int) -> tuple[str, dict[str, int]]:
    """The text of a stored search and the votes on its results."""
    with database.open_database(url)() as session:
        text = session.scalar(select(searches.Search.text).where(searches.Search.id == search_id))
        return text, searches.search_votes(session, search_id)


@on_postgresql
def test_given_a_service_that_served_when_the_database_stops_then_search_goes_on_and_writes_wait(
    deployment: Settings, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(deployment)
    before = service.search(SearchRequest(Query(text="bird"), k=3), visitor="visitor")
    first, second = (hit.id for hit in before.hits[:2])

    with postgres_server.stopped():
        during = service.search(SearchRequest(Query(text="bird"), k=3), visitor="visitor")
        kept = [
            service.vote(before.search_id, first, 1),
            service.vote(before.search_id, first, -1),  # changed their mind: the latest counts
            service.vote(during.search_id, second, 1),
            service.vote(before.search_id + 1000, first, 1),  # a search the database never saw
        ]
        assert service.active().database_down
        assert len(service.writes) == 5
        with pytest.raises(DatabaseUnavailable, match="not reachable right now"):
            service.topics()  # needs fresh data

    with caplog.at_level(logging.WARNING, logger="core.storage.outage"):
        assert not service.active().database_down  # the next call works: no restart

    assert kept == [False] * 4
    assert [hit.id for hit in during.hits] == [hit.id for hit in before.hits]
    assert during.search_id < 0 and len(service.writes) == 0
    during_id = service.writes.stored_id(during.search_id)
    assert during_id is not None and during_id > before.search_id
    assert stored_search(deployment.database_url, before.search_id) == ("bird", {first: -1})
    assert stored_search(deployment.database_url, during_id) == ("bird", {second: 1})
    assert "there is no search with id" in caplog.text
    assert service.vote(during.search_id, first, 1) is True  # its provisional id still works
    assert service.topics()


@on_postgresql
def test_given_a_service_that_never_read_the_database_when_it_is_down_then_it_says_so(
    deployment: Settings, postgres_server: PostgresServer
) -> None:
    service = Service(deployment)

    with postgres_server.stopped():
        with pytest.raises(DatabaseUnavailable, match="not reachable right now"):
            service.active()
        with pytest.raises(DatabaseUnavailable, match="not reachable right now"):
            Service(deployment)

    assert service.active().version.name == "v0001"


def test_when_the_waiting_queue_is_full_then_a_search_goes_unrecorded_and_a_vote_is_refused(
    postgres_server: PostgresServer,
) -> None:
    writes = WriteBehind(guarded(database.open_database(postgres_server.create_database())), 2)
    search = PendingSearch(writes.new_provisional_id(), "v", "v0001", "cats", None, {}, 1.0, ["a"])

    with postgres_server.stopped():
        kept = [writes.record_search(search), writes.record_vote(PendingVote(-1, "a", 1))]
        with pytest.raises(DatabaseUnavailable, match="2 searches and votes are already waiting"):
            writes.record_vote(PendingVote(-1, "a", -1))
        unrecorded = writes.record_search(search)

    assert kept == [search.provisional_id, False] and unrecorded is None
    assert writes.flush() == 2
    assert writes.stored_id(search.provisional_id) == 1


@on_postgresql
def test_given_the_app_when_the_database_stops_then_pages_say_so_and_recover_without_restart(
    deployment: Settings, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    app = search(open_app(monkeypatch, deployment.data_dir), "bird")
    before = app.session_state["answer"][1]

    with postgres_server.stopped():
        app.feedback[0].set_value(1).run()
        voted = [warning.value for warning in app.warning], [info.value for info in app.info]
        search(app, "horse")
        during = app.session_state["answer"][1]
        searched = [caption.value for caption in app.caption]
        app.feedback[1].set_value(0).run()
        app.switch_page("views/topics.py").run()
        topics = [error.value for error in app.error]
        assert not app.exception

    app.switch_page("views/search.py").run()

    assert voted == ([EN["serving_from_memory"]], [EN["vote_kept"]])
    assert any("search saved once the database is back" in caption for caption in searched)
    assert "not reachable right now" in topics[0]
    assert not app.exception and not app.warning
    (during_id,) = (int(m[1]) for c in app.caption if (m := re.search(r"search #(\d+)", c.value)))
    assert stored_search(deployment.database_url, before.search_id) == (
        "bird",
        {before.hits[0].id: 1},
    )
    assert stored_search(deployment.database_url, during_id) == ("horse", {during.hits[1].id: -1})


@on_postgresql
def test_given_a_signed_in_admin_when_the_database_stops_then_the_admin_menu_waits_for_it(
    deployment: Settings, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Roles cannot be checked without the database: the admin pages leave the menu (the
    visitor lands on the public search, served from memory) and come back with it."""
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    sessions = database.open_database(deployment.database_url)
    with sessions() as session:
        auth.add_user(session, "anna", "admin", PASSWORD, by="test")
        session.commit()
    app = open_app(monkeypatch, deployment.data_dir)
    app.session_state[TOKEN_KEY] = token_of(sessions, "anna")
    app.run().switch_page("../admin/pages/weights.py").run()
    assert app.title[0].value == "Modality weights"

    with postgres_server.stopped():
        app.run()
        during = app.title[0].value, [warning.value for warning in app.warning]
        assert not app.exception

    app.run().switch_page("../admin/pages/weights.py").run()
    assert during == ("Search photos by meaning", [EN["serving_from_memory"]])
    assert not app.exception and app.title[0].value == "Modality weights"
