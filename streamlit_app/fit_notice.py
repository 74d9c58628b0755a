"""How well a query fits the model, and which hits are weak (``core.serving.fit``), in a page."""

from __future__ import annotations

import streamlit as st

from core.serving.answers import Hit
from core.serving.fit import QueryFit
from interface.i18n import t


def fit_sentence(fit: QueryFit) -> str:
    """One plain sentence, the same on every page: whether the model knows this kind of query
    (words, a photo, both) and what that means for the answers."""
    return t(f"fit_sentence_{'weak' if fit.weak else 'ok'}_{fit.asked_kind}")


def show_fit(fit: QueryFit | None) -> None:
    """The fit sentence: a warning when the query fits the model badly, else one quiet line."""
    if fit is None:
        return
    if fit.weak:
        st.warning(fit_sentence(fit))
    else:
        st.caption(fit_sentence(fit))


def fit_figures(fit: QueryFit) -> str:
    """The figures behind the sentence, for "What the model understood"."""
    return t(
        "fit_figures",
        perplexity=f"{fit.perplexity:.0f}",
        share=f"{fit.share_as_far:.0%}",
        kind=t(f"fit_kind_{fit.kind}"),
        threshold=f"{fit.threshold:.2f}",
    )


def hit_detail(hit: Hit) -> str:
    """A result card's detail line: how strong a match it is (by the score that ranked it, so
    never stronger than a card above), the same photo, the query words it contains."""
    parts = [t(f"strength_{hit.strength}") if hit.strength else ""]
    parts.append(t("same_photo") if hit.same_photo else "")
    if hit.matched:
        parts.append(t("hit_contains", words=", ".join(hit.matched)))
    return "".join(parts).removeprefix(" · ")


def hit_figures(hit: Hit) -> str:
    return t("hit_figures", distance=f"{hit.distance:.3f}", score=f"{hit.score:.3f}")
