"""Measurements past one machine: training out of core at 100k-1M documents, ingest throughput
on local Dask workers, and what a built version costs per document; the capacity plan built on
them is ``core.measurement.scale_plan``.

Training is measured on synthetic documents drawn from a built version's documents (the token
bags per modality it stores with them, read through ``VersionFiles``): each synthetic document
takes a random real document's length per modality and draws its tokens from that document's
token distribution (``1 - noise`` of them) and from the modality's corpus-wide distribution
(``noise``), so topic structure, document lengths and token frequencies follow the real
collection. The documents go to a Vowpal Wabbit file that BigARTM turns into batches on disk
itself; training then reads the batches pass by pass (out of core), with its processors on every
core, in a child process, so the peak memory measured is the trainer's alone.

The build's driver is measured on synthetic collections drawn the same way, without photos (so
without visual words): ``measure_build`` traces its Python allocations and resident set
through a whole build, streamed (``core.building.shards``) or holding every document.

Every figure here comes from ``python -m core scale-train`` / ``scale-ingest`` /
``scale-build``, stored in ``reports/scale.json``; ``python -m core scale-report`` renders
``reports/scale.md`` from it (``core.measurement.scale_plan``).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image

from core.building.ingest import LOCAL_PREFIX
from core.reading.collection import TokenCounts
from core.serving.model import ModelParams
from core.serving.version_files import VersionFiles
from core.settings import Settings

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------- synthetic documents


@dataclass(frozen=True)
class _ModalityTable:
    """One modality of the source corpus: its vocabulary, the corpus-wide cumulative token
    distribution, and every source document's tokens as one pool (each token repeated by its
    count) with the documents' offsets into it and lengths (0 when a document lacks it)."""

    vocabulary: np.ndarray
    cumulative: np.ndarray
    pool: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray


def _tables(source: Sequence[TokenCounts]) -> dict[str, _ModalityTable]:
    modalities = sorted({m for doc in source for m, bag in doc.items() if bag})
    tables = {}
    for modality in modalities:
        vocabulary = sorted({t for doc in source for t in doc.get(modality, {})})
        ids = {token: i for i, token in enumerate(vocabulary)}
        pieces = []
        for doc in source:
            bag = doc.get(modality) or {}
            tokens = np.array([ids[t] for t in bag], dtype=np.int64)
            counts = np.array([round(c) for c in bag.values()], dtype=np.int64)
            pieces.append(np.repeat(tokens, counts))
        lengths = np.array([len(piece) for piece in pieces])
        pool = np.concatenate(pieces)
        frequencies = np.bincount(pool, minlength=len(vocabulary))
        tables[modality] = _ModalityTable(
            vocabulary=np.array(vocabulary, dtype=object),
            cumulative=np.cumsum(frequencies / frequencies.sum()),
            pool=pool,
            offsets=np.concatenate([[0], np.cumsum(lengths)[:-1]]),
            lengths=lengths,
        )
    return tables


def synthetic_documents(
    source: Sequence[TokenCounts],
    count: int,
    seed: int = 0,
    noise: float = 0.2,
    chunk: int = 10_000,
) -> Iterator[TokenCounts]:
    """``count`` documents drawn like the ``source`` corpus (see the module docstring), made
    ``chunk`` at a time with array operations."""
    for _, document in drawn_documents(source, count, seed, noise, chunk):
        yield document


def drawn_documents(
    source: Sequence[TokenCounts],
    count: int,
    seed: int = 0,
    noise: float = 0.2,
    chunk: int = 10_000,
) -> Iterator[tuple[int, TokenCounts]]:
    """``synthetic_documents``, each with the row of the source document it was drawn from."""
    if not source:
        raise ValueError("the source corpus is empty")
    if not 0 <= noise <= 1:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    tables = _tables(source)
    rng = np.random.default_rng(seed)
    for first in range(0, count, chunk):
        size = min(chunk, count - first)
        picked = rng.integers(len(source), size=size)
        docs: list[TokenCounts] = [{} for _ in range(size)]
        for modality, table in tables.items():
            lengths = table.lengths[picked]
            owner = np.repeat(np.arange(size), lengths)  # the document of every draw
            start = np.repeat(table.offsets[picked], lengths)
            draws = table.pool[start + (rng.random(len(owner)) * lengths[owner]).astype(np.int64)]
            from_corpus = rng.random(len(owner)) < noise
            draws[from_corpus] = np.minimum(
                np.searchsorted(table.cumulative, rng.random(int(from_corpus.sum()))),
                len(table.vocabulary) - 1,
            )
            keys, counts = np.unique(owner * len(table.vocabulary) + draws, return_counts=True)
            owners, tokens = np.divmod(keys, len(table.vocabulary))
            bounds = np.searchsorted(owners, np.arange(size + 1))
            names = table.vocabulary[tokens].tolist()
            counts = counts.tolist()
            for doc in np.flatnonzero(lengths):
                low, high = bounds[doc], bounds[doc + 1]
                docs[doc][modality] = dict(zip(names[low:high], counts[low:high], strict=True))
        yield from zip(picked.tolist(), docs, strict=True)


