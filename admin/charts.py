"""Plotly figures of the admin pages."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import plotly.graph_objects as go

from core.serving.drift import DriftReport
from interface.i18n import t

# Times read the same in every language (as the audit log writes them); plotly's own labels are
# English month names, down to milliseconds when additions came in one batch.
TIME_FORMAT = "%Y-%m-%d %H:%M"
# The least span the time axis shows: additions of one batch land milliseconds apart.
LEAST_TIME_SPAN = timedelta(hours=1)


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
        xaxis={
            "title": t("drift_axis_added"),
            "tickformat": TIME_FORMAT,
            "range": time_range([one.added_at for one in report.fits]),
        },
        yaxis={"type": "log", "title": t("drift_axis_perplexity")},
    )
    return figure


def time_range(times: Sequence[datetime | None]) -> list[datetime] | None:
    """The time axis's span: plotly's own (None), or at least ``LEAST_TIME_SPAN`` centred on
    ``times`` when they lie closer together than that."""
    known = [time for time in times if time is not None]
    if not known or max(known) - min(known) >= LEAST_TIME_SPAN:
        return None
    middle = min(known) + (max(known) - min(known)) / 2
    return [middle - LEAST_TIME_SPAN / 2, middle + LEAST_TIME_SPAN / 2]
