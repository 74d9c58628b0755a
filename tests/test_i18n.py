"""The interface's two languages: complete tables, right plural forms, no text outside them."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import string
from pathlib import Path

import pytest

import admin
from admin.junk_filter import LABELS
from admin.topics import SORT_KEYS
from core.settings import REPO_ROOT
from core.storage.admin_tables import ROLES
from core.storage.store import TOPIC_STATUSES, VERSION_STATUSES
from interface.i18n import PLURAL_FORMS, language_of, plural_form
from interface.messages import EN, MESSAGES, RU

UI_SOURCES = sorted(
    [
        *(REPO_ROOT / "streamlit_app").rglob("*.py"),
        *(REPO_ROOT / "interface").rglob("*.py"),
        *(REPO_ROOT / "admin" / "pages").glob("*.py"),
        REPO_ROOT / "admin" / "ui.py",
        REPO_ROOT / "admin" / "navigation.py",
        REPO_ROOT / "admin" / "audit_sentences.py",
    ]
)
# Streamlit calls whose first argument is text a visitor reads.
TEXT_CALLS = {
    "title", "header", "subheader", "caption", "markdown", "write", "text", "info", "warning",
    "error", "success", "toast", "button", "form_submit_button", "text_input", "text_area",
    "number_input", "selectbox", "radio", "checkbox", "toggle", "slider", "select_slider",
    "file_uploader", "expander", "popover", "metric", "spinner", "tabs", "progress",
}  # fmt: skip


def placeholders(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def entries(table: dict) -> dict[str, str]:
    """Every template of a table, plural forms as ``key.form``."""
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update({f"{key}.{form}": text for form, text in value.items()})
        else:
            flat[key] = value
    return flat


def test_both_languages_have_the_same_keys():
    assert sorted(EN) == sorted(RU)


def test_every_message_has_the_same_placeholders_in_both_languages():
    for key in EN:
        english = EN[key] if isinstance(EN[key], str) else next(iter(EN[key].values()))
        for text in [RU[key]] if isinstance(RU[key], str) else RU[key].values():
            assert placeholders(text) == placeholders(english), key


def test_plural_messages_have_exactly_the_forms_of_their_language():
    for language, table in MESSAGES.items():
        for key, value in table.items():
            if isinstance(value, dict):
                assert tuple(value) == PLURAL_FORMS[language], (language, key)
                assert all("n" in placeholders(text) for text in value.values()), (language, key)
            else:
                assert isinstance(EN[key], str), (language, key)


@pytest.mark.parametrize(
    ("n", "form"),
    [(1, "one"), (2, "few"), (4, "few"), (5, "many"), (11, "many"), (12, "many"), (14, "many"),
     (21, "one"), (22, "few"), (25, "many"), (111, "many"), (0, "many"), (101, "one")],
)  # fmt: skip
def test_russian_counts_take_one_of_three_forms(n, form):
    assert plural_form("ru", n) == form


def test_english_counts_take_one_of_two_forms():
    assert [plural_form("en", n) for n in (0, 1, 2, 21)] == ["other", "one", "other", "other"]


@pytest.mark.parametrize(
    ("locale", "language"),
    [("ru-RU", "ru"), ("ru", "ru"), ("en-GB", "en"), ("de-DE,ru;q=0.8,en;q=0.5", "ru"),
     ("fr-FR", "en"), (None, "en"), ("", "en")],
)  # fmt: skip
def test_the_default_language_follows_the_browsers(locale, language):
    assert language_of(locale) == language


def calls(path: Path) -> list[ast.Call]:
    return [node for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)]


def name_of(call: ast.Call) -> str:
    function = call.func
    return function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")


def test_every_message_a_page_asks_for_is_in_the_tables():
    used = set()
    for path in UI_SOURCES:
        for call in calls(path):
            if name_of(call) in ("t", "plural") and call.args:
                first = call.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    used.add(first.value)
    assert used and used <= set(EN), sorted(used - set(EN))


def test_no_page_writes_text_of_its_own():
    """Text shown through Streamlit comes from ``t``/``plural``, or from data, never a literal."""
    found = []
    for path in UI_SOURCES:
        for call in calls(path):
            if name_of(call) not in TEXT_CALLS or not call.args:
                continue
            first = call.args[0]
            literals = (
                [first.value]
                if isinstance(first, ast.Constant) and isinstance(first.value, str)
                else [
                    part.value
                    for part in getattr(first, "values", [])
                    if isinstance(part, ast.Constant) and isinstance(part.value, str)
                ]
                if isinstance(first, ast.JoinedStr)
                else []
            )
            if any(any(ch.isalpha() for ch in text) for text in literals):
                found.append(f"{path.relative_to(REPO_ROOT)}:{call.lineno}")
    assert not found


def test_values_shown_by_name_have_a_message_for_every_value():
    actions = {
        name
        for module in pkgutil.iter_modules(admin.__path__)
        if not module.ispkg and module.name != "__main__"  # the command line parses argv
        for name, member in vars(importlib.import_module(f"admin.{module.name}")).items()
        if callable(member) and hasattr(member, "permission")
    }
    needed = [
        *(f"action_{name}" for name in actions),
        *(f"topic_{status}" for status in TOPIC_STATUSES),
        *(f"status_{status}" for status in VERSION_STATUSES),
        *(f"role_{role}" for role in ROLES),
        *(f"sort_{key}" for key in SORT_KEYS),
        *(f"label_{label}" for label in LABELS),
    ]
    assert not [key for key in needed if key not in EN]