def write_vowpal_wabbit(
    documents: Iterator[TokenCounts], path: Path, count: int, progress: Progress | None = None
) -> None:
    """Documents as a Vowpal Wabbit file (``doc1 |@text word:2 |@tag cat``), BigARTM's input."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for number, doc in enumerate(documents, start=1):
            parts = [f"doc{number}"]
            for modality in sorted(doc):
                tokens = " ".join(f"{t}:{c}" if c != 1 else t for t, c in doc[modality].items())
                parts.append(f"|{modality} {tokens}")
            handle.write(" ".join(parts) + "\n")
            if progress and (number % 10_000 == 0 or number == count):
                progress("generate", number, count)


def read_source_corpus(version_dir: Path) -> list[TokenCounts]:
    """The token bags a version was trained on."""
    files = VersionFiles(version_dir)
    if not files.is_complete():
        raise FileNotFoundError(
            f"{version_dir} holds no built version: --source must be a built version's directory"
        )
    return [document.tokens for document in files.read_documents()]


# --------------------------------------------------------------------------- training at scale


class _PeakMemory:
    """Samples this process's resident memory every ``interval`` seconds while active."""

    def __init__(self, interval: float = 0.2) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.peak = self._process.memory_info().rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def _out_of_core_model(
    text_path: Path, batches: Path, params: ModelParams, modalities: list[str], processors: int
) -> tuple:
    """BigARTM turns the text into batches on disk and gathers the dictionary; the model is a
    build's (``topic_model.new_model``) with a perplexity score per modality. Returns (model,
    batch vectorizer)."""
    from core.building.artm_loader import artm  # BigARTM only in processes that train
    from core.building.topic_model import new_model

    artm.BatchVectorizer(
        data_path=str(text_path),
        data_format="vowpal_wabbit",
        target_folder=str(batches),
        batch_size=1000,
        gather_dictionary=False,
    )
    vectorizer = artm.BatchVectorizer(data_path=str(batches), data_format="batches")
    dictionary = artm.Dictionary()
    dictionary.gather(data_path=str(batches))
    perplexity = [artm.PerplexityScore(name=f"perplexity{m}", class_ids=[m]) for m in modalities]
    return new_model(params, modalities, processors, dictionary, perplexity), vectorizer


def _train_from_text(
    text_path: str,
    workdir: str,
    params_dict: dict,
    modalities: list[str],
    passes: int,
    processors: int,
) -> dict:
    """Runs in a child process: VW file -> batches on disk -> ``passes`` offline passes."""
    params = ModelParams.from_dict(params_dict)
    batches = Path(workdir) / "batches"
    result: dict = {"processors": processors, "num_topics": params.num_topics}
    with _PeakMemory() as memory:
        started = time.perf_counter()
        model, vectorizer = _out_of_core_model(
            Path(text_path), batches, params, modalities, processors
        )
        result["prepare_seconds"] = time.perf_counter() - started
        files = list(batches.iterdir())
        result["batches"] = len(files)
        result["batches_bytes"] = sum(p.stat().st_size for p in files)
        result["rss_after_prepare_bytes"] = memory.peak
        pass_seconds, pass_cpu, perplexity = [], [], []
        for _ in range(passes):
            wall, cpu = time.perf_counter(), time.process_time()
            model.fit_offline(vectorizer, num_collection_passes=1)
            pass_seconds.append(time.perf_counter() - wall)
            pass_cpu.append(time.process_time() - cpu)
            perplexity.append(
                {m: float(model.get_score(f"perplexity{m}").value) for m in modalities}
            )
        result["vocabulary"] = {m: len(model.get_phi_dense(class_ids=[m])[1]) for m in modalities}
    result.update(
        pass_seconds=pass_seconds,
        pass_cpu_seconds=pass_cpu,
        perplexity=perplexity,
        peak_rss_bytes=memory.peak,
        max_rss_bytes=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )
    return result


