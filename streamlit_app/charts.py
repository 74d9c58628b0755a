"""Plotly figures of the app. Every label that comes from data is escaped: plotly renders a
subset of HTML in text, and a caption or a topic label must never become markup."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from core.reading.vision import visual_token
from core.serving.answers import Annotation, PhotoReading
from core.serving.explain import TopicShare
from core.storage.modality_names import DisplayName
from interface.i18n import modality_label, t
from interface.widgets import visual_name

BAR_HEIGHT = 26
MIN_HEIGHT = 180


def plain(text: str) -> str:
    """Text plotly shows as written: its HTML tags become visible characters."""
    return html.escape(text, quote=False)


LOG_AXIS = {"type": "log", "dtick": 1, "exponentformat": "power", "showexponent": "all"}


def horizontal_bars(labels: Sequence[str], values: Sequence[float], x_title: str) -> go.Figure:
    """Largest first, top to bottom; one row per entry, even when two labels read the same
    (two ImageNet classes may share a name): rows are positions, labels only their tick text."""
    positions = list(range(len(labels)))[::-1]
    shown = [plain(label) for label in labels]
    figure = go.Figure(
        go.Bar(
            x=list(values),
            y=positions,
            orientation="h",
            customdata=shown,
            hovertemplate="%{customdata}: %{x:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        height=max(MIN_HEIGHT, BAR_HEIGHT * len(labels) + 70),
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=x_title,
        yaxis={"tickmode": "array", "tickvals": positions, "ticktext": shown},
    )
    return figure


def topic_shares(topics: Sequence[TopicShare]) -> go.Figure:
    """A query's topic vector: its largest components, labelled with topic labels."""
    return horizontal_bars(
        [f"{topic.label} (#{topic.index})" for topic in topics],
        [topic.share for topic in topics],
        t("axis_query_share"),
    )


def annotation_probabilities(annotations: Sequence[Annotation]) -> go.Figure:
    return horizontal_bars(
        [annotation.display for annotation in annotations],
        [annotation.p for annotation in annotations],
        t("axis_p_token"),
    )


def visual_word_counts(reading: PhotoReading, top: int = 20) -> go.Figure:
    words = reading.visual_words.most_common(top)
    return horizontal_bars(
        [visual_name(token) for token, _ in words],
        [count for _, count in words],
        t("axis_times_drawn", total=sum(reading.visual_words.values())),
    )


def flattening(reading: PhotoReading, top: int = 100) -> go.Figure:
    """The class distribution before and after log-flattening, classes ranked by the former."""
    order = np.argsort(-reading.probabilities, kind="stable")[:top]
    ranks = np.arange(1, len(order) + 1)
    names = [plain(visual_name(visual_token(int(i)))) for i in order]
    figure = go.Figure()
    for label, values in (
        (t("curve_cnn_output"), reading.probabilities),
        (t("curve_flattened"), reading.flattened),
    ):
        figure.add_trace(
            go.Scatter(
                x=ranks,
                y=values[order],
                mode="lines+markers",
                name=label,
                text=names,
                hovertemplate="%{text}: %{y:.4f}<extra>" + plain(label) + "</extra>",
            )
        )
    figure.update_layout(
        height=360,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=t("axis_class_rank", top=len(order), classes=len(reading.probabilities)),
        yaxis={**LOG_AXIS, "title": t("axis_probability")},
        legend={"orientation": "h", "y": 1.08},
    )
    return figure


def training_curves(
    scores: Sequence[dict],
    modality_names: Mapping[str, DisplayName],
    prefix: str,
    y_title: str,
    log_y: bool = False,
) -> go.Figure:
    """One line per score whose name starts with ``prefix`` (e.g. one per modality, named by
    its display name), by pass."""
    passes = [score["pass"] for score in scores]
    names = sorted({key for score in scores for key in score if key.startswith(prefix)})
    figure = go.Figure()
    for name in names:
        figure.add_trace(
            go.Scatter(
                x=passes,
                y=[score.get(name) for score in scores],
                mode="lines",
                name=plain(curve_name(name, modality_names)),
            )
        )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=t("axis_training_pass"),
        yaxis={**(LOG_AXIS if log_y else {}), "title": y_title},
        legend={"orientation": "h", "y": 1.1},
    )
    return figure


def curve_name(score: str, names: Mapping[str, DisplayName]) -> str:
    """A training score's legend entry: "perplexity@tag" -> "Hashtags", "sparsity_phi@tag" ->
    "phi: Hashtags", "sparsity_theta" -> "theta (documents)"."""
    if score == "sparsity_theta":
        return t("curve_theta")
    modality = score[score.index("@") :] if "@" in score else score
    if score.startswith("sparsity_phi"):
        return t("curve_phi", modality=modality_label(modality, names))
    return modality_label(modality, names)
