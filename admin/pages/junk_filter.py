"""The junk filter: label documents wanted / unwanted, train the linear SVM, hide what it
predicts unwanted, and restore documents hidden by mistake."""

from pathlib import Path

import streamlit as st

from admin import auth
from admin.junk_filter import (
    MIN_LABELS_PER_CLASS,
    apply_junk_filter,
    document_labels,
    hidden_documents,
    label_document,
    latest_junk_filter_report,
    review_queue,
    start_junk_filter_training,
    unhide_all,
)
from admin.ui import active_version_or_stop, db, job_panel, perform, require
from core.engine import Query
from core.inference import NothingRecognized
from streamlit_app.state import get_service

user = require("label_documents")
st.title("Junk filter")

version = active_version_or_stop()
with db() as session:
    queue = review_queue(session, limit=12)
    labels = document_labels(session)
    hidden = hidden_documents(session)


def judge(doc_id: str, text: str, image: str | None) -> None:
    """One document with Wanted / Unwanted buttons."""
    with st.container(border=True):
        if image and Path(image).is_file():
            st.image(image, width=160)
        st.text(text[:300])
        state = "hidden · " if doc_id in hidden else ""
        st.caption(f"{doc_id} · {state}{labels.get(doc_id, 'unlabeled')}")
        wanted, unwanted = st.columns(2)
        if wanted.button("Wanted", key=f"w-{doc_id}"):
            perform(label_document, user, doc_id, "wanted")
        if unwanted.button("Unwanted", key=f"u-{doc_id}"):
            perform(label_document, user, doc_id, "unwanted")


queue_tab, search_tab, filter_tab = st.tabs(["Review queue", "From search", "Filter"])
with queue_tab:
    st.caption("Hidden documents first (a Wanted label restores them), then unlabeled ones.")
    for document in queue:
        image = str(Path(version.collection) / document.image) if document.image else None
        judge(document.doc_id, document.text, image)

with search_tab:
    text = st.text_input("Search the collection")
    if text.strip():
        try:
            result = get_service().search(Query(text=text), k=12)
        except NothingRecognized as error:
            st.warning(str(error))
        else:
            for hit in result.hits:
                judge(hit.id, hit.text, hit.image)

with filter_tab:
    wanted = sum(label == "wanted" for label in labels.values())
    st.write(f"{wanted} wanted and {len(labels) - wanted} unwanted labels; {len(hidden)} hidden.")
    if not auth.allowed(user, "junk_filter"):
        st.info("An admin trains and applies the filter.")
        st.stop()
    st.caption(f"Training needs at least {MIN_LABELS_PER_CLASS} labels of each kind.")
    if st.button("Train the SVM", type="primary"):
        perform(start_junk_filter_training, user, done="Training queued.")
    job_panel(user)
    with db() as session:
        report = latest_junk_filter_report(session)
    if report is not None:
        precision, recall, hides = st.columns(3)
        precision.metric("Precision (cross-validated)", f"{report.precision:.2f}")
        recall.metric("Recall (cross-validated)", f"{report.recall:.2f}")
        hides.metric("Would hide", len(report.predicted_unwanted))
        if st.button("Apply: hide them from search"):
            count = perform(apply_junk_filter, user, report)
            if count is not None:
                st.success(f"{count} documents hidden; they are listed first in the review queue.")
    if hidden and st.button("Unhide all"):
        perform(unhide_all, user, done="Every document is searchable again.")
