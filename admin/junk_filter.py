"""The junk filter (the article's linear SVM): moderators label documents wanted or unwanted,
a linear SVM on their bags of words learns the difference, and the documents it predicts
unwanted are hidden from search until a moderator restores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from admin.auth import action
from admin.versions import active_or_raise
from core import store
from core.admin_tables import (
    LABELS,
    DocumentLabel,
    HiddenDocument,
    User,
    bump_hidden_generation,
)
from core.text import TAG, TEXT
from core.version_files import VersionFiles

MIN_LABELS_PER_CLASS = 5


@dataclass(frozen=True)
class JunkFilterReport:
    """Cross-validated quality of the SVM and what it predicts unwanted (with SVM scores)."""

    wanted: int
    unwanted: int
    precision: float
    recall: float
    predicted_unwanted: dict[str, float]


def document_labels(session: Session) -> dict[str, str]:
    """Document id -> wanted / unwanted."""
    return dict(session.execute(select(DocumentLabel.doc_id, DocumentLabel.label)).all())


def hidden_documents(session: Session) -> dict[str, float | None]:
    """Hidden document id -> the SVM score that hid it."""
    return dict(session.execute(select(HiddenDocument.doc_id, HiddenDocument.score)).all())


def review_queue(session: Session, limit: int = 20) -> list[store.DocumentRecord]:
    """Documents of the active version to judge: hidden ones first, then unlabeled ones."""
    version = active_or_raise(session)
    labeled, hidden = document_labels(session), hidden_documents(session)
    documents = [d for d in store.version_documents(session, version.id) if d.doc_id not in labeled]
    documents.sort(key=lambda d: d.doc_id not in hidden)
    return documents[:limit]


@action("label_documents")
def label_document(session: Session, user: User, doc_id: str, label: str) -> None:
    """Label a document; labelling a hidden document wanted restores it to search."""
    if label not in LABELS:
        raise ValueError(f"a label is one of {LABELS}, not {label!r}")
    existing = session.scalar(select(DocumentLabel).where(DocumentLabel.doc_id == doc_id))
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
            bump_hidden_generation(session)


@action("junk_filter")
def train_junk_filter(session: Session, user: User) -> JunkFilterReport:
    """Fit the SVM on the labeled documents of the active version; report cross-validated
    precision and recall of "unwanted" and the documents it would hide."""
    version = active_or_raise(session)
    corpus = VersionFiles(Path(version.artifact_dir)).read_corpus()
    labels = document_labels(session)
    ids = [document.id for document in corpus.documents]
    bags = [
        {f"{m}:{token}": count for m in (TEXT, TAG) for token, count in bag.get(m, {}).items()}
        for bag in corpus.tokens
    ]
    labeled = [row for row, doc_id in enumerate(ids) if doc_id in labels]
    y = np.array([labels[ids[row]] == "unwanted" for row in labeled], dtype=int)
    wanted, unwanted = int((y == 0).sum()), int((y == 1).sum())
    if min(wanted, unwanted) < MIN_LABELS_PER_CLASS:
        raise ValueError(
            f"label at least {MIN_LABELS_PER_CLASS} wanted and {MIN_LABELS_PER_CLASS} unwanted "
            f"documents of this version first (now {wanted} wanted, {unwanted} unwanted)"
        )
    x = DictVectorizer().fit(bags)
    features = x.transform(bags)
    svm = LinearSVC(class_weight="balanced")
    folds = StratifiedKFold(n_splits=min(5, wanted, unwanted), shuffle=True, random_state=0)
    predicted = cross_val_predict(svm, features[labeled], y, cv=folds)
    scores = svm.fit(features[labeled], y).decision_function(features)
    return JunkFilterReport(
        wanted=wanted,
        unwanted=unwanted,
        precision=float(precision_score(y, predicted, zero_division=0)),
        recall=float(recall_score(y, predicted, zero_division=0)),
        predicted_unwanted={
            doc_id: float(score)
            for doc_id, score in zip(ids, scores, strict=True)
            if (score > 0 and labels.get(doc_id) != "wanted") or labels.get(doc_id) == "unwanted"
        },
    )


@action("junk_filter")
def apply_junk_filter(session: Session, user: User, report: JunkFilterReport) -> int:
    """Hide exactly the documents the report predicts unwanted (replacing any earlier filter);
    returns how many."""
    session.execute(delete(HiddenDocument))
    session.add_all(
        HiddenDocument(doc_id=doc_id, score=score)
        for doc_id, score in report.predicted_unwanted.items()
    )
    bump_hidden_generation(session)
    return len(report.predicted_unwanted)


@action("junk_filter")
def unhide_all(session: Session, user: User) -> None:
    """Switch the filter off: every document is searchable again (labels are kept)."""
    session.execute(delete(HiddenDocument))
    bump_hidden_generation(session)
