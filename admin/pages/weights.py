"""Modality weights of the active version: apply them live, or re-index with them."""

import streamlit as st

from admin.modalities import start_reindex
from admin.ui import active_version_or_stop, db, job_panel, perform, require
from admin.versions import apply_live_weights
from core.storage import store
from interface.i18n import modality_label, t

user = require("weights", t("weights_admin_title"))

version = active_version_or_stop()
with db() as session:
    weights = store.modality_weights(session, version.id)
    names = store.modality_display_names(session, version.id)

st.caption(t("weights_admin_caption", version=version.name))
# Keys tie each field to its modality, not to the stored value: a field whose value came from
# the database would become a new widget after "Apply live" and drop the next edit.
new_weights = {
    name: st.number_input(
        modality_label(name, names, staff=True),
        min_value=0.0,
        value=float(weight),
        step=0.001,
        format="%.3f",
        key=f"live-weight:{version.name}:{name}",
    )
    for name, weight in weights.items()
}
apply, reindex = st.columns(2)
if apply.button(t("apply_live"), type="primary"):
    perform(apply_live_weights, user, new_weights, done=t("applied_live"))
apply.caption(t("apply_live_help"))
go_live = reindex.checkbox(
    t("activate_when_done"), help=t("activate_when_done_help"), key="reindex-activate"
)
if reindex.button(t("reindex")):
    done = t("reindex_started_live") if go_live else t("reindex_started")
    perform(start_reindex, user, new_weights, go_live, done=done)
reindex.caption(t("reindex_help"))
job_panel(user)
