"""Model versions: parameters and scores; activate, roll back, delete inactive ones; queue a
build or a retraining for the job worker."""

import pandas as pd
import streamlit as st

from admin.ui import db, job_panel, perform, require
from admin.versions import (
    activate,
    delete_version,
    roll_back,
    roll_back_target,
    start_build,
    start_retrain,
    version_rows,
)
from interface.i18n import t, t_or

user = require("versions")
st.title(t("versions_title"))

with db() as session:
    rows = version_rows(session)
    target = roll_back_target(session)
if not rows:
    st.info(t("no_versions"))
    st.stop()

# The main table holds what tells versions apart; weights, scores and parameters of one
# version are in the details below, so the table fits the page.
table = pd.DataFrame(
    {
        t("col_version"): row.name,
        t("col_active"): row.active,
        t("col_status"): t_or(f"status_{row.status}", row.status),
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
    st.text(", ".join(f"{m} = {w:g}" for m, w in chosen_row.weights.items()))
    if chosen_row.scores:
        st.dataframe(pd.DataFrame([chosen_row.scores]), hide_index=True)
    st.json(chosen_row.params, expanded=False)

ready = [row.name for row in rows if row.status == "ready" and not row.active]
inactive = [row.name for row in rows if not row.active and row.status != "building"]
left, middle, right = st.columns(3)
with left:
    chosen = st.selectbox(t("activate"), ready, index=None, placeholder=t("a_ready_version"))
    if st.button(t("activate"), disabled=chosen is None):
        perform(activate, user, chosen, done=t("is_active", version=chosen))
with middle:
    if target is None:
        st.caption(t("roll_back_none"))
    else:
        st.caption(t("roll_back_to", version=target))
    if st.button(t("roll_back"), disabled=target is None):
        rolled = perform(roll_back, user)
        if rolled:
            st.success(t("is_active", version=rolled))
with right:
    doomed = st.selectbox(t("delete"), inactive, index=None, placeholder=t("an_inactive_version"))
    if st.button(t("delete"), disabled=doomed is None):
        perform(delete_version, user, doomed, done=t("deleted", version=doomed))
with st.expander(t("build_or_retrain")):
    folder = st.text_input(t("collection_folder"))
    if st.button(t("build_new")):
        perform(start_build, user, folder, done=t("build_queued"))
    topics = st.number_input(
        t("retrain_topics"),
        min_value=2,
        value=next((r.topics for r in rows if r.active), rows[0].topics),
    )
    if st.button(t("retrain_active")):
        perform(start_retrain, user, {"num_topics": int(topics)}, done=t("retrain_queued"))
job_panel(user)
