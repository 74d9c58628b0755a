"""Model versions and live modality weights (data scientists).

Weights set here are the active version's global weights: every session's next query reads them.
Activation and rollback flip the single active-version row in one transaction; a query already
running finishes on the engine it started with. Building and retraining are queued as jobs for a
worker (``python -m core worker``); a version a retrain or a re-index makes waits for an admin's
activation, unless it was asked to go live when done, and ``compare_with_active`` sets it beside
the active one first.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from admin.auth import action, audit_note
from core.reading.text import TextProcessor
from core.serving.engine import SearchEngine
from core.serving.model import ModelParams
from core.serving.service import ActiveModel
from core.serving.topic_matching import CarryOver
from core.serving.version_comparison import VersionComparison, compare_versions, version_figures
from core.storage import collection_changes, jobs, store
from core.storage.admin_tables import Job, User
from core.storage.job_kinds import BuildParams, ReadAdditionsParams, RetrainParams
from core.storage.modality_names import DisplayName
from core.weights import validate_weights


@dataclass(frozen=True)
class VersionRow:
    """A version as the versions page lists it."""

    id: int
    name: str
    status: str
    active: bool
    created_at: datetime
    documents: int
    topics: int
    parent: str | None
    waiting: bool  # ready, newer than the active version and not active: a candidate
    derived: str
    weights: dict[str, float]
    display_names: dict[str, DisplayName]
    scores: dict[str, Any]
    params: dict[str, Any]
    error: str | None


def active_or_raise(session: Session) -> store.ModelVersion:
    version = store.active_version(session)
    if version is None:
        raise ValueError("no model version is active: build one with `python -m core build`")
    return version


def version_rows(session: Session) -> list[VersionRow]:
    """Every version, newest first, with its parameters and final scores."""
    active = store.active_version(session)
    versions = store.list_versions(session)
    names = {version.id: version.name for version in versions}
    return [
        VersionRow(
            id=version.id,
            name=version.name,
            status=version.status,
            active=active is not None and version.id == active.id,
            created_at=version.created_at,
            documents=version.num_documents,
            topics=version.num_topics,
            parent=names.get(version.parent_id) if version.parent_id else None,
            waiting=version.status == "ready" and active is not None and version.id > active.id,
            derived=version.params.get("derived", "build"),
            weights=store.modality_weights(session, version.id),
            display_names=store.modality_display_names(session, version.id),
            scores=_final_scores(version.scores),
            params=version.params,
            error=version.error,
        )
        for version in reversed(versions)
    ]


def _final_scores(scores: Any) -> dict[str, Any]:
    """The last pass's perplexity and sparsity (a build stores one dict per pass)."""
    last = scores[-1] if isinstance(scores, list) and scores else {}
    return {k: round(v, 4) for k, v in last.items() if isinstance(v, float)}


def compare_with_active(
    session: Session, candidate_name: str, active: ActiveModel, processor: TextProcessor
) -> VersionComparison:
    """``candidate_name`` beside the active version (``core.serving.version_comparison``): the
    candidate's engine is loaded for its concept queries (text only: no image backbone), the
    active one's is the one serving."""
    candidate = store.get_version(session, candidate_name)
    if candidate is None or candidate.status != "ready":
        raise ValueError(f"there is no ready version {candidate_name!r}")
    engine = SearchEngine(Path(candidate.artifact_dir), candidate.name, processor, None)
    weights = store.modality_weights(session, candidate.id)
    return compare_versions(
        version_figures(
            active.version.name, active.version.scores, active.engine, active.weights, processor
        ),
        version_figures(candidate.name, candidate.scores, engine, weights, processor),
        active.engine.model.phi,
        engine.model.phi,
    )


def carried_reviews(session: Session, version_name: str) -> CarryOver | None:
    """How moderators' reviews of its parent's topics went over to a retrained version (None:
    not a retrain, or made before reviews were carried)."""
    job = jobs.job_that_made(session, version_name)
    reviews = (job.result or {}).get("reviews") if job is not None else None
    return CarryOver.from_json(reviews) if reviews else None