def measure_training(
    source: Sequence[TokenCounts],
    documents: int,
    workdir: Path,
    params: ModelParams | None = None,
    passes: int = 2,
    processors: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Seconds per pass and peak memory of out-of-core training on ``documents`` synthetic
    documents; the text and batches are written under ``workdir`` and removed afterwards."""
    params = params or ModelParams()
    processors = processors or os.cpu_count() or 1
    workdir = Path(workdir) / f"train-{documents}"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    text_path = workdir / "collection.vw"
    load_before = os.getloadavg()[0]
    try:
        started = time.perf_counter()
        write_vowpal_wabbit(
            synthetic_documents(source, documents, seed), text_path, documents, progress
        )
        generate_seconds = time.perf_counter() - started
        if progress:
            progress(f"train {documents}", 0, passes)
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            result = pool.submit(
                _train_from_text,
                str(text_path),
                str(workdir),
                params.to_dict(),
                sorted({m for doc in source for m, bag in doc.items() if bag}),
                passes,
                processors,
            ).result()
        if progress:
            progress(f"train {documents}", passes, passes)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        "documents": documents,
        "passes": passes,
        "generate_seconds": generate_seconds,
        "source_documents": len(source),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_before,
        **result,
    }


# --------------------------------------------------------------------------- the build's driver


def synthetic_collection(
    source: Sequence[TokenCounts], count: int, folder: Path, seed: int = 0
) -> Path:
    """A collection folder of ``count`` documents drawn like ``source`` (``drawn_documents``)
    without photos: each caption its ``@text`` tokens (a token as often as it was drawn), its
    hashtags its ``@tag`` tokens, and any extra modality of the source as tokens. The visual
    words are left out: a build makes them from the photos on the workers, so a collection
    file does not hold them (the driver's import would). Written one document at a time."""
    from core.reading.text import TAG, TEXT
    from core.reading.vision import VISUAL

    folder.mkdir(parents=True)
    with (folder / "documents.jsonl").open("w", encoding="utf-8") as handle:
        for number, tokens in enumerate(synthetic_documents(source, count, seed)):
            words = [token for token, n in tokens.get(TEXT, {}).items() for _ in range(n)]
            row = {
                "id": f"synthetic-{number}",
                "text": " ".join(words) or f"synthetic {number}",
                "tags": list(tokens.get(TAG, {})),
                **{m: bag for m, bag in tokens.items() if m not in (TEXT, TAG, VISUAL)},
            }
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def _build_in_child(collection: str, data_dir: str, params_dict: dict, streamed: bool) -> dict:
    """Runs in a child process: a build of ``collection`` with the driver's Python allocations
    traced. ``streamed``: ``pipeline.build`` (documents to shards, rows into the database);
    otherwise the reference that holds every document (ingested into memory, the version
    written from them, no database)."""
    import tracemalloc

    from core.building import artm_loader  # noqa: F401  (BigARTM before anything else)
    from core.building.ingest import LocalIngest
    from core.building.pipeline import build, prepare_corpus, train_and_write_version
    from core.reading.collection import import_collection
    from core.reading.text import TextProcessor
    from core.serving.index import IndexParams

    params = ModelParams.from_dict(params_dict)
    settings = Settings(data_dir=Path(data_dir), collection=Path(collection))
    executor = LocalIngest(TextProcessor(), None)  # the documents have no photos
    timings: dict[str, float] = {}
    tracemalloc.start()
    with _PeakMemory() as memory:
        started = time.perf_counter()
        if streamed:
            report = build(settings, params=params, executor=executor)
            documents, timings = report.num_documents, report.timings
        else:
            imported = import_collection(Path(collection)).documents
            corpus = prepare_corpus(imported, params, executor, timings=timings)
            workdir = settings.models_dir / "in-memory"
            train_and_write_version(workdir, corpus, params, IndexParams(), None, timings)
            documents = len(corpus.documents)
        seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "documents": documents,
        "seconds": seconds,
        "timings": timings,
        "traced_peak_bytes": traced_peak,
        "peak_rss_bytes": memory.peak,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def measure_build(
    source: Sequence[TokenCounts],
    documents: int,
    workdir: Path,
    params: ModelParams | None = None,
    streamed: bool = True,
    seed: int = 0,
) -> dict:
    """The driver's peak memory while it builds ``documents`` synthetic documents
    (``synthetic_collection``) in a child process: its Python allocations (tracemalloc: what
    holding documents costs) and its resident set (with BigARTM's own); the collection, data
    dir and version are made under ``workdir`` and removed afterwards."""
    params = params or ModelParams()
    workdir = Path(workdir) / f"build-{documents}"
    shutil.rmtree(workdir, ignore_errors=True)
    load_before = os.getloadavg()[0]
    try:
        collection = synthetic_collection(source, documents, workdir / "collection", seed)
        with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
            result = pool.submit(
                _build_in_child,
                str(collection),
                str(workdir / "data"),
                params.to_dict(),
                streamed,
            ).result()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {
        **result,
        "synthetic_documents": documents,
        "streamed": streamed,
        "passes": params.passes,
        "num_topics": params.num_topics,
        "source_documents": len(source),
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_before,
    }


# --------------------------------------------------------------------------- replica start


REPLICA_QUERIES = ("flower", "cat on a window", "дом", "red car", "птица", "apple tree")


NOISE_BLOCK = 4 * 65_536  # thetas drawn at a time (a multiple of ``with_noise``'s block)


def thetas_near(base: np.ndarray, rows: np.ndarray, noise: np.random.Generator) -> np.ndarray:
    """The thetas of ``base`` at ``rows``, each with the lognormal noise of
    ``core.measurement.index_bench.realistic_thetas`` drawn from ``noise``."""
    from core.measurement.index_bench import with_noise

    return with_noise(np.asarray(base, dtype=np.float32)[rows], noise)


@dataclass(frozen=True)
class SyntheticDocuments(Collection):
    """``count`` documents drawn like ``source`` (``drawn_documents`` with ``seed``), drawn
    afresh on every pass, so a version of millions of them is written without holding them:
    each caption its words, its hashtags its ``@tag`` tokens, its photo a name and a hash."""

    source: Sequence[TokenCounts]
    count: int
    seed: int

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator:
        from core.reading.collection import Document
        from core.reading.text import TAG, TEXT

        for number, (_, tokens) in enumerate(drawn_documents(self.source, self.count, self.seed)):
            yield Document(
                f"synthetic-{number}",
                " ".join(tokens.get(TEXT, {})),
                tuple(tokens.get(TAG, {})),
                Path(f"images/synthetic-{number}.jpg"),
                image_hash=f"{number:064x}",
                tokens=tokens,
            )

    def __contains__(self, document: object) -> bool:
        return any(mine == document for mine in self)

    def source_rows(self) -> np.ndarray:
        """The row of the source document each one was drawn from."""
        drawn = drawn_documents(self.source, self.count, self.seed)
        return np.fromiter((row for row, _ in drawn), dtype=np.int64, count=self.count)


def synthetic_version(source_dir: Path, count: int, target: Path, seed: int = 0) -> None:
    """A version of ``count`` synthetic documents (``SyntheticDocuments``) with the
    ``source_dir`` version's model, each theta its source document's with noise
    (``thetas_near``), so that topics and words agree as in a built version and pruning by
    topics is measured fairly; written as a build writes a version, one document at a time."""
    from core.reading.text import TextProcessor
    from core.serving.bilingual import learn_translations
    from core.serving.version_files import PreparedCorpus

    source = VersionFiles(source_dir)
    documents = SyntheticDocuments(read_source_corpus(source_dir), count, seed)
    files = VersionFiles(target)
    target.mkdir(parents=True)
    base = source.read_index().thetas
    rows = documents.source_rows()
    noise = np.random.default_rng(seed)
    files.write_index_blocks(
        (
            thetas_near(base, rows[start : start + NOISE_BLOCK], noise)
            for start in range(0, count, NOISE_BLOCK)
        ),
        (count, base.shape[1]),
    )
    corpus = PreparedCorpus(documents, source.read_display_forms(), [])
    # the source's word pairs: the synthetic documents are drawn from its documents
    processor = TextProcessor()
    files.write_translations(
        source.read_translations(None) or learn_translations(documents.source, processor)
    )
    files.write(
        source.read_params(),
        source.read_model(),
        corpus,
        processor.word_token,
        source.read_ranking(),
    )


def without_mapped_files(version: Path, target: Path) -> None:
    """A copy of ``version`` as one written before its records and counts were mapped: a
    replica of it parses every record into memory, as replicas did before."""
    shutil.copytree(version, target)
    for mapped in target.glob("documents.*.npy"):
        mapped.unlink()
    shutil.rmtree(target / "tokens")


RESIDENT_KINDS = {"anonymous": "RssAnon", "file": "RssFile"}


def _resident_kinds() -> dict[str, int]:
    """This process's resident bytes by kind (Linux): ``anonymous`` (its own heap, which no
    other replica shares) and ``file`` (mapped file pages, which a node's replicas share
    through the page cache)."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {kind: int(fields[name].split()[0]) * 1024 for kind, name in RESIDENT_KINDS.items()}


def _replica_start(directory: str) -> dict:
    """In a fresh process: seconds to load and warm up an engine of the version (what a
    replica does before it serves), then to answer ``REPLICA_QUERIES``, and the resident
    memory that added, by kind (``_resident_kinds``)."""
    from core.reading.text import TextProcessor
    from core.serving.answers import Query, SearchRequest
    from core.serving.engine import SearchEngine

    processor = TextProcessor()
    processor.analyze("warm up the lemmatizer")
    before = _resident_kinds()
    started = time.perf_counter()
    engine = SearchEngine(Path(directory), "synthetic", processor, None)
    loaded = time.perf_counter() - started
    engine.warm_up()
    warm = time.perf_counter() - started
    for text in REPLICA_QUERIES:
        engine.search(SearchRequest(Query(text=text), k=10))
    answered = time.perf_counter() - started
    after = _resident_kinds()
    return {
        "load_seconds": loaded,
        "load_and_warm_up_seconds": warm,
        "until_queries_answered_seconds": answered,
        **{f"resident_{kind}_mb": (after[kind] - before[kind]) / 1e6 for kind in after},
    }


def measure_replica_start(source_dir: Path, documents: int, workdir: Path, seed: int = 0) -> dict:
    """A replica's start time and memory on a synthetic version of ``documents`` documents
    (``synthetic_version``): lean (records and token counts memory-mapped) and as before (the
    same version without the mapped files, every record parsed into memory), each in its own
    fresh process; the files under ``workdir`` are removed afterwards."""
    workdir = Path(workdir) / f"replica-{documents}"
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        started = time.perf_counter()
        synthetic_version(source_dir, documents, workdir / "lean", seed)
        write_seconds = time.perf_counter() - started
        without_mapped_files(workdir / "lean", workdir / "before")
        result = {"documents": documents, "write_seconds": write_seconds}
        for kind in ("before", "lean"):
            with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
                result[kind] = pool.submit(_replica_start, str(workdir / kind)).result()
        result["bytes_on_disk"] = VersionFiles(workdir / "lean").bytes_on_disk()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {**result, "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg()[0]}


QUERY_KINDS = ("text", "photo", "both")


def _query_latency(
    directory: str,
    settings: Settings,
    photos: list[bytes],
    rounds: int,
    recall_queries: int,
    kinds: tuple[str, ...] = QUERY_KINDS,
) -> dict:
    """In a fresh process on one core: each kind of query (``REPLICA_QUERIES`` as words,
    ``photos``, the two together) asked ``rounds`` times through ``SearchEngine.search`` with
    the version's own ranking, and recall@10 against ``exhaustive_rows`` (the same ranking
    scoring every document) of the first ``recall_queries`` of each kind: at ten million
    documents one exhaustive photo query takes minutes. Only the ``kinds`` asked are measured.
    Each photo is read once before timing (its CNN probabilities cached, as a repeated photo's
    are): the CNN's own time does not grow with the collection and is in ``reports/bench.md``.
    The exhaustive runs come after the timings: at ten million documents one reads every theta
    and column, more than the page cache holds, and the first round after it took a photo
    448 to 617 ms where the later rounds took 186 to 240."""
    from core.measurement.bench import percentiles
    from core.serving.answers import SearchRequest

    on_one_core()
    engine = _replica_engine(directory, settings)
    result: dict = {"ranking": engine.ranking.label}
    for kind, queries in _replica_queries(photos).items():
        if kind not in kinds:
            continue
        asked = [SearchRequest(query, k=10, collapse_similar=False) for query in queries]
        found = [{hit.row for hit in engine.search(request).hits} for request in asked]
        timings = []
        for _ in range(rounds):
            for request in asked:
                started = time.perf_counter()
                engine.search(request)
                timings.append((time.perf_counter() - started) * 1000)
        recalls, neighbour_recalls = [], []
        for request, rows in zip(asked[:recall_queries], found, strict=False):
            exhaustive = {int(row) for row in engine.exhaustive_rows(request)}
            recalls.append(len(rows & exhaustive) / max(len(exhaustive), 1))
            if kind == "photo":
                neighbour_recalls.append(_neighbour_recall(engine, request))
        result[kind] = {  # a row as reports/scale.json keeps it, readable alone
            "documents": len(engine.ranked.thetas),
            "ranking": engine.ranking.method,
            "query": kind,
            "measured": True,
            "one_core": True,  # every thread and BLAS (``on_one_core``)
            **percentiles(timings),
            "recall_at_10": float(np.mean(recalls)) if recalls else None,
            "recall_queries": len(recalls),
            **(
                {"neighbour_recall_at_5": float(np.mean(neighbour_recalls))}
                if neighbour_recalls
                else {}
            ),
            "queries": len(asked),
            "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_average_at_end": os.getloadavg()[0],
        }
    return result


def on_one_core() -> None:
    """This process on one core: each of its threads pinned to it, the ones numpy's BLAS
    started at import too (pinning the calling thread alone left them on the other core,
    where they did part of every product of thetas and phi), and one BLAS thread."""
    from threadpoolctl import threadpool_limits

    core = {min(os.sched_getaffinity(0))}
    for thread in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(thread), core)
    threadpool_limits(limits=1)


def _neighbour_recall(engine, request) -> float:
    """The share of a photo's nearest documents by visual words, as its annotation finds them
    (past ``EXACT_NEIGHBOURS`` among its look-alikes), that are proven the nearest of all:
    ``exhaustive_rows`` ranks with the same annotation, so its recall does not see theirs."""
    from core.reading.vision import VISUAL

    transfer = engine.annotation.annotator.transfer
    visual = engine.reader.tokens_of(request.query)[0][VISUAL]
    k = engine.annotation.params.neighbours
    exact = set(transfer.visual_neighbours(visual, k, exact=True).tolist())
    found = set(transfer.visual_neighbours(visual, k).tolist())
    return len(found & exact) / max(len(exact), 1)


def _replica_engine(directory: str, settings: Settings):
    """A search engine on the version as a replica serves it: words, photos, warmed up."""
    from core.reading.backbones import load_backbone
    from core.reading.text import TextProcessor
    from core.reading.vision import ImageVectorizer
    from core.serving.engine import SearchEngine

    vectorizer = ImageVectorizer(load_backbone(settings), settings.cache_dir)
    engine = SearchEngine(Path(directory), "synthetic", TextProcessor(), vectorizer)
    engine.warm_up()
    return engine


def _replica_queries(photos: list[bytes]) -> dict:
    """The queries of each kind a measured replica is asked: ``REPLICA_QUERIES`` as words, the
    ``photos``, and the two together."""
    from core.serving.answers import Query

    texts = REPLICA_QUERIES[: len(photos)]
    return {
        "text": [Query(text=text) for text in texts],
        "photo": [Query(image=photo) for photo in photos],
        "both": [Query(text=text, image=photo) for text, photo in zip(texts, photos, strict=True)],
    }


def _measured_photos(settings: Settings) -> list[bytes]:
    """Four photos of ``settings.collection`` made unlike any document (``unseen_photos``)."""
    from core.measurement.bench import unseen_photos
    from core.reading.collection import import_collection

    imported = import_collection(settings.collection, False).documents
    return unseen_photos([d.image for d in imported if d.image][:4], 4)


def query_latency(
    version: Path,
    settings: Settings,
    rounds: int = 5,
    recall_queries: int = 4,
    kinds: tuple[str, ...] = QUERY_KINDS,
) -> dict:
    """Query latency of ``version``'s ranking (``_query_latency``) on one core of a fresh
    process, with photos of ``settings.collection``, for the ``kinds`` of query asked."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        latency = pool.submit(
            _query_latency,
            str(version),
            settings,
            _measured_photos(settings),
            rounds,
            recall_queries,
            kinds,
        ).result()
    return {
        "documents": len(VersionFiles(version).read_index().thetas),
        **latency,
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
    }


