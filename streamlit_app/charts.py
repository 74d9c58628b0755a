"""Plotly figures of the app. Every label that comes from data is escaped: plotly renders a
subset of HTML in text, and a caption or a topic label must never become markup."""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from core.engine import Annotation, PhotoReading
from core.explain import TopicShare
from core.vision import visual_display, visual_token

BAR_HEIGHT = 26
MIN_HEIGHT = 180


def plain(text: str) -> str:
    """Text plotly shows as written: its HTML tags become visible characters."""
    return html.escape(text, quote=False)


def horizontal_bars(labels: Sequence[str], values: Sequence[float], x_title: str) -> go.Figure:
    """Largest first, top to bottom; one row per label."""
    figure = go.Figure(
        go.Bar(
            x=list(values)[::-1],
            y=[plain(label) for label in labels][::-1],
            orientation="h",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(MIN_HEIGHT, BAR_HEIGHT * len(labels) + 70),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=x_title,
    )
    return figure


def topic_shares(topics: Sequence[TopicShare]) -> go.Figure:
    """A query's topic vector: its largest components, labelled with topic labels."""
    return horizontal_bars(
        [f"{topic.label} (#{topic.index})" for topic in topics],
        [topic.share for topic in topics],
        "share of the query's topic vector",
    )


def annotation_probabilities(annotations: Sequence[Annotation]) -> go.Figure:
    return horizontal_bars(
        [annotation.display for annotation in annotations],
        [annotation.p for annotation in annotations],
        "p(token | photo)",
    )


def visual_word_counts(reading: PhotoReading, top: int = 20) -> go.Figure:
    words = reading.visual_words.most_common(top)
    return horizontal_bars(
        [visual_display(token) for token, _ in words],
        [count for _, count in words],
        f"times drawn (of {sum(reading.visual_words.values())})",
    )


def flattening(reading: PhotoReading, top: int = 100) -> go.Figure:
    """The class distribution before and after log-flattening, classes ranked by the former."""
    order = np.argsort(-reading.probabilities, kind="stable")[:top]
    ranks = np.arange(1, len(order) + 1)
    names = [plain(visual_display(visual_token(int(i)))) for i in order]
    figure = go.Figure()
    for label, values in (
        ("CNN output", reading.probabilities),
        ("after log-flattening", reading.flattened),
    ):
        figure.add_trace(
            go.Scatter(
                x=ranks,
                y=values[order],
                mode="lines+markers",
                name=label,
                text=names,
                hovertemplate="%{text}: %{y:.4f}<extra>" + label + "</extra>",
            )
        )
    figure.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=f"class rank (top {len(order)} of {len(reading.probabilities)})",
        yaxis_title="probability",
        yaxis_type="log",
        legend={"orientation": "h", "y": 1.08},
    )
    return figure


def training_curves(scores: Sequence[dict], prefix: str, y_title: str) -> go.Figure:
    """One line per score whose name starts with ``prefix`` (e.g. one per modality), by pass."""
    passes = [score["pass"] for score in scores]
    names = sorted({key for score in scores for key in score if key.startswith(prefix)})
    figure = go.Figure()
    for name in names:
        figure.add_trace(
            go.Scatter(
                x=passes,
                y=[score.get(name) for score in scores],
                mode="lines",
                name=plain(name.removeprefix(prefix).lstrip("_") or name),
            )
        )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title="training pass",
        yaxis_title=y_title,
        legend={"orientation": "h", "y": 1.1},
    )
    return figure
