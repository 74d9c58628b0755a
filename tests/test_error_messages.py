"""Errors that pages show are told in the visitor's language: every named error from core and
admin that can reach a page has a message in both tables, for each of its reasons."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from datetime import UTC, datetime

import pytest

import admin
import core
from core.reading.images import IMAGE_PROBLEMS, ImageError, load_image
from core.serving.answers import UnknownDocument
from core.serving.inference import NothingRecognized
from core.serving.service import NoActiveModel
from core.storage.admin_tables import PermissionDenied, SignInError
from core.storage.modality_names import MissingDisplayName
from core.storage.outage import DatabaseUnavailable
from core.storage.searches import VOTE_PROBLEMS, VoteRefused
from interface.errors import ERROR_MESSAGES, error_message
from interface.messages import MESSAGES
from tests.test_i18n import UI_SOURCES

# One error of every kind and reason a page can show.
SHOWN = [
    ImageError("unreadable", None, cause="Permission denied"),
    ImageError("file_too_large", None, size_mb=31.5, limit_mb=30.0),
    ImageError("empty", None),
    ImageError("too_many_pixels", None, width=10_000, height=6_000, found=60.0, megapixels=50.0),
    ImageError("far_too_large", None, cause="decompression bomb"),
    ImageError("not_an_image", None),
    ImageError("damaged", None, cause="broken data stream"),
    VoteRefused("not_a_vote", vote=0),
    VoteRefused("unknown_search", search_id=-3),
    VoteRefused("not_a_result", doc_id="tux-cat", search_id=12),
    DatabaseUnavailable(),
    DatabaseUnavailable(waiting=10_000),
    UnknownDocument("tux-cat", "v0002"),
    NothingRecognized({"@text": ["qwertyzzz"]}),
    SignInError(),
    SignInError(datetime(2026, 11, 30, 9, 45, tzinfo=UTC)),
    PermissionDenied("mia", "apply_live_weights", "live_weights"),
    NoActiveModel(),
    MissingDisplayName(),
]
# Named errors that never reach a page, and why.
NOT_SHOWN = {
    "CommandError": "the CLI's own",
    "Stopping": "a worker's shutdown signal",
    "Cancelled": "stops a job's work; the job panel shows the job's status",
    "JobLost": "stops a job's work; the job panel shows the job's status",
    "WorkerRefused": "refuses to start a second worker on SQLite, in the CLI",
    "BuildInProgress": "raised in the worker or the CLI; the job panel shows the job's status",
    "BackboneUnavailable": "the service cannot start without it; the deployer reads the log",
}


def named_errors() -> dict[str, type[Exception]]:
    """Every exception class defined in the core and admin packages and their rooms."""
    found = {}
    for package in (core, admin):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module.name in ("core.__main__", "admin.__main__"):
                continue
            loaded = importlib.import_module(module.name)
            for name, value in inspect.getmembers(loaded, inspect.isclass):
                if issubclass(value, Exception) and value.__module__ == module.name:
                    found[name] = value
    return found


@pytest.mark.parametrize("error", SHOWN, ids=lambda e: f"{type(e).__name__}-{e}"[:60])
@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_error_a_page_can_show_has_a_message_in_both_languages(error, language):
    key, values = error_message(error)

    text = MESSAGES[language][key].format(**values)

    assert text.strip() and "{" not in text
    if language == "ru":
        assert any("а" <= letter <= "я" for letter in text.lower()), text


def test_every_reason_of_an_error_is_among_the_examples():
    assert {e.reason for e in SHOWN if isinstance(e, ImageError)} == set(IMAGE_PROBLEMS)
    assert {e.reason for e in SHOWN if isinstance(e, VoteRefused)} == set(VOTE_PROBLEMS)
    assert {type(e) for e in SHOWN} == set(ERROR_MESSAGES)


def test_every_named_error_either_has_messages_or_never_reaches_a_page():
    shown = {kind.__name__ for kind in ERROR_MESSAGES}

    assert set(named_errors()) == shown | set(NOT_SHOWN)
    assert not shown & set(NOT_SHOWN)


def test_every_error_a_page_catches_by_name_has_messages():
    caught = set()
    for path in UI_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
                caught |= {ast.unparse(name).split(".")[-1] for name in names}
    own = caught - set(dir(builtins))

    assert own and own <= {kind.__name__ for kind in ERROR_MESSAGES}


def test_a_real_refusal_is_told_by_its_reason():
    with pytest.raises(ImageError) as caught:
        load_image(b"<html></html>")

    key, _ = error_message(caught.value)

    assert MESSAGES["ru"][key] == "это не изображение или его формат не поддерживается"
    assert "uploaded image: not an image" in str(caught.value)  # the CLI and logs keep English
