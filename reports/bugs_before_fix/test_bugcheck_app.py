"""Issue-13 bug tests from main, run on 3634a48 (before b83ed39). Adapted only where main's
helpers or names did not exist yet: the slider helper reads st.slider (main: st.select_slider),
the Words slider was labelled "@text", the button "Back to the global weights". Assertions are
main's, unchanged."""

import pytest

from tests.test_app import open_app, search


@pytest.fixture
def app(monkeypatch, built):
    return open_app(monkeypatch, built.settings.data_dir)


def slider(app, label: str):
    return next(s for s in app.slider if s.label == label)


def test_back_to_everyones_weights_puts_the_sliders_back(app):
    search(app, "цветы")
    slider(app, "@text").set_value(0.0).run()

    next(b for b in app.button if b.label == "Back to the global weights").click().run()

    assert app.session_state["weight_overrides"] == {}
    assert slider(app, "@text").value == 1.0


def test_a_query_over_the_length_limit_says_so_instead_of_searching(app):
    search(app, "собака " * 500)

    assert not app.exception
    assert "at most 2,000 characters, this one has 3,500" in app.error[0].value
    assert not any("results" in caption.value for caption in app.caption)
