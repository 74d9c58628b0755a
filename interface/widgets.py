"""Pieces several pages show: documents, topics, token lists, the weight sliders.

Anything that comes from data (captions, tags, labels, words) is written with ``st.text`` or
escaped before it reaches Markdown, so it is always shown as typed, never rendered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import streamlit as st

from core.reading.vision import VISUAL, visual_display
from core.serving.answers import Annotation, Hit
from core.serving.bilingual import script_of
from core.serving.explain import TokenReading, TopicShare, WhyNothing
from core.serving.service import ActiveModel
from core.storage.modality_names import DisplayName
from interface.address import WEIGHT_STEPS, WORDS, more_like_params, with_language
from interface.i18n import language, modality_label, plural, t

ASCII_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# A known format spares Streamlit opening the image once more on every run just to detect it.
IMAGE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG"}
CAPTION_CHARS = 140  # longer captions are cut, with the full text one click away
WEIGHT_KEY = "weight:"
# The image of a card (a column with a button: result and topic cards) keeps a square box from
# the first paint, before its file arrives: otherwise the rows grow as images load, after the
# script has finished, and a click aimed at a thumb or a button lands on another card's.
IMAGE_BOX_STYLE = (
    "<style>[data-testid='stColumn']:has([data-testid='stButton']) [data-testid='stImage'] img"
    " {aspect-ratio: 1; object-fit: contain;}</style>"
)


# The uploader's own button (before a file is chosen; after, it has icon buttons only).
UPLOAD_BUTTON = "[data-testid='stFileUploaderDropzone'] [data-testid='stBaseButton-secondary']"


def streamlit_hints_style() -> str:
    """CSS that replaces Streamlit's own English texts, which it cannot translate
    (streamlit/streamlit#13500): the uploader's "10MB per file • JPG..." hint (our label says
    it), its "Upload" button text (ours instead) and a form's "Press Enter to submit form"
    (Enter still submits)."""
    button = json.dumps(t("upload_button"), ensure_ascii=False)
    return (
        "<style>[data-testid='stFileUploaderDropzoneInstructions'],"
        " [data-testid='InputInstructions'] {display: none;}"
        f" {UPLOAD_BUTTON} span {{display: none;}}"
        f" {UPLOAD_BUTTON}::after {{content: {button}; white-space: nowrap;}}</style>"
    )


def escape_markdown(text: str) -> str:
    """``text`` for a Markdown label (headers, expanders) that shows every character as typed.

    CommonMark lets any ASCII punctuation be escaped with a backslash; escaping all of it turns
    off emphasis, links, HTML, and Streamlit's ``:color[...]`` directives alike.
    """
    return ASCII_PUNCTUATION.sub(r"\\\1", " ".join(text.split()))


def clamped(text: str, limit: int = CAPTION_CHARS) -> str:
    """``text`` cut at a word boundary to about ``limit`` characters, with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut.rstrip() + "…"


def document_card(
    hit: Hit, detail: str, key: str, why: str = "", image_width: int | str = "stretch"
) -> None:
    """Thumbnail; caption, tags and one line of ``detail`` (e.g. distance) as one block of text,
    with a tooltip that holds the rest (the full caption if it is clamped, then ``why``); a
    "more like this" button.

    A results page shows a dozen cards on every run, and each Streamlit element costs the web
    process work on every run (building, sending, drawing): the card keeps to four elements.
    """
    if hit.image and Path(hit.image).is_file():
        image_format = IMAGE_FORMATS.get(Path(hit.image).suffix.lower(), "auto")
        st.image(hit.image, width=image_width, output_format=image_format)
    else:
        st.text(t("no_image"))
    caption = "\n".join([hit.text, " ".join(f"#{tag}" for tag in hit.tags)]).strip()
    lines = [escape_markdown(line) for line in clamped(caption).splitlines()]
    tooltip = [why]
    if len(caption) > CAPTION_CHARS:
        full = "  \n".join(escape_markdown(line) for line in caption.splitlines())
        tooltip = [f"**{t('full_caption')}**", full, why]
    st.markdown(
        "  \n".join([*lines, f":small[:gray[{escape_markdown(detail)}]]"]),
        help="\n\n".join(part for part in tooltip if part) or None,
    )
    if st.button(t("more_like_this"), key=f"like-{key}-{hit.id}", icon=":material/manage_search:"):
        st.switch_page("views/search.py", query_params=more_like_params(hit.id))


def similar_documents(similar: Sequence[Hit]) -> None:
    """The near-identical documents a result card stands for (``Hit.similar``: the same
    caption, alike photos), one click away: a popover with their photos."""
    with st.popover(plural("similar_documents", len(similar)), icon=":material/photo_library:"):
        photos = [hit.image for hit in similar if hit.image and Path(hit.image).is_file()]
        if photos:
            st.image(photos, width=96)