def measure_query_latency(
    source_dir: Path,
    documents: int,
    workdir: Path,
    settings: Settings,
    rounds: int = 5,
    kinds: tuple[str, ...] = QUERY_KINDS,
) -> dict:
    """``query_latency`` on a synthetic version of ``documents`` documents
    (``synthetic_version``) written under ``workdir`` and removed afterwards."""
    workdir = Path(workdir) / f"query-{documents}"
    shutil.rmtree(workdir, ignore_errors=True)
    try:
        started = time.perf_counter()
        synthetic_version(source_dir, documents, workdir / "version")
        write_seconds = time.perf_counter() - started
        latency = query_latency(workdir / "version", settings, rounds, kinds=kinds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"write_seconds": write_seconds, **latency}


def _serve_as_replica(
    directory: str, settings: Settings, photos: list[bytes], answered, stop
) -> None:
    """A replica in its own process: load and warm up the version, answer every kind of query
    once, report its times on ``answered`` and keep its memory until ``stop`` is set."""
    from core.serving.answers import SearchRequest

    started = time.perf_counter()
    engine = _replica_engine(directory, settings)
    warm = time.perf_counter() - started
    for queries in _replica_queries(photos).values():
        for query in queries:
            engine.search(SearchRequest(query, k=10))
    answered.put(
        {
            "pid": os.getpid(),
            "load_and_warm_up_seconds": warm,
            "until_queries_answered_seconds": time.perf_counter() - started,
        }
    )
    stop.wait()