@action("weights")
def apply_live_weights(session: Session, user: User, weights: dict[str, float]) -> None:
    """Set the active version's global weights; all of them or, on bad input, none."""
    version = active_or_raise(session)
    known = store.modality_weights(session, version.id)
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"version {version.name} has no modality {unknown}; it has {list(known)}")
    validate_weights(weights)
    if not any(weights.get(name, weight) > 0 for name, weight in known.items()):
        raise ValueError("at least one modality needs a weight above 0")
    changed = {
        name: {"from": known[name], "to": float(weight)}
        for name, weight in weights.items()
        if known[name] != weight
    }
    audit_note(version=version.name, weights=changed)
    store.set_modality_weights(session, version.id, weights)


@action("versions")
def activate(session: Session, user: User, version_name: str) -> None:
    """Make ``version_name`` the version every query uses, in place of the active one."""
    version = store.get_version(session, version_name)
    if version is None:
        raise ValueError(f"there is no version {version_name!r}")
    current = store.active_version(session)
    audit_note(**{"from": current.name if current else None, "to": version.name})
    store.activate_version(session, version.id)
    read_missing_additions(session, user, version)


@action("versions")
def roll_back(session: Session, user: User) -> str:
    """Activate the version the active one was made from, else the newest older ready one."""
    current = active_or_raise(session)
    target = _roll_back_version(session, current)
    audit_note(**{"from": current.name, "to": target.name if target else None})
    if target is None:
        raise ValueError(f"there is no ready version before {current.name} to roll back to")
    store.activate_version(session, target.id)
    read_missing_additions(session, user, target)
    return target.name


def read_missing_additions(session: Session, user: User, version: store.ModelVersion) -> None:
    """Queue reading into ``version`` the added documents it lacks, if any: every add reads
    its documents into every ready version, but a version that became ready while an add ran
    may have missed them."""
    if collection_changes.additions_missing_from(session, version.id):
        job = jobs.submit(session, ReadAdditionsParams(version.name), user.name)
        audit_note(job=job.id)


def roll_back_target(session: Session) -> str | None:
    """The version ``roll_back`` would activate, or None (no active version, or none before)."""
    current = store.active_version(session)
    target = _roll_back_version(session, current) if current is not None else None
    return target.name if target is not None else None


def _roll_back_version(session: Session, current: store.ModelVersion) -> store.ModelVersion | None:
    ready = [v for v in store.list_versions(session) if v.status == "ready" and v.id < current.id]
    parent = next((v for v in ready if v.id == current.parent_id), None)
    return parent or (ready[-1] if ready else None)


@action("versions")
def delete_version(session: Session, user: User, version_name: str) -> None:
    """Delete an inactive version from the database, then its files."""
    version = store.get_version(session, version_name)
    if version is None:
        raise ValueError(f"there is no version {version_name!r}")
    directory = store.delete_version(session, version.id)
    if directory:
        shutil.rmtree(directory, ignore_errors=True)


@action("versions")
def start_build(
    session: Session, user: User, collection: str = "", training_sample: int | None = None
) -> Job:
    """Queue a build of a new version from ``collection`` (a folder the worker can read; empty:
    the worker's configured collection) with the default model parameters, phi trained on a
    random sample of ``training_sample`` documents (None: on every document)."""
    model = ModelParams(training_sample=training_sample).to_dict() if training_sample else None
    params = BuildParams(collection=collection.strip() or None, model=model)
    job = jobs.submit(session, params, user.name)
    audit_note(job=job.id)
    return job


@action("versions")
def start_retrain(
    session: Session, user: User, changes: dict[str, Any] | None = None, activate: bool = False
) -> Job:
    """Queue a retraining of the active version's documents, its model parameters updated by
    ``changes`` (e.g. ``{"num_topics": 50}``): a new topic space, which moderators' reviews
    follow where topics match. The new version waits for activation unless ``activate``."""
    parent = active_or_raise(session)
    unknown = sorted(set(changes or {}) - set(parent.params["model"]))
    if unknown:
        raise ValueError(f"unknown model parameter(s) {unknown}")
    params = RetrainParams(parent=parent.name, changes=changes, activate=activate)
    job = jobs.submit(session, params, user.name)
    audit_note(parent=parent.name, job=job.id)
    return job
