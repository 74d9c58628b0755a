"""Scale measurements: synthetic documents follow the source corpus, out-of-core training reports
seconds per pass and memory, and the report shows measured rows apart from estimates."""

from __future__ import annotations

import argparse
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from core.building.pipeline import build
from core.cli.measurement import _scale_query
from core.measurement.scale import (
    SyntheticDocuments,
    measure_build,
    measure_node,
    measure_query_latency,
    measure_training,
    model_footprint,
    query_latency,
    read_source_corpus,
    record,
    synthetic_documents,
    synthetic_version,
)
from core.measurement.scale_plan import CapacityTargets, render_report
from core.reading.backbones import load_backbone
from core.reading.text import TextProcessor
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving import ranking
from core.serving.answers import Query, SearchRequest
from core.serving.engine import SearchEngine
from core.serving.model import ModelParams
from core.serving.ranking import (
    LIKELIHOOD_CANDIDATES,
    LOOKALIKE_WORDS,
    DocumentTokens,
    LikelihoodRanker,
    QueryTerm,
    WeightedForms,
    bag_distribution,
    coordinated,
    term_shares,
)
from core.serving.reader import expected_visual_words
from core.serving.version_files import VersionFiles
from core.settings import BUILTIN_COLLECTION
from tests.conftest import builtin_rows, copy_collection, settings_for
from tests.fault_helpers import SMALL


@pytest.fixture(scope="module")
def version_dir(tmp_path_factory, vision_cache) -> Path:
    """A small built version (every 10th document of the built-in collection)."""
    root = tmp_path_factory.mktemp("scale")
    collection = copy_collection(builtin_rows()[::10], root / "collection")
    settings = settings_for(root / "data", vision_cache, collection)
    return settings.models_dir / build(settings, params=SMALL).version_name


@pytest.fixture(scope="module")
def source(version_dir) -> list[dict]:
    return read_source_corpus(version_dir)


def test_synthetic_documents_keep_the_source_lengths_and_vocabulary(source) -> None:
    drawn = list(synthetic_documents(source, 500, seed=3))

    assert len(drawn) == 500
    for modality in ("@text", "@visual"):
        vocabulary = {t for doc in source for t in doc.get(modality, {})}
        assert {t for doc in drawn for t in doc.get(modality, {})} <= vocabulary
    source_lengths = {sum(doc["@visual"].values()) for doc in source if "@visual" in doc}
    assert {sum(doc["@visual"].values()) for doc in drawn if "@visual" in doc} <= source_lengths
    counts = Counter(t for doc in drawn for t in doc.get("@text", {}))
    assert len(counts) > 50  # many words, not a few repeated documents


def test_synthetic_documents_are_reproducible_by_seed(source) -> None:
    assert list(synthetic_documents(source, 50, seed=1)) == list(
        synthetic_documents(source, 50, seed=1)
    )
    assert list(synthetic_documents(source, 50, seed=1)) != list(
        synthetic_documents(source, 50, seed=2)
    )


def test_out_of_core_training_reports_seconds_per_pass_and_peak_memory(source, tmp_path) -> None:
    params = ModelParams(num_topics=8, num_background_topics=1, document_passes=2)

    result = measure_training(source, 2500, tmp_path, params=params, passes=2, processors=2)

    assert result["batches"] == 3 and result["processors"] == 2
    assert len(result["pass_seconds"]) == len(result["pass_cpu_seconds"]) == 2
    assert result["peak_rss_bytes"] > 50 * 2**20
    assert set(result["vocabulary"]) == {"@text", "@tag", "@visual"}
    first, second = result["perplexity"]
    assert second["@text"] < first["@text"]  # it really trains
    assert not any(tmp_path.iterdir())  # text and batches removed


