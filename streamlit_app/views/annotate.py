"""Annotate page: words and hashtags for a visitor's photo, and how the photo became words."""

import streamlit as st

from core.engine import Query
from core.explain import nothing_recognized_advice
from core.inference import NothingRecognized
from core.text import TAG, TEXT
from core.vision import ImageError, visual_display
from streamlit_app import charts, widgets
from streamlit_app.fit_notice import show_fit
from streamlit_app.state import UPLOAD_TYPES, active_model_or_stop, get_service, upload_limit_mb

SUGGESTIONS = 15

active = active_model_or_stop()
service = get_service()
engine = active.engine

st.title("Words and hashtags for a photo")
st.caption(
    "The photo becomes 'visual words' (ImageNet classes drawn from the CNN's output), the model "
    "infers its topics, and the topics predict hashtags and words in Russian and English."
)
photo = st.file_uploader(
    f"A photo (JPEG, PNG or WebP, up to {upload_limit_mb()} MB)", type=UPLOAD_TYPES
)
if photo is None:
    st.stop()

image = photo.getvalue()
try:
    reading = engine.read_photo(image)
    version, annotations = service.annotate(
        Query(image=image),
        [m for m in (TAG, TEXT) if m in engine.modalities],
        SUGGESTIONS,
        active=active,
    )
    fit = engine.query_fit(Query(image=image), active.weights)
except ImageError as error:
    st.error(widgets.escape_markdown(f"Could not read the photo: {error}. Try JPEG, PNG or WebP."))
    st.stop()
except NothingRecognized as error:
    st.warning(widgets.escape_markdown(nothing_recognized_advice(engine, error, active.weights)))
    st.stop()

left, right = st.columns([1, 2])
with left:
    st.image(image, width="stretch")
    st.markdown("**The CNN's top ImageNet classes**")
    for token, probability in reading.top_classes[:5]:
        st.text(f"{visual_display(token)}: {probability:.2%}")
with right:
    st.caption(f"Model {version}")
    show_fit(fit)
    for modality, title in ((TAG, "Hashtags"), (TEXT, "Words")):
        if annotations.get(modality):
            st.markdown(f"**{title}**")
            st.plotly_chart(
                charts.annotation_probabilities(annotations[modality]), key=f"annotation{modality}"
            )

st.subheader("How a photo becomes words")
st.markdown(
    "A classifier puts most of its probability on one class, but the next classes it ranks carry "
    "information too. Log-flattening spreads the mass over the plausible classes without changing "
    f"their order; then {engine.params.visual_samples} visual words are drawn from the flattened "
    "distribution, the same ones every time for the same photo."
)
st.plotly_chart(charts.flattening(reading), key="flattening")
st.markdown("**The visual words drawn**")
st.plotly_chart(charts.visual_word_counts(reading), key="visual-words")
