"""A column's documents likeliest first (``ImpactOrder``): what a common word's proof reads."""

from collections import Counter

import numpy as np
import pytest
from scipy import sparse

from core.reading.text import TEXT
from core.reading.vision import VISUAL
from core.serving.impact import ImpactOrder
from core.serving.model import Phi
from core.serving.ranking import DocumentTokens


def counts_block(seed: int = 0) -> sparse.csc_matrix:
    """Sixty documents x five tokens of whole counts: token 0 in most documents, token 4 in
    none; documents of the same length and count tie."""
    generator = np.random.default_rng(seed)
    said = generator.random((60, 5)) < [0.9, 0.5, 0.2, 0.05, 0.0]
    counts = generator.integers(1, 4, size=(60, 5)) * said
    return sparse.csc_matrix(counts.astype(np.float64))


def p_own(block: sparse.csc_matrix, column: int, background: float, mu: float) -> np.ndarray:
    lengths = np.asarray(block.sum(axis=1)).ravel()
    counts = block[:, column].toarray().ravel()
    return np.where(counts > 0, (counts + mu * background) / (lengths + mu), -np.inf)


@pytest.mark.parametrize("mu", [0.5, 10.0, 200.0])
def test_the_documents_read_have_the_highest_p_own_and_the_bound_is_the_highest_left(mu) -> None:
    # given a block and its order
    block = counts_block()
    lengths = np.asarray(block.sum(axis=1)).ravel()
    order = ImpactOrder.of(block, lengths)
    for column in range(5):
        likely = p_own(block, column, 0.01, mu)
        saying = np.flatnonzero(likely > -np.inf)
        for depth in (0, 1, 7, 30, None):
            # when a query reads the first `depth` documents of the column under its mu
            rows, left = order.likeliest(block, column, 0.01, mu, depth)
            # (whose bound is known before reading them: the groups left, each's p_own)
            counts, lengths = order.left_groups(column, 0.01, mu, depth)
            assert left == max((counts + mu * 0.01) / (lengths + mu), default=0.0)
            # then it reads that many, sorted, each saying the token
            assert rows.tolist() == sorted(rows.tolist())
            assert len(rows) == (len(saying) if depth is None else min(depth, len(saying)))
            assert set(rows) <= set(saying)
            # and none left unread is likelier than any read, and the bound is the likeliest
            # left (0 when every one is read)
            unread = np.setdiff1d(saying, rows)
            if len(unread):
                assert left == pytest.approx(likely[unread].max())
                assert not len(rows) or likely[rows].min() >= likely[unread].max() - 1e-12
            else:
                assert left == 0.0


def test_an_order_written_in_runs_is_the_order_made_in_memory(tmp_path) -> None:
    # given a block whose columns are written in runs of a few entries
    block = counts_block(seed=3)
    lengths = np.asarray(block.sum(axis=1)).ravel()
    ImpactOrder.write(tmp_path, "0.impact", block, lengths, buffer=7)
    written, made = ImpactOrder.load(tmp_path, "0.impact"), ImpactOrder.of(block, lengths)
    # then it holds what the order made in memory holds, positions in 4 bytes
    assert written.positions.dtype == np.int32
    for name in ("positions", "group_indptr", "group_counts", "group_lengths", "group_ends"):
        assert np.array_equal(getattr(written, name), getattr(made, name)), name
    # and a block moved down (a collection's additions) reads the same documents, moved
    moved = sparse.csc_matrix((block.data, block.indices + 100, block.indptr), shape=(160, 5))
    for column in range(4):
        rows, left = made.likeliest(block, column, 0.02, 10.0, 5)
        shifted, same = made.likeliest(moved, column, 0.02, 10.0, 5)
        assert (shifted - 100).tolist() == rows.tolist() and same == left


def test_words_given_to_photos_and_a_collections_additions_are_read_with_their_own_order() -> None:
    # given documents saying 'cat' (one of four words, twice of two), two photos without words
    # given predicted words (a block of their own: 'cat' alone, 'cat' of two words)
    phi = {
        TEXT: Phi(["cat", "a", "b", "c"], np.full((4, 1), 0.25)),
        VISUAL: Phi(["v"], np.ones((1, 1))),
    }
    documents = [
        {TEXT: Counter(cat=1, a=1, b=1, c=1)},
        {TEXT: Counter(cat=2)},
        {VISUAL: Counter(v=2)},
        {TEXT: Counter(cat=1, a=3)},
        {VISUAL: Counter(v=1)},
    ]
    predicted = [{TEXT: Counter(cat=1)}, {TEXT: Counter(cat=1, a=1)}]
    own = DocumentTokens(phi, documents).with_words([2, 4], predicted, phi)
    # and a collection's addition saying it five times
    own = own.appended(DocumentTokens(phi, [{TEXT: Counter(cat=5)}]))
    background = own.collection[TEXT][0]
    # when the likeliest document of each block is read
    rows, left = own.likeliest(TEXT, 0, 1.0, 1)
    # then each block gives its own likeliest (2 of 2, 1 of 1, 5 of 5), and the others are
    # bounded by the likeliest of them (1 of 2, a photo's)
    assert rows.tolist() == [1, 2, 5]
    assert left == pytest.approx((1 + background) / (2 + 1))
    counts, lengths = own.left_groups(TEXT, 0, 1.0, 1)
    assert sorted(zip(counts, lengths, strict=True)) == [(1, 2), (1, 4)]
    # and read to the end, every document that says it
    assert own.likeliest(TEXT, 0, 1.0, None)[0].tolist() == own.rows_containing(TEXT, 0).tolist()