def test_the_report_marks_measured_rows_and_shows_the_plans_arithmetic(
    version_dir, tmp_path
) -> None:
    record(tmp_path, "footprint", "source", model_footprint(version_dir, repeats=2))
    ingest = {
        "workers": 1,
        "images": 600,
        "seconds": 60.0,
        "images_per_second": 10.0,
        "worker_cpu_seconds": 120.0,
        "worker_warmup_seconds": [4.0],
        "worker_rss_bytes": [900 * 2**20],
        "load_average_at_start": 1.0,
    }
    record(tmp_path, "ingest", "1", ingest)
    training = {
        "documents": 100_000,
        "source_documents": 620,
        "num_topics": 300,
        "processors": 2,
        "batches_bytes": 10**8,
        "vocabulary": {"@text": 3000, "@visual": 1000},
        "pass_seconds": [50.0, 52.0],
        "pass_cpu_seconds": [90.0, 90.0],
        "peak_rss_bytes": 300 * 2**20,
        "max_rss_bytes": 310 * 2**20,
    }
    record(tmp_path, "training", "100000", training)
    results = json.loads((tmp_path / "scale.json").read_text())

    report = render_report(results, bench={}, targets=CapacityTargets())

    assert "## Ingest throughput on local Dask workers (measured)" in report
    assert "| 1 | 600 | 60.0 | 10.0 | 0.200 |" in report
    # 0.2 CPU s per image: 2 cores / 0.2 = 10 images/s per node;
    # 10,000,000 / (10 images/s x 3,600 x 24 h) = 11.6 -> 12 nodes
    assert "**12 worker nodes**" in report
    # 90 CPU s x 100 / 2 cores = 4,500 s = 1.2 h per pass; x 40 passes = 50 h
    assert "1.2 h per pass" in report and "**50 h**" in report
    assert "### First bottleneck" in report
    assert np.isfinite(results["footprint"]["source"]["python_bytes_per_document"])

    # with a streamed build measured at two sizes and a lean replica, the plan takes theirs
    for documents, peak in ((10_000, 50 * 2**20), (20_000, 90 * 2**20)):
        build = {
            "documents": documents,
            "traced_peak_bytes": peak,
            "peak_rss_bytes": 2 * peak,
            "seconds": 10.0,
            "load_average_at_start": 1.0,
            "measured_at": "now",
        }
        record(tmp_path, "build-streamed", str(documents), build)
    lean = {"load_seconds": 0.3, "load_and_warm_up_seconds": 2.0, "resident_file_mb": 600.0}
    replica = {
        "documents": 100_000,
        "lean": {**lean, "resident_anonymous_mb": 100.0},
        "load_average_at_end": 1.0,
        "measured_at": "now",
    }
    record(tmp_path, "replica", "100000", replica)
    report = render_report(json.loads((tmp_path / "scale.json").read_text()), bench={})
    assert "| 20,000 | streamed (the build) | 90 MB | 180 MB |" in report
    # (90 - 50) MB / 10,000 documents = 4.1 KB per document, from 90 MB at 20,000
    assert "still grows by 4.1 KB per document" in report
    assert "A lean replica (measured above, `scale-replica`)" in report

    # with a node and queries measured at the plan's size, the plan takes them, not estimates
    gb = 10**9
    disk = {"model": gb, "index": 24 * gb, "documents": 14 * gb, "document_maps": gb}
    node = {
        "documents": 10_000_000,
        "replicas": 2,
        "node_rss_gb": 9.0,
        "each": [{"anonymous_gb": 0.5, "rss_gb": 8.0, "until_queries_answered_seconds": 60}] * 2,
        "bytes_on_disk": {**disk, "tokens": 15 * gb},
        "load_average_at_end": 1.0,
        "measured_at": "now",
    }
    record(tmp_path, "node", "10000000x2", node)
    written = {"documents": 10_000_000, "write_seconds": 3300.0, "load_average_at_end": 1.0}
    record(tmp_path, "version", "10000000", {**written, "peak_rss_bytes": 17 * 2**30})
    kinds = {"text": 800.0, "photo": 30_000.0, "both": 9_000.0}
    query = {
        kind: {"p50_ms": p50, "p95_ms": 2 * p50, "recall_at_10": 1.0, "queries": 4}
        for kind, p50 in kinds.items()
    }
    query.update(documents=10_000_000, ranking="r", load_average_at_end=1.0, measured_at="now")
    record(tmp_path, "query", "10000000", query)
    report = render_report(json.loads((tmp_path / "scale.json").read_text()), bench={})
    assert "**Measured at 10,000,000 documents** (`scale-node`, above)" in report
    assert "(`scale-version`) took 55 min with a peak RSS of 18.3 GB" in report
    assert "| 10,000,000 | 2 | 9.00 | 0.50, 0.50 | 8.00, 8.00 | 60, 60 | 55.0 |" in report
    # index 24 GB + counts 15 GB + heaps 1 GB are read over a day, + phi per replica
    assert "24.0 GB + 15.0 GB + the heaps 1.0 GB" in report
    # 100 q/s x 30 s / 0.6 = 5,000 cores
    assert "p50 30,000 ms for the slowest kind (photo)" in report
    assert "= 5,000.0 cores: **5,000 replicas**" in report
    # a photo's p95 of 60 s against the 200 ms target: 300x, the first bottleneck
    assert "- query latency on one core: 300.0x" in report
    assert "The first bottleneck is **query latency on one core** (300.0x)" in report


