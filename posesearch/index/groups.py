"""Identical rows collapsed into one representative: structures that degrade on exact duplicates
(graphs whose pruning drops links between identical points, the PyPI VP-tree's recursion) index the
distinct rows only and expand each result back into its group (ties by smaller row)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RowGroups:
    rows: np.ndarray          # (U,) int64 the first row of each distinct vector, in data order
    group_start: np.ndarray   # (U + 1,) int64 CSR offsets into members
    members: np.ndarray       # (N,) int64 rows grouped by representative, ascending within a group

    @classmethod
    def of(cls, data: np.ndarray) -> "RowGroups":
        """Group the bit-identical rows of ``data`` (N, D)."""
        data = np.ascontiguousarray(data)
        keys = data.view(np.dtype((np.void, data.dtype.itemsize * data.shape[1]))).ravel()
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")            # representatives in data order
        rows = first[order].astype(np.int64)
        group_of = np.empty(len(order), np.int64)
        group_of[order] = np.arange(len(order))
        group = group_of[inverse.ravel()]                   # group of each row
        members = np.argsort(group, kind="stable").astype(np.int64)
        start = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(np.bincount(group, minlength=len(rows)), out=start[1:])
        return cls(rows, start, members)

    @property
    def duplicates(self) -> int:
        return int(len(self.members) - len(self.rows))
