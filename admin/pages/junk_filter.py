"""The junk filter: label documents wanted / unwanted (and take a label back), train the linear
SVM, hide what it predicts unwanted, and restore documents hidden by mistake."""

from pathlib import Path

import streamlit as st

from admin import auth
from admin.junk_filter import (
    apply_junk_filter,
    clear_document_label,
    hidden_documents,
    label_document,
    labelled_documents,
    latest_junk_filter_report,
    review_queue,
    start_junk_filter_training,
    unhide_all,
)
from admin.ui import active_version_or_stop, db, job_panel, perform, require
from core.serving.answers import Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.storage.junk_labels import MIN_LABELS_PER_CLASS, document_labels
from interface.errors import error_text
from interface.i18n import plural, t
from interface.state import service
from interface.widgets import clamped, escape_markdown

user = require("label_documents", t("junk_title"))

version = active_version_or_stop()
with db() as session:
    queue = review_queue(session, limit=12)
    labelled = labelled_documents(session, limit=30)
    labels = document_labels(session)
    hidden = hidden_documents(session)


def judge(doc_id: str, text: str, image: str | None, where: str) -> None:
    """One document with Wanted / Unwanted buttons; ``where`` (the tab) keeps the buttons of
    a document shown in two tabs apart."""
    with st.container(border=True):
        if image and Path(image).is_file():
            st.image(image, width=160)
        st.text(clamped(text, 300))
        state = t("hidden_mark") if doc_id in hidden else ""
        label = t(f"label_{labels[doc_id]}") if doc_id in labels else t("label_none")
        st.caption(f"{doc_id} · {state}{label}")
        wanted, unwanted, clear = st.columns(3)
        for column, value in ((wanted, "wanted"), (unwanted, "unwanted")):
            if column.button(
                t(value), key=f"{where}-{value}-{doc_id}", disabled=labels.get(doc_id) == value
            ):
                done = t("document_labelled", document=doc_id, label=t(f"label_{value}"))
                perform(label_document, user, doc_id, value, done=done)
        if doc_id in labels and clear.button(t("clear_label"), key=f"{where}-clear-{doc_id}"):
            done = t("label_cleared", document=doc_id)
            perform(clear_document_label, user, doc_id, done=done)


def image_of(document) -> str | None:
    return str(Path(version.collection) / document.image_ref) if document.image_ref else None


queue_tab, labelled_tab, search_tab, filter_tab = st.tabs(
    [t("tab_queue"), t("tab_labelled"), t("tab_search"), t("tab_filter")]
)
with queue_tab:
    st.caption(t("queue_caption"))
    for document in queue:
        judge(document.id, document.text, image_of(document), "queue")

with labelled_tab:
    st.caption(t("labelled_caption"))
    for document, _ in labelled:
        judge(document.id, document.text, image_of(document), "labelled")

with search_tab:
    text = st.text_input(t("search_collection"), key="junk-search")
    if text.strip():
        try:
            result = service().search(SearchRequest(Query(text=text), k=12))
        except NothingRecognized as error:
            st.warning(escape_markdown(error_text(error)))
        else:
            for hit in result.hits:
                judge(hit.id, hit.text, hit.image, "search")

with filter_tab:
    wanted = sum(label == "wanted" for label in labels.values())
    st.write(
        t(
            "label_counts",
            wanted=plural("wanted_labels", wanted),
            unwanted=plural("unwanted_labels", len(labels) - wanted),
            hidden=plural("hidden_documents", len(hidden)),
        )
    )
    if not auth.allowed(user, "junk_filter"):
        st.info(t("admin_trains"))
        st.stop()
    st.caption(t("training_needs", n=MIN_LABELS_PER_CLASS))
    if st.button(t("train_svm"), type="primary"):
        perform(start_junk_filter_training, user, done=t("training_queued"))
    job_panel(user)
    with db() as session:
        report = latest_junk_filter_report(session)
    if report is not None:
        precision, recall, hides = st.columns(3)
        precision.metric(t("precision_cv"), f"{report.precision:.2f}")
        recall.metric(t("recall_cv"), f"{report.recall:.2f}")
        hides.metric(t("would_hide"), len(report.predicted_unwanted))
        if st.button(t("apply_hide")):
            perform(apply_junk_filter, user, report, done=lambda n: plural("documents_hidden", n))
    if hidden and st.button(t("unhide_all")):
        perform(unhide_all, user, done=t("all_searchable"))
