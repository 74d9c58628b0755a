"""A build whose driver holds counts, not documents (issue 23, item 3): every ingested batch goes
to a shard on disk where it was ingested, and everything after reads the shards.

The reference is the build as it was before, in memory: the same collection ingested into one
list (``KeepInMemory``) and written by the same ``train_and_write_version``. The streamed build
gives the same version, file for file, and the same answers."""

from __future__ import annotations

import gc
import json
import shutil
import tracemalloc
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.building import pipeline
from core.building.ingest import LocalIngest, ShardWriter
from core.building.pipeline import (
    build,
    prepare_corpus,
    theta_blocks,
    train_and_write_version,
)
from core.reading.backbones import load_backbone
from core.reading.collection import Document, import_collection
from core.reading.text import TextProcessor
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving import bilingual
from core.serving.answers import AnnotationRequest, Query, SearchRequest
from core.serving.engine import SearchEngine
from core.serving.index import IndexParams
from core.serving.model import ModelParams
from core.serving.ranking import (
    ARTICLE_RANKING,
    LOOKALIKE_WORDS,
    WORD_MODALITIES,
    WRITE_BUFFER,
    DocumentTokens,
    RankingParams,
    _column_entries,
    unlearned_words,
)
from core.serving.version_files import VersionFiles
from core.settings import BUILTIN_COLLECTION, Settings
from core.storage import database, store
from tests.conftest import builtin_rows, copy_collection, settings_for
from tests.fault_helpers import model_dirs, state

PARAMS = ModelParams(num_topics=8, num_background_topics=1, passes=4, min_significant_tokens=3)
BUILT = 80
DRIVER_DOCUMENTS = 1000  # documents held at a time by the build's steps, at most


def no_words(tag: str) -> None:
    """Hashtags that say no word: what the counts tests need."""
    return None


def without_words(rows: list[dict]) -> list[dict]:
    """Every seventh photo without caption or hashtags (dropped by the threshold, or wordless)."""
    return [
        {**row, "text": "", "tags": [], "lang_text": {}} if number % 7 == 0 else row
        for number, row in enumerate(rows)
    ]


