"""Model versions: parameters and scores; activate, roll back, delete inactive ones; queue a
build or a retraining for the job worker."""

import pandas as pd
import streamlit as st

from admin.ui import db, job_panel, perform, require
from admin.versions import (
    activate,
    delete_version,
    roll_back,
    start_build,
    start_retrain,
    version_rows,
)

user = require("versions")
st.title("Model versions")

with db() as session:
    rows = version_rows(session)
if not rows:
    st.info("No versions yet: build one with `python -m core build`.")
    st.stop()

table = pd.DataFrame(
    {
        "version": row.name,
        "active": row.active,
        "status": row.status,
        "made by": row.derived,
        "from": row.parent or "",
        "created": row.created_at.strftime("%Y-%m-%d %H:%M"),
        "documents": row.documents,
        "topics": row.topics,
        "weights": ", ".join(f"{m}={w:g}" for m, w in row.weights.items()),
        **row.scores,
        "error": row.error or "",
    }
    for row in rows
)
st.dataframe(table, hide_index=True, use_container_width=True)
with st.expander("All parameters of a version"):
    shown = st.selectbox("Version", [row.name for row in rows])
    st.json(next(row.params for row in rows if row.name == shown))

ready = [row.name for row in rows if row.status == "ready" and not row.active]
inactive = [row.name for row in rows if not row.active and row.status != "building"]
left, middle, right = st.columns(3)
with left:
    chosen = st.selectbox("Activate", ready, index=None, placeholder="a ready version")
    if st.button("Activate", disabled=chosen is None):
        perform(activate, user, chosen, done=f"{chosen} is active.")
with middle:
    st.write("Back to the version the active one came from.")
    if st.button("Roll back"):
        target = perform(roll_back, user)
        if target:
            st.success(f"{target} is active.")
with right:
    doomed = st.selectbox("Delete", inactive, index=None, placeholder="an inactive version")
    if st.button("Delete", disabled=doomed is None):
        perform(delete_version, user, doomed, done=f"{doomed} deleted.")
with st.expander("Build or retrain (runs in the job worker)"):
    folder = st.text_input("Collection folder (empty: the worker's configured collection)")
    if st.button("Build a new version"):
        perform(start_build, user, folder, done="Build queued.")
    topics = st.number_input(
        "Topics for the retraining",
        min_value=2,
        value=next((r.topics for r in rows if r.active), rows[0].topics),
    )
    if st.button("Retrain the active version"):
        perform(start_retrain, user, {"num_topics": int(topics)}, done="Retraining queued.")
job_panel(user)
