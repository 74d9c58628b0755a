"""Search and annotation over one model version, loaded from its directory.

A query (text and/or photo, plus any extra modality's tokens) becomes bags of tokens; theta comes
from ``core.serving.inference``; search is the nearest documents by L1 over document thetas;
annotation is p(w|d) = phi @ theta for any modality. Everything here is read-only after loading, so
one engine serves many threads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from core.reading.text import TAG, TEXT, TextProcessor, normalize_tag
from core.reading.twins import tag_twins
from core.reading.vision import (
    VISUAL,
    ImageVectorizer,
    content_hash,
    flatten_probabilities,
    sample_visual_words,
    top_classes,
    visual_display,
    visual_token,
)
from core.serving.annotation import (
    PHOTO_WORDS,
    AnnotationParams,
    Annotator,
    ClassNameWords,
    LabelTransfer,
    as_words,
)
from core.serving.answers import (
    Annotation,
    Hit,
    PhotoReading,
    Query,
    SearchResult,
    TypicalDocument,
    UnknownDocument,
)
from core.serving.bilingual import Translations, default_lexicon
from core.serving.fit import FitReference, QueryFit, perplexity
from core.serving.inference import NothingRecognized, QueryTheta, ThetaInferencer
from core.serving.model import ModelParams, TokenCounts
from core.serving.ranking import (
    DocumentTokens,
    QueryTerm,
    RankingParams,
    query_terms,
    ranking_scores,
    top_rows,
)
from core.serving.version_files import VersionFiles

TOP_TERMS_KEPT = 32
LIKELIHOOD_CANDIDATES = 2000  # above this many documents, likelihood ranks candidates only


class SearchEngine:
    """One model version's artifacts: phi, display forms, documents, index."""

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
        self.documents = files.read_document_records()
        self.index = files.read_index()
        # A plain view of the (memory-mapped) thetas: every slice of a memmap builds a memmap.
        self.thetas = np.asarray(self.index.thetas)
        self.inferencer = ThetaInferencer.from_params(self.model.phi, self.params)
        self.processor = processor
        self.vectorizer = vectorizer
        self.annotation_params = AnnotationParams()
        self.tags_by_word = self._tags_by_word()
        self._top_term_rows: dict[str, np.ndarray] = {}  # modality -> topics x TOP_TERMS_KEPT
        self.own_tokens = self._own_tokens()
        self.rows_by_image_hash: dict[str, list[int]] = {}
        for row, doc in enumerate(self.documents):
            if doc.get("image_hash"):
                self.rows_by_image_hash.setdefault(doc["image_hash"], []).append(row)

    def _own_tokens(self) -> DocumentTokens:
        """Each document's own tokens for the likelihood ranking; a photo without words or
        hashtags is given its predicted ones (``photo_words``), so words can find it. The
        collection frequencies that smooth them stay those of the real words."""
        documents = self.document_tokens()
        written = DocumentTokens(self.model.phi, documents)
        wordless = [
            row
            for row, doc in enumerate(documents)
            if doc.get(VISUAL) and not any(doc.get(m) for m in (TEXT, TAG))
        ]
        if not wordless:
            return written
        for row in wordless:
            documents[row] = {**documents[row], **self.photo_words(documents[row][VISUAL], row)}
        return DocumentTokens(self.model.phi, documents, written.collection)

    def photo_words(self, visual: Mapping[str, float], row: int | None = None) -> TokenCounts:
        """What a photo without words is searched by: the top ``PHOTO_WORDS`` words and
        hashtags of its annotation from its visual words alone (label transfer from the
        documents that have words, blended with p(w|d)), as a document of their own
        (``core.serving.annotation.as_words``). ``row``: the photo's document, whose theta is
        known."""
        theta = (
            self.thetas[row]
            if row is not None
            else self.inferencer.transform({VISUAL: Counter(visual)}, self.default_weights).theta
        )
        modalities = [m for m in (TAG, TEXT) if m in self.model.phi]
        scored = self.annotator.scores(
            self.annotation_params,
            modalities,
            {VISUAL: Counter(visual)},
            theta,
            self.default_weights,
            None,
            visual,
            self.index,
            limit=PHOTO_WORDS,
        )
        best = {m: sorted(found.items(), key=lambda item: -item[1]) for m, found in scored.items()}
        return as_words({m: found[:PHOTO_WORDS] for m, found in best.items()})

    @property
    def modalities(self) -> list[str]:
        return list(self.model.phi)

    @property
    def default_weights(self) -> dict[str, float]:
        return {m: float(self.params.modality_weights.get(m, 1.0)) for m in self.modalities}

    def display(self, modality: str, token: str) -> str:
        return display_form(self.display_forms, modality, token)

    def _tags_by_word(self) -> dict[str, list[str]]:
        """Hashtags by the `@text` token of their name: 'birds' is found by 'bird'."""
        tags: dict[str, list[str]] = {}
        for tag in self.model.phi[TAG].tokens if TAG in self.model.phi else []:
            token = self.processor.word_token(tag)
            if token is not None:
                tags.setdefault(token, []).append(tag)
        return tags

    def tokens_of(self, query: Query) -> tuple[TokenCounts, dict[str, dict[str, str]]]:
        """Bags of tokens per modality, and each token's surface form in the query.

        A word and a hashtag of the same normalized form are one thing to a visitor: every query
        word also counts as the hashtags that share its form ('bird' as #birds, and #птицы for
        'птица' through the Russian twin), and a typed hashtag also counts as its word.
        """
        tokens: TokenCounts = {m: Counter(bag) for m, bag in query.extra.items()}
        surfaces: dict[str, dict[str, str]] = {}
        if query.text.strip():
            analyzed = self.processor.analyze(query.text)
            for modality, token, surface in analyzed.surfaces:
                tokens.setdefault(modality, Counter())[token] += 1
                surfaces.setdefault(modality, {}).setdefault(token, surface)
            words = Counter(analyzed.tokens[TEXT])
            for tag, count in analyzed.tokens[TAG].items():
                word = self.processor.word_token(tag)
                if word is not None and word not in words:
                    words[word] += count
                    tokens.setdefault(TEXT, Counter())[word] += count
                    surfaces.setdefault(TEXT, {}).setdefault(word, "#" + tag)
            for token, count in words.items():
                for tag in self.tags_by_word.get(token, ()):
                    if tag not in analyzed.tokens[TAG]:
                        tokens.setdefault(TAG, Counter())[tag] += count
        if query.image is not None:
            tokens[VISUAL] = self.visual_words(query.image)
        return tokens, surfaces

    def visual_words(self, image: bytes | Path) -> Counter[str]:
        """The photo's sampled visual words (deterministic for the same image content)."""
        return visual_words(self._probabilities(image), self.params, content_hash(image))

    def read_photo(self, image: bytes | Path, top: int = 10) -> PhotoReading:
        """The steps from a photo to its visual words, for showing them (raises ``ImageError``).

        Only the Annotate page needs the intermediate steps; queries call ``visual_words``.
        """
        probabilities = self._probabilities(image)
        return PhotoReading(
            probabilities=probabilities,
            flattened=flatten_probabilities(probabilities, self.params.flattening_strength),
            visual_words=visual_words(probabilities, self.params, content_hash(image)),
            top_classes=top_classes(probabilities, top),
            samples=self.params.visual_samples,
        )

    def _probabilities(self, image: bytes | Path) -> np.ndarray:
        if self.vectorizer is None:
            raise RuntimeError("this engine was loaded without an image backbone")
        return self.vectorizer.probabilities([image])[0]

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

    def warm_up(self) -> None:
        """Computes now what searches would compute on first use (the translations with the
        dictionary, the fit reference, the rows by id), so that a serving process can freeze
        them with the rest of the loaded model (``core.serving.service``) instead of having the
        garbage collector walk them after every page."""
        for part in ("translations", "fit_reference", "rows_by_id"):
            getattr(self, part)

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
        bags = self.documents[row].get("tokens", {})
        return row, Query(extra={modality: Counter(bag) for modality, bag in bags.items()})

    @cached_property
    def rows_by_id(self) -> dict[str, int]:
        return {doc["id"]: row for row, doc in enumerate(self.documents)}

    def document_theta(self, row: int) -> np.ndarray:
        return self.thetas[row]

    def _check_topic(self, topic: int) -> None:
        if not 0 <= topic < self.inferencer.num_topics:
            raise ValueError(f"topic must be in 0..{self.inferencer.num_topics - 1}, got {topic}")

    def infer(
        self,
        query: Query,
        weights: Mapping[str, float] | None = None,
        ranking: RankingParams | None = None,
    ) -> QueryTheta:
        """Theta of the query; raises ``NothingRecognized`` (with the unknown tokens)."""
        tokens, surfaces = self.tokens_of(query)
        return self._infer(tokens, surfaces, self._weights(weights), ranking or self.ranking)

    def _infer(
        self,
        tokens: TokenCounts,
        surfaces: dict[str, dict[str, str]],
        weights: Mapping[str, float],
        ranking: RankingParams,
    ) -> QueryTheta:
        try:
            result = self.inferencer.transform(self.readable(tokens, ranking), weights)
        except NothingRecognized as error:
            raise NothingRecognized(_surface_forms(error.unknown, surfaces)) from None
        result.unknown = _surface_forms(result.unknown, surfaces)
        return result

    def search(
        self,
        query: Query,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        allowed: np.ndarray | None = None,
        ranking: RankingParams | None = None,
    ) -> SearchResult:
        """The k best documents for the query by the version's ranking (``core.serving.ranking``):
        nearest topic vectors (L1), or the query's likelihood with topic smoothing.

        A query photo that is itself in the collection (same bytes) puts its document(s) first:
        topic vectors of different photos can tie, identical bytes cannot be a worse match.
        Every hit says which query tokens it contains and whether it is weak: it contains none
        of them, and it lies beyond the collection's usual distances or answers a query that
        fits badly (``core.serving.fit``), or other hits of a words-only query do contain them.
        """
        if k < 1:  # the likelihood ranking never asks the index, which would refuse it too
            raise ValueError(f"k must be >= 1, got {k}")
        weights = self._weights(weights)
        ranking = ranking or self.ranking
        tokens, surfaces = self.tokens_of(query)
        inferred = self._infer(tokens, surfaces, weights, ranking)
        terms = self.query_terms(tokens, ranking)
        if ranking.method == "topics":
            rows, distances = self.index.query(inferred.theta, k, allowed)
        else:
            rows = self._rank_by_likelihood(terms, inferred.theta, k, weights, allowed, ranking)
            distances = [self._distance(inferred.theta, int(row)) for row in rows]
        hits = [self._hit(int(row), float(dist)) for row, dist in zip(rows, distances, strict=True)]
        same = self._same_photo_rows(query, allowed, weights)
        if same:
            hits = [self._hit(row, self._distance(inferred.theta, row), True) for row in same] + [
                hit for hit in hits if hit.row not in same
            ]
        hits = hits[:k]
        fit = self._fit(inferred.theta, self.readable(tokens, ranking), weights)
        for hit in hits:
            hit.matched = self._matched(terms, hit.row, surfaces)
        # a words-only query whose words some hits contain: a hit with none of them is a guess
        # by topics, however near its topic vector lies
        outworded = query.image is None and any(hit.matched for hit in hits)
        for hit in hits:
            guessed = outworded or fit.weak or fit.is_weak(hit.distance)
            hit.weak = not hit.same_photo and not hit.matched and guessed
        return SearchResult(
            self.version_name, inferred, hits, tokens, weights, fit=fit, ranking=ranking.label
        )

    def _rank_by_likelihood(
        self,
        terms: Sequence[QueryTerm],
        theta: np.ndarray,
        k: int,
        weights: Mapping[str, float],
        allowed: np.ndarray | None,
        ranking: RankingParams,
    ) -> np.ndarray:
        """Rows of the k most likely documents. A large collection scores only candidates: the
        documents that contain a query term and the ``LIKELIHOOD_CANDIDATES`` nearest by
        topics (a document with neither cannot be likely)."""
        thetas, own = self.thetas, self.own_tokens
        candidates = None
        if len(self.documents) > LIKELIHOOD_CANDIDATES:
            nearest, _ = self.index.query(theta, LIKELIHOOD_CANDIDATES, allowed)
            candidates = np.union1d(nearest, own.rows_with(terms, self.model.phi)).astype(int)
            thetas, own = np.asarray(thetas[candidates]), own.subset(candidates)
            allowed = None if allowed is None else allowed[candidates]
        scores = ranking_scores(terms, weights, self.model.phi, thetas, own, ranking)
        rows = top_rows(scores, k, allowed)
        return rows if candidates is None else candidates[rows]

    def document_tokens(self) -> list[TokenCounts]:
        """Each document's tokens as counts per modality, as the model was trained on them."""
        return [_token_counts(doc.get("tokens", {})) for doc in self.documents]

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
            words_of=self._typed_words,
        )

    def _typed_words(self, row: int) -> TokenCounts:
        """Document ``row``'s caption and hashtags as the query path reads them when a visitor
        types them (a caption too long to type: its own tokens)."""
        doc = self.documents[row]
        text = " ".join([doc.get("text") or "", *(f"#{tag}" for tag in doc.get("tags", []))])
        try:
            tokens, _ = self.tokens_of(Query(text=text.strip()))
        except ValueError:
            tokens = _token_counts(doc.get("tokens", {}))
        readable = self.readable(tokens, self.ranking)
        return {modality: bag for modality, bag in readable.items() if modality != VISUAL and bag}

    def query_terms(self, tokens: TokenCounts, ranking: RankingParams) -> list[QueryTerm]:
        """The query's tokens grouped into terms: a word with its hashtags and translations
        (``core.serving.ranking``), the dictionary's among them if ``ranking`` wants them."""
        return query_terms(tokens, self.tags_by_word, self._translations(ranking).of)

    def readable(self, tokens: TokenCounts, ranking: RankingParams) -> TokenCounts:
        """The query's tokens as the model can read them: a word it does not know stands for
        its translations that it does, its count shared among them by their shares (so a
        Russian word the collection never uses still places the query in topic space)."""
        words = tokens.get(TEXT)
        known = self.model.phi[TEXT].index if TEXT in self.model.phi else {}
        if not words or all(word in known for word in words):
            return tokens
        translations, readable = self._translations(ranking), Counter()
        for word, count in words.items():
            found = [(w, s) for w, s in translations.of(word) if w in known]
            if word in known or not found:
                readable[word] += count
                continue
            total = sum(share for _, share in found)
            for translation, share in found:
                readable[translation] += count * share / total
        return {**tokens, TEXT: readable}

    def _translations(self, ranking: RankingParams) -> Translations:
        return self.translations if ranking.lexicon else self.translations.learned_only()

    @cached_property
    def translations(self) -> Translations:
        """Word pairs across Russian and English learned from the bilingual documents, then
        the shipped dictionary's (``core.serving.bilingual``)."""
        return Translations.learn(
            self.document_tokens(),
            self.processor.word_token,
            lexicon=default_lexicon(),
        )

    def query_fit(self, query: Query, weights: Mapping[str, float] | None = None) -> QueryFit:
        """How well the query fits the model (``core.serving.fit``); raises "
        "``NothingRecognized``."""
        weights = self._weights(weights)
        tokens, surfaces = self.tokens_of(query)
        inferred = self._infer(tokens, surfaces, weights, self.ranking)
        return self._fit(inferred.theta, self.readable(tokens, self.ranking), weights)

    def _fit(
        self, theta: np.ndarray, tokens: TokenCounts, weights: Mapping[str, float]
    ) -> QueryFit:
        return self.fit_reference.fit(perplexity(self.model.phi, tokens, weights, theta), tokens)

    def _matched(
        self,
        terms: Sequence[QueryTerm],
        row: int,
        surfaces: Mapping[str, Mapping[str, str]],
    ) -> list[str]:
        """The query's words and hashtags that the document itself contains, as typed; a word
        found through its translation shows both ('книга → book')."""
        own = self.documents[row].get("tokens", {})
        found = []
        for term in terms:
            (modality, token, _), *_ = term.forms
            if modality not in (TEXT, TAG):
                continue
            typed = surfaces.get(TEXT, {}).get(token) if modality == TEXT else None
            typed = typed or ("#" + token if modality == TAG else token)
            for form_modality, form, share in term.forms:
                if own.get(form_modality, {}).get(form):
                    translated = self.display(form_modality, form)
                    translated = "#" + translated if form_modality == TAG else translated
                    shown = typed if share == 1.0 else f"{typed} → {translated}"
                    if shown not in found:
                        found.append(shown)
                    break
        return found

    @cached_property
    def annotator(self) -> Annotator:
        """Scores words for annotation (its document tables are built on the first use)."""
        tokens = [doc.get("tokens", {}) for doc in self.documents]
        transfer = LabelTransfer(tokens, self.model.phi, self.inferencer)
        return Annotator(
            transfer, ClassNameWords(self.processor), self.tags_by_word, tag_twins().slot
        )

    def annotate(
        self,
        query: Query,
        modalities: list[str] | None = None,
        k: int = 10,
        weights: Mapping[str, float] | None = None,
        exclude_query_tokens: bool = False,
        params: AnnotationParams | None = None,
    ) -> dict[str, list[Annotation]]:
        """Top-k tokens per modality: p(w|d) = phi @ theta of the query blended with label
        transfer from the nearest documents and, for a photo, the backbone's class names
        (see ``core.serving.annotation``)."""
        params = params or self.annotation_params
        weights = self._weights(weights)
        modalities = modalities or [m for m in (TAG, TEXT) if m in self.model.phi]
        unknown = [m for m in modalities if m not in self.model.phi]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]}; known: {self.modalities}")
        tokens, surfaces = self.tokens_of(Query(query.text, None, query.extra))
        probabilities, expected = None, Counter()
        if query.image is not None:
            probabilities = self._probabilities(query.image)
            expected = expected_visual_words(probabilities, self.params)
            if params.expected_visual:
                tokens[VISUAL] = expected
            else:
                tokens[VISUAL] = visual_words(probabilities, self.params, content_hash(query.image))
        inferred = self._infer(
            self._with_caption(tokens, probabilities, params), surfaces, weights, self.ranking
        )
        scored = self.annotator.scores(
            params,
            modalities,
            tokens,
            inferred.theta,
            weights,
            probabilities,
            expected,
            self.index,
            limit=k + sum(len(tokens.get(m, ())) for m in modalities if exclude_query_tokens),
        )
        annotations = {}
        for modality, scores in scored.items():
            skip = set(tokens.get(modality, ())) if exclude_query_tokens else set()
            ranked = sorted((t for t in scores if t not in skip), key=lambda t: -scores[t])
            annotations[modality] = [
                Annotation(token, self._annotation_display(modality, token), scores[token])
                for token in ranked[:k]
            ]
        return annotations

    def _with_caption(
        self,
        tokens: TokenCounts,
        probabilities: np.ndarray | None,
        params: AnnotationParams,
    ) -> TokenCounts:
        """The query's tokens plus, for a photo, the pseudo-caption of its class names that
        ``params.class_name_caption`` asks for: what its theta is inferred from."""
        if probabilities is None or params.class_name_caption <= 0 or TEXT not in self.model.phi:
            return tokens
        caption = self.annotator.class_names.caption(
            probabilities, self.model.phi[TEXT].index, params.class_name_caption
        )
        return {**tokens, TEXT: tokens.get(TEXT, Counter()) + caption}

    def _annotation_display(self, modality: str, token: str) -> str:
        """A word the collection lacks is a class-name word; a hashtag shows with its twin."""
        if modality == TEXT and token not in self.display_forms.get(TEXT, {}):
            return self.annotator.class_names.display(token)
        twin = self.tag_twin_tokens.get(token) if modality == TAG else None
        if twin is not None and twin in self.model.phi[TAG].index:
            return f"{self.display(TAG, token)} / {self.display(TAG, twin)}"
        return self.display(modality, token)

    @cached_property
    def tag_twin_tokens(self) -> dict[str, str]:
        """The Russian twin's token of each category tag's token (``core.reading.twins``)."""
        return {normalize_tag(tag): normalize_tag(twin) for tag, twin in tag_twins().twins.items()}

    def _weights(self, weights: Mapping[str, float] | None) -> dict[str, float]:
        return dict(self.default_weights if weights is None else weights)

    def _same_photo_rows(
        self, query: Query, allowed: np.ndarray | None, weights: Mapping[str, float]
    ) -> list[int]:
        if query.image is None or weights.get(VISUAL, 0.0) <= 0:
            return []
        rows = self.rows_by_image_hash.get(content_hash(query.image), [])
        return [row for row in rows if allowed is None or allowed[row]]

    def _distance(self, theta: np.ndarray, row: int) -> float:
        return float(np.abs(self.thetas[row] - theta).sum())

    def _hit(self, row: int, distance: float, same_photo: bool = False) -> Hit:
        return document_hit(self.documents, row, distance, same_photo)