@pytest.fixture(scope="module")
def built(tmp_path_factory, vision_cache):
    """The collection built (streamed), and the same collection written in memory."""
    root = tmp_path_factory.mktemp("streamed")
    collection = copy_collection(without_words(builtin_rows()[:BUILT]), root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    report = build(settings, params=PARAMS)

    executor = LocalIngest(
        TextProcessor(), ImageVectorizer(load_backbone(settings), settings.cache_dir)
    )
    corpus = prepare_corpus(import_collection(collection).documents, PARAMS, executor)
    reference = root / "in-memory"
    train_and_write_version(
        reference, corpus, PARAMS, IndexParams(), None, {}, RankingParams(), executor
    )
    return settings, report, corpus, reference


def arrays(path: Path) -> dict[str, np.ndarray]:
    if path.suffix == ".npz":
        with np.load(path) as stored:
            return {key: stored[key] for key in stored.files}
    return {"": np.load(path)}


def test_a_streamed_build_writes_the_version_the_in_memory_build_writes(built) -> None:
    settings, report, corpus, reference = built
    streamed = settings.models_dir / report.version_name

    # the same documents kept and dropped, in the same records, with the same sorted indexes
    assert report.junk_filtered == corpus.junk_filtered and report.junk_filtered
    assert report.num_documents == len(corpus.documents) < BUILT
    for name in ["documents.jsonl", *(p.name for p in reference.glob("documents.*.npy"))]:
        assert (streamed / name).read_bytes() == (reference / name).read_bytes(), name
    # the same phi (two batches on two processors: to the bit) and thetas
    for name in ["model/phi.npz", "index/thetas.npy"]:
        mine, theirs = arrays(streamed / name), arrays(reference / name)
        assert sorted(mine) == sorted(theirs)
        for key, array in theirs.items():
            assert np.array_equal(mine[key], array), (name, key)
    # the same token counts the ranking maps, display forms and word pairs
    for path in sorted((reference / "tokens").iterdir()):
        mine = streamed / "tokens" / path.name
        if path.suffix == ".npy":
            assert np.array_equal(np.load(mine), np.load(path)), path.name
        else:
            assert mine.read_text() == path.read_text()
    for name in ["display.json", "translations.json"]:
        assert json.loads((streamed / name).read_text()) == json.loads(
            (reference / name).read_text()
        )
    # and nothing of the shards is left in the version
    assert not (streamed / "training").exists()
    assert model_dirs(settings) == [report.version_name]


def test_a_streamed_build_answers_as_the_in_memory_build(built) -> None:
    settings, report, _, reference = built
    processor = TextProcessor()
    vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
    streamed = SearchEngine(settings.models_dir / report.version_name, "v", processor, vectorizer)
    in_memory = SearchEngine(reference, "v", processor, vectorizer)
    rows = builtin_rows()
    for query in [
        Query(text="cat"),
        Query(text="кошка на окне"),
        Query(text=rows[20]["text"]),
        Query(image=(BUILTIN_COLLECTION / rows[10]["image"]).read_bytes()),
        Query(text="dog", image=(BUILTIN_COLLECTION / rows[300]["image"]).read_bytes()),
    ]:
        for ranking in (None, ARTICLE_RANKING):
            request = SearchRequest(query, k=10, ranking=ranking)
            # ids, order, scores and distances, to the last bit (a hit compares every field)
            expected = in_memory.search(request).hits
            assert expected and streamed.search(request).hits == expected


def test_a_streamed_build_stores_every_kept_document_row_in_order(built) -> None:
    settings, report, corpus, _ = built
    with database.open_database(settings.database_url)() as session:
        rows = store.version_documents(session, report.version_id)
    assert [(d.id, d.text, d.tags, d.image_ref, d.image_hash) for d in rows] == [
        (d.id, d.text, d.tags, d.image_ref, d.image_hash) for d in corpus.documents
    ]


def test_given_a_build_failing_after_its_first_shards_then_no_shard_is_left_and_the_old_serves(
    built, tmp_path, vision_cache
) -> None:
    settings = built[0]
    data = settings_for(tmp_path / "data", vision_cache, settings.collection)
    first = build(data, params=PARAMS)
    seen: list[Path] = []

    def fail_once_shards_are_written(stage: str, done: int, total: int) -> None:
        if stage == "vectorize":
            seen.extend(data.models_dir.glob(".building-*/training/corpus/*.jsonl"))
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        build(data, params=PARAMS, progress=fail_once_shards_are_written)

    assert seen  # the batch's shard was on disk when it failed
    active, versions = state(data)
    assert active == first.version_name and versions["v0002"] == ("failed", None)
    assert model_dirs(data) == [first.version_name]


def test_the_ingest_of_a_build_brings_the_driver_counts_not_documents(tmp_path) -> None:
    """Documents with their tokens given (no photos): kept in memory, the driver's peak grows
    with the collection; written to shards, it stays at a few batches' worth."""
    words = [f"w{n}" for n in range(500)]
    rng = np.random.default_rng(0)
    documents = [
        Document(
            f"d{n}",
            " ".join(rng.choice(words, 30)),
            tokens={"@author": Counter({f"a{n % 50}": 1})},
        )
        for n in range(3000)
    ]
    executor = LocalIngest(TextProcessor(), ImageVectorizer(load_backbone(), tmp_path / "c"))
    peaks = {}
    for name, sink in [("memory", None), ("shards", ShardWriter(tmp_path / "shards"))]:
        tracemalloc.start()
        corpus = prepare_corpus(documents, PARAMS, executor, sink=sink)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert len(corpus.documents) == len(documents)
    assert peaks["shards"] < peaks["memory"] / 5, peaks


def test_thetas_finishing_out_of_order_go_to_the_index_in_row_order(monkeypatch) -> None:
    # given an executor whose chunks of thetas finish last first (as they may on a cluster)
    class LastFirst:
        def infer(self, chunks, phi, params, weights):
            finished = [(n, np.full((len(chunk), 2), n)) for n, chunk in enumerate(chunks)]
            return reversed(finished)

    monkeypatch.setattr(pipeline, "THETA_CHUNK", 3)
    model = SimpleNamespace(phi={})
    # when the thetas of ten documents are given for the index
    blocks = list(theta_blocks(model, ModelParams(), [{}] * 10, {}, executor=LastFirst()))
    # then every chunk comes once, in row order
    assert [block[0, 0] for block in blocks] == [0, 1, 2, 3]
    assert [len(block) for block in blocks] == [3, 3, 3, 1]


def bilingual_captions(folder: Path, count: int) -> Path:
    """A collection of ``count`` captions without photos, each of thirty English and thirty
    Russian words drawn from eight of each (made-up words)."""
    rng = np.random.default_rng(count)
    english, russian = (
        ["".join(rng.choice(list(letters), 7)) for _ in range(8)]
        for letters in ("abcdefghijklmnopqrstuvwxyz", "абвгдежзиклмнопрстуфхцчшэюя")
    )
    folder.mkdir(parents=True)
    with (folder / "documents.jsonl").open("w", encoding="utf-8") as lines:
        for number in range(count):
            words = [*rng.choice(english, 30), *rng.choice(russian, 30)]
            lines.write(json.dumps({"id": f"d{number}", "text": " ".join(words)}) + "\n")
    return folder


def test_a_builds_driver_holds_little_more_for_four_times_the_documents(
    tmp_path, monkeypatch
) -> None:
    """The driver's peak Python allocations grow by a few hundred bytes a document (450 here):
    the collection's records are read as the batches go out, the word pairs counted in arrays
    and the thetas written to the index a chunk at a time (imported whole, counted in Counters
    and stacked, they grew by 1.9 KB a document here). The build's buffers of a constant size
    that a few thousand documents do not fill (database rows inserted at a time, word pairs
    merged at a time) are made small, so that they are as full at the smaller size as at the
    larger; the ranking's counts gather up to 4M entries (``WRITE_BUFFER``): a few words a
    caption keep theirs small."""
    monkeypatch.setattr(bilingual, "PAIR_MERGE", 4096)
    monkeypatch.setattr(store, "INSERT_CHUNK", 100)
    executor = LocalIngest(TextProcessor(), None)
    params = ModelParams(num_topics=8, num_background_topics=1, passes=2)

    def driver_peak(count: int) -> int:
        collection = bilingual_captions(tmp_path / f"collection-{count}", count)
        settings = Settings(data_dir=tmp_path / f"data-{count}", collection=collection)
        gc.collect()  # no garbage of earlier tests in the peak
        tracemalloc.start()
        report = build(settings, params=params, executor=executor)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert report.num_documents == count
        return peak

    driver_peak(100)  # what every build loads once (the dictionary, the database's tables)
    small, large = driver_peak(DRIVER_DOCUMENTS), driver_peak(4 * DRIVER_DOCUMENTS)
    assert (large - small) / (3 * DRIVER_DOCUMENTS) < 1024, (small, large)


@pytest.mark.parametrize("buffer", [WRITE_BUFFER, 50])
def test_counts_written_in_two_passes_are_the_counts_made_in_memory(
    built, tmp_path, buffer
) -> None:
    """Chunks of 7 documents: entries of a column come from many chunks (and, with a buffer of
    50 entries, are written in many writes); unknown tokens and counts of 0 are left out; a
    photo without words is one."""
    settings, report, corpus, _ = built
    phi = VersionFiles(settings.models_dir / report.version_name).read_model().phi
    documents = [
        *corpus.tokens,
        {"@text": Counter({"never-seen": 3, next(iter(phi["@text"].tokens)): 0})},
        {VISUAL: Counter({phi[VISUAL].tokens[0]: 2})},
        {},
    ]

    DocumentTokens.write(tmp_path, phi, documents, no_words, chunk=7, buffer=buffer)

    written, expected = DocumentTokens.load(tmp_path, phi), DocumentTokens(phi, documents)
    # the word no model learned is kept with the row that says it, as an addition's would be
    assert {key: rows.tolist() for key, rows in written.unlearned.items()} == {
        key: rows.tolist() for key, rows in unlearned_words(documents, phi, no_words).items()
    }
    assert written.unlearned[("@text", "never-seen")].tolist() == [len(documents) - 3]
    assert written.num_documents == expected.num_documents == len(documents)
    assert np.array_equal(written.wordless_photos, expected.wordless_photos)
    assert len(documents) - 2 in written.wordless_photos
    for modality, (matrix,) in expected.parts.items():
        (mine,) = written.parts[modality]
        # whole counts take 4 bytes on disk (float32 holds them exactly)
        assert mine.dtype == np.float32 and mine.indices.dtype == matrix.indices.dtype
        assert np.array_equal(mine.indptr, matrix.indptr)
        assert np.array_equal(mine.indices, matrix.indices)
        assert np.array_equal(mine.data, matrix.data)
        assert np.array_equal(written.lengths[modality], expected.lengths[modality])
        assert np.array_equal(written.totals[modality], expected.totals[modality])
    # and the visual words also document by document, each document's tokens ascending, the
    # counts of draws (whole numbers) in 4 bytes
    (by_document,) = written.by_document[VISUAL]
    rows = expected.parts[VISUAL][0].tocsr()
    rows.sort_indices()
    assert np.array_equal(by_document.indptr, rows.indptr)
    assert np.array_equal(by_document.indices, rows.indices)
    assert np.array_equal(by_document.data, rows.data) and by_document.data.dtype == np.float32
    # and each document's look (its heaviest visual words' shares) token by token, as made in
    # memory
    (looks,) = written.heaviest[VISUAL]
    (made,) = expected.heaviest[VISUAL]
    assert looks.dtype == np.float32 and looks.nnz
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(looks, name), getattr(made, name))
    # and the word and hashtag columns' documents in the order of their counts and lengths
    # (``ImpactOrder``), as made in memory
    for modality in WORD_MODALITIES:
        (order,) = written.impact[modality]
        (made,) = expected.impact[modality]
        assert len(order.positions) == written.parts[modality][0].nnz
        for name in ("positions", "group_indptr", "group_counts", "group_lengths", "group_ends"):
            assert np.array_equal(getattr(order, name), getattr(made, name)), name


