"""How each job kind runs: one function per kind, found by the worker under the kind's name.

A run function takes the kind's parameters (``core.storage.job_kinds``) and a ``JobContext``,
does the work, reporting progress through the context, and returns the ``JobOutcome`` the worker
records with the job. The worker only looks kinds up in ``RUNNERS``.

Adding a job kind takes two steps: its params class in ``core.storage.job_kinds``, listed in
``JOB_KINDS`` there, and its run function here, listed in ``RUNNERS`` at the bottom of this
module. ``tests/test_job_kinds.py`` holds every kind to this contract.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from core.building import pipeline
from core.building.additions import add_documents, read_additions_into
from core.building.junk_filter import train_junk_filter
from core.serving.model import ModelParams
from core.settings import Settings
from core.storage import store
from core.storage.job_kinds import (
    AddDocumentsParams,
    AddModalityParams,
    BuildParams,
    JobParams,
    JunkFilterParams,
    ReadAdditionsParams,
    ReindexParams,
    RetrainParams,
)


@dataclass(frozen=True)
class JobContext:
    """What a running job may use: the worker's settings and database, and its progress report
    (which raises when the job is cancelled or the worker stops)."""

    settings: Settings
    sessions: sessionmaker[Session]
    progress: pipeline.ProgressCallback


@dataclass(frozen=True)
class JobOutcome:
    """What a finished job leaves: the version it made and a result to store, if any."""

    version_name: str | None = None
    result: dict[str, Any] | None = None


def run_build(params: BuildParams, context: JobContext) -> JobOutcome:
    model = ModelParams.from_dict(params.model) if params.model else None
    collection = Path(params.collection) if params.collection else None
    report = pipeline.build(context.settings, collection, model, progress=context.progress)
    return JobOutcome(
        report.version_name,
        {
            "documents": report.num_documents,
            "training_documents": report.training_documents,
            "skipped_rows": [str(problem) for problem in report.problems],
            "junk_filtered": len(report.junk_filtered),
        },
    )


def derived_outcome(report: pipeline.BuildReport, activated: bool) -> JobOutcome:
    """A derived version's job: the version, whether it went live, and (a retrain) how the
    moderators' reviews of its parent's topics went over to its topics."""
    result: dict[str, Any] = {"activated": activated}
    if report.carried is not None:
        result["reviews"] = report.carried.to_json()
    return JobOutcome(report.version_name, result)


def run_reindex(params: ReindexParams, context: JobContext) -> JobOutcome:
    report = pipeline.reindex_version(
        context.settings, params.parent, params.weights, context.progress, params.activate
    )
    return derived_outcome(report, params.activate)


def run_add_modality(params: AddModalityParams, context: JobContext) -> JobOutcome:
    report = pipeline.add_modality_version(
        context.settings,
        params.parent,
        params.modality,
        {doc_id: Counter(bag) for doc_id, bag in params.tokens.items()},
        params.weight,
        params.retrain,
        context.progress,
        params.activate,
        params.display_name,
    )
    return derived_outcome(report, params.activate)


def run_retrain(params: RetrainParams, context: JobContext) -> JobOutcome:
    report = pipeline.retrain_version(
        context.settings, params.parent, params.changes, context.progress, params.activate
    )
    return derived_outcome(report, params.activate)


def run_add_documents(params: AddDocumentsParams, context: JobContext) -> JobOutcome:
    """The documents added, linked and refused; a folder the admin page uploaded into goes
    once they are in (the collection keeps its own copies of the photos)."""
    folder = Path(params.folder)
    report = add_documents(context.settings, folder, params.added_by, context.progress)
    if folder.resolve().is_relative_to(context.settings.uploads_dir.resolve()):
        shutil.rmtree(folder, ignore_errors=True)
    return JobOutcome(result=report.to_json())


def run_read_additions(params: ReadAdditionsParams, context: JobContext) -> JobOutcome:
    with context.sessions() as session:
        version = store.get_version(session, params.version)
    if version is None:
        raise ValueError(f"there is no version {params.version!r}")
    read = read_additions_into(context.settings, version.id, context.progress)
    return JobOutcome(params.version, {"documents": read})


def run_junk_filter(params: JunkFilterParams, context: JobContext) -> JobOutcome:
    with context.sessions() as session:
        report = train_junk_filter(session, context.progress)
    return JobOutcome(result=report.to_dict())


Runner = Callable[[Any, JobContext], JobOutcome]

RUNNERS: dict[str, Runner] = {
    BuildParams.kind: run_build,
    ReindexParams.kind: run_reindex,
    AddModalityParams.kind: run_add_modality,
    RetrainParams.kind: run_retrain,
    JunkFilterParams.kind: run_junk_filter,
    AddDocumentsParams.kind: run_add_documents,
    ReadAdditionsParams.kind: run_read_additions,
}


def run_job(params: JobParams, context: JobContext) -> JobOutcome:
    """Run a job with the function registered for its kind."""
    if params.kind not in RUNNERS:
        raise ValueError(f"this worker cannot run jobs of kind {params.kind!r}")
    return RUNNERS[params.kind](params, context)