def _memory_of(pid: int) -> dict[str, int]:
    """A process's memory in bytes (Linux ``smaps_rollup``): ``rss`` resident, ``pss`` its
    proportional share (a page shared by n processes counts 1/n, so the sum over a node's
    replicas counts shared pages once), ``anonymous`` its own heap, ``file`` mapped files."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0]) * 1024
    return {
        "rss": fields["Rss"],
        "pss": fields["Pss"],
        "anonymous": fields["Anonymous"],
        "file": fields["Rss"] - fields["Anonymous"],
    }


def measure_node(version: Path, settings: Settings, replicas: int = 2, queries: int = 4) -> dict:
    """``replicas`` replicas of ``version`` started together on this node, as a node runs them
    (``_serve_as_replica``): each one's start and answer times and memory once all have
    answered, and ``node_rss_gb``: their resident memory together, pages they share (the
    mapped records, counts and index) counted once (the sum of their proportional sets).
    Each answers ``queries`` queries of each kind (at most 4): at ten million documents a
    photo takes about a minute."""
    context = get_context("spawn")
    answered, stop = context.Queue(), context.Event()
    photos = _measured_photos(settings)[:queries]
    processes = [
        context.Process(
            target=_serve_as_replica, args=(str(version), settings, photos, answered, stop)
        )
        for _ in range(replicas)
    ]
    for process in processes:
        process.start()
    try:
        started = [answered.get(timeout=6 * 3600) for _ in processes]
        memory = [_memory_of(replica["pid"]) for replica in started]
    finally:
        stop.set()
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.terminate()
    return {
        "documents": len(VersionFiles(version).read_index().thetas),
        "replicas": replicas,
        "queries_per_kind": len(photos),
        "node_rss_gb": sum(m["pss"] for m in memory) / 1e9,
        "measured": True,
        "each": [
            {**times, **{f"{kind}_gb": value / 1e9 for kind, value in used.items()}}
            for times, used in zip(started, memory, strict=True)
        ],
        "bytes_on_disk": VersionFiles(version).bytes_on_disk(),
        "cpu_count": os.cpu_count(),
        "load_average_at_end": os.getloadavg()[0],
    }


# --------------------------------------------------------------------------- results file


RESULTS_FILE = "scale.json"
SPARSE_ENTRY_BYTES = 12
TRAINING_SIZES = (100_000, 1_000_000)  # the sizes the report is meant to show


def record(reports: Path, section: str, key: str, result: dict) -> None:
    """Stores one measurement in ``reports/scale.json`` (section -> key -> result), keeping the
    others, written atomically so an interrupted run loses only its own measurement."""
    reports.mkdir(parents=True, exist_ok=True)
    path = reports / RESULTS_FILE
    results = json.loads(path.read_text()) if path.is_file() else {}
    measured_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results.setdefault(section, {})[key] = {**result, "measured_at": measured_at}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def recorded(reports: Path, section: str, key: str) -> dict:
    """The measurement ``record`` stored under ``section`` and ``key`` (empty if none)."""
    path = reports / RESULTS_FILE
    results = json.loads(path.read_text()) if path.is_file() else {}
    return results.get(section, {}).get(key, {})


# --------------------------------------------------------------------------- ingest throughput


def _resident_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _cpu_seconds() -> float:
    import psutil

    times = psutil.Process().cpu_times()
    return times.user + times.system


def _warm_worker(settings: Settings) -> float:
    """Makes a worker's tools and runs the CNN once (TensorFlow import, graph build): seconds."""
    from core.building.ingest import worker_tools

    started = time.perf_counter()
    _, vectorizer = worker_tools(settings)
    vectorizer.backbone.predict([Image.new("RGB", (64, 64))])
    return time.perf_counter() - started


