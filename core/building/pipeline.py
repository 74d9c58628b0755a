"""Build: collection -> tokens -> visual words -> junk filter -> ARTM -> thetas -> index -> version.

ARTM trains on every document, or on a seeded random sample of them
(``ModelParams.training_sample``); either way every document's theta is then inferred with phi
fixed, on the executor that ingested it (``core.building.ingest``: this process or the Dask
workers), so every document of the version is searchable alike.

A build from a collection never holds its documents: the collection file is checked row by row
first, keeping the problems and a count (``scan_collection``), and read again as the batches go
out; each ingested batch is written to a shard of the version's work directory where it was
ingested (``core.building.shards``), and the driver keeps counts (documents kept per shard, the
ids dropped, display forms). BigARTM's batches, the thetas (chunk by chunk, into the index), the
records, the ranking's counts, the translations (word pairs counted in arrays) and the database
rows (in chunks) are each made in one pass over the shards. What still grows with the
collection in the driver: the distinct word pairs' counts, the ids the scan has seen (to report
a repeated one), ids and photo hashes for the records' sorted indexes, and a length per
document and modality while the ranking's counts are written.

The version is written under a temporary directory name and renamed when complete; only then
does one database transaction mark it ready and (a build from a collection, or a derived version
asked to) active; a derived version otherwise waits for an admin's activation. A build that fails
or is killed leaves the previous version active and nothing half-written marked ready. The files
of a version are read and written by ``core.serving.version_files`` only.

Importing this module does not load BigARTM (the web process imports it to re-index and to show
jobs); the steps that train import ``core.building.topic_model`` when they run. BigARTM cannot load
once TensorFlow is loaded, so ``build`` loads it before the image backbone, and any other process
that trains after loading a backbone imports ``core.building.artm_loader`` first.
"""

from __future__ import annotations

import fcntl
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from core import durable
from core.building.ingest import (
    BatchSink,
    IngestExecutor,
    KeepInMemory,
    LocalIngest,
    ShardWriter,
    batches_of,
    infer_locally,
)
from core.building.shards import StoredDocuments
from core.reading.backbones import load_backbone
from core.reading.collection import (
    CollectionRows,
    Document,
    RowProblem,
    TokenCounts,
    scan_collection,
)
from core.reading.images import content_hash
from core.reading.text import DisplayForms, TextProcessor
from core.reading.vision import ImageVectorizer
from core.serving.bilingual import learn_translations
from core.serving.index import IndexParams
from core.serving.model import FittedModel, ModelParams
from core.serving.ranking import RankingParams
from core.serving.reader import display_form
from core.serving.records import chunked
from core.serving.topic_labels import LABELLED_MODALITIES, distinct_labels
from core.serving.topic_matching import (
    CarryOver,
    TopicReview,
    carry_over,
    match_topics,
    topic_similarity,
)
from core.serving.version_files import PreparedCorpus, VersionFiles
from core.settings import Settings
from core.storage import collection_changes, database, store
from core.storage.modality_names import DisplayName, default_display_name

BUILDING_PREFIX = ".building-"
THETA_CHUNK = 1000
ProgressCallback = Callable[[str, int, int], None]
Item = TypeVar("Item")


class BuildInProgress(RuntimeError):
    """Another build holds the data directory's build lock; nothing was started."""


@dataclass
class BuildReport:
    version_name: str
    version_id: int
    num_documents: int
    problems: list[RowProblem] = field(default_factory=list)
    junk_filtered: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    scores: list[dict] = field(default_factory=list)
    carried: CarryOver | None = None  # a retrain: how moderators' reviews went over
    training_documents: int | None = None  # how many of the documents phi was trained on


def _write_version(
    files: VersionFiles,
    params: ModelParams,
    model: FittedModel,
    corpus: PreparedCorpus,
    ranking: RankingParams | None,
) -> None:
    """A trained version's files, with the word pairs its documents teach (learned here once,
    not by every replica that starts on it); the manifest last."""
    processor = TextProcessor()
    files.write_translations(learn_translations(corpus.tokens, processor))
    files.write(params, model, corpus, processor.word_token, ranking)


