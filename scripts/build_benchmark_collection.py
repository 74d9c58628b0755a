"""Build the benchmark collection (var/benchmark/collection by default, not committed).

More than 5,000 image/text documents from Debian packages, for measuring search and annotation
on data the defaults were not tuned on (``python -m core eval``):

* ``tuxpaint-stamps-default``: every stamp with an English description (Russian added when
  present); category folders are the tags. Read by ``build_collection.py``.
* ``gcompris-qt-data``: the "explore" photos with English and Russian text. Read by
  ``build_collection.py``.
* ``openclipart-png`` + ``openclipart-svg``: public-domain clip art; the PNG is the image, the
  SVG's metadata gives the title and description (the text) and the keywords (the tags).
  Two machine-generated series (``GENERATED_SERIES``: about 3,300 near-identical icon and star
  renders sharing the same keywords) are left out: they would turn tag metrics into a test of
  recognising one icon theme.

Usage::

    python scripts/build_benchmark_collection.py [--work var/debs] [--out var/benchmark/collection]

Besides the collection files (``documents.jsonl``, images, ``MANIFEST.csv``) it writes
``splits.json`` (a seeded split by document: test, validation and train ids) and
``sources.json`` (documents per source package). A missing package is named in the error.
"""

from __future__ import annotations

import argparse
import json
import re
import xml.etree.ElementTree as ElementTree
from collections import Counter
from pathlib import Path

import numpy as np
from build_collection import (
    GC_PACKAGE,
    TUX_PACKAGE,
    SourceItem,
    fetch_packages,
    gcompris_documents,
    slug,
    to_web_jpeg,
    tux_documents,
    write_collection,
)
from PIL import Image

CLIPART_PNG = "openclipart-png"
CLIPART_SVG = "openclipart-svg"
PACKAGES = (TUX_PACKAGE, GC_PACKAGE, CLIPART_PNG, CLIPART_SVG)

# Keywords that mark the machine-generated series (see the module docstring).
GENERATED_SERIES = frozenset({"hash", "magick"})
RDF_BLOCK = re.compile(rb"<rdf:RDF.*?</rdf:RDF>", re.S)
NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "cc": "http://web.resource.org/cc/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
}

SPLIT_SEED = 5
TEST_SHARE = 0.2
VALIDATION_SHARE = 0.2  # of what is left after the test part

LICENSES_MD = """\
# Licenses of the benchmark collection

Built by `scripts/build_benchmark_collection.py` from Debian packages; `MANIFEST.csv` lists, per
document, the package, its version, the original path, the license and the credit. Tux Paint
stamps: GPL-2.0-or-later; GCompris photos: per file (see the credit column), texts GPL-3.0-or-later;
OpenClipart: public domain. Images are downscaled JPEG versions composited on white.
"""


def clipart_metadata(svg: Path) -> tuple[str, str, list[str], str] | None:
    """(title, description, keywords, creator) from an SVG's RDF metadata, or None if absent."""
    block = RDF_BLOCK.search(svg.read_bytes())
    if block is None:
        return None
    try:
        work = ElementTree.fromstring(block.group(0)).find("cc:Work", NS)
    except ElementTree.ParseError:
        return None
    if work is None:
        return None

    def text(path: str) -> str:
        return " ".join((work.findtext(path, "", NS) or "").split())

    keywords = [
        " ".join(item.text.split()).lower()
        for item in work.findall("dc:subject/rdf:Bag/rdf:li", NS)
        if item.text and item.text.strip()
    ]
    return text("dc:title"), text("dc:description"), keywords, text("dc:creator/cc:Agent/dc:title")


def clipart_documents(
    png_root: Path, svg_root: Path, version: str
) -> tuple[list[SourceItem], Counter[str]]:
    """One document per OpenClipart PNG whose SVG has a title and keywords."""
    png_dir = png_root / "usr/share/openclipart/png"
    svg_dir = svg_root / "usr/share/openclipart/svg"
    docs: list[SourceItem] = []
    skipped: Counter[str] = Counter()
    taken: set[str] = set()
    for png in sorted(png_dir.rglob("*.png")):
        rel = png.relative_to(png_dir)
        svg = (svg_dir / rel).with_suffix(".svg")
        metadata = clipart_metadata(svg) if svg.is_file() else None
        if metadata is None:
            skipped["no metadata"] += 1
            continue
        title, description, keywords, creator = metadata
        doc_id = "clipart-" + slug(rel.with_suffix("").as_posix())
        if doc_id in taken:  # the same name spelt differently (case, separators)
            skipped["duplicate name"] += 1
            continue
        tags = [k for k in dict.fromkeys(keywords) if k != creator.lower()]
        if not title or not tags:
            skipped["no title or keywords"] += 1
            continue
        if GENERATED_SERIES & set(tags):
            skipped["generated series"] += 1
            continue
        try:
            with Image.open(png) as image:
                jpeg = to_web_jpeg(image)
        except (OSError, Image.DecompressionBombError):
            skipped["unreadable or oversized image"] += 1
            continue
        taken.add(doc_id)
        docs.append(
            SourceItem(
                id=doc_id,
                en=f"{title}. {description}".strip() if description else title,
                ru="",
                tags=tags,
                jpeg=jpeg,
                source_package=CLIPART_PNG,
                package_version=version,
                original_path="/" + png.relative_to(png_root).as_posix(),
                license="public domain",
                credit=creator or "Open Clip Art Library",
                kind="clipart",
            )
        )
    return docs, skipped


def seeded_split(ids: list[str], seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """Test, validation and train ids: a seeded permutation of the sorted ids, cut by shares."""
    order = np.random.default_rng(seed).permutation(sorted(ids))
    n_test = round(TEST_SHARE * len(order))
    n_validation = round(VALIDATION_SHARE * (len(order) - n_test))
    return {
        "test": sorted(order[:n_test].tolist()),
        "validation": sorted(order[n_test : n_test + n_validation].tolist()),
        "train": sorted(order[n_test + n_validation :].tolist()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("var/debs"), help="download dir")
    parser.add_argument(
        "--out", type=Path, default=Path("var/benchmark/collection"), help="output dir"
    )
    args = parser.parse_args()

    packages = fetch_packages(args.work, PACKAGES)
    sources = {
        TUX_PACKAGE: tux_documents(*packages[TUX_PACKAGE], require_russian=False),
        GC_PACKAGE: gcompris_documents(*packages[GC_PACKAGE]),
        CLIPART_PNG: clipart_documents(
            packages[CLIPART_PNG][0], packages[CLIPART_SVG][0], packages[CLIPART_PNG][1]
        ),
    }
    docs = sorted((d for part, _ in sources.values() for d in part), key=lambda d: d.id)
    if duplicates := [i for i, n in Counter(d.id for d in docs).items() if n > 1]:
        raise SystemExit(f"duplicate document ids: {duplicates}")
    total = write_collection(docs, args.out, LICENSES_MD)
    split = seeded_split([d.id for d in docs])
    (args.out / "splits.json").write_text(json.dumps(split, indent=1) + "\n")
    counts = {
        name: {"version": packages[name][1], "documents": len(part), "skipped": dict(skipped)}
        for name, (part, skipped) in sources.items()
    }
    (args.out / "sources.json").write_text(json.dumps(counts, indent=1) + "\n")

    print(f"{len(docs)} documents ({total / 1e6:.1f} MB) written to {args.out}")
    for name, row in counts.items():
        print(f"  {name} {row['version']}: {row['documents']} documents; skipped {row['skipped']}")
    print("  split: " + ", ".join(f"{part} {len(ids)}" for part, ids in split.items()))


if __name__ == "__main__":
    main()
