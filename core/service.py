"""Serving the active model version: what the CLI and the Streamlit app call.

Every query checks which version is active and reads its live modality weights from the metadata
database (one cheap query), so an activation or a weight change made elsewhere reaches every
session from its next query on. A newly active version is loaded once, under a lock; queries in
flight keep the engine they started with. Documents the junk filter hid are left out of every
search; the hidden set is re-read only when its generation counter in the database changes.

When the metadata database is unreachable, every call that needs it raises ``DatabaseUnavailable``
(pages show it as an error page) and the next call after it is back simply works: the connection
pool checks a connection before using it. Searching stops during an outage (it needs the active
version and its live weights), but a vote on results already shown is not lost: it waits in a
bounded in-memory queue (``MAX_PENDING_VOTES``, oldest first) and is written as soon as the
database answers again. A vote beyond the bound is refused with a clear message, and votes still
waiting when the process ends are lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from core import store
from core.admin_tables import hidden_document_ids, hidden_generation
from core.engine import Annotation, Query, SearchEngine, SearchResult
from core.settings import Settings
from core.text import TextProcessor
from core.vision import ImageVectorizer, content_hash, load_backbone

log = logging.getLogger(__name__)

MAX_PENDING_VOTES = 10_000  # about 1 MB of memory at most
DATABASE_DOWN = (
    "The metadata database is not reachable right now, so search is paused. "
    "Try again in a moment: this page recovers by itself once the database is back."
)


class NoActiveModel(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "no model has been built yet: run `python -m core build` to build one "
            "from the built-in collection"
        )


class DatabaseUnavailable(RuntimeError):
    """The metadata database did not answer (stopped, restarting, network down)."""

    def __init__(self, message: str = DATABASE_DOWN) -> None:
        super().__init__(message)


@dataclass(frozen=True)
class PendingVote:
    search_id: int
    doc_id: str
    vote: int


class PendingVotes:
    """Votes made while the database was unreachable, oldest first, at most ``limit`` of them."""

    def __init__(self, limit: int = MAX_PENDING_VOTES) -> None:
        self.limit = limit
        self._votes: deque[PendingVote] = deque()
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one writer at a time keeps the votes in order

    def __len__(self) -> int:
        return len(self._votes)

    def add(self, vote: PendingVote) -> None:
        """Keep ``vote``; raises ``DatabaseUnavailable`` saying so if ``limit`` votes wait."""
        with self._lock:
            if len(self._votes) >= self.limit:
                raise DatabaseUnavailable(
                    "The metadata database is not reachable right now and "
                    f"{self.limit} votes are already waiting for it, so this vote was not "
                    "recorded. Try again in a moment."
                )
            self._votes.append(vote)

    @contextmanager
    def flushing(self) -> Iterator[Iterator[PendingVote]]:
        """The waiting votes, oldest first; each is forgotten once the next one is asked for
        (or the block ends), so a vote whose write raised stays queued at the front."""
        with self._flushing:

            def oldest_first() -> Iterator[PendingVote]:
                while self._votes:
                    yield self._votes[0]
                    with self._lock:
                        self._votes.popleft()

            yield oldest_first()


@dataclass(frozen=True)
class ActiveModel:
    """The engine of the active version, its live global weights and which documents search
    may return (None: all) at query time."""

    engine: SearchEngine
    weights: dict[str, float]
    version: store.ModelVersion
    allowed: np.ndarray | None = None
    hidden_generation: int = 0

    @property
    def cache_key(self) -> tuple:
        """Changes whenever an answer could: another version, live weights or hidden set."""
        return self.version.name, tuple(sorted(self.weights.items())), self.hidden_generation


class Service:
    """Thread-safe entry point: one per process (``st.cache_resource`` in the app)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        with _translated_outage():
            self.sessions = store.open_database(settings.database_url)
        self.processor = TextProcessor()
        self.vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
        self._engine: SearchEngine | None = None
        self._lock = threading.Lock()
        self._allowed: tuple[tuple[str, int], np.ndarray | None] | None = None
        self.pending_votes = PendingVotes()

    @contextmanager
    def _database(self) -> Iterator[Session]:
        """A session whose lost connection raises ``DatabaseUnavailable``."""
        with _translated_outage(), self.sessions() as session:
            yield session

    def active(self) -> ActiveModel:
        """The active version's engine (loading it if it changed) and its live weights.

        The database answering is also the moment votes kept during an outage are written.
        """
        with self._database() as session:
            version = store.active_version(session)
            if version is None:
                raise NoActiveModel()
            weights = store.modality_weights(session, version.id)
            generation = hidden_generation(session)
            name, directory = version.name, version.artifact_dir
        self.write_pending_votes()
        engine = self._engine
        if engine is None or engine.version_name != name:
            with self._lock:
                if self._engine is None or self._engine.version_name != name:
                    self._engine = SearchEngine(
                        Path(directory), name, self.processor, self.vectorizer
                    )
                engine = self._engine
        allowed = self._allowed_rows(engine, generation)
        return ActiveModel(engine, weights, version, allowed, generation)

    def _allowed_rows(self, engine: SearchEngine, generation: int) -> np.ndarray | None:
        """Rows of ``engine`` that are not hidden, cached per (version, hidden generation)."""
        cached = self._allowed
        if cached is not None and cached[0] == (engine.version_name, generation):
            return cached[1]
        with self._database() as session:
            hidden = hidden_document_ids(session)
        allowed = (
            np.array([doc["id"] not in hidden for doc in engine.documents]) if hidden else None
        )
        self._allowed = ((engine.version_name, generation), allowed)
        return allowed

    def search(
        self,
        query: Query,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        visitor: str | None = None,
    ) -> SearchResult:
        """Nearest documents; ``weights`` (per visitor) override the live global weights.

        A search made for a ``visitor`` is recorded (query, weights, version, latency, result
        ids) and its ``search_id`` is what the visitor's relevance votes refer to.
        """
        started = time.perf_counter()
        active = self.active()
        result = active.engine.search(query, k, _merged(active.weights, weights), active.allowed)
        result.latency_ms = (time.perf_counter() - started) * 1000
        if visitor is not None:
            with self._database() as session:
                result.search_id = store.record_search(
                    session,
                    visitor=visitor,
                    version_name=result.model_version,
                    text=query.text,
                    image_hash=None if query.image is None else content_hash(query.image),
                    weights=result.weights,
                    latency_ms=result.latency_ms,
                    result_ids=[hit.id for hit in result.hits],
                ).id
        return result

    def vote(self, search_id: int, doc_id: str, vote: int) -> bool:
        """A visitor's +1/-1 on one result of a recorded search (a new vote replaces the old).

        Returns True once it is stored, False if the database is unreachable and the vote waits
        in ``pending_votes`` to be written when it is back. Raises ``ValueError`` for a vote that
        does not fit the search, ``DatabaseUnavailable`` if the queue is full.
        """
        if vote not in store.VOTES:
            raise ValueError(f"a vote is +1 or -1, not {vote!r}")
        pending = PendingVote(search_id, doc_id, vote)
        try:
            self.write_pending_votes()  # earlier votes first: the latest vote must win
            self._write_vote(pending)
        except DatabaseUnavailable:
            self.pending_votes.add(pending)
            return False
        return True

    def write_pending_votes(self) -> int:
        """Write the votes kept during an outage, oldest first; returns how many were written.

        Raises ``DatabaseUnavailable`` (the rest stay queued) if the database is still down. A
        kept vote the database refuses (its search is unknown) is logged and dropped.
        """
        if not self.pending_votes:
            return 0
        written = 0
        with self.pending_votes.flushing() as votes:
            for pending in votes:
                try:
                    self._write_vote(pending)
                    written += 1
                except ValueError as error:
                    log.warning("dropped a vote kept during a database outage: %s", error)
        return written

    def _write_vote(self, pending: PendingVote) -> None:
        with self._database() as session:
            store.record_vote(session, pending.search_id, pending.doc_id, pending.vote)

    def topics(self) -> list[store.Topic]:
        """The active version's topics with their labels, statuses and stored top terms."""
        version_id = self.active().version.id
        with self._database() as session:
            return store.version_topics(session, version_id)

    def topic_labels(self) -> dict[int, str]:
        """Topic index -> label, as moderators last set them, for the active version."""
        version_id = self.active().version.id
        with self._database() as session:
            return store.topic_labels(session, version_id)

    def annotate(
        self,
        query: Query,
        modalities: list[str] | None = None,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        exclude_query_tokens: bool = False,
    ) -> tuple[str, dict[str, list[Annotation]]]:
        """(version name, top-k tokens per modality) for the query."""
        active = self.active()
        annotations = active.engine.annotate(
            query, modalities, k, _merged(active.weights, weights), exclude_query_tokens
        )
        return active.engine.version_name, annotations


@contextmanager
def _translated_outage() -> Iterator[None]:
    """Turn the driver's "cannot reach the database" errors into ``DatabaseUnavailable``."""
    try:
        yield
    except (OperationalError, InterfaceError) as error:
        raise DatabaseUnavailable() from error


def _merged(live: Mapping[str, float], override: Mapping[str, float] | None) -> dict[str, float]:
    return {**live, **(override or {})}
