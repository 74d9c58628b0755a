"""Search page: a text query over the active model, results as a grid."""

import streamlit as st

from core.engine import Query
from core.inference import NothingRecognized
from core.service import NoActiveModel
from streamlit_app.state import get_service

COLUMNS = 4

st.title("Search photos by meaning")
st.caption("Type words in Russian or English; the topic model finds photos about the same thing.")

with st.form("search"):
    text = st.text_input("Query", placeholder="e.g. собака, horse, flowers in the garden")
    k = st.slider("Results", min_value=4, max_value=48, value=12, step=4)
    submitted = st.form_submit_button("Search", type="primary")

if submitted:
    if not text.strip():
        st.warning("Type a few words to search for.")
        st.stop()
    try:
        result = get_service().search(Query(text=text), k=k)
    except NoActiveModel as error:
        st.error(str(error))
        st.stop()
    except NothingRecognized as error:
        unknown = ", ".join(t for tokens in error.unknown.values() for t in tokens)
        st.warning(
            f"The model does not know any of these words: {unknown or text}. "
            "Try other words, e.g. an animal, a plant or a food, in Russian or English."
        )
        st.stop()

    if result.query.unknown:
        unknown = ", ".join(t for tokens in result.query.unknown.values() for t in tokens)
        st.info(f"Not known to the model (ignored): {unknown}")
    st.caption(f"Model {result.model_version} · {len(result.hits)} results")
    for start in range(0, len(result.hits), COLUMNS):
        for column, hit in zip(
            st.columns(COLUMNS), result.hits[start : start + COLUMNS], strict=False
        ):
            with column:
                if hit.image:
                    st.image(hit.image, use_container_width=True)
                st.text(hit.text)
                st.text(" ".join(f"#{tag}" for tag in hit.tags))
                st.caption(f"L1 distance {hit.distance:.3f}")
