"""A catalogue of bad and odd input, each case through the entry point a visitor or an importer
uses. Bad input gets a clear error naming the problem; odd but valid input just works; nothing
is executed, and the search record stores what was asked."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from PIL import Image

from core.reading.collection import import_collection
from core.reading.images import ImageError
from core.serving.answers import MAX_QUERY_CHARS, AnnotationRequest, Query, SearchRequest
from core.serving.inference import NothingRecognized
from core.settings import REPO_ROOT
from core.storage import searches

PHOTO = REPO_ROOT / "tests" / "fixtures" / "images" / "tiger.jpg"


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def photo(mode: str = "RGB", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """The tiger, as an image of the given mode and size."""
    return Image.open(PHOTO).convert("RGB").resize(size).convert(mode)


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes of PNG whose header declares a ``width`` x ``height`` canvas."""
    data = bytearray(encoded(Image.new("L", (1, 1)), "PNG"))
    data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(data[12:29]).to_bytes(4, "big")  # the header chunk's checksum
    return bytes(data)


def rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned 90 degrees
    return exif


# --------------------------------------------------------------------------------------------------
# Uploads
# --------------------------------------------------------------------------------------------------

JPEG = PHOTO.read_bytes()
PNG = encoded(photo(), "PNG")

UNREADABLE_UPLOADS = {
    "zero bytes": (b"", "empty"),
    "truncated JPEG": (JPEG[: len(JPEG) // 3], "damaged or truncated"),
    "truncated PNG": (PNG[: len(PNG) // 2], "damaged or truncated"),
    "JPEG start marker only": (b"\xff\xd8\xff", "not an image"),
    "decompression bomb": (png_declaring(100_000, 100_000), "far too large"),
    "60-megapixel canvas": (png_declaring(10_000, 6_000), "megapixel limit"),
    "SVG named .jpg": (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "not an image"),
    "HTML named .jpg": (b"<html><script>alert(1)</script></html>", "not an image"),
    "PDF": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n", "not an image"),
    "ZIP": (b"PK\x03\x04" + bytes(100), "not an image"),
    "random bytes": (np.random.default_rng(0).bytes(5000), "not an image"),
    "over the size limit": (JPEG + bytes(31 * 2**20), "limit"),
}

ODD_BUT_VALID_UPLOADS = {
    "animated GIF": encoded(
        photo("P"), "GIF", save_all=True, append_images=[photo("P").rotate(90)], duration=100
    ),
    "CMYK JPEG": encoded(photo("CMYK"), "JPEG"),
    "16-bit grayscale PNG": encoded(
        Image.fromarray((np.asarray(photo("L"), dtype=np.uint16) * 257).astype(np.uint16)), "PNG"
    ),
    "RGBA PNG": encoded(photo("RGBA"), "PNG"),
    "grayscale JPEG": encoded(photo("L"), "JPEG"),
    "palette PNG with transparency": encoded(photo("P"), "PNG", transparency=0),
    "one pixel": encoded(photo(size=(1, 1)), "PNG"),
    "10000 x 3 strip": encoded(photo(size=(10_000, 3)), "PNG"),
    "EXIF-rotated JPEG": encoded(photo(), "JPEG", exif=rotated_exif()),
    "WebP": encoded(photo(), "WEBP"),
    "progressive JPEG": encoded(photo(), "JPEG", progressive=True),
    "JPEG with trailing bytes": JPEG + b"<script>alert(1)</script>" * 10,
}


@pytest.mark.parametrize("case", UNREADABLE_UPLOADS, ids=list(UNREADABLE_UPLOADS))
def test_an_unreadable_upload_is_refused_with_a_message_naming_the_problem(service, case):
    data, message = UNREADABLE_UPLOADS[case]

    with pytest.raises(ImageError, match=message):
        service.search(SearchRequest(Query(image=data)), visitor="catalogue")
    with pytest.raises(ImageError, match=message):
        service.annotate(AnnotationRequest(Query(image=data)))


@pytest.mark.parametrize("case", ODD_BUT_VALID_UPLOADS, ids=list(ODD_BUT_VALID_UPLOADS))
def test_an_odd_but_valid_upload_is_searched_and_annotated(service, case):
    data = ODD_BUT_VALID_UPLOADS[case]

    result = service.search(SearchRequest(Query(image=data)), visitor="catalogue")
    _, annotations = service.annotate(AnnotationRequest(Query(image=data)))

    assert result.hits and result.tokens["@visual"]
    assert annotations["@tag"]


def test_a_decompression_bomb_is_refused_before_any_pixel_is_decoded():
    """Under a 1 GiB address-space cap, decoding 100,000 x 100,000 pixels would fail with
    MemoryError; the refusal must come first, from the header."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        from PIL import Image
        from core.reading.images import ImageError, load_image
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
        try:
            load_image({png_declaring(100_000, 100_000)!r})
        except ImageError as error:
            print("refused:", error)
        """
    )
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=environment
    )
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "far too large" in done.stdout


# --------------------------------------------------------------------------------------------------
# Query text
# --------------------------------------------------------------------------------------------------

TEXTS_WITH_RESULTS = {
    "mixed scripts": "кот cat 猫 γάτα",
    "HTML and JavaScript": "<script>alert(1)</script> <img src=x onerror=alert(1)> cat",
    "SQL injection": "cat'; DROP TABLE searches; --",
    "Markdown and a javascript link": "**cat** [click](javascript:alert(1)) :red[cat]",
    "Streamlit directives": ":material/home: :red-background[cat]",
    "template syntax": "{{7*7}} ${7*7} %s%n cat",
    "right-to-left override": "\u202ecat\u202c",
    "zero-width characters": "c\u200bat cat\u200d",
    "combining accent": "ко\u0301шка cat",
    "the longest allowed query": ("cat " * MAX_QUERY_CHARS)[:MAX_QUERY_CHARS],
    "null bytes": "cat\x00dog",
    "other control characters": "cat\x07\x08\x0b\x0c\x7fdog",
    "a lone surrogate": "cat \ud800 dog",
}

TEXTS_WITH_NOTHING_TO_READ = {
    "empty": "",
    "spaces and newlines": "  \n\t ",
    "punctuation only": "!!! ??? ... --- ###",
    "emoji only": "🐱🐶🌸",
    "right-to-left script": "قطة كلب",
    "stop words only": "the and of и в на",
    "numbers only": "123 4.5 6,7",
    "ANSI escape sequences fused to a word": "\x1b[31mcat\x1b[0m",
}


@pytest.mark.parametrize("case", TEXTS_WITH_RESULTS, ids=list(TEXTS_WITH_RESULTS))
def test_odd_query_text_is_read_as_words_and_recorded_as_asked(service, case):
    result = service.search(
        SearchRequest(Query(text=TEXTS_WITH_RESULTS[case])), visitor="catalogue"
    )

    assert result.hits
    with service.sessions() as session:
        recorded = session.get(searches.Search, result.search_id)
        assert "cat" in recorded.text
        assert session.scalar(sa.select(sa.func.count()).select_from(searches.Search)) > 0


@pytest.mark.parametrize("case", TEXTS_WITH_NOTHING_TO_READ, ids=list(TEXTS_WITH_NOTHING_TO_READ))
def test_query_text_with_nothing_to_read_is_answered_nothing_recognized(service, case):
    with pytest.raises(NothingRecognized):
        service.search(
            SearchRequest(Query(text=TEXTS_WITH_NOTHING_TO_READ[case])), visitor="catalogue"
        )


@pytest.mark.parametrize("length", [MAX_QUERY_CHARS + 1, 2**20])
def test_query_text_over_the_limit_is_refused_before_any_work(length):
    with pytest.raises(ValueError, match=f"at most {MAX_QUERY_CHARS:,} characters"):
        Query(text="cat " * (length // 4 + 1))


@pytest.mark.parametrize("text", [b"cat", 42, None, ["cat"]])
def test_query_text_that_is_not_a_string_is_refused(text):
    with pytest.raises(TypeError, match="text must be a string"):
        Query(text=text)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"@text": -1.0}, ">= 0"),
        ({"@text": float("nan")}, "finite"),
        ({"@text": float("inf")}, "finite"),
        ({"@text": "heavy"}, "number"),
    ],
)
def test_invalid_weights_are_refused_with_the_reason(service, weights, message):
    with pytest.raises(ValueError, match=message):
        service.search(SearchRequest(Query(text="cat"), weights=weights))


