"""Annotate page: words and hashtags for a visitor's photo, and how the photo became words."""

import streamlit as st

from core.reading.images import ImageError
from core.reading.text import TAG, TEXT
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.inference import NothingRecognized
from interface.address import keep_uploaded_photo, linked_photo, notice_text, photo_store
from interface.errors import photo_refusal
from interface.i18n import modality_label, t
from interface.state import active_model_or_stop, photo_uploader, service
from interface.widgets import (
    escape_markdown,
    nothing_recognized_message,
    suggestion_links,
    visual_name,
)
from streamlit_app import charts
from streamlit_app.fit_notice import show_fit

SUGGESTIONS = 15
UPLOAD_KEY = "annotate-photo"

active = active_model_or_stop()
annotation_service = service()

photos = photo_store(annotation_service.settings.cache_dir)

st.title(t("annotate_title"))
st.caption(t("annotate_caption"))
# The photo lives in the address (its content hash), so a reload, Back or a shared link shows
# the same annotation; the upload field starts empty then.
photo = photo_uploader(UPLOAD_KEY, on_change=keep_uploaded_photo, args=(photos, UPLOAD_KEY))
linked, notice = linked_photo(photos)
if notice is not None:
    st.warning(escape_markdown(notice_text(notice, active.display_names)))
if photo is None and linked is None:
    st.stop()

image = photo.getvalue() if photo is not None else linked.read_bytes()
try:
    reading = annotation_service.read_photo(image, active)
    version, annotations = annotation_service.annotate(
        AnnotationRequest(
            Query(image=image), [m for m in (TAG, TEXT) if m in active.modalities], SUGGESTIONS
        ),
        active=active,
    )
    fit = annotation_service.query_fit(SearchRequest(Query(image=image)), active=active)
except ImageError as error:
    st.error(escape_markdown(photo_refusal(error)))
    st.stop()
except NothingRecognized as error:
    why = annotation_service.why_nothing_recognized(
        SearchRequest(Query(image=image)), error, active=active
    )
    st.warning(escape_markdown(nothing_recognized_message(why, active.display_names)))
    st.stop()

left, right = st.columns([1, 2])
with left:
    st.image(image, width="stretch")
    st.markdown(f"**{t('cnn_top_classes')}**")
    for token, probability in reading.top_classes[:5]:
        st.text(f"{visual_name(token)}: {probability:.2%}")
with right:
    st.caption(t("model_version", version=version))
    show_fit(fit)
    st.caption(t("suggestions_caption"))
    for modality in (TAG, TEXT):
        if annotations.get(modality):
            st.markdown(f"**{modality_label(modality, active.display_names)}**")
            suggestion_links(annotations[modality])
            st.plotly_chart(
                charts.annotation_probabilities(annotations[modality]), key=f"annotation{modality}"
            )

st.subheader(t("how_photo_becomes_words"))
st.markdown(t("flattening_explained", samples=reading.samples))
st.plotly_chart(charts.flattening(reading), key="flattening")
st.markdown(f"**{t('visual_words_drawn')}**")
st.plotly_chart(charts.visual_word_counts(reading), key="visual-words")