def measure_ingest(
    collection: Path,
    workers: int,
    workdir: Path,
    params: ModelParams | None = None,
    progress: Progress | None = None,
) -> dict:
    """Images per second of the ingest on a local Dask cluster of ``workers`` processes, with
    an empty image cache; the workers are warmed up first (start-up is reported apart)."""
    from core.building.ingest import dask_ingest
    from core.building.pipeline import prepare_corpus
    from core.reading.collection import import_collection

    params = params or ModelParams()
    documents = import_collection(collection).documents
    images = sum(doc.image is not None for doc in documents)
    settings = Settings(data_dir=Path(workdir) / f"ingest-{workers}", collection=collection)
    shutil.rmtree(settings.data_dir, ignore_errors=True)
    try:
        started = time.perf_counter()
        with dask_ingest(f"{LOCAL_PREFIX}{workers}", settings) as executor:
            warm = executor.client.run(_warm_worker, settings)
            startup = time.perf_counter() - started
            load_before = os.getloadavg()[0]
            cpu_before = executor.client.run(_cpu_seconds)
            started = time.perf_counter()
            corpus = prepare_corpus(documents, params, executor, progress)
            seconds = time.perf_counter() - started
            cpu_after = executor.client.run(_cpu_seconds)
            worker_rss = executor.client.run(_resident_bytes)
    finally:
        shutil.rmtree(settings.data_dir, ignore_errors=True)
    return {
        "workers": workers,
        "documents": len(corpus.documents),
        "images": images,
        "seconds": seconds,
        "images_per_second": images / seconds,
        "worker_cpu_seconds": sum(cpu_after[w] - cpu_before.get(w, 0.0) for w in cpu_after),
        "startup_seconds": startup,
        "worker_warmup_seconds": sorted(warm.values()),
        "worker_rss_bytes": sorted(worker_rss.values()),
        "batch_size": executor.batch_size,
        "cpu_count": os.cpu_count(),
        "load_average_at_start": load_before,
        "collection": str(collection),
    }


