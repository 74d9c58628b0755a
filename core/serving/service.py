"""Serving the active model version: what the CLI and the Streamlit app call.

Every query checks which version is active and reads its live modality weights from the metadata
database (one cheap query), so an activation or a weight change made elsewhere reaches every
session from its next query on. A newly active version is loaded once, under a lock; queries in
flight keep the engine they started with. The collection is live (``core.storage.
collection_changes``): documents added since the version was built are appended to its engine
(their thetas come from the database, so no replica needs another's files), and documents the
junk filter hid or a moderator took down are left out of every answer. Both are re-read only
when the collection's generation counter in the database changes, so every replica sees an add
or a take-down on its next query.

When the metadata database is unreachable, the service keeps serving from what it last read
(the active version, its live weights, the hidden set: nothing can change them while the database
is down) and says so (``ActiveModel.database_down``); searches and votes made meanwhile wait in
``core.storage.outage.WriteBehind`` and are written when it is back. Calls that need fresh data
from the database (the topic list, or anything before the first successful read) raise
``DatabaseUnavailable``, which pages show as an error page. Connections are checked before use, so
the first call after the database is back simply works.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import numpy as np
from sqlalchemy.orm import Session

from core.reading.backbones import load_backbone
from core.reading.images import content_hash
from core.reading.text import TextProcessor
from core.serving import explain
from core.serving.answers import (
    Annotation,
    AnnotationRequest,
    Hit,
    PhotoReading,
    SearchRequest,
    SearchResult,
    TypicalDocument,
    UnknownDocument,
)
from core.serving.engine import SearchEngine, TopicCatalog
from core.serving.explain import QueryReading, TopicShare, WhyNothing
from core.serving.fit import QueryFit
from core.serving.inference import NothingRecognized
from core.serving.ranking import RankingParams
from core.serving.records import DocumentRecords
from core.serving.topic_labels import LanguageLabels, labels_in_language
from core.serving.upload_cache import UploadVectorizer
from core.settings import BUILTIN_COLLECTION, Settings
from core.storage import database, store
from core.storage.admin_tables import collection_generation, hidden_document_ids
from core.storage.collection_changes import taken_down_ids, version_additions
from core.storage.modality_names import DisplayName, default_display_name
from core.storage.outage import (
    DatabaseUnavailable,
    PendingSearch,
    PendingVote,
    WriteBehind,
    guarded,
    translated_outage,
)


class NoActiveModel(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "no model has been built yet: run `python -m core build` to build one "
            "from the built-in collection"
        )


@dataclass(frozen=True)
class ActiveModel:
    """The engine of the active version, its live global weights, its modalities' display
    names and which documents search may return (None: all) at query time."""

    engine: SearchEngine
    weights: dict[str, float]
    version: store.ModelVersion
    display_names: dict[str, DisplayName]
    allowed: np.ndarray | None = None
    collection_generation: int = 0
    taken_down: frozenset[str] = frozenset()
    database_down: bool = False  # served from what was read before the database went away

    @property
    def modalities(self) -> list[str]:
        """The version's modalities, in the model's order."""
        return self.engine.modalities

    @property
    def cache_key(self) -> tuple:
        """Changes whenever an answer could: another version, live weights or hidden set."""
        return self.version.name, tuple(sorted(self.weights.items())), self.collection_generation


@dataclass(frozen=True)
class ModalityDescription:
    """One modality of the active version: its live and training weights, vocabulary size
    and what people call it."""

    name: str
    live_weight: float
    training_weight: float
    vocabulary: int
    display_name: DisplayName


@dataclass(frozen=True)
class ModelDescription:
    """Which configuration answers queries now, for the About page.

    ``regularizers`` lists the ones training used (tau above 0) by name, e.g. ``smooth_phi``;
    ``backbone`` is the image backbone the version's photos went through (the service's own
    for a version that did not record it); ``index_method`` is the nearest-neighbour backend.
    """

    version: str
    built: datetime
    collection: Path
    builtin_collection: bool
    documents: int
    topics: int
    background_topics: int
    ranking: RankingParams
    backbone: str
    index_method: str
    modalities: list[ModalityDescription]
    regularizers: dict[str, float]
    passes: int
    document_passes: int
    visual_samples: int
    flattening_strength: int
    scores: list[dict]


class Service:
    """Thread-safe entry point: one per process (``st.cache_resource`` in the app)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        with translated_outage():
            self.sessions = database.open_database(settings.database_url)
        self.processor = TextProcessor()
        self._vectorizers: dict[str, UploadVectorizer] = {}  # backbone name -> vectorizer
        self._engine: SearchEngine | None = None
        self._lock = threading.Lock()
        self._vectorizer_lock = threading.Lock()
        self._allowed: tuple[tuple[str, int, int], _Unservable] | None = None
        self._served: _Served | None = None  # the active version's engine with its additions
        self._extending = threading.Lock()
        self._topic_catalog: tuple[str, TopicCatalog] | None = None  # version name, catalog
        self._last_active: ActiveModel | None = None
        self._labels: tuple[int, dict[int, str]] | None = None  # version id -> labels, last read
        self._language_labels: dict[tuple[int, str], LanguageLabels] = {}  # (version id, language)
        self._database = guarded(self.sessions)
        self.writes = WriteBehind(self._database)

    def active(self) -> ActiveModel:
        """The active version's engine (loading it if it changed) and its live weights.

        While the database is unreachable: the model as last read, marked ``database_down``
        (``DatabaseUnavailable`` if there is none yet). Once it answers, what waited is written.
        """
        try:
            active = self._read_active()
        except DatabaseUnavailable:
            if self._last_active is None:
                raise
            return replace(self._last_active, database_down=True)
        previous, self._last_active = self._last_active, active
        if previous is None or previous.engine is not active.engine:
            del previous  # only queries in flight still hold the engine it replaced
            _freeze_long_lived_objects()
        with suppress(DatabaseUnavailable):  # gone again: the writes keep waiting
            self.writes.flush()
        return active

    def _read_active(self) -> ActiveModel:
        with self._database() as session:
            version = self._version_row(session, store.active_version_id(session))
            weights = store.modality_weights(session, version.id)
            names = self._display_names(session, version)
            generation = collection_generation(session)
            version_id, name, directory = version.id, version.name, version.artifact_dir
            backbone = self.backbone_of(version)
        engine = self._engine
        if engine is None or engine.version_name != name:
            with self._lock:
                if self._engine is None or self._engine.version_name != name:
                    vectorizer = self.vectorizer_for(backbone)
                    loaded = SearchEngine(Path(directory), name, self.processor, vectorizer)
                    loaded.warm_up()
                    self._engine = loaded
                engine = self._engine
        engine = self._with_additions(engine, version_id, generation)
        allowed, taken_down = self._allowed_rows(engine.version_name, engine.documents, generation)
        return ActiveModel(engine, weights, version, names, allowed, generation, taken_down)

    def _with_additions(self, base: SearchEngine, version_id: int, generation: int) -> SearchEngine:
        """``base`` with the documents added to the collection since its version was built, as
        of ``generation``: re-read when the generation changes, extended off the lock that
        loads versions, and swapped in whole. While one thread extends it, the others go on
        answering from the engine served until then."""
        served = self._served
        if served is not None and served.version == base.version_name:
            if served.generation == generation:
                return served.engine
            if not self._extending.acquire(blocking=False):
                return served.engine
        else:
            self._extending.acquire()
        try:
            served = self._served
            if served is not None and (served.version, served.generation) == (
                base.version_name,
                generation,
            ):
                return served.engine
            with self._database() as session:
                additions = version_additions(session, version_id)
            ids = tuple(addition.document.id for addition in additions)
            if served is not None and (served.version, served.ids) == (base.version_name, ids):
                engine = served.engine
            elif additions:
                engine = base.with_additions(
                    [addition.document for addition in additions],
                    np.vstack([addition.theta for addition in additions]),
                )
                engine.warm_up()
            else:
                engine = base
            self._served = _Served(base.version_name, generation, ids, engine)
            return engine
        finally:
            self._extending.release()

    def _version_row(self, session: Session, version_id: int | None) -> store.ModelVersion:
        """The active version's row, read again only when another version became active: a
        version's row does not change while it serves, and its scores are a large JSON column
        that every page would otherwise decode."""
        if version_id is None:
            raise NoActiveModel()
        last = self._last_active
        if last is not None and last.version.id == version_id:
            return last.version
        version = session.get(store.ModelVersion, version_id)
        if version is None:  # deleted between the two reads
            raise NoActiveModel()
        return version

    def _display_names(
        self, session: Session, version: store.ModelVersion
    ) -> dict[str, DisplayName]:
        """The version's modalities' display names, read again only when another version
        became active (a version's names do not change)."""
        last = self._last_active
        if last is not None and last.version.id == version.id:
            return last.display_names
        return store.modality_display_names(session, version.id)

    def backbone_of(self, version: store.ModelVersion) -> str:
        """The image backbone ``version``'s photos went through (every build records it);
        visitors' photos must go through the same one, whatever the settings say now."""
        return (version.params or {}).get("backbone") or self.settings.backbone

    def vectorizer_for(self, backbone: str) -> UploadVectorizer:
        """The photo vectorizer of ``backbone``, made once (its Keras model loads once per
        process): the collection's cache is read, never grown; visitors' own is bounded."""
        with self._vectorizer_lock:
            if backbone not in self._vectorizers:
                self._vectorizers[backbone] = UploadVectorizer(
                    load_backbone(backbone, self.settings.inception_weights),
                    self.settings.cache_dir,
                    self.settings.cache_dir / "uploads",
                )
            return self._vectorizers[backbone]

    def _allowed_rows(
        self, version_name: str, documents: DocumentRecords, generation: int
    ) -> _Unservable:
        """Rows of ``documents`` that are neither hidden nor taken down (None: all), and the
        ids taken down; cached per (version, collection generation, documents)."""
        key = (version_name, generation, len(documents))
        cached = self._allowed
        if cached is not None and cached[0] == key:
            return cached[1]
        with self._database() as session:
            taken_down = frozenset(taken_down_ids(session))
            left_out = hidden_document_ids(session) | taken_down
        allowed = None
        if left_out:
            allowed = np.ones(len(documents), dtype=bool)
            for doc_id in left_out:
                allowed[documents.rows_of_id(doc_id)] = False
        self._allowed = (key, (allowed, taken_down))
        return allowed, taken_down

    def search(
        self,
        request: SearchRequest,
        *,
        visitor: str | None = None,
        active: ActiveModel | None = None,
    ) -> SearchResult:
        """The request's nearest documents; its ``weights`` (per visitor) override the live
        global weights.

        A search made for a ``visitor`` is recorded (query, weights, version, latency, result
        ids) and its ``search_id`` is what the visitor's relevance votes refer to. ``active`` is
        the snapshot to answer from (default: the active model now); a page passes the one it
        read first, so that a version activated meanwhile cannot mix into what it shows.
        """
        started = time.perf_counter()
        active = active or self.active()
        query = request.query
        result = active.engine.search(_live(request, active), active.allowed)
        result.latency_ms = (time.perf_counter() - started) * 1000
        if visitor is not None:
            result.search_id = self.writes.record_search(
                PendingSearch(
                    provisional_id=self.writes.new_provisional_id(),
                    visitor=visitor,
                    version_name=result.model_version,
                    text=query.text,
                    image_hash=None if query.image is None else content_hash(query.image),
                    weights=result.weights,
                    latency_ms=result.latency_ms,
                    result_ids=[hit.id for hit in result.hits],
                )
            )
        return result

    def more_like(
        self,
        doc_id: str,
        request: SearchRequest | None = None,
        *,
        visitor: str | None = None,
        active: ActiveModel | None = None,
    ) -> SearchResult:
        """Documents like ``doc_id``: the ``request`` (k, weights; default ``SearchRequest()``)
        searched with the document's own tokens as its query, ranked as the version's searches
        are unless it names a ranking (``SearchEngine.like_request``); the document itself is
        never among them. Recorded for a ``visitor`` like any search.
        Raises ``ValueError`` for an unknown id (``UnknownDocument``) or a request that has a
        query of its own."""
        request = request or SearchRequest()
        if not request.query.is_empty():
            raise ValueError("more_like takes a request without a query: the document is the query")
        active = active or self.active()
        _check_not_taken_down(doc_id, active)
        row, like = active.engine.like_request(doc_id, request)
        allowed = np.ones(len(active.engine.documents), dtype=bool)
        if active.allowed is not None:
            allowed &= active.allowed
        allowed[row] = False
        hiding = replace(active, allowed=allowed)
        return self.search(like, visitor=visitor, active=hiding)

    def did_you_mean(self, text: str, active: ActiveModel | None = None) -> str | None:
        """``text`` with the words the model does not know replaced by the nearest ones it does
        (``core.serving.suggestions``), or None when there is nothing to suggest."""
        active = active or self.active()
        return active.engine.did_you_mean(text)

    def document(self, doc_id: str, active: ActiveModel | None = None) -> Hit:
        """A document of ``active`` (default: the active model now), e.g. the one a "more like
        this" link names; raises ``UnknownDocument`` for an id it does not have."""
        active = active or self.active()
        _check_not_taken_down(doc_id, active)
        return active.engine.document(doc_id)

    def typical_documents(
        self, topic: int, n: int = 8, active: ActiveModel | None = None
    ) -> list[TypicalDocument]:
        """The documents most about ``topic`` in ``active`` (default: the active model now),
        leaving out those the junk filter hid."""
        active = active or self.active()
        return active.engine.typical_documents(topic, n, allowed=active.allowed)

    def topic_thumbnails(
        self, version: store.ModelVersion, topics: Sequence[int], n: int
    ) -> dict[int, list[TypicalDocument]]:
        """The typical documents of several ``topics`` of ``version`` (hidden ones left out),
        for the moderators' topic review: from the loaded engine if it is this version's, else
        from the version's files alone (``TopicCatalog``), so that a process that has not
        loaded the model yet does not load all of it for thumbnails."""
        served = self._served
        if served is not None and served.version == version.name:
            source: SearchEngine | TopicCatalog = served.engine
            documents = served.engine.documents
        else:
            source = self._catalog(version)
            documents = source.documents
        with self._database() as session:
            generation = collection_generation(session)
        allowed, _ = self._allowed_rows(version.name, documents, generation)
        return {topic: source.typical_documents(topic, n, allowed=allowed) for topic in topics}

    def _catalog(self, version: store.ModelVersion) -> TopicCatalog:
        cached = self._topic_catalog
        if cached is None or cached[0] != version.name:
            with self._lock:
                cached = (version.name, TopicCatalog(Path(version.artifact_dir)))
                self._topic_catalog = cached
            _freeze_long_lived_objects()  # like a loaded engine: no per-page GC over it
        return cached[1]

    def vote(self, search_id: int, doc_id: str, vote: int) -> bool:
        """A visitor's +1/-1 on one result of a search (a new vote replaces the old); the search
        id may be provisional (the search waits for the database).

        Returns True once stored, False if it waits for the database. Raises ``ValueError`` for
        a vote that does not fit its search, ``DatabaseUnavailable`` if too many writes wait.
        """
        return self.writes.record_vote(PendingVote(search_id, doc_id, vote))

    def topics(self, active: ActiveModel | None = None) -> list[store.Topic]:
        """The topics of ``active`` (default: the active model now) with their labels, statuses
        and stored top terms."""
        version_id = (active or self.active()).version.id
        with self._database() as session:
            return store.version_topics(session, version_id)

    def topic_labels(
        self, active: ActiveModel | None = None, language: str | None = None
    ) -> dict[int, str]:
        """Topic index -> label, as moderators last set them, for ``active`` (default: the
        active model now); for a reader of ``language``, a label still as the build wrote it
        is in that language (``topic_labels.labels_in_language``)."""
        active = active or self.active()
        version_id = active.version.id
        try:
            with self._database() as session:
                labels = store.topic_labels(session, version_id)
        except DatabaseUnavailable:
            if self._labels is None or self._labels[0] != version_id:
                raise
            labels = self._labels[1]  # labels can't change while the database is down
        self._labels = (version_id, labels)
        if language is None:
            return labels
        key = (version_id, language)
        if key not in self._language_labels:
            engine = active.engine
            self._language_labels[key] = labels_in_language(
                engine.model.phi, engine.display_forms, engine.model.topic_names, language
            )
        return self._language_labels[key].read(labels)

    def annotate(
        self, request: AnnotationRequest, *, active: ActiveModel | None = None
    ) -> tuple[str, dict[str, list[Annotation]]]:
        """(version name, the request's top-k tokens per modality), from ``active`` (default:
        the active model now); the request's ``weights`` override the live global weights."""
        active = active or self.active()
        annotations = active.engine.annotation.annotate(_live(request, active))
        return active.engine.version_name, annotations

    def describe(self, active: ActiveModel | None = None) -> ModelDescription:
        """The configuration of ``active`` (default: the active model now) in plain figures."""
        active = active or self.active()
        engine, version, params = active.engine, active.version, active.engine.params
        collection = Path(version.collection)
        taus = {
            "sparse_phi": params.sparse_phi_tau,
            "sparse_theta": params.sparse_theta_tau,
            "smooth_phi": params.smooth_phi_tau,
            "smooth_theta": params.smooth_theta_tau,
            "decorrelation": params.decorrelation_tau,
        }
        return ModelDescription(
            version=version.name,
            built=version.finished_at or version.created_at,
            collection=collection,
            builtin_collection=collection.resolve() == BUILTIN_COLLECTION.resolve(),
            documents=len(engine.documents),
            topics=params.num_topics,
            background_topics=params.num_background_topics,
            ranking=engine.ranking,
            backbone=self.backbone_of(version),
            index_method=engine.index.method,
            modalities=[
                ModalityDescription(
                    modality,
                    active.weights.get(modality, 0.0),
                    float(params.modality_weights.get(modality, 1.0)),
                    len(phi.tokens),
                    active.display_names.get(modality) or default_display_name(modality),
                )
                for modality, phi in engine.model.phi.items()
            ],
            regularizers={name: tau for name, tau in taus.items() if tau},
            passes=params.passes,
            document_passes=params.document_passes,
            visual_samples=params.visual_samples,
            flattening_strength=params.flattening_strength,
            scores=version.scores if isinstance(version.scores, list) else [],
        )

    def read_photo(self, image: bytes | Path, active: ActiveModel | None = None) -> PhotoReading:
        """The steps from a photo to its visual words, for showing them (raises ``ImageError``)."""
        return (active or self.active()).engine.reader.read_photo(image)

    def query_fit(self, request: SearchRequest, *, active: ActiveModel | None = None) -> QueryFit:
        """How well the request's query fits the model (``core.serving.fit``): the fit its
        search reports; raises ``NothingRecognized``."""
        active = active or self.active()
        return active.engine.query_fit(_live(request, active))

    def why_nothing_recognized(
        self,
        request: SearchRequest,
        error: NothingRecognized,
        *,
        active: ActiveModel | None = None,
    ) -> WhyNothing:
        """Why the request's query gave the model nothing to go on under its weights (``error``
        is what its search raised), and words to try."""
        active = active or self.active()
        live = _live(request, active)
        return explain.why_nothing_recognized(active.engine, live.query, error, live.weights)

    def read_query(
        self, result: SearchResult, labels: Mapping[int, str], active: ActiveModel
    ) -> QueryReading:
        """Which tokens of the search behind ``result`` the model kept, switched off or did not
        know, and its main topics; ``active`` is the snapshot that answered it."""
        return explain.read_query(active.engine, result, labels)

    def explain_hit(
        self, result: SearchResult, hit: Hit, labels: Mapping[int, str], active: ActiveModel
    ) -> list[TopicShare]:
        """The topics the query behind ``result`` and ``hit`` share most, with labels and terms;
        ``active`` is the snapshot that answered it."""
        return explain.explain_hit(active.engine, result, hit, labels)


