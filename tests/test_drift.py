"""When to retrain (issue 22, item 4): given a small real build (``deployment``: the built-in
collection's first 120 documents, farm and world animals, monuments, birds; 10 topics), when
documents are added, then the drift report counts them, measures how they fit the model against
the fit notice's reference, and says whether a retrain is due, and why."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.building.additions import add_documents
from core.serving.drift import RetrainRule, drift_report
from core.serving.service import Service
from core.settings import REPO_ROOT, Settings
from tests.conftest import builtin_rows, copy_collection

LIKE_THE_COLLECTION = range(120, 160)  # fish, insects: animals, as the build's documents are
NEVER_SHOWN = range(230, 360)  # clothes, food, hobbies, household: nothing the build shows


def report_of(settings: Settings, rule: RetrainRule | None = None):
    service = Service(settings)
    active = service.active()
    with service.sessions() as session:
        return drift_report(active, session, rule)


def add_rows(settings: Settings, numbers: range, folder: Path) -> None:
    rows = [builtin_rows()[number] for number in numbers]
    assert add_documents(settings, copy_collection(rows, folder)).added


def test_with_no_additions_no_retrain_is_due(deployment):
    report = report_of(deployment)

    assert report.training_documents == 120 and report.additions == 0
    assert report.bad_fit_share is None and report.batches == []
    assert not report.retrain_due and report.reasons == []
    assert set(report.reference) >= {"words+photo", "photo"}


def test_explore(deployment, tmp_path):
    add_rows(deployment, LIKE_THE_COLLECTION, tmp_path / "like")
    like = report_of(deployment)
    print("LIKE", like.bad_fit_share, like.measured, like.lines()[:12])
    add_rows(deployment, NEVER_SHOWN, tmp_path / "never")
    both = report_of(deployment)
    never = both.fits[like.measured:]
    print("NEVER", sum(f.fit.weak for f in never) / len(never), len(never))
    print("\n".join(both.lines()))
