"""The searches visitors made, as they were answered, and their relevance votes on the results:
the record relevance evaluation starts from.

Every function takes an explicit ``Session``. Functions that write commit their own transaction:
all of it, or (if they raise) none of it, and the session stays usable either way.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.storage.orm import Base, UTCDateTime, committing, utcnow

VOTES = (-1, 1)


class Search(Base):
    """A query a visitor made and what it returned: the record relevance evaluation starts from.

    The version is kept by name, not by key, so deleting a version keeps its searches and votes.
    """

    __tablename__ = "searches"
    __table_args__ = (Index(None, "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    visitor: Mapped[str] = mapped_column(String(64))
    version_name: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    image_hash: Mapped[str | None] = mapped_column(String(128))
    weights: Mapped[dict[str, float]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)
    result_ids: Mapped[list[str]] = mapped_column(JSON)


class RelevanceVote(Base):
    """A visitor's judgement of one result of a search: +1 relevant, -1 not (the latest counts)."""

    __tablename__ = "relevance_votes"
    __table_args__ = (
        UniqueConstraint("search_id", "doc_id"),
        CheckConstraint(f"vote IN {VOTES}", name="up_or_down"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    doc_id: Mapped[str] = mapped_column(String)
    vote: Mapped[int] = mapped_column(Integer)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --------------------------------------------------------------------------------------------------
# Searches and relevance votes
# --------------------------------------------------------------------------------------------------


def record_search(
    session: Session,
    *,
    visitor: str,
    version_name: str,
    text: str,
    image_hash: str | None,
    weights: dict[str, float],
    latency_ms: float,
    result_ids: list[str],
) -> Search:
    """Store a search as it was answered; votes on its results refer to it."""
    search = Search(
        visitor=visitor,
        version_name=version_name,
        text=text,
        image_hash=image_hash,
        weights=dict(weights),
        latency_ms=float(latency_ms),
        result_ids=list(result_ids),
    )
    with committing(session):
        session.add(search)
    return search


# Why a vote is refused, in English.
VOTE_PROBLEMS = {
    "not_a_vote": "a vote is +1 or -1, not {vote!r}",
    "unknown_search": "there is no search with id {search_id}",
    "not_a_result": "document {doc_id!r} was not a result of search {search_id}",
}


class VoteRefused(ValueError):
    """A vote that does not fit: not +1/-1, an unknown search, or a document the search did not
    return. ``reason`` (a key of ``VOTE_PROBLEMS``) and ``details`` let an interface say it in
    another language."""

    def __init__(self, reason: str, **details: object) -> None:
        self.reason, self.details = reason, details
        super().__init__(VOTE_PROBLEMS[reason].format(**details))


def record_vote(session: Session, search_id: int, doc_id: str, vote: int) -> None:
    """Record +1 or -1 for a result of a search; voting again replaces the earlier vote.

    Raises ``VoteRefused`` (and changes nothing) for another vote value, an unknown search, or a
    document that was not among that search's results.
    """
    if vote not in VOTES:
        raise VoteRefused("not_a_vote", vote=vote)
    search = session.get(Search, search_id)
    if search is None:
        raise VoteRefused("unknown_search", search_id=search_id)
    if doc_id not in search.result_ids:
        raise VoteRefused("not_a_result", doc_id=doc_id, search_id=search_id)
    with committing(session):
        existing = session.scalar(
            select(RelevanceVote).where(
                RelevanceVote.search_id == search_id, RelevanceVote.doc_id == doc_id
            )
        )
        if existing is None:
            session.add(RelevanceVote(search_id=search_id, doc_id=doc_id, vote=vote))
        else:
            existing.vote = vote
            existing.voted_at = utcnow()


def search_votes(session: Session, search_id: int) -> dict[str, int]:
    """Document id -> the latest vote on it, for one search."""
    rows = session.execute(
        select(RelevanceVote.doc_id, RelevanceVote.vote).where(RelevanceVote.search_id == search_id)
    )
    return {doc_id: vote for doc_id, vote in rows}
