"""Russian words reach English documents (and back) through the collection's bilingual ones.

Many documents carry both languages: a caption in English and Russian, a category tag and its
Russian twin. Words of the two scripts that keep appearing in the same documents name the same
thing ('птица' and 'bird' share the documents tagged #birds #птицы). ``Translations`` learns
these pairs by the Dice coefficient over those documents, so a query word can be searched for
in the other language too, in documents that have only that one (``core.serving.ranking``).

What the collection never says in both languages (a book drawn with an English title only) comes
from a general dictionary instead: ``Lexicon``, the first two senses of Mueller's English-Russian
dictionary as ``@text`` tokens (``core/assets/lexicon_en_ru.tsv``, built by
``scripts/build_lexicon.py``). Its translations know no context, so they count for less than the
collection's own (``LEXICON_SHARE``) and come after them.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from core.reading.collection import TokenCounts
from core.reading.text import TAG, TEXT, TextProcessor
from core.serving.class_words import object_names

CYRILLIC = re.compile(r"[а-яё]")
LATIN = re.compile(r"[a-z]")
LEXICON_PATH = Path(__file__).resolve().parents[1] / "assets" / "lexicon_en_ru.tsv"
# A dictionary translation as a share of the word itself: set once, before any tuning, below
# the Dice coefficients the collection's own pairs need (``TranslationParams.min_dice``).
LEXICON_SHARE = 0.25


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


class Lexicon:
    """A general bilingual dictionary of ``@text`` tokens, both ways: an English token's Russian
    tokens in the dictionary's order; a Russian token's English tokens by how common the English
    word is (Zipf frequency) less one for every place the Russian word stands behind the first
    translation ('ship' -> 'судно, корабль' makes 'ship' a good 'корабль' at one place less).

    With ``first_senses_back`` a Russian token's English tokens are its best one and the
    others whose first translation it is: 'чашка' is the second sense of 'basin', and a query
    for cups found a mountain basin."""

    def __init__(
        self, table: Mapping[str, tuple[float, Sequence[str]]], first_senses_back: bool = False
    ) -> None:
        """``table``: English token -> (its Zipf frequency, its Russian tokens in order)."""
        self.table = {
            english: (frequency, list(russian)) for english, (frequency, russian) in table.items()
        }
        self.first_senses_back = first_senses_back
        self._russian = {english: russian for english, (_, russian) in self.table.items()}
        ranked: dict[str, list[tuple[float, int, str]]] = {}
        for english, (frequency, russian) in self.table.items():
            for position, word in enumerate(russian):
                ranked.setdefault(word, []).append((position - frequency, position, english))
        self._english = {}
        for word, found in ranked.items():
            found.sort()
            self._english[word] = [
                e
                for place, (_, position, e) in enumerate(found)
                if not first_senses_back or place == 0 or position == 0
            ]

    @classmethod
    def read(cls, path: Path = LEXICON_PATH, first_senses_back: bool = False) -> Lexicon:
        """Rows of 'english token<TAB>Zipf frequency<TAB>russian,tokens'; '#' starts a comment."""
        table = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                english, frequency, russian = line.split("\t")
                table[english] = (float(frequency), russian.split(","))
        return cls(table, first_senses_back)

    def objects_first(self, names: Mapping[str, AbstractSet[str]]) -> Lexicon:
        """This dictionary with each English token's translations that name the object it
        names in photos (``names``: English token -> Russian tokens,
        ``core.serving.class_words.object_names``) moved first, the rest in order: the
        dictionary lists a word's senses as it finds them ('train' -> 'воспитание, обучение',
        'поезд' fifth), and a photo collection asks for the object."""
        table = {
            english: (frequency, sorted(russian, key=lambda w: w not in names.get(english, ())))
            for english, (frequency, russian) in self.table.items()
        }
        return Lexicon(table, self.first_senses_back)

    def knows(self, token: str) -> bool:
        """Whether ``token`` (of either language) is one of the dictionary's words."""
        return token in self._russian or token in self._english

    def pairs_first(self, word: str, other: str) -> bool:
        """Whether the dictionary's first translation of ``word`` is ``other``, or of ``other``
        is ``word``: a later one is often another sense ('coin' -> 'монета', then 'деньги')."""
        return self.of(word, 1) == [other] or self.of(other, 1) == [word]

    def english_tokens(self) -> list[str]:
        return sorted(self._russian)

    def of(self, word: str, limit: int) -> list[str]:
        """At most ``limit`` translations of ``word`` (a token of either language), best first."""
        if script_of(word) == "cyrillic":
            return self._english.get(word, [])[:limit]
        return self._russian.get(word, [])[:limit]


