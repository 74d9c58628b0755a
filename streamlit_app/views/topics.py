"""Topics page (read-only): what each topic is about, and the documents most about it.

Topics moderators marked junk are not shown; background topics only on request.
"""

import streamlit as st

from core.explain import visible_topics
from streamlit_app import widgets
from streamlit_app.state import active_model_or_stop, get_service

PER_PAGE = 10
TERMS = 10
THUMBNAILS = 6

active = active_model_or_stop()
service = get_service()
engine = active.engine

st.title("Topics")
st.caption(
    f"Model {active.version.name}: {active.version.num_topics} topics, each a distribution over "
    "words, hashtags and visual words learnt together."
)

search, background = st.columns([3, 1])
wanted = search.text_input("Find topics by label or term", placeholder="e.g. cat, музыка")
with_background = background.toggle("Background topics", help="Topics of common, generic words")

topics = visible_topics(service.topics(active), wanted, with_background)
if not topics:
    st.info("No topic matches. Try another word, or clear the search box.")
    st.stop()

pages = (len(topics) + PER_PAGE - 1) // PER_PAGE
page = st.number_input(f"Page (of {pages})", 1, pages, 1) if pages > 1 else 1
for topic in topics[(page - 1) * PER_PAGE : page * PER_PAGE]:
    st.subheader(widgets.escape_markdown(f"{topic.label} (#{topic.index})"))
    if topic.status == "background":
        st.caption("background topic")
    for modality in engine.modalities:
        terms = [term.display for term in topic.terms if term.modality == modality][:TERMS]
        if terms:
            st.text(f"{modality}: {', '.join(terms)}")
    for column, typical in zip(
        st.columns(THUMBNAILS), engine.typical_documents(topic.index, THUMBNAILS), strict=False
    ):
        with column:
            widgets.document_card(typical.hit, f"{typical.share:.0%} this topic")
    st.divider()
