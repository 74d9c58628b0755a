"""A live collection from the admin panel: an admin uploads photos with their captions and
hashtags (the job worker adds them: ingest needs the image backbone and runs in the building
room, never in the web process), and a moderator takes a document down."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from admin.auth import action, audit_note
from admin.versions import active_or_raise
from core import durable
from core.settings import Settings
from core.storage import collection_changes, jobs
from core.storage.admin_tables import Job, User
from core.storage.job_kinds import AddDocumentsParams

UPLOADS_FILE = "documents.jsonl"


@dataclass(frozen=True)
class NewPhoto:
    """One uploaded photo (its file name and bytes) with the caption and hashtags typed for it
    (``#`` optional, separated by spaces or commas)."""

    name: str
    data: bytes
    caption: str
    hashtags: str = ""


@action("add_documents")
def queue_photos(
    session: Session, user: User, settings: Settings, photos: Sequence[NewPhoto]
) -> Job:
    """Keep ``photos`` durably in a folder of the uploads dir, in the collection format that
    ``build`` and ``add`` import, and queue the job that adds them. Each photo's id is its
    content's, so uploading the same photo twice is recognised; a photo that is no image is
    listed among the refused rows of the job's result."""
    if not photos:
        raise ValueError("choose at least one photo")
    audit_note(photos=len(photos))
    active_or_raise(session)
    folder = settings.uploads_dir / uuid.uuid4().hex
    rows = []
    for number, photo in enumerate(photos, start=1):
        image = f"images/{number:04d}{Path(photo.name).suffix.lower()}"
        durable.write_bytes(folder / image, photo.data)
        rows.append(
            {
                "id": f"upload-{collection_changes.photo_id(photo.data)}",
                "image": image,
                "text": photo.caption.strip(),
                "tags": photo.hashtags.replace("#", " ").strip(),
            }
        )
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    durable.write_text(folder / UPLOADS_FILE, lines)
    job = jobs.submit(session, AddDocumentsParams(str(folder), user.name, len(photos)), user.name)
    audit_note(job=job.id)
    return job


@action("take_down")
def take_down_document(
    session: Session, user: User, settings: Settings, doc_id: str, reason: str
) -> None:
    """Take ``doc_id`` down (``core.storage.collection_changes.take_down``); this action's
    audit entry records who, the document and why."""
    collection_changes.take_down(session, settings, doc_id, user.name, reason, audit=False)
