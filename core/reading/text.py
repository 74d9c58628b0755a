"""Text processor: a comment becomes `@text` and `@tag` tokens, as in the article.

Hashtags are split off by a regex first; the rest is lowercased and stripped of punctuation.
Words made wholly of Cyrillic letters are lemmatized with pymorphy3, every other word is
Porter-stemmed (NLTK, no data files needed). Stop words are dropped without nltk_data: English
from scikit-learn's list, Russian by part of speech (pymorphy3 tags prepositions, conjunctions,
particles, interjections and pronouns) plus a short list of frequent auxiliaries.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import pymorphy3
from nltk.stem.porter import PorterStemmer
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

TEXT = "@text"
TAG = "@tag"

HASHTAG_PATTERN = re.compile(r"#(\w+)")
WORD_PATTERN = re.compile(r"[^\W_]+")
CYRILLIC_WORD = re.compile(r"^[а-яё]+$")

RUSSIAN_STOP_POS = frozenset({"PREP", "CONJ", "PRCL", "INTJ", "NPRO", "PRED"})
RUSSIAN_STOP_LEMMAS = frozenset(
    [
        "быть",
        "являться",
        "это",
        "весь",
        "свой",
        "который",
        "такой",
        "так",
        "тот",
        "этот",
        "мочь",
        "очень",
        "ещё",
        "еще",
        "уже",
        "там",
        "тут",
        "где",
        "когда",
        "как",
        "вот",
        "ну",
        "да",
        "нет",
        "или",
        "либо",
        "один",
        "также",
        "тоже",
        "самый",
        "наш",
        "ваш",
        "их",
        "его",
        "её",
        "ее",
    ]
)
MAX_TEXT_CHARS = 100_000

# A phrase's head is the noun phrase it opens with ("a dog" of "a dog playing on the grass",
# "яблоки" of "яблоки в плетёной корзине"); it ends at the first word of these parts of speech
# (pymorphy3) in Russian, and in English at the first of these prepositions or, after its first
# word, at a participle ("-ing"). "of" is no end: "a piece of cheese" names the cheese.
RUSSIAN_HEAD_ENDS = frozenset({"PREP", "VERB", "INFN", "GRND", "ADVB", "CONJ", "PRCL", "PRED"})
# Read by case instead (``phrase_head(by_case=True)``, a Russian text): the head is the first noun
# that can be in the nominative and follows no preposition, with the adjectives just before it,
# then what hangs on it in the genitive or the nominative ("кусок сыра", "чашка горячего кофе",
# "молоток и гвозди"); a noun after a preposition or in another case is context, wherever it
# stands ("на ветке сидит птица": the bird).
RUSSIAN_MODIFIERS = frozenset({"ADJF", "PRTF", "NUMR"})  # a head's attributes in Russian
ENGLISH_PHRASE_JOINS = frozenset({"of", "and", "or"})  # start another noun phrase of the head
RUSSIAN_HEAD_CASES = frozenset({"nomn", "gent"})
ENGLISH_HEAD_ENDS = frozenset(
    [
        "on",
        "in",
        "at",
        "with",
        "under",
        "near",
        "by",
        "over",
        "above",
        "across",
        "along",
        "through",
        "from",
        "for",
        "into",
        "onto",
        "to",
        "against",
        "behind",
        "beside",
        "between",
        "around",
        "among",
        "inside",
        "outside",
        "during",
        "after",
        "before",
    ]
)


@dataclass
class AnalyzedText:
    """Tokens of one text per modality, with the surface form each token came from."""

    tokens: dict[str, Counter[str]] = field(
        default_factory=lambda: {TEXT: Counter(), TAG: Counter()}
    )
    surfaces: list[tuple[str, str, str]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def add(self, modality: str, token: str, surface: str) -> None:
        self.tokens[modality][token] += 1
        self.surfaces.append((modality, token, surface))


@dataclass(frozen=True)
class PhraseHead:
    """The `@text` tokens of a phrase's head, and those of them that are attributes of its
    object ('red' of 'a red bird', 'красный' of 'красная птица'), not objects themselves."""

    words: frozenset[str] = frozenset()
    attributes: frozenset[str] = frozenset()


class TextProcessor:
    """Turns comments into `@text` and `@tag` token counts. Safe to share between threads."""

    def __init__(self) -> None:
        self._morph = pymorphy3.MorphAnalyzer()
        self._stemmer = PorterStemmer()
        self._lock = threading.Lock()

    def analyze(self, text: str, tags: list[str] | tuple[str, ...] = ()) -> AnalyzedText:
        """Tokens of ``text`` (hashtags included) plus explicit ``tags``.

        Very long texts are cut at ``MAX_TEXT_CHARS`` characters: a comment longer than that is
        not a comment, and the cut keeps query latency bounded.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        text = text[:MAX_TEXT_CHARS]
        result = AnalyzedText()
        for tag in [*HASHTAG_PATTERN.findall(text), *tags]:
            normalized = normalize_tag(tag)
            if normalized:  # shown as written: #ПознаваемМир, not #познаваеммир
                result.add(TAG, normalized, tag.lstrip("#"))
        for word in WORD_PATTERN.findall(HASHTAG_PATTERN.sub(" ", text).lower()):
            token = self.word_token(word.lower())
            if token is None:
                result.dropped.append(word)
            else:
                result.add(TEXT, token, word)
        return result

    def word_token(self, word: str) -> str | None:
        """The `@text` token of one word, or None for stop words, numbers and single letters."""
        if len(word) < 2 or word.isdigit():
            return None
        word = word.replace("ё", "е")
        if CYRILLIC_WORD.match(word):
            return self._lemma(word)
        if word in ENGLISH_STOP_WORDS:
            return None
        with self._lock:
            return _porter_stem(self._stemmer, word)

    def phrase_head(self, text: str, by_case: bool = False) -> PhraseHead:
        """The phrase's head (see ``RUSSIAN_HEAD_ENDS``): what a visitor asks to see, the rest
        being context; empty when the text opens with its context. With ``by_case`` a text all
        in Russian is read by case (``RUSSIAN_MODIFIERS``): empty when no noun can be its
        subject."""
        words = [w.lower() for w in WORD_PATTERN.findall(HASHTAG_PATTERN.sub(" ", text))]
        if by_case and words and all(CYRILLIC_WORD.match(word) for word in words):
            head = self._nominative_head(words)
        else:
            head = self._leading_head(words)
        tokens = [(self.word_token(word), attribute) for word, attribute in head]
        objects = {token for token, attribute in tokens if token is not None and not attribute}
        attributes = {token for token, attribute in tokens if token is not None and attribute}
        return PhraseHead(frozenset(objects | attributes), frozenset(attributes - objects))

    def _leading_head(self, words: list[str]) -> list[tuple[str, bool]]:
        """The words of the head a phrase opens with, each marked whether it is an attribute:
        a Russian adjective, participle or numeral; an English word before the last of its noun
        phrase ("red" of "a red bird"; "of" and "and" start another: "a cup of hot coffee")."""
        head: list[tuple[str, bool]] = []
        phrases: list[list[int]] = [[]]  # the English words' places in ``head``, by noun phrase
        for position, word in enumerate(words):
            if CYRILLIC_WORD.match(word):
                with self._lock:
                    part = self._morph.parse(word.replace("ё", "е"))[0].tag.POS
                if part in RUSSIAN_HEAD_ENDS:
                    break
                head.append((word, part in RUSSIAN_MODIFIERS))
            elif word in ENGLISH_HEAD_ENDS or (position > 0 and word.endswith("ing")):
                break
            elif word in ENGLISH_PHRASE_JOINS:
                phrases.append([])
            else:
                if self.word_token(word) is not None:
                    phrases[-1].append(len(head))
                head.append((word, False))
        for phrase in phrases:
            for place in phrase[:-1]:
                head[place] = (head[place][0], True)
        return head

    def _nominative_head(self, words: list[str]) -> list[tuple[str, bool]]:
        """The words of a Russian phrase's head read by case (see ``RUSSIAN_HEAD_CASES``), each
        marked whether it is an attribute (a modifier, not a noun)."""
        with self._lock:
            readings = [self._morph.parse(word.replace("ё", "е")) for word in words]
        head: list[tuple[str, bool]] = []
        pending: list[tuple[str, bool]] = []  # modifiers that may agree with the noun after them
        governed = False  # after a preposition, until its noun
        for word, parses in zip(words, readings, strict=True):
            part = parses[0].tag.POS  # the likeliest reading's part of speech, any of its cases
            tags = [parse.tag for parse in parses if part in parse.tag]
            cases = {case for case in RUSSIAN_HEAD_CASES if any(case in tag for tag in tags)}
            if head:
                if part == "CONJ" and word in ("и", "или"):
                    continue
                if part not in RUSSIAN_MODIFIERS | {"NOUN"} or not cases:
                    break
                head.append((word, part in RUSSIAN_MODIFIERS))
            elif part == "PREP":
                governed, pending = True, []
            elif part in RUSSIAN_MODIFIERS and not governed and "nomn" in cases:
                pending.append((word, True))
            elif part == "NOUN" and not governed and "nomn" in cases:
                head = [*pending, (word, False)]
            elif part not in RUSSIAN_MODIFIERS:
                governed, pending = False, []
        return head

    def russian_tag(self, word: str, *grammemes: str):
        """pymorphy3's tag of the most likely reading of a Russian ``word`` that has all
        ``grammemes`` ('NOUN', 'nomn'), or None: part of speech, case, gender, number."""
        with self._lock:
            for parse in self._morph.parse(word.replace("ё", "е")):
                if all(g in parse.tag for g in grammemes):
                    return parse.tag
        return None

    def inflect(self, word: str, grammemes: set[str]) -> str:
        """A Russian ``word`` in the form of ``grammemes`` ('красный' -> 'красная' for
        {'femn', 'sing', 'nomn'}), or as given when pymorphy3 cannot make it."""
        with self._lock:
            form = self._morph.parse(word)[0].inflect(grammemes)
        return form.word if form is not None else word

    def _lemma(self, word: str) -> str | None:
        with self._lock:
            return _russian_lemma(self._morph, word)


