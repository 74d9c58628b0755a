"""A search lives in the address: its words, its photo's content hash, the document it asks
"more like" for and the visitor's weights are query parameters, so a reload or a shared link
reproduces it.

The address is the one source of truth for the search page: the form writes it on submit, the
weight sliders write it when moved (and are drawn from it), and every run reads it. What does not
fit (a malformed weight, an unknown modality, words over the length limit, a photo the server no
longer keeps) is left out with a notice, and the address is rewritten without it.

``parse_address`` and ``SearchAddress.params`` are plain functions of the parameters; the rest
reads and writes ``st.query_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import streamlit as st

from core.serving.answers import MAX_QUERY_CHARS, UnknownDocument
from core.serving.service import ActiveModel, Service
from core.serving.upload_cache import PHOTO_HASH, PhotoStore
from core.storage.modality_names import DisplayName
from interface.i18n import LANGUAGE_PARAM, modality_label, t

WORDS = "q"
PHOTO = "photo"
LIKE = "like"
WEIGHT = "w-"  # w-tag=0.1: the visitor's weight of @tag
MAX_ID_CHARS = 200  # a document id longer than this is no document's
MAX_NAME_CHARS = 40  # of a name from the address, repeated in a notice
# A log-like scale: each step changes a modality's pull on the query visibly.
WEIGHT_STEPS = (0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
WORDS_SHOWN_KEY = "address_words"  # the address's words the words box was last given


@dataclass(frozen=True)
class Notice:
    """Why part of an address was left out: a message key and the values it names."""

    key: str
    values: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchAddress:
    """A search as its address holds it; ``weights`` are the visitor's overrides only."""

    text: str = ""
    photo: str | None = None  # content hash of a photo in the ``PhotoStore``
    like: str | None = None  # document id: "more like" it
    weights: dict[str, float] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        """The query parameters that hold this search."""
        params = {WORDS: self.text, PHOTO: self.photo or "", LIKE: self.like or ""}
        params = {key: value for key, value in params.items() if value}
        for modality, weight in sorted(self.weights.items()):
            params[weight_param(modality)] = number_text(weight)
        return params


def weight_param(modality: str) -> str:
    """The parameter of a modality's weight (modality names start with '@', which addresses
    would show percent-encoded)."""
    return WEIGHT + modality.removeprefix("@")


def number_text(weight: float) -> str:
    """A weight as short as it reads back exactly."""
    short = f"{weight:g}"
    return short if float(short) == weight else repr(weight)


def is_search_param(key: str) -> bool:
    return key in (WORDS, PHOTO, LIKE) or key.startswith(WEIGHT)


def parse_address(
    params: Mapping[str, str], global_weights: Mapping[str, float]
) -> tuple[SearchAddress, list[Notice]]:
    """The search in ``params`` (other parameters are not the search's and are let be), and a
    notice for each part left out.

    A weight must be one the slider can show: a step of ``WEIGHT_STEPS`` or the modality's global
    weight (in ``global_weights``, one per modality of the active version); one equal to the
    global weight is no override.
    """
    notices = []
    text = params.get(WORDS, "")
    if len(text) > MAX_QUERY_CHARS:
        notices.append(Notice("link_words_too_long", {"limit": f"{MAX_QUERY_CHARS:,}"}))
        text = ""
    photo = params.get(PHOTO) or None
    if photo is not None and not PHOTO_HASH.fullmatch(photo):
        notices.append(Notice("link_bad_photo"))
        photo = None
    like = params.get(LIKE) or None
    if like is not None and (len(like) > MAX_ID_CHARS or not like.strip()):
        notices.append(Notice("link_bad_document"))
        like = None
    weights = {}
    for key, value in params.items():
        if not key.startswith(WEIGHT):
            continue
        modality = "@" + key.removeprefix(WEIGHT)
        if modality not in global_weights:
            name = key.removeprefix(WEIGHT)[:MAX_NAME_CHARS]
            notices.append(Notice("link_unknown_modality", {"name": name}))
            continue
        weight = _number(value)
        if weight not in {*WEIGHT_STEPS, global_weights[modality]}:
            notices.append(
                Notice("link_bad_weight", {"modality": modality, "value": value[:MAX_NAME_CHARS]})
            )
        elif weight != global_weights[modality]:
            weights[modality] = weight
    return SearchAddress(text, photo, like, weights), notices


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- the address bar


@st.cache_resource(show_spinner=False)
def photo_store(cache_dir: Path) -> PhotoStore:
    """The process's store of visitors' photos, next to their probabilities' cache."""
    return PhotoStore(cache_dir / "uploads" / "photos")


