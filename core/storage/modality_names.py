"""What people call a modality: a display name in each interface language.

Every version's modality rows carry one (``store.VersionModality``): an admin gives it when
adding a modality, a derived version keeps its parent's, and a build names the built-in
modalities from ``BUILT_IN`` below, the one place their names are written (the pages, the
build and the migration that named the rows made before names existed all read it).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.reading.text import TAG, TEXT
from core.reading.vision import VISUAL

MAX_NAME_CHARS = 64  # the width of the database columns


@dataclass(frozen=True)
class DisplayName:
    """A modality's name in English and in Russian."""

    en: str
    ru: str

    def in_language(self, language: str) -> str:
        """The name in ``language`` ("en" or "ru")."""
        return self.ru if language == "ru" else self.en


BUILT_IN = {
    TEXT: DisplayName("Words", "Слова"),
    TAG: DisplayName("Hashtags", "Хэштеги"),
    VISUAL: DisplayName("Picture", "Картинка"),
}


def default_display_name(modality: str) -> DisplayName:
    """The name of a modality nobody named: a built-in one's own, else its id without the
    '@' (a column a collection brought to a build)."""
    if modality in BUILT_IN:
        return BUILT_IN[modality]
    bare = modality.removeprefix("@")
    return DisplayName(bare, bare)


def checked_display_name(en: str, ru: str) -> DisplayName:
    """The names an admin typed, trimmed; ``ValueError`` if one is empty or too long."""
    name = DisplayName(en.strip(), ru.strip())
    if not name.en or not name.ru:
        raise MissingDisplayName()
    if max(len(name.en), len(name.ru)) > MAX_NAME_CHARS:
        raise ValueError(f"a modality's name has at most {MAX_NAME_CHARS} characters")
    return name


class MissingDisplayName(ValueError):
    """A new modality was not named in both languages."""

    def __init__(self) -> None:
        super().__init__("a new modality needs a display name in English and in Russian")
