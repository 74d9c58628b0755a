"""Topic review: find topics by their top terms, then label them and mark junk or background."""

import streamlit as st

from admin.topics import SORT_KEYS, edit_topic, review_topics
from admin.ui import active_version_or_stop, db, perform, require
from core import store
from streamlit_app.widgets import escape_markdown

user = require("review_topics")
st.title("Topic review")

version = active_version_or_stop()
with db() as session:
    modalities = list(store.modality_weights(session, version.id))

search, modality, status, sort = st.columns([3, 2, 2, 2])
term = search.text_input("Term or label contains")
chosen_modality = modality.selectbox("Modality", ["all", *modalities])
chosen_status = status.selectbox("Status", ["all", *store.TOPIC_STATUSES])
order = sort.selectbox("Sort by", SORT_KEYS)

with db() as session:
    rows = review_topics(
        session,
        term,
        None if chosen_modality == "all" else chosen_modality,
        None if chosen_status == "all" else chosen_status,
        order,
    )
st.caption(f"Version {version.name}: {len(rows)} topics")

for row in rows:
    with st.expander(escape_markdown(f"[{row.index}] {row.label} · {row.status}")):
        for name, words in row.terms.items():
            st.text(f"{name}: {', '.join(words[:12])}")
        with st.form(f"topic-{row.id}"):
            label = st.text_input("Label", row.label)
            status_value = st.selectbox(
                "Status", store.TOPIC_STATUSES, index=store.TOPIC_STATUSES.index(row.status)
            )
            note = st.text_area("Note", row.note)
            if st.form_submit_button("Save"):
                perform(edit_topic, user, row.id, label, status_value, note, done="Saved.")
