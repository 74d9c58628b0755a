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
from core.storage import store
from interface.errors import error_text
from interface.i18n import plural, t

user = require("modalities", t("add_modality_title"))

version = active_version_or_stop()
with db() as session:
    known_ids = active_document_ids(session)
    present = set(store.modality_weights(session, version.id))
collection = Path(version.collection)
in_collection = extra_modalities(collection, present) if collection.exists() else []

st.caption(
    t("add_modality_caption", version=version.name, documents=plural("documents", len(known_ids)))
)
FROM_FILE, FROM_COLLECTION = "file", "collection"
source = st.radio(
    t("tokens_from"),
    [FROM_FILE, FROM_COLLECTION],
    format_func=lambda option: t(f"tokens_from_{option}"),
)
imported, name = None, ""
if source == FROM_FILE:
    name = st.text_input(t("modality_id"), placeholder="@category", key="modality-id")
    upload = st.file_uploader(t("modality_file"), type=["csv", "jsonl"])
    if upload is not None:
        try:
            imported = read_modality_file(upload.name, upload.getvalue(), known_ids)
        except ValueError as error:
            st.error(error_text(error))
elif in_collection:
    name = st.selectbox(t("modality_id"), in_collection)
    imported = modality_from_collection(collection, name, known_ids)
else:
    st.info(t("no_collection_modality"))

if imported is not None:
    st.write(
        t(
            "documents_with_tokens",
            documents=plural("documents", len(imported.tokens)),
            name=name or t("the_new_modality"),
        )
    )
    if imported.problems:
        with st.expander(plural("rows_not_used", len(imported.problems)), expanded=True):
            st.text("\n".join(imported.problems[:200]))

english, russian = st.columns(2)
name_en = english.text_input(t("modality_display_en"), key="modality-name-en")
name_ru = russian.text_input(t("modality_display_ru"), key="modality-name-ru")
weight = st.number_input(t("weight"), min_value=0.0, value=1.0, step=0.1)
RETRAIN = "retrain"
way = st.radio(t("train"), ["frozen", RETRAIN], format_func=lambda option: t(f"train_{option}"))
go_live = st.checkbox(
    t("activate_when_done"), help=t("activate_when_done_help"), key="modality-activate"
)
if st.button(t("start"), type="primary", disabled=not imported or not imported.tokens):
    perform(
        start_add_modality,
        user,
        name.strip(),
        imported.tokens,
        weight,
        way == RETRAIN,
        go_live,
        name_en=name_en,
        name_ru=name_ru,
        done=t("started_live") if go_live else t("started_in_background"),
    )
job_panel(user)
