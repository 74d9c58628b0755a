"""Each method of ``python -m core eval`` on one split: the benchmark collection, baselines (a)
and (b), and a topic model trained and queried through the real engine."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.building.ingest import LocalIngest
from core.building.pipeline import prepare_corpus, train_and_write_version
from core.measurement.concepts import run_attributes, run_phrases, run_sentences
from core.measurement.eval_metrics import (
    cosine_distances,
    l1_distances,
    mean_average_precision,
    per_word_scores,
    precision_per_image,
    retrieval_scores,
    target_ranks,
)
from core.measurement.eval_search import (
    WORDLESS_PHOTOS,
    PhotoSearch,
    concept_scores,
    index_documents,
    text_to_image_distances,
    with_twins,
)
from core.reading.collection import Document, import_collection
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.twins import tag_twins
from core.reading.vision import ImageVectorizer
from core.serving.annotation import AnnotationParams
from core.serving.answers import AnnotationRequest, SearchRequest
from core.serving.engine import Query, SearchEngine
from core.serving.index import IndexParams
from core.serving.inference import NothingRecognized
from core.serving.model import FittedModel, ModelParams
from core.serving.ranking import RankingParams

ANNOTATED = (TAG, TEXT)
ANNOTATION_SIZE = 5
NEIGHBOURS = 5  # training photos whose tokens JEC transfers
Progress = Callable[[str], None]


# --------------------------------------------------------------------------- baselines


def frequent_tokens(train: Sequence[Collection[str]], k: int) -> list[str]:
    """The k tokens in most training documents (ties alphabetical): baseline (a)."""
    counts = Counter(t for tokens in train for t in set(tokens))
    return sorted(counts, key=lambda t: (-counts[t], t))[:k]


def transfer_labels(
    neighbour_tokens: Sequence[Collection[str]], frequency: Counter[str], k: int
) -> list[str]:
    """JEC label transfer: the nearest neighbour's tokens by training frequency, then tokens
    found in most of the other neighbours (ties by frequency), k in all."""
    first = sorted(set(neighbour_tokens[0]), key=lambda t: (-frequency[t], t))[:k]
    others = Counter(t for tokens in neighbour_tokens[1:] for t in set(tokens) if t not in first)
    rest = sorted(others, key=lambda t: (-others[t], -frequency[t], t))
    return (first + rest)[:k]


# --------------------------------------------------------------------------- the benchmark


@dataclass
class Benchmark:
    """The collection, its split, each document's own tokens and CNN probabilities."""

    documents: dict[str, Document]
    splits: dict[str, list[str]]
    sources: dict
    truth: dict[str, dict[str, set[str]]]
    probabilities: dict[str, np.ndarray]


def load_benchmark(
    collection: Path, processor: TextProcessor, vectorizer: ImageVectorizer
) -> Benchmark:
    """Imports the collection with its ``splits.json`` and ``sources.json``, tokenizes every
    document and vectorizes every photo (cached, so later runs skip the CNN)."""
    collection = Path(collection)
    if not (collection / "splits.json").is_file():
        raise FileNotFoundError(
            f"{collection / 'splits.json'} not found: build the benchmark collection first with "
            "'python scripts/build_benchmark_collection.py'"
        )
    documents = {
        d.id: with_twins(d) for d in import_collection(collection).documents if d.image is not None
    }
    splits = {
        part: [i for i in ids if i in documents]
        for part, ids in json.loads((collection / "splits.json").read_text()).items()
    }
    truth = {}
    for doc_id, doc in documents.items():
        analyzed = processor.analyze(
            doc.text, [t for t in doc.tags if tag_twins().original(t) == t]
        )
        truth[doc_id] = {m: set(analyzed.tokens[m]) for m in ANNOTATED}
    ids = list(documents)
    probabilities = vectorizer.probabilities([documents[i].image for i in ids])
    return Benchmark(
        documents=documents,
        splits=splits,
        sources=json.loads((collection / "sources.json").read_text()),
        truth=truth,
        probabilities=dict(zip(ids, probabilities, strict=True)),
    )


def annotation_scores(
    bench: Benchmark, train: Sequence[str], test: Sequence[str], predicted: dict[str, list]
) -> dict[str, dict[str, float]]:
    """Per modality: per-word scores over the test words that occur in training, and
    per-image precision@5."""
    scores = {}
    for modality in ANNOTATED:
        truth = [bench.truth[i][modality] for i in test]
        seen = {t for i in train for t in bench.truth[i][modality]}
        vocabulary = sorted(seen & {t for tokens in truth for t in tokens})
        row = per_word_scores(predicted[modality], truth, vocabulary)
        row["precision_per_image"] = precision_per_image(
            predicted[modality], truth, ANNOTATION_SIZE
        )
        row["words"] = len(vocabulary)
        scores[modality] = row
    return scores