@lru_cache(maxsize=200_000)
def _russian_lemma(morph: pymorphy3.MorphAnalyzer, word: str) -> str | None:
    parse = morph.parse(word)[0]
    if parse.tag.POS in RUSSIAN_STOP_POS:
        return None
    lemma = parse.normal_form.replace("ё", "е")
    return None if lemma in RUSSIAN_STOP_LEMMAS else lemma


@lru_cache(maxsize=200_000)
def _porter_stem(stemmer: PorterStemmer, word: str) -> str:
    return stemmer.stem(word)


def normalize_tag(tag: str) -> str:
    """A hashtag as a token: lowercased, without '#', word characters only."""
    return "".join(WORD_PATTERN.findall(tag.lower().lstrip("#")))


class DisplayForms:
    """Remembers, for every token, its most frequent surface form (stems are unreadable).

    A Russian word's token is its lemma, which reads better than any of its cases ("скорлупа",
    not the "скорлупе" of "орех в скорлупе"): it shows as itself, spelt with ё where the texts
    spell it so."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], Counter[str]] = {}

    def update(self, analyzed: AnalyzedText) -> None:
        self.update_surfaces(analyzed.surfaces)

    def update_surfaces(self, surfaces: list[tuple[str, str, str]]) -> None:
        """Counts ``(modality, token, surface)`` triples, as ``AnalyzedText.surfaces`` holds."""
        for modality, token, surface in surfaces:
            self._counts.setdefault((modality, token), Counter())[surface] += 1

    def to_dict(self) -> dict[str, dict[str, str]]:
        """{modality: {token: display form}}, ties broken alphabetically for determinism."""
        forms: dict[str, dict[str, str]] = {}
        for (modality, token), surfaces in sorted(self._counts.items()):
            if modality == TEXT and CYRILLIC_WORD.match(token):
                lemmas = {s: n for s, n in surfaces.items() if s.replace("ё", "е") == token}
                surfaces = Counter(lemmas or {token: 1})
            best = min(surfaces.items(), key=lambda item: (-item[1], item[0]))[0]
            forms.setdefault(modality, {})[token] = best
        return forms
