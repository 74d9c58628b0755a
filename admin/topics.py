"""Topic review (moderators): find topics by their top terms, then label, classify and annotate.

Topics and their top terms per modality come from the metadata database. Junk topics are hidden
from the public Topics page; labels are shown wherever topics appear.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from admin.auth import action
from admin.versions import active_or_raise
from core import store
from core.admin_tables import User

SORT_KEYS = ("index", "label", "status")


@dataclass(frozen=True)
class TopicRow:
    id: int
    index: int
    label: str
    status: str
    note: str
    terms: dict[str, list[str]]  # modality -> displayed top terms, best first


def review_topics(
    session: Session,
    term: str = "",
    modality: str | None = None,
    status: str | None = None,
    sort: str = "index",
) -> list[TopicRow]:
    """The active version's topics whose label or top terms (in ``modality``, if given) contain
    ``term`` (case-insensitive), optionally of one status, sorted by ``sort``."""
    if sort not in SORT_KEYS:
        raise ValueError(f"sort by one of {SORT_KEYS}, not {sort!r}")
    version = active_or_raise(session)
    needle = term.strip().lower()
    rows = []
    for topic in store.version_topics(session, version.id):
        terms: dict[str, list[str]] = {}
        for t in topic.terms:
            if modality is None or t.modality == modality:
                terms.setdefault(t.modality, []).append(t.display)
        searchable = [topic.label, *(w for words in terms.values() for w in words)]
        if needle and not any(needle in text.lower() for text in searchable):
            continue
        if status is not None and topic.status != status:
            continue
        rows.append(TopicRow(topic.id, topic.index, topic.label, topic.status, topic.note, terms))
    return sorted(rows, key=lambda row: (getattr(row, sort), row.index))


@action("review_topics")
def edit_topic(
    session: Session, user: User, topic_id: int, label: str, status: str, note: str = ""
) -> None:
    """Change a topic's label, status (normal / background / junk) and note."""
    if status not in store.TOPIC_STATUSES:
        raise ValueError(f"a topic status is one of {store.TOPIC_STATUSES}, not {status!r}")
    if not label.strip():
        raise ValueError("a topic needs a non-empty label")
    topic = session.get(store.Topic, topic_id)
    if topic is None:
        raise ValueError(f"there is no topic with id {topic_id}")
    topic.label, topic.status, topic.note = label.strip(), status, note