def why_matched(
    topics: Sequence[TopicShare], names: Mapping[str, DisplayName], figures: str = ""
) -> str:
    """Markdown for a hit's tooltip: the topics it shares with the query, each with its share
    of the match and its top terms per modality (by its display ``names``; a weak match says
    so instead); then
    ``figures`` (distance and score, for a visitor who opened "What the model understood")."""
    blocks = [f"**{t('why_matched')}**"]
    if not topics:
        blocks.append(t("weak_match"))
    for topic in topics:
        share = t("topic_share", label=topic.label, index=topic.index, share=topic.share)
        terms = [
            escape_markdown(f"{modality_label(modality, names)}: {', '.join(terms)}")
            for modality, terms in topic.terms.items()
        ]
        blocks.append("  \n".join([f"*{escape_markdown(share)}*", *terms]))
    if figures:
        blocks.append(f":gray[{escape_markdown(figures)}]")
    return "\n\n".join(blocks)


def visual_name(token: str) -> str:
    """An ImageNet class in the visitor's language; a class that language's list has no name
    for keeps its English name, marked as such."""
    return visual_display(token, language(), lambda name: t("visual_untranslated", name=name))


def token_display(modality: str, token: str, display: str) -> str:
    """How a page shows a token: a visual word in the visitor's language (the engine and the
    stored topic terms name it in English), any other token as ``display`` has it."""
    return visual_name(token) if modality == VISUAL else display


def token_text(readings: dict[str, list[TokenReading]], names: Mapping[str, DisplayName]) -> str:
    """One line per modality (by its display ``names``): the tokens in display form, with
    counts above one."""
    lines = []
    for modality, tokens in readings.items():
        shown = [(token_display(modality, r.token, r.display), r.count) for r in tokens]
        words = [name if count == 1 else f"{name} ×{count:g}" for name, count in shown]
        lines.append(f"{modality_label(modality, names)}: {', '.join(words)}")
    return "\n".join(lines)


def weight_text(weight: float) -> str:
    return t("weight_off") if weight == 0 else f"{weight:g}"


def weight_sliders(
    active: ActiveModel,
    overrides: Mapping[str, float],
    set_weight: Callable[[str, float | None], None],
    clear_weights: Callable[[], None],
) -> None:
    """Sliders in the sidebar that show and change this visitor's weight ``overrides``.

    The overrides (kept by the caller, e.g. in the address) are the one truth: every run sets
    each slider to its modality's override, else the live global weight, so a slider always
    shows the weight the search uses (a browser keeps showing a slider's old value unless the
    app sets it). Moving one calls ``set_weight`` (None: back at the global weight), so only
    the modalities the visitor moves override, and a weight changed by an administrator still
    reaches every modality left alone; the reset button calls ``clear_weights``. The steps are
    on a log-like scale, so that each one visibly changes the ranking.
    """

    def moved(modality: str, key: str, global_weight: float) -> None:
        weight = float(st.session_state[key])
        set_weight(modality, None if weight == global_weight else weight)

    with st.sidebar:
        st.subheader(t("weights_title"))
        st.caption(t("weights_caption"))
        for modality in active.modalities:
            global_weight = active.weights.get(modality, 0.0)
            value = overrides.get(modality, global_weight)
            key = f"{WEIGHT_KEY}{modality}"
            st.session_state[key] = value
            st.select_slider(
                modality_label(modality, active.display_names),
                options=sorted({*WEIGHT_STEPS, global_weight, value}),
                format_func=weight_text,
                key=key,
                on_change=moved,
                args=(modality, key, global_weight),
                help=t("global_weight", weight=weight_text(global_weight)),
            )
        if overrides:
            st.button(t("back_to_global"), on_click=clear_weights)


def suggestion_links(annotations: Sequence[Annotation]) -> None:
    """Suggested hashtags or words as links that run their search (``Annotation.query``: a
    hashtag as ``#tag``) on the search page, one row that wraps; a hashtag written in both
    languages is offered in the visitor's."""
    with st.container(horizontal=True, gap="small"):
        for annotation in annotations:
            query = in_visitors_language(annotation)
            st.page_link(
                "views/search.py",
                label=escape_markdown(query),
                query_params=with_language({WORDS: query}),
            )


def in_visitors_language(annotation: Annotation) -> str:
    """The suggestion's search text, or its twin's when only the twin is in the visitor's
    alphabet."""
    wanted = "cyrillic" if language() == "ru" else "latin"
    twin = annotation.twin_query
    if twin and script_of(annotation.query) != wanted and script_of(twin) == wanted:
        return twin
    return annotation.query


def nothing_recognized_message(why: WhyNothing, names: Mapping[str, DisplayName]) -> str:
    """What to tell a visitor whose query gave the model nothing, and what to change (the
    modalities by their display ``names``)."""
    parts = []
    if why.switched_off:
        off = ", ".join(modality_label(m, names) for m in why.switched_off)
        parts.append(t("nothing_switched_off", names=off))
    if why.unknown:
        parts.append(t("nothing_unknown", words=", ".join(why.unknown)))
    if why.no_words:
        parts.append(t("nothing_no_words"))
    if why.suggestions:
        parts.append(t("nothing_try", words=", ".join(why.suggestions)))
    return " ".join(parts)