class TopicCatalog:
    """A version's documents and each topic's share in them, read from its files without
    loading the model: what showing topics' typical documents needs, e.g. the moderators' topic
    review on a process that has not loaded the engine (that costs about 0.4-0.8 s here)."""

    def __init__(self, directory: Path) -> None:
        files = VersionFiles(Path(directory))
        self.documents = files.read_document_records()
        self.shares = files.read_topic_shares()  # topics x documents

    def typical_documents(
        self, topic: int, n: int = 8, allowed: np.ndarray | None = None
    ) -> list[TypicalDocument]:
        if not 0 <= topic < len(self.shares):
            raise ValueError(f"topic must be in 0..{len(self.shares) - 1}, got {topic}")
        return typical_documents(self.shares[topic], self.documents, n, allowed)


def typical_documents(
    shares: np.ndarray,
    documents: Sequence[Mapping],
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
    documents: Sequence[Mapping], row: int, distance: float, same_photo: bool = False
) -> Hit:
    doc = documents[row]
    return Hit(row, doc["id"], doc["text"], doc["tags"], doc.get("image"), distance, same_photo)


def _token_counts(tokens: Mapping[str, Mapping[str, float]]) -> TokenCounts:
    return {modality: Counter(bag) for modality, bag in tokens.items()}