@pytest.mark.parametrize("k", [0, -3])
def test_asking_for_no_results_is_refused(service, k):
    with pytest.raises(ValueError, match="k must be >= 1"):
        service.search(SearchRequest(Query(text="cat"), k=k))


def test_asking_for_more_results_than_documents_returns_them_all(service):
    result = service.search(SearchRequest(Query(text="cat"), k=10**9))

    # near-identical documents come as one card that names the others
    shown = [hit.id for hit in result.hits] + [i for hit in result.hits for i in hit.similar]
    assert sorted(shown) == sorted(doc.id for doc in service.active().engine.documents)


# --------------------------------------------------------------------------------------------------
# Import files
# --------------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    shutil.copy(PHOTO, tmp_path / "img" / "tiger.jpg")
    (tmp_path / "img" / "subdir").mkdir()
    (tmp_path / "img" / "link.jpg").symlink_to(PHOTO)  # a link out of the folder
    return tmp_path


GOOD = {"id": "good", "image": "img/tiger.jpg", "text": "A tiger. Тигр.", "tags": ["cats"]}

BAD_ROWS = {
    "absolute image path": ({"id": "x", "image": "/etc/passwd", "text": "t"}, "outside"),
    "symlink out of the folder": ({"id": "x", "image": "img/link.jpg", "text": "t"}, "outside"),
    "image path is a folder": ({"id": "x", "image": "img/subdir", "text": "t"}, "not found"),
    "tags are a number": ({"id": "x", "text": "t", "tags": 5}, "tags must be"),
    "text is a list": ({"id": "x", "text": ["t"]}, "text must be a string"),
    "negative token count": ({"id": "x", "text": "t", "@user": {"u": -1}}, "must be a number"),
    "row is a list": (["x", "img/tiger.jpg", "t"], "JSON object"),
    "empty id": ({"id": "  ", "text": "t"}, "missing id"),
    "nothing usable": ({"id": "x", "text": "", "tags": []}, "empty text and no image"),
}


