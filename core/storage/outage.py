"""Riding out an outage of the metadata database without losing what visitors did meanwhile.

Searches and relevance votes that cannot be written while the database is unreachable wait in a
bounded in-memory queue (``MAX_PENDING`` writes, oldest first: about 10 MB with a page of results
per search, 70 MB at most) and are written in order as soon as the database answers again.
A search waiting there has a provisional id (a
negative number) that votes on its results refer to; once it is written, the provisional id
resolves to the stored one. What is lost, and only then: a search made while the queue is full
goes unrecorded (it is still answered, but cannot be voted on), a vote made while it is full is
refused with a message saying so, and writes still waiting when the process ends are gone.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from core.storage import searches

log = logging.getLogger(__name__)

MAX_PENDING = 10_000
DATABASE_DOWN = (
    "The metadata database is not reachable right now. Try again in a moment: this page "
    "recovers by itself once the database is back."
)


class DatabaseUnavailable(RuntimeError):
    """The metadata database did not answer (stopped, restarting, network down)."""

    def __init__(self, waiting: int | None = None) -> None:
        """``waiting``: how many searches and votes already wait for it, when that many is
        the limit and what was asked now could not be kept for later."""
        self.waiting = waiting
        if waiting is None:
            super().__init__(DATABASE_DOWN)
        else:
            super().__init__(
                f"The metadata database is not reachable right now and {waiting} searches and "
                "votes are already waiting for it, so this was not recorded. Try again in a moment."
            )


@contextmanager
def translated_outage() -> Iterator[None]:
    """Turn the driver's "cannot reach the database" errors into ``DatabaseUnavailable``."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise DatabaseUnavailable() from error


def guarded(sessions: sessionmaker[Session]) -> Callable[[], AbstractContextManager[Session]]:
    """Sessions whose lost connection raises ``DatabaseUnavailable``."""

    @contextmanager
    def session() -> Iterator[Session]:
        with translated_outage(), sessions() as session:
            yield session

    return session


@dataclass(frozen=True)
class PendingSearch:
    """A search as ``searches.record_search`` takes it, with the id votes use until it is stored."""

    provisional_id: int
    visitor: str
    version_name: str
    text: str
    image_hash: str | None
    weights: dict[str, float]
    latency_ms: float
    result_ids: list[str]


@dataclass(frozen=True)
class PendingVote:
    search_id: int  # stored or provisional
    doc_id: str
    vote: int


class WriteBehind:
    """Writes searches and votes now, or keeps them (at most ``limit``) until the database is
    back; thread-safe, and writes happen in the order they were made."""

    def __init__(
        self,
        sessions: Callable[[], AbstractContextManager[Session]],
        limit: int = MAX_PENDING,
    ) -> None:
        self.limit = limit
        self._sessions = sessions  # each raises DatabaseUnavailable when the database is down
        self._pending: deque[PendingSearch | PendingVote] = deque()
        self._stored: OrderedDict[int, int] = OrderedDict()  # provisional id -> stored id
        self._provisional_ids = itertools.count(-1, -1)
        self._lock = threading.Lock()  # guards the queue, the id map and the id counter
        self._flushing = threading.Lock()  # one flush at a time keeps the writes in order

    def __len__(self) -> int:
        return len(self._pending)

    def new_provisional_id(self) -> int:
        with self._lock:
            return next(self._provisional_ids)

    def record_search(self, search: PendingSearch) -> int | None:
        """The stored search's id; its provisional id if the database is down; None (the search
        goes unrecorded) if ``limit`` writes are already waiting."""
        try:
            stored = self._write_now_or_keep(search)
        except DatabaseUnavailable:
            log.warning("a search made during a database outage was not recorded: queue full")
            return None
        return search.provisional_id if stored is None else stored

    def record_vote(self, vote: PendingVote) -> bool:
        """True once stored, False if it waits for the database. Raises ``ValueError`` for a vote
        that does not fit its search, ``DatabaseUnavailable`` if ``limit`` writes wait."""
        if vote.vote not in searches.VOTES:
            raise searches.VoteRefused("not_a_vote", vote=vote.vote)
        return self._write_now_or_keep(vote) is not None

    def stored_id(self, search_id: int) -> int | None:
        """The stored id of a search (given its stored or provisional id); None while waiting."""
        if search_id > 0:
            return search_id
        return self._stored.get(search_id)

    def flush(self) -> int:
        """Write what waits, oldest first; returns how many were written. Raises
        ``DatabaseUnavailable`` (the rest keep waiting) if the database is still down. A kept
        write the database refuses (a vote that does not fit its search) is logged and dropped.
        """
        if not self._pending:
            return 0
        written = 0
        with self._flushing:
            while self._pending:
                try:
                    self._write(self._pending[0])
                    written += 1
                except ValueError as error:
                    log.warning("dropped a write kept during a database outage: %s", error)
                with self._lock:
                    self._pending.popleft()
        return written

    def _write_now_or_keep(self, item: PendingSearch | PendingVote) -> int | None:
        """Write ``item`` after what waits (the order is kept); the stored id of a search, 1 for a
        vote, or None if it was kept. Raises ``DatabaseUnavailable`` if the queue is full."""
        try:
            self.flush()
            return self._write(item)
        except DatabaseUnavailable:
            with self._lock:
                if len(self._pending) >= self.limit:
                    raise DatabaseUnavailable(waiting=self.limit) from None
                self._pending.append(item)
            return None

    def _write(self, item: PendingSearch | PendingVote) -> int:
        with self._sessions() as session:
            if isinstance(item, PendingVote):
                search_id = self.stored_id(item.search_id)
                if search_id is None:
                    raise searches.VoteRefused("unknown_search", search_id=item.search_id)
                searches.record_vote(session, search_id, item.doc_id, item.vote)
                return 1
            stored = searches.record_search(
                session,
                visitor=item.visitor,
                version_name=item.version_name,
                text=item.text,
                image_hash=item.image_hash,
                weights=item.weights,
                latency_ms=item.latency_ms,
                result_ids=item.result_ids,
            ).id
        with self._lock:
            self._stored[item.provisional_id] = stored
            if len(self._stored) > self.limit:
                self._stored.popitem(last=False)
        return stored