def display_form(display_forms: Mapping[str, Mapping[str, str]], modality: str, token: str) -> str:
    """How a token is shown: ImageNet class name, or the most frequent surface form seen."""
    if modality == VISUAL:
        return visual_display(token)
    return display_forms.get(modality, {}).get(token, token)


def visual_words(probabilities: np.ndarray, params: ModelParams, image_hash: str) -> Counter[str]:
    """A photo's visual words as the model's parameters sample them; the same for the same
    image content, whether it is a collection document or a query."""
    return Counter(
        sample_visual_words(
            probabilities,
            n_samples=params.visual_samples,
            strength=params.flattening_strength,
            seed=image_hash,
        )
    )


def expected_visual_words(probabilities: np.ndarray, params: ModelParams) -> Counter[str]:
    """A photo's visual words as the expected counts of the draws ``visual_words`` makes:
    ``visual_samples`` times the flattened distribution (fractional counts, no sampling noise)."""
    flat = flatten_probabilities(probabilities, params.flattening_strength)
    expected = params.visual_samples * flat / flat.sum()
    return Counter({visual_token(int(i)): float(expected[i]) for i in np.flatnonzero(expected > 0)})


def _surface_forms(
    unknown: Mapping[str, list[str]], surfaces: Mapping[str, Mapping[str, str]]
) -> dict[str, list[str]]:
    return {
        modality: [surfaces.get(modality, {}).get(token, token) for token in tokens]
        for modality, tokens in unknown.items()
    }
