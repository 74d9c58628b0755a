"""Build ``core/assets/lexicon_en_ru.tsv``, the English-Russian dictionary that lets a word of one
language reach documents written in the other (``core.serving.bilingual``).

Run once, at development time, from the Debian package of V. K. Mueller's English-Russian
dictionary (7th edition, GPL-2+; electronic version by S. Starostin and E. S. Cymbalyuk)::

    apt-get download mueller7-dict && dpkg-deb -x mueller7-dict_*.deb /tmp/mueller7
    .venv/bin/pip install wordfreq==3.1.1   # only for this script: not a project dependency
    .venv/bin/python scripts/build_lexicon.py /tmp/mueller7/usr/share/dictd/mueller7.dict.dz

The rule (fixed before any search or evaluation was run with it; the ordering of a Russian
word's English words was settled by reading the translations of common words): for every
English headword that is one lowercase word, take the first homonym only and, for each of its
parts of speech (noun, adjective, verb, and the senses before any part-of-speech mark), the
first sense; its
translations are the one-word Russian alternatives at the start of that sense (before the first
example, at most ``PER_SENSE``). Both sides are written as the project's ``@text`` tokens
(``core.reading.text.TextProcessor``: English Porter stems, Russian lemmas), with the English word's
frequency (``wordfreq``'s Zipf scale) so a Russian word's English translations can be ordered
by how common they are.
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from wordfreq import zipf_frequency

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.reading.text import TextProcessor
from core.serving.bilingual import LEXICON_PATH

PER_SENSE = 3
PARTS_OF_SPEECH = ("_n.", "_a.", "_v.")
HEADWORD = re.compile(r"^[a-z]+$")
RUSSIAN_WORD = re.compile(r"^[а-яё]+$")
LATIN = re.compile(r"[a-z]", re.IGNORECASE)
SECOND_HOMONYM = re.compile(r"\b_II\b")
SENSE_NUMBER = re.compile(r"(?<!\w)\d+[).]")
LABEL = re.compile(r"_[^\s.]+\.")
BRACKETS = re.compile(r"\([^()]*\)|\[[^\]]*\]|\{[^}]*\}")


def entries(text: str) -> Iterator[tuple[str, str]]:
    """(headword, body) for every entry: a headword starts a line, its body lines are indented."""
    headword, body = None, []
    for line in text.splitlines():
        if line and not line[0].isspace():
            if headword is not None:
                yield headword, " ".join(body)
            headword, body = line.strip(), []
        elif headword is not None:
            body.append(line.strip())
    if headword is not None:
        yield headword, " ".join(body)


def first_sense_words(body: str, part_of_speech: str) -> list[str]:
    """The one-word Russian alternatives that open the first sense of ``part_of_speech`` ("" for
    the senses before any part-of-speech mark: 'ship' starts with its noun senses unmarked)."""
    body = SECOND_HOMONYM.split(body, maxsplit=1)[0]
    start = body.find(part_of_speech) if part_of_speech else 0
    if start < 0:
        return []
    sense = body[start + len(part_of_speech) :]
    for marker in (*PARTS_OF_SPEECH, "2)"):
        end = sense.find(marker)
        if end >= 0:
            sense = sense[:end]
    sense = SENSE_NUMBER.sub(" ", sense)
    sense = LABEL.sub(" ", BRACKETS.sub(" ", sense))
    words = []
    for group in re.split(r"[;,]", sense):
        group = group.strip()
        if LATIN.search(group):
            break
        if RUSSIAN_WORD.match(group) and group not in words:
            words.append(group)
        if len(words) == PER_SENSE:
            break
    return words


def lexicon_rows(dictionary_text: str, processor: TextProcessor) -> list[tuple[str, float, list]]:
    """(English token, Zipf frequency of its most common headword, Russian tokens in order).

    Headwords that share a token ('computer', 'compute', 'computable') are merged, the most
    common headword's translations first."""
    by_token: dict[str, list[tuple[float, str, list[str]]]] = {}
    for headword, body in entries(dictionary_text):
        if not HEADWORD.match(headword):
            continue
        english = processor.word_token(headword)
        if english is None:
            continue
        russian = []
        for part in ("", *PARTS_OF_SPEECH):
            for word in first_sense_words(body, part):
                token = processor.word_token(word)
                if token is not None and token not in russian:
                    russian.append(token)
        if russian:
            frequency = zipf_frequency(headword, "en")
            by_token.setdefault(english, []).append((frequency, headword, russian))
    rows = []
    for english, headwords in sorted(by_token.items()):
        headwords.sort(key=lambda item: (-item[0], item[1]))
        merged = []
        for _, _, russian in headwords:
            merged += [token for token in russian if token not in merged]
        rows.append((english, headwords[0][0], merged))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dictionary", type=Path, help="mueller7.dict.dz from mueller7-dict")
    parser.add_argument("--out", type=Path, default=LEXICON_PATH)
    args = parser.parse_args()
    text = gzip.decompress(args.dictionary.read_bytes()).decode("utf-8")
    rows = lexicon_rows(text, TextProcessor())
    with args.out.open("w", encoding="utf-8") as handle:
        handle.write("# english token\tzipf frequency\trussian tokens (first sense first)\n")
        for english, frequency, russian in rows:
            handle.write(f"{english}\t{frequency:.2f}\t{','.join(russian)}\n")
    print(f"wrote {len(rows)} English tokens to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
