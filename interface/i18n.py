"""The interface language: chosen by a switch, defaulting to the browser's language. A choice
other than the browser's stays in the address (``?lang=ru``), so that a reload, a new tab or a
shared link keeps it.

Every text a page shows comes from the tables in ``interface.messages`` through ``t`` (or
``plural`` for a count), so the two languages stay complete and in step (a test compares them).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar

import streamlit as st

from core.storage.modality_names import DisplayName, default_display_name
from interface.messages import MESSAGES

LANGUAGES = {"en": "English", "ru": "Русский"}
DEFAULT_LANGUAGE = "en"
LANGUAGE_KEY = "language"  # the switch
CHOSEN_LANGUAGE_KEY = "chosen_language"
LANGUAGE_PARAM = "lang"  # in the address: a language chosen other than the browser's
_THIS_RUN: ContextVar[str | None] = ContextVar("interface_language", default=None)
PLURAL_FORMS = {"en": ("one", "other"), "ru": ("one", "few", "many")}


def language_of(locale: str | None) -> str:
    """The supported language of a locale or an Accept-Language header ("ru-RU,ru;q=0.9,en")."""
    for part in (locale or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return DEFAULT_LANGUAGE


def browser_language() -> str:
    """The browser's language (``navigator.language``, else the Accept-Language header)."""
    return language_of(st.context.locale or st.context.headers.get("Accept-Language"))


def language() -> str:
    """This session's language: the one the switch last chose, first the browser's.

    Every text on a page asks for it (about 150 times per results page), so it is read from
    the session once per run, by ``language_switch`` at the top of every page, and kept for the
    rest of the run (each run has its own thread); only code that runs before it reads the
    session.
    """
    if (chosen := _THIS_RUN.get()) is not None:
        return chosen
    return _session_language()


def _session_language() -> str:
    """The language kept under a plain session key (reading the switch's own widget state
    costs Streamlit a deserialization each time)."""
    if (chosen := st.session_state.get(CHOSEN_LANGUAGE_KEY)) is None:
        preset = st.session_state.get(LANGUAGE_KEY)  # e.g. set before the session's first run
        addressed = st.query_params.get(LANGUAGE_PARAM)
        chosen = next(
            (lang for lang in (preset, addressed) if lang in LANGUAGES), browser_language()
        )
        st.session_state[CHOSEN_LANGUAGE_KEY] = chosen
    return chosen


def _address_language(chosen: str) -> None:
    """Keep a language chosen other than the browser's in the address, and no other."""
    if chosen == browser_language():
        st.query_params.pop(LANGUAGE_PARAM, None)
    elif st.query_params.get(LANGUAGE_PARAM) != chosen:
        st.query_params[LANGUAGE_PARAM] = chosen


def language_switch() -> None:
    """The language switch, at the top of the sidebar on every page (clicking the chosen
    language again leaves it chosen); call it first in every run."""

    def remember_choice() -> None:
        if (picked := st.session_state[LANGUAGE_KEY]) in LANGUAGES:
            st.session_state[CHOSEN_LANGUAGE_KEY] = picked
            _THIS_RUN.set(picked)
            _address_language(picked)

    chosen = _session_language()
    _THIS_RUN.set(chosen)
    _address_language(chosen)
    st.session_state[LANGUAGE_KEY] = chosen
    st.sidebar.segmented_control(
        "🌐",
        list(LANGUAGES),
        format_func=LANGUAGES.__getitem__,
        key=LANGUAGE_KEY,
        on_change=remember_choice,
        label_visibility="collapsed",
    )


def translated_key(key: str) -> str:
    """The key of a choice widget whose options are shown in the session's language, one per
    language, carrying over what was chosen under the other.

    A selectbox sends back the label of its choice, not the value. After a language switch that
    label is none of the new options: Streamlit kept it as a value of its own (an English "all"
    on a Russian page) or showed its English placeholder. Under a key of the language the
    widget is a new one, given the value (not the label) chosen before the switch.
    """
    keyed = f"{key}:{language()}"
    if keyed not in st.session_state:
        for other in LANGUAGES:
            if (previous := f"{key}:{other}") in st.session_state:
                st.session_state[keyed] = st.session_state[previous]
                break
    return keyed


def t(key: str, **values: object) -> str:
    """The message ``key`` in this session's language, with ``values`` filled in."""
    return MESSAGES[language()][key].format(**values)


def t_or(key: str, default: str) -> str:
    """The message ``key`` if the tables have it, else ``default`` (e.g. a job kind or an
    action name added later keeps its id until someone translates it)."""
    return t(key) if key in MESSAGES[language()] else default


def plural_form(lang: str, n: float) -> str:
    """Which plural form a count takes: English one/other, Russian one/few/many."""
    if lang == "ru":
        if n != int(n):
            return "few"
        n = abs(int(n))
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "other"


def plural(key: str, n: float, **values: object) -> str:
    """The message ``key`` in the form that fits ``n`` ("1 topic", "2 темы", "5 тем")."""
    lang = language()
    forms: Mapping[str, str] = MESSAGES[lang][key]
    return forms[plural_form(lang, n)].format(n=n, **values)


def modality_label(modality: str, names: Mapping[str, DisplayName], staff: bool = False) -> str:
    """How a page names a modality, from its display ``names`` (the version's, e.g.
    ``ActiveModel.display_names``): a visitor reads the name in their language ("Hashtags"),
    never the id; staff read both ("Hashtags (@tag)")."""
    name = (names.get(modality) or default_display_name(modality)).in_language(language())
    return f"{name} ({modality})" if staff else name