def prepare_corpus(
    documents: Collection[Document],
    params: ModelParams,
    executor: IngestExecutor,
    progress: ProgressCallback | None = None,
    timings: dict[str, float] | None = None,
    sink: BatchSink | None = None,
) -> PreparedCorpus:
    """Tokens for every document, ingested batch by batch on ``executor`` (stage ``vectorize``
    reports documents done), the batches taken from ``documents`` as they go out (a build
    reads them from the collection file); drops documents with too few significant tokens.
    ``sink`` says where the kept documents go: back here (default), or to shards on disk (a
    build)."""
    timings = {} if timings is None else timings
    sink = sink or KeepInMemory()
    started = time.perf_counter()
    kept: dict[int, Collection[Document]] = {}
    dropped: dict[int, list[str]] = {}
    forms = DisplayForms()
    done = 0
    for number, result in executor.run(batches_of(documents, executor.batch_size), params, sink):
        kept[number], dropped[number] = result.kept, result.dropped
        forms.update_surfaces(list(result.surfaces.elements()))
        done += len(result.kept) + len(result.dropped)
        if progress:
            progress("vectorize", done, len(documents))
    timings["ingest"] = time.perf_counter() - started
    batches = sorted(kept)
    return PreparedCorpus(
        documents=sink.joined([kept[number] for number in batches]),
        display_forms=forms.to_dict(),
        junk_filtered=[doc_id for number in batches for doc_id in dropped[number]],
    )


def build(
    settings: Settings,
    collection: Path | None = None,
    params: ModelParams | None = None,
    index_params: IndexParams | None = None,
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
    ranking: RankingParams | None = None,
) -> BuildReport:
    """Imports, vectorizes, trains, indexes, stores topics and activates a new version.

    Text processing and vectorization run on ``executor`` (default: this process); ``ranking``
    (default ``RankingParams()``) is how its searches order documents."""
    import core.building.artm_loader  # noqa: F401  (BigARTM before the backbone loads TensorFlow)

    params = params or ModelParams()
    ranking = ranking or RankingParams()
    index_params = index_params or IndexParams()
    collection = Path(collection or settings.collection)
    timings: dict[str, float] = {}
    sessions = database.open_database(settings.database_url)

    started = time.perf_counter()
    rows, problems = scan_collection(collection)
    documents, problems = live_collection(sessions, rows, problems)
    timings["import"] = time.perf_counter() - started
    if not documents:
        raise ValueError(f"no usable documents in {collection} ({len(problems)} bad rows)")
    version_params = {
        "model": params.to_dict(),
        "index": asdict(index_params),
        "backbone": settings.backbone,
        "ranking": ranking.to_dict(),
    }
    with new_version(
        settings,
        sessions,
        params=version_params,
        collection=str(rows.folder),
        num_topics=params.num_topics,
    ) as created:
        executor = executor or LocalIngest(
            TextProcessor(), ImageVectorizer(load_backbone(settings), settings.cache_dir)
        )
        shards = ShardWriter(VersionFiles(created.workdir).corpus_dir)
        corpus = prepare_corpus(documents, params, executor, progress, timings, shards)
        model = train_and_write_version(
            created.workdir, corpus, params, index_params, progress, timings, ranking, executor
        )
        started = time.perf_counter()
        publish(
            settings,
            sessions,
            created,
            model=model,
            params=params,
            topics=topic_records(model, params, corpus.display_forms),
        )
        timings["store"] = time.perf_counter() - started
    return BuildReport(
        created.name,
        created.id,
        len(corpus.documents),
        problems,
        corpus.junk_filtered,
        timings,
        model.scores,
        training_documents=model.training_documents,
    )


def live_collection(
    sessions: sessionmaker[Session], rows: CollectionRows, problems: list[RowProblem]
) -> tuple[Collection[Document], list[RowProblem]]:
    """The collection a build trains on: the imported one plus the documents added since,
    minus the ones taken down (by id or by photo), whose rows are no problem of the import.
    The collection file is read once more here only if anything was added or taken down."""
    with sessions() as session:
        taken_down = collection_changes.taken_down_ids(session)
        taken_down_photos = collection_changes.taken_down_photos(session)
        added = collection_changes.added_documents(session)

    def kept(document: Document) -> bool:
        if document.id in taken_down:
            return False
        return not (
            taken_down_photos
            and document.image
            and content_hash(document.image) in taken_down_photos
        )

    added_ids = {document.id for document in added}
    leaving, imported_ids = [], set()
    if taken_down or taken_down_photos or added:
        for row, document in rows.numbered():
            if not kept(document):
                leaving.append(row)
            elif document.id in added_ids:
                imported_ids.add(document.id)
    fresh = [document for document in added if document.id not in imported_ids]
    return (
        StoredDocuments([rows.without(leaving), fresh]),
        [problem for problem in problems if problem.id not in taken_down],
    )