@pytest.mark.parametrize("case", BAD_ROWS, ids=list(BAD_ROWS))
def test_a_bad_row_is_reported_and_the_good_rows_are_still_imported(folder, case):
    row, message = BAD_ROWS[case]
    lines = [json.dumps(GOOD), json.dumps(row, ensure_ascii=False), json.dumps({**GOOD, "id": "2"})]
    (folder / "documents.jsonl").write_text("\n".join(lines) + "\n")

    report = import_collection(folder)

    assert [doc.id for doc in report.documents] == ["good", "2"]
    assert [problem.row for problem in report.problems] == [2]
    assert message in report.problems[0].reason


def test_a_jsonl_file_with_a_byte_order_mark_imports_its_first_row(folder):
    (folder / "documents.jsonl").write_text("\ufeff" + json.dumps(GOOD) + "\n", encoding="utf-8")

    assert [doc.id for doc in import_collection(folder).documents] == ["good"]


def test_a_line_in_another_encoding_is_reported_and_the_others_imported(folder):
    other = json.dumps({"id": "cp", "text": "Тигр"}, ensure_ascii=False).encode("cp1251")
    content = json.dumps(GOOD).encode() + b"\n" + other + b"\n"
    (folder / "documents.jsonl").write_bytes(content)

    report = import_collection(folder)

    assert [doc.id for doc in report.documents] == ["good"]
    assert "UTF-8" in report.problems[0].reason