def test_a_version_written_before_looks_finds_look_alikes_by_whole_visual_words(
    built, tmp_path
) -> None:
    settings, report, corpus, _ = built
    phi = VersionFiles(settings.models_dir / report.version_name).read_model().phi
    # given counts as a version written before documents' looks were kept stores them
    DocumentTokens.write(tmp_path, phi, corpus.tokens, no_words)
    for path in tmp_path.glob("*.heaviest.*.npy"):
        path.unlink()
    manifest = json.loads((tmp_path / "tokens.json").read_text())
    del manifest["heaviest"]
    (tmp_path / "tokens.json").write_text(json.dumps(manifest))
    before = DocumentTokens.load(tmp_path, phi)
    assert before.heaviest == {}
    # when a photo's look-alikes are measured (a document's visual words as the photo)
    photo = next(doc[VISUAL] for doc in corpus.tokens if doc.get(VISUAL))
    query = np.array([photo.get(token, 0) for token in phi[VISUAL].tokens], dtype=float)
    columns = np.flatnonzero(query)
    query = query[columns] / query.sum()
    shares = before.look_alike_shares(columns, query)
    # then they share the whole of each document's visual words, as they did
    expected = np.zeros(before.num_documents, dtype=np.float32)
    for place in np.argsort(-query, kind="stable")[:LOOKALIKE_WORDS]:
        cap = query[place]
        for rows, found in before.column_shares(VISUAL, int(columns[place]), cap, np.float32):
            np.add.at(expected, rows, found)
    assert np.array_equal(shares, expected) and shares.max() > 0
    # where a version with looks shares its documents' heaviest words only
    looked = DocumentTokens(phi, corpus.tokens).look_alike_shares(columns, query)
    assert (looked <= expected + 1e-6).all() and (looked < expected - 1e-6).any()


