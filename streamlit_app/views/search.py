"""Search page: by words, by a photo or both, or documents like one found; per-visitor weights;
results with explanations and relevance votes. The search lives in the address
(``interface.address``): a reload or a shared link shows the same results."""

from dataclasses import replace

import streamlit as st

from admin.ui import show_notice, signed_in_user, take_down_control
from core.reading.images import ImageError
from core.reading.vision import VISUAL
from core.serving.answers import (
    MAX_QUERY_CHARS,
    Query,
    SearchRequest,
    SearchResult,
    UnknownDocument,
)
from core.serving.inference import NothingRecognized
from interface.address import (
    clear_weights,
    document_caption,
    leave_like,
    notice_text,
    photo_store,
    read_search,
    set_weight,
    words_box,
    write_search,
    write_typed_search,
)
from interface.errors import error_text, photo_refusal
from interface.i18n import language, modality_label, plural, t
from interface.state import (
    active_model_or_stop,
    photo_uploader,
    service,
    show_vote_messages,
    store_new_votes,
    visitor_id,
    vote_key,
)
from interface.widgets import (
    clamped,
    document_card,
    escape_markdown,
    nothing_recognized_message,
    similar_documents,
    token_text,
    weight_sliders,
    why_matched,
)
from streamlit_app import charts
from streamlit_app.fit_notice import fit_figures, hit_detail, hit_figures, show_fit

PAGE_SIZE = 12
MAX_RESULTS = 96
COLUMNS = 4

active = active_model_or_stop()
search_service = service()
store_new_votes(search_service)
photos = photo_store(search_service.settings.cache_dir)
address, photo_file, notices = read_search(active, photos)

st.title(t("search_title"))
st.caption(t("search_caption"))

words_box(address.text, "words")
too_long = False
with st.form("search-form"):
    text = st.text_input(t("words_field"), placeholder=t("words_placeholder"), key="words")
    st.caption(t("hashtag_hint"))
    photo = photo_uploader()
    # A reload or a link brings the photo in the address, not in the upload field.
    keep_linked = photo is None and photo_file is not None
    if keep_linked:
        st.image(photo_file, width=80)
        keep_linked = st.checkbox(t("keep_linked_photo"), value=True)
    submitted = st.form_submit_button(t("search_button"), type="primary")
    if submitted:
        st.session_state.shown = PAGE_SIZE
        too_long = len(text) > MAX_QUERY_CHARS
        if too_long:  # the page stops after the sidebar's sliders, which stay
            st.error(t("query_too_long", limit=f"{MAX_QUERY_CHARS:,}", length=f"{len(text):,}"))
        else:
            linked = address.photo if keep_linked else None
            digest = photos.keep(photo.getvalue()) if photo else linked
            photo_file = photos.photo(digest) if digest else None
            address = replace(address, text=text, photo=digest, like=None)
            write_typed_search(address)

for notice in notices:
    st.warning(escape_markdown(notice_text(notice, active.display_names)))
overrides = address.weights
weight_sliders(active, overrides, set_weight, clear_weights)
if too_long:
    st.stop()
like = address.like
query = None if like else Query(text=address.text, image=photo_file)
if query is not None and query.is_empty():
    if submitted or address.text:
        st.warning(t("empty_query"))
    st.stop()


def answer(overrides: dict[str, float], k: int) -> SearchResult:
    """The search for this query (or "more like" document), weights and size, repeated only
    when one of them or the model (version, live weights, hidden documents) changes, not on
    every rerun (e.g. a vote)."""
    asked = ("like", like) if like is not None else (query.text, address.photo)
    key = (asked, tuple(sorted(overrides.items())), k, active.cache_key)
    cached = st.session_state.get("answer")
    if cached is None or cached[0] != key:
        if like is not None:
            result = search_service.more_like(
                like, SearchRequest(k=k, weights=overrides), visitor=visitor_id(), active=active
            )
        else:
            result = search_service.search(
                SearchRequest(query, k, overrides), visitor=visitor_id(), active=active
            )
        st.session_state.answer = cached = (key, result)
    return cached[1]