@pytest.mark.parametrize("streamed", [True, False])
def test_scale_build_measures_the_drivers_memory_and_leaves_nothing(
    source, tmp_path, streamed
) -> None:
    # given a synthetic collection without photos, built in a child process
    result = measure_build(source, 300, tmp_path, SMALL, streamed=streamed)
    # then the driver's peak memory is measured, and the collection and version are gone
    assert 0 < result["documents"] <= 300 and result["streamed"] is streamed
    assert 0 < result["traced_peak_bytes"] < result["peak_rss_bytes"]
    assert result["timings"]["ingest"] > 0 and result["timings"]["train"] > 0
    assert not (tmp_path / "build-300").exists()


def test_a_synthetic_version_is_written_from_documents_drawn_again_on_every_pass(
    source, version_dir, tmp_path
) -> None:
    documents = SyntheticDocuments(source, 50, seed=2)
    first, again = list(documents), list(documents)
    assert len(first) == 50 and first == again
    assert documents.source_rows().shape == (50,)

    synthetic_version(version_dir, 50, tmp_path / "version", seed=2)
    written = VersionFiles(tmp_path / "version").read_documents()
    assert [(d.id, d.text, d.tags, d.tokens) for d in written] == [
        (d.id, d.text, d.tags, d.tokens) for d in first
    ]


def test_past_the_candidate_limit_a_search_finds_what_scoring_every_document_finds(
    version_dir, tmp_path, vision_cache
) -> None:
    # given a synthetic version with more documents than the likelihood ranking scores at once
    documents = LIKELIHOOD_CANDIDATES + 1000
    synthetic_version(version_dir, documents, tmp_path / "version")
    vectorizer = ImageVectorizer(load_backbone(), vision_cache)
    engine = SearchEngine(tmp_path / "version", "synthetic", TextProcessor(), vectorizer)
    photos = [(BUILTIN_COLLECTION / row["image"]).read_bytes() for row in builtin_rows()[5:8]]
    queries = [
        Query(text="cat"),
        Query(text="кошка на окне"),
        *(Query(image=photo) for photo in photos),  # visual words name no candidates
        Query(text="red flower", image=photos[0]),
    ]
    for query in queries:
        request = SearchRequest(query, k=10, collapse_similar=False)
        # when searched as a visitor searches (candidates) and with every document scored
        found = [hit.row for hit in engine.search(request).hits]
        # then the same ten documents come first, in the same order
        assert found == engine.exhaustive_rows(request).tolist()


