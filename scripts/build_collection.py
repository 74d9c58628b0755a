"""Build the built-in image + text collection (data/collection/) from Debian packages.

Sources (both are real images with English and Russian text, freely licensed):

* ``tuxpaint-stamps-default``: Tux Paint stamps. Each ``<name>.png`` sits beside ``<name>.txt``
  whose first line is the English description and whose ``ru.utf8=`` line is the Russian one.
  The category folders become the tags, each with its Russian twin (``core/assets/tag_twins.csv``,
  see ``core/reading/twins.py``).
* ``gcompris-qt-data``: photos of the GCompris "explore" activities. Images, titles, paragraphs
  and per-photo credits live in Qt resource bundles (``.rcc``); Russian translations live in
  ``gcompris_ru.qm``. Both formats are parsed here with the standard library.

Usage::

    python scripts/build_collection.py [--work var/debs] [--out data/collection]

The packages are fetched with ``apt-get download`` (skipped when the .deb is already in --work)
and unpacked with ``dpkg-deb -x``. The output is deterministic: inputs are sorted, the JPEG
settings are fixed and nothing random is involved.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from core.reading.twins import tag_twins

TUX_PACKAGE = "tuxpaint-stamps-default"
GC_PACKAGE = "gcompris-qt-data"
PACKAGES = (TUX_PACKAGE, GC_PACKAGE)

MAX_SIDE = 320
JPEG_QUALITY = 85

# Stamps that are symbols rather than depicted things: letters, digits and math operators.
TUX_SKIPPED_DIRS = ("symbols/alphabets", "symbols/math")
# Folder names that describe the drawing style or sorting, not the subject.
TUX_NON_SUBJECT_DIRS = {"cartoon"}
# Share of interior pixels with a (near) zero Laplacian above which a stamp counts as clip art.
# Clip art consists of flat fills and clean gradients; photos carry sensor noise and texture.
# On 72 hand-labelled, mostly borderline non-"cartoon" stamps this rule was right for 82% (the
# number of distinct colours, the obvious alternative, only for ~65%: many clip-art stamps are
# anti-aliased renders with thousands of colours, while some photos are palette-reduced).
# It is approximate: e.g. a smoke photo counts as clip art, a few smooth drawings as photos.
CLIPART_FLAT_SHARE = 0.15

# The credits README of explore_monuments names a file that is spelt differently in the bundle.
GC_README_TYPOS = {"germany/audaPalatina.webp": "germany/aulaPalatina.webp"}

# Candidate test queries: (English word, Russian pattern, Tux Paint category tag).
PROBE_WORDS = (
    ("dog", r"\bсобак|\bп[её]с\b|\bщен", "dogs"),
    ("horse", r"\bлошад|\bкон[ьяюеи]\b", "equines"),
    ("cow", r"\bкоров", "bovines"),
    ("bird", r"\bптиц", "birds"),
    ("fish", r"\bрыб", "fish"),
    ("cat", r"\bкош[кеач]|\bкот(ы|ёнок|ята)?\b", "cats"),
)


@dataclass
class SourceItem:
    """One image with its English and Russian text and the provenance recorded in MANIFEST.csv:
    a row of the collection this script writes, before it is a ``core`` document."""

    id: str
    en: str
    ru: str  # "" where the source has no Russian text
    tags: list[str]
    jpeg: bytes
    source_package: str
    package_version: str
    original_path: str
    license: str
    credit: str
    kind: str  # "photo" or "clipart"


# --------------------------------------------------------------------------- packages


def fetch_packages(work: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, tuple[Path, str]]:
    """Download and unpack the source packages; return {package: (unpacked root, version)}.

    A package neither in ``work`` nor downloadable stops the script with its name, so a machine
    without the Debian archive knows exactly which ``.deb`` files to put into ``work``.
    """
    work.mkdir(parents=True, exist_ok=True)
    missing = [pkg for pkg in packages if not sorted(work.glob(f"{pkg}_*.deb"))]
    if missing:
        try:
            subprocess.run(["apt-get", "download", *missing], cwd=work, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise SystemExit(
                f"missing Debian packages: {', '.join(missing)} ({error}); run "
                f"'apt-get download {' '.join(missing)}' in {work} or copy their .deb files there"
            ) from None
    result = {}
    for pkg in packages:
        deb = sorted(work.glob(f"{pkg}_*.deb"))[-1]
        root = work / pkg
        if not root.is_dir():
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        version = subprocess.run(
            ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True, text=True
        ).stdout.strip()
        result[pkg] = (root, version)
    return result


# --------------------------------------------------------------------------- images


def flatten(image: Image.Image) -> Image.Image:
    """Composite transparent cut-outs on white, as they are meant to be seen."""
    rgba = image.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    canvas.alpha_composite(rgba)
    return canvas.convert("RGB")


def to_web_jpeg(image: Image.Image) -> bytes:
    """Downscale so the longest side is at most MAX_SIDE (never upscale) and encode as JPEG."""
    rgb = flatten(image)
    rgb.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def looks_like_clipart(image: Image.Image) -> bool:
    """Approximate photo/clip-art test on a stamp: share of flat interior pixels (see above)."""
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    lum = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    solid = rgba[..., 3] >= 250  # fully opaque: edges blended with transparency are noise
    inner = solid[1:-1, 1:-1] & solid[:-2, 1:-1] & solid[2:, 1:-1]
    inner &= solid[1:-1, :-2] & solid[1:-1, 2:]
    if not inner.any():
        return False
    laplacian = np.abs(
        4 * lum[1:-1, 1:-1] - lum[:-2, 1:-1] - lum[2:, 1:-1] - lum[1:-1, :-2] - lum[1:-1, 2:]
    )
    return float((laplacian[inner] < 0.5).mean()) >= CLIPART_FLAT_SHARE


# --------------------------------------------------------------------------- text helpers


def slug(text: str) -> str:
    """Lower-case ASCII identifier part: camelCase and punctuation become dashes."""
    text = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", text)
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def as_sentence(text: str) -> str:
    """Terminate a title with a full stop so that title + paragraph reads as two sentences."""
    text = " ".join(text.split())
    return text if text[-1:] in ".!?…" else text + "."


# --------------------------------------------------------------------------- Tux Paint


def read_tux_text(txt: Path) -> tuple[str, str | None]:
    """Return (English, Russian or None) from a stamp description file."""
    lines = txt.read_text(encoding="utf-8").splitlines()
    english = " ".join(lines[0].split())
    russian = next(
        (" ".join(ln.split("=", 1)[1].split()) for ln in lines if ln.startswith("ru.utf8=")), ""
    )
    return english, russian or None


def tux_documents(
    root: Path, version: str, require_russian: bool = True
) -> tuple[list[SourceItem], Counter[str]]:
    """All PNG stamps with an English (and, if required, a Russian) description, except symbols."""
    stamps = root / "usr/share/tuxpaint/stamps"
    docs: list[SourceItem] = []
    skipped: Counter[str] = Counter()
    for png in sorted(stamps.rglob("*.png")):
        rel = png.relative_to(stamps)
        if any(rel.as_posix().startswith(d + "/") for d in TUX_SKIPPED_DIRS):
            skipped["symbol set"] += 1
            continue
        txt = png.with_suffix(".txt")
        if not txt.is_file():  # e.g. "*_mirror.png" variants of another stamp
            skipped["no description"] += 1
            continue
        english, russian = read_tux_text(txt)
        if not english:
            skipped["no English text"] += 1
            continue
        if russian is None and require_russian:
            skipped["no Russian text"] += 1
            continue
        folders = list(rel.parent.parts)
        tags = [f for f in folders if f not in TUX_NON_SUBJECT_DIRS and not f.startswith("00_")]
        cartoon = any(f in TUX_NON_SUBJECT_DIRS for f in folders)
        with Image.open(png) as image:
            kind = "clipart" if cartoon or looks_like_clipart(image) else "photo"
            jpeg = to_web_jpeg(image)
        docs.append(
            SourceItem(
                id="tux-" + slug("/".join([*folders, png.stem])),
                en=english,
                ru=russian or "",
                tags=tags,
                jpeg=jpeg,
                source_package=TUX_PACKAGE,
                package_version=version,
                original_path="/" + png.relative_to(root).as_posix(),
                license="GPL-2.0-or-later",
                credit="Tux Paint stamps, Bill Kendrick and the Tux Paint contributors",
                kind=kind,
            )
        )
    return docs, skipped


# --------------------------------------------------------------------------- Qt formats


def read_rcc(path: Path) -> dict[str, bytes]:
    """Read a Qt binary resource bundle (.rcc) into {resource path: file bytes}.

    Layout: magic ``qres``, then big-endian u32 version, tree offset, data offset and names
    offset (version 3 adds a u32 flags word). The tree is an array of nodes, 14 bytes each in
    version 1 and 22 in versions 2+ (an extra u64 modification time): u32 name offset, u16 flags
    (1 = zlib, 2 = directory, 4 = zstd), then either u32 child count + u32 first child index
    (directories) or u16 territory + u16 language + u32 data offset (files). A name is u16 length,
    u32 hash and UTF-16BE characters. A data entry is a u32 size and the bytes; zlib entries
    start with the u32 big-endian uncompressed length (Qt's qCompress format).
    """
    blob = path.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{path}: not a Qt resource bundle")
    version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", blob, names + offset)
        start = names + offset + 6
        return blob[start : start + 2 * length].decode("utf-16-be")

    files: dict[str, bytes] = {}

    def walk(index: int, prefix: str) -> None:
        pos = tree + index * node_size
        name_offset, flags = struct.unpack_from(">IH", blob, pos)
        name = name_at(name_offset) if index else ""
        if flags & 0x02:
            count, first = struct.unpack_from(">II", blob, pos + 6)
            for child in range(first, first + count):
                walk(child, f"{prefix}{name}/" if index else "")
            return
        (data_offset,) = struct.unpack_from(">I", blob, pos + 10)
        (size,) = struct.unpack_from(">I", blob, data + data_offset)
        payload = blob[data + data_offset + 4 : data + data_offset + 4 + size]
        if flags & 0x04:
            raise ValueError(f"{path}: zstd-compressed entry {prefix}{name} is not supported")
        if flags & 0x01:
            payload = zlib.decompress(payload[4:])
        files[prefix + name] = payload

    walk(0, "")
    return files


QM_MAGIC = bytes.fromhex("3CB86418CAEF9C95CD211CBF60A1BDDD")


def read_qm(path: Path) -> dict[tuple[str, str], str]:
    """Read a Qt translation file (.qm) into {(context, source text): translation}.

    After the 16-byte magic come sections: u8 tag, u32 big-endian length, payload. Only the
    messages section (0x69) is needed. It is a sequence of records made of tagged fields: 0x03
    translation (u32 length + UTF-16BE), 0x06 source text, 0x07 context, 0x08 comment (u32
    length + UTF-8 bytes), 0x05 an obsolete 4-byte field, 0x01 end of record. Plural messages
    carry several translations; the first (singular) one is kept.
    """
    blob = path.read_bytes()
    if blob[:16] != QM_MAGIC:
        raise ValueError(f"{path}: not a Qt translation file")
    pos, messages = 16, b""
    while pos < len(blob):
        tag = blob[pos]
        (length,) = struct.unpack_from(">I", blob, pos + 1)
        if tag == 0x69:
            messages = blob[pos + 5 : pos + 5 + length]
        pos += 5 + length

    result: dict[tuple[str, str], str] = {}
    record: dict[int, bytes] = {}
    pos = 0
    while pos < len(messages):
        tag = messages[pos]
        pos += 1
        if tag == 0x01:
            if 0x03 in record and 0x06 in record:
                key = (record.get(0x07, b"").decode("utf-8"), record[0x06].decode("utf-8"))
                result[key] = record[0x03].decode("utf-16-be")
            record = {}
        elif tag == 0x05:
            pos += 4
        elif tag in (0x03, 0x06, 0x07, 0x08):
            (length,) = struct.unpack_from(">I", messages, pos)
            pos += 4
            if length != 0xFFFFFFFF:  # 0xFFFFFFFF marks a null string
                record.setdefault(tag, messages[pos : pos + length])
                pos += length
        else:
            raise ValueError(f"{path}: unknown message field tag {tag:#x} at {pos - 1}")
    return result


# --------------------------------------------------------------------------- GCompris

QSTR_OR_STRING = re.compile(r'"(\w+)"\s*:\s*(?:qsTr\(\s*"((?:[^"\\]|\\.)*)"\s*\)|"([^"]*)")')
JS_ESCAPE = re.compile(r"\\(.)")


def js_unescape(text: str) -> str:
    """Undo JavaScript string escapes (\\n, \\", \\') so the text matches the .qm source text."""
    return JS_ESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def parse_board(qml: str) -> list[dict[str, str]]:
    """The entries of a board's ``tab`` list as {key: string}; qsTr() strings unescaped."""
    tab = qml[qml.index("property var tab") :]
    entries = []
    for block in re.findall(r"\{([^{}]*)\}", tab):
        fields = {}
        for key, translatable, plain in QSTR_OR_STRING.findall(block):
            fields[key] = js_unescape(translatable) if translatable else plain
        entries.append(fields)
    return entries


def parse_credits(readme: str) -> dict[str, dict[str, str]]:
    """Credits README blocks (Copyright/License/Source/Files) as {file: {field: value}}."""
    credits = {}
    for block in re.split(r"\n\s*\n", readme.strip()):
        fields, files = {}, []
        in_files = False
        for line in block.splitlines():
            if in_files:
                files.append(line.strip())
            elif line.startswith("Files:"):
                in_files = True
            elif ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
        for name in files:
            credits[GC_README_TYPOS.get(name, name)] = fields
    return credits


def translate(translations: dict[tuple[str, str], str], context: str, source: str) -> str | None:
    """Russian for a source string; another context's translation only if it is unambiguous."""
    if (context, source) in translations:
        return translations[(context, source)].strip() or None
    candidates = {t.strip() for (_, s), t in translations.items() if s == source}
    if len(candidates) != 1:
        return None
    return candidates.pop() or None


def gcompris_documents(root: Path, version: str) -> tuple[list[SourceItem], Counter[str]]:
    """One document per photo of the explore_* activities (title + paragraph, en and ru)."""
    share = root / "usr/share/gcompris-qt"
    translations = read_qm(share / "translations/gcompris_ru.qm")
    docs: list[SourceItem] = []
    skipped: Counter[str] = Counter()
    for rcc in sorted((share / "rcc").glob("explore_*.rcc")):
        activity = rcc.stem
        files = read_rcc(rcc)
        base = f"gcompris/src/activities/{activity}/resource/"
        credits: dict[str, dict[str, str]] = {}
        for path in sorted(p for p in files if p.startswith(base) and p.endswith("README")):
            folder = path[len(base) : -len("README")]
            for name, fields in parse_credits(files[path].decode("utf-8")).items():
                credits[folder + name] = fields
        # explore_world_animals -> ["animals", "world"]; explore_monuments -> ["monuments"]
        activity_tags = activity.removeprefix("explore_").split("_")[::-1]
        seen: set[str] = set()
        for board in sorted(p for p in files if p.startswith(base + "board/")):
            context = Path(board).stem
            for entry in parse_board(files[board].decode("utf-8")):
                image_url = entry.get("image2", "")
                if not image_url.endswith(".webp"):
                    continue
                image_path = image_url.removeprefix("qrc:/")
                if image_path in seen:
                    continue
                seen.add(image_path)
                title, text = entry["title"], entry["text"]
                ru_title = translate(translations, context, title)
                ru_text = translate(translations, context, text)
                if ru_title is None or ru_text is None:
                    skipped["no Russian text"] += 1
                    continue
                rel = image_path[len(base) :]  # e.g. "france/eiffelTower.webp"
                credit = credits[rel]
                folder = Path(rel).parent.name
                region = [folder] if activity == "explore_monuments" else []
                with Image.open(io.BytesIO(files[image_path])) as image:
                    jpeg = to_web_jpeg(image)
                stem = Path(rel).stem
                docs.append(
                    SourceItem(
                        id=f"gcompris-{slug(activity.removeprefix('explore_'))}-"
                        + slug("-".join([*region, stem])),
                        en=f"{as_sentence(title)} {' '.join(text.split())}",
                        ru=f"{as_sentence(ru_title)} {' '.join(ru_text.split())}",
                        tags=[*activity_tags, *region, "explore"],
                        jpeg=jpeg,
                        source_package=GC_PACKAGE,
                        package_version=version,
                        original_path=f"/{rcc.relative_to(root).as_posix()}:/{image_path}",
                        license=credit["License"],
                        credit=f"{credit['Copyright']} ({credit['Source']})",
                        kind="photo",
                    )
                )
    return docs, skipped


# --------------------------------------------------------------------------- output

LICENSES_MD = """\
# Licenses of the built-in collection

Every image and text in this folder comes from a Debian package; `MANIFEST.csv` lists, per
document, the package, its version, the original path, the license and the credit.

## tuxpaint-stamps-default (Tux Paint stamps)

Images and their English/Russian descriptions: Copyright 2002-2022 Bill Kendrick and the Tux
Paint contributors, GNU General Public License version 2 or (at your option) any later version
(GPL-2+), see `/usr/share/common-licenses/GPL-2` on Debian and
<https://www.gnu.org/licenses/old-licenses/gpl-2.0.html>. The images here are downscaled JPEG
versions composited on a white background; the unmodified sources are in the Debian package
(source: <https://tuxpaint.org/>).

## gcompris-qt-data (GCompris "explore" activities)

Photos: per-file licenses as credited in the activities' README files and copied to
`MANIFEST.csv` (public domain, CC0-1.0, CC-BY 2.0 or CC-BY-SA 4.0; authors and Wikimedia Commons
source pages in the `credit` column). Titles and paragraphs (English) and their Russian
translations: GCompris, GPL-3.0-or-later, <https://gcompris.net/>.

The `kind` column (photo or clipart) of Tux Paint stamps comes from an approximate heuristic
(folder name "cartoon", or a high share of perfectly flat pixels); GCompris images are photos.

## Rebuilding

    python scripts/build_collection.py

downloads the two packages with `apt-get download` (into `var/debs` by default), unpacks them
with `dpkg-deb -x` and rewrites this folder deterministically.
"""

MANIFEST_COLUMNS = (
    "id",
    "file",
    "source_package",
    "package_version",
    "original_path",
    "license",
    "credit",
    "kind",
)


def write_collection(docs: list[SourceItem], out: Path, licenses_md: str = LICENSES_MD) -> int:
    """Write images, documents.jsonl, MANIFEST.csv and LICENSES.md; return the total bytes."""
    images = out / "images"
    if images.exists():
        shutil.rmtree(images)  # drop images of documents that no longer exist
    images.mkdir(parents=True)
    with (
        (out / "documents.jsonl").open("w", encoding="utf-8", newline="\n") as jsonl,
        (out / "MANIFEST.csv").open("w", encoding="utf-8", newline="") as manifest_file,
    ):
        manifest = csv.writer(manifest_file, lineterminator="\n")
        manifest.writerow(MANIFEST_COLUMNS)
        for doc in docs:
            file = f"images/{doc.id}.jpg"
            (out / file).write_bytes(doc.jpeg)
            record = {
                "id": doc.id,
                "image": file,
                "text": " ".join(filter(None, (doc.en, doc.ru))),
                "tags": tag_twins().with_twins(doc.tags),
                "lang_text": {"en": doc.en, "ru": doc.ru},
            }
            jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
            manifest.writerow(
                [
                    doc.id,
                    file,
                    doc.source_package,
                    doc.package_version,
                    doc.original_path,
                    doc.license,
                    doc.credit,
                    doc.kind,
                ]
            )
    (out / "LICENSES.md").write_text(licenses_md, encoding="utf-8")
    return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def probe_counts(docs: list[SourceItem]) -> list[tuple[str, int, int, int, int]]:
    """Per probe word: (word, #docs with it in en, in ru, in either, #docs with the tag)."""
    rows = []
    for en_word, ru_pattern, tag in PROBE_WORDS:
        en_re = re.compile(rf"\b{en_word}(s|es)?\b", re.IGNORECASE)
        ru_re = re.compile(ru_pattern, re.IGNORECASE)
        en_hits = {d.id for d in docs if en_re.search(d.en)}
        ru_hits = {d.id for d in docs if ru_re.search(d.ru)}
        tagged = sum(tag in d.tags for d in docs)
        rows.append((en_word, len(en_hits), len(ru_hits), len(en_hits | ru_hits), tagged))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("var/debs"), help="download dir")
    parser.add_argument("--out", type=Path, default=Path("data/collection"), help="output dir")
    args = parser.parse_args()

    packages = fetch_packages(args.work)
    tux, tux_skipped = tux_documents(*packages[TUX_PACKAGE])
    gc, gc_skipped = gcompris_documents(*packages[GC_PACKAGE])
    docs = sorted(tux + gc, key=lambda d: d.id)
    ids = Counter(d.id for d in docs)
    if duplicates := [i for i, n in ids.items() if n > 1]:
        raise SystemExit(f"duplicate document ids: {duplicates}")
    total = write_collection(docs, args.out)

    print(f"{len(docs)} documents written to {args.out}")
    for name, part, skipped in ((TUX_PACKAGE, tux, tux_skipped), (GC_PACKAGE, gc, gc_skipped)):
        kinds = Counter(d.kind for d in part)
        print(
            f"  {name} {packages[name][1]}: {len(part)} documents "
            f"({kinds['photo']} photo, {kinds['clipart']} clipart); skipped {dict(skipped)}"
        )
    kinds = Counter(d.kind for d in docs)
    print(f"  photos {kinds['photo']}, clip art {kinds['clipart']}")
    print(f"  total size {total} bytes ({total / 1e6:.1f} MB)")
    print("documents mentioning a probe word: in en / in ru / in either; tagged with its category")
    for word, n_en, n_ru, n_any, n_tag in probe_counts(docs):
        tag = next(t for w, _, t in PROBE_WORDS if w == word)
        print(f"  {word:6} en {n_en:3}  ru {n_ru:3}  either {n_any:3}  tag {tag!r}: {n_tag}")


if __name__ == "__main__":
    main()