# --------------------------------------------------------------------------- model footprint


def model_footprint(version_dir: Path, repeats: int = 10) -> dict:
    """What one built version costs per document and per token, to scale up from: bytes on disk
    of its files, Python memory per loaded document record (a serving replica keeps every
    document's record, the build keeps every document's token bags), and how the vocabulary
    grows with the number of documents (Heaps' law exponent per modality, fitted on prefixes
    of the documents in a seeded random order)."""
    import psutil

    files = VersionFiles(version_dir)
    lines = files.read_document_lines()
    documents = len(lines)
    process = psutil.Process()
    before = process.memory_info().rss
    held = [[json.loads(line) for line in lines] for _ in range(repeats)]
    python_bytes = (process.memory_info().rss - before) / (documents * repeats)
    records = [held[0][i] for i in np.random.default_rng(0).permutation(documents)]
    del held
    growth = {}
    for modality in sorted({m for r in records for m in r["tokens"]}):
        sizes = np.array([max(2, documents // 8), documents // 4, documents // 2, documents])
        vocabulary = [
            len({t for r in records[:size] for t in r["tokens"].get(modality, {})})
            for size in sizes
        ]
        exponent = float(np.polyfit(np.log(sizes), np.log(vocabulary), 1)[0])
        growth[modality] = {"vocabulary": vocabulary[-1], "heaps_exponent": exponent}
    distinct_tokens = np.mean([sum(len(bag) for bag in r["tokens"].values()) for r in records])
    on_disk = files.bytes_on_disk()
    return {
        "documents": documents,
        "num_topics": files.read_params().num_topics,
        "documents_jsonl_bytes_per_document": on_disk["documents"] / documents,
        "python_bytes_per_document": python_bytes,
        # the likelihood ranking's sparse counts: a float64 value and an int32 row per token
        "ranking_counts_bytes_per_document": float(distinct_tokens) * SPARSE_ENTRY_BYTES,
        "index_bytes_per_document": on_disk["index"] / documents,
        "model_bytes": on_disk["model"],
        "vocabulary_growth": growth,
        "machine_memory_bytes": psutil.virtual_memory().total,
        "cpu_count": os.cpu_count(),
        "source": str(version_dir),
    }