@dataclass(frozen=True)
class AskedWords:
    """A text query as the likelihood ranking reads it, and what scoring every document gives."""

    request: SearchRequest
    terms: list[QueryTerm]
    query: WeightedForms
    every: np.ndarray  # each document's score
    containing: np.ndarray  # the documents with a word or hashtag of the query

    @classmethod
    def of(cls, engine: SearchEngine, text: str) -> AskedWords:
        request = SearchRequest(Query(text=text), k=10, collapse_similar=False)
        asked = engine._read(request, None)
        terms, phi = asked.ranked_terms, engine.ranked.phi
        ranker = LikelihoodRanker(engine.ranking, engine.ranked)
        worded = [t for t in terms if t.forms[0][0] != VISUAL]
        return cls(
            request,
            terms,
            WeightedForms.of(terms, asked.weights, phi),
            ranker.scores(asked.inferred.theta, terms, asked.weights),
            engine.ranked.own.rows_with(worded, phi),
        )


def engine_past_the_limit(version_dir: Path, target: Path) -> SearchEngine:
    """A text engine over a synthetic version past the candidate limit."""
    synthetic_version(version_dir, LIKELIHOOD_CANDIDATES + 1000, target)
    return SearchEngine(target, "synthetic", TextProcessor(), None)


def recorded_bounds(monkeypatch) -> list[np.ndarray]:
    """The rows of each ``LikelihoodRanker.upper_bounds`` call from now on."""
    bounded = []
    upper_bounds = LikelihoodRanker.upper_bounds

    def recorded(self, query, terms, rows):
        bounded.append(rows)
        return upper_bounds(self, query, terms, rows)

    monkeypatch.setattr(LikelihoodRanker, "upper_bounds", recorded)
    return bounded


def test_words_prove_the_top_ten_by_bounds_without_the_topic_index(
    version_dir, tmp_path, monkeypatch
) -> None:
    # given a synthetic version past the candidate limit, its ranking's bounds for a query
    engine = engine_past_the_limit(version_dir, tmp_path / "version")
    ranker = LikelihoodRanker(engine.ranking, engine.ranked)
    for text in ("cat", "кошка на окне", "red flower in a garden"):
        asked = AskedWords.of(engine, text)
        upper, rest = ranker.upper_bounds(asked.query, asked.terms, asked.containing)
        # then every bound holds: each document's, and the one of those without the words
        assert np.all(asked.every[asked.containing] <= upper + 1e-9)
        assert np.all(np.delete(asked.every, asked.containing) <= rest + 1e-9)
        # and the words alone give the ten that scoring every document gives, in its order,
        # with the topic index never asked
        expected = engine.exhaustive_rows(asked.request).tolist()
        engine.search(asked.request)  # warmed up: the fit's reference samples the index once
        monkeypatch.setattr(engine.ranked.index, "query", lambda *a: pytest.fail("index"))
        assert [hit.row for hit in engine.search(asked.request).hits] == expected
        monkeypatch.undo()


# queries of several words, and whether the documents saying every one prove their top ten: a
# Russian query finds the English captions through translations, at a smaller share
TIER_QUERIES = {"red flower": True, "red flower in a garden": True, "красный цветок": False}


def test_the_documents_saying_every_word_prove_the_top_ten_without_bounding_the_others(
    version_dir, tmp_path, monkeypatch
) -> None:
    # given a synthetic version past the candidate limit, and queries of several words
    engine = engine_past_the_limit(version_dir, tmp_path / "version")
    ranker = LikelihoodRanker(engine.ranking, engine.ranked)
    for text in TIER_QUERIES:
        asked = AskedWords.of(engine, text)
        # when the documents that say every word of the query are taken apart
        tier, outside = ranker.top_tier(asked.query, asked.terms, None)
        # then they are fewer than those with any of the words, each says every word asked,
        # and every other document scores at most the tier's bound on them
        assert 10 <= len(tier) < len(asked.containing)
        for term in coordinated(asked.terms):
            assert np.all(term_shares(term, engine.ranked.phi, engine.ranked.own, tier) > 0)
        assert np.all(np.delete(asked.every, tier) <= outside + 1e-9)
        # and a search bounds the tier's documents first (only them, where they prove the top
        # ten), and gives the ten that scoring every document gives, in its order
        expected = engine.exhaustive_rows(asked.request).tolist()
        bounded = recorded_bounds(monkeypatch)
        assert [hit.row for hit in engine.search(asked.request).hits] == expected
        monkeypatch.undo()
        assert bounded[0].tolist() == tier.tolist()
        # then, where they do not, the likeliest documents with a word
        assert len(bounded) == (1 if TIER_QUERIES[text] else 2)


