"""A lean replica (issue 23): the version's document records and token counts memory-mapped,
read for the hits shown, answers exactly as a replica that parses them all into memory (what a
version written before the mapped files is served as): same ids, same order, same scores."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from core.building.additions import add_documents
from core.building.pipeline import build
from core.reading.text import TEXT
from core.reading.vision import VISUAL
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.engine import SearchEngine
from core.serving.model import ModelParams
from core.serving.ranking import ARTICLE_RANKING, DocumentTokens
from core.serving.reader import token_counts
from core.serving.records import InMemoryRecords, MappedRecords
from core.serving.service import Service
from core.settings import BUILTIN_COLLECTION
from core.storage import collection_changes, database
from tests.conftest import builtin_rows, copy_collection, settings_for

BUILT, ADDED = 90, 6  # the built-in collection's first 90 documents, then 6 additions
WORDLESS_EVERY = 9  # every 9th photo without caption or hashtags: searched by predicted words


def without_words(rows: list[dict]) -> list[dict]:
    return [
        {**row, "text": "", "tags": [], "lang_text": {}} if number % WORDLESS_EVERY == 0 else row
        for number, row in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory, vision_cache) -> Service:
    """A small real build with photos without words, then additions (one without words) and a
    take-down of a built document (hidden from answers) and of an added one (gone)."""
    root = tmp_path_factory.mktemp("lean")
    rows = builtin_rows()
    collection = copy_collection(without_words(rows[:BUILT]), root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    build(settings, params=ModelParams(num_topics=10, passes=5, min_significant_tokens=0))
    added = without_words(rows[BUILT : BUILT + ADDED])
    add_documents(settings, copy_collection(added, root / "added"))
    with database.open_database(settings.database_url)() as session:
        for victim in (rows[3]["id"], added[2]["id"]):
            collection_changes.take_down(session, settings, victim, "ada", "asked")
    return Service(settings)


def full_replica(lean: SearchEngine, directory: Path) -> SearchEngine:
    """The same version as a replica that holds every record and count in memory (its files
    without the mapped ones), extended with the same additions as a service does."""
    shutil.copytree(lean.directory, directory)
    for mapped in [*directory.glob("documents.*.npy"), directory / "tokens"]:
        shutil.rmtree(mapped) if mapped.is_dir() else mapped.unlink()
    full = SearchEngine(directory, lean.version_name, lean.processor, lean.vectorizer)
    full.warm_up()  # as a service does before extending it: the fit reference is the version's
    base = lean.base_documents
    return full.with_additions(lean.documents[base:], lean.thetas[base:])


def test_a_lean_replica_answers_exactly_as_one_holding_every_record(served, tmp_path):
    # given the served (lean) engine with additions and take-downs, and the same version served
    # from records parsed into memory
    active = served.active()
    lean = active.engine
    assert isinstance(lean.base_records, MappedRecords)
    assert isinstance(lean.base_tokens.lengths["@text"], np.memmap)
    full = full_replica(lean, tmp_path / "full")
    assert isinstance(full.base_records, InMemoryRecords)
    assert len(lean.documents) == len(full.documents) == BUILT + ADDED - 1  # one taken down
    assert len(lean.own_tokens.wordless_photos) > 1  # built and added photos without words
    taken_down = {doc.id for doc in full.documents} & set(active.taken_down)
    allowed = np.array([doc.id not in taken_down for doc in full.documents])
    assert len(taken_down) == 1 and np.array_equal(active.allowed, allowed)

    rows = builtin_rows()
    built_photo = (BUILTIN_COLLECTION / rows[10]["image"]).read_bytes()
    added_photo = (BUILTIN_COLLECTION / rows[BUILT + 1]["image"]).read_bytes()
    new_photo = (BUILTIN_COLLECTION / rows[400]["image"]).read_bytes()
    queries = [
        Query(text="cat"),
        Query(text="кошка на окне"),
        Query(text=rows[20]["text"]),  # a built document's caption
        Query(text="flower -garden"),
        Query(image=built_photo),
        Query(image=added_photo),
        Query(image=new_photo),
        Query(text="dog", image=new_photo),
    ]
    for query in queries:
        for ranking in (None, ARTICLE_RANKING):
            for collapse in (False, True):
                request = SearchRequest(query, k=12, ranking=ranking, collapse_similar=collapse)
                # when both answer, then the hits are the same, in the same order, with the same
                # scores and distances to the last bit (a hit compares every field)
                expected = full.search(request, allowed).hits
                assert expected and lean.search(request, active.allowed).hits == expected
    for doc_id in (rows[5]["id"], rows[BUILT]["id"]):
        assert lean.document(doc_id) == full.document(doc_id)
        assert lean.document_query(doc_id) == full.document_query(doc_id)
    photo = AnnotationRequest(Query(image=new_photo))
    assert lean.annotation.annotate(photo) == full.annotation.annotate(photo)


def test_the_counts_a_lean_replica_ranks_by_are_one_matrix_over_the_whole_collection(served):
    # given the served engine: the version's mapped counts, the additions' and predicted words
    lean = served.active().engine
    phi = lean.model.phi
    # when the counts are made at once from every document's record, as before they were stored
    documents = [token_counts(doc.tokens) for doc in lean.documents]
    written = DocumentTokens(phi, documents)
    for row in written.wordless_photos:
        words = lean.annotation.photo_words(documents[row][VISUAL], int(row))
        documents[row] = {**documents[row], **words}
    whole = DocumentTokens(phi, documents, written.collection)

    # then they hold the same counts, lengths and collection frequencies, to the bit
    own = lean.own_tokens
    assert len(own.parts[TEXT]) == 3  # the stored block, the additions, the predicted words
    for modality, (matrix,) in whole.parts.items():
        assert np.array_equal(sum(part.toarray() for part in own.parts[modality]), matrix.toarray())
        columns = np.arange(matrix.shape[1])
        every, some = slice(0, matrix.shape[0]), np.arange(1, matrix.shape[0], 3)
        assert np.array_equal(own.counts_at(modality, columns, every), matrix.toarray())
        assert np.array_equal(own.counts_at(modality, columns, some), matrix[some].toarray())
        for column in columns:
            assert np.array_equal(
                own.rows_containing(modality, column), whole.rows_containing(modality, column)
            )
        assert np.array_equal(own.lengths[modality], whole.lengths[modality])
        counts = written.parts[modality][0]  # frequencies: of the written words, as before
        before = np.asarray(counts.sum(axis=0)).ravel() / counts.sum()
        assert np.array_equal(own.collection[modality], before)
