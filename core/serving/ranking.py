"""How documents are ordered for a query: by topics alone, or by the query's likelihood.

* ``topics`` (the article's setup): the documents nearest to the query's theta by L1.
* ``likelihood``: the query likelihood of each document with topic smoothing (Wei and Croft,
  SIGIR 2006, "LDA-based document models for ad-hoc retrieval")::

      log p(q | d) = sum over query modalities m of w_m * sum over tokens w of c(w, q) *
          log[ lambda * p_own(w | d) + (1 - lambda) * sum_t phi_wt theta_td ]

  where p_own is the document's own token frequency, Dirichlet-smoothed by the collection
  (N_d / (N_d + mu) * c(w, d) / N_d + mu / (N_d + mu) * p(w | C)), and w_m are the modality
  weights that theta inference uses. A document that contains the query's words is found by them;
  one that does not (a photo without a caption, a Russian query against an English caption) is
  still reached through the topics its photo and words share with the query.

  With ``coordination_weight`` beta > 0 the score is log p(q | d) + beta * (the number of the
  query's word terms the document contains; a term found only through a translation counts by
  its share): coordination-level matching, classical IR's first cut. Topic smoothing alone can
  hand a rare query word to every document of a small topic that holds it, so that a document
  containing none of the query's words outscores one containing the main one ("flowers in the
  garden" answered by household objects from the garden spade's topic); the bonus puts the
  documents that contain more of what was asked first, and likelihood orders them within.

  A photo asked alone is also searched by the hashtags (and, if asked for, the words) its
  annotation predicts (``predicted_terms``): its visual words find photos that look alike, the
  predicted hashtags photos of the same thing. They weigh in the likelihood, not in coordination,
  which counts what the visitor asked for.

Each is a ``Ranker`` (``TopicRanker``, ``LikelihoodRanker``) over a version's ``RankedDocuments``;
``ranker_for`` is the one place that picks one by ``RankingParams.method``. Both are read-only
after construction and safe to share between threads.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass, replace
from functools import partial, reduce
from pathlib import Path
from types import MappingProxyType
from typing import NamedTuple, Protocol

import numpy as np
from scipy import sparse

from core.reading.collection import TokenCounts
from core.reading.text import TAG, TEXT
from core.reading.vision import VISUAL
from core.serving.impact import ImpactOrder
from core.serving.index import NeighborIndex, l1_distances, npy_header
from core.serving.model import Phi
from core.serving.records import chunked

WORD_MODALITIES = (TEXT, TAG)
WRITE_CHUNK = 1000  # documents ``DocumentTokens.write`` holds at a time (their bags, entries)
WRITE_BUFFER = 1 << 22  # entries ``DocumentTokens.write`` gathers before writing: 100 MB
TINY = 1e-12
LIKELIHOOD_CANDIDATES = 2000  # above this many documents, likelihood ranks candidates only
WORD_CANDIDATES = 8000  # of the documents that contain a query word, at most this many nearest
PROVEN_CHUNK = 2000  # documents scored at a time while proving the top k by bounds
# How deep into each query form's documents, likeliest first, a proof may read before it tries
# (``LikelihoodRanker.likeliest``), doubling; None: every document that says one. The first
# try finds a score to beat; the next reads as deep as the first depth whose bound is below it.
PROVEN_DEPTHS = (*(256 << i for i in range(12)), None)
# A photo has tens to hundreds of visual words; proving its top k failed, and cost more than
# its candidates at 100k documents. Words that name ImageNet classes bring a few.
PROVABLE_VISUAL_WORDS = 16
BOUND_SLACK = 1e-9  # float64 rounding of a score and its bound is far below this
# A photo's query scores the documents that share the most of its heaviest visual words
# (``LikelihoodRanker.looking_alike``), by their looks: a document's ``LOOK_WORDS`` heaviest
# visual words and their shares of its visual words (``_heaviest``), kept token by token
# beside its counts. At ten million documents a document has 119 visual words on average and
# a heavy word's column 2 to 4 million entries; looks hold 8 of them. There (4 photos, the
# exhaustive top 10 found among the candidates): whole columns and 4000 candidates found
# 18 of 40, looks and 4000 10, looks and 8000 19; 8 words a look read half the entries of
# 16 for 19 of 40 against 21 (a one-off script, issue 23's note of stop 30; ``scale-query``
# measures the recall of what is chosen).
LOOKALIKE_WORDS = 16
LOOKALIKE_CANDIDATES = 8000
LOOK_WORDS = 8
# Modalities whose counts a version also stores document by document (``_DocumentRows``): a
# photo's candidates are scored over its hundreds of visual words, each a column of up to
# hundreds of millions of entries at ten million documents, where a document has tens.
BY_DOCUMENT = (VISUAL,)
ROW_FILES = ("indptr", "indices", "data")


@dataclass(frozen=True)
class RankingParams:
    """Which ranking, and its smoothing; stored with every model version (``version.json``).

    The defaults were chosen on the benchmark's validation split (``python -m core eval
    --sweep-ranking``, ``reports/ranking_sweep.json``): coordination weight 16 of 0-64, then
    lambda 0.7 of 0.2-0.9, then mu 10 of 2-50. Before: lambda 0.5 without coordination
    (``BEFORE_PHRASES``). The context weight 0.25 (of 1, 0.5, 0.25, 0.1, 0.05, on the same
    split) took sentence P@5 from 0.786 to 0.901 (English) and 0.691 to 0.823 (Russian) and
    phrase P@5 from 0.813 / 0.802 to 0.898 / 0.854, concept P@5 unchanged; weighting words by
    rarity (0.5, 1, 2) lowered both alone and changed little with it (0.5: sentences 0.905 /
    0.820), so it is left off (``BEFORE_SENTENCES``: the default before).

    The sentence levers were then chosen by ``python -m core eval --sweep-sentences`` (same
    split, ``reports/sentence_sweep.json``; objective: the mean of concept, phrase, sentence
    and attribute P@5): an attribute without its object counts 0.5 (of 1, 0.75, 0.5, 0.25;
    objective 0.7664 -> 0.7989: sentences ru 0.868 -> 0.878, attribute pairs en 0.25 -> 0.5,
    on 2 pairs only); the Russian head read by case, the bonus for a whole head (0.5-2) and
    rarity (0.25-1: 0.7508-0.7499) did not raise it, so they are off (``BEFORE_ATTRIBUTES``:
    the default before). Context 0.1 (0.7992) and then lambda 0.9 (0.8000) won by margins of
    one query; context 0.1 lets a document of the topic alone outrank one that contains a
    context word, so that weak hits come among matched ones ("horse on the street at noon",
    ``tests/test_ranking.py``), and lambda 0.9 was measured after it: both stay as they were.

    The dictionary's senses (2026-12-06, the same sweep, run first): an English word's object
    senses first took the objective from 0.8232 to 0.8262 (sentences en 0.905 -> 0.921,
    concepts en 0.927 -> 0.930), and a Russian word's English words kept to its best one and
    those it is the first sense of to 0.8266 (sentences ru 0.941 -> 0.944); both are on. Only
    the first senses, without the best one, had lowered it ('открытый' lost 'open'). Lambda
    0.9 won again by less than one query (0.8282) and stays as it was.

    Synonyms through the other language (2026-12-06, the same sweep): a synonym counted the
    product of its two translations' shares, 0.0625 for a dictionary's dictionary synonym
    ('telephone' -> 'телефон' -> 'phone'), and documents that say it ranked 15th to 250th.
    That product ** 0.5 (of 1, 0.75, 0.5, 0.25) took the objective from 0.8266 to 0.8323:
    sentences en 0.921 -> 0.944, ru 0.944 -> 0.941 (one query), concepts en 0.930 -> 0.944, ru
    0.944 unchanged (``BEFORE_SYNONYMS``: the default before). The same share in the likelihood
    alone (0.8291) or in coordination alone (0.8313), tried by a script on the same split, did
    less than in both; so did min(the two shares) x 0.5 (0.8300; x 1 is the ** 0.5 here)."""

    method: str = "likelihood"
    own_weight: float = 0.7  # lambda: the document's own tokens against its topics
    dirichlet_mu: float = 10.0  # pseudo-tokens of collection frequency in p_own
    lexicon: bool = (
        True  # a query word's dictionary translations count too (core.serving.bilingual)
    )
    # The dictionary's senses as a photo collection wants them (``core.serving.bilingual``):
    # an English word's object senses first ('train' -> 'поезд'), a Russian word's English words
    # only those it is the first sense of ('чашка' -> 'cup', not 'basin').
    object_senses_first: bool = True
    first_senses_back: bool = True
    coordination_weight: float = 16.0  # beta: log-likelihood bonus per query word contained
    context_weight: float = 0.25  # a word after the phrase's head counts this much (1: as the head)
    head_by_case: bool = False  # a Russian head read by case, not by position (TextProcessor)
    head_bonus: float = 0.0  # bonus for containing every word of a head of two or more
    attribute_weight: float = 0.5  # an attribute ('red' of 'red bird') without the object counts
    rarity: float = 0.0  # exponent of a word's weight by its rarity (0: every word alike)
    # A synonym through the other language ('telephone' -> 'телефон' -> 'phone') counts the
    # product of the two translations' shares to this power (1: the product itself).
    synonym_share: float = 0.5
    # A photo alone: the weights of its predicted hashtags (0: its visual words alone) and words,
    # predicted as Annotate annotates it, the backbone's class names included (False: from its
    # visual words alone, as a collection document's). On the validation split (``python -m core
    # eval --sweep-photo``) annotated took image -> image mAP@10 from 0.386 to 0.398; the weights
    # then re-chosen (hashtags 1, words 0.25: 0.400) rank a deer before the second giraffe of
    # tests/test_photo_search.py (categories over the object), so they stay 0.25 / 0.1.
    photo_tags: float = 0.25
    photo_words: float = 0.1
    photo_as_annotated: bool = True

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"ranking method must be one of {METHODS}, got {self.method!r}")
        if not 0.0 <= self.own_weight < 1.0:
            raise ValueError(f"own_weight must be in [0, 1), got {self.own_weight}")
        if self.dirichlet_mu <= 0:
            raise ValueError(f"dirichlet_mu must be > 0, got {self.dirichlet_mu}")
        if not 0.0 <= self.coordination_weight < float("inf"):
            raise ValueError(
                f"coordination_weight must be finite and >= 0, got {self.coordination_weight}"
            )
        if not 0.0 < self.context_weight <= 1.0:
            raise ValueError(f"context_weight must be in (0, 1], got {self.context_weight}")
        if not 0.0 <= self.head_bonus < float("inf"):
            raise ValueError(f"head_bonus must be finite and >= 0, got {self.head_bonus}")
        if not 0.0 <= self.attribute_weight <= 1.0:
            raise ValueError(f"attribute_weight must be in [0, 1], got {self.attribute_weight}")
        if not 0.0 <= self.rarity <= 4.0:
            raise ValueError(f"rarity must be in [0, 4], got {self.rarity}")
        if not 0.0 < self.synonym_share <= 1.0:
            raise ValueError(f"synonym_share must be in (0, 1], got {self.synonym_share}")
        for name in ("photo_tags", "photo_words"):
            value = getattr(self, name)
            if not 0.0 <= value < float("inf"):
                raise ValueError(f"{name} must be finite and >= 0, got {value}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping | None) -> RankingParams:
        """The stored ranking; a version written before rankings existed ranked by topics, and
        a setting added since (``lexicon``, ``coordination_weight``) takes today's default."""
        return ARTICLE_RANKING if data is None else cls(**data)

    @property
    def label(self) -> str:
        """The ranking in words, as a search result names it."""
        return RANKERS[self.method].describe(self)


class LastLook:
    """The look-alike shares of the last distribution asked (``DocumentTokens.look_alike_shares``)
    of one set of visual counts, as (key, shares): one tuple, set and read whole, so the
    threads of a web process that serves several sessions never see a key with another
    distribution's shares."""

    last: tuple[bytes, np.ndarray] | None = None


