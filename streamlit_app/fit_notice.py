"""How well a query fits the model, and which hits are weak (``core.serving.fit``), in a page."""

from __future__ import annotations

import streamlit as st

from core.serving.answers import Hit
from core.serving.fit import QueryFit
from interface.i18n import t


def show_fit(fit: QueryFit | None) -> None:
    """A warning when the query fits the model badly; otherwise one quiet line."""
    if fit is None:
        return
    figures = {
        "perplexity": f"{fit.perplexity:.0f}",
        "share": f"{fit.share_as_far:.0%}",
        "kind": t(f"fit_kind_{fit.kind}"),
        "threshold": f"{fit.threshold:.2f}",
    }
    if fit.weak:
        st.warning(t("fit_weak", **figures))
    else:
        st.caption(t("fit_ok", **figures))


def hit_marks(hit: Hit) -> str:
    """Text to add to a result card's detail line: the query words it contains, or 'weak'."""
    if hit.matched:
        return t("hit_contains", words=", ".join(hit.matched))
    return t("hit_weak") if hit.weak else ""