def test_the_document_major_copy_keeps_counts_that_four_bytes_cannot_hold(built, tmp_path) -> None:
    settings, report, corpus, _ = built
    phi = VersionFiles(settings.models_dir / report.version_name).read_model().phi
    # given a document whose visual word counts a third (a weight, not a number of draws)
    third = {VISUAL: Counter({phi[VISUAL].tokens[5]: 1 / 3})}
    documents = [*corpus.tokens[:6], third]
    # when the counts are written and read back for a photo's candidates
    DocumentTokens.write(tmp_path, phi, documents, no_words)
    written = DocumentTokens.load(tmp_path, phi)
    columns, rows = np.arange(len(phi[VISUAL].tokens)), np.arange(len(documents))
    assert written.by_document[VISUAL][0].entries_at(columns, rows) is not None
    # then they are the counts made in memory, to the bit, in the columns too
    expected = DocumentTokens(phi, documents).counts_at(VISUAL, columns, rows)
    assert expected[6, 5] == 1 / 3
    assert np.array_equal(written.counts_at(VISUAL, columns, rows), expected)
    assert written.parts[VISUAL][0].dtype == np.float64
    assert np.array_equal(written.parts[VISUAL][0].toarray(), expected)


def test_writing_eight_times_the_counts_holds_a_small_part_of_them(built, tmp_path) -> None:
    """What the writer holds grows with the documents (a length each), not with the counts
    that its buffer passes through."""
    settings, report, corpus, _ = built
    phi = VersionFiles(settings.models_dir / report.version_name).read_model().phi
    held, entries = {}, {}
    for times in (1, 8):
        documents = list(corpus.tokens) * times
        tracemalloc.start()
        DocumentTokens.write(tmp_path / str(times), phi, documents, no_words, chunk=7, buffer=1000)
        held[times] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        loaded = DocumentTokens.load(tmp_path / str(times), phi)
        entries[times] = sum(matrix.nnz for (matrix,) in loaded.parts.values())
    assert entries[8] == 8 * entries[1]
    grown_bytes = 8 * (entries[8] - entries[1])  # what they take on disk (int32 and float32)
    assert held[8] - held[1] < grown_bytes / 4, (held, entries)


