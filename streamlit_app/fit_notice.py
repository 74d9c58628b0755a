"""How well a query fits the model, and which hits are weak (``core.fit``), in a page."""

from __future__ import annotations

import streamlit as st

from core.engine import Hit
from core.fit import QueryFit


def show_fit(fit: QueryFit | None) -> None:
    """A warning when the query fits the model badly; otherwise one quiet line."""
    if fit is None:
        return
    if fit.weak:
        st.warning(
            "This query fits the model badly: the collection has nothing close to it, so the "
            f"results below are guesses. ({fit.describe()})"
        )
    else:
        st.caption(fit.describe())


def hit_marks(hit: Hit) -> str:
    """Text to add to a result card's detail line: the query words it contains, or 'weak'."""
    if hit.matched:
        return " · contains " + ", ".join(hit.matched)
    return " · weak match" if hit.weak else ""
