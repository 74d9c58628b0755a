"""The rooms import downward only, read from the source: given every import statement of the
project (inside functions too), when each is placed in its room, then no room reaches one it may
not.

``core``'s rooms say what runs where. The web process (``streamlit_app``, ``admin``, ``interface``)
loads serving and storage, never building, measurement or BigARTM; serving never loads
building or measurement; only the command line loads measurement. ``tests/test_lean_web.py`` checks
the same at run time (BigARTM is not loaded by any page).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.settings import REPO_ROOT

BASE = "base"  # core itself, core.settings, core.weights, core.durable: importable by every room

MAY_IMPORT: dict[str, set[str]] = {
    BASE: {BASE},
    "storage": {BASE, "reading", "storage"},
    "reading": {BASE, "reading"},
    "serving": {BASE, "storage", "reading", "serving"},
    "building": {BASE, "storage", "reading", "serving", "building", "artm"},
    "measurement": {BASE, "storage", "reading", "serving", "building", "measurement"},
    "cli": {BASE, "storage", "reading", "serving", "building", "measurement", "cli"},
    "interface": {BASE, "storage", "reading", "serving", "interface", "streamlit"},
    "admin": {BASE, "storage", "reading", "serving", "interface", "admin", "streamlit"},
    "streamlit_app": {
        BASE,
        *("storage", "reading", "serving", "interface", "admin", "streamlit_app", "streamlit"),
    },
}
CORE_ROOMS = ("storage", "reading", "serving", "building", "measurement")
SOURCE_PACKAGES = ("core", "admin", "interface", "streamlit_app")


def room_of(module: str) -> str | None:
    """The room a dotted module name belongs to; None for what the rules don't govern (the
    standard library and third-party packages other than BigARTM and Streamlit)."""
    parts = module.split(".")
    if parts[0] == "core":
        if len(parts) == 1 or parts[1] in ("settings", "weights", "durable"):
            return BASE
        if parts[1] in CORE_ROOMS:
            return parts[1]
        if parts[1] in ("cli", "__main__"):
            return "cli"
        raise AssertionError(f"{module} is in no room of core: give it one in {CORE_ROOMS}")
    if parts[0] in ("admin", "interface", "streamlit_app", "artm", "streamlit"):
        return parts[0]
    return None


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) for every import in ``source``, however deep: ``from a import b`` counts as
    ``a.b``, since ``b`` may be a module of package ``a``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def violations(module: str, source: str) -> list[str]:
    """Each import of ``source`` (the code of ``module``) that goes where its room may not."""
    room = room_of(module)
    found = []
    for line, target in imported_modules(source):
        target_room = room_of(target)
        if target_room is not None and target_room not in MAY_IMPORT[room]:
            found.append(f"{module}:{line} imports {target} ({room} may not import {target_room})")
    return found


def project_modules() -> list[tuple[str, Path]]:
    modules = []
    for package in SOURCE_PACKAGES:
        for path in sorted((REPO_ROOT / package).rglob("*.py")):
            parts = path.relative_to(REPO_ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules.append((".".join(parts), path))
    return modules


def test_every_room_imports_only_the_rooms_below_it():
    found = [
        problem
        for module, path in project_modules()
        for problem in violations(module, path.read_text())
    ]
    assert found == []


def test_every_module_of_core_is_in_a_room():
    for module, _ in project_modules():
        room_of(module)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("admin.pages.versions", "from core.building.pipeline import build"),
        ("interface.state", "def later():\n    import core.measurement.eval"),
        ("core.serving.engine", "from core.measurement import concepts"),
        ("core.serving.service", "from core.building.artm_loader import artm"),
        ("core.storage.store", "from core.serving.model import Phi"),
        ("core.reading.text", "import streamlit as st"),
        ("core.building.pipeline", "from core.cli import main"),
        ("streamlit_app.app", "import artm"),
        ("interface.widgets", "from admin import ui"),
    ],
)
def test_the_scan_finds_an_import_that_goes_up_or_sideways(module, source):
    assert violations(module, source)


def test_the_scan_leaves_downward_imports_alone():
    source = (
        "from core.storage import store\nfrom core.serving.service import Service\n"
        "import numpy as np\nfrom core.settings import load_settings\n"
    )
    assert violations("admin.ui", source) == []