_Unservable = tuple[np.ndarray | None, frozenset[str]]  # allowed rows, ids taken down


@dataclass(frozen=True)
class _Served:
    """The engine a version serves with its additions as of a collection generation."""

    version: str
    generation: int
    ids: tuple[str, ...]  # the additions it holds, in row order
    engine: SearchEngine


def _check_not_taken_down(doc_id: str, active: ActiveModel) -> None:
    """A document taken down is unknown, as if it had never been there."""
    if doc_id in active.taken_down:
        raise UnknownDocument(doc_id, active.engine.version_name)


def _freeze_long_lived_objects() -> None:
    """Keep the loaded model out of Python's full garbage collections.

    A loaded engine (with the backbone) is a few hundred thousand objects that live as long as
    its version is active; a full collection, which Streamlit runs after every page, traverses
    them all (70-90 ms of CPU per page on the built-in model). ``gc.freeze`` moves every live
    object to the permanent generation, which collections skip. Frozen objects are still freed
    when their last reference goes, so only reference cycles in a replaced engine would stay:
    on every load the previous freeze is undone and a full collection frees them first.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


_Request = TypeVar("_Request", SearchRequest, AnnotationRequest)


def _live(request: _Request, active: ActiveModel) -> _Request:
    """The request as the engine takes it: its weights laid over the live global weights."""
    return replace(request, weights={**active.weights, **(request.weights or {})})
