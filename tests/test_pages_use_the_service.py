"""Pages and interface widgets reach the model only through ``core.serving.service``: never the
engine behind it (its internals may change without a page knowing)."""

from __future__ import annotations

import ast

import pytest

from core.settings import REPO_ROOT
from tests.test_i18n import UI_SOURCES


def engine_uses(source: str) -> list[str]:
    """Every place in ``source`` that touches the engine: an attribute named ``engine`` or an
    import of ``core.serving.engine``, as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "engine":
            found.append(f"{node.lineno}: .engine")
        elif isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: import {a.name}"
                for a in node.names
                if a.name == "core.serving.engine"
            ]
        elif isinstance(node, ast.ImportFrom):
            imported = {f"{node.module}.{alias.name}" for alias in node.names}
            if node.module == "core.serving.engine" or "core.serving.engine" in imported:
                found.append(f"{node.lineno}: from {node.module} import ...")
    return found


@pytest.mark.parametrize(
    "source",
    [
        "terms = active.engine.modalities",
        "from core.serving.engine import Query",
        "import core.serving.engine",
        "from core.serving import engine",
        "reading = explain_hit(service().active().engine, result, hit, labels)",
    ],
)
def test_the_scan_finds_every_way_a_page_can_reach_the_engine(source):
    assert engine_uses(source)


def test_the_scan_leaves_service_calls_alone():
    source = "active = service().active()\nshown = [m for m in active.modalities]"
    assert engine_uses(source) == []


@pytest.mark.parametrize("path", UI_SOURCES, ids=lambda path: str(path.relative_to(REPO_ROOT)))
def test_no_page_or_widget_touches_the_engine(path):
    assert engine_uses(path.read_text()) == []