@dataclass(frozen=True)
class NewVersion:
    """A version being built: its database row (status building) and its directories."""

    name: str
    id: int
    workdir: Path
    final_dir: Path


@contextmanager
def new_version(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    params: dict,
    collection: str,
    num_topics: int,
    parent_id: int | None = None,
) -> Iterator[NewVersion]:
    """Start a version under the build lock (one build at a time per data directory).

    If the block raises (or is cancelled), the version is marked failed and its files removed;
    the previous version keeps serving.
    """
    durable.make_directories(settings.models_dir)
    with _exclusive_build_lock(settings.models_dir):
        _clean_up_killed_builds(settings, sessions)
        with sessions() as session:
            name = store.next_version_name(session)
            version_id = store.start_version(
                session,
                name=name,
                params=params,
                collection=collection,
                num_topics=num_topics,
                parent_id=parent_id,
            ).id
        created = NewVersion(
            name,
            version_id,
            settings.models_dir / f"{BUILDING_PREFIX}{name}-{uuid.uuid4().hex[:8]}",
            settings.models_dir / name,
        )
        try:
            yield created
        except BaseException as error:
            _abandon(sessions, version_id, error, created.workdir, created.final_dir)
            raise


def publish(
    settings: Settings,
    sessions: sessionmaker[Session],
    created: NewVersion,
    *,
    model: FittedModel,
    params: ModelParams,
    topics: list[store.TopicRecord],
    documents: Collection[Document] | None = None,
    activate: bool = True,
    display_names: dict[str, DisplayName] | None = None,
) -> None:
    """Move the complete directory into place durably (its files, then the rename, synced: see
    ``core.durable``), mark the version ready with its ``documents`` (default: the records it
    was written with, read one at a time) (the row never points at files a power cut could
    still take back), give it the documents added meanwhile (``core.building.additions``), then
    (if asked) make it active."""
    durable.publish_directory(created.workdir, created.final_dir)
    if documents is None:
        documents = VersionFiles(created.final_dir).read_records()
    with sessions() as session:
        store.finish_version(
            session,
            store.get_version(session, created.id),
            artifact_dir=str(created.final_dir),
            scores=model.scores,
            num_documents=len(documents),
            modalities={
                m: (float(params.modality_weights.get(m, 1.0)), len(model.phi[m].tokens))
                for m in model.phi
            },
            topics=topics,
            documents=documents,
            display_names=display_names,
            training_documents=model.training_documents,
        )
    from core.building.additions import read_additions_into  # it builds on this module

    read_additions_into(settings, created.id)
    if activate:
        with sessions() as session:
            store.activate_version(session, created.id)


def train_and_write_version(
    workdir: Path,
    corpus: PreparedCorpus,
    params: ModelParams,
    index_params: IndexParams,
    progress: ProgressCallback | None,
    timings: dict[str, float],
    ranking: RankingParams | None = None,
    executor: IngestExecutor | None = None,
) -> FittedModel:
    """Trains (on the sample ``params`` asks for), infers every document's theta (on
    ``executor``; default: this process), indexes and writes every file of the version into
    ``workdir``."""
    if len(corpus.documents) < 2:
        raise ValueError(
            f"only {len(corpus.documents)} document(s) have at least "
            f"{params.min_significant_tokens} significant tokens; nothing to train on"
        )
    from core.building.topic_model import fit

    files = VersionFiles(workdir)
    started = time.perf_counter()
    model = fit(
        training_sample(corpus.tokens, params),
        params,
        files.training_dir,
        on_pass=(lambda n, total, _: progress("train", n, total)) if progress else None,
    )
    timings["train"] = time.perf_counter() - started

    started = time.perf_counter()
    write_document_index(files, model, params, corpus.tokens, index_params, progress, executor)
    timings["index"] = time.perf_counter() - started
    if progress:
        progress("index", 1, 1)
    _write_version(files, params, model, corpus, ranking)
    files.remove_training_files()
    return model


def _abandon(
    sessions: sessionmaker[Session], version_id: int, error: BaseException, *directories: Path
) -> None:
    """Marks a failed build failed (unless it already became ready) and removes its files."""
    with sessions() as session:
        version = store.get_version(session, version_id)
        if version is not None and version.status != "ready":
            store.fail_version(session, version, f"{type(error).__name__}: {error}")
            for directory in directories:
                shutil.rmtree(directory, ignore_errors=True)