@cache
def default_lexicon() -> Lexicon:
    """The lexicon the project ships, read once per process."""
    return Lexicon.read()


@cache
def shipped_lexicon(objects_first: bool, first_senses_back: bool) -> Lexicon:
    """The shipped lexicon as a ranking reads it (``RankingParams.object_senses_first``,
    ``first_senses_back``), made once per process."""
    if not (objects_first or first_senses_back):
        return default_lexicon()
    lexicon = Lexicon.read(first_senses_back=first_senses_back)
    return lexicon.objects_first(object_names(TextProcessor())) if objects_first else lexicon


class Translations:
    """word -> [(word of the other script, share)], best first: the collection's own pairs
    with their Dice coefficient, then the lexicon's with ``LEXICON_SHARE``, ``per_word`` in all
    but for the lexicon's first translation, which always comes (``of``)."""

    def __init__(
        self,
        table: Mapping[str, list[tuple[str, float]]],
        lexicon: Lexicon | None = None,
        per_word: int = 3,
    ) -> None:
        self.table = dict(table)
        self.lexicon = lexicon
        self.per_word = per_word

    def to_json(self) -> dict:
        """The collection's own pairs (the dictionary is the project's, not the version's)."""
        return {"per_word": self.per_word, "table": self.table}

    @classmethod
    def from_json(cls, data: Mapping, lexicon: Lexicon | None = None) -> Translations:
        table = {word: [(w, float(d)) for w, d in pairs] for word, pairs in data["table"].items()}
        return cls(table, lexicon, int(data["per_word"]))

    def with_lexicon(self, lexicon: Lexicon | None) -> Translations:
        """The collection's own pairs with ``lexicon`` (None: without a dictionary)."""
        return Translations(self.table, lexicon, self.per_word)

    def of(self, word: str) -> list[tuple[str, float]]:
        """The collection's pairs, then the dictionary's translations while fewer than
        ``per_word``; the dictionary's first translation comes even past a full list: the
        collection pairs a word with related words of the same few documents too ('автомобиль'
        with 'auto' and a car brand), and without 'car' a Russian query for cars, or one
        leaving cars out, missed the cars captioned in English."""
        learned = self.table.get(word, [])
        if self.lexicon is None:
            return learned
        known = {w for w, _ in learned}
        room = self.per_word - len(learned)
        offered = self.lexicon.of(word, self.per_word if room > 0 else 1)
        extra = [w for w in offered if w not in known and w != word]
        return learned + [(w, LEXICON_SHARE) for w in extra[: max(room, 1)]]

    def confirmed(self, word: str) -> list[tuple[str, float]]:
        """The translations of ``word`` (``of``) that name the same thing: the dictionary's,
        and the collection's pairs that the dictionary translates first or whose other word has
        ``word`` as its own best translation ('кошка' -> 'cat' first, so 'lion' -> 'кошка' is
        not confirmed): what an excluded word leaves out (``QueryReader.excluded_terms``),
        where a related word costs relevant documents."""
        learned = {other for other, _ in self.table.get(word, [])}
        return [
            (other, share)
            for other, share in self.of(word)
            if other not in learned
            or [w for w, _ in self.table.get(other, [])][:1] == [word]
            or (self.lexicon is not None and self.lexicon.pairs_first(word, other))
        ]

    def with_synonyms(self, word: str, exponent: float = 1.0) -> list[tuple[str, float]]:
        """``of``, then the words of ``word``'s own language that its confirmed translations
        translate back to, confirmed too, at the product of the two shares to the power
        ``exponent``: 'ship' -> 'корабль' -> 'boat', 'telephone' -> 'телефон' -> 'phone'. What
        a query word reaches in the ranking (``QueryReader.query_terms``): a collection says
        one thing in many words, and the two languages name their synonyms; only confirmed
        pairs, so a related word of the same documents ('lion' -> 'кошка') brings no 'cat'."""
        found = list(self.of(word))  # of's list may be the table's own
        seen = {word, *(other for other, _ in found)}
        for other, share in self.confirmed(word):
            for back, back_share in self.confirmed(other):
                if back not in seen:
                    seen.add(back)
                    found.append((back, (share * back_share) ** exponent))
        return found

    @classmethod
    def learn(
        cls,
        documents: Iterable[TokenCounts],
        word_of_tag: Callable[[str], str | None],
        params: TranslationParams | None = None,
        lexicon: Lexicon | None = None,
    ) -> Translations:
        """From the documents whose words (``@text`` tokens and the words of their hashtags)
        come in both scripts, in one pass that keeps counts only, in arrays (``PairCounts``: a
        build streams its documents from disk); ``lexicon`` fills in what they do not pair.
        The table is in word order, so a version's file is the same on every run."""
        params = params or TranslationParams()
        counts = PairCounts()
        for words in _document_words(documents, word_of_tag):
            by_script: dict[str, list[str]] = {}
            for word in words:
                script = script_of(word)
                if script is not None:
                    by_script.setdefault(script, []).append(word)
            if len(by_script) == 2:
                counts.add(by_script["cyrillic"], by_script["latin"])
        candidates: dict[str, list[tuple[str, float]]] = {}
        for russian, english, dice in counts.dice(params.min_documents, params.min_dice):
            candidates.setdefault(russian, []).append((english, dice))
            candidates.setdefault(english, []).append((russian, dice))
        table = {}
        for word in sorted(candidates):
            found = sorted(candidates[word], key=lambda item: (-item[1], item[0]))
            best = found[0][1]
            table[word] = [(w, d) for w, d in found if d >= params.relative * best][
                : params.per_word
            ]
        return cls(table, lexicon, params.per_word)


