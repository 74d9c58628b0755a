"""Model versions: parameters and scores; compare a version with the active one, then activate it
(confirmed); roll back, delete inactive ones; queue a build or a retraining for the job worker.

A version a retrain or a re-index made waits here for activation (unless it was asked to go
live when done): the comparison shows perplexity per modality, the concept queries' precision
and how many topics match, and how moderators' reviews went over to it. "When to retrain" shows
how the documents added since the active version was trained fit its model, and whether the
rule of ``core.serving.drift`` says a retrain is due."""

import pandas as pd
import streamlit as st

from admin.charts import drift_chart
from admin.ui import db, job_panel, perform, require
from admin.versions import (
    activate,
    carried_reviews,
    compare_with_active,
    delete_version,
    roll_back,
    roll_back_target,
    start_build,
    start_retrain,
    version_rows,
)
from core.serving.drift import BAD_FIT, DriftReport, drift_report
from core.serving.fit import WEAK_SHARE
from core.serving.version_comparison import VersionComparison
from core.storage import store
from interface.i18n import modality_label, plural, t, t_or
from interface.state import active_model_or_stop, service

CONFIRM_KEY = "confirm_activation"  # the version whose activation waits for "Confirm"
COMPARE_KEY = "compare-version"  # the version compared with the active one

user = require("versions", t("versions_title"))

with db() as session:
    rows = version_rows(session)
    target = roll_back_target(session)
if not rows:
    st.info(t("no_versions"))
    st.stop()


def status_of(row) -> str:
    return t("status_waiting") if row.waiting else t_or(f"status_{row.status}", row.status)


# The main table holds what tells versions apart; weights, scores and parameters of one
# version are in the details below, so the table fits the page.
table = pd.DataFrame(
    {
        t("col_version"): row.name,
        t("col_active"): row.active,
        t("col_status"): status_of(row),
        t("col_made_by"): t_or(f"derived_{row.derived}", row.derived),
        t("col_from"): row.parent or "",
        t("col_created"): row.created_at.strftime("%Y-%m-%d %H:%M"),
        t("col_documents"): row.documents,
        t("col_topics"): row.topics,
        t("col_error"): row.error or "",
    }
    for row in rows
)
st.dataframe(table, hide_index=True, width="stretch")
with st.expander(t("version_details")):
    shown = st.selectbox(t("col_version"), [row.name for row in rows])
    chosen_row = next(row for row in rows if row.name == shown)
    weights = chosen_row.weights.items()
    names = chosen_row.display_names
    st.text(", ".join(f"{modality_label(m, names, staff=True)} = {w:g}" for m, w in weights))
    if chosen_row.scores:
        st.dataframe(pd.DataFrame([chosen_row.scores]), hide_index=True)
    st.json(chosen_row.params, expanded=False)


@st.cache_data(max_entries=4, show_spinner=False)
def drift(active_key: tuple, database_url: str) -> DriftReport:
    """``active_key`` (version, live weights, collection generation) changes with every add or
    take-down: one measurement per state of the collection."""
    with db() as session:
        return drift_report(service().active(), session)


def show_drift(report: DriftReport) -> None:
    st.subheader(t("drift_title"))
    st.caption(t("drift_intro", version=report.version, weak=WEAK_SHARE))
    training, added, taken_down, bad = st.columns(4)
    training.metric(t("drift_training"), report.training_documents)
    added.metric(t("drift_additions"), report.additions)
    added.caption(t("drift_share_of_training", share=report.added_share))
    taken_down.metric(t("drift_taken_down"), report.taken_down)
    bad_share = report.bad_fit_share
    bad.metric(t("drift_bad_fit"), "–" if bad_share is None else f"{bad_share:.0%}")
    bad.caption(t("drift_of_measured", measured=report.measured))
    rule = report.rule
    if report.retrain_due:
        st.warning(t("drift_due"))
        for reason in report.reasons:
            share, limit = (
                (bad_share, rule.max_bad_fit_share)
                if reason == BAD_FIT
                else (report.added_share, rule.max_added_share)
            )
            st.write(
                t(f"drift_reason_{reason}", share=share, measured=report.measured, limit=limit)
            )
    else:
        st.success(t("drift_not_due"))
    if report.fits:
        st.plotly_chart(drift_chart(report), key="drift-chart")
        batches = pd.DataFrame(
            {
                t("col_first_added"): batch.first_added,
                t("col_last_added"): batch.last_added,
                t("col_additions"): batch.additions,
                t("col_bad_fit"): f"{batch.bad_fit_share:.0%}",
                t("col_median_perplexity"): ", ".join(
                    f"{t(f'drift_kind_{kind}')} {value:.0f}"
                    for kind, value in batch.median_perplexity.items()
                ),
            }
            for batch in report.batches
        )
        st.dataframe(batches, hide_index=True, width="stretch")
    else:
        st.caption(t("drift_no_additions"))
    st.caption(
        t(
            "drift_rule",
            min_additions=rule.min_additions,
            bad=rule.max_bad_fit_share,
            added=rule.max_added_share,
        )
    )


@st.cache_data(max_entries=8, show_spinner=False)
def comparison(candidate: str, active_key: tuple, database_url: str) -> VersionComparison:
    """Versions never change and ``active_key`` (version, live weights, hidden documents)
    changes with anything that changes the active side: one computation per pair (and
    database, for a process that serves several, as the tests do)."""
    with db() as session:
        return compare_with_active(session, candidate, service().active(), service().processor)


def rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def show_comparison(found: VersionComparison) -> None:
    active, candidate = found.active.name, found.candidate.name
    by_name = {row.name: row.display_names for row in rows}
    names = {**by_name.get(active, {}), **by_name.get(candidate, {})}
    figures = [
        {
            t("col_figure"): t(
                "figure_perplexity", modality=modality_label(modality, names, staff=True)
            ),
            active: rounded(found.active.perplexity.get(modality), 1),
            candidate: rounded(found.candidate.perplexity.get(modality), 1),
        }
        for modality in found.modalities
    ]
    figures += [
        {
            t("col_figure"): t("figure_precision", language=language),
            active: rounded(found.active.precision.get(language), 2),
            candidate: rounded(found.candidate.precision.get(language), 2),
        }
        for language in sorted(set(found.active.precision) | set(found.candidate.precision))
    ]
    figures.append(
        {
            t("col_figure"): t("figure_topics"),
            active: found.active.topics,
            candidate: found.candidate.topics,
        }
    )
    st.dataframe(pd.DataFrame(figures), hide_index=True, width="stretch")
    st.caption(t("figures_explained", concepts=plural("concepts", found.candidate.concepts)))
    st.write(
        t(
            "topics_matched",
            matched=found.matched_topics,
            topics=plural("topics", found.active.topics),
            active=active,
            candidate=candidate,
            threshold=found.threshold,
        )
    )


def show_reviews(version: str) -> None:
    """How moderators' labels and marks went over to ``version``; the reviewed topics that no
    topic of it matches, for review."""
    with db() as session:
        account = carried_reviews(session, version)
        new = store.get_version(session, version)
        labels = store.topic_labels(session, new.id)
    if account is None:
        return
    st.write(
        t(
            "reviews_carried",
            source=account.source,
            carried=len(account.carried),
            reviewed=plural("reviewed_topics", len(account.moves)),
        )
    )
    if account.unmatched:
        st.warning(plural("reviews_unmatched", len(account.unmatched), source=account.source))
        st.dataframe(
            pd.DataFrame(
                {
                    t("col_topic_of", version=account.source): f"#{move.old} {move.label}",
                    t("col_status"): t(f"topic_{move.status}"),
                    t("col_most_similar", version=version): f"#{move.new} {labels[move.new]}",
                    t("col_similarity"): move.similarity,
                }
                for move in account.unmatched
            ),
            hide_index=True,
            width="stretch",
        )


if any(row.active for row in rows):
    active_now = active_model_or_stop()
    with st.spinner(t("drift_computing")):
        show_drift(drift(active_now.cache_key, service().settings.database_url))

ready = [row for row in rows if row.status == "ready" and not row.active]
waiting = [row.name for row in rows if row.waiting]
if waiting:
    st.info(t("versions_waiting", versions=", ".join(waiting)))
st.subheader(t("compare_title"))
if not ready:
    st.caption(t("nothing_to_compare"))
else:
    names = [row.name for row in ready]
    # Set, not a default index: after an activation or a roll back the choice kept from before
    # is the version now active, or none, and the browser shows only what is set here.
    if st.session_state.get(COMPARE_KEY) not in names:
        st.session_state[COMPARE_KEY] = waiting[0] if waiting else None
    chosen = st.selectbox(
        t("compare_with_active"), names, placeholder=t("a_ready_version"), key=COMPARE_KEY
    )
    if chosen is not None:
        active = active_model_or_stop()
        with st.spinner(t("comparing", version=chosen, active=active.version.name)):
            found = comparison(chosen, active.cache_key, service().settings.database_url)
        show_comparison(found)
        show_reviews(chosen)
        if st.session_state.get(CONFIRM_KEY) != chosen:
            if st.button(t("activate_version", version=chosen), type="primary"):
                st.session_state[CONFIRM_KEY] = chosen
                st.rerun()
        else:
            st.warning(t("confirm_activation", version=chosen, active=active.version.name))
            confirm, cancel = st.columns(2)
            if confirm.button(t("confirm"), type="primary"):
                st.session_state.pop(CONFIRM_KEY)
                perform(activate, user, chosen, done=t("is_active", version=chosen))
            if cancel.button(t("cancel")):
                st.session_state.pop(CONFIRM_KEY)
                st.rerun()

inactive = [row.name for row in rows if not row.active and row.status != "building"]
left, right = st.columns(2)
with left:
    if target is None:
        st.caption(t("roll_back_none"))
    else:
        st.caption(t("roll_back_to", version=target))
    if st.button(t("roll_back"), disabled=target is None):
        perform(roll_back, user, done=lambda rolled: t("is_active", version=rolled))
with right:
    doomed = st.selectbox(t("delete"), inactive, index=None, placeholder=t("an_inactive_version"))
    if st.button(t("delete"), disabled=doomed is None):
        perform(delete_version, user, doomed, done=t("deleted", version=doomed))
with st.expander(t("build_or_retrain")):
    folder = st.text_input(t("collection_folder"))
    sample = st.number_input(t("training_sample"), min_value=0, value=0, step=1000)
    if st.button(t("build_new")):
        perform(start_build, user, folder, int(sample) or None, done=t("build_queued"))
    topics = st.number_input(
        t("retrain_topics"),
        min_value=2,
        value=next((r.topics for r in rows if r.active), rows[0].topics),
    )
    go_live = st.checkbox(
        t("activate_when_done"), help=t("activate_when_done_help"), key="retrain-activate"
    )
    if st.button(t("retrain_active")):
        done = t("retrain_queued_live") if go_live else t("retrain_queued")
        perform(start_retrain, user, {"num_topics": int(topics)}, go_live, done=done)
job_panel(user)
