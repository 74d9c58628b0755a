"""Plotly figures of the admin pages."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from core.serving.drift import DriftReport
from interface.i18n import t


def drift_chart(report: DriftReport) -> go.Figure:
    """Each addition's perplexity by when it was added, per kind of document, with the
    perplexity beyond which one of that kind fits badly."""
    figure = go.Figure()
    for kind in dict.fromkeys(one.fit.kind for one in report.fits):
        shown = [one for one in report.fits if one.fit.kind == kind]
        figure.add_trace(
            go.Scatter(
                x=[one.added_at for one in shown],
                y=[one.fit.perplexity for one in shown],
                mode="markers",
                name=t(f"drift_kind_{kind}"),
                marker={"symbol": ["x" if one.fit.weak else "circle" for one in shown]},
            )
        )
        if kind in report.reference:
            bad_fit_above = report.reference[kind]["bad_fit_above"]
            figure.add_hline(y=bad_fit_above, line_dash="dash")
            # On a log axis plotly places an annotation at the exponent, not the value (as a
            # line it places at the value): at the value, a label of 153 stretched the axis to
            # 10^153 and left every point on one line at the bottom.
            figure.add_annotation(
                text=t("drift_bad_fit_above", kind=t(f"drift_kind_{kind}")),
                x=1,
                xref="paper",
                xanchor="right",
                y=math.log10(bad_fit_above),
                yanchor="bottom",
                showarrow=False,
            )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        xaxis_title=t("drift_axis_added"),
        yaxis={"type": "log", "title": t("drift_axis_perplexity")},
    )
    return figure
