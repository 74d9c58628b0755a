"""Pieces several pages show: documents, topics, token lists, the weight sliders.

Anything that comes from data (captions, tags, labels, words) is written with ``st.text`` or
escaped before it reaches Markdown, so it is always shown as typed, never rendered.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import streamlit as st

from core.engine import Hit
from core.explain import TokenReading, TopicShare
from core.service import ActiveModel

ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def escape_markdown(text: str) -> str:
    """``text`` for a Markdown label (headers, expanders) that shows every character as typed.

    CommonMark lets any ASCII punctuation be escaped with a backslash; escaping all of it turns
    off emphasis, links, HTML, and Streamlit's ``:color[...]`` directives alike.
    """
    return ASCII_PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def document_card(hit: Hit, detail: str) -> None:
    """Thumbnail, caption and tags as plain text, and one line of ``detail`` (e.g. distance)."""
    if hit.image and Path(hit.image).is_file():
        st.image(hit.image, width="stretch")
    else:
        st.text("(no image)")
    st.text("\n".join([hit.text, " ".join(f"#{tag}" for tag in hit.tags)]).strip())
    st.caption(detail)


def topic_share_text(topics: Sequence[TopicShare], what: str) -> str:
    """One block per topic: label, its share of ``what``, and its top terms per modality."""
    lines = []
    for topic in topics:
        lines.append(f"{topic.label} (#{topic.index}): {topic.share:.0%} of {what}")
        lines.extend(
            f"    {modality}: {', '.join(terms)}" for modality, terms in topic.terms.items()
        )
    return "\n".join(lines)


def token_text(readings: dict[str, list[TokenReading]]) -> str:
    """One line per modality: the tokens in display form, with counts above one."""
    return "\n".join(
        f"{modality}: "
        + ", ".join(
            reading.display if reading.count == 1 else f"{reading.display} ×{reading.count:g}"
            for reading in tokens
        )
        for modality, tokens in readings.items()
    )


def weight_sliders(active: ActiveModel) -> dict[str, float]:
    """This visitor's weight overrides, from sliders in the sidebar.

    A slider starts at the live global weight; only the modalities the visitor moves override
    it, so a weight changed by an administrator still reaches every modality left alone.
    """
    overrides: dict[str, float] = st.session_state.setdefault("weight_overrides", {})

    def remember(modality: str, key: str) -> None:
        overrides[modality] = float(st.session_state[key])

    with st.sidebar:
        st.subheader("Modality weights")
        st.caption("Yours only. 0 switches a modality off for your searches.")
        for modality in active.engine.modalities:
            global_weight = active.weights.get(modality, 0.0)
            value = overrides.get(modality, global_weight)
            key = f"weight:{active.version.name}:{modality}:{global_weight}"
            st.slider(
                modality,
                min_value=0.0,
                max_value=max(1.0, 2 * global_weight, value),
                value=value,
                step=0.001,  # the default @visual weight is 0.005
                format="%.3f",
                key=key,
                on_change=remember,
                args=(modality, key),
                help=f"Global weight {global_weight:g}",
            )
        if overrides and st.button("Back to the global weights"):
            overrides.clear()
            st.rerun()
    return dict(overrides)
