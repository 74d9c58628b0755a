"""Russian words reach English documents (and back) through the collection's bilingual ones.

Many documents carry both languages: a caption in English and Russian, a category tag and its
Russian twin. Words of the two scripts that keep appearing in the same documents name the same
thing ('птица' and 'bird' share the documents tagged #birds #птицы). ``Translations`` learns
these pairs by the Dice coefficient over those documents, so a query word can be searched for
in the other language too, in documents that have only that one (``core.ranking``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.model import TokenCounts
from core.text import TAG, TEXT

CYRILLIC = re.compile(r"[а-яё]")
LATIN = re.compile(r"[a-z]")


def script_of(word: str) -> str | None:
    if CYRILLIC.search(word):
        return "cyrillic"
    if LATIN.search(word):
        return "latin"
    return None


@dataclass(frozen=True)
class TranslationParams:
    """A pair needs ``min_documents`` shared documents and a Dice coefficient of ``min_dice``;
    a word keeps at most ``per_word`` translations, each at least ``relative`` of its best."""

    min_documents: int = 2
    min_dice: float = 0.3
    relative: float = 0.5
    per_word: int = 3

    def __post_init__(self) -> None:
        if self.min_documents < 1 or self.per_word < 1:
            raise ValueError("min_documents and per_word must be >= 1")
        if not (0 < self.min_dice <= 1 and 0 < self.relative <= 1):
            raise ValueError("min_dice and relative must be in (0, 1]")


class Translations:
    """word -> [(word of the other script, Dice coefficient)], best first."""

    def __init__(self, table: Mapping[str, list[tuple[str, float]]]) -> None:
        self.table = dict(table)

    def of(self, word: str) -> list[tuple[str, float]]:
        return self.table.get(word, [])

    @classmethod
    def learn(
        cls,
        documents: Sequence[TokenCounts],
        word_of_tag: Callable[[str], str | None],
        params: TranslationParams | None = None,
    ) -> Translations:
        """From the documents whose words (``@text`` tokens and the words of their hashtags)
        come in both scripts."""
        params = params or TranslationParams()
        seen: Counter[str] = Counter()
        together: Counter[tuple[str, str]] = Counter()
        for words in _document_words(documents, word_of_tag):
            by_script: dict[str, list[str]] = {}
            for word in words:
                script = script_of(word)
                if script is not None:
                    by_script.setdefault(script, []).append(word)
            if len(by_script) < 2:
                continue
            seen.update(words)
            together.update((a, b) for a in by_script["cyrillic"] for b in by_script["latin"])
        candidates: dict[str, list[tuple[str, float]]] = {}
        for (russian, english), shared in together.items():
            if shared < params.min_documents:
                continue
            dice = 2 * shared / (seen[russian] + seen[english])
            if dice >= params.min_dice:
                candidates.setdefault(russian, []).append((english, dice))
                candidates.setdefault(english, []).append((russian, dice))
        table = {}
        for word, found in candidates.items():
            found.sort(key=lambda item: (-item[1], item[0]))
            best = found[0][1]
            table[word] = [(w, d) for w, d in found if d >= params.relative * best][
                : params.per_word
            ]
        return cls(table)


def _document_words(
    documents: Iterable[TokenCounts], word_of_tag: Callable[[str], str | None]
) -> Iterable[set[str]]:
    for doc in documents:
        words = set(doc.get(TEXT, {}))
        for tag in doc.get(TAG, {}):
            word = word_of_tag(tag)
            if word is not None:
                words.add(word)
        yield words