def global_weights(active: ActiveModel) -> dict[str, float]:
    """Everyone's weight of each modality of the active version."""
    return {modality: active.weights.get(modality, 0.0) for modality in active.modalities}


def read_search(
    active: ActiveModel, photos: PhotoStore
) -> tuple[SearchAddress, Path | None, list[Notice]]:
    """The search in the address, its photo's file and a notice for each part left out (a
    photo the server no longer keeps too); the address is rewritten without those parts, so
    the notices are shown once."""
    address, notices = parse_address(st.query_params.to_dict(), global_weights(active))
    photo = photos.photo(address.photo) if address.photo else None
    if address.photo and photo is None:
        notices.append(Notice("link_photo_gone"))
        address = replace(address, photo=None)
    if notices:
        write_search(address)
    return address, photo, notices


def linked_photo(photos: PhotoStore) -> tuple[Path | None, Notice | None]:
    """The photo in the address of a page whose address is its photo alone (Annotate), so a
    reload, Back or a shared link shows the same photo; and a notice when the link's photo is
    not valid or no longer kept, which is then taken out of the address."""
    digest = st.query_params.get(PHOTO)
    if not digest:
        return None, None
    path = photos.photo(digest)
    if path is None:
        del st.query_params[PHOTO]
        valid = PHOTO_HASH.fullmatch(digest)
        return None, Notice("link_photo_gone_upload" if valid else "link_bad_photo")
    return path, None


def keep_uploaded_photo(photos: PhotoStore, key: str) -> None:
    """The upload field ``key`` changed: its photo kept and named in the address, or, cleared,
    no photo there."""
    upload = st.session_state.get(key)
    if upload is None:
        st.query_params.pop(PHOTO, None)
    else:
        st.query_params[PHOTO] = photos.keep(upload.getvalue())


def write_search(address: SearchAddress) -> None:
    """Put ``address`` in the address bar; parameters that are not the search's stay."""
    params = address.params()
    for key in [key for key in st.query_params if is_search_param(key) and key not in params]:
        del st.query_params[key]
    for key, value in params.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def write_typed_search(address: SearchAddress) -> None:
    """Put the search the visitor just submitted in the address. The words box already shows
    its words: marking them as shown keeps the next run from taking the new address for a link
    opened from outside and putting these words back over the next ones typed."""
    write_search(address)
    st.session_state[WORDS_SHOWN_KEY] = address.text


def notice_text(notice: Notice, names: Mapping[str, DisplayName]) -> str:
    """A notice as the visitor reads it (a modality by its display ``names``)."""
    values = dict(notice.values)
    if "modality" in values:
        values["modality"] = modality_label(values["modality"], names)
    return t(notice.key, **values)


def words_box(text: str, key: str) -> None:
    """Give the words box (widget ``key``) the address's words when the address changed from
    outside (a link, a reload, back and forward), never over words the visitor is typing."""
    if st.session_state.get(WORDS_SHOWN_KEY) != text:
        st.session_state[key] = text
        st.session_state[WORDS_SHOWN_KEY] = text


def set_weight(modality: str, weight: float | None) -> None:
    """The visitor's weight of ``modality`` (None: everyone's)."""
    if weight is None:
        st.query_params.pop(weight_param(modality), None)
    else:
        st.query_params[weight_param(modality)] = number_text(weight)


def clear_weights() -> None:
    """Back to everyone's weights."""
    for key in [key for key in st.query_params if key.startswith(WEIGHT)]:
        del st.query_params[key]


def leave_like() -> None:
    """From "more like" a document back to the search it was asked from (if any)."""
    st.query_params.pop(LIKE, None)


def more_like_params(doc_id: str) -> dict[str, str]:
    """The address of "more like" ``doc_id``: the search it is asked from stays in it, for
    "Back to my search" (from another page there is none)."""
    params = st.query_params.to_dict()
    search = {key: value for key, value in params.items() if is_search_param(key)}
    return with_language({**search, LIKE: doc_id})


def with_language(params: dict[str, str]) -> dict[str, str]:
    """``params`` of a link to another page, and the address's language if it holds one (a
    language chosen other than the browser's): without it, the page's first run would write
    it back, one more step for the browser's Back."""
    language = st.query_params.get(LANGUAGE_PARAM)
    return {**params, LANGUAGE_PARAM: language} if language else params


def document_caption(service: Service, active: ActiveModel, doc_id: str) -> str:
    """The caption of a document of the active version ("" for an unknown one)."""
    try:
        return service.document(doc_id, active).text
    except UnknownDocument:
        return ""
