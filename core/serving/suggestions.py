"""'Did you mean': a known word for each word of a query that the model does not know.

A visitor's unknown word is usually a typo ("dgo") or a Russian word typed in Latin letters
("sobaka"), or the other way round. The rule, for each word the model cannot read (it knows
neither the word, nor a hashtag of its form, nor a translation of it):

1. its transliteration into the other alphabet, if the model can read that, else if the shipped
   dictionary has it (the visitor meant that word, even if the collection lacks it). Latin ->
   Cyrillic reads the usual ways people type Russian (``zh``, ``kh``, ``ts``, ``ch``, ``sh``,
   ``shch``, ``ya``/``ja``, ``yu``/``ju``, ``yo``/``jo``; ``y`` as ы or й, ``e`` as е or э);
   Cyrillic -> Latin is GOST 7.79 System B without its diacritic marks (х -> x, ц -> c,
   ы -> y, ъ and ь dropped);
2. else the vocabulary's word or hashtag (display forms) nearest by edit distance (insertions,
   deletions, substitutions and swaps of two neighbours, each 1): at most 1 for words of up to
   4 letters, 2 for longer ones; ties go to the word more frequent in the collection;
3. else the same for its transliteration.

A word the dictionary has is not a typo, only a word the collection lacks ("трава" is not
"corrected" into "врага", nor "grass" into "brass"): it stays as typed, and the page says the
model does not know it. A word with no candidate stays as typed; when no word changed there is
no suggestion. The suggestion is the query as typed with those words replaced (exclusions and
all).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping

from core.reading.text import WORD_PATTERN
from core.serving.bilingual import script_of
from core.serving.query_syntax import parse_query

CYRILLIC_TO_LATIN = {
    **dict(zip("абвгдезийклмнопрстуфхцыэ", "abvgdezijklmnoprstufxcye", strict=True)),
    **{"ё": "yo", "ж": "zh", "ч": "ch", "ш": "sh", "щ": "shh", "ю": "yu", "я": "ya"},
    **{"ъ": "", "ь": ""},
}
# Latin spellings of Russian letters, longest first; a letter with two readings has both.
LATIN_TO_CYRILLIC: dict[str, tuple[str, ...]] = {
    "shch": ("щ",),
    "sch": ("щ",),
    "shh": ("щ",),
    "zh": ("ж",),
    "kh": ("х",),
    "ts": ("ц",),
    "ch": ("ч",),
    "sh": ("ш",),
    "ya": ("я",),
    "ja": ("я",),
    "yu": ("ю",),
    "ju": ("ю",),
    "yo": ("ё",),
    "jo": ("ё",),
    **dict(zip("abvgdzklmnoprstufxcjwh", "абвгдзклмнопрстуфхцйвх", strict=True)),
    "i": ("и",),
    "e": ("е", "э"),
    "y": ("ы", "й"),
}
LATIN_SPELLINGS = sorted(LATIN_TO_CYRILLIC, key=len, reverse=True)
MAX_TRANSLITERATIONS = 16  # readings of one Latin word tried, in the order of the table


def max_distance(word: str) -> int:
    """How many edits a word may be away from its suggestion."""
    return 1 if len(word) <= 4 else 2


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a swap of neighbours counts 1), or ``limit + 1`` as
    soon as it is certain to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def transliterations(word: str) -> list[str]:
    """``word`` in the other alphabet: one reading of a Cyrillic word, up to
    ``MAX_TRANSLITERATIONS`` of a Latin one (see the module)."""
    if script_of(word) == "cyrillic":
        return ["".join(CYRILLIC_TO_LATIN.get(char, char) for char in word)]
    if script_of(word) != "latin":
        return []
    parts: list[tuple[str, ...]] = []
    position = 0
    while position < len(word):
        spelling = next((s for s in LATIN_SPELLINGS if word.startswith(s, position)), None)
        if spelling is None:
            parts.append((word[position],))
            position += 1
        else:
            parts.append(LATIN_TO_CYRILLIC[spelling])
            position += len(spelling)
    readings = itertools.islice(itertools.product(*parts), MAX_TRANSLITERATIONS)
    return ["".join(reading) for reading in readings]


class Suggester:
    """Suggestions over a vocabulary: ``forms`` maps each word or hashtag a visitor may be shown
    to its frequency in the collection; ``readable`` says whether the model can read a typed
    word (itself, its hashtag or a translation), ``in_dictionary`` whether a general
    dictionary has it."""

    def __init__(
        self,
        forms: Mapping[str, float],
        readable: Callable[[str], bool],
        in_dictionary: Callable[[str], bool],
    ) -> None:
        best: dict[str, float] = {}
        for form, frequency in forms.items():
            key = form.casefold()
            best[key] = max(frequency, best.get(key, 0.0))
        # most frequent first, so that the first of equally near forms wins a tie
        self.forms = sorted(best, key=lambda form: (-best[form], form))
        self.readable = readable
        self.in_dictionary = in_dictionary

    def did_you_mean(self, text: str) -> str | None:
        """The query with each unknown word replaced by a suggestion, or None if none changed."""
        included = parse_query(text).text.casefold()
        replacements = {}
        for word in dict.fromkeys(WORD_PATTERN.findall(included)):
            if not self.readable(word) and not self.in_dictionary(word):
                suggestion = self.suggest(word)
                if suggestion is not None:
                    replacements[word] = suggestion
        if not replacements:
            return None
        return WORD_PATTERN.sub(
            lambda match: replacements.get(match.group().casefold(), match.group()), text
        )

    def suggest(self, word: str) -> str | None:
        """A readable word for an unreadable ``word`` (see the module), or None."""
        readings = transliterations(word)
        for known in (self.readable, self.in_dictionary):
            for reading in readings:
                if known(reading):
                    return reading
        for candidate in (word, *readings[:1]):
            nearest = self.nearest(candidate)
            if nearest is not None:
                return nearest
        return None

    def nearest(self, word: str) -> str | None:
        """The vocabulary form nearest to ``word`` within ``max_distance``; the more frequent
        of equally near ones."""
        limit = max_distance(word)
        found, found_distance = None, limit + 1
        for form in self._same_script(word):
            distance = edit_distance(word, form, min(limit, found_distance - 1))
            if distance < found_distance and form != word:
                found, found_distance = form, distance
                if distance == 1:
                    break  # a nearer form than 1 would be the word itself
        return found

    def _same_script(self, word: str) -> Iterable[str]:
        script = script_of(word)
        return (form for form in self.forms if script_of(form) == script)
