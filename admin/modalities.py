"""Adding a modality (the article's two ways) and re-indexing with new weights, as jobs that a
worker (``python -m core worker``) runs.

A new modality comes from a CSV (``id,tokens`` with tokens as ``a b:2 c``) or JSONL file
(``{"id": ..., "tokens": [...] or {token: count}}``), or from an ``@modality`` column already in
the collection. Unknown document ids and malformed rows are reported, not guessed at.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from admin.auth import action, audit_note
from admin.versions import active_or_raise
from core.reading.collection import _parse_tokens, import_collection
from core.storage import jobs, store
from core.storage.admin_tables import Job, User
from core.storage.job_kinds import AddModalityParams, ReindexParams
from core.storage.modality_names import checked_display_name
from core.weights import validate_weights


@dataclass
class ModalityImport:
    """Tokens of the new modality by document id, and what could not be used."""

    tokens: dict[str, Counter[str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def read_modality_file(filename: str, content: bytes, known_ids: set[str]) -> ModalityImport:
    """Parse an uploaded CSV or JSONL file of ``id`` -> tokens."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{filename} is not UTF-8 text: {error}") from None
    suffix = Path(filename).suffix.lower()
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        if not {"id", "tokens"} <= set(reader.fieldnames or []):
            raise ValueError(f"{filename} needs the columns id and tokens")
        rows = list(enumerate(reader, start=2))
    elif suffix == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    rows.append((number, f"not valid JSON: {error.msg}"))
    else:
        raise ValueError(f"the file must be .csv or .jsonl, got {filename}")

    result = ModalityImport()
    for number, row in rows:
        if not isinstance(row, dict):
            reason = row if isinstance(row, str) else "not a JSON object"
            result.problems.append(f"row {number}: {reason}")
            continue
        doc_id = str(row.get("id") or "").strip()
        if doc_id not in known_ids:
            result.problems.append(f"row {number}: unknown document id {doc_id!r}")
            continue
        try:
            tokens = _parse_tokens(row.get("tokens") or [], "tokens")
        except ValueError as error:
            result.problems.append(f"row {number}: {error}")
            continue
        if not +tokens:  # nothing, or only zero counts
            result.problems.append(f"row {number}: no tokens")
            continue
        result.tokens.setdefault(doc_id, Counter()).update(+tokens)
    return result


def modality_from_collection(
    collection: Path, modality: str, known_ids: set[str]
) -> ModalityImport:
    """Tokens of an ``@modality`` column of the version's collection."""
    imported = import_collection(collection, check_images=False)
    result = ModalityImport(problems=[str(problem) for problem in imported.problems])
    for document in imported.documents:
        if document.id in known_ids and document.tokens.get(modality):
            result.tokens[document.id] = Counter(document.tokens[modality])
    if not result.tokens:
        raise ValueError(f"no document of {collection} has tokens of {modality}")
    return result


def extra_modalities(collection: Path, version_modalities: set[str]) -> list[str]:
    """``@modality`` columns of the collection that the version was not trained on."""
    imported = import_collection(collection, check_images=False)
    found = {m for document in imported.documents for m in document.tokens}
    return sorted(found - version_modalities)


def active_document_ids(session: Session) -> set[str]:
    version = active_or_raise(session)
    return {document.id for document in store.version_documents(session, version.id)}


@action("modalities")
def start_add_modality(
    session: Session,
    user: User,
    modality: str,
    tokens: dict[str, Counter[str]],
    weight: float,
    retrain: bool,
    activate: bool = False,
    *,
    name_en: str,
    name_ru: str,
) -> Job:
    """Queue a job making a new version of the active one with ``modality`` added, called
    ``name_en`` / ``name_ru`` (visitors read the name, never the id): only its phi trained
    (``retrain=False``, topic space unchanged) or every matrix retrained. The new version waits
    for activation unless ``activate``."""
    audit_note(tokens=int(sum(sum(bag.values()) for bag in tokens.values())), documents=len(tokens))
    named = checked_display_name(name_en, name_ru)
    validate_weights({modality: weight})
    version = active_or_raise(session)
    audit_note(parent=version.name)
    if modality in store.modality_weights(session, version.id):
        raise ValueError(f"version {version.name} already has modality {modality}")
    params = AddModalityParams(
        parent=version.name,
        modality=modality,
        tokens=tokens,
        weight=weight,
        retrain=retrain,
        activate=activate,
        name_en=named.en,
        name_ru=named.ru,
    )
    job = jobs.submit(session, params, user.name)
    audit_note(job=job.id)
    return job


@action("weights")
def start_reindex(
    session: Session, user: User, weights: dict[str, float], activate: bool = False
) -> Job:
    """Queue a job making a new version whose document thetas use ``weights``; it waits for
    activation unless ``activate``."""
    validate_weights(weights)
    parent = active_or_raise(session).name
    job = jobs.submit(
        session, ReindexParams(parent=parent, weights=weights, activate=activate), user.name
    )
    audit_note(parent=parent, job=job.id)
    return job


@action("versions")
def cancel_job(session: Session, user: User, job_id: int) -> None:
    jobs.request_cancel(session, job_id)
