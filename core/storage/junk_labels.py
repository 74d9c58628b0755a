"""Moderators' wanted / unwanted labels and the shape of the junk filter's report, as the
database keeps them: the admin pages read both, the worker (``core.building.junk_filter``)
trains on the labels and stores the report with its job."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.storage.admin_tables import DocumentLabel

MIN_LABELS_PER_CLASS = 5


@dataclass(frozen=True)
class JunkFilterReport:
    """Cross-validated quality of the SVM and what it predicts unwanted (with SVM scores)."""

    wanted: int
    unwanted: int
    precision: float
    recall: float
    predicted_unwanted: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JunkFilterReport:
        return cls(**data)


def document_labels(session: Session) -> dict[str, str]:
    """Document id -> wanted / unwanted."""
    return dict(session.execute(select(DocumentLabel.doc_id, DocumentLabel.label)).all())
