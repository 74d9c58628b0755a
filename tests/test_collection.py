"""Importing a collection: good rows imported, bad rows reported one by one."""

import json
import shutil
from pathlib import Path

import pytest

from core.reading.collection import import_collection, scan_collection
from core.settings import BUILTIN_COLLECTION

PHOTOS = sorted((BUILTIN_COLLECTION / "images").glob("*.jpg"))[:3]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "img").mkdir()
    for number, photo in enumerate(PHOTOS):
        shutil.copy(photo, tmp_path / "img" / f"p{number}.jpg")
    (tmp_path / "img" / "broken.jpg").write_bytes(PHOTOS[0].read_bytes()[:300])
    (tmp_path / "img" / "page.jpg").write_text("<html><script>alert(1)</script></html>")
    (tmp_path.parent / "outside.jpg").write_bytes(PHOTOS[0].read_bytes())
    return tmp_path


def write_jsonl(folder: Path, rows: list) -> None:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    (folder / "documents.jsonl").write_text("\n".join(lines) + "\n")


def test_good_rows_are_imported_and_each_bad_row_is_reported(folder):
    write_jsonl(
        folder,
        [
            {"id": "a", "image": "img/p0.jpg", "text": "A dog. Собака.", "tags": ["dogs"]},
            {"id": "b", "image": "img/missing.jpg", "text": "lost"},
            {"id": "c", "image": "img/broken.jpg", "text": "truncated"},
            {"id": "a", "image": "img/p1.jpg", "text": "same id again"},
            {"id": "d", "image": "", "text": "   "},
            {"id": "e", "image": "../outside.jpg", "text": "escape"},
            {"id": "f", "image": "img/page.jpg", "text": "html named jpg"},
            "{not json",
            {"image": "img/p2.jpg", "text": "no id"},
            {"id": "g", "text": "text only, no image", "@category": {"pets": 2}},
            {"id": "h", "image": "img/p2.jpg", "text": "", "@user": ["u1", "u2", "u1"]},
        ],
    )
    report = import_collection(folder)
    assert [d.id for d in report.documents] == ["a", "g", "h"]
    reasons = {p.row: p.reason for p in report.problems}
    assert "not found" in reasons[2]
    assert "unreadable" in reasons[3]
    assert reasons[4] == "duplicate id"
    assert reasons[5] == "empty text and no image"
    assert "outside the collection folder" in reasons[6]
    assert "unreadable" in reasons[7]
    assert "not valid JSON" in reasons[8]
    assert reasons[9] == "missing id"
    assert report.documents[1].tokens == {"@category": {"pets": 2}}
    assert report.documents[2].tokens == {"@user": {"u1": 2, "u2": 1}}
    assert report.documents[0].tags == ("dogs",)


def test_a_builds_scan_reports_what_the_import_reports_and_reads_the_rest_again(folder):
    # given a collection with good and bad rows
    write_jsonl(
        folder,
        [
            {"id": "a", "image": "img/p0.jpg", "text": "A dog", "tags": ["dogs"]},
            {"id": "b", "image": "img/broken.jpg", "text": "truncated"},
            "{not json",
            {"id": "a", "image": "img/p1.jpg", "text": "same id again"},
            {"id": "g", "text": "text only", "@category": {"pets": 2}},
            {"id": "h", "image": "img/p2.jpg", "text": ""},
        ],
    )
    # when a build scans it
    rows, problems = scan_collection(folder)
    # then it has the problems and documents of the import, read again on every pass
    imported = import_collection(folder)
    assert problems == imported.problems and len(problems) == 3
    assert len(rows) == 3 and list(rows) == list(rows) == imported.documents
    assert [row for row, _ in rows.numbered()] == [1, 5, 6]
    # and rows taken out afterwards are skipped too
    assert [d.id for d in rows.without([5])] == ["a", "h"] and len(rows.without([5])) == 2


def test_a_caption_holding_a_line_separator_is_one_row(folder):
    # given captions with characters that end a line in Python's splitlines, not in JSON lines
    write_jsonl(folder, [{"id": "a", "text": "first\u2028second"}, {"id": "b", "text": "x\x85y"}])
    # then each is one row, its caption whole
    report = import_collection(folder)
    assert not report.problems
    assert [d.text for d in report.documents] == ["first\u2028second", "x\x85y"]


def test_csv_collections_take_tags_and_token_counts_as_text(folder):
    (folder / "documents.csv").write_text(
        "id,image,text,tags,@viewer\n"
        'x,img/p0.jpg,A cat on a sofa,"cats, pets",anna:3 boris\n'
        "y,img/p1.jpg,A horse,,\n"
    )
    report = import_collection(folder)
    assert not report.problems
    cat, horse = report.documents
    assert cat.tags == ("cats", "pets") and cat.tokens == {"@viewer": {"anna": 3, "boris": 1}}
    assert horse.tags == () and horse.image == (folder / "img" / "p1.jpg").resolve()


def test_a_csv_without_required_columns_is_refused_as_a_whole(folder):
    (folder / "documents.csv").write_text("name,picture\nx,img/p0.jpg\n")
    with pytest.raises(ValueError, match="lacks required column"):
        import_collection(folder)


def test_a_folder_without_a_documents_file_gets_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"documents\.jsonl or documents\.csv"):
        import_collection(tmp_path)


def test_the_built_in_collection_imports_without_problems():
    report = import_collection(BUILTIN_COLLECTION)
    assert not report.problems
    assert len(report.documents) >= 600
    assert all(doc.image is not None and doc.tags for doc in report.documents)