def clean_up_killed_builds(settings: Settings, sessions: sessionmaker[Session]) -> bool:
    """If no build is running in the data directory, mark failed the versions a killed build left
    ``building`` and remove their files; returns whether it could look (the lock was free)."""
    try:
        with _exclusive_build_lock(settings.models_dir):
            _clean_up_killed_builds(settings, sessions)
    except BuildInProgress:
        return False
    return True


def _clean_up_killed_builds(settings: Settings, sessions: sessionmaker[Session]) -> None:
    """Only under the build lock: any version still building belongs to a killed process."""
    with sessions() as session:
        store.mark_stale_builds_failed(session)
        failed = [v.name for v in store.list_versions(session) if v.status == "failed"]
    _remove_leftover_build_dirs(settings.models_dir, failed)


@contextmanager
def _exclusive_build_lock(models_dir: Path) -> Iterator[None]:
    """One build at a time per data directory; a second one fails at once with a clear error."""
    models_dir.mkdir(parents=True, exist_ok=True)
    with open(models_dir / ".build.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildInProgress(f"another build is running in {models_dir}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftover_build_dirs(models_dir: Path, failed_versions: list[str]) -> None:
    """Directories of builds that were killed: temporary ones, and the final one of a version
    that never became ready (killed between the rename and the commit). Only called under the
    build lock, so no build is using them."""
    final_dirs = (models_dir / name for name in failed_versions)
    for leftover in [*models_dir.glob(f"{BUILDING_PREFIX}*"), *final_dirs]:
        shutil.rmtree(leftover, ignore_errors=True)


def training_sample(documents: Collection[Item], params: ModelParams) -> Collection[Item]:
    """The documents (token bags, or anything in their order) phi is trained on: all of them,
    or ``params.training_sample`` of them drawn at random with ``params.seed`` (in collection
    order, taken in one pass), so a rerun trains the same model."""
    size = params.training_sample
    if size is None or size >= len(documents):
        return documents
    rows = set(np.random.default_rng(params.seed).choice(len(documents), size, replace=False))
    return [item for row, item in enumerate(documents) if row in rows]


def document_thetas(
    model: FittedModel,
    params: ModelParams,
    tokens: Collection[TokenCounts],
    weights,
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> np.ndarray:
    """Every document's theta (``theta_blocks``) in one array."""
    blocks = list(theta_blocks(model, params, tokens, weights, progress, executor))
    return np.vstack(blocks) if blocks else np.zeros((0, params.num_topics))


def theta_blocks(
    model: FittedModel,
    params: ModelParams,
    tokens: Collection[TokenCounts],
    weights,
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> Iterator[np.ndarray]:
    """Every document's theta by the same inference queries use, so distances compare alike,
    in chunks of ``THETA_CHUNK`` taken from ``tokens`` as they are sent to ``executor``
    (default: this process), given in row order (a chunk that finishes early waits for the
    ones before it); reports progress (stage ``thetas``) as chunks finish."""
    infer = executor.infer if executor is not None else infer_locally
    finished: dict[int, np.ndarray] = {}
    done = given = 0
    for number, chunk in infer(chunked(tokens, THETA_CHUNK), model.phi, params, weights):
        finished[number] = chunk
        done += len(chunk)
        if progress:
            progress("thetas", done, len(tokens))
        while given in finished:
            yield finished.pop(given)
            given += 1


def write_document_index(
    files: VersionFiles,
    model: FittedModel,
    params: ModelParams,
    tokens: Collection[TokenCounts],
    index_params: IndexParams,
    progress: ProgressCallback | None = None,
    executor: IngestExecutor | None = None,
) -> None:
    """The index of every document's theta (``theta_blocks``, with the version's weights),
    written a chunk at a time: the driver never holds the thetas (ten million documents have
    2 GB of them)."""
    blocks = theta_blocks(model, params, tokens, params.modality_weights, progress, executor)
    files.write_index_blocks(blocks, (len(tokens), params.num_topics), index_params)


def topic_records(
    model: FittedModel, params: ModelParams, display_forms: dict[str, dict[str, str]]
) -> list[store.TopicRecord]:
    """Top terms per topic per modality, with a provisional label of its most specific terms."""
    records = []
    background = set(params.background_topics)
    labels = distinct_labels(model.phi, LABELLED_MODALITIES, display_forms, model.topic_names)
    for column, topic in enumerate(model.topic_names):
        terms = []
        for modality, phi in model.phi.items():
            order = np.argsort(-phi.matrix[:, column], kind="stable")[: params.top_terms]
            for rank, row in enumerate(order):
                probability = float(phi.matrix[row, column])
                if probability <= 0:
                    break
                token = phi.tokens[row]
                shown = display_form(display_forms, modality, token)
                terms.append(store.TermRecord(modality, token, shown, probability, rank))
        records.append(
            store.TopicRecord(
                index=column,
                name=topic,
                label=labels[column],
                status="background" if topic in background else "normal",
                terms=terms,
            )
        )
    return records


# --------------------------------------------------------------------------------------------------
# Versions derived from another one: same documents, other weights or one more modality
# --------------------------------------------------------------------------------------------------


def copy_deployment(source: Settings, data_dir: Path, database_url: str = "") -> Settings:
    """A private copy of a deployment (its model files and metadata) in ``data_dir``, for
    experiments that must not touch the original: tests, load tests.

    The metadata goes to ``database_url`` (default: SQLite in ``data_dir``), with every version's
    files pointing into the copy. The photo cache is shared through a symlink: its entries are
    content-addressed and written atomically.
    """
    data_dir.mkdir(parents=True)
    shutil.copytree(source.models_dir, data_dir / "models", symlinks=True)
    source.cache_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "cache").symlink_to(source.cache_dir.resolve(), target_is_directory=True)
    copy = Settings(data_dir=data_dir, collection=source.collection, database_url=database_url)
    database.copy_database(source.database_url, copy.database_url)
    with database.open_database(copy.database_url)() as session:
        for version in store.list_versions(session):
            if version.artifact_dir:  # always a folder directly in models/
                version.artifact_dir = str(copy.models_dir / Path(version.artifact_dir).name)
        session.commit()
    return copy


def reindex_version(
    settings: Settings,
    parent: str,
    weights: dict[str, float],
    progress: ProgressCallback | None = None,
    activate: bool = False,
) -> BuildReport:
    """A new version with the parent's phi and every document's theta re-inferred with
    ``weights``; topics keep their labels (the topic space is the parent's). It waits for an
    admin's activation unless ``activate``."""
    return _derive(settings, parent, "reindex", weights, {}, progress, activate)


def add_modality_version(
    settings: Settings,
    parent: str,
    modality: str,
    tokens: dict[str, Counter[str]],
    weight: float,
    retrain: bool,
    progress: ProgressCallback | None = None,
    activate: bool = False,
    display_name: DisplayName | None = None,
) -> BuildReport:
    """A new version with one more modality (``tokens`` by document id), called
    ``display_name`` (None: ``default_display_name``); it waits for an admin's activation
    unless ``activate``.

    Without ``retrain`` only the new modality's phi is trained, every other matrix and every
    document's theta stay exactly the parent's, and topics keep their labels. With ``retrain``
    every matrix is trained anew and the topic space changes: reviews follow the topics that
    match (``carry_reviews``).
    """
    return _derive(
        settings,
        parent,
        "retrain" if retrain else "frozen",
        {modality: weight},
        {modality: tokens},
        progress,
        activate,
        names={modality: display_name or default_display_name(modality)},
    )


def retrain_version(
    settings: Settings,
    parent: str,
    changes: dict | None = None,
    progress: ProgressCallback | None = None,
    activate: bool = False,
) -> BuildReport:
    """A new version trained anew on the parent's documents and tokens, with the parent's model
    parameters updated by ``changes`` (e.g. ``{"num_topics": 50, "seed": 2}``); the topic space
    changes, so moderators' labels, statuses and notes go over to the new topics that match the
    old ones (``carry_reviews``). It waits for an admin's activation unless ``activate``."""
    return _derive(settings, parent, "retrain", {}, {}, progress, activate, changes=changes or {})


def _derive(
    settings: Settings,
    parent: str,
    how: str,
    weights: dict[str, float],
    new_tokens: dict[str, dict[str, Counter[str]]],
    progress: ProgressCallback | None,
    activate: bool,
    *,
    changes: dict | None = None,
    names: dict[str, DisplayName] | None = None,
) -> BuildReport:
    """A new version from ``parent`` (see the three callers above); its modalities keep the
    parent's display names, a new one gets its own from ``names``."""
    sessions = database.open_database(settings.database_url)
    with sessions() as session:
        base = store.get_version(session, parent)
        if base is None or base.status != "ready":
            raise ValueError(f"there is no ready version {parent!r} to start from")
        documents = store.version_documents(session, base.id)
        display_names = {**store.modality_display_names(session, base.id), **(names or {})}
    parent = VersionFiles(Path(base.artifact_dir))
    parent_model = parent.read_model()
    old_params = ModelParams.from_dict(base.params["model"])
    changes = dict(changes or {})
    unknown = sorted(set(changes) - set(old_params.to_dict()))
    if unknown:
        raise ValueError(f"unknown model parameter(s) {unknown}")
    changes["modality_weights"] = {
        **old_params.modality_weights,
        **changes.get("modality_weights", {}),
        **weights,
    }
    params = replace(old_params, **changes)
    index_params = IndexParams(**base.params["index"])
    for modality in new_tokens:
        if modality in parent_model.phi:
            raise ValueError(f"version {base.name} already has modality {modality}")
    corpus = parent.read_corpus()
    corpus = replace(corpus, documents=WithTokens(corpus.documents, new_tokens))
    on_pass = (lambda n, total, _: progress("train", n, total)) if progress else None

    with new_version(
        settings,
        sessions,
        params={**base.params, "model": params.to_dict(), "derived": how},
        collection=base.collection,
        num_topics=params.num_topics,
        parent_id=base.id,
    ) as created:
        created.workdir.mkdir(parents=True)
        files = VersionFiles(created.workdir)
        if how == "reindex":
            model = parent_model
        else:
            from core.building import topic_model

            sample = training_sample(corpus.tokens, params)
            if how == "frozen":
                model = topic_model.fit_with_frozen_phi(
                    sample, params, files.training_dir, parent_model.phi, on_pass
                )
            else:
                model = topic_model.fit(sample, params, files.training_dir, on_pass)
        if how == "frozen":
            files.copy_index_from(parent)
        else:
            write_document_index(files, model, params, corpus.tokens, index_params, progress)
        if progress:
            progress("index", 1, 1)
        _write_version(files, params, model, corpus, parent.read_ranking())
        files.remove_training_files()
        topics = topic_records(model, params, corpus.display_forms)
        carried = None
        with sessions() as session:  # as moderators left them while this version was made
            old_topics = store.version_topics(session, base.id)
        if how == "retrain":
            automatic = topic_records(parent_model, old_params, corpus.display_forms)
            topics, carried = carry_reviews(
                base.name, old_topics, automatic, parent_model, model, topics
            )
        else:
            topics = [
                replace(topic, label=old.label, status=old.status, note=old.note)
                for topic, old in zip(topics, old_topics, strict=True)
            ]
        publish(
            settings,
            sessions,
            created,
            model=model,
            params=params,
            topics=topics,
            documents=documents,
            activate=activate,
            display_names=display_names,
        )
    return BuildReport(
        created.name,
        created.id,
        len(documents),
        scores=model.scores,
        carried=carried,
        training_documents=model.training_documents,
    )


@dataclass(frozen=True)
class WithTokens(Collection[Document]):
    """``documents`` with more modalities' tokens (modality -> document id -> counts), added
    to each document as it is read."""

    documents: Collection[Document]
    added: Mapping[str, Mapping[str, Mapping[str, int]]]

    def __len__(self) -> int:
        return len(self.documents)

    def __iter__(self) -> Iterator[Document]:
        for document in self.documents:
            extra = {
                modality: Counter(by_id[document.id])
                for modality, by_id in self.added.items()
                if by_id.get(document.id)
            }
            yield replace(document, tokens={**document.tokens, **extra}) if extra else document

    def __contains__(self, document: object) -> bool:
        return any(mine == document for mine in self)


def carry_reviews(
    source: str,
    old_topics: list[store.Topic],
    old_automatic: list[store.TopicRecord],
    old_model: FittedModel,
    new_model: FittedModel,
    new_topics: list[store.TopicRecord],
) -> tuple[list[store.TopicRecord], CarryOver]:
    """The new topics with the reviews of the old topics they match by phi
    (``core.serving.topic_matching``), and the account of every reviewed old topic.

    A topic is reviewed when moderators changed it: its label, status or note differs from what
    the build gave it (``old_automatic``, the old model's ``topic_records``)."""
    reviewed = {
        topic.index: TopicReview(topic.label, topic.status, topic.note)
        for topic, automatic in zip(old_topics, old_automatic, strict=True)
        if (topic.label, topic.status, topic.note) != (automatic.label, automatic.status, "")
    }
    matches = match_topics(topic_similarity(old_model.phi, new_model.phi))
    reviews, account = carry_over(source, matches, reviewed)
    return [
        replace(topic, label=review.label, status=review.status, note=review.note)
        if (review := reviews.get(topic.index))
        else topic
        for topic in new_topics
    ], account
