"""Topics page (read-only): what each topic is about, and the documents most about it.

Topics moderators marked junk are not shown; background topics only on request.
"""

import streamlit as st

from core.serving.explain import visible_topics
from interface.i18n import language, modality_label, plural, t
from interface.state import active_model_or_stop, service
from interface.widgets import document_card, escape_markdown, token_display

PER_PAGE = 10
TERMS = 10
THUMBNAILS = 6

active = active_model_or_stop()
topic_service = service()

st.title(t("topics_title"))
st.caption(
    t(
        "topics_caption",
        version=active.version.name,
        topics=plural("topics", active.version.num_topics),
    )
)

# The search, the toggle and the page live in the address (``bind``): a reload, Back or a
# shared link shows the same topics. Another search starts at its first page.
PAGE_KEY = "page"


def first_page() -> None:
    st.session_state[PAGE_KEY] = 1


search, background = st.columns([3, 1])
wanted = search.text_input(
    t("topics_find"),
    placeholder=t("topics_find_placeholder"),
    key="find",
    bind="query-params",
    on_change=first_page,
)
with_background = background.toggle(
    t("background_toggle"),
    help=t("background_help"),
    key="background",
    bind="query-params",
    on_change=first_page,
)

topics = visible_topics(
    topic_service.topics(active), wanted, with_background, topic_service.processor
)
if not topics:
    st.info(t("no_topic_matches"))
    st.stop()
labels = topic_service.topic_labels(active, language())

pages = (len(topics) + PER_PAGE - 1) // PER_PAGE
page = (
    st.number_input(t("page_of", pages=pages), 1, pages, 1, key=PAGE_KEY, bind="query-params")
    if pages > 1
    else 1
)
for topic in topics[(page - 1) * PER_PAGE : page * PER_PAGE]:
    st.subheader(escape_markdown(f"{labels.get(topic.index, topic.label)} (#{topic.index})"))
    if topic.status == "background":
        st.caption(t("background_topic"))
    for modality in active.modalities:
        terms = [
            token_display(modality, term.term, term.display)
            for term in topic.terms
            if term.modality == modality
        ][:TERMS]
        if terms:
            st.text(f"{modality_label(modality, active.display_names)}: {', '.join(terms)}")
    typical_documents = topic_service.typical_documents(topic.index, THUMBNAILS, active)
    for column, typical in zip(st.columns(THUMBNAILS), typical_documents, strict=False):
        with column:
            share = t("share_of_topic", share=typical.share)
            document_card(typical.hit, share, f"topic{topic.index}")
    st.divider()