def written_before_the_document_major_copy(version: Path, target: Path) -> Path:
    """A copy of ``version`` as it was written before its counts were also stored document by
    document: no row files, none named in the counts' manifest."""
    shutil.copytree(version, target)
    tokens = target / "tokens"
    for path in tokens.glob("*.rows.*.npy"):
        path.unlink()
    manifest = json.loads((tokens / "tokens.json").read_text())
    del manifest["by_document"]
    (tokens / "tokens.json").write_text(json.dumps(manifest))
    return target


def test_a_photos_candidates_counts_read_document_by_document_are_those_read_by_columns(
    built, tmp_path, monkeypatch
) -> None:
    settings, report, _, _ = built
    version = settings.models_dir / report.version_name
    phi = VersionFiles(version).read_model().phi
    before = written_before_the_document_major_copy(version, tmp_path / "before")
    # given the version's counts, and the same counts as a version written before stores them
    mine = VersionFiles(version).read_document_tokens(phi)
    columns_only = VersionFiles(before).read_document_tokens(phi)
    assert columns_only.by_document[VISUAL] == [None]
    searched: list = []  # the columns searched by binary search
    by_columns = _column_entries
    monkeypatch.setattr(
        "core.serving.ranking._column_entries",
        lambda *args: searched.append(args[1]) or by_columns(*args),
    )
    every, width = np.arange(mine.num_documents), len(phi[VISUAL].tokens)
    for rows in (every, every[::3], every[5:9], every[:0]):
        for columns in (np.arange(width), np.arange(width - 1, 0, -2)):
            # when a photo's candidates' counts are read (many visual words)
            searched.clear()
            counts = mine.counts_at(VISUAL, columns, rows)
            # then they come from the rows, and are the counts read from the columns, to the bit
            assert not searched
            assert np.array_equal(counts, columns_only.counts_at(VISUAL, columns, rows))
            assert np.array_equal(counts, mine.parts[VISUAL][0][rows][:, columns].toarray())
    # and a word query's one visual word over many documents is read from its column
    mine.counts_at(VISUAL, [3], every)
    assert searched


def test_a_version_written_before_the_document_major_copy_answers_photos_as_one_with_it(
    built, tmp_path, monkeypatch
) -> None:
    settings, report, _, _ = built
    # (as at scale: a photo's search and annotation score its 20 look-alikes, not every document)
    monkeypatch.setattr("core.serving.ranking.LIKELIHOOD_CANDIDATES", 20)
    monkeypatch.setattr("core.serving.ranking.LOOKALIKE_CANDIDATES", 20)
    monkeypatch.setattr("core.serving.annotation.LOOKALIKE_CANDIDATES", 20)
    monkeypatch.setattr("core.serving.annotation.EXACT_NEIGHBOURS", 0)
    version = settings.models_dir / report.version_name
    before = written_before_the_document_major_copy(version, tmp_path / "before")
    processor = TextProcessor()
    vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
    # given the version and the same version as written before (its counts by columns alone)
    mine = SearchEngine(version, "v", processor, vectorizer)
    old = SearchEngine(before, "v", processor, vectorizer)
    rows = builtin_rows()
    for photo in (rows[10], rows[300], rows[BUILT + 5]):
        image = (BUILTIN_COLLECTION / photo["image"]).read_bytes()
        for query in (Query(image=image), Query(text="dog", image=image)):
            # when a photo is searched for, and annotated
            request = SearchRequest(query, k=10)
            # then both answer the same hits, scores to the last bit, and the same annotation
            expected = old.search(request).hits
            assert expected and mine.search(request).hits == expected
        annotation = AnnotationRequest(Query(image=image))
        assert mine.annotation.annotate(annotation) == old.annotation.annotate(annotation)
