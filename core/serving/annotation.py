"""Words for a query: the topic model's p(w|d) blended with label transfer from near documents.

p(w|d) = phi @ theta predicts through topics shared by many documents, so it leans to frequent
words; a photo's nearest collection documents carry the rare, specific words (a variant of the same
drawing, a stamp from the same folder). Label transfer (Makadia et al., "A new baseline for image
annotation", ECCV 2008) copies their words; the blend keeps the topic model's words where no
neighbour is close. Each document's words are in the version's ``documents.jsonl``, so nothing
new is stored.

Neighbours are searched in one of two spaces, both derived from what the model already has:

* ``visual``: L1 between the query's distribution of visual words and each document's (its
  sampled visual words, normalized); for a photo query this is close to comparing the CNN outputs.
  The nearest are found exactly by bounds over the query's heaviest visual words
  (``LabelTransfer.neighbours``), not by a distance to every document.
* ``topics``: L1 between the query's theta and each document's theta inferred from its visual
  words alone (a photo compared with photos, in topic space).

The visual distance can add the topic distance as a second view (``topic_distance_weight``).
The neighbours vote in one of two ways: the ``neighbours`` nearest documents by rank (JEC-like,
1/i^decay), or 2PKNN's two passes (Verma & Jawahar, "Image annotation using metric learning in
semantic neighbourhoods", ECCV 2012): each word's own nearest examples are pooled, so a rare
word whose examples are far down the overall ranking is still weighed, and then every pooled
document votes by exp(-decay x distance).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from core.reading.collection import Document, TokenCounts
from core.reading.images import content_hash
from core.reading.text import HASHTAG_PATTERN, TAG, TEXT, normalize_tag
from core.reading.twins import tag_twins
from core.reading.vision import VISUAL
from core.serving.answers import Annotation, AnnotationRequest, Query
from core.serving.class_words import ClassNameWords
from core.serving.index import NeighborIndex, bounded_candidates, heaviest_first
from core.serving.inference import ThetaInferencer
from core.serving.model import Phi
from core.serving.ranking import (
    LOOKALIKE_CANDIDATES,
    DocumentTokens,
    RankingParams,
    bag_distribution,
)
from core.serving.reader import (
    QueryReader,
    Surfaces,
    display_form,
    expected_visual_words,
    visual_words,
)

NEIGHBOUR_SPACES = ("visual", "topics")
# A document's exact visual distance (``counts_at``: then a binary search in each of the query's
# columns) costs about as much as reading this many entries of each column (measured at 300k
# documents, before the document-major copy).
CHECK_COST = 8
# Past this many documents that can pass labels on, a photo's neighbours are the nearest of its
# look-alikes (``DocumentTokens.look_alike``), not proven the nearest of all: the bounds read
# about half of every visual word's entries (a photo's expected visual words spread), seconds
# a photo at ten million documents. ``python -m core scale-query`` reports their recall.
EXACT_NEIGHBOURS = 100_000


@dataclass(frozen=True)
class AnnotationParams:
    """How annotation ranks words.

    ``transfer_weight`` is the share of label transfer in the blend (0: p(w|d) alone, the
    article's annotation); ``neighbours`` how many near documents vote, the i-th nearest (from 1)
    with weight ``1 / i ** vote_decay`` (a large decay copies the nearest document, as JEC does).
    ``expected_visual`` infers a
    query photo's theta from the expected counts of its flattened class distribution instead of
    the seeded draw of visual words that documents get (neighbours are always searched with the
    expected distribution). The backbone's own class names (:class:`ClassNameWords`) give a
    photo words for concepts the collection lacks: their share is ``class_name_weight`` times
    half the L1 distance from the photo to its nearest document (near 0 for a photo like one
    of the collection's, up to ``class_name_weight`` for a photo unlike any).
    ``class_name_caption`` lets the class names place the photo in topic space as well: its
    theta is inferred from its visual words plus a pseudo-caption of that many ``@text``
    words, the class-name words the model knows, each in proportion to its score, so that
    p(w|d) (hashtags included) follows what the backbone sees (0: visual words alone).
    ``class_name_cooccurrence`` gives a class-name word's score to the hashtags of the
    collection's documents that contain the word (p(tag | word), each document's hashtags
    sharing one vote) instead of only to the hashtags named like it.
    ``label_neighbours`` > 0 switches a photo's votes to 2PKNN (see the module): each word's
    that many nearest examples are pooled and vote by exp(-``distance_decay`` x distance)
    (0: the ``neighbours`` nearest documents vote by rank). ``topic_distance_weight`` (mu)
    measures a photo's visual distance as visual L1 + mu x the topic L1 of the ``topics`` space.

    The defaults are the best setting of ``python -m core eval --sweep-annotation`` (validation
    photos of the benchmark collection, EfficientNet-Lite0; ``reports/annotation_sweep.json``).
    """

    transfer_weight: float = 0.8
    neighbours: int = 5
    neighbour_space: str = "visual"
    vote_decay: float = 8.0
    expected_visual: bool = False
    class_name_weight: float = 0.5
    class_name_caption: float = 0.25
    class_name_cooccurrence: bool = False
    label_neighbours: int = 0
    distance_decay: float = 50.0
    topic_distance_weight: float = 0.0
    learned_distance: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.transfer_weight <= 1.0:
            raise ValueError(f"transfer_weight must be in [0, 1], got {self.transfer_weight}")
        if self.neighbours < 1:
            raise ValueError(f"neighbours must be >= 1, got {self.neighbours}")
        if self.vote_decay < 0:
            raise ValueError(f"vote_decay must be >= 0, got {self.vote_decay}")
        if self.neighbour_space not in NEIGHBOUR_SPACES:
            raise ValueError(
                f"neighbour_space must be one of {NEIGHBOUR_SPACES}, got {self.neighbour_space!r}"
            )
        if not 0.0 <= self.class_name_weight <= 1.0:
            raise ValueError(f"class_name_weight must be in [0, 1], got {self.class_name_weight}")
        if self.class_name_caption < 0:
            raise ValueError(f"class_name_caption must be >= 0, got {self.class_name_caption}")
        if self.label_neighbours < 0:
            raise ValueError(f"label_neighbours must be >= 0, got {self.label_neighbours}")
        if self.distance_decay < 0:
            raise ValueError(f"distance_decay must be >= 0, got {self.distance_decay}")
        if self.topic_distance_weight < 0:
            raise ValueError(
                f"topic_distance_weight must be >= 0, got {self.topic_distance_weight}"
            )


# The article's annotation: p(w|d) alone, from sampled visual words.
TOPICS_ONLY = AnnotationParams(
    transfer_weight=0.0, expected_visual=False, class_name_weight=0.0, class_name_caption=0.0
)


# A photo's predicted words, as a document of its own: how many words and how long a document.
PHOTO_WORDS = 20
PHOTO_WORDS_LENGTH = 10.0


def as_words(
    scored: Mapping[str, Sequence[tuple[str, float]]], length: float = PHOTO_WORDS_LENGTH
) -> TokenCounts:
    """A photo's annotation (modality -> [(token, score)], best first) as the token counts of a
    document ``length`` tokens long per modality, each token in proportion to its score: what
    a photo without a caption can be searched by."""
    words: TokenCounts = {}
    for modality, found in scored.items():
        total = sum(score for _, score in found if score > 0)
        if total > 0:
            words[modality] = Counter(
                {token: length * score / total for token, score in found if score > 0}
            )
    return words


def _l1_to_rows(
    query: np.ndarray, matrix: sparse.csr_matrix, weights: np.ndarray | None = None
) -> np.ndarray:
    """L1 between a dense non-negative vector and every row of a non-negative sparse matrix,
    each column weighted by ``weights`` (None: all 1): w.q + w.d - 2 sum w min(q, d), computed
    over the rows' nonzero entries only."""
    weights = np.ones(matrix.shape[1]) if weights is None else weights
    overlap = sparse.csr_matrix(
        (
            np.minimum(matrix.data, query[matrix.indices]) * weights[matrix.indices],
            matrix.indices,
            matrix.indptr,
        ),
        shape=matrix.shape,
    )
    shared = np.asarray(overlap.sum(axis=1)).ravel()
    return query @ weights + matrix @ weights - 2.0 * shared


def _l1_to_counts(query: np.ndarray, counts: DocumentTokens) -> np.ndarray:
    """L1 between a dense distribution over visual words and every document's visual words as
    a distribution, read in place from the token-major ``counts`` (memory-mapped: no document x
    token copy), one token's column at a time (``DocumentTokens.column_shares``): sum(q) + 1 -
    2 sum min(q, d) for a document with visual words, sum(q) for one without. Equals
    ``_l1_to_rows`` over the normalized rows. The columns are read heaviest first
    (``heaviest_first``), as the bounds read them, and ``_l1_to_counts_at`` adds the rest in
    the same order: the two give bit-equal distances."""
    scale = counts.inverse_lengths(VISUAL)
    shared = np.zeros(len(scale))
    for column in heaviest_first(query):
        for rows, shares in counts.column_shares(VISUAL, int(column), query[column]):
            shared[rows] += shares
    return query.sum() + (scale > 0) - 2.0 * shared


def _l1_to_counts_at(
    query: np.ndarray, counts: DocumentTokens, rows: np.ndarray, shared: np.ndarray, read: int
) -> np.ndarray:
    """``_l1_to_counts`` of the documents at ``rows`` (ascending) alone, bit for bit, given the
    mass they share with the query over its ``read`` heaviest columns (``shared``, summed in
    that order): the rows' counts of the other columns (``DocumentTokens.entries_at``: from
    the version's document-major copy, or by binary search in each column) added in the
    columns' order, as the full pass adds them (a token a row lacks adds an exact 0)."""
    scale = counts.inverse_lengths(VISUAL)[rows]
    columns = heaviest_first(query)[read:]
    at, places, found = counts.entries_at(VISUAL, columns, rows)
    terms = np.zeros((len(columns), len(rows)))  # a column's terms lie together
    terms[places, at] = np.minimum(found * scale[at], query[columns][places])
    shared = np.array(shared, dtype=np.float64)
    for column_terms in terms:
        shared += column_terms
    return query.sum() + (scale > 0) - 2.0 * shared


def _nearest(rows: np.ndarray, distances: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k of ``rows`` with the smallest finite ``distances`` (aligned with them), nearest
    first, ties by row, and their distances."""
    finite = np.flatnonzero(np.isfinite(distances))
    if len(finite) > k > 0:
        kth = np.partition(distances[finite], k - 1)[k - 1]
        finite = finite[distances[finite] <= kth]
    order = finite[np.lexsort((rows[finite], distances[finite]))][:k]
    return rows[order].astype(np.int64), distances[order]


# Random document pairs (of each kind) that fit the learned visual distance; a fixed seed.
METRIC_PAIRS = 4000
METRIC_SEED = 0


def fit_visual_weights(
    visual: sparse.csr_matrix, tags: sparse.csr_matrix, pairs: int = METRIC_PAIRS
) -> np.ndarray:
    """Per visual word weights of the L1 distance, fitted on the documents' hashtags: how much
    more the word's share differs between random documents that share no hashtag than between
    random documents that share one (smoothed), scaled so that the mean weighted distance of
    the unrelated pairs is their plain L1. All 1 where the documents give no pairs of a kind."""
    rng = np.random.default_rng(METRIC_SEED)
    usable = np.flatnonzero((np.diff(visual.indptr) > 0) & (np.diff(tags.indptr) > 0))
    by_tag = sparse.csc_matrix(tags[usable])
    sizes = np.diff(by_tag.indptr)
    shared_tags = np.flatnonzero(sizes > 1)
    if len(shared_tags) == 0 or len(usable) < 2:
        return np.ones(visual.shape[1])
    chosen = rng.choice(shared_tags, pairs, p=sizes[shared_tags] / sizes[shared_tags].sum())
    starts, counts = by_tag.indptr[chosen], sizes[chosen]
    first = by_tag.indices[starts + (rng.random(pairs) * counts).astype(int)]
    second = by_tag.indices[starts + (rng.random(pairs) * counts).astype(int)]
    together = usable[first[first != second]], usable[second[first != second]]
    left, right = rng.choice(usable, pairs), rng.choice(usable, pairs)
    apart = (tags[left].multiply(tags[right]).sum(axis=1).A1 == 0) & (left != right)
    if not apart.any() or not len(together[0]):
        return np.ones(visual.shape[1])

    def mean_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(abs(visual[a] - visual[b]).mean(axis=0)).ravel()

    unrelated = mean_difference(left[apart], right[apart])
    related = mean_difference(*together)
    smoothing = unrelated.mean()
    weights = (unrelated + smoothing) / (related + smoothing)
    return weights * unrelated.sum() / (weights @ unrelated)


class LabelTransfer:
    """Neighbour votes over the documents' words and visual words.

    The default path (neighbours by visual words, votes by rank) reads the documents' stored
    token counts (``DocumentTokens``, memory-mapped and shared by a node's replicas) in place and
    the few neighbours' words from their records: a replica holds no copy of the collection's
    counts, which at ten million documents would be gigabytes per replica. The other settings
    (2PKNN, the learned distance, the topic space, class names by co-occurrence) build document
    x token matrices in memory on their first use.
    """

    def __init__(
        self,
        counts: DocumentTokens,
        phi: Mapping[str, Phi],
        inferencer: ThetaInferencer,
        documents: Sequence[Document],
    ) -> None:
        """``documents``: the same documents' records, in row order (their tokens)."""
        self.phi = dict(phi)
        self.inferencer = inferencer
        self.counts = counts
        self.documents = documents

    def _counts(self, modality: str) -> sparse.csr_matrix:
        """documents x the modality's phi tokens: each document's counts, a row at hand."""
        parts = self.counts.parts[modality]
        return sparse.csr_matrix(sum(parts[1:], parts[0]), dtype=np.float64)

    def _matrix(self, modality: str, normalize: str) -> sparse.csr_matrix:
        """documents x the modality's phi tokens; rows sum to 1 (``counts``: by count, ``set``:
        every present token alike)."""
        matrix = self._counts(modality)
        if normalize == "set":
            matrix.data[:] = 1.0
        totals = np.asarray(matrix.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        return sparse.csr_matrix(sparse.diags(scale) @ matrix)

    @cached_property
    def _visual(self) -> sparse.csr_matrix:
        return self._matrix(VISUAL, "counts")

    @cached_property
    def _words(self) -> dict[str, sparse.csr_matrix]:
        return {m: self._matrix(m, "set") for m in self.phi if m != VISUAL}

    def words(self, modality: str) -> sparse.csr_matrix:
        """documents x the modality's tokens, each document's tokens sharing one vote."""
        return self._words[modality]

    @cached_property
    def _can_pass_labels(self) -> np.ndarray:
        """Documents with visual words and with words: the only possible neighbours."""
        lengths = self.counts.lengths
        has_words = sum(lengths[m] for m in self.phi if m != VISUAL) > 0
        return (lengths[VISUAL] > 0) & has_words

    def _photo_thetas(self, weights: Mapping[str, float]) -> np.ndarray:
        key = float(weights.get(VISUAL, 0.0))
        cache = self.__dict__.setdefault("_photo_theta_cache", {})
        if key not in cache:
            counts, tokens = self._counts(VISUAL), self.phi[VISUAL].tokens
            photos = []
            for start, end in zip(counts.indptr[:-1], counts.indptr[1:], strict=True):
                columns, values = counts.indices[start:end], counts.data[start:end]
                bag = {tokens[c]: float(v) for c, v in zip(columns, values, strict=True)}
                photos.append({VISUAL: Counter(bag)})
            cache[key] = self.inferencer.transform_many(photos, {VISUAL: key})
        return cache[key]

    @cached_property
    def _visual_weights(self) -> np.ndarray:
        """The learned distance's weight of each visual word (``fit_visual_weights``)."""
        if TAG not in self._labels:
            return np.ones(self._visual.shape[1])
        return fit_visual_weights(self._visual, self._labels[TAG])

    @cached_property
    def _labels(self) -> dict[str, sparse.csr_matrix]:
        """documents x the modality's tokens, 1 where the document has the token (2PKNN)."""
        labels = {}
        for modality, words in self._words.items():
            present = words.copy()
            present.data[:] = 1.0
            labels[modality] = present
        return labels

    def distances(
        self,
        params: AnnotationParams,
        visual: Mapping[str, float],
        theta: np.ndarray,
        weights: Mapping[str, float],
    ) -> np.ndarray:
        """The query photo's distance to every document (its visual words, its theta or, with
        ``topic_distance_weight``, both); inf for a document that cannot pass labels on: one
        without visual words or without words (a photo without words is not its own
        neighbour)."""
        if params.neighbour_space == "visual":
            query = bag_distribution(visual, self.phi[VISUAL].index)
            if params.learned_distance:
                distances = _l1_to_rows(query, self._visual, self._visual_weights)
            else:
                distances = _l1_to_counts(query, self.counts)
            if params.topic_distance_weight > 0:
                topics = np.abs(self._photo_thetas(weights) - theta).sum(axis=1)
                distances = distances + params.topic_distance_weight * topics
        else:
            distances = np.abs(self._photo_thetas(weights) - theta).sum(axis=1)
        return np.where(self._can_pass_labels, distances, np.inf)

    def neighbours(
        self,
        params: AnnotationParams,
        visual: Mapping[str, float],
        theta: np.ndarray,
        weights: Mapping[str, float],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The ``params.neighbours`` documents nearest to the query photo (nearest first, ties
        by row), their distances, and the photo's distance to every document (``distances``)
        where the setting needs them: 2PKNN's votes, or a distance other than L1 over visual
        words. Where it does not (the default), the nearest are found by bounds
        (``_nearest_by_visual``) and the third is None."""
        plain = not (params.learned_distance or params.topic_distance_weight > 0)
        if params.neighbour_space == "visual" and plain and params.label_neighbours == 0:
            query = bag_distribution(visual, self.phi[VISUAL].index)
            return (*self._nearest_by_visual(query, params.neighbours), None)
        everywhere = self.distances(params, visual, theta, weights)
        return (*_nearest(np.arange(len(everywhere)), everywhere, params.neighbours), everywhere)

    def visual_neighbours(
        self, visual: Mapping[str, float], k: int, exact: bool = False
    ) -> np.ndarray:
        """The rows of the photo's ``k`` nearest documents by visual words, as annotation
        finds them, or (``exact``) proven the nearest of all at any size: what their recall
        is measured against."""
        query = bag_distribution(visual, self.phi[VISUAL].index)
        return self._nearest_by_visual(query, k, exact)[0]

    def _nearest_by_visual(
        self, query: np.ndarray, k: int, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k documents that can pass labels on nearest to the distribution ``query`` by
        L1 over visual words, and their distances: exactly ``_l1_to_counts``'s k best, without
        a distance to every document. Summing min(q, d) over the query's heaviest words only,
        read from their columns, bounds each document's distance (``bounded_candidates``: a
        document with none of them has a bound of its own, the query's leftover mass); the
        few documents left are measured exactly (``_l1_to_counts_at``). A photo's expected
        visual words spread over nearly every column, which the full pass reads whole: at ten
        million documents, hundreds of millions of entries per query. Past ``EXACT_NEIGHBOURS``
        documents (unless ``exact``), the nearest of the photo's look-alikes instead."""
        allowed = self._can_pass_labels
        k = min(k, self._passing)
        if k == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        if self._passing > EXACT_NEIGHBOURS and not exact:
            columns = np.flatnonzero(query)
            rows = self.counts.look_alike(columns, query[columns], LOOKALIKE_CANDIDATES, allowed)
            distances = _l1_to_counts_at(query, self.counts, rows, np.zeros(len(rows)), 0)
            return _nearest(rows, distances, k)
        # minus the mass each shares over the columns read (the bounds need a row's half mass
        # only up to a constant, the same 1/2 for every distribution): read back exactly
        half = np.where(allowed, 0.0, np.inf)
        read = []

        def lower(column: int) -> None:
            read.append(column)
            for rows, shares in self.counts.column_shares(VISUAL, column, query[column]):
                half[rows] -= shares

        entries = sum(int(part.indptr[-1]) for part in self.counts.parts[VISUAL])
        mean_column = entries / len(query)
        columns = int(np.count_nonzero(query))

        def cheap(candidates: int, done: int) -> bool:  # the next columns cost more
            return candidates * (columns - done) * CHECK_COST <= done * mean_column

        rows = bounded_candidates(half, query, lower, k, cheap)
        distances = _l1_to_counts_at(query, self.counts, rows, -half[rows], len(read))
        return _nearest(rows, distances, k)

    @cached_property
    def _passing(self) -> int:
        """How many documents can pass labels on."""
        return int(np.count_nonzero(self._can_pass_labels))

    def _votes(self, modality: str, rows: np.ndarray, votes: np.ndarray) -> np.ndarray:
        """Each token's share of the ``votes`` of the documents at ``rows``, every document's
        tokens of ``modality`` (those phi knows) sharing its vote alike."""
        index = self.phi[modality].index
        transfer = np.zeros(len(index))
        for row, vote in zip(rows, votes, strict=True):
            own = [
                index[token]
                for token in self.documents[row].tokens.get(modality, ())
                if token in index
            ]
            if own:
                transfer[own] += vote / len(own)
        return transfer

    def _label_votes(
        self, modality: str, params: AnnotationParams, distances: np.ndarray
    ) -> np.ndarray:
        """2PKNN: the documents among each token's ``label_neighbours`` nearest examples are
        pooled; a token scores the sum of exp(-``distance_decay`` x distance) over the pooled
        documents that have it; normalized to sum 1. One sort of the documents, then sparse
        operations over all tokens at once (no loop over tokens)."""
        labels = self._labels[modality]
        order = np.argsort(distances, kind="stable")
        order = order[np.isfinite(distances[order])]
        by_token = sparse.csc_matrix(labels[order])
        by_token.sort_indices()
        rank = np.arange(by_token.nnz) - np.repeat(by_token.indptr[:-1], np.diff(by_token.indptr))
        pooled = np.unique(order[by_token.indices[rank < params.label_neighbours]])
        weight = np.zeros(len(distances))
        if len(pooled):
            near = distances[pooled]
            weight[pooled] = np.exp(-params.distance_decay * (near - near.min()))
        votes = np.asarray(labels.T @ weight).ravel()
        return votes / votes.sum() if votes.sum() > 0 else votes

    def scores(
        self,
        modality: str,
        params: AnnotationParams,
        theta: np.ndarray,
        neighbours: np.ndarray,
        distances: np.ndarray | None = None,
    ) -> np.ndarray:
        """Each token's score in ``modality``: the blend of p(w|d) and the neighbours' votes,
        2PKNN's when ``params.label_neighbours`` is set and the query photo's ``distances`` to
        every document are known, else ``neighbours`` (nearest first) by rank."""
        phi = self.phi[modality].matrix
        topic = phi @ theta
        score = (1.0 - params.transfer_weight) * topic
        if params.transfer_weight > 0 and modality in self.phi and modality != VISUAL:
            if params.label_neighbours > 0 and distances is not None:
                transfer = self._label_votes(modality, params, distances)
            elif len(neighbours):
                votes = 1.0 / np.arange(1, len(neighbours) + 1) ** params.vote_decay
                transfer = self._votes(modality, neighbours, votes) / votes.sum()
            else:
                return score
            score = score + params.transfer_weight * transfer
        return score


class Annotator:
    """Scores every candidate word of a query for annotation, by :class:`AnnotationParams`;
    ``tag_slot`` maps a hashtag token to its annotation slot (a Russian twin to its tag)."""

    def __init__(
        self,
        transfer: LabelTransfer,
        class_names: ClassNameWords,
        tags_by_word: Mapping[str, Sequence[str]],
        tag_slot: Callable[[str], str] = str,
    ) -> None:
        self.transfer = transfer
        self.class_names = class_names
        self.tags_by_word = tags_by_word
        self.tag_slot = tag_slot

    def scores(
        self,
        params: AnnotationParams,
        modalities: Sequence[str],
        tokens: TokenCounts,
        theta: np.ndarray,
        weights: Mapping[str, float],
        probabilities: np.ndarray | None,
        photo_words: Mapping[str, float],
        index: NeighborIndex,
        limit: int,
    ) -> dict[str, dict[str, float]]:
        """``{modality: {token: score}}`` for the ``limit`` best tokens of the blend and every
        class-name word; higher is better, and a modality's scores sum to at most 1.

        Neighbours of a photo are found by ``photo_words``, its expected visual words, or by
        ``params.neighbour_space``; a query without a photo takes the documents nearest to its
        theta, as search does.
        """
        neighbours, nearest, everywhere = np.zeros(0, dtype=int), np.zeros(0), None
        if photo_words:
            neighbours, nearest, everywhere = self.transfer.neighbours(
                params, photo_words, theta, weights
            )
        elif params.transfer_weight > 0:
            neighbours, _ = index.query(theta, params.neighbours)
        named: dict[str, float] = {}
        name_share = 0.0
        if probabilities is not None and params.class_name_weight > 0:
            named = self.class_names.scores(probabilities)
            farthest = 2.0 * (1.0 + params.topic_distance_weight)
            novelty = min(1.0, float(nearest[0]) / farthest) if len(nearest) else 1.0
            name_share = params.class_name_weight * novelty
        share = 1.0 - name_share
        result = {}
        for modality in modalities:
            phi = self.transfer.phi[modality]
            blend = share * self.transfer.scores(modality, params, theta, neighbours, everywhere)
            top = np.argsort(-blend, kind="stable")[: 2 * limit if modality == TAG else limit]
            scores = {phi.tokens[row]: float(blend[row]) for row in top}
            for token, score in self._named_tokens(modality, named, params).items():
                row = phi.index.get(token)
                base = scores.get(token, 0.0 if row is None else float(blend[row]))
                scores[token] = base + name_share * score
            result[modality] = self._merge_twins(scores) if modality == TAG else scores
        return result

    def _merge_twins(self, scores: Mapping[str, float]) -> dict[str, float]:
        """A hashtag and its Russian twin name one thing: one slot (the tag's token), with the
        pair's summed score, so the pairs do not crowd other tags out of the top."""
        merged: dict[str, float] = {}
        for token, score in scores.items():
            slot = self.tag_slot(token)
            merged[slot] = merged.get(slot, 0.0) + score
        return merged

    def _named_tokens(
        self, modality: str, named: Mapping[str, float], params: AnnotationParams
    ) -> dict[str, float]:
        """The class-name words' scores as tokens of ``modality``: a word as itself, and as
        the hashtags named like it or (``class_name_cooccurrence``) the hashtags of the
        documents that contain it."""
        if modality == TEXT:
            return dict(named)
        found: Counter[str] = Counter()
        if modality != TAG:
            return found
        if not params.class_name_cooccurrence:
            for word, score in named.items():
                for tag in self.tags_by_word.get(word, ()):
                    found[tag] += score
            return found
        words = self.transfer.phi[TEXT].index
        scores = np.zeros(len(words))
        for word, score in named.items():
            if word in words:
                scores[words[word]] = score
        by_tag = np.asarray(self._tags_by_cooccurrence.T @ scores).ravel()
        tags = self.transfer.phi[TAG].tokens
        return {tags[row]: float(by_tag[row]) for row in np.flatnonzero(by_tag > 0)}

    @cached_property
    def _tags_by_cooccurrence(self) -> sparse.csr_matrix:
        """``@text`` tokens x hashtags: p(tag | word) over the documents that contain the word,
        each document's hashtags sharing one vote."""
        words = self.transfer.words(TEXT).copy()
        words.data[:] = 1.0
        together = sparse.csr_matrix(words.T @ self.transfer.words(TAG))
        totals = np.asarray(together.sum(axis=1)).ravel()
        return sparse.csr_matrix(sparse.diags(1.0 / np.maximum(totals, 1e-300)) @ together)


class QueryAnnotator:
    """Words and hashtags for a query (text, photo or both) over one model version: p(w|d) of
    its theta blended with label transfer and the backbone's class names (``Annotator``)."""

    def __init__(
        self,
        reader: QueryReader,
        documents: Sequence[Mapping],
        counts: DocumentTokens,
        thetas: np.ndarray,
        index: NeighborIndex,
        ranking: RankingParams,
        display_forms: Mapping[str, Mapping[str, str]],
        default_weights: Mapping[str, float],
    ) -> None:
        """``counts``: the documents' token counts as written (no predicted words);
        ``ranking``: the version's, whose translations read the query's words."""
        self.reader = reader
        self.documents = documents
        self.counts = counts
        self.thetas = thetas
        self.index = index
        self.ranking = ranking
        self.display_forms = display_forms
        self.default_weights = dict(default_weights)
        self.params = AnnotationParams()

    @property
    def phi(self) -> Mapping[str, Phi]:
        return self.reader.phi

    @cached_property
    def annotator(self) -> Annotator:
        """Scores words for annotation (its document tables are built on the first use)."""
        transfer = LabelTransfer(self.counts, self.phi, self.reader.inferencer, self.documents)
        return Annotator(
            transfer,
            self.reader.class_words,
            self.reader.tags_by_word,
            tag_twins().slot,
        )

    def annotate(self, request: AnnotationRequest) -> dict[str, list[Annotation]]:
        """The request's top-k tokens per modality: p(w|d) = phi @ theta of the query blended
        with label transfer from the nearest documents and, for a photo, the backbone's class
        names (see the module). The request's weights are used as given (None: the version's
        training weights)."""
        query, k, exclude_query_tokens = request.query, request.k, request.exclude_query_tokens
        params = request.params or self.params
        weights = dict(self.default_weights if request.weights is None else request.weights)
        modalities = list(request.modalities or ()) or [m for m in (TAG, TEXT) if m in self.phi]
        unknown = [m for m in modalities if m not in self.phi]
        if unknown:
            raise ValueError(f"unknown modality {unknown[0]}; known: {list(self.phi)}")
        tokens, surfaces = self.reader.tokens_of(Query(query.text, None, query.extra))
        probabilities = None
        if query.image is not None:
            probabilities = self.reader.probabilities(query.image)
            image_hash = content_hash(query.image)
            tokens[VISUAL] = visual_words(probabilities, self.reader.params, image_hash)
        limit = k + sum(len(tokens.get(m, ())) for m in modalities if exclude_query_tokens)
        scored = self._scored(
            params, modalities, tokens, surfaces, weights, limit, probabilities=probabilities
        )
        annotations = {}
        for modality, scores in scored.items():
            skip = set(tokens.get(modality, ())) if exclude_query_tokens else set()
            ranked = sorted((t for t in scores if t not in skip), key=lambda t: -scores[t])
            annotations[modality] = [
                Annotation(
                    token,
                    self._display(modality, token),
                    scores[token],
                    self._search_text(modality, token),
                    self._twin_search_text(modality, token),
                )
                for token in ranked[:k]
            ]
        return annotations

    def photo_words(
        self,
        visual: Mapping[str, float],
        row: int | None = None,
        probabilities: np.ndarray | None = None,
    ) -> TokenCounts:
        """What a photo without words is searched by: the top ``PHOTO_WORDS`` words and
        hashtags of its annotation, as a document of their own (``as_words``).

        A query photo, whose backbone ``probabilities`` are at hand, is annotated exactly as
        ``annotate`` annotates it (the backbone's class names included), so that searching by
        a photo looks for what the Annotate page says it shows. A collection document (a
        version keeps its ``visual`` words, not its probabilities) is annotated from its visual
        words alone: label transfer from the documents like it, blended with p(w|d) of its
        theta (its ``row``'s, if given).
        """
        modalities = [m for m in (TAG, TEXT) if m in self.phi]
        scored = self._scored(
            self.params,
            modalities,
            {VISUAL: Counter(visual)},
            {},
            self.default_weights,
            PHOTO_WORDS,
            probabilities=probabilities,
            photo_visual=True,
            theta=None if row is None else self.thetas[row],
        )
        best = {m: sorted(found.items(), key=lambda item: -item[1]) for m, found in scored.items()}
        return as_words({m: found[:PHOTO_WORDS] for m, found in best.items()})

    def _scored(
        self,
        params: AnnotationParams,
        modalities: Sequence[str],
        tokens: TokenCounts,
        surfaces: Surfaces,
        weights: Mapping[str, float],
        limit: int,
        probabilities: np.ndarray | None = None,
        photo_visual: bool = False,
        theta: np.ndarray | None = None,
    ) -> dict[str, dict[str, float]]:
        """The annotation of a query's ``tokens`` (``Annotator.scores``), the one that both
        ``annotate`` and ``photo_words`` read. A photo given by its ``probabilities`` finds its
        neighbours by its expected visual words and gets its class names, its theta inferred
        with their pseudo-caption; a photo known by its visual words alone (``photo_visual``)
        finds them by those words; ``theta``, if given, is the query's."""
        photo: Mapping[str, float] = Counter()
        if probabilities is not None:
            photo = expected_visual_words(probabilities, self.reader.params)
            if params.expected_visual:
                tokens = {**tokens, VISUAL: photo}
        elif photo_visual:
            photo = tokens[VISUAL]
        if theta is None:
            with_caption = self._with_caption(tokens, probabilities, params)
            theta = self.reader.infer(with_caption, surfaces, weights, self.ranking).theta
        return self.annotator.scores(
            params, modalities, tokens, theta, weights, probabilities, photo, self.index, limit
        )

    def _with_caption(
        self,
        tokens: TokenCounts,
        probabilities: np.ndarray | None,
        params: AnnotationParams,
    ) -> TokenCounts:
        """The query's tokens plus, for a photo, the pseudo-caption of its class names that
        ``params.class_name_caption`` asks for: what its theta is inferred from."""
        if probabilities is None or params.class_name_caption <= 0 or TEXT not in self.phi:
            return tokens
        caption = self.annotator.class_names.caption(
            probabilities, self.phi[TEXT].index, params.class_name_caption
        )
        return {**tokens, TEXT: tokens.get(TEXT, Counter()) + caption}

    def _display(self, modality: str, token: str) -> str:
        """A word the collection lacks is a class-name word; a hashtag shows with its twin."""
        if modality == TEXT and token not in self.display_forms.get(TEXT, {}):
            return self.annotator.class_names.display(token)
        shown = display_form(self.display_forms, modality, token)
        twin = self._twin_search_text(modality, token)
        return f"{shown} / {twin.removeprefix('#')}" if twin else shown

    def _search_text(self, modality: str, token: str) -> str:
        """What searches a suggestion: a hashtag as ``#tag`` as the collection writes it, a
        word as shown (search reads a class-name word the model lacks by its classes)."""
        if modality == TAG:
            return hashtag_query(display_form(self.display_forms, TAG, token), token)
        return self._display(modality, token)

    def _twin_search_text(self, modality: str, token: str) -> str:
        """What searches the hashtag's twin in the other language; "" if it has none."""
        twin = self.tag_twin_tokens.get(token) if modality == TAG else None
        if twin is None or twin not in self.phi[TAG].index:
            return ""
        return hashtag_query(display_form(self.display_forms, TAG, twin), twin)

    @cached_property
    def tag_twin_tokens(self) -> dict[str, str]:
        """Each category tag's token -> its twin's in the other language, both ways
        (``core.reading.twins``)."""
        pairs = [
            (normalize_tag(tag), normalize_tag(twin)) for tag, twin in tag_twins().twins.items()
        ]
        return {**{ru: en for en, ru in pairs}, **dict(pairs)}


def hashtag_query(shown: str, token: str) -> str:
    """The search text of the hashtag ``token``: as the collection writes it (``shown``,
    "#ПознаваемМир") when the query reader reads that as this one hashtag, else the token itself:
    a collection keyword written with spaces or signs ("science space earth", "hash(0x8a0)")
    would be read as a shorter hashtag and loose words."""
    query = "#" + shown
    return (
        query if HASHTAG_PATTERN.fullmatch(query) and normalize_tag(shown) == token else "#" + token
    )
