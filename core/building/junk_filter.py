"""Training the junk filter (the article's linear SVM) on moderators' labels; the worker runs it
as a job and stores the report with the job. Labelling, hiding and restoring documents are admin
actions (``admin.junk_filter``); the labels and the report's shape, which they share with this
module, are in ``core.storage.junk_labels``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sklearn.feature_extraction import DictVectorizer
from sklearn.metrics import precision_score, recall_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from sqlalchemy.orm import Session

from core.reading.text import TAG, TEXT
from core.serving.version_files import VersionFiles
from core.storage import store
from core.storage.junk_labels import MIN_LABELS_PER_CLASS, JunkFilterReport, document_labels

if TYPE_CHECKING:
    from core.building.pipeline import ProgressCallback


def train_junk_filter(
    session: Session, progress: ProgressCallback | None = None
) -> JunkFilterReport:
    """Fit the SVM on the labeled documents of the active version; report cross-validated
    precision and recall of "unwanted" and the documents it would hide."""
    version = store.active_version(session)
    if version is None:
        raise ValueError("no model version is active: build one with `python -m core build`")
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
    if progress:
        progress("cross-validate", 0, 2)
    features = DictVectorizer().fit_transform(bags)
    svm = LinearSVC(class_weight="balanced")
    folds = StratifiedKFold(n_splits=min(5, wanted, unwanted), shuffle=True, random_state=0)
    predicted = cross_val_predict(svm, features[labeled], y, cv=folds)
    if progress:
        progress("fit", 1, 2)
    scores = svm.fit(features[labeled], y).decision_function(features)
    if progress:
        progress("fit", 2, 2)
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