PAIR_MERGE = 1 << 20  # pairs counted between two merges into the running counts (8 MB)


class PairCounts:
    """How many documents hold each word, and each (Russian word, English word) pair, kept in
    arrays rather than Counters of strings and tuples (about 200 bytes a pair): every word gets
    an integer id, a pair is one int64 (``russian id << 32 | english id``), and the pairs of
    many documents are merged into the sorted running counts at once (``PAIR_MERGE`` of them),
    16 bytes a distinct pair. A build's collection has millions of pairs."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.with_word = array("q")  # by word id: the documents with it
        self.pairs = np.empty(0, dtype=np.int64)  # distinct pairs, ascending
        self.with_pair = np.empty(0, dtype=np.int64)  # documents with each pair
        self.pending = array("q")  # pairs not merged yet, repeats included

    def add(self, russian: Iterable[str], english: Iterable[str]) -> None:
        """One document's distinct words of each script."""
        russian_ids, english_ids = [self._id(w) for w in russian], [self._id(w) for w in english]
        for word in (*russian_ids, *english_ids):
            self.with_word[word] += 1
        self.pending.extend(r << 32 | e for r in russian_ids for e in english_ids)
        if len(self.pending) >= PAIR_MERGE:
            self._merge()

    def dice(self, min_documents: int, min_dice: float) -> Iterator[tuple[str, str, float]]:
        """(Russian word, English word, Dice coefficient) of every pair in at least
        ``min_documents`` documents with a coefficient of at least ``min_dice``."""
        self._merge()
        words = list(self.ids)
        with_word = np.frombuffer(self.with_word, dtype=np.int64)
        russian, english = self.pairs >> 32, self.pairs & 0xFFFFFFFF
        dice = 2 * self.with_pair / (with_word[russian] + with_word[english])
        kept = np.flatnonzero((self.with_pair >= min_documents) & (dice >= min_dice))
        for r, e, d in zip(russian[kept], english[kept], dice[kept], strict=True):
            yield words[r], words[e], float(d)

    def _id(self, word: str) -> int:
        found = self.ids.setdefault(word, len(self.ids))
        if found == len(self.with_word):
            self.with_word.append(0)
        return found

    def _merge(self) -> None:
        """The pending pairs added to the running counts: known pairs counted up, new ones
        inserted in order."""
        codes, counts = np.unique(np.frombuffer(self.pending, dtype=np.int64), return_counts=True)
        self.pending = array("q")
        at = np.searchsorted(self.pairs, codes)
        known = at < len(self.pairs)
        known[known] = self.pairs[at[known]] == codes[known]
        self.with_pair[at[known]] += counts[known]
        self.pairs = np.insert(self.pairs, at[~known], codes[~known])
        self.with_pair = np.insert(self.with_pair, at[~known], counts[~known])


def learn_translations(documents: Iterable[TokenCounts], processor: TextProcessor) -> Translations:
    """The pairs of ``documents`` (a hashtag's word as ``processor`` reads it) and the shipped
    dictionary: what a build stores with a version (``VersionFiles.write_translations``)."""
    return Translations.learn(documents, processor.word_token, lexicon=default_lexicon())


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