# words said by hundreds of the synthetic documents, in both languages, and how deep into each
# form's documents, likeliest first, a proof reads in turn
COMMON_QUERIES = ("cat", "flower", "кошка", "red", "дом")
DEPTHS = (10, 20, 40, 80, 160, None)


def test_a_common_word_proves_its_top_ten_from_the_likeliest_documents_of_each_of_its_forms(
    version_dir, tmp_path, monkeypatch
) -> None:
    # given a synthetic version past the candidate limit whose proofs may read DEPTHS
    engine = engine_past_the_limit(version_dir, tmp_path / "version")
    ranker = LikelihoodRanker(engine.ranking, engine.ranked)
    partly = 0  # queries proven before every document with a word was read
    skipped = 0  # queries that skipped a depth whose bound could not prove
    for text in COMMON_QUERIES:
        asked = AskedWords.of(engine, text)
        # when the likeliest documents of each form are read, ever deeper
        read = [ranker.likeliest(asked.query, asked.terms, depth) for depth in DEPTHS]
        # then every other document scores at most the bound on them, and read to the end
        # they are every document with a word
        for likeliest, outside in read:
            assert np.all(np.delete(asked.every, likeliest) <= outside + 1e-9)
        assert read[-1][0].tolist() == asked.containing.tolist()
        # and a search gives the ten that scoring every document gives, in its order, having
        # read the first depth, then only deeper ones whose bound is below the tenth score
        # found, to the first whose bound is below the tenth score of all
        expected = engine.exhaustive_rows(asked.request).tolist()
        monkeypatch.setattr(ranking, "PROVEN_DEPTHS", DEPTHS)
        bounded = recorded_bounds(monkeypatch)
        assert [hit.row for hit in engine.search(asked.request).hits] == expected
        monkeypatch.undo()
        depths = [[rows.tolist() for rows, _ in read].index(rows.tolist()) for rows in bounded]
        tenth = np.sort(asked.every)[-10]
        proving = next(i for i, (_, outside) in enumerate(read) if outside < tenth - 1e-9)
        assert depths[0] == 0 and depths[-1] == proving and depths == sorted(set(depths))
        partly += len(bounded[-1]) < len(asked.containing)
        skipped += len(depths) < proving + 1
    assert partly >= 2 and skipped >= 2


def test_a_version_written_before_the_impact_order_reads_every_document_with_a_word(
    version_dir, tmp_path
) -> None:
    # given a synthetic version past the candidate limit, and a copy as a version written
    # before the word columns' impact order stores it: no order files, none in the manifest
    ordered = engine_past_the_limit(version_dir, tmp_path / "version")
    before = tmp_path / "before"
    shutil.copytree(tmp_path / "version", before)
    for path in (before / "tokens").glob("*.impact.*.npy"):
        path.unlink()
    manifest = json.loads((before / "tokens" / "tokens.json").read_text())
    del manifest["impact"]
    (before / "tokens" / "tokens.json").write_text(json.dumps(manifest))
    engine = SearchEngine(before, "synthetic", TextProcessor(), None)
    ranker = LikelihoodRanker(engine.ranking, engine.ranked)
    for text in COMMON_QUERIES:
        asked = AskedWords.of(engine, text)
        # when its proof reads the likeliest few documents of each form
        likeliest, _ = ranker.likeliest(asked.query, asked.terms, 20)
        # then it reads every one with a word, and finds what the version with the order finds
        assert likeliest.tolist() == asked.containing.tolist()
        hits = [
            [(hit.row, hit.score) for hit in searching.search(asked.request).hits]
            for searching in (ordered, engine)
        ]
        assert hits[0] == hits[1]