def shares_tag(bench: Benchmark, test: Sequence[str]) -> np.ndarray:
    """relevant[i, j]: test documents i and j share a tag (a document is not its own result)."""
    tags = [bench.truth[i][TAG] for i in test]
    relevant = np.array([[bool(a & b) for b in tags] for a in tags])
    np.fill_diagonal(relevant, False)
    return relevant


def image_to_image(bench: Benchmark, test: Sequence[str], distances: np.ndarray) -> float:
    distances = distances.copy()
    np.fill_diagonal(distances, np.inf)
    return mean_average_precision(distances, shares_tag(bench, test), k=10)


def evaluate_frequent(bench: Benchmark, train: Sequence[str], test: Sequence[str]) -> dict:
    """Baseline (a): every photo gets the most frequent training tokens."""
    predicted = {
        m: [frequent_tokens([bench.truth[i][m] for i in train], ANNOTATION_SIZE)] * len(test)
        for m in ANNOTATED
    }
    return {"annotation": annotation_scores(bench, train, test, predicted)}


def evaluate_neighbours(bench: Benchmark, train: Sequence[str], test: Sequence[str]) -> dict:
    """Baseline (b): label transfer from the nearest training photos (L1 on CNN probabilities);
    image -> image by the same distance."""
    train_probs = np.stack([bench.probabilities[i] for i in train])
    test_probs = np.stack([bench.probabilities[i] for i in test])
    nearest = np.argsort(l1_distances(test_probs, train_probs), axis=1, kind="stable")
    predicted = {}
    for m in ANNOTATED:
        frequency = Counter(t for i in train for t in bench.truth[i][m])
        predicted[m] = [
            transfer_labels(
                [bench.truth[train[j]][m] for j in row[:NEIGHBOURS]], frequency, ANNOTATION_SIZE
            )
            for row in nearest
        ]
    same_tags = [
        bench.truth[test[row]][TAG] == bench.truth[train[nearest[row, 0]]][TAG]
        for row in range(len(test))
    ]
    return {
        "annotation": annotation_scores(bench, train, test, predicted),
        "image_to_image_map@10": image_to_image(bench, test, l1_distances(test_probs, test_probs)),
        "nearest_has_same_tags": float(np.mean(same_tags)),
    }


