"""Add a modality to the active version: train only its phi (topic space unchanged) or retrain
every matrix with it (the topic space changes). Both make a new version in the background."""

from pathlib import Path

import streamlit as st

from admin.modalities import (
    active_document_ids,
    extra_modalities,
    modality_from_collection,
    read_modality_file,
    start_add_modality,
)
from admin.ui import active_version_or_stop, db, job_panel, perform, require
from core import store

FROZEN, RETRAIN = "Only the new modality's phi (topic space unchanged)", "Retrain every matrix"

user = require("modalities")
st.title("Add a modality")

version = active_version_or_stop()
with db() as session:
    known_ids = active_document_ids(session)
    present = set(store.modality_weights(session, version.id))
collection = Path(version.collection)
in_collection = extra_modalities(collection, present) if collection.exists() else []

st.caption(f"Starting from {version.name} ({len(known_ids)} documents).")
source = st.radio("Tokens from", ["a CSV or JSONL file", "a column of the collection"])
imported, name = None, ""
if source == "a CSV or JSONL file":
    name = st.text_input("Modality name", placeholder="@category")
    upload = st.file_uploader(
        "File: id,tokens (CSV) or {id, tokens} lines (JSONL)", type=["csv", "jsonl"]
    )
    if upload is not None:
        try:
            imported = read_modality_file(upload.name, upload.getvalue(), known_ids)
        except ValueError as error:
            st.error(str(error))
elif in_collection:
    name = st.selectbox("Modality", in_collection)
    imported = modality_from_collection(collection, name, known_ids)
else:
    st.info("The collection has no @modality column the active version lacks.")

if imported is not None:
    st.write(f"{len(imported.tokens)} documents have tokens of {name or 'the new modality'}.")
    if imported.problems:
        with st.expander(f"{len(imported.problems)} rows not used", expanded=True):
            st.text("\n".join(imported.problems[:200]))

weight = st.number_input("Weight", min_value=0.0, value=1.0, step=0.1)
way = st.radio("Train", [FROZEN, RETRAIN])
if st.button("Start", type="primary", disabled=not imported or not imported.tokens):
    perform(
        start_add_modality,
        user,
        name.strip(),
        imported.tokens,
        weight,
        way == RETRAIN,
        done="Queued: the current version serves until the new one is ready.",
    )
job_panel(user)