def test_a_photos_search_scores_the_documents_that_look_like_it_without_the_topic_index(
    version_dir, tmp_path, vision_cache, monkeypatch
) -> None:
    # given a synthetic version past the candidate limit
    synthetic_version(version_dir, LIKELIHOOD_CANDIDATES + 1000, tmp_path / "version")
    vectorizer = ImageVectorizer(load_backbone(), vision_cache)
    engine = SearchEngine(tmp_path / "version", "synthetic", TextProcessor(), vectorizer)
    ranker = LikelihoodRanker(engine.ranking, engine.ranked)
    # when a document's own visual words are asked as a photo, the few that look most like it
    # (share the most of its heaviest visual words) include the document itself
    monkeypatch.setattr("core.serving.ranking.LOOKALIKE_CANDIDATES", 20)
    for row in (7, 1234):
        own = engine.documents[row].tokens[VISUAL]
        terms = [QueryTerm(((VISUAL, token, 1.0),), count) for token, count in own.items()]
        alike = ranker.looking_alike(terms, None)
        assert len(alike) == 20 and row in alike
    monkeypatch.undo()
    # and a photo searched alone or with words finds the ten that scoring every document
    # finds, in its order, with the topic index never asked
    photos = [(BUILTIN_COLLECTION / row["image"]).read_bytes() for row in builtin_rows()[5:7]]
    queries = [Query(image=photos[0]), Query(image=photos[1]), Query("red flower", photos[0])]
    for query in queries:
        request = SearchRequest(query, k=10, collapse_similar=False)
        expected = engine.exhaustive_rows(request).tolist()
        engine.search(request)  # warmed up: the fit's reference samples the index once
        monkeypatch.setattr(engine.ranked.index, "query", lambda *a: pytest.fail("index"))
        assert [hit.row for hit in engine.search(request).hits] == expected
        monkeypatch.undo()


def test_a_photos_search_reads_the_columns_of_its_look_alikes_once_for_its_annotation_and_ranking(
    version_dir, tmp_path, vision_cache, monkeypatch
) -> None:
    # given a synthetic version past the candidate limit, taken as too large to prove a photo's
    # neighbours (its annotation's neighbours are the nearest of its look-alikes too)
    synthetic_version(version_dir, LIKELIHOOD_CANDIDATES + 1000, tmp_path / "version")
    vectorizer = ImageVectorizer(load_backbone(), vision_cache)
    engine = SearchEngine(tmp_path / "version", "synthetic", TextProcessor(), vectorizer)
    monkeypatch.setattr("core.serving.annotation.EXACT_NEIGHBOURS", 0)
    read = []
    look_shares = DocumentTokens.look_shares

    def counted(self, column, cap):
        read.append(column)
        return look_shares(self, column, cap)

    monkeypatch.setattr(DocumentTokens, "look_shares", counted)
    photos = [(BUILTIN_COLLECTION / row["image"]).read_bytes() for row in builtin_rows()[5:7]]
    for photo in photos:
        request = SearchRequest(Query(image=photo), k=10, collapse_similar=False)
        # when a photo is searched for
        read.clear()
        hits = engine.search(request).hits
        # then its heaviest expected visual words' columns of looks are read once, not once
        # for its annotation's neighbours and again for its candidates
        expected = expected_visual_words(engine.reader.probabilities(photo), engine.params)
        look = bag_distribution(expected, engine.model.phi[VISUAL].index)
        assert sorted(read) == sorted(np.argsort(-look, kind="stable")[:LOOKALIKE_WORDS])
        # and asked again, it reads none and answers the same
        read.clear()
        assert engine.search(request).hits == hits and not read


