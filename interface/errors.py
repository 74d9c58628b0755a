"""Errors from ``core`` and ``admin`` in the session's language, from one place.

Core raises named errors whose English text serves logs and the CLI; each also carries what went
wrong as fields (a reason, figures, names). ``error_text`` maps an error's class and fields to a
message key of the translation tables, so a page shows any of them in the visitor's language by
calling it. An error without an entry (e.g. a plain ``ValueError`` from an admin action) keeps
its own text.
"""

from __future__ import annotations

from collections.abc import Callable

from core.reading.images import ImageError
from core.serving.answers import UnknownDocument
from core.serving.inference import NothingRecognized
from core.serving.service import NoActiveModel
from core.storage.admin_tables import PermissionDenied, SignInError
from core.storage.modality_names import MissingDisplayName
from core.storage.outage import DatabaseUnavailable
from core.storage.searches import VoteRefused
from interface.i18n import t, t_or

Message = tuple[str, dict[str, object]]  # a message key and the values it is filled with


def _image(error: ImageError) -> Message:
    return f"image_{error.reason}", dict(error.details)


def _vote(error: VoteRefused) -> Message:
    return f"vote_{error.reason}", dict(error.details)


def _database(error: DatabaseUnavailable) -> Message:
    if error.waiting is None:
        return "database_unreachable", {}
    return "database_queue_full", {"waiting": error.waiting}


def _unknown_document(error: UnknownDocument) -> Message:
    return "unknown_document", {"doc_id": error.doc_id, "version": error.version}


def _nothing_recognized(error: NothingRecognized) -> Message:
    words = [token for tokens in error.unknown.values() for token in tokens]
    return "nothing_unknown", {"words": ", ".join(words)}


def _sign_in(error: SignInError) -> Message:
    if error.locked_until is None:
        return "sign_in_wrong", {}
    return "sign_in_locked", {"until": f"{error.locked_until:%H:%M}"}


def _permission(error: PermissionDenied) -> Message:
    action = t_or(f"action_{error.action}", error.action)
    return "permission_denied", {"who": error.who, "action": action, "permission": error.permission}


def _no_model(error: NoActiveModel) -> Message:
    return "no_model", {}


def _unnamed_modality(error: MissingDisplayName) -> Message:
    return "modality_needs_names", {}


ERROR_MESSAGES: dict[type[Exception], Callable[..., Message]] = {
    ImageError: _image,
    VoteRefused: _vote,
    DatabaseUnavailable: _database,
    UnknownDocument: _unknown_document,
    NothingRecognized: _nothing_recognized,
    SignInError: _sign_in,
    PermissionDenied: _permission,
    NoActiveModel: _no_model,
    MissingDisplayName: _unnamed_modality,
}


def error_message(error: BaseException) -> Message | None:
    """The message key and values for ``error`` (by its class, most specific first), or None
    for an error no entry covers."""
    for kind in type(error).__mro__:
        if kind in ERROR_MESSAGES:
            return ERROR_MESSAGES[kind](error)
    return None


# A photo refused for its size: another format would not help, a smaller copy would.
SIZE_PROBLEMS = frozenset({"file_too_large", "too_many_pixels", "far_too_large"})


def photo_refusal(error: ImageError) -> str:
    """Why a visitor's photo was refused, with what to try: a smaller copy for a size problem,
    another format for the rest."""
    key = "photo_too_large" if error.reason in SIZE_PROBLEMS else "photo_unreadable"
    return t(key, error=error_text(error))


def error_text(error: BaseException) -> str:
    """What to tell the person who met ``error``, in this session's language."""
    message = error_message(error)
    if message is None:
        return str(error)
    key, values = message
    return t(key, **values)
