"""Search and annotation over one model version, loaded from its directory.

The engine composes three parts over the version's files: ``QueryReader`` (a query into tokens,
terms and a theta, ``core.serving.reader``), a ``Ranker`` (the version's ranking or the one a
search asks for, ``core.serving.ranking``) and ``QueryAnnotator`` (words for a query,
``core.serving.annotation``). Search adds what a hit shows: its distance, the query words it
contains, and whether it is weak (``core.serving.fit``). Searches, thetas and fits take a
``SearchRequest`` (``core.serving.answers``), annotations (``engine.annotation.annotate``) an
``AnnotationRequest``: the same requests the service takes. The documents' records and token
counts stay in the version's memory-mapped files (``core.serving.records``,
``DocumentTokens.load``): a hit's record is read when it is shown. Everything here is read-only
after loading, so one engine serves many threads.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from core.reading.collection import Document, TokenCounts
from core.reading.images import content_hash
from core.reading.text import TAG, TEXT, TextProcessor
from core.reading.vision import VISUAL, ImageVectorizer
from core.serving.annotation import QueryAnnotator
from core.serving.answers import (
    Hit,
    Query,
    SearchRequest,
    SearchResult,
    TypicalDocument,
    UnknownDocument,
)
from core.serving.bilingual import (
    LEXICON_SHARE,
    Translations,
    default_lexicon,
    learn_translations,
)
from core.serving.fit import FitReference, QueryFit, kind_of, perplexity
from core.serving.index import NeighborIndex
from core.serving.inference import NothingRecognized, QueryTheta, ThetaInferencer
from core.serving.query_syntax import parse_query
from core.serving.ranking import (
    DocumentTokens,
    QueryTerm,
    RankedDocuments,
    RankingParams,
    predicted_terms,
    ranker_for,
    term_columns,
    term_shares,
    top_rows,
    topic_distances,
    unlearned_words,
)
from core.serving.reader import QueryReader, display_form, expected_visual_words, token_counts
from core.serving.records import DocumentRecords, RecordTokens, RowsById
from core.serving.similar import collapse_similar as collapse_similar_hits
from core.serving.strength import match_strengths
from core.serving.suggestions import Suggester
from core.serving.version_files import VersionFiles

TOP_TERMS_KEPT = 32
SIMILAR_FETCH = 2  # rank this many times k documents, so that k stay once similar ones collapse
# A hit whose closest form of the query's words has this share or less contains them only as a
# dictionary translation of a dictionary translation ('sunset' -> 'конец' -> 'end'): no strong
# match (``match_strengths``). A collection pair's share times the dictionary's is more. Shares
# as a hit matches the words (``QueryReader.matched_terms``), not as the ranking counts them.
REMOTE_SHARE = LEXICON_SHARE**2


@dataclass(frozen=True)
class _AskedSearch:
    """A search request as the engine reads it, before ranking (``SearchEngine._read``)."""

    query: Query
    weights: Mapping[str, float]
    ranking: RankingParams
    excluded: list[QueryTerm]
    allowed: np.ndarray | None
    tokens: TokenCounts
    surfaces: dict[str, dict[str, str]]
    inferred: QueryTheta
    terms: list[QueryTerm]  # as a hit matches them (``QueryReader.matched_terms``)
    ranked_terms: list[QueryTerm]
    look: Mapping[str, float] | None  # the visual words a photo alone is annotated by


class SearchEngine:
    """One model version's artifacts (phi, display forms, documents, index) and the parts that
    read, rank and annotate queries over them."""

    def __init__(
        self,
        directory: Path,
        version_name: str,
        processor: TextProcessor,
        vectorizer: ImageVectorizer | None,
    ) -> None:
        self.directory = Path(directory)
        self.version_name = version_name
        files = VersionFiles(self.directory)
        self.params = files.read_params()
        self.ranking = files.read_ranking()
        self.model = files.read_model()
        self.display_forms = files.read_display_forms()
        self.inferencer = ThetaInferencer.from_params(self.model.phi, self.params)
        self.processor = processor
        self.vectorizer = vectorizer
        self.reader = QueryReader(
            self.model.phi,
            self.params,
            self.inferencer,
            processor,
            vectorizer,
            self._version_translations,
        )
        self._top_term_rows: dict[str, np.ndarray] = {}  # modality -> topics x TOP_TERMS_KEPT
        self.base_records = files.read_records()
        self.base_tokens = files.read_document_tokens(self.model.phi) or DocumentTokens(
            self.model.phi, RecordTokens(self.base_records)
        )
        self._index_documents(self.base_records, files.read_index(), self.base_tokens)
        self.base_documents = len(self.documents)  # rows from the version's files; then additions

    def _index_documents(
        self, documents: DocumentRecords, index: NeighborIndex, written: DocumentTokens
    ) -> None:
        """What search, ranking and annotation keep about the documents, in row order;
        ``written``: their token counts as stored."""
        self.documents = documents
        self.index = index
        # A plain view of the (memory-mapped) thetas: every slice of a memmap builds a memmap.
        self.thetas = np.asarray(self.index.thetas)
        self.annotation = QueryAnnotator(
            self.reader,
            self.documents,
            written,
            self.thetas,
            self.index,
            self.ranking,
            self.display_forms,
            self.default_weights,
        )
        self.ranked = RankedDocuments(
            self.thetas, self.index, self.model.phi, self._own_tokens(written)
        )

    def with_additions(self, documents: Sequence[Document], thetas: np.ndarray) -> SearchEngine:
        """This version's engine with ``documents`` (each with its tokens under this version)
        appended, ``thetas`` their rows: exact search over the version's documents and the
        additions. The model, the query reader and the fit reference are shared (a collection's
        fit is measured on what the model was trained on); this engine does not change, so
        searches in flight go on with it while the new one is made."""
        extended = copy.copy(self)
        for derived in ("topic_prior", "suggester", "_said_words"):
            extended.__dict__.pop(derived, None)
        base = slice(0, self.base_documents)
        rows = np.vstack([self.thetas[base], np.asarray(thetas, dtype=np.float32)])
        index = NeighborIndex(rows, self.index.params).build()
        added = DocumentTokens(
            self.model.phi,
            [token_counts(doc.tokens) for doc in documents],
            unlearned=unlearned_words(
                [doc.tokens for doc in documents], self.model.phi, self.processor.word_token
            ),
        )
        extended._index_documents(
            self.base_records.extended(documents), index, self.base_tokens.appended(added)
        )
        return extended

    @cached_property
    def _said_words(self) -> frozenset[str]:
        """The ``@text`` words only documents the model was not trained on say (additions, or
        those outside a training sample): a query reads them as words the collection knows,
        though the model does not."""
        return frozenset(token for modality, token in self.ranked.own.unlearned if modality == TEXT)

    def _own_tokens(self, written: DocumentTokens) -> DocumentTokens:
        """Each document's own tokens for the likelihood ranking: the ``written`` ones; a
        photo without words or hashtags is given its predicted ones (``photo_words``), so words
        can find it. The collection frequencies that smooth them stay those of the real words."""
        rows = written.wordless_photos
        if not len(rows):
            return written
        words = [
            self.annotation.photo_words(Counter(self.documents[row].tokens[VISUAL]), int(row))
            for row in rows
        ]
        return written.with_words(rows, words, self.model.phi)

    @property
    def own_tokens(self) -> DocumentTokens:
        """What the likelihood ranking counts as each document's own tokens."""
        return self.ranked.own

    @property
    def modalities(self) -> list[str]:
        return list(self.model.phi)

    @property
    def default_weights(self) -> dict[str, float]:
        return {m: float(self.params.modality_weights.get(m, 1.0)) for m in self.modalities}

    def display(self, modality: str, token: str) -> str:
        return display_form(self.display_forms, modality, token)

    def topic_terms(self, topic: int, n: int = 8) -> dict[str, list[str]]:
        """The display forms of a topic's ``n`` most probable tokens in every modality."""
        self._check_topic(topic)
        return {
            modality: [
                self.display(modality, phi.tokens[row])
                for row in self._top_rows(modality, topic, n)
            ]
            for modality, phi in self.model.phi.items()
        }

    def _top_rows(self, modality: str, topic: int, n: int) -> np.ndarray:
        """Rows of the topic's ``n`` most probable tokens. The first ``TOP_TERMS_KEPT`` of every
        topic are sorted once per modality: a search page shows them for many topics."""
        matrix = self.model.phi[modality].matrix
        if n > TOP_TERMS_KEPT:
            return np.argsort(-matrix[:, topic], kind="stable")[:n]
        top = self._top_term_rows.get(modality)
        if top is None:
            top = np.argsort(-matrix, axis=0, kind="stable")[:TOP_TERMS_KEPT].T.copy()
            self._top_term_rows[modality] = top
        return top[topic, :n]

    def typical_documents(
        self,
        topic: int,
        n: int = 8,
        min_share: float = 0.05,
        allowed: np.ndarray | None = None,
    ) -> list[TypicalDocument]:
        """Up to ``n`` documents (of the ``allowed`` rows) most about ``topic``; see
        ``typical_documents``."""
        self._check_topic(topic)
        return typical_documents(self.thetas[:, topic], self.documents, n, allowed, min_share)

    def popular_terms(self, modality: str = TEXT, n: int = 8) -> list[str]:
        """Display forms of the modality's most probable tokens over the whole collection,
        p(w) = sum_t phi_wt p(t): words worth suggesting to a visitor whose query found nothing."""
        phi = self.model.phi.get(modality)
        if phi is None:
            return []
        p = phi.matrix @ self.topic_prior
        return [
            self.display(modality, phi.tokens[row]) for row in np.argsort(-p, kind="stable")[:n]
        ]

    def _version_translations(self) -> Translations:
        """The word pairs the build learned and stored; a version written before they were
        stored learns them now from every document's record (slow on a large collection)."""
        stored = VersionFiles(self.directory).read_translations(default_lexicon())
        return stored or learn_translations(self.document_tokens(), self.processor)

    def warm_up(self) -> None:
        """Computes now what searches would compute on first use (the translations with the
        dictionary as the version's ranking reads it, the fit reference, the suggester), so
        that a serving process can freeze them with the rest of the loaded model
        (``core.serving.service``) instead of having the garbage collector walk them after
        every page, and the first visitor does not wait for them."""
        _ = self.reader.translations_for(self.ranking), self.fit_reference, self.suggester

    @cached_property
    def topic_prior(self) -> np.ndarray:
        """p(t): the mean of the documents' topic vectors."""
        return self.thetas.mean(axis=0)

    def document_query(self, doc_id: str) -> tuple[int, Query]:
        """(row, query) of a collection document: its own bags of tokens as a query, so that
        searching with it ranks documents by its topic vector under the weights of the search."""
        row = self.rows_by_id.get(doc_id)
        if row is None:
            raise UnknownDocument(doc_id, self.version_name)
        bags = self.documents[row].tokens
        return row, Query(extra={modality: Counter(bag) for modality, bag in bags.items()})

    def like_request(self, doc_id: str, request: SearchRequest) -> tuple[int, SearchRequest]:
        """(row, request) of "more like this" ``doc_id``: ``request`` (k, weights, ranking)
        with the document's own tokens as its query; the caller leaves the row itself out of
        the allowed rows. Without a ranking of its own it ranks as the version's searches do:
        measured against ranking by the document's topic vector (the article's search),
        relevant = sharing a hashtag, mAP@10 0.920 against 0.706 on the benchmark's validation
        split (``scripts/measure_more_like.py``)."""
        row, query = self.document_query(doc_id)
        return row, replace(request, query=query)

    def document(self, doc_id: str) -> Hit:
        """A collection document as a hit at distance 0; raises ``UnknownDocument``."""
        row = self.rows_by_id.get(doc_id)
        if row is None:
            raise UnknownDocument(doc_id, self.version_name)
        return document_hit(self.documents, row, 0.0)

    @property
    def rows_by_id(self) -> RowsById:
        return RowsById(self.documents)

    def document_theta(self, row: int) -> np.ndarray:
        return self.thetas[row]

    def _check_topic(self, topic: int) -> None:
        if not 0 <= topic < self.inferencer.num_topics:
            raise ValueError(f"topic must be in 0..{self.inferencer.num_topics - 1}, got {topic}")

    def infer(self, request: SearchRequest) -> QueryTheta:
        """Theta of the request's query under its weights and ranking; raises
        ``NothingRecognized`` (with the unknown tokens)."""
        tokens, surfaces = self.reader.tokens_of(request.query)
        ranking = request.ranking or self.ranking
        return self.reader.infer(tokens, surfaces, self._weights(request.weights), ranking)

    def search(self, request: SearchRequest, allowed: np.ndarray | None = None) -> SearchResult:
        """The request's k best documents (of the ``allowed`` rows; None: all) by the version's
        ranking, or the request's (``core.serving.ranking``): nearest topic vectors (L1), or the
        query's likelihood with topic smoothing; a photo asked alone also by the hashtags and
        words its annotation predicts (``ranked_terms``).

        A query photo that is itself in the collection (same bytes) puts its document(s) first:
        topic vectors of different photos can tie, identical bytes cannot be a worse match.
        Every hit says which query tokens it contains and whether it is weak: it contains none
        of them, and it lies beyond the collection's usual distances or answers a query that
        fits badly (``core.serving.fit``), or other hits of a words-only query do contain them.

        Words the text excludes (``-word``, ``NOT word``: ``core.serving.query_syntax``) leave
        out every document with one of their forms: before ranking by the model's vocabulary,
        and by each hit's record for words the model never learned; with the request's
        ``collapse_similar``, near-identical documents are one hit (``core.serving.similar``),
        and k hits still come.
        """
        k = request.k  # k >= 1: the request checks it
        asked = self._read(request, allowed)
        query, weights, ranking, allowed = asked.query, asked.weights, asked.ranking, asked.allowed
        ranker = ranker_for(ranking, self.ranked)
        same = self._same_photo_rows(query, allowed, weights)
        fetch = k * SIMILAR_FETCH if request.collapse_similar else k
        while True:
            ranked = ranker.rank(
                asked.inferred.theta, asked.ranked_terms, fetch, weights, allowed, asked.look
            )
            hits = [
                self._hit(int(row), float(distance), score=float(score))
                for row, distance, score in zip(
                    ranked.rows, ranked.distances, ranked.scores, strict=True
                )
                if row not in same
            ]
            if same:  # first, as good as the best the ranking found
                top = float(ranked.scores[0]) if len(ranked.scores) else 0.0
                distances = topic_distances(self.thetas, asked.inferred.theta, same)
                hits = [
                    self._hit(row, float(distance), True, top)
                    for row, distance in zip(same, distances, strict=True)
                ] + hits
            if request.collapse_similar:
                hits = collapse_similar_hits(hits, self.documents)
            if len(hits) >= k or len(ranked.rows) < fetch:
                break
            fetch *= 2
        hits = hits[:k]
        fit = self._fit(
            asked.inferred.theta, self.reader.readable(asked.tokens, ranking), weights, query
        )
        # words the model reads none of, which documents it was not trained on say
        said = self._said_words.intersection(asked.tokens.get(TEXT, ()))
        read = any(asked.inferred.recognized.get(modality) for modality in (TEXT, TAG))
        fit = replace(fit, unlearned=bool(said) and not read and query.image is None)
        closest = []  # per hit: the share of the closest form of a query word it contains
        for hit in hits:
            hit.matched, share = self._matched(asked.terms, hit.row, asked.surfaces, weights)
            closest.append(share)
        # a words-only query whose words some hits contain: a hit with none of them is a guess
        # by topics, however near its topic vector lies
        outworded = query.image is None and any(hit.matched for hit in hits)
        for hit in hits:
            guessed = outworded or fit.weak or fit.is_weak(hit.distance)
            hit.weak = not hit.same_photo and not hit.matched and guessed
        strengths = match_strengths(
            [hit.score for hit in hits],
            ranking.method,
            sum(term.count for term in asked.terms),
            ranking.coordination_weight,
            [hit.weak for hit in hits],
            [
                bool(hit.matched) and share <= REMOTE_SHARE
                for hit, share in zip(hits, closest, strict=True)
            ],
        )
        for hit, strength in zip(hits, strengths, strict=True):
            hit.strength = strength
        return SearchResult(
            self.version_name,
            asked.inferred,
            hits,
            asked.tokens,
            weights,
            fit=fit,
            ranking=ranking.label,
            excluded=self._forms(asked.excluded),
        )

    def _read(self, request: SearchRequest, allowed: np.ndarray | None) -> _AskedSearch:
        """What ``search`` ranks with: the request read, its exclusions applied to ``allowed``."""
        weights = self._weights(request.weights)
        ranking = request.ranking or self.ranking
        syntax = parse_query(request.query.text)
        query = replace(request.query, text=syntax.text)
        excluded = self.reader.excluded_terms(syntax.excluded, ranking)
        tokens, surfaces = self.reader.tokens_of(query, self._said_words)
        inferred = self._infer_said(tokens, surfaces, weights, ranking)
        terms = self.reader.query_terms(tokens, ranking, query.text)
        return _AskedSearch(
            query,
            weights,
            ranking,
            excluded,
            self._without(excluded, allowed),
            tokens,
            surfaces,
            inferred,
            self.reader.matched_terms(tokens, ranking, query.text),
            self.ranked_terms(query, tokens, terms, ranking),
            self._look(query, tokens, ranking),
        )

    def _look(
        self, query: Query, tokens: TokenCounts, ranking: RankingParams
    ) -> Mapping[str, float] | None:
        """The visual words a photo asked alone finds its neighbours by in its annotation
        (``ranked_terms``): its expected ones (its probabilities read again from the
        vectorizer's cache) or, not ``photo_as_annotated``, its drawn ones. Its look-alikes
        are found by them (``LikelihoodRanker.looking_alike``), read once for both. None for
        any other query: a photo with words is not annotated, and its drawn visual words find
        its candidates as well (20 photos with words at 1M: recall@10 0.875 by them, 0.870
        by the expected ones)."""
        if not self._annotated_alone(query, tokens, ranking):
            return None
        if not ranking.photo_as_annotated:
            return tokens[VISUAL]
        return expected_visual_words(self.reader.probabilities(query.image), self.params)

    @staticmethod
    def _annotated_alone(query: Query, tokens: TokenCounts, ranking: RankingParams) -> bool:
        """A photo asked alone, searched by its annotation's words too (``ranked_terms``)."""
        alone = query.image is not None and not query.text.strip() and not query.extra
        predicted = bool(ranking.photo_tags or ranking.photo_words)
        return alone and predicted and bool(tokens.get(VISUAL))

    def _infer_said(
        self,
        tokens: TokenCounts,
        surfaces: Mapping[str, Mapping[str, str]],
        weights: Mapping[str, float],
        ranking: RankingParams,
    ) -> QueryTheta:
        """The query's theta (``QueryReader.infer``), where words only untrained documents say are
        not unknown: the collection knows them. A query of such words alone has the topics of
        the collection at large (``topic_prior``); the documents that say them rank first."""
        said = [
            surfaces.get(TEXT, {}).get(word, word)
            for word in tokens.get(TEXT, ())
            if word in self._said_words
        ]
        try:
            inferred = self.reader.infer(tokens, surfaces, weights, ranking)
        except NothingRecognized:
            if not said:
                raise
            inferred = QueryTheta(self.topic_prior.copy())
        words = [word for word in inferred.unknown.get(TEXT, []) if word not in said]
        inferred.unknown = (
            {**inferred.unknown, TEXT: words}
            if words
            else {m: listed for m, listed in inferred.unknown.items() if m != TEXT}
        )
        return inferred

    def exhaustive_rows(self, request: SearchRequest) -> np.ndarray:
        """The ``request.k`` rows its ranking puts first when it scores every document, which a
        large collection's ``search`` does not (it scores candidates, ``core.serving.ranking``):
        what the candidates' recall is measured against. Same-photo rows and collapsing aside."""
        asked = self._read(request, None)
        ranker = ranker_for(asked.ranking, self.ranked)
        scores = ranker.scores(asked.inferred.theta, asked.ranked_terms, asked.weights)
        return top_rows(scores, request.k, asked.allowed)

    def ranked_terms(
        self,
        query: Query,
        tokens: TokenCounts,
        terms: Sequence[QueryTerm],
        ranking: RankingParams,
    ) -> list[QueryTerm]:
        """What the ranking orders by: the query's ``terms`` (of its ``tokens``) and, for a
        photo asked alone, the hashtags and words its annotation predicts
        (``QueryAnnotator.photo_words``, weighted by ``ranking.photo_tags`` and
        ``photo_words``): its visual words alone found photos that look alike before photos of
        the same thing (a giraffe's search gave a pigeon, a rosella and a bull first). With
        ``ranking.photo_as_annotated`` the photo is annotated from its backbone probabilities
        (read again from the vectorizer's cache) as the Annotate page annotates it, so a photo
        search looks for what Annotate says the photo shows. What a hit shows as matched stays
        what the visitor asked."""
        if not self._annotated_alone(query, tokens, ranking):
            return list(terms)
        probabilities = (
            self.reader.probabilities(query.image) if ranking.photo_as_annotated else None
        )
        words = self.annotation.photo_words(tokens[VISUAL], probabilities=probabilities)
        return [*terms, *predicted_terms(words, ranking)]

    def _without(self, terms: Sequence[QueryTerm], allowed: np.ndarray | None) -> np.ndarray | None:
        """``allowed`` (None: every row) less the documents that contain one of ``terms`` as the
        ranking counts a query word contained (``term_shares``)."""
        contained = np.zeros(len(self.documents), dtype=bool)
        for term in terms:
            contained |= term_shares(term, self.model.phi, self.ranked.own) > 0
        if not contained.any():
            return allowed
        return ~contained if allowed is None else allowed & ~contained

    def _forms(self, terms: Sequence[QueryTerm]) -> list[str]:
        """Every form of ``terms`` that the model knows or an added document says, as a visitor
        reads it (a hashtag with its '#'), once."""
        phi, unlearned = self.model.phi, self.ranked.own.unlearned
        known = (
            (modality, phi[modality].tokens[column])
            for term in terms
            for modality, column, _ in term_columns(term, phi)
        )
        said = (
            (modality, token)
            for term in terms
            for modality, token, _ in term.forms
            if (modality, token) in unlearned
        )
        forms = (
            ("#" if modality == TAG else "") + self.display(modality, token)
            for modality, token in (*known, *said)
        )
        return list(dict.fromkeys(forms))

    @cached_property
    def suggester(self) -> Suggester:
        """ "Did you mean" over the words and hashtags the model knows, by their frequency."""
        forms: dict[str, float] = {}
        for modality in (TEXT, TAG) if TAG in self.model.phi else (TEXT,):
            frequencies = self.ranked.own.collection[modality]
            for column, token in enumerate(self.model.phi[modality].tokens):
                form = self.display(modality, token)
                forms[form] = max(forms.get(form, 0.0), float(frequencies[column]))
        lexicon = default_lexicon()
        return Suggester(
            forms,
            lambda word: (
                self.reader.can_read(word, self.ranking)
                or self.processor.word_token(word) in self._said_words
            ),
            lambda word: lexicon.knows(self.processor.word_token(word) or word),
        )

    def did_you_mean(self, text: str) -> str | None:
        """``text`` with its unknown words replaced by the nearest known ones
        (``core.serving.suggestions``), or None."""
        return self.suggester.did_you_mean(text)

    def document_tokens(self) -> Sequence[TokenCounts]:
        """Each document's tokens as counts per modality, as the model was trained on them
        (read from its record when asked for)."""
        return RecordTokens(self.documents)

    @cached_property
    def fit_reference(self) -> FitReference:
        """How well the collection's own documents, each left out and asked as a query, fit
        and how far they are from their nearest other document (computed once, on a sample)."""
        return FitReference.from_engine_parts(
            self.inferencer,
            self.document_tokens(),
            self.thetas,
            self.index,
            self.default_weights,
            words_of=lambda row: self.reader.typed_words(self.documents[row], self.ranking),
        )

    def query_fit(self, request: SearchRequest) -> QueryFit:
        """How well the request's query fits the model (``core.serving.fit``) under its weights
        and ranking; raises ``NothingRecognized``."""
        weights = self._weights(request.weights)
        ranking = request.ranking or self.ranking
        tokens, surfaces = self.reader.tokens_of(request.query)
        inferred = self.reader.infer(tokens, surfaces, weights, ranking)
        return self._fit(
            inferred.theta, self.reader.readable(tokens, ranking), weights, request.query
        )

    def _fit(
        self, theta: np.ndarray, tokens: TokenCounts, weights: Mapping[str, float], query: Query
    ) -> QueryFit:
        """The fit of ``query`` read as ``tokens``, saying what the visitor gave: typed words the
        model knows only as ImageNet classes are read as visual words, yet were not a photo."""
        extra_words = any(bag for modality, bag in query.extra.items() if modality != VISUAL)
        asked = kind_of(
            bool(query.text.strip()) or extra_words,
            query.image is not None or bool(query.extra.get(VISUAL)),
        )
        return self.fit_reference.fit(
            perplexity(self.model.phi, tokens, weights, theta), tokens, asked
        )

    def _matched(
        self,
        terms: Sequence[QueryTerm],
        row: int,
        surfaces: Mapping[str, Mapping[str, str]],
        weights: Mapping[str, float],
    ) -> tuple[list[str], float]:
        """The query's words and hashtags that the document itself contains, as typed; a word
        found through its translation shows both ('книга → book'); and the largest share of the
        forms found (1: a word itself, ``LEXICON_SHARE``: a dictionary translation, 0: none).
        A modality at weight 0 plays no part: its tokens are not looked for, and a word found
        by its hashtag alone shows the hashtag. A word the model never learned counts where
        ``term_shares`` counts it."""
        own, unlearned = self.documents[row].tokens, self.ranked.own.unlearned
        found, closest = [], 0.0
        for term in terms:
            (modality, token, _), *_ = term.forms
            if modality not in (TEXT, TAG):
                continue
            # as typed; a query without surfaces (more like a document): as the collection says it
            typed = surfaces.get(TEXT, {}).get(token) if modality == TEXT else None
            typed = typed or self.display(modality, token)
            typed = "#" + typed if modality == TAG else typed
            contained = [
                (form_modality, form, share)
                for form_modality, form, share in term.forms
                if weights.get(form_modality, 0.0) > 0
                and (
                    own.get(form_modality, {}).get(form)
                    or row in unlearned.get((form_modality, form), ())
                )
            ]
            if not contained:
                continue
            form_modality, form, share = contained[0]  # the first of the forms, as listed
            translated = self.display(form_modality, form)
            translated = "#" + translated if form_modality == TAG else translated
            if weights.get(modality, 0.0) <= 0:
                shown = translated
            else:
                shown = typed if share == 1.0 else f"{typed} → {translated}"
            if shown not in found:
                found.append(shown)
            closest = max(closest, *(share for _, _, share in contained))
        return found, closest

    def _weights(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        return dict(self.default_weights if weights is None else weights)

    def _same_photo_rows(
        self, query: Query, allowed: np.ndarray | None, weights: Mapping[str, float]
    ) -> list[int]:
        if query.image is None or weights.get(VISUAL, 0.0) <= 0:
            return []
        rows = self.documents.rows_of_image(content_hash(query.image))
        return [int(row) for row in rows if allowed is None or allowed[row]]

    def _hit(self, row: int, distance: float, same_photo: bool = False, score: float = 0.0) -> Hit:
        hit = document_hit(self.documents, row, distance, same_photo)
        hit.score = score
        return hit


class TopicCatalog:
    """A version's documents and each topic's share in them, read from its files without
    loading the model: what showing topics' typical documents needs, e.g. the moderators' topic
    review on a process that has not loaded the engine (that costs about 0.4-0.8 s here)."""

    def __init__(self, directory: Path) -> None:
        files = VersionFiles(Path(directory))
        self.documents = files.read_records()
        self.shares = files.read_topic_shares()  # topics x documents

    def typical_documents(
        self, topic: int, n: int = 8, allowed: np.ndarray | None = None
    ) -> list[TypicalDocument]:
        if not 0 <= topic < len(self.shares):
            raise ValueError(f"topic must be in 0..{len(self.shares) - 1}, got {topic}")
        return typical_documents(self.shares[topic], self.documents, n, allowed)


def typical_documents(
    shares: np.ndarray,
    documents: Sequence[Document],
    n: int,
    allowed: np.ndarray | None = None,
    min_share: float = 0.05,
) -> list[TypicalDocument]:
    """Up to ``n`` documents with the largest ``shares`` (one topic's share in every document's
    theta), each with at least ``min_share`` of it (a small topic may have fewer), leaving out
    rows that ``allowed`` marks False.

    Each hit's distance is its L1 distance to the pure topic, 2 * (1 - share).
    """
    shares = np.asarray(shares, dtype=np.float32)
    if allowed is not None:
        shares = np.where(allowed, shares, -1.0)
    if n < len(shares):
        candidates = np.argpartition(-shares, n)[:n]
        rows = candidates[np.lexsort((candidates, -shares[candidates]))]
    else:
        rows = np.argsort(-shares, kind="stable")
    return [
        TypicalDocument(
            document_hit(documents, int(row), 2.0 * (1.0 - float(shares[row]))),
            float(shares[row]),
        )
        for row in rows
        if shares[row] >= min_share
    ]


def document_hit(
    documents: Sequence[Document], row: int, distance: float, same_photo: bool = False
) -> Hit:
    doc = documents[row]
    image = str(doc.image) if doc.image else None
    return Hit(row, doc.id, doc.text, list(doc.tags), image, distance, same_photo)
