"""The search page keeps its search in the address, and the weight sliders show the weights the
search used (issue 20, problems 11 and 3), driven headless with AppTest against a real model."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.serving.model import ModelParams
from tests.test_app import open_app, search, slider

GLOBAL = {modality: float(weight) for modality, weight in ModelParams().modality_weights.items()}


@pytest.fixture
def app(monkeypatch, built) -> AppTest:
    return open_app(monkeypatch, built.settings.data_dir)


def used_weights(app: AppTest) -> dict[str, float]:
    """The weights of the search whose results the page shows."""
    return app.session_state["answer"][1].weights


def shown_weights(app: AppTest) -> dict[str, float]:
    return {s.label: s.value for s in app.select_slider}


def as_a_browser_shows_it(app: AppTest, shown: dict[str, object]) -> AppTest:
    """After a run, the sliders as a browser shows them: Streamlit's frontend keeps a slider at
    what the visitor last saw (``shown``, by widget id) unless the app set its value in that run
    (``set_value``); AppTest alone would show the server's value and hide such a split."""
    for element in app.select_slider:
        if not element.proto.set_value and element.id in shown:
            element.set_value(shown[element.id])
    return app


def move(app: AppTest, label: str, value: float) -> AppTest:
    """Move one slider, as in a browser."""
    shown = {s.id: s.value for s in app.select_slider}
    moved = slider(app, label).set_value(value)
    shown[moved.id] = value
    return as_a_browser_shows_it(app.run(), shown)


def click(app: AppTest, label: str) -> AppTest:
    """Click a button, as in a browser."""
    shown = {s.id: s.value for s in app.select_slider}
    next(b for b in app.button if b.label == label).click()
    return as_a_browser_shows_it(app.run(), shown)


def test_a_slider_moved_after_going_back_to_everyones_weights_moves_only_itself(app):
    search(app, "цветы")
    move(app, "Words", 0.0)
    move(app, "Hashtags", 0.1)
    click(app, "Back to everyone's weights")

    move(app, "Picture", 0.01)

    assert not app.exception
    assert shown_weights(app) == {"Hashtags": 1.0, "Words": 1.0, "Picture": 0.01}
    assert not app.warning  # e.g. "nothing is left to search with"
    assert used_weights(app) == {**GLOBAL, "@visual": 0.01}
