"""The junk filter (the article's linear SVM): moderators label documents wanted or unwanted,
a linear SVM on their bags of words learns the difference, and the documents it predicts
unwanted are hidden from search until a moderator restores them. A label can be cleared again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from admin.auth import action, audit_note
from admin.versions import active_or_raise
from core.reading.collection import Document
from core.storage import jobs, store
from core.storage.admin_tables import (
    LABELS,
    DocumentLabel,
    HiddenDocument,
    Job,
    User,
    bump_collection_generation,
)
from core.storage.job_kinds import JunkFilterParams
from core.storage.junk_labels import JunkFilterReport, document_labels


def hidden_documents(session: Session) -> dict[str, float | None]:
    """Hidden document id -> the SVM score that hid it."""
    return dict(session.execute(select(HiddenDocument.doc_id, HiddenDocument.score)).all())


def labelled_documents(session: Session, limit: int = 50) -> list[tuple[Document, str]]:
    """Documents of the active version moderators labelled, with the label, newest label first."""
    version = active_or_raise(session)
    documents = {d.id: d for d in store.version_documents(session, version.id)}
    rows = session.execute(
        select(DocumentLabel.doc_id, DocumentLabel.label).order_by(
            DocumentLabel.labeled_at.desc(), DocumentLabel.id.desc()
        )
    )
    return [(documents[doc_id], label) for doc_id, label in rows if doc_id in documents][:limit]


def review_queue(session: Session, limit: int = 20) -> list[Document]:
    """Documents of the active version to judge: hidden ones first, then unlabeled ones."""
    version = active_or_raise(session)
    labeled, hidden = document_labels(session), hidden_documents(session)
    documents = [d for d in store.version_documents(session, version.id) if d.id not in labeled]
    documents.sort(key=lambda d: d.id not in hidden)
    return documents[:limit]


@action("label_documents")
def label_document(session: Session, user: User, doc_id: str, label: str) -> None:
    """Label a document; labelling a hidden document wanted restores it to search."""
    if label not in LABELS:
        raise ValueError(f"a label is one of {LABELS}, not {label!r}")
    existing = session.scalar(select(DocumentLabel).where(DocumentLabel.doc_id == doc_id))
    audit_note(**{"from": existing.label if existing else None})
    if existing is None:
        session.add(DocumentLabel(doc_id=doc_id, label=label, labeled_by=user.name))
    else:
        existing.label, existing.labeled_by, existing.labeled_at = (
            label,
            user.name,
            datetime.now(UTC),
        )
    if label == "wanted":
        removed = session.execute(delete(HiddenDocument).where(HiddenDocument.doc_id == doc_id))
        if removed.rowcount:
            bump_collection_generation(session)


@action("label_documents")
def clear_document_label(session: Session, user: User, doc_id: str) -> None:
    """Take a document's label back: it is unlabelled again (and in the review queue). A
    document the filter hid stays hidden."""
    existing = session.scalar(select(DocumentLabel).where(DocumentLabel.doc_id == doc_id))
    if existing is None:
        raise ValueError(f"document {doc_id} has no label")
    audit_note(**{"from": existing.label})
    session.delete(existing)


@action("junk_filter")
def start_junk_filter_training(session: Session, user: User) -> Job:
    """Queue the SVM's training on the labeled documents of the active version; the worker
    stores its report (cross-validated precision and recall, what it would hide) with the job."""
    active_or_raise(session)
    job = jobs.submit(session, JunkFilterParams(), user.name)
    audit_note(job=job.id)
    return job


def latest_junk_filter_report(session: Session) -> JunkFilterReport | None:
    """The report of the newest junk filter training that finished."""
    job = session.scalar(
        select(Job)
        .where(Job.kind == JunkFilterParams.kind, Job.status == "done")
        .order_by(Job.id.desc())
        .limit(1)
    )
    return JunkFilterReport.from_dict(job.result) if job is not None else None


@action("junk_filter")
def apply_junk_filter(session: Session, user: User, report: JunkFilterReport) -> int:
    """Hide exactly the documents the report predicts unwanted (replacing any earlier filter);
    returns how many."""
    before = len(hidden_documents(session))
    audit_note(report=len(report.predicted_unwanted), hidden_before=before)
    session.execute(delete(HiddenDocument))
    session.add_all(
        HiddenDocument(doc_id=doc_id, score=score)
        for doc_id, score in report.predicted_unwanted.items()
    )
    bump_collection_generation(session)
    return len(report.predicted_unwanted)


@action("junk_filter")
def unhide_all(session: Session, user: User) -> None:
    """Switch the filter off: every document is searchable again (labels are kept)."""
    audit_note(hidden_before=len(hidden_documents(session)))
    session.execute(delete(HiddenDocument))
    bump_collection_generation(session)
