"""Topic review: find topics by status, label or term, page through them with each topic's
typical photos, label them, and mark many junk or background at once."""

import streamlit as st

from admin.topics import SORT_KEYS, edit_topic, review_topics, set_topic_statuses
from admin.ui import active_version_or_stop, db, perform, require, take_down_control
from core.storage import store
from interface.i18n import modality_label, plural, t, translated_key
from interface.state import service
from interface.widgets import escape_markdown, token_display

PER_PAGE = 20
TERMS = 10
THUMBNAILS = 5
PICK = "pick-topic:"
ALL = ""  # the filters' "all": a value of its own, as Streamlit shows None as no choice

user = require("review_topics", t("review_title"))

version = active_version_or_stop()
with db() as session:
    names = store.modality_display_names(session, version.id)

search, modality, status, sort = st.columns([3, 2, 2, 2])
term = search.text_input(t("review_term"), key="review-term", placeholder=t("review_term_hint"))
chosen_modality = modality.selectbox(
    t("modality"),
    [ALL, *names],
    format_func=lambda m: modality_label(m, names, staff=True) if m else t("all"),
    key=translated_key("review-modality"),
)
chosen_status = status.selectbox(
    t("field_status"),
    [ALL, *store.TOPIC_STATUSES],
    format_func=lambda s: t(f"topic_{s}") if s else t("all"),
    key=translated_key("review-status"),
)
order = sort.selectbox(
    t("sort_by"),
    SORT_KEYS,
    format_func=lambda key: t(f"sort_{key}"),
    key=translated_key("review-sort"),
)

with db() as session:
    rows = review_topics(
        session, term, chosen_modality or None, chosen_status or None, order, service().processor
    )
pages = max(1, (len(rows) + PER_PAGE - 1) // PER_PAGE)
left, right = st.columns([3, 1])
left.caption(t("review_count", version=version.name, topics=plural("topics", len(rows))))
page = right.number_input(t("page_of", pages=pages), 1, pages, 1) if pages > 1 else 1
shown = rows[(page - 1) * PER_PAGE : page * PER_PAGE]


def pick_page(value: bool) -> None:
    for row in shown:
        st.session_state[f"{PICK}{row.id}"] = value


picked = [row.id for row in rows if st.session_state.get(f"{PICK}{row.id}")]


def unpick(_: int) -> None:
    for topic_id in picked:
        st.session_state.pop(f"{PICK}{topic_id}", None)


with st.container(border=True):
    count, choose, apply, select_all, clear = st.columns([2, 2, 2, 2, 2])
    count.markdown(plural("topics_picked", len(picked)))
    bulk_status = choose.selectbox(
        t("set_status"),
        store.TOPIC_STATUSES,
        format_func=lambda s: t(f"topic_{s}"),
        label_visibility="collapsed",
        key=translated_key("bulk-status"),
    )
    if apply.button(t("apply_to_picked"), disabled=not picked, type="primary"):
        perform(
            set_topic_statuses,
            user,
            picked,
            bulk_status,
            done=lambda changed: plural("topics_changed", changed),
            then=unpick,
        )
    select_all.button(t("pick_page"), on_click=pick_page, args=(True,))
    clear.button(t("unpick_page"), on_click=pick_page, args=(False,))

thumbnails = service().topic_thumbnails(version, [row.index for row in shown], THUMBNAILS)
for row in shown:
    with st.container(border=True):
        about, photos = st.columns([3, 2])
        with about:
            st.checkbox(
                escape_markdown(f"#{row.index} · {row.label} · {t(f'topic_{row.status}')}"),
                key=f"{PICK}{row.id}",
            )
            for modality_id, terms in row.terms.items():
                words = [token_display(modality_id, *term) for term in terms[:TERMS]]
                st.text(f"{modality_label(modality_id, names, staff=True)}: {', '.join(words)}")
            with st.expander(t("edit_topic")), st.form(f"topic-{row.id}"):
                label = st.text_input(t("label"), row.label)
                status_value = st.selectbox(
                    t("field_status"),
                    store.TOPIC_STATUSES,
                    index=store.TOPIC_STATUSES.index(row.status),
                    format_func=lambda s: t(f"topic_{s}"),
                )
                note = st.text_area(t("note"), row.note)
                if st.form_submit_button(t("save")):
                    perform(edit_topic, user, row.id, label, status_value, note, done=t("saved"))
        with photos:
            typical = thumbnails[row.index]
            images = [doc.hit.image for doc in typical if doc.hit.image]
            if images:
                st.image(images, width=72, caption=[f"{doc.share:.0%}" for doc in typical])
            else:
                st.caption(t("no_typical_documents"))
            shown_documents = [(doc.hit.id, doc.hit.text) for doc in typical]
            take_down_control(user, shown_documents, f"topic-{row.id}")