def offer_did_you_mean() -> bool:
    """A button that runs the search again with its unknown words corrected, if any can be."""
    meant = search_service.did_you_mean(address.text, active) if like is None else None
    if meant:
        corrected = replace(address, text=meant, like=None)
        label = t("did_you_mean", words=escape_markdown(meant))
        st.button(label, on_click=write_search, args=(corrected,), icon=":material/spellcheck:")
    return bool(meant)


try:
    result = answer(overrides, st.session_state.get("shown", PAGE_SIZE))
except NothingRecognized as error:
    offered = offer_did_you_mean()
    why = search_service.why_nothing_recognized(
        SearchRequest(query or Query(), weights=overrides), error, active=active
    )
    if offered:  # the correction says more than the collection's most common words
        why = replace(why, suggestions=[])
    st.warning(escape_markdown(nothing_recognized_message(why, active.display_names)))
    st.stop()
except ImageError as error:
    st.error(escape_markdown(photo_refusal(error)))
    st.stop()
except UnknownDocument as error:  # asked for "more like" it before another version was activated
    write_search(replace(address, like=None))
    st.error(escape_markdown(error_text(error)))
    st.stop()

labels = search_service.topic_labels(active, language())
reading = search_service.read_query(result, labels, active)
if result.search_id is None:  # not recorded: no visitor, or too much waited for the database
    search_label = ""
elif (stored_id := search_service.writes.stored_id(result.search_id)) is None:
    search_label = t("search_saved_later")
else:
    search_label = t("search_number", number=stored_id)
st.caption(
    t(
        "results_caption",
        version=result.model_version,
        search=search_label,
        results=plural("results", len(result.hits)),
        ms=f"{result.latency_ms:.0f}",
    )
)
show_fit(result.fit)
if like is not None:
    caption = clamped(document_caption(search_service, active, like), 80) or like
    st.info(escape_markdown(t("like_info", caption=caption)))
    st.button(t("back_to_search"), on_click=leave_like)
elif query.image is not None and not query.text.strip():
    weight = overrides.get(VISUAL, active.weights.get(VISUAL, 0.0))
    picture = modality_label(VISUAL, active.display_names)
    st.info(t("photo_only", picture=picture, weight=f"{weight:g}"))
if reading.unknown:
    unknown = ", ".join(token for tokens in reading.unknown.values() for token in tokens)
    st.info(escape_markdown(t("unknown_ignored", words=unknown)))
    offer_did_you_mean()
if result.excluded:
    st.info(escape_markdown(t("excluded_words", words=", ".join(result.excluded))))

# On demand: the topic chart alone costs the web process more than the rest of the page's text.
figures_shown = st.toggle(t("understood_title"), key="show-understood")
if figures_shown:
    if result.fit is not None:
        st.caption(fit_figures(result.fit))
    if query is not None and query.image is not None:
        st.image(query.image, caption=t("your_photo"), width=200)
    st.markdown(f"**{t('tokens_used')}**")
    st.text(token_text(reading.kept, active.display_names))
    if reading.switched_off:
        st.markdown(f"**{t('tokens_switched_off')}**")
        st.text(token_text(reading.switched_off, active.display_names))
    st.markdown(f"**{t('query_topics')}**")
    st.plotly_chart(charts.topic_shares(reading.topics), key="query-topics")


show_vote_messages()
show_notice()
staff = signed_in_user(st.session_state)
for start in range(0, len(result.hits), COLUMNS):
    row = result.hits[start : start + COLUMNS]
    for column, hit in zip(st.columns(COLUMNS), row, strict=False):
        with column:
            topics = search_service.explain_hit(result, hit, labels, active)
            figures = hit_figures(hit) if figures_shown else ""
            why = why_matched(topics, active.display_names, figures)
            document_card(hit, hit_detail(hit), "result", why)
            if hit.similar:
                similar = [search_service.document(doc_id, active) for doc_id in hit.similar]
                similar_documents(similar)
            if result.search_id is not None:
                st.feedback("thumbs", key=vote_key(result.search_id, hit.id))
            take_down_control(staff, [(hit.id, hit.text)], f"hit-{hit.id}")


def show_more() -> None:
    st.session_state.shown = st.session_state.get("shown", PAGE_SIZE) + PAGE_SIZE


if len(result.hits) == st.session_state.get("shown", PAGE_SIZE) < MAX_RESULTS:
    st.button(t("show_more"), on_click=show_more)