def evaluate_topic_model(
    bench: Benchmark,
    train: Sequence[str],
    test: Sequence[str],
    params: ModelParams,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    metric: str = "l1",
    rankings: Mapping[str, RankingParams] | None = None,
    extras: Callable[[SearchEngine], dict] | None = None,
    test_extras: Callable[[SearchEngine], dict] | None = None,
    photo_rankings: Mapping[str, RankingParams] | None = None,
) -> dict:
    """Trains a model version on ``train`` and queries it through the real engine.

    ``rankings`` (name -> ranking) are also measured on the same model: text -> image and the
    concept, phrase, sentence and attribute queries on the test documents indexed into it
    (``core.measurement.eval_search``); ``extras(engine)`` adds further measurements of the same
    model to the result, ``test_extras(engine)`` of the test documents indexed into it.
    ``photo_rankings`` (name -> ranking) measure image -> image as the engine searches by photo
    (``PhotoSearch``); the result's ``image_to_image_map@10`` stays L1 between topic vectors.
    """
    distance = {"l1": l1_distances, "cosine": cosine_distances}[metric]
    timings: dict[str, float] = {}
    engine, model = train_engine(bench, train, params, workdir, processor, vectorizer, timings)

    scores, photo_thetas = query_scores(engine, bench, train, test, distance)
    searched = extras(engine) if extras else {}
    photo_search = None
    if rankings or photo_rankings:
        photo_search = PhotoSearch(engine, [bench.documents[i].image for i in test], photo_thetas)
    if photo_search and photo_rankings:
        searched["image_to_image_by_ranking"] = {
            name: image_to_image(bench, test, photo_search.distances(ranking))
            for name, ranking in photo_rankings.items()
        }
    if photo_search and rankings:
        texts = [bench.documents[i].text for i in test]
        # as the engine indexes a photo without words: its predicted words are its own
        by_ranking = {name: (ranking, photo_search.words) for name, ranking in rankings.items()}
        by_ranking[WORDLESS_PHOTOS] = (RankingParams(), None)
        searched["text_to_image_by_ranking"] = {
            name: retrieval_scores(
                target_ranks(
                    text_to_image_distances(engine, texts, photo_thetas, ranking, words),
                    np.arange(len(test)),
                )
            )
            for name, (ranking, words) in by_ranking.items()
        }
        test_engine = index_documents(
            workdir.with_name(workdir.name + "-test"),
            model,
            params,
            [bench.documents[i] for i in test],
            processor,
            vectorizer,
            engine,
        )
        searched["concepts_by_ranking"] = concept_scores(test_engine, processor, rankings)
        for name, run in (
            ("phrases", run_phrases),
            ("sentences", run_sentences),
            ("attributes", run_attributes),
        ):
            searched[f"{name}_by_ranking"] = concept_scores(test_engine, processor, rankings, run)
        if test_extras:
            searched.update(test_extras(test_engine))
        shutil.rmtree(test_engine.directory, ignore_errors=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return {**searched, **scores, "train_seconds": round(timings["train"], 1)}


def train_engine(
    bench: Benchmark,
    train: Sequence[str],
    params: ModelParams,
    workdir: Path,
    processor: TextProcessor,
    vectorizer: ImageVectorizer,
    timings: dict[str, float] | None = None,
) -> tuple[SearchEngine, FittedModel]:
    """A model version trained on the ``train`` documents, written to ``workdir`` (emptied
    first), and its engine; ``timings`` gets the training's seconds."""
    shutil.rmtree(workdir, ignore_errors=True)
    corpus = prepare_corpus(
        [bench.documents[i] for i in train], params, LocalIngest(processor, vectorizer)
    )
    timings = {} if timings is None else timings
    model = train_and_write_version(workdir, corpus, params, IndexParams(), None, timings)
    return SearchEngine(workdir, workdir.name, processor, vectorizer), model


def query_scores(
    engine: SearchEngine,
    bench: Benchmark,
    train: Sequence[str],
    test: Sequence[str],
    distance: Callable[[np.ndarray, np.ndarray], np.ndarray] = l1_distances,
) -> tuple[dict, np.ndarray]:
    """Annotation, text -> image and image -> image scores of the ``test`` documents asked of
    ``engine`` (``train``: the documents the engine holds, whose words annotation can know),
    and the test photos' thetas."""
    photos = [Query(image=bench.documents[i].image) for i in test]
    photo_thetas = np.stack([engine.infer(SearchRequest(q)).theta for q in photos])
    annotations = [
        engine.annotation.annotate(AnnotationRequest(q, list(ANNOTATED), k=ANNOTATION_SIZE))
        for q in photos
    ]
    predicted = {m: [[a.token for a in found[m]] for found in annotations] for m in ANNOTATED}
    predicted[TAG] = [
        list(dict.fromkeys(map(tag_twins().slot, tokens))) for tokens in predicted[TAG]
    ]

    text_thetas = np.zeros_like(photo_thetas)
    recognized = np.ones(len(test), dtype=bool)
    for row, doc_id in enumerate(test):
        try:
            text_query = SearchRequest(Query(text=bench.documents[doc_id].text))
            text_thetas[row] = engine.infer(text_query).theta
        except NothingRecognized:
            recognized[row] = False
    text_distances = distance(text_thetas, photo_thetas)
    text_distances[~recognized] = np.inf
    ranks = target_ranks(text_distances, np.arange(len(test)))
    return {
        "annotation": annotation_scores(bench, train, test, predicted),
        "text_to_image": retrieval_scores(ranks),
        "text_queries": len(test),
        "text_queries_unrecognized": int((~recognized).sum()),
        "image_to_image_map@10": image_to_image(bench, test, distance(photo_thetas, photo_thetas)),
    }, photo_thetas


def annotate_photos(
    engine: SearchEngine, photos: Sequence[Path], params: AnnotationParams | None = None
) -> dict[str, list[list[str]]]:
    """The top ``ANNOTATION_SIZE`` tokens per annotated modality of each photo alone."""
    found = [
        engine.annotation.annotate(
            AnnotationRequest(Query(image=photo), list(ANNOTATED), ANNOTATION_SIZE, params=params)
        )
        for photo in photos
    ]
    return {m: [[a.token for a in one[m]] for one in found] for m in ANNOTATED}