class DocumentTokens:
    """Each document's own token counts per modality, over the model's vocabulary.

    A modality's counts are blocks of documents x tokens (CSC: the ranking reads a token's
    column), each of the full shape and holding its own rows: a version's stored counts
    (memory-mapped by ``load``, shared by a node's replicas), a collection's additions
    (``appended``) and the words predicted for photos without any (``with_words``) add up
    without copying the stored ones. No two blocks hold the same (row, token). A stored block's
    visual words are also kept document by document (``by_document``, ``_DocumentRows``): what
    ``counts_at`` reads for a photo's few thousand candidates. Each block's documents' looks
    (``heaviest``: their ``LOOK_WORDS`` heaviest visual words' shares, token by token) are what
    ``look_alike`` reads. Each block's word and hashtag columns are also kept in the order of
    the p_own their counts give (``impact``, ``ImpactOrder``; None for a block without one, a
    version written before): what ``likeliest`` reads.

    ``unlearned`` holds, for each word or hashtag a document says that the model never learned
    (a document added after training brings new words), the rows that say it: such a word has
    no column, yet a document that says it contains it (``term_shares``).
    """

    unlearned: Mapping[tuple[str, str], np.ndarray] = MappingProxyType({})
    looks: LastLook

    def __init__(
        self,
        phi: Mapping[str, Phi],
        documents: Sequence[TokenCounts],
        collection: Mapping[str, np.ndarray] | None = None,
        unlearned: Mapping[tuple[str, str], np.ndarray] | None = None,
    ) -> None:
        """``collection``: the token frequencies that smooth p_own, when ``documents`` are not
        the collection itself (default: theirs); ``unlearned``: (modality, token) -> the rows
        of ``documents`` that say it, for words and hashtags phi lacks."""
        if unlearned:
            self.unlearned = MappingProxyType(dict(unlearned))
        self.num_documents = len(documents)
        self.parts = {
            m: [_count_matrix(m, p, documents, range(len(documents)), len(documents))]
            for m, p in phi.items()
        }
        self.by_document: dict[str, list[_DocumentRows | None]] = {m: [None] for m in phi}
        self.heaviest = {m: [_heaviest_part(self.parts[m][0])] for m in BY_DOCUMENT if m in phi}
        self.lengths = {m: _row_sums(parts[0]) for m, parts in self.parts.items()}
        self.impact: dict[str, list[ImpactOrder | None]] = {
            m: [ImpactOrder.of(self.parts[m][0], self.lengths[m])]
            for m in WORD_MODALITIES
            if m in phi
        }
        self.totals = {m: _column_sums(parts[0]) for m, parts in self.parts.items()}
        self.collection = _frequencies(self.totals) if collection is None else dict(collection)
        self.wordless_photos = np.array(
            [row for row, doc in enumerate(documents) if _wordless_photo(doc)], dtype=np.int64
        )
        self.looks = LastLook()

    def counts_at(
        self, modality: str, columns: Sequence[int], rows: slice | np.ndarray
    ) -> np.ndarray:
        """The counts of the tokens at distinct ``columns`` of ``modality`` in the documents at
        ``rows`` (a range, or distinct rows ascending): rows x columns, dense
        (``entries_at``)."""
        count = rows.stop - rows.start if isinstance(rows, slice) else len(rows)
        counts = np.zeros((count, len(columns)))
        at, places, values = self.entries_at(modality, columns, rows)
        counts[at, places] = values  # no two blocks hold the same (row, token)
        return counts

    def entries_at(
        self, modality: str, columns: Sequence[int], rows: slice | np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The counts above 0 of the tokens at distinct ``columns`` of ``modality`` in the
        documents at ``rows`` (a range, or distinct rows ascending): each one's place in
        ``rows``, its place in ``columns`` and the count. Only those rows' entries are read,
        each block's the cheaper way: from its document-major copy (``_DocumentRows``: a
        document's hundred or so entries lie together) where it has one and the rows hold
        fewer entries than binary searches in the tokens' columns would read
        (``_column_reads``), else by those searches (``_column_entries``). At ten million
        documents a photo's hundred or more visual words' columns hold millions of entries
        each, and a query scores a few thousand candidates. Either way gives the same
        entries."""
        found = []
        for part, by_document in zip(self.parts[modality], self.by_document[modality], strict=True):
            if (
                by_document is not None
                and not isinstance(rows, slice)
                and by_document.entries_in(rows) <= _column_reads(part, columns, len(rows))
            ):
                found.append(by_document.entries_at(columns, rows))
            else:
                found.append(_column_entries(part, columns, rows))
        at, places, values = (np.concatenate(parts) for parts in zip(*found, strict=True))
        return at, places, values

    def inverse_lengths(self, modality: str, dtype: type = np.float64) -> np.ndarray:
        """Each document's 1 / its number of ``modality`` tokens (0 without any), made on the
        first use: what makes its counts a distribution (``column_shares``)."""
        made = self.__dict__.setdefault("_inverse_lengths", {})
        if (modality, dtype) not in made:
            lengths = np.asarray(self.lengths[modality], dtype=np.float64)
            inverse = np.divide(1.0, lengths, out=np.zeros(len(lengths)), where=lengths > 0)
            made[modality, dtype] = inverse.astype(dtype, copy=False)
        return made[modality, dtype]

    def column_shares(
        self, modality: str, column: int, cap: float, dtype: type = np.float64
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """For each block, the documents that have the token at ``column`` of ``modality``:
        their rows (distinct) and min(the token's share of the document's tokens, ``cap``),
        in ``dtype``. Summed over a query distribution's tokens (``cap``: its share of each),
        that is sum_t min(q_t, d_t), the mass a document shares with the query (L1 between
        the two distributions is sum(q) + 1 - 2 x that), read one column at a time."""
        scale, cap = self.inverse_lengths(modality, dtype), np.dtype(dtype).type(cap)
        for part in self.parts[modality]:
            low, high = int(part.indptr[column]), int(part.indptr[column + 1])
            if low < high:
                rows = np.asarray(part.indices[low:high])
                shares = np.asarray(part.data[low:high], dtype=dtype) * scale[rows]
                yield rows, np.minimum(shares, cap, out=shares)

    def look_alike(
        self,
        columns: np.ndarray,
        query: np.ndarray,
        count: int,
        allowed: np.ndarray | None = None,
    ) -> np.ndarray:
        """The ``count`` (``allowed``) documents, sorted, that share the most of a photo's
        ``LOOKALIKE_WORDS`` heaviest visual words: sum_t min(q_t, d_t) over those words, q the
        distribution ``query`` over visual ``columns``, d a document's look (``look_shares``).
        Reads those words' columns of looks only: what stands for a photo's nearest documents
        where a collection is too large to measure every document (a photo's search, its
        annotation's neighbours past ``EXACT_NEIGHBOURS``)."""
        return np.sort(top_rows(self.look_alike_shares(columns, query), count, allowed))

    def look_alike_shares(self, columns: np.ndarray, query: np.ndarray) -> np.ndarray:
        """Every document's sum_t min(q_t, d_t) over the ``LOOKALIKE_WORDS`` heaviest words
        of ``query`` (``look_alike``), read-only. The last distribution's are kept
        (``LastLook``): a photo's search asks for its look-alikes twice, for its annotation's
        neighbours and for its candidates, and each pass reads millions of entries at a
        million documents. Summed in float32 (``np.add.at``): half the time of float64 and
        fancy indexing at a million documents, and which 4000 look most alike hardly
        changes (at the last places, where many documents tie)."""
        heaviest = np.argsort(-query, kind="stable")[:LOOKALIKE_WORDS]
        key = np.asarray(columns, dtype=np.int64)[heaviest].tobytes() + query[heaviest].tobytes()
        kept = self.looks.last
        if kept is not None and kept[0] == key:
            return kept[1]
        shared = np.zeros(self.num_documents, dtype=np.float32)
        for place in heaviest:
            column, cap = int(columns[place]), query[place]
            for rows, shares in self.look_shares(column, cap):
                np.add.at(shared, rows, shares)
        shared.flags.writeable = False
        self.looks.last = (key, shared)
        return shared

    def look_shares(self, column: int, cap: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """For each block, the documents whose look (``heaviest``) holds the visual word at
        ``column``: their rows and min(its share of their visual words, ``cap``), in float32.
        A document's few heaviest words are what it looks like; the long tail of words with
        a draw or two each, which every photo has some of, is left out. At ten million
        documents the looks hold 80 million entries (``LOOK_WORDS`` 8), the whole columns 1.19
        billion. A version written before looks were kept has none: its documents' whole
        visual words (``column_shares``)."""
        blocks = self.heaviest.get(VISUAL)
        if blocks is None:
            yield from self.column_shares(VISUAL, column, cap, np.float32)
            return
        cap = np.float32(cap)
        for part in blocks:
            low, high = int(part.indptr[column]), int(part.indptr[column + 1])
            if low < high:
                shares = np.asarray(part.data[low:high], dtype=np.float32)
                yield np.asarray(part.indices[low:high]), np.minimum(shares, cap)

    def rows_with(self, terms: Sequence[QueryTerm], phi: Mapping[str, Phi]) -> np.ndarray:
        """The documents that contain any form of any of the terms (sorted rows)."""
        found = [
            self.rows_containing(modality, column)
            for term in terms
            for modality, column, _ in term_columns(term, phi)
        ]
        found += [rows for term in terms for rows, _ in self.saying_unlearned(term)]
        return self.union(found)

    def saying_unlearned(self, term: QueryTerm) -> list[tuple[np.ndarray, float]]:
        """(rows, share) of each of the term's forms that documents say but the model never
        learned (``unlearned``)."""
        return [
            (self.unlearned[(modality, token)], share)
            for modality, token, share in term.forms
            if (modality, token) in self.unlearned
        ]

    def union(self, found: Sequence[np.ndarray]) -> np.ndarray:
        """The sorted rows in any of ``found``, marked in one flag per document: at ten
        million documents a common word's forms name millions of rows, and sorting them
        (``np.unique``) took a second of a search."""
        found = [rows for rows in found if len(rows)]
        if len(found) <= 1:
            return np.asarray(found[0]) if found else np.empty(0, dtype=np.int64)
        marked = np.zeros(self.num_documents, dtype=bool)
        for rows in found:
            marked[rows] = True
        return np.flatnonzero(marked)

    def positions_of(self, found: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The positions in ``rows`` of the rows that are in ``found`` (rows of documents)."""
        marked = np.zeros(self.num_documents, dtype=bool)
        marked[found] = True
        return np.flatnonzero(marked[rows])

    def document_frequency(self, modality: str, column: int) -> int:
        """How many documents contain the token at ``column`` of ``modality`` (no two blocks
        hold the same row and token, so their column lengths add up)."""
        return sum(
            int(part.indptr[column + 1] - part.indptr[column]) for part in self.parts[modality]
        )

    def largest_count(self, modality: str, column: int) -> float:
        """The most times any document says the token at ``column`` of ``modality`` (0 when
        none does): a read of its column's counts alone."""
        return max(
            (
                float(part.data[part.indptr[column] : part.indptr[column + 1]].max())
                for part in self.parts.get(modality, [])
                if part.indptr[column + 1] > part.indptr[column]
            ),
            default=0.0,
        )

    def rows_containing(
        self, modality: str, column: int, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """The documents whose own tokens include the token at ``column`` of ``modality``:
        their rows, or of ``rows`` (distinct, ascending), their places in it."""
        if rows is not None:
            return self.entries_at(modality, [column], rows)[0]
        found = [
            part.indices[part.indptr[column] : part.indptr[column + 1]]
            for part in self.parts.get(modality, [])
        ]
        return self.union(found)

    def likeliest(
        self, modality: str, column: int, mu: float, depth: int | None
    ) -> tuple[np.ndarray, float]:
        """The documents (sorted rows) that say the token at ``column`` of ``modality`` and
        whose p_own of it (Dirichlet ``mu``) is highest: ``depth`` of each block's (None: all;
        every one of a block without an ``impact`` order); and the highest p_own of any other
        document that says it (0 when none is left). A common word's query reads the top of
        its columns, not every document that says it."""
        background = float(self.collection[modality][column])
        orders = self.impact.get(modality) or [None] * len(self.parts[modality])
        found, below = [], 0.0
        for part, order in zip(self.parts[modality], orders, strict=True):
            if order is None:
                found.append(part.indices[part.indptr[column] : part.indptr[column + 1]])
            else:
                rows, rest = order.likeliest(part, column, background, mu, depth)
                found.append(rows)
                below = max(below, rest)
        return self.union(found), below

    def left_groups(
        self, modality: str, column: int, mu: float, depth: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The count and length of each group of documents ``likeliest`` leaves, in any block
        (``ImpactOrder.left_groups``; a block without an order leaves none)."""
        background = float(self.collection[modality][column])
        orders = self.impact.get(modality) or [None] * len(self.parts[modality])
        left = [order.left_groups(column, background, mu, depth) for order in orders if order]
        counts, lengths = zip(*left, strict=True) if left else ((), ())
        return np.concatenate([np.empty(0), *counts]), np.concatenate([np.empty(0), *lengths])

    def without_tokens(self, count: int) -> DocumentTokens:
        """``count`` documents with no tokens of their own (photos alone) in this collection:
        their p_own is the collection frequency, as for any document without words."""
        shapes = {m: parts[0].shape[1] for m, parts in self.parts.items()}
        return self._made(
            count,
            {m: [sparse.csc_matrix((count, width))] for m, width in shapes.items()},
            {m: [None] for m in shapes},
            {m: np.zeros(count) for m in self.lengths},
            np.empty(0, dtype=np.int64),
            {m: [sparse.csc_matrix((count, shapes[m]), dtype=np.float32)] for m in self.heaviest},
            {m: [None] for m in self.impact},
        )

    def appended(self, other: DocumentTokens) -> DocumentTokens:
        """These documents, then ``other``'s (a collection's additions): the collection
        frequencies are both's."""
        total = self.num_documents + other.num_documents
        parts = {
            m: [_reshaped(part, total, 0) for part in parts]
            + [_reshaped(part, total, self.num_documents) for part in other.parts[m]]
            for m, parts in self.parts.items()
        }
        by_document = {m: [*self.by_document[m], *[None] * len(other.parts[m])] for m in self.parts}
        heaviest = {  # a version written before looks were kept has none, nor its additions
            m: [_reshaped(part, total, 0) for part in blocks]
            + [_reshaped(part, total, self.num_documents) for part in other.heaviest[m]]
            for m, blocks in self.heaviest.items()
            if m in other.heaviest
        }
        lengths = {m: np.concatenate([self.lengths[m], other.lengths[m]]) for m in self.lengths}
        wordless = np.concatenate(
            [self.wordless_photos, other.wordless_photos + self.num_documents]
        )
        impact = {  # an order holds places within a column: a block moved down keeps it
            m: [*orders, *other.impact.get(m, [None] * len(other.parts[m]))]
            for m, orders in self.impact.items()
        }
        joined = self._made(total, parts, by_document, lengths, wordless, heaviest, impact)
        if other.unlearned:
            unlearned = {key: np.asarray(rows) for key, rows in self.unlearned.items()}
            for key, rows in other.unlearned.items():
                shifted = rows + self.num_documents
                unlearned[key] = np.concatenate([unlearned.get(key, shifted[:0]), shifted])
            joined.unlearned = MappingProxyType(unlearned)
        joined.totals = {m: self.totals[m] + other.totals[m] for m in self.totals}
        joined.collection = _frequencies(joined.totals)
        return joined

    def with_words(
        self, rows: Sequence[int], words: Sequence[TokenCounts], phi: Mapping[str, Phi]
    ) -> DocumentTokens:
        """These counts with ``words`` (each a document's bags) added at ``rows`` that have none
        of those modalities; the collection frequencies stay these documents' own."""
        parts, by_document, lengths = {}, {}, {}
        for m, own in self.parts.items():
            added = _count_matrix(m, phi[m], words, rows, self.num_documents)
            parts[m] = [*own, added] if added.nnz else own
            by_document[m] = [*self.by_document[m], None] if added.nnz else self.by_document[m]
            lengths[m] = self.lengths[m] + _row_sums(added) if added.nnz else self.lengths[m]
        heaviest = {m: self.heaviest[m] for m in self.heaviest if parts[m] is self.parts[m]}
        impact = {  # the rows given words had none: their lengths are the added counts'
            m: [*orders, ImpactOrder.of(parts[m][-1], lengths[m])]
            if parts[m] is not self.parts[m]
            else orders
            for m, orders in self.impact.items()
        }
        return self._made(
            self.num_documents, parts, by_document, lengths, self.wordless_photos, heaviest, impact
        )

    def _made(
        self,
        count: int,
        parts: dict,
        by_document: dict,
        lengths: dict,
        wordless: np.ndarray,
        heaviest: dict,
        impact: dict,
    ) -> DocumentTokens:
        made = object.__new__(DocumentTokens)
        made.num_documents, made.parts, made.lengths = count, parts, lengths
        made.by_document, made.heaviest, made.impact = by_document, heaviest, impact
        made.totals, made.collection, made.wordless_photos = self.totals, self.collection, wordless
        made.unlearned = self.unlearned
        same_photos = parts.get(VISUAL) is self.parts.get(VISUAL) and count == self.num_documents
        made.looks = self.looks if same_photos else LastLook()  # the same visual counts
        return made

    @staticmethod
    def write(
        directory: Path,
        phi: Mapping[str, Phi],
        documents: Collection[TokenCounts],
        word_of_tag: Callable[[str], str | None],
        chunk: int = WRITE_CHUNK,
        buffer: int = WRITE_BUFFER,
    ) -> None:
        """Writes the counts of ``documents`` as ``load`` maps them, with the words and
        hashtags they say that ``phi`` lacks (``unlearned_words``; ``word_of_tag``: the word a
        hashtag says, as the reader reads it): documents a model was not trained on (a sample's
        model, a held-out split) say words it never learned. Two passes over them
        (each column's length, then every entry into its place) taking ``chunk`` documents at
        a time and holding at most about ``buffer`` entries (``_ColumnFiles``): a build
        streams its documents from disk, and ten million documents have 1.3 billion entries
        (16 GB). The ``BY_DOCUMENT`` modalities are also written document by document
        (``_RowFiles``), appended as the documents come, and their documents' looks
        (``_heaviest``) as columns of their own; the word and hashtag columns are then read
        back in runs of about ``buffer`` entries for their order (``ImpactOrder.write``). The
        files are written plainly, not through a memory map, so their writes are ordinary
        writes that an fsync and the crash replay (``tests/crash_replay.py``) see."""
        count = len(documents)
        modalities = list(phi)
        widths = {m: len(phi[m].tokens) for m in modalities}
        per_column = {m: np.zeros(widths[m], dtype=np.int64) for m in modalities}
        looks_per_column = {m: np.zeros(widths[m], np.int64) for m in BY_DOCUMENT if m in widths}
        single = dict.fromkeys(modalities, True)  # every count a float32 holds exactly
        lengths = {m: np.zeros(count) for m in modalities}
        totals = {m: np.zeros(widths[m]) for m in modalities}
        wordless = array("q")
        unlearned: dict[tuple[str, str], list[np.ndarray]] = {}
        for first, part in _numbered_chunks(documents, chunk):
            for key, rows in unlearned_words(part, phi, word_of_tag, first).items():
                unlearned.setdefault(key, []).append(rows)
            for m in modalities:
                rows, cols, values = _entries(m, phi[m], part, range(first, first + len(part)))
                per_column[m] += np.bincount(cols, minlength=widths[m])
                totals[m] += np.bincount(cols, weights=values, minlength=widths[m])
                single[m] = single[m] and bool(np.all(values.astype(np.float32) == values))
                lengths[m][first : first + len(part)] = np.bincount(
                    rows - first, weights=values, minlength=len(part)
                )
                if m in looks_per_column:
                    looked = _heaviest(rows, cols, values)[1]
                    looks_per_column[m] += np.bincount(looked, minlength=widths[m])
            wordless.extend(first + i for i, doc in enumerate(part) if _wordless_photo(doc))

        directory.mkdir(parents=True, exist_ok=True)
        files, by_document, looks = {}, {}, {}
        for i, m in enumerate(modalities):
            indptr = np.concatenate([[0], np.cumsum(per_column[m])])
            small = max(count, widths[m], int(indptr[-1])) <= np.iinfo(np.int32).max
            kind = np.int32 if small else np.int64  # as scipy keeps them: one type, no copy
            np.save(directory / f"{i}.indptr.npy", indptr.astype(kind))
            np.save(directory / f"{i}.lengths.npy", lengths[m])
            np.save(directory / f"{i}.totals.npy", totals[m])
            counts_kind = np.float32 if single[m] else np.float64
            files[m] = _ColumnFiles(directory, str(i), indptr, kind, counts_kind, buffer)
            if m in BY_DOCUMENT:
                by_document[m] = _RowFiles(
                    directory, f"{i}.rows", count, int(indptr[-1]), kind, widths[m], counts_kind
                )
                looks_indptr = np.concatenate([[0], np.cumsum(looks_per_column[m])])
                np.save(directory / f"{i}.heaviest.indptr.npy", looks_indptr.astype(kind))
                looks[m] = _ColumnFiles(
                    directory, f"{i}.heaviest", looks_indptr, kind, np.float32, buffer
                )
        try:
            for first, part in _numbered_chunks(documents, chunk):
                for m in modalities:
                    rows = range(first, first + len(part))
                    entries = _entries(m, phi[m], part, rows)
                    files[m].add(*entries)
                    if m in by_document:
                        by_document[m].add(rows, *entries)
                        looks[m].add(*_heaviest(*entries))
        finally:
            for written in [*files.values(), *by_document.values(), *looks.values()]:
                written.close()
        for i, m in enumerate(modalities):
            if m in WORD_MODALITIES:
                written = _load_part(directory, str(i), (count, widths[m]))
                ImpactOrder.write(directory, f"{i}.impact", written, lengths[m], buffer)
        np.save(directory / "wordless_photos.npy", np.frombuffer(wordless, dtype=np.int64))
        _write_unlearned(directory, {key: np.concatenate(rows) for key, rows in unlearned.items()})
        manifest = {
            "modalities": modalities,
            "documents": count,
            "by_document": [*by_document],
            "heaviest": [*looks],
            "impact": [m for m in modalities if m in WORD_MODALITIES],
        }
        (directory / "tokens.json").write_text(json.dumps(manifest))

    @classmethod
    def load(cls, directory: Path, phi: Mapping[str, Phi]) -> DocumentTokens:
        """The counts ``write`` wrote, memory-mapped. A version written before the
        document-major copy has none: ``counts_at`` reads its columns, with the same counts;
        one written before looks has none either (``look_shares``), nor an impact order
        (``likeliest`` reads its whole columns)."""
        manifest = json.loads((directory / "tokens.json").read_text())
        count = manifest["documents"]
        loaded = object.__new__(cls)
        loaded.num_documents, loaded.parts, loaded.lengths, loaded.totals = count, {}, {}, {}
        loaded.by_document, loaded.heaviest, loaded.impact = {}, {}, {}
        for i, modality in enumerate(manifest["modalities"]):
            arrays = {
                name: np.load(directory / f"{i}.{name}.npy", mmap_mode="r")
                for name in ("lengths", "totals")
            }
            shape = (count, len(phi[modality].tokens))
            loaded.parts[modality] = [_load_part(directory, str(i), shape)]
            loaded.by_document[modality] = [None]
            if modality in WORD_MODALITIES:  # a version written before has no order
                ordered = modality in manifest.get("impact", ())
                loaded.impact[modality] = [
                    ImpactOrder.load(directory, f"{i}.impact") if ordered else None
                ]
            if modality in manifest.get("by_document", ()):  # not in a version written before
                rows = (
                    np.load(directory / f"{i}.rows.{name}.npy", mmap_mode="r") for name in ROW_FILES
                )
                loaded.by_document[modality] = [_DocumentRows(*rows, shape[1])]
            if modality in manifest.get("heaviest", ()):  # not in a version written before
                loaded.heaviest[modality] = [_load_part(directory, f"{i}.heaviest", shape)]
            loaded.lengths[modality] = arrays["lengths"]
            loaded.totals[modality] = arrays["totals"]
        loaded.collection = _frequencies(loaded.totals)
        loaded.wordless_photos = np.load(directory / "wordless_photos.npy")
        loaded.looks = LastLook()
        unlearned = _read_unlearned(directory)
        if unlearned:
            loaded.unlearned = MappingProxyType(unlearned)
        return loaded


UNLEARNED_FILES = ("unlearned.json", "unlearned.rows.npy", "unlearned.starts.npy")


def _load_part(directory: Path, prefix: str, shape: tuple[int, int]) -> sparse.csc_matrix:
    """A block ``DocumentTokens.write`` wrote, memory-mapped."""
    arrays = (
        np.load(directory / f"{prefix}.{name}.npy", mmap_mode="r")
        for name in ("data", "indices", "indptr")
    )
    return sparse.csc_matrix(tuple(arrays), shape=shape)


def unlearned_words(
    documents: Iterable[TokenCounts],
    phi: Mapping[str, Phi],
    word_of_tag: Callable[[str], str | None],
    first_row: int = 0,
) -> dict[tuple[str, str], np.ndarray]:
    """(modality, token) -> the rows (from ``first_row``, ascending) of ``documents`` that say
    it, for each word and hashtag they say that ``phi`` never learned; a hashtag also says
    the word of its form (#kite says 'kite'), as a typed hashtag counts as its word."""
    known = {m: phi[m].index if m in phi else {} for m in (TEXT, TAG)}
    found: dict[tuple[str, str], list[int]] = {}
    for row, document in enumerate(documents, first_row):
        for modality in (TEXT, TAG):
            for token in document.get(modality, ()):
                if token in known[modality]:
                    continue
                found.setdefault((modality, token), []).append(row)
                word = word_of_tag(token) if modality == TAG else None
                if word is not None and word not in known[TEXT]:
                    found.setdefault((TEXT, word), []).append(row)
    return {key: np.unique(np.array(rows, dtype=np.int64)) for key, rows in found.items()}


def _write_unlearned(directory: Path, unlearned: Mapping[tuple[str, str], np.ndarray]) -> None:
    """The unlearned words' rows end to end, where each word's start, in key order; nothing
    for documents that say no word the model lacks (a model trained on all of them)."""
    if not unlearned:
        return
    keys = sorted(unlearned)
    sizes = [len(unlearned[key]) for key in keys]
    np.save(directory / "unlearned.rows.npy", np.concatenate([unlearned[key] for key in keys]))
    np.save(directory / "unlearned.starts.npy", np.concatenate([[0], np.cumsum(sizes)]))
    (directory / "unlearned.json").write_text(json.dumps([list(key) for key in keys]))


def _read_unlearned(directory: Path) -> dict[tuple[str, str], np.ndarray]:
    """What ``_write_unlearned`` wrote (rows memory-mapped), or nothing."""
    if not (directory / "unlearned.json").is_file():
        return {}
    keys = json.loads((directory / "unlearned.json").read_text())
    rows = np.load(directory / "unlearned.rows.npy", mmap_mode="r")
    starts = np.load(directory / "unlearned.starts.npy")
    return {
        (modality, token): rows[starts[i] : starts[i + 1]]
        for i, (modality, token) in enumerate(keys)
    }


class _ColumnFiles:
    """One modality's ``indices`` and ``data`` of a CSC matrix whose column lengths
    (``indptr``) are known, written in place as entries arrive in row order: entries are
    gathered up to ``buffer``, then sorted by column and each column's share written at that
    column's next free place (a column's rows ascend: later entries have later rows). Columns
    whose shares lie end to end on disk go in one write, so a buffer that holds every entry
    writes each file at once. Counts are ``counts_kind``: float32 where it holds every count
    exactly (counts of draws are whole numbers), half the disk and page cache of float64, the
    same scores."""

    def __init__(
        self,
        directory: Path,
        prefix: str,
        indptr: np.ndarray,
        kind: type,
        counts_kind: type,
        buffer: int,
    ) -> None:
        self.places = indptr[:-1].astype(np.int64)  # where each column's next entry goes
        self.kind, self.counts_kind, self.buffer = np.dtype(kind), np.dtype(counts_kind), buffer
        self.gathered: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.held = 0  # entries gathered
        self.handles, self.starts = [], []
        nnz = int(indptr[-1])
        for name, dtype in (("indices", self.kind), ("data", np.dtype(counts_kind))):
            handle = open(directory / f"{prefix}.{name}.npy", "wb")  # noqa: SIM115 (closed in close)
            self.handles.append(handle)
            self.starts.append(npy_header(handle, dtype, (nnz,)))
            handle.truncate(self.starts[-1] + dtype.itemsize * nnz)

    def add(self, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        """Entries of documents after every entry added so far."""
        if not len(rows):
            return
        self.gathered.append((rows, cols, values))
        self.held += len(rows)
        if self.held >= self.buffer:
            self._flush()

    def close(self) -> None:
        """Writes what is gathered and closes the files."""
        try:
            self._flush()
        finally:
            for handle in self.handles:
                handle.close()

    def _flush(self) -> None:
        if not self.gathered:
            return
        rows, cols, values = (np.concatenate(parts) for parts in zip(*self.gathered, strict=True))
        self.gathered, self.held = [], 0
        order = np.argsort(cols, kind="stable")  # rows stay ascending within a column
        cols, rows = cols[order], rows[order].astype(self.kind)
        values = values[order].astype(self.counts_kind)
        first = np.flatnonzero(np.r_[True, cols[1:] != cols[:-1]])
        sizes = np.diff(np.r_[first, len(cols)])
        at = self.places[cols[first]]
        # a run of columns whose shares lie end to end on disk is written at once
        runs = np.flatnonzero(np.r_[True, at[1:] != at[:-1] + sizes[:-1]])
        ends = np.r_[first[runs[1:]], len(cols)]
        for run, start, end in zip(runs, first[runs], ends, strict=True):
            for handle, offset, entries in zip(
                self.handles, self.starts, (rows, values), strict=True
            ):
                handle.seek(offset + entries.itemsize * int(at[run]))
                handle.write(entries[start:end].tobytes())
        self.places[cols[first]] += sizes


class _RowFiles:
    """One modality's document-major copy (``_DocumentRows``) of ``count`` documents and
    ``entries`` entries, appended as the documents' entries arrive in row order: it holds
    nothing but the last row's end."""

    def __init__(
        self,
        directory: Path,
        prefix: str,
        count: int,
        entries: int,
        kind: type,
        width: int,
        counts_kind: type,
    ) -> None:
        # as small as they hold exactly: a row's end may pass 2 ** 31 (``kind``); a token is
        # one of ``width`` (2 bytes for the 1000 visual words); counts of draws are whole
        # numbers, which float32 holds (4 bytes, read back as the float64 counts)
        self.dtypes = (np.dtype(kind), np.min_scalar_type(width - 1), np.dtype(counts_kind))
        self.end = 0  # entries written
        self.handles = []
        sizes = (count + 1, entries, entries)
        for name, dtype, size in zip(ROW_FILES, self.dtypes, sizes, strict=True):
            handle = open(directory / f"{prefix}.{name}.npy", "wb")  # noqa: SIM115 (closed in close)
            npy_header(handle, dtype, (size,))
            self.handles.append(handle)
        self.handles[0].write(np.zeros(1, dtype=self.dtypes[0]).tobytes())  # the first row's start

    def add(self, documents: range, rows: np.ndarray, cols: np.ndarray, values: np.ndarray) -> None:
        """The entries of ``documents`` (the rows after those added so far), each row's sorted
        by token."""
        order = np.lexsort((cols, rows))
        ends = self.end + np.cumsum(np.bincount(rows - documents.start, minlength=len(documents)))
        self.end = int(ends[-1]) if len(ends) else self.end
        for handle, dtype, written in zip(
            self.handles, self.dtypes, (ends, cols[order], values[order]), strict=True
        ):
            handle.write(written.astype(dtype).tobytes())

    def close(self) -> None:
        for handle in self.handles:
            handle.close()


def _column_reads(part: sparse.csc_matrix, columns: Sequence[int], rows: int) -> float:
    """About how many entries ``_column_entries`` reads to find ``rows`` documents in one
    block's ``columns``: each binary search of the fewer (rows, or a short column's entries)
    among the more reads log2 of the more."""
    indptr = np.asarray(part.indptr)
    columns = np.asarray(columns, dtype=np.int64)
    lengths = (indptr[columns + 1] - indptr[columns]).astype(np.float64)
    return float((np.minimum(lengths, rows) * np.log2(np.maximum(lengths, rows) + 1)).sum())


def _column_entries(
    part: sparse.csc_matrix, columns: Sequence[int], rows: slice | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One block's ``DocumentTokens.entries_at``, found by binary search in each token's column
    (rows ascend within a column)."""
    # plain views of the mapped arrays: a memmap's every index and slice is slow
    indptr, indices, data = (np.asarray(a) for a in (part.indptr, part.indices, part.data))
    at, places, values = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)], [np.empty(0)]
    for place, column in enumerate(columns):
        low, high = int(indptr[column]), int(indptr[column + 1])
        if low == high:
            continue
        found = indices[low:high]
        if isinstance(rows, slice):
            first, last = np.searchsorted(found, [rows.start, rows.stop])
            hits, counts = found[first:last] - rows.start, data[low + first : low + last]
        elif len(found) < len(rows):  # the fewer looked up among the more
            where = np.minimum(np.searchsorted(rows, found), len(rows) - 1)
            hit = rows[where] == found
            hits, counts = where[hit], data[low:high][hit]
        else:
            where = np.minimum(np.searchsorted(found, rows), high - low - 1)
            hits = np.flatnonzero(found[where] == rows)
            counts = data[low:high][where[hits]]
        at.append(hits.astype(np.int64))
        places.append(np.full(len(hits), place))
        values.append(counts)
    return np.concatenate(at), np.concatenate(places), np.concatenate(values)


class _DocumentRows:
    """One block's counts of a modality document by document (CSR over the block's first
    ``len(indptr) - 1`` rows, each row's tokens ascending), memory-mapped beside its
    token-major columns: a candidate's counts are its own hundred or so entries, read where
    they lie together."""

    def __init__(
        self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, width: int
    ) -> None:
        # plain views of the mapped arrays: a memmap's every index and slice is slow
        self.indptr, self.indices, self.data = (np.asarray(a) for a in (indptr, indices, data))
        self.width = width  # the modality's tokens

    def entries_in(self, rows: np.ndarray) -> int:
        """How many entries the documents at ``rows`` (ascending) hold in this block."""
        inside = rows[: np.searchsorted(rows, len(self.indptr) - 1)]
        return int((self.indptr[inside + 1] - self.indptr[inside]).sum())

    def entries_at(
        self, columns: Sequence[int], rows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``DocumentTokens.entries_at`` of this block: every entry of the rows read, those of
        the ``columns`` kept."""
        inside = rows[: np.searchsorted(rows, len(self.indptr) - 1)]
        starts = self.indptr[inside].astype(np.int64)
        sizes = self.indptr[inside + 1] - starts
        total = int(sizes.sum())
        # every entry of the rows, row after row: each row's start, then one step at a time
        entries = np.arange(total) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
        places = np.full(self.width, -1)  # each token's place in columns, -1 if not asked
        places[np.asarray(columns, dtype=np.int64)] = np.arange(len(columns))
        at = places[self.indices[entries]]
        asked = np.flatnonzero(at >= 0)
        owners = np.repeat(np.arange(len(inside)), sizes)
        return owners[asked], at[asked], self.data[entries[asked]].astype(np.float64)


def _count_matrix(
    modality: str, phi: Phi, documents: Sequence[TokenCounts], rows: Sequence[int], count: int
) -> sparse.csc_matrix:
    """``count`` documents x ``modality``'s tokens: ``documents[i]``'s counts at ``rows[i]``."""
    at, cols, values = _entries(modality, phi, documents, rows)
    return sparse.csc_matrix((values, (at, cols)), shape=(count, len(phi.tokens)))


def _entries(
    modality: str, phi: Phi, documents: Iterable[TokenCounts], rows: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (row, column, count) of every token of ``modality`` in ``documents`` (unknown tokens
    and counts <= 0 left out), rows ascending as ``rows`` are. The entries gather in typed
    arrays, 8 bytes each, not lists of Python numbers: a million documents hold tens of
    millions of them."""
    at, cols, values = array("q"), array("q"), array("d")
    for row, doc in zip(rows, documents, strict=True):
        for token, value in doc.get(modality, {}).items():
            col = phi.index.get(token)
            if col is not None and value > 0:
                at.append(row)
                cols.append(col)
                values.append(float(value))
    return np.frombuffer(at, np.int64), np.frombuffer(cols, np.int64), np.frombuffer(values)


def _numbered_chunks(
    documents: Iterable[TokenCounts], size: int
) -> Iterator[tuple[int, list[TokenCounts]]]:
    """``documents`` in lists of ``size``, each with the row of its first document."""
    first = 0
    for part in chunked(documents, size):
        yield first, part
        first += len(part)


def _heaviest(
    rows: np.ndarray, cols: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Documents' looks: of entries (row, token, count), each row's ``LOOK_WORDS`` largest
    counts (of equal ones, the lower tokens) as (row, token, its share of the row's counts),
    rows ascending."""
    if not len(rows):
        return rows, cols, values
    order = np.lexsort((cols, -values, rows))
    ordered = rows[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    sizes = np.diff(np.r_[starts, len(ordered)])
    totals = np.add.reduceat(values[order], starts)
    kept = order[np.arange(len(ordered)) - np.repeat(starts, sizes) < LOOK_WORDS]
    shares = values[kept] / np.repeat(totals, np.minimum(sizes, LOOK_WORDS))
    return rows[kept], cols[kept], shares


def _heaviest_part(part: sparse.csc_matrix) -> sparse.csc_matrix:
    """A block's documents' looks (``_heaviest``), as a block of its shape."""
    entries = part.tocoo()
    rows, cols, shares = _heaviest(entries.row.astype(np.int64), entries.col, entries.data)
    return sparse.csc_matrix((shares.astype(np.float32), (rows, cols)), shape=part.shape)


def _wordless_photo(doc: TokenCounts) -> bool:
    """A photo without words or hashtags of its own."""
    return bool(doc.get(VISUAL)) and not any(doc.get(m) for m in WORD_MODALITIES)


def _reshaped(matrix: sparse.csc_matrix, count: int, first_row: int) -> sparse.csc_matrix:
    """``matrix``'s rows from ``first_row`` on in ``count`` rows (shifted only if needed: a
    memory-mapped block stays mapped)."""
    indices = matrix.indices if first_row == 0 else matrix.indices + first_row
    return sparse.csc_matrix((matrix.data, indices, matrix.indptr), shape=(count, matrix.shape[1]))


def _row_sums(matrix: sparse.csc_matrix) -> np.ndarray:
    return np.asarray(matrix.sum(axis=1)).ravel()


def _column_sums(matrix: sparse.csc_matrix) -> np.ndarray:
    return np.asarray(matrix.sum(axis=0)).ravel()


def _frequencies(totals: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """p(w | C) per modality from its column totals."""
    return {m: t / t.sum() if t.sum() > 0 else np.asarray(t) for m, t in totals.items()}


@dataclass(frozen=True)
class QueryTerm:
    """One thing the query asks for, in all the forms that name it: a word and the hashtags of
    the same normalized form ('bird', #birds) are one term, so a document needs one of them, not
    both; its translations into the other language (``core.serving.bilingual``) are forms too, with
    a share below 1. ``forms`` holds (modality, token, share); ``count`` is how often the query
    asks for the term."""

    forms: tuple[tuple[str, str, float], ...]
    count: float = 1.0
    predicted: bool = False  # predicted for a photo, not asked for: no coordination bonus
    head: bool = False  # a word of the phrase's head (``context_weighted``)
    attribute: bool = False  # an attribute of the head's object ('red' of 'red bird')


def query_terms(
    tokens: TokenCounts,
    tags_of_word: Mapping[str, Sequence[str]],
    translations: Callable[[str], Sequence[tuple[str, float]]] | None = None,
) -> list[QueryTerm]:
    """The query's terms: each `@text` word with the hashtags of its form and its translations
    (with theirs), then every token left (a hashtag without a word, a visual word, an extra
    modality's token) as a term of its own."""
    terms, covered = [], set()
    for word, count in tokens.get(TEXT, {}).items():
        named = [(word, 1.0), *(translations(word) if translations else ())]
        forms = []
        for name, share in named:
            forms.append((TEXT, name, share))
            forms += [(TAG, tag, share) for tag in tags_of_word.get(name, ())]
        covered.update((modality, token) for modality, token, share in forms if share == 1.0)
        terms.append(QueryTerm(tuple(forms), float(count)))
    for modality, bag in tokens.items():
        for token, count in bag.items():
            if (modality, token) not in covered:
                terms.append(QueryTerm(((modality, token, 1.0),), float(count)))
    return terms


def predicted_terms(words: TokenCounts, params: RankingParams) -> list[QueryTerm]:
    """A photo's predicted hashtags and words (``words``: counts per modality, as a photo's
    annotation gives them) as terms of its query, each counted ``params.photo_tags`` or
    ``params.photo_words`` times its count: one term per token, so a word does not take its
    hashtags' counts."""
    weights = {TAG: params.photo_tags, TEXT: params.photo_words}
    return [
        QueryTerm(((modality, token, 1.0),), weight * float(count), predicted=True)
        for modality, weight in weights.items()
        if weight > 0
        for token, count in words.get(modality, {}).items()
        if count > 0
    ]


def context_weighted(
    terms: Sequence[QueryTerm],
    head: AbstractSet[str],
    weight: float,
    attributes: AbstractSet[str] = frozenset(),
) -> list[QueryTerm]:
    """The terms with the `@text` words of the phrase's ``head`` marked as its head (and those
    of ``attributes`` as attributes of its object) and every other `@text` word (its context:
    "on the grass" of "a dog playing on the grass") counted ``weight`` times as much, in the
    likelihood and in coordination alike, so that a document of the context alone falls below
    one of the head. A query that is all head keeps its counts, one that has none (it opens
    with its context) is unchanged; a head word the model knows only as a photo's class is a
    term of its own, so its context is still weighted down."""
    words = {term.forms[0][1] for term in terms if term.forms[0][0] == TEXT}
    if not head:
        return list(terms)
    weight = 1.0 if words <= head else weight
    return [
        (
            replace(term, head=True, attribute=term.forms[0][1] in attributes)
            if term.forms[0][1] in head
            else replace(term, count=term.count * weight)
        )
        if term.forms[0][0] == TEXT
        else term
        for term in terms
    ]


def rarity_weighted(
    terms: Sequence[QueryTerm], own: DocumentTokens, phi: Mapping[str, Phi], exponent: float
) -> list[QueryTerm]:
    """The terms with each word term counted by its rarity in the collection: (idf / the mean
    idf of the query's word terms) ** ``exponent``, idf = log((N + 1) / (df + 1)), df the most
    documents any of the term's own forms (the word, its hashtag) is in, read from the counts'
    column pointers (``DocumentTokens.document_frequency``: nothing per document at query time).
    A word that captions of many objects share ("table", "garden") weighs less than the
    object's own ("cat"); the weights' mean stays 1, so a one-word query is unchanged."""
    words = [i for i, term in enumerate(terms) if term.forms[0][0] in WORD_MODALITIES]
    if exponent == 0 or len(words) < 2:
        return list(terms)
    documents = own.num_documents
    idf = {}
    for i in words:
        exact = QueryTerm(tuple(form for form in terms[i].forms if form[2] == 1.0))
        found = [own.document_frequency(m, column) for m, column, _ in term_columns(exact, phi)]
        idf[i] = np.log((documents + 1) / (max(found, default=0) + 1))
    mean = float(np.mean(list(idf.values())))
    if mean <= 0:
        return list(terms)
    return [
        replace(term, count=term.count * (idf[i] / mean) ** exponent) if i in idf else term
        for i, term in enumerate(terms)
    ]


def term_columns(term: QueryTerm, phi: Mapping[str, Phi]) -> list[tuple[str, int, float]]:
    """(modality, column, share) of each of the term's forms that the model knows."""
    columns = []
    for modality, token, share in term.forms:
        column = phi[modality].index.get(token) if modality in phi else None
        if column is not None:
            columns.append((modality, column, share))
    return columns


def photo_terms(terms: Sequence[QueryTerm], phi: Mapping[str, Phi]) -> list[QueryTerm]:
    """The visual-word terms of a query with a photo: more than ``PROVABLE_VISUAL_WORDS`` of
    them that the model knows (a text query's words that name ImageNet classes bring a few);
    none for a query without a photo."""
    visual = [t for t in terms if t.forms[0][0] == VISUAL and term_columns(t, phi)]
    return visual if len(visual) > PROVABLE_VISUAL_WORDS else []


def term_shares(
    term: QueryTerm, phi: Mapping[str, Phi], own: DocumentTokens, rows: np.ndarray | None = None
) -> np.ndarray:
    """How far each document of ``rows`` (None: all) contains ``term``: 1 for the word itself or
    its hashtag, a translation's share for a translation alone, 0 for none of its forms. Only
    words and hashtags count: a photo's visual words say what it looks like, not what it is
    called. The one rule for "this document contains the query word": coordination counts it
    (``coordination_levels``) and an excluded word leaves out every document it finds
    (``SearchEngine``), so that "-рыба" leaves out what "рыба" would count as a fish. A form
    the model never learned counts where a document says it (``DocumentTokens.unlearned``)."""
    shares = np.zeros(own.num_documents if rows is None else len(rows))
    for containing, share in term_forms(term, phi, own, rows):
        shares[containing] = np.maximum(shares[containing], share)
    return shares


def term_forms(
    term: QueryTerm, phi: Mapping[str, Phi], own: DocumentTokens, rows: np.ndarray | None = None
) -> list[tuple[np.ndarray, float]]:
    """(the documents that contain it, its share) of each of the term's forms that
    coordination counts (``term_shares``): its words and hashtags, learned or not. The
    documents as rows, or of ``rows`` (distinct, ascending) as their places in it: found by
    looking those up in the forms' columns, as a common word's columns hold hundreds of
    thousands at ten million documents."""
    learned = [
        (own.rows_containing(modality, column, rows), share)
        for modality, column, share in term_columns(term, phi)
        if modality in WORD_MODALITIES
    ]
    unlearned = [
        (said if rows is None else own.positions_of(said, rows), share)
        for said, share in own.saying_unlearned(term)
    ]
    return learned + unlearned


def coordinated(terms: Sequence[QueryTerm]) -> list[QueryTerm]:
    """The terms coordination counts: the visitor's words and hashtags, not visual words nor
    words predicted for a photo."""
    return [t for t in terms if t.forms[0][0] in WORD_MODALITIES and not t.predicted]


def coordination_levels(
    terms: Sequence[QueryTerm],
    phi: Mapping[str, Phi],
    own: DocumentTokens,
    rows: np.ndarray | None = None,
    params: RankingParams | None = None,
) -> np.ndarray:
    """How many of the query's word terms (words and hashtags, not visual words, nor words
    predicted for a photo) each document of ``rows`` (None: all) contains: a term counts its
    query count times the largest share of its forms the document has (``term_shares``). With
    ``params``, an attribute of the head's object ('red' of 'red bird') counts
    ``attribute_weight`` as much in a document without the object (the red car is not a red
    bird), and a head of two or more words adds ``head_bonus`` times the least share of them
    the document has (a red bird outranks a bird on a branch)."""
    count = own.num_documents if rows is None else len(rows)
    params = params or RankingParams(head_bonus=0.0, attribute_weight=1.0)
    found = [(term, term_shares(term, phi, own, rows)) for term in coordinated(terms)]
    return levels_of(found, count, params)


def levels_of(
    found: Sequence[tuple[QueryTerm, np.ndarray]], count: int, params: RankingParams
) -> np.ndarray:
    """``coordination_levels`` of ``count`` documents, given each coordinated term with the
    share of it each document has. A level never falls when a share grows."""
    objects = [shares for term, shares in found if term.head and not term.attribute]
    with_object = np.max(objects, axis=0) if objects else np.ones(count)
    attribute = params.attribute_weight + (1.0 - params.attribute_weight) * with_object
    levels = np.zeros(count)
    for term, shares in found:
        levels += term.count * shares * (attribute if term.attribute else 1.0)
    head = [shares for term, shares in found if term.head]
    return levels + params.head_bonus * np.min(head, axis=0) if len(head) >= 2 else levels


def ranking_scores(
    terms: Sequence[QueryTerm],
    weights: Mapping[str, float],
    phi: Mapping[str, Phi],
    thetas: np.ndarray,
    own: DocumentTokens | None,
    params: RankingParams,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """What the likelihood ranking orders by (higher is better) for the documents of ``rows``
    (None: all): log p(q | d), plus ``coordination_weight`` per query word term it contains
    (an attribute without its object, a complete head: ``coordination_levels``)."""
    scores = likelihood_scores(terms, weights, phi, thetas, own, params, rows)
    if own is not None and params.coordination_weight > 0:
        scores += params.coordination_weight * coordination_levels(terms, phi, own, rows, params)
    return scores


def likelihood_scores(
    terms: Sequence[QueryTerm],
    weights: Mapping[str, float],
    phi: Mapping[str, Phi],
    thetas: np.ndarray,
    own: DocumentTokens | None,
    params: RankingParams,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """log p(q | d) for the documents of ``rows`` (None: all; higher is better); 0 where
    nothing is known.

    A term's probability is the mean over its forms of the smoothed p(form | d), weighted by
    modality weight x share; the term counts with the mean modality weight of its forms (a
    visual word with the small `@visual` weight, as in theta inference). ``own`` None means the
    documents have no tokens of their own (e.g. photos alone): only their topics speak.

    All forms' p(form | d) come from one product of the documents' thetas with phi's rows of
    the query's forms (a photo query has ~150), and the terms' from one product of those with
    the forms' weights, ``SCORED_ROWS`` documents at a time: one pass over the thetas, not one
    per form, and memory that does not grow with the collection.
    """
    query = WeightedForms.of(terms, weights, phi)
    count = len(thetas) if rows is None else len(rows)
    scores = np.zeros(count)
    if query is None:
        return scores
    for start in range(0, count, SCORED_ROWS):
        block = slice(start, min(start + SCORED_ROWS, count))
        at = block if rows is None else np.asarray(rows[block])
        # phi is float64: cast the thetas once per block, not once per form
        block_thetas = np.asarray(thetas[at], dtype=np.float64)
        probabilities = np.hstack(
            [
                _form_probabilities(m, columns, phi, block_thetas, own, at, params)
                for m, columns in query.by_modality.items()
            ]
        )
        scores[block] = query.log_likelihood(probabilities)
    return scores


@dataclass(frozen=True)
class WeightedForms:
    """The query's forms as the likelihood weighs them: each term's probability is the mean
    of its forms' p(form | d) weighted by modality weight x share (``form_weights``: forms x
    terms, forms modality by modality as ``by_modality`` lists them), and the term counts
    ``coefficients`` times (its count x the mean modality weight of its forms)."""

    by_modality: dict[str, list[int]]
    form_weights: np.ndarray
    coefficients: np.ndarray

    @classmethod
    def of(
        cls, terms: Sequence[QueryTerm], weights: Mapping[str, float], phi: Mapping[str, Phi]
    ) -> WeightedForms | None:
        """None when no term has a form the model knows with a weight above 0."""
        forms: dict[tuple[str, int], int] = {}  # (modality, column) -> its place
        weighting, coefficients = [], []  # per term: {form place: weight x share}
        for term in terms:
            weighted: dict[int, float] = {}  # a token named twice (word, translation) adds up
            modality_weights = []
            for modality, column, share in term_columns(term, phi):
                weight = float(weights.get(modality, 0.0))
                if weight > 0 and share > 0:
                    place = forms.setdefault((modality, column), len(forms))
                    weighted[place] = weighted.get(place, 0.0) + weight * share
                    modality_weights.append(weight)
            if weighted and term.count > 0:
                weighting.append(weighted)
                coefficients.append(term.count * float(np.mean(modality_weights)))
        if not weighting:
            return None
        form_weights = np.zeros((len(forms), len(weighting)))
        for term, weighted in enumerate(weighting):
            for place, weight in weighted.items():
                form_weights[place, term] = weight
        by_modality: dict[str, list[int]] = {}
        for modality, column in forms:
            by_modality.setdefault(modality, []).append(column)
        order = [forms[m, c] for m, columns in by_modality.items() for c in columns]
        return cls(by_modality, form_weights[order], np.asarray(coefficients))

    def log_likelihood(self, probabilities: np.ndarray) -> np.ndarray:
        """log p(q | d) of documents x forms ``probabilities`` (in ``by_modality``'s order)."""
        totals = probabilities @ self.form_weights
        return np.log(totals / self.form_weights.sum(axis=0) + TINY) @ self.coefficients


SCORED_ROWS = 32_768  # documents scored at once: 32k x 150 forms x 8 bytes = 39 MB


def _form_probabilities(
    modality: str,
    columns: list[int],
    phi: Mapping[str, Phi],
    thetas: np.ndarray,
    own: DocumentTokens | None,
    rows: slice | np.ndarray,
    params: RankingParams,
) -> np.ndarray:
    """lambda * p_own(w | d) + (1 - lambda) * sum_t phi_wt theta_td for the documents at
    ``rows`` (whose ``thetas`` these are) and the tokens at ``columns`` of ``modality``: rows x
    columns, in the order of ``columns``."""
    lam, mu = params.own_weight, params.dirichlet_mu
    p = (1.0 - lam) * (thetas @ phi[modality].matrix[columns].T)
    if own is not None:
        lengths = own.lengths[modality][rows][:, None]
        background = own.collection[modality][columns]
        p += lam * (own.counts_at(modality, columns, rows) + mu * background) / (lengths + mu)
    return p


def _highest_own(
    weights: np.ndarray,
    background: np.ndarray,
    groups: Sequence[tuple[np.ndarray, np.ndarray]],
    mu: float,
) -> np.ndarray:
    """For each term (a column of ``weights``: forms x terms), the most sum_f weight_f p_own_f
    of a document that says each form f only as a (count, length) of its ``groups`` left
    (``LikelihoodRanker.outside_at``): over the lengths N left, each form's count at most the
    largest of its groups' at N, the heaviest forms filled first until the counts add up to N;
    or no form said (p_own_f at most p(w | C), its ``background``)."""
    none_said = background @ weights
    lengths = np.unique(np.concatenate([np.empty(0), *(said for _, said in groups)]))
    if not len(lengths):
        return none_said
    most = np.zeros((len(groups), len(lengths)))  # a form's largest count left at each length
    for form, (counts, said) in enumerate(groups):
        np.maximum.at(most[form], np.searchsorted(lengths, said), counts)
    highest = np.array(none_said, dtype=np.float64)
    for term in range(weights.shape[1]):
        budget, own = lengths.copy(), np.zeros(len(lengths))
        for form in np.argsort(-weights[:, term], kind="stable"):
            counted = np.minimum(most[form], budget)
            budget -= counted
            own += weights[form, term] * (counted + mu * background[form])
        highest[term] = max(highest[term], float((own / (lengths + mu)).max()))
    return highest


def _highest_first(values: np.ndarray, count: int) -> np.ndarray:
    """The positions of the ``count`` highest ``values``, highest first: every other value is
    at most the last one's. Not a sort of all of them: at ten million documents a common
    word's bounds are millions."""
    if len(values) <= count:
        return np.argsort(-values, kind="stable")
    highest = np.argpartition(-values, count - 1)[:count]
    return highest[np.argsort(-values[highest], kind="stable")]


def top_rows(scores: np.ndarray, k: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The rows of the k highest scores, best first (ties by row). Of many scores, only
    the few at or above a threshold are sorted (``_above_sampled``): a photo's look-alikes
    are the best few thousand of every document, and a partition of them all took 8 ms at
    a million."""
    rows = _above_sampled(scores, k, allowed) if len(scores) > SAMPLED_TOP else None
    if rows is None:
        if allowed is not None:
            scores = np.where(allowed, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return np.empty(0, dtype=np.int64)
        rows = np.argpartition(-scores, k - 1)[:k]
    return rows[np.lexsort((rows, -scores[rows]))][:k].astype(np.int64)


SAMPLED_TOP = 1 << 16  # past this many scores ``top_rows`` partitions those above a threshold
TOP_SAMPLE = 1 << 14  # scores sampled for the threshold


def _above_sampled(scores: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray | None:
    """The (allowed) rows whose score is at least a threshold that about 2k of them reach,
    read from every n-th score: a pass that compares, where a partition of a million scores
    moves them all. None when fewer than k reach it (the sample misled): every row is
    partitioned then. At least k rows at or above it hold the k best, ties included."""
    stride = len(scores) // TOP_SAMPLE
    sample = scores[::stride] if allowed is None else scores[::stride][allowed[::stride]]
    sample = sample[np.isfinite(sample)]
    place = len(sample) - 1 - 2 * k // stride
    if place < 0:
        return None
    rows = np.flatnonzero(scores >= np.partition(sample, place)[place])
    if allowed is not None:
        rows = rows[allowed[rows]]
    return rows if len(rows) >= k else None


@dataclass(frozen=True)
class RankedDocuments:
    """What a ranking orders: the documents' topic vectors, the index over them, the model's
    phi and each document's own tokens (for the likelihood)."""

    thetas: np.ndarray
    index: NeighborIndex
    phi: Mapping[str, Phi]
    own: DocumentTokens


@dataclass(frozen=True)
class Ranked:
    """The best documents for a query, best first: their rows, their scores (higher is better)
    and the L1 distances of their topic vectors to the query's (what a hit shows)."""

    rows: np.ndarray
    scores: np.ndarray
    distances: np.ndarray


class Proof(NamedTuple):
    """What ``LikelihoodRanker.proven_among`` found: the k best (rows, scores) of every
    document when proven, else None; and the k-th best score it found (-inf with fewer than
    k), which the k-th best of all is at least."""

    best: tuple[np.ndarray, np.ndarray] | None
    kth: float


class ScoredRows:
    """One query's scores of the documents its proof has scored, kept across its tries
    (``LikelihoodRanker.proven_among``): a deeper try scores the likeliest documents again."""

    def __init__(self, score: Callable[[np.ndarray], np.ndarray]) -> None:
        """``score``: the scores of documents at distinct rows, ascending."""
        self.score = score
        self.rows = np.empty(0, dtype=np.int64)  # ascending
        self.scores = np.empty(0)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        """The scores of the documents at ``rows`` (distinct, ascending), each scored once."""
        where = np.searchsorted(self.rows, rows)
        known = where < len(self.rows)
        known[known] = self.rows[where[known]] == rows[known]
        scores = np.empty(len(rows))
        scores[known] = self.scores[where[known]]
        new = rows[~known]
        if len(new):
            scores[~known] = self.score(new)
            merged = np.concatenate([self.rows, new])
            order = np.argsort(merged, kind="stable")
            self.rows, self.scores = (
                merged[order],
                np.concatenate([self.scores, scores[~known]])[order],
            )
        return scores


class Ranker(Protocol):
    """How documents are ordered for a query; ``tests/test_ranking.py`` holds the contract every
    ranker passes. Made by ``ranker_for``, the one place that reads ``RankingParams.method``."""

    def __init__(self, params: RankingParams, documents: RankedDocuments) -> None: ...

    @classmethod
    def describe(cls, params: RankingParams) -> str:
        """The ranking in words (``RankingParams.label``)."""
        ...

    def rank(
        self,
        theta: np.ndarray,
        terms: Sequence[QueryTerm],
        k: int,
        weights: Mapping[str, float],
        allowed: np.ndarray | None = None,
        look: Mapping[str, float] | None = None,
    ) -> Ranked:
        """Up to ``k`` distinct rows of the ``allowed`` ones (None: all), best first; ``look``:
        the visual words a photo's look-alikes are found by, if given
        (``LikelihoodRanker.looking_alike``)."""
        ...

    def scores(
        self, theta: np.ndarray, terms: Sequence[QueryTerm], weights: Mapping[str, float]
    ) -> np.ndarray:
        """Every document's score for the query (higher is better), as ``rank`` orders them."""
        ...


class TopicRanker:
    """The article's ranking: the documents nearest to the query's theta by L1, through the
    index (``core.serving.index``)."""

    def __init__(self, params: RankingParams, documents: RankedDocuments) -> None:
        self.documents = documents

    @classmethod
    def describe(cls, params: RankingParams) -> str:
        return "topics (L1 between topic vectors, the article's setup)"

    def rank(
        self,
        theta: np.ndarray,
        terms: Sequence[QueryTerm],
        k: int,
        weights: Mapping[str, float],
        allowed: np.ndarray | None = None,
        look: Mapping[str, float] | None = None,
    ) -> Ranked:
        rows, distances = self.documents.index.query(theta, k, allowed)
        return Ranked(rows, -distances, distances)

    def scores(
        self, theta: np.ndarray, terms: Sequence[QueryTerm], weights: Mapping[str, float]
    ) -> np.ndarray:
        return -l1_distances(self.documents.thetas, theta)


class LikelihoodRanker:
    """The query's likelihood with topic smoothing, plus coordination (see the module)."""

    def __init__(self, params: RankingParams, documents: RankedDocuments) -> None:
        self.params = params
        self.documents = documents

    @classmethod
    def describe(cls, params: RankingParams) -> str:
        senses = [
            said
            for said, on in (
                ("object senses first", params.object_senses_first),
                ("first senses back", params.first_senses_back),
            )
            if on
        ]
        dictionary = f"dictionary ({', '.join(senses)})" if senses else "dictionary"
        translations = f"collection and {dictionary}" if params.lexicon else "collection only"
        coordination = (
            f"; + {params.coordination_weight:g} per query word contained"
            if params.coordination_weight
            else ""
        )
        context = (
            f"; words after the phrase's head count {params.context_weight:g}"
            if params.context_weight < 1
            else ""
        )
        if params.context_weight < 1 and params.head_by_case:
            context += " (a Russian head read by case)"
        head = (
            f"; a document with every word of the head counts {params.head_bonus:g} words more"
            if params.head_bonus
            else ""
        )
        if params.attribute_weight < 1:
            head += (
                f"; an attribute without its object ('red' of 'red bird') counts"
                f" {params.attribute_weight:g}"
            )
        rarity = f"; words weighted by rarity ** {params.rarity:g}" if params.rarity else ""
        if params.synonym_share < 1:
            rarity += (
                f"; a synonym through the other language counts its translations' shares"
                f" ** {params.synonym_share:g}"
            )
        predicted = "as annotated" if params.photo_as_annotated else "from its visual words"
        photo = (
            f"; a photo alone also by its predicted hashtags x {params.photo_tags:g}, words x "
            f"{params.photo_words:g} ({predicted})"
            if params.photo_tags or params.photo_words
            else ""
        )
        return (
            f"query likelihood with topic smoothing (lambda {params.own_weight:g}, "
            f"mu {params.dirichlet_mu:g}; translations: {translations}{coordination}{context}"
            f"{head}{rarity}{photo})"
        )

    def rank(
        self,
        theta: np.ndarray,
        terms: Sequence[QueryTerm],
        k: int,
        weights: Mapping[str, float],
        allowed: np.ndarray | None = None,
        look: Mapping[str, float] | None = None,
    ) -> Ranked:
        """A large collection scores only the documents with the query's words, when their
        scores prove the top k (``proven_by_words``), or else candidates (``candidates``)."""
        docs = self.documents
        terms = rarity_weighted(terms, docs.own, docs.phi, self.params.rarity)
        candidates = None
        if len(docs.thetas) > LIKELIHOOD_CANDIDATES:
            proven = self.proven_by_words(terms, k, weights, allowed)
            if proven is not None:
                rows, scores = proven
                return Ranked(rows, scores, topic_distances(docs.thetas, theta, rows))
            candidates = self.candidates(theta, terms, weights, allowed, look)
            allowed = None if allowed is None else allowed[candidates]
        scores = ranking_scores(
            terms, weights, docs.phi, docs.thetas, docs.own, self.params, candidates
        )
        best = top_rows(scores, k, allowed)
        rows = best if candidates is None else candidates[best]
        return Ranked(rows, scores[best], topic_distances(docs.thetas, theta, rows))

    def proven_by_words(
        self,
        terms: Sequence[QueryTerm],
        k: int,
        weights: Mapping[str, float],
        allowed: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows, scores) of exactly the k best of every document, found by scoring only
        documents that contain a query word or hashtag (``proven_among``): first those of the
        top coordination tier alone (``top_tier``), then, if they prove nothing, those whose
        own counts make the words likeliest (``likeliest``): ``PROVEN_DEPTHS`` of each form's,
        each depth tried only where its bound is below the k-th best score found. None when
        that is not proven within ``WORD_CANDIDATES`` documents (fewer than k documents with
        the words), or asked with a photo's visual words, whose bound is too loose (a text
        query's few class-name visual words are not): the topic candidates answer then. At ten
        million documents this reads the top of the words' columns and a few thousand
        documents' thetas, not a pass over every theta."""
        docs = self.documents
        query = WeightedForms.of(terms, weights, docs.phi)
        worded = [term for term in terms if term.forms[0][0] != VISUAL]
        if docs.own is None or query is None or not worded:
            return None
        if len(query.by_modality.get(VISUAL, ())) > PROVABLE_VISUAL_WORDS:
            return None  # a photo's visual words: their bound (p_own <= 1) proves nothing
        scored = ScoredRows(
            partial(ranking_scores, terms, weights, docs.phi, docs.thetas, docs.own, self.params)
        )
        floor = -np.inf  # the k-th best score found: the k-th best of all is at least it
        tier = self.top_tier(query, terms, allowed)
        if tier is not None and len(tier[0]) >= k:
            rows, outside = tier
            upper, _ = self.upper_bounds(query, terms, rows)
            proof = self.proven_among(k, rows, upper, outside, scored)
            if proof.best is not None:
                return proof.best
            floor = proof.kth
        for depth in PROVEN_DEPTHS:
            known = floor > -np.inf and depth is not None
            if known and self.outside_at(query, terms, depth) >= floor:
                continue  # documents left unread could beat a score found: no proof
            likeliest, outside = self.likeliest(query, terms, depth)
            if allowed is not None:
                likeliest = likeliest[allowed[likeliest]]
            if len(likeliest) >= k:
                upper, _ = self.upper_bounds(query, terms, likeliest)
                proof = self.proven_among(k, likeliest, upper, outside, scored)
                if proof.best is not None or proof.kth > outside + BOUND_SLACK:
                    return proof.best  # (None: too many of them tie above the k-th score)
                floor = max(floor, proof.kth)
        return None

    def likeliest(
        self, query: WeightedForms, terms: Sequence[QueryTerm], depth: int | None
    ) -> tuple[np.ndarray, float]:
        """The documents (sorted rows) whose own counts make the query's words and hashtags
        likeliest: for each of those forms of its terms, the ``depth`` documents with the
        highest p_own (``DocumentTokens.likeliest``; None: every one that says it), and every
        document that says a form the model never learned. And a bound on the score of every
        other document (``outside_at``)."""
        own, mu = self.documents.own, self.params.dirichlet_mu
        found = [own.likeliest(m, c, mu, depth)[0] for m, c in self._word_forms(terms)]
        found += [rows for term in terms for rows, _ in own.saying_unlearned(term)]
        return own.union(found), self.outside_at(query, terms, depth)

    def outside_at(
        self, query: WeightedForms, terms: Sequence[QueryTerm], depth: int | None
    ) -> float:
        """A bound on the score of every document ``likeliest`` leaves at ``depth``, known
        before reading any. Such a document says each word form only in a group left unread
        (``DocumentTokens.left_groups``), all with its one length N in the form's modality,
        and its counts of them add up to at most N. So each term's probability is at most the
        most, over the lengths N left, of its forms' p(w | d) with each form's count at most
        the largest of its groups left at N, filled heaviest form first until they add up to
        N (a fractional knapsack: exact); or with no form said (p_own at most p(w | C)). Each
        form alone at its likeliest left, as if one document said every form at once, was
        far looser: at ten million documents 'flower' read 452,609 of its documents before it
        proved. Other tokens' p_own is at most 1; coordination is that of a document with, of
        each term, the largest share of its forms that has documents left."""
        docs, params = self.documents, self.params
        own, lam, mu = docs.own, params.own_weight, params.dirichlet_mu
        left = {(m, c): own.left_groups(m, c, mu, depth) for m, c in self._word_forms(terms)}
        totals, place = np.zeros(len(query.coefficients)), 0
        for modality, columns in query.by_modality.items():
            weights = query.form_weights[place : place + len(columns)]  # forms x terms
            place += len(columns)
            topics = self._highest_topics(modality, columns)
            if modality not in WORD_MODALITIES:
                totals += (topics + lam) @ weights
                continue
            background = own.collection[modality][columns]
            groups = [left[modality, c] for c in columns]
            totals += topics @ weights + lam * _highest_own(weights, background, groups, mu)
        sums = query.form_weights.sum(axis=0)
        likelihood = float(np.log(totals / sums + TINY) @ query.coefficients)
        if params.coordination_weight <= 0:
            return likelihood
        shares = []
        for term in coordinated(terms):
            unread = [share for m, c, share in term_columns(term, docs.phi) if len(left[m, c][0])]
            shares.append((term, np.array([max(unread, default=0.0)])))
        return likelihood + params.coordination_weight * float(levels_of(shares, 1, params)[0])

    def _word_forms(self, terms: Sequence[QueryTerm]) -> list[tuple[str, int]]:
        """The (modality, column) of each word and hashtag form of the terms, once."""
        forms = (
            (modality, column)
            for term in terms
            for modality, column, _ in term_columns(term, self.documents.phi)
            if modality in WORD_MODALITIES
        )
        return list(dict.fromkeys(forms))

    @staticmethod
    def proven_among(
        k: int, rows: np.ndarray, upper: np.ndarray, rest: float, scored: ScoredRows
    ) -> Proof:
        """The k best of every document, scoring (``scored``) ``rows`` (ascending)
        ``PROVEN_CHUNK`` at a time in the order of their ``upper`` bounds, once the k-th best
        score found beats both ``rest`` (a bound on every document not in ``rows``) and the
        bound of every row not scored yet; none when a k-th best score found does not beat
        ``rest`` or that does not happen within ``WORD_CANDIDATES`` documents."""
        order = _highest_first(upper, WORD_CANDIDATES + 1)
        found_rows, found_scores, kth = [], [], -np.inf
        for start in range(0, min(len(order), WORD_CANDIDATES), PROVEN_CHUNK):
            chunk = np.sort(rows[order[start : start + PROVEN_CHUNK]])
            found_rows.append(chunk)
            found_scores.append(scored(chunk))
            scores = np.concatenate(found_scores)
            if len(scores) < k:
                continue
            kth = float(np.partition(scores, len(scores) - k)[len(scores) - k])
            if kth <= rest + BOUND_SLACK:
                return Proof(None, kth)  # the documents outside ``rows`` might beat it
            following = start + PROVEN_CHUNK
            unscored = upper[order[following]] if following < len(order) else -np.inf
            if kth > unscored + BOUND_SLACK:
                found = np.concatenate(found_rows)
                by_row = np.argsort(found)  # ties go by row, as when every document is scored
                found, scores = found[by_row], scores[by_row]
                best = top_rows(scores, k)
                return Proof((found[best], scores[best]), kth)
        return Proof(None, kth)

    def top_tier(
        self, query: WeightedForms, terms: Sequence[QueryTerm], allowed: np.ndarray | None
    ) -> tuple[np.ndarray, float] | None:
        """The (allowed) documents that say every word term of the query in some form, and a
        bound on the score of every other document. Each of those lacks a term, so with
        ``coordination_weight`` beta its level is at most the highest of the levels with one
        term at share 0 (``levels_of`` never falls when a share grows), and its likelihood at
        most ``_highest_probabilities``'. Where beta outweighs the likelihood's spread, the
        tier alone proves the top k (``proven_among``): at ten million documents "red car"
        took 56 ms against 185 bounding every document with either word, "apple tree" 42
        against 110 (medians of 6, A B A B in one process, same answers). Where it does not
        (a word after the head counts a quarter: "собака на траве" 212 against 170), it costs
        the tier's bounds. None without coordination or with fewer than two terms the model
        or the documents know: one term's tier is every document with its words."""
        docs, params = self.documents, self.params
        found = coordinated(terms)
        forms = [term_forms(term, docs.phi, docs.own) for term in found]
        tops = [max((share for _, share in named), default=0.0) for named in forms]
        said = [i for i, top in enumerate(tops) if top > 0]
        if params.coordination_weight <= 0 or len(said) < 2:
            return None
        tiers = np.zeros(docs.own.num_documents, dtype=np.int16)  # a query: <= 1,000 words
        for i in said:
            tiers[docs.own.union([rows for rows, _ in forms[i]])] += 1
        rows = np.flatnonzero(tiers == len(said))
        if allowed is not None:
            rows = rows[allowed[rows]]
        lacking = [
            [
                (term, np.array([0.0 if i == j else top]))
                for j, (term, top) in enumerate(zip(found, tops, strict=True))
            ]
            for i in said
        ]
        level = max(float(levels_of(shares, 1, params)[0]) for shares in lacking)
        likelihood = float(query.log_likelihood(self._highest_probabilities(query)[None, :])[0])
        return rows, likelihood + params.coordination_weight * level

    def upper_bounds(
        self, query: WeightedForms, terms: Sequence[QueryTerm], rows: np.ndarray
    ) -> tuple[np.ndarray, float]:
        """An upper bound on the score of each document of ``rows`` (ascending), and one for
        every document without any of the query's words and hashtags. A theta sums to 1, so
        sum_t phi_wt theta_td <= max_t phi_wt; p_own is exact for words and hashtags (the
        document's counts; a document without them has at most the collection frequency) and
        at most 1 for other tokens (visual words); coordination is exact (0 without them)."""
        docs, params = self.documents, self.params
        lam, mu = params.own_weight, params.dirichlet_mu
        bounds, rest = [], []
        for modality, columns in query.by_modality.items():
            topics = self._highest_topics(modality, columns)
            if modality in WORD_MODALITIES:
                background = docs.own.collection[modality][columns]
                lengths = np.asarray(docs.own.lengths[modality][rows])[:, None]
                counts = docs.own.counts_at(modality, columns, rows)
                bounds.append(topics + lam * (counts + mu * background) / (lengths + mu))
                rest.append(topics + lam * background)
            else:
                bounds.append(np.broadcast_to(topics + lam, (len(rows), len(columns))))
                rest.append(topics + lam)
        upper = query.log_likelihood(np.hstack(bounds))
        without = float(query.log_likelihood(np.hstack(rest)[None, :])[0])
        if params.coordination_weight > 0:
            levels = coordination_levels(terms, docs.phi, docs.own, rows, params)
            upper = upper + params.coordination_weight * levels
        return upper, without

    def _highest_topics(self, modality: str, columns: list[int]) -> np.ndarray:
        """The topics' part of p(form | d) can be at most (1 - lambda) max_t phi_wt: a theta
        sums to 1."""
        lam = self.params.own_weight
        return (1.0 - lam) * self.documents.phi[modality].matrix[columns].max(axis=1)

    def _highest_probabilities(self, query: WeightedForms) -> np.ndarray:
        """A bound on p(form | d) of every form of the query for any document, in
        ``by_modality``'s order: p_own = (c + mu p(w | C)) / (N_d + mu) <= (c + mu p(w | C)) /
        (c + mu), as a document's count c of a token is at most its length N_d; that grows
        with c, so the largest count in the token's column bounds it (and a document without
        the token, at most p(w | C))."""
        docs, lam, mu = self.documents, self.params.own_weight, self.params.dirichlet_mu
        bounds = []
        for modality, columns in query.by_modality.items():
            counts = np.array([docs.own.largest_count(modality, c) for c in columns])
            background = docs.own.collection[modality][columns]
            own = (counts + mu * background) / (counts + mu)
            bounds.append(self._highest_topics(modality, columns) + lam * own)
        return np.concatenate(bounds)

    def candidates(
        self,
        theta: np.ndarray,
        terms: Sequence[QueryTerm],
        weights: Mapping[str, float],
        allowed: np.ndarray | None,
        look: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """The rows worth scoring (sorted): the ``LIKELIHOOD_CANDIDATES`` nearest by topics, and
        the documents that contain a query word or hashtag (a document with neither cannot be
        likely). Where more than ``WORD_CANDIDATES`` contain one, the nearest by topics of
        those that contain every word asked, and of those that contain any, stand for them.
        Visual words name no candidates: nearly every photo has some of a query photo's.

        A photo's query (``photo_terms``) takes the documents that look most like it
        (``looking_alike``: by its ``look``, where given) instead of
        the nearest by topics: a photo's theta spreads over many topics, where the index's
        bounds prune nothing and it reads every theta. For the same reason, of the many
        documents with a photo's words, those whose words' part of the score could be highest
        stand for them (``_likeliest_by_words``), not the nearest by topics: 'both' at ten
        million documents 572 ms against 836 (p50, A B A B in one process; recall@10
        against scoring every document 0.4 either way, one query). Nor do the words predicted
        for a photo name candidates: at 300k documents two thirds contain one.
        ``python -m core scale-query`` measures the recall against scoring every document."""
        docs = self.documents
        photo = photo_terms(terms, docs.phi)
        if photo:
            near = self.looking_alike(photo, allowed, look)
        else:
            near, _ = docs.index.query(theta, LIKELIHOOD_CANDIDATES, allowed)
        worded = [term for term in terms if term.forms[0][0] != VISUAL and not term.predicted]
        containing = docs.own.rows_with(worded, docs.phi)
        if len(containing) > WORD_CANDIDATES:
            asked = [t for t in worded if t.forms[0][0] in WORD_MODALITIES]
            pools = [containing]
            if len(asked) > 1:
                pools.append(
                    reduce(np.intersect1d, (docs.own.rows_with([t], docs.phi) for t in asked))
                )
            containing = np.concatenate(
                [
                    self._likeliest_by_words(worded, weights, pool, allowed)
                    if photo
                    else self._nearest_of(theta, pool, allowed)
                    for pool in pools
                ]
            )
        return np.union1d(near, containing).astype(np.int64)

    def looking_alike(
        self,
        photo: Sequence[QueryTerm],
        allowed: np.ndarray | None,
        look: Mapping[str, float] | None = None,
    ) -> np.ndarray:
        """The ``LOOKALIKE_CANDIDATES`` (allowed) documents that share the most of the photo's
        ``LOOKALIKE_WORDS`` heaviest visual words: sum_t min(q_t, d_t) over those words, q the
        photo's visual words as a distribution, d a document's (``column_shares``). Reads
        those words' columns, not every theta (how many: ``LOOKALIKE_CANDIDATES``).

        q is the photo's ``look`` where given: the visual words its annotation finds its
        neighbours by (``SearchEngine._look``: a photo asked alone, by its expected visual
        words), so that a photo's search reads those columns once
        (``DocumentTokens.look_alike_shares``); the expected ones are also without the draw's
        noise (20 photos at a million documents: recall@10 0.885 against 0.825 by its drawn
        ``photo`` terms). Else q is the ``photo`` terms' counts."""
        own, phi = self.documents.own, self.documents.phi
        if look:
            query = bag_distribution(look, phi[VISUAL].index)
            columns = np.flatnonzero(query)
            return own.look_alike(columns, query[columns], LOOKALIKE_CANDIDATES, allowed)
        weights: dict[int, float] = {}
        for term in photo:
            for _, column, share in term_columns(term, phi):
                weights[column] = weights.get(column, 0.0) + term.count * share
        columns = np.fromiter(weights, dtype=np.int64, count=len(weights))
        query = np.fromiter(weights.values(), dtype=np.float64, count=len(weights))
        return own.look_alike(columns, query / query.sum(), LOOKALIKE_CANDIDATES, allowed)

    def _likeliest_by_words(
        self,
        worded: Sequence[QueryTerm],
        weights: Mapping[str, float],
        rows: np.ndarray,
        allowed: np.ndarray | None,
    ) -> np.ndarray:
        """The ``WORD_CANDIDATES`` of ``rows`` (and ``allowed``) whose words' part of the score
        could be highest (``upper_bounds`` of the ``worded`` terms alone: each document's own
        counts of the words, coordination exact), sorted."""
        if allowed is not None:
            rows = rows[allowed[rows]]
        query = WeightedForms.of(worded, weights, self.documents.phi)
        if len(rows) <= WORD_CANDIDATES or query is None:
            return rows
        upper, _ = self.upper_bounds(query, worded, rows)
        return np.sort(rows[_highest_first(upper, WORD_CANDIDATES)])

    def _nearest_of(
        self, theta: np.ndarray, rows: np.ndarray, allowed: np.ndarray | None
    ) -> np.ndarray:
        """The ``WORD_CANDIDATES`` of ``rows`` (and ``allowed``) nearest to ``theta`` by topics,
        through the index: at ten million documents a common word's rows are millions, and
        reading their thetas one by one (the row-major copy) took a photo with words 14 s
        where the index's topic-major copy took 2 (``scale-query``, 10M)."""
        if len(rows) <= WORD_CANDIDATES:
            return rows
        among = np.zeros(len(self.documents.thetas), dtype=bool)
        among[rows] = True
        if allowed is not None:
            among &= allowed
        if not among.any():
            return np.empty(0, dtype=np.int64)
        found, _ = self.documents.index.query(theta, WORD_CANDIDATES, among)
        return found

    def scores(
        self, theta: np.ndarray, terms: Sequence[QueryTerm], weights: Mapping[str, float]
    ) -> np.ndarray:
        docs = self.documents
        terms = rarity_weighted(terms, docs.own, docs.phi, self.params.rarity)
        return ranking_scores(terms, weights, docs.phi, docs.thetas, docs.own, self.params)


def bag_distribution(bag: Mapping[str, float], index: Mapping[str, int]) -> np.ndarray:
    """A bag of tokens as a dense distribution over a phi index (unknown tokens left out)."""
    dense = np.zeros(len(index))
    for token, count in bag.items():
        if token in index:
            dense[index[token]] = count
    return dense / dense.sum() if dense.sum() > 0 else dense


def topic_distances(thetas: np.ndarray, theta: np.ndarray, rows: Sequence[int]) -> np.ndarray:
    """The L1 distance from the query's ``theta`` to the topic vector of each of ``rows``."""
    return np.array([np.abs(thetas[row] - theta).sum() for row in rows], dtype=np.float64)


RANKERS: dict[str, type[TopicRanker] | type[LikelihoodRanker]] = {
    "topics": TopicRanker,
    "likelihood": LikelihoodRanker,
}
METHODS = tuple(RANKERS)


def ranker_for(params: RankingParams, documents: RankedDocuments) -> Ranker:
    """The ranker ``params`` name, over ``documents``."""
    return RANKERS[params.method](params, documents)


ARTICLE_RANKING = RankingParams(method="topics")
# The defaults before each lever, every later lever off too.
BEFORE_SYNONYMS = RankingParams(synonym_share=1.0)
BEFORE_SENSES = replace(BEFORE_SYNONYMS, object_senses_first=False, first_senses_back=False)
BEFORE_ATTRIBUTES = replace(BEFORE_SENSES, attribute_weight=1.0)
BEFORE_SENTENCES = replace(BEFORE_ATTRIBUTES, context_weight=1.0)
BEFORE_PHRASES = replace(BEFORE_SENTENCES, own_weight=0.5, coordination_weight=0.0)
