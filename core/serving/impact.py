"""Each word's documents in the order of how likely their own counts make the word: what lets
a query of a common word read the top of its columns, not the whole of them.

The likelihood ranking's own part of p(w | d) is p_own = (c + mu p(w | C)) / (N_d + mu), c the
document's count of the token and N_d its number of tokens of the modality. Within one token's
column p(w | C) is the same for every document, so p_own depends on (c, N_d) alone; but how it
orders those pairs depends on mu, a ranking parameter a data scientist changes live. So a
column's entries are kept grouped by (c, N_d) (``ImpactOrder``), and a query orders the groups
by the p_own each gives under its own mu: a column has a few hundred groups at most, its
entries up to hundreds of thousands at ten million documents.

What must stay true: a block's documents keep the lengths its groups were made with. They do:
a collection's additions are blocks of their own, and words predicted for a photo go to
documents that have none of the modality (``DocumentTokens.with_words``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from core.serving.index import npy_header

GROUP_FILES = ("group_indptr", "group_counts", "group_lengths", "group_ends")


@dataclass(frozen=True)
class ImpactOrder:
    """One block's columns with each column's entries grouped by (count, document length).

    ``positions`` lists, column by column as the block's entries lie, each entry's position
    within its column, group after group; the groups of column j are ``group_indptr[j]`` to
    ``group_indptr[j + 1]``, each with the count and length its documents share and where it
    ends among its column's positions. Positions within a column, not rows: a block moved to
    later rows (a collection's additions) keeps its order."""

    positions: np.ndarray
    group_indptr: np.ndarray
    group_counts: np.ndarray
    group_lengths: np.ndarray
    group_ends: np.ndarray

    @classmethod
    def of(cls, part: sparse.csc_matrix, lengths: np.ndarray) -> ImpactOrder:
        """The order of a block held in memory; ``lengths``: every row's number of tokens."""
        width = part.shape[1]
        positions, counts, said, ends, per_column = _grouped(
            part.indptr, part.indices, part.data, lengths, 0, width
        )
        indptr = np.concatenate([[0], np.cumsum(per_column)])
        return cls(positions, indptr, counts, said, ends)

    @staticmethod
    def write(
        directory: Path, prefix: str, part: sparse.csc_matrix, lengths: np.ndarray, buffer: int
    ) -> None:
        """Writes a (memory-mapped) block's order as ``load`` maps it, a run of columns of
        about ``buffer`` entries at a time: the word columns of ten million documents hold 54
        million entries. Plain writes, as ``DocumentTokens.write``'s."""
        indptr = np.asarray(part.indptr, dtype=np.int64)
        width, entries = len(indptr) - 1, int(indptr[-1])
        longest = int(np.diff(indptr).max()) if width else 0
        kind = np.dtype(np.int32 if longest <= np.iinfo(np.int32).max else np.int64)
        groups = [(np.empty(0), np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64))]
        with open(directory / f"{prefix}.positions.npy", "wb") as handle:
            npy_header(handle, kind, (entries,))
            first = 0
            while first < width:
                last = int(np.searchsorted(indptr, indptr[first] + buffer, side="right")) - 1
                last = min(max(last, first + 1), width)
                positions, *grouped = _grouped(
                    indptr, part.indices, part.data, lengths, first, last
                )
                handle.write(positions.astype(kind).tobytes())
                groups.append(tuple(grouped))
                first = last
        counts, said, ends, per_column = (np.concatenate(g) for g in zip(*groups, strict=True))
        group_indptr = np.concatenate([[0], np.cumsum(per_column, dtype=np.int64)])
        for name, values in zip(GROUP_FILES, (group_indptr, counts, said, ends), strict=True):
            np.save(directory / f"{prefix}.{name}.npy", values)

    @classmethod
    def load(cls, directory: Path, prefix: str) -> ImpactOrder:
        """The order ``write`` wrote, memory-mapped (shared by a node's replicas)."""
        arrays = [
            np.load(directory / f"{prefix}.{name}.npy", mmap_mode="r")
            for name in ("positions", *GROUP_FILES)
        ]
        return cls(*(np.asarray(array) for array in arrays))

    def likeliest(
        self,
        part: sparse.csc_matrix,
        column: int,
        background: float,
        mu: float,
        depth: int | None,
    ) -> tuple[np.ndarray, float]:
        """The rows (ascending) of the ``depth`` documents of the block's ``column`` (None:
        all) whose p_own of its token is highest, and the highest p_own of the others (0 when
        none is left): each group's p_own with ``background`` the token's p(w | C)."""
        groups = self._likeliest_groups(column, background, mu)
        if groups is None:
            return np.empty(0, dtype=np.int64), 0.0
        _, begins, ends, likely, read = groups
        wanted, stop, left = _reach(likely, read, depth)
        low = int(part.indptr[column])
        if wanted == int(read[-1]):  # the whole column, its rows ascending as they lie
            return np.asarray(part.indices[low : low + wanted], dtype=np.int64), left
        taken = np.concatenate(
            [
                self.positions[low + begin : low + end]
                for begin, end in zip(begins[: stop + 1], ends[: stop + 1], strict=True)
            ]
        )[:wanted]
        rows = np.asarray(part.indices[low + taken.astype(np.int64)], dtype=np.int64)
        return np.sort(rows), left

    def left_groups(
        self, column: int, background: float, mu: float, depth: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The count and length of each group with documents ``likeliest`` leaves at
        ``depth``, known without reading any: what a bound on those documents needs."""
        groups = self._likeliest_groups(column, background, mu)
        if groups is None:
            return np.empty(0), np.empty(0)
        order, _, _, likely, read = groups
        wanted, stop, _ = _reach(likely, read, depth)
        if wanted == int(read[-1]):
            return np.empty(0), np.empty(0)
        left = order[stop if wanted < read[stop] else stop + 1 :] + int(self.group_indptr[column])
        return np.asarray(self.group_counts[left]), np.asarray(self.group_lengths[left])

    def _likeliest_groups(
        self, column: int, background: float, mu: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """The column's groups, likeliest first: their places among the column's groups, where
        each begins and ends among its positions, its p_own, and how many documents the groups
        up to it hold."""
        first, last = int(self.group_indptr[column]), int(self.group_indptr[column + 1])
        if first == last:
            return None
        ends = np.asarray(self.group_ends[first:last], dtype=np.int64)
        begins = np.concatenate([[0], ends[:-1]])
        likely = (self.group_counts[first:last] + mu * background) / (
            self.group_lengths[first:last] + mu
        )
        order = np.argsort(-likely, kind="stable")
        begins, ends, likely = begins[order], ends[order], likely[order]
        return order, begins, ends, likely, np.cumsum(ends - begins)


def _reach(likely: np.ndarray, read: np.ndarray, depth: int | None) -> tuple[int, int, float]:
    """Of groups likeliest first (their p_own ``likely``, ``read`` documents up to each): how
    many documents ``depth`` reads, the last group it reads from, and the p_own of the first
    document it leaves (0 when it reads them all)."""
    total = int(read[-1])
    wanted = total if depth is None else min(depth, total)
    stop = int(np.searchsorted(read, wanted, side="left"))
    if wanted == total:
        return wanted, stop, 0.0
    return wanted, stop, float(likely[stop] if wanted < read[stop] else likely[stop + 1])


def _grouped(
    indptr: np.ndarray,
    indices: np.ndarray,
    data: np.ndarray,
    lengths: np.ndarray,
    first: int,
    last: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Columns ``first`` to ``last`` of a block grouped by (count, length): each entry's
    position within its column, group after group; each group's count, length and end within
    its column; and how many groups each column has."""
    indptr = np.asarray(indptr, dtype=np.int64)
    low, high = int(indptr[first]), int(indptr[last])
    sizes = np.diff(indptr[first : last + 1])
    columns = np.repeat(np.arange(last - first), sizes)
    counts = np.asarray(data[low:high], dtype=np.float64)
    said = np.asarray(lengths, dtype=np.float64)[np.asarray(indices[low:high])]
    order = np.lexsort((said, -counts, columns))  # within a group, rows stay ascending
    starts = indptr[first:last] - low
    positions = order - np.repeat(starts, sizes)
    columns, counts, said = columns[order], counts[order], said[order]
    changes = (columns[1:] != columns[:-1]) | (counts[1:] != counts[:-1]) | (said[1:] != said[:-1])
    begins = np.flatnonzero(np.concatenate([[len(order) > 0], changes]))
    ends = np.concatenate([begins[1:], [len(order)]]).astype(np.int64) - starts[columns[begins]]
    per_column = np.bincount(columns[begins], minlength=last - first)
    return positions, counts[begins], said[begins], ends, per_column