def test_a_kept_synthetic_version_is_measured_as_it_is_by_scale_query_and_scale_node(
    version_dir, tmp_path, vision_cache
) -> None:
    # given a synthetic version past the candidate limit, written once and kept
    settings = settings_for(tmp_path / "data", vision_cache, BUILTIN_COLLECTION)
    documents = LIKELIHOOD_CANDIDATES + 500
    synthetic_version(version_dir, documents, tmp_path / "kept")
    # when its queries are timed, with one exhaustive run of each kind for recall
    latency = query_latency(tmp_path / "kept", settings, rounds=1, recall_queries=1)
    for kind in ("text", "photo", "both"):
        assert latency[kind]["queries"] == 4 and latency[kind]["recall_queries"] == 1
        assert 0 <= latency[kind]["recall_at_10"] <= 1
    # (below EXACT_NEIGHBOURS a photo's annotation finds its proven nearest documents)
    assert latency["photo"]["neighbour_recall_at_5"] == 1.0
    # and two replicas start on it together
    node = measure_node(tmp_path / "kept", settings, replicas=2, queries=1)
    # then each answered every kind, and their shared pages count once for the node
    assert latency["documents"] == node["documents"] == documents and node["replicas"] == 2
    assert node["queries_per_kind"] == 1
    for replica in node["each"]:
        assert 0 < replica["load_and_warm_up_seconds"] <= replica["until_queries_answered_seconds"]
        assert 0 < replica["anonymous_gb"] < replica["rss_gb"]
    assert node["node_rss_gb"] < sum(replica["rss_gb"] for replica in node["each"])
    assert (tmp_path / "kept" / "version.json").is_file()  # measured as it is, and kept
    # and when scale-query measures only its text queries again, the photo rows stay as they were
    record(tmp_path, "query", str(documents), latency)
    again = argparse.Namespace(
        version=tmp_path / "kept", rounds=1, recall_queries=0, kinds=("text",), reports=tmp_path
    )
    assert _scale_query(again, settings) == 0
    rows = json.loads((tmp_path / "scale.json").read_text())["query"][str(documents)]
    assert rows["photo"] == latency["photo"] and rows["both"] == latency["both"]
    assert rows["text"]["measured_at"] >= rows["photo"]["measured_at"]
    # and the report shows each row with the load it was measured under
    rows["photo"]["load_average_at_end"] = 0.25  # as if the photos had been timed quietly
    report = render_report({"query": {str(documents): rows}}, bench={})
    assert f"| {documents:,} | photo | {rows['photo']['p50_ms']:.1f} |" in report
    assert f"| 0.2 | {rows['photo']['measured_at']} |" in report
    assert rows["text"]["recall_queries"] == 0 and rows["text"]["queries"] == 4
    # and the report shows the node's row
    record(tmp_path, "node", f"{documents}x2", node)
    report = render_report(json.loads((tmp_path / "scale.json").read_text()), bench={})
    assert f"| {documents:,} | 2 | {node['node_rss_gb']:.2f} |" in report


def test_scale_query_times_each_kind_of_query_and_the_report_shows_it(
    version_dir, tmp_path, vision_cache
) -> None:
    # given a synthetic version past the candidate limit, searched as scale-query searches
    settings = settings_for(tmp_path / "data", vision_cache, BUILTIN_COLLECTION)
    documents = LIKELIHOOD_CANDIDATES + 500
    result = measure_query_latency(version_dir, documents, tmp_path / "work", settings, rounds=1)
    # then each kind has its latency and its recall against scoring every document
    for kind in ("text", "photo", "both"):
        assert result[kind]["queries"] == 4 and result[kind]["p95_ms"] > 0
        assert 0 <= result[kind]["recall_at_10"] <= 1
    assert not (tmp_path / "work" / f"query-{documents}").exists()  # its files are gone
    # and the report shows them as measured rows
    record(tmp_path, "query", str(documents), result)
    report = render_report(json.loads((tmp_path / "scale.json").read_text()), bench={})
    assert "## The default ranking at scale (measured, `python -m core scale-query`)" in report
    photo = result["photo"]
    assert f"| {documents:,} | photo | {photo['p50_ms']:.1f} | {photo['p95_ms']:.1f} |" in report
