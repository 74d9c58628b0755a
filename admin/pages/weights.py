"""Modality weights of the active version: apply them live, or re-index with them."""

import streamlit as st

from admin.modalities import start_reindex
from admin.ui import active_version_or_stop, db, job_panel, perform, require
from admin.versions import apply_live_weights
from core import store

user = require("weights")
st.title("Modality weights")

version = active_version_or_stop()
with db() as session:
    weights = store.modality_weights(session, version.id)

st.caption(
    f"Version {version.name}. Query inference weighs each modality's log-likelihood; "
    "0 switches a modality off."
)
new_weights = {
    name: st.number_input(name, min_value=0.0, value=float(weight), step=0.01, format="%.3f")
    for name, weight in weights.items()
}
apply, reindex = st.columns(2)
if apply.button("Apply live", type="primary", help="Every session's next query uses them"):
    perform(apply_live_weights, user, new_weights, done="Applied: the next query uses them.")
if reindex.button(
    "Re-index with these weights",
    help="A new version: every document's theta re-inferred; the current one serves meanwhile",
):
    perform(start_reindex, user, new_weights, done="Re-indexing queued.")
job_panel(user)
