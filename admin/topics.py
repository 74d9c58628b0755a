"""Topic review (moderators): find topics by their labels and top terms, then label, classify
and annotate them, one by one or many at once.

Topics and their top terms per modality come from the metadata database. Junk topics are hidden
from the public Topics page; labels are shown wherever topics appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from admin.auth import action, audit_note
from admin.versions import active_or_raise
from core.reading.text import TextProcessor
from core.serving.explain import topic_matches
from core.storage import store
from core.storage.admin_tables import User
from core.storage.store import Topic, TopicTerm

SORT_KEYS = ("index", "label", "status")


@dataclass(frozen=True)
class TopicRow:
    id: int
    index: int
    label: str
    status: str
    note: str
    terms: dict[str, list[tuple[str, str]]]  # modality -> top (term, display), best first


def review_topics(
    session: Session,
    term: str = "",
    modality: str | None = None,
    status: str | None = None,
    sort: str = "index",
    processor: TextProcessor | None = None,
) -> list[TopicRow]:
    """The active version's topics whose label or top terms (in ``modality``, if given) hold
    every word of ``term`` as a whole word or by its lemma / stem (``core.serving.explain``),
    optionally of one status, sorted by ``sort``."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort by one of {SORT_KEYS}, not {sort!r}")
    version = active_or_raise(session)
    rows = []
    terms_of = _topic_terms(session, version.id, modality)
    for topic_id, index, label, topic_status, note in session.execute(
        select(Topic.id, Topic.index, Topic.label, Topic.status, Topic.note).where(
            Topic.version_id == version.id
        )
    ):
        if status is not None and topic_status != status:
            continue
        terms: dict[str, list[str]] = {}
        searchable = [label]
        for term_modality, token, display in terms_of.get(topic_id, ()):
            terms.setdefault(term_modality, []).append((token, display))
            searchable += [display, token]
        if not topic_matches(term, searchable, processor):
            continue
        rows.append(TopicRow(topic_id, index, label, topic_status, note, terms))
    return sorted(rows, key=lambda row: (getattr(row, sort), row.index))


def _topic_terms(
    session: Session, version_id: int, modality: str | None
) -> dict[int, list[tuple[str, str, str]]]:
    """Topic id -> its top terms as (modality, term, display), by modality then rank: read as
    plain rows, several times faster than loading thousands of ORM objects per page view."""
    query = (
        select(TopicTerm.topic_id, TopicTerm.modality, TopicTerm.term, TopicTerm.display)
        .join(Topic)
        .where(Topic.version_id == version_id)
        .order_by(TopicTerm.topic_id, TopicTerm.modality, TopicTerm.rank)
    )
    if modality is not None:
        query = query.where(TopicTerm.modality == modality)
    terms: dict[int, list[tuple[str, str, str]]] = {}
    for topic_id, term_modality, token, display in session.execute(query):
        terms.setdefault(topic_id, []).append((term_modality, token, display))
    return terms


@action("review_topics")
def edit_topic(
    session: Session, user: User, topic_id: int, label: str, status: str, note: str = ""
) -> None:
    """Change a topic's label, status (normal / background / junk) and note; the audit log
    says which of them changed, from what to what."""
    _check_status(status)
    if not label.strip():
        raise ValueError("a topic needs a non-empty label")
    topic = session.get(store.Topic, topic_id)
    if topic is None:
        raise ValueError(f"there is no topic with id {topic_id}")
    version = session.get(store.ModelVersion, topic.version_id)
    audit_note(version=version.name, topic=topic.index)
    for name, value in (("label", label.strip()), ("status", status), ("note", note)):
        if getattr(topic, name) != value:
            audit_note(**{name: {"from": getattr(topic, name), "to": value}})
            setattr(topic, name, value)


@action("review_topics")
def set_topic_statuses(session: Session, user: User, topic_ids: list[int], status: str) -> int:
    """Give many topics of the active version one status at once; returns how many changed."""
    _check_status(status)
    if not topic_ids:
        raise ValueError("choose at least one topic")
    version = active_or_raise(session)
    topics = session.scalars(
        select(store.Topic).where(
            store.Topic.id.in_(topic_ids), store.Topic.version_id == version.id
        )
    ).all()
    if len(topics) != len(set(topic_ids)):
        raise ValueError("some of the chosen topics are not topics of the active version")
    changed = sorted((topic for topic in topics if topic.status != status), key=lambda t: t.index)
    audit_note(version=version.name, changed=[[topic.index, topic.status] for topic in changed])
    for topic in changed:
        topic.status = status
    return len(changed)


def _check_status(status: str) -> None:
    if status not in store.TOPIC_STATUSES:
        raise ValueError(f"a topic status is one of {store.TOPIC_STATUSES}, not {status!r}")
