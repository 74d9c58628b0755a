"""Search page: by words, by a photo or both; per-visitor weights; results with explanations and
relevance votes."""

import hashlib

import streamlit as st

from core.engine import Query, SearchResult
from core.explain import explain_hit, nothing_recognized_advice, read_query
from core.inference import NothingRecognized
from core.outage import DatabaseUnavailable
from core.vision import ImageError
from streamlit_app import charts, widgets
from streamlit_app.fit_notice import hit_marks, show_fit
from streamlit_app.state import (
    UPLOAD_TYPES,
    active_model_or_stop,
    get_service,
    keep_vote_message,
    show_vote_messages,
    upload_limit_mb,
    visitor_id,
    vote_refused,
)

PAGE_SIZE = 12
MAX_RESULTS = 96
COLUMNS = 4
MAX_QUERY_CHARS = 500
WEAK_MATCH = "A weak match: no topic it shares with the query makes up 1% of the match."

active = active_model_or_stop()
service = get_service()
engine = active.engine

st.title("Search photos by meaning")
st.caption(
    "Words in Russian or English, a photo, or both: the topic model finds documents about the "
    "same thing, even when they share no word."
)

with st.form("search-form"):
    text = st.text_input(
        "Words", max_chars=MAX_QUERY_CHARS, placeholder="e.g. собака, horse, flowers in the garden"
    )
    photo = st.file_uploader(
        f"A photo (JPEG, PNG or WebP, up to {upload_limit_mb()} MB)", type=UPLOAD_TYPES
    )
    if st.form_submit_button("Search", type="primary"):
        st.session_state.search_query = Query(text=text, image=photo.getvalue() if photo else None)
        st.session_state.shown = PAGE_SIZE

overrides = widgets.weight_sliders(active)
query: Query | None = st.session_state.get("search_query")
if query is None:
    st.stop()
if query.is_empty():
    st.warning("Type a few words or choose a photo to search for.")
    st.stop()


def answer(query: Query, overrides: dict[str, float], k: int) -> SearchResult:
    """The search for this query, weights and size, repeated only when one of them or the
    model (version, live weights, hidden documents) changes, not on every rerun (e.g. a vote)."""
    image_key = hashlib.sha256(query.image).hexdigest() if query.image else None
    key = (query.text, image_key, tuple(sorted(overrides.items())), k, active.cache_key)
    cached = st.session_state.get("answer")
    if cached is None or cached[0] != key:
        result = service.search(query, k, overrides, visitor=visitor_id(), active=active)
        st.session_state.answer = cached = (key, result)
    return cached[1]


try:
    result = answer(query, overrides, st.session_state.get("shown", PAGE_SIZE))
except NothingRecognized as error:
    advice = nothing_recognized_advice(engine, error, {**active.weights, **overrides})
    st.warning(widgets.escape_markdown(advice))
    st.stop()
except ImageError as error:
    st.error(widgets.escape_markdown(f"Could not read the photo: {error}. Try JPEG, PNG or WebP."))
    st.stop()

labels = service.topic_labels(active)
reading = read_query(engine, result, labels)
if result.search_id is None:  # not recorded: no visitor, or too much waited for the database
    search_label = ""
elif (stored_id := service.writes.stored_id(result.search_id)) is None:
    search_label = " · search saved once the database is back"
else:
    search_label = f" · search #{stored_id}"
st.caption(
    f"Model {result.model_version}{search_label} · {len(result.hits)} results · "
    f"{result.latency_ms:.0f} ms · distance is L1 between topic vectors (0 to 2)"
)
show_fit(result.fit)
if reading.unknown:
    unknown = ", ".join(token for tokens in reading.unknown.values() for token in tokens)
    st.info(widgets.escape_markdown(f"Not known to the model (ignored): {unknown}"))

with st.expander("What the model understood"):
    if query.image is not None:
        st.image(query.image, caption="Your photo", width=200)
    st.markdown("**Tokens used**")
    st.text(widgets.token_text(reading.kept))
    if reading.switched_off:
        st.markdown("**Known, but switched off by a weight of 0**")
        st.text(widgets.token_text(reading.switched_off))
    st.markdown("**The query's main topics**")
    st.plotly_chart(charts.topic_shares(reading.topics), key="query-topics")


def vote(search_id: int, doc_id: str, key: str) -> None:
    """Store a thumbs up (+1) or down (-1); taking a thumb back leaves the last vote stored."""
    thumb = st.session_state[key]
    if thumb is None:
        return
    try:
        keep_vote_message(service.vote(search_id, doc_id, 1 if thumb == 1 else -1))
    except (ValueError, DatabaseUnavailable) as error:
        vote_refused(error)


show_vote_messages()
for start in range(0, len(result.hits), COLUMNS):
    row = result.hits[start : start + COLUMNS]
    for column, hit in zip(st.columns(COLUMNS), row, strict=False):
        with column:
            same = " · same photo" if hit.same_photo else ""
            widgets.document_card(hit, f"L1 distance {hit.distance:.3f}{same}{hit_marks(hit)}")
            with st.expander("Why it matched"):
                shared = explain_hit(engine, result, hit, labels)
                st.text(widgets.topic_share_text(shared, "the match") if shared else WEAK_MATCH)
            if result.search_id is not None:
                key = f"vote:{result.search_id}:{hit.id}"
                st.feedback("thumbs", key=key, on_change=vote, args=(result.search_id, hit.id, key))


def show_more() -> None:
    st.session_state.shown = st.session_state.get("shown", PAGE_SIZE) + PAGE_SIZE


if len(result.hits) == st.session_state.get("shown", PAGE_SIZE) < MAX_RESULTS:
    st.button("Show more results", on_click=show_more)
