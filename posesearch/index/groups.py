"""Identical rows collapsed into one representative: structures that degrade on exact duplicates
(graphs whose pruning drops links between identical points, the PyPI VP-tree's recursion) index the
distinct rows only and expand each result back into its group (ties by smaller row)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class RowGroups:
    rows: np.ndarray          # (U,) int64 the first row of each distinct vector, in data order
    group_start: np.ndarray   # (U + 1,) int64 CSR offsets into members
    members: np.ndarray       # (N,) int64 rows grouped by representative, ascending within a group

    @classmethod
    def of(cls, data: np.ndarray) -> "RowGroups":
        """Group the bit-identical rows of ``data`` (N, D): a 64-bit hash of each row's bytes, a stable
        sort of the hashes, then byte comparisons within each run of equal hashes (linear in N D; about
        0.1 s for 300k rows, where ``np.unique`` over the rows as bytes took 1.6 s)."""
        data = np.ascontiguousarray(data)
        if data.ndim != 2:
            raise ValueError(f"RowGroups.of: expected a 2-d array, got shape {data.shape}")
        n = data.shape[0]
        width = data.dtype.itemsize * data.shape[1]
        word = np.uint32 if width % 4 == 0 else np.uint8   # compare 4-byte words where the rows allow
        raw = data.reshape(n * data.shape[1]).view(word).reshape(n, width // np.dtype(word).itemsize)
        hashes = np.empty(n, np.uint64)
        _row_hashes(raw, hashes)
        order = np.argsort(hashes, kind="stable")          # equal hashes: rows ascending
        first = np.empty(n, np.int64)                       # each row's first identical row
        _first_identical(raw, hashes, order, first)
        ar = np.arange(n, dtype=np.int64)
        rows = np.flatnonzero(first == ar).astype(np.int64)   # representatives in data order
        if len(rows) == n:
            return cls(rows, np.arange(n + 1, dtype=np.int64), ar)
        group_of = np.empty(n, np.int64)
        group_of[rows] = np.arange(len(rows))
        group = group_of[first]                             # group of each row
        members = np.argsort(group, kind="stable").astype(np.int64)
        start = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(np.bincount(group, minlength=len(rows)), out=start[1:])
        return cls(rows, start, members)

    @property
    def duplicates(self) -> int:
        return int(len(self.members) - len(self.rows))


@njit(cache=True, nogil=True)
def _row_hashes(raw, out):
    """FNV-1a over each row's words, finished with a 64-bit mix."""
    for i in range(raw.shape[0]):
        h = np.uint64(14695981039346656037)
        for j in range(raw.shape[1]):
            h = (h ^ np.uint64(raw[i, j])) * np.uint64(1099511628211)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        out[i] = h


@njit(cache=True, nogil=True)
def _first_identical(raw, hashes, order, first):
    """first[r] = the smallest row with the same bytes as row r. ``order`` sorts the hashes stably, so a
    run of equal hashes lists its rows ascending; each row is compared with the distinct rows found so
    far in its run (one, unless 64-bit hashes collide). ``raw``: the rows' bytes as words."""
    n = order.shape[0]
    reps = np.empty(n, np.int64)
    i = 0
    while i < n:
        e = i + 1
        while e < n and hashes[order[e]] == hashes[order[i]]:
            e += 1
        nr = 0
        for t in range(i, e):
            r = order[t]
            found = -1
            for u in range(nr):
                c = reps[u]
                same = True
                for j in range(raw.shape[1]):
                    if raw[r, j] != raw[c, j]:
                        same = False
                        break
                if same:
                    found = c
                    break
            if found < 0:
                reps[nr] = r
                nr += 1
                found = r
            first[r] = found
        i = e
