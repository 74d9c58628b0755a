"""The metadata database going away and coming back: a real PostgreSQL server is stopped and
started again under a running service and a running app (no restart of either)."""

from __future__ import annotations

import logging

import pytest

from core import store
from core.engine import Query
from core.service import DatabaseUnavailable, PendingVote, PendingVotes, Service
from core.settings import Settings
from tests.postgres import PostgresServer
from tests.test_app import open_app, search

on_postgresql = pytest.mark.parametrize("deployment", ["postgresql"], indirect=True)


def stored_votes(service: Service, search_id: int) -> dict[str, int]:
    with service.sessions() as session:
        return store.search_votes(session, search_id)


@on_postgresql
def test_given_a_service_when_the_database_stops_then_search_is_refused_and_votes_wait_for_it(
    deployment: Settings, postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    service = Service(deployment)
    result = service.search(Query(text="bird"), k=3, visitor="visitor")
    first, second = (hit.id for hit in result.hits[:2])

    with postgres_server.stopped():
        with pytest.raises(DatabaseUnavailable, match="not reachable right now"):
            service.search(Query(text="bird"), k=3, visitor="visitor")
        kept = [
            service.vote(result.search_id, first, 1),
            service.vote(result.search_id, first, -1),  # changed their mind: the latest counts
            service.vote(result.search_id, second, 1),
            service.vote(result.search_id + 1000, first, 1),  # a search the database never saw
        ]
        assert len(service.pending_votes) == 4

    with caplog.at_level(logging.WARNING, logger="core.service"):
        again = service.search(Query(text="bird"), k=3, visitor="visitor")  # no restart

    assert kept == [False] * 4
    assert [hit.id for hit in again.hits] == [hit.id for hit in result.hits]
    assert len(service.pending_votes) == 0
    assert stored_votes(service, result.search_id) == {first: -1, second: 1}
    assert "there is no search with id" in caplog.text
    assert service.vote(again.search_id, first, 1) is True


def test_when_the_queue_of_waiting_votes_is_full_then_a_further_vote_is_refused_and_says_so() -> (
    None
):
    waiting = PendingVotes(limit=2)
    waiting.add(PendingVote(1, "a", 1))
    waiting.add(PendingVote(1, "b", 1))

    with pytest.raises(DatabaseUnavailable, match="2 votes are already waiting"):
        waiting.add(PendingVote(1, "c", 1))

    with waiting.flushing() as votes:
        assert [vote.doc_id for vote in votes] == ["a", "b"]
    assert len(waiting) == 0


def test_when_writing_a_waiting_vote_fails_then_it_stays_first_in_the_queue() -> None:
    waiting = PendingVotes()
    waiting.add(PendingVote(1, "a", 1))
    waiting.add(PendingVote(1, "b", 1))

    with pytest.raises(DatabaseUnavailable), waiting.flushing() as votes:
        for _ in votes:
            raise DatabaseUnavailable()

    with waiting.flushing() as votes:
        assert [vote.doc_id for vote in votes] == ["a", "b"]


@on_postgresql
def test_given_the_app_when_the_database_stops_then_pages_say_so_and_recover_without_restart(
    deployment: Settings, postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOPICSEARCH_DATABASE_URL", deployment.database_url)
    app = search(open_app(monkeypatch, deployment.data_dir), "bird")
    search_id = app.session_state["answer"][1].search_id

    with postgres_server.stopped():
        app.feedback[0].set_value(1).run()
        search_page = [error.value for error in app.error], [info.value for info in app.info]
        app.switch_page("pages/topics.py").run()
        topics_page = [error.value for error in app.error]
        assert not app.exception

    app.switch_page("pages/search.py").run()

    assert "not reachable right now" in search_page[0][0]
    assert "Your vote is kept" in search_page[1][0]
    assert "not reachable right now" in topics_page[0]
    assert not app.exception and not app.error
    assert any(f"search #{search_id}" in caption.value for caption in app.caption)
    with store.open_database(deployment.database_url)() as session:
        assert list(store.search_votes(session, search_id).values()) == [1]
