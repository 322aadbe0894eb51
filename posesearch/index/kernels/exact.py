"""Exact brute-force k-NN kernels (numba): the reference every index backend is checked against.

One pass over the data per query: a float32 approximation of every row's distance filters the rows
(with the proven error bound of :mod:`._common`, so no true neighbour is lost), survivors get the
exact float64 distance (:func:`._common.exact_distance`, fixed summation order) and enter a (distance,
id) heap. Results are sorted ascending by distance, ties broken by the smaller id. Batches run in
parallel over queries, and each worker walks the data in cache-sized row blocks shared by a group of
queries. Rows holding NaN are never returned; should fewer than k rows be comparable, the missing
places hold id -1 and distance inf.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ...errors import InvalidArgumentError, check_number
from ._common import (JIT, check_data, check_k, check_queries, check_weights, exact_distance, finish_heap,
                      heap_offer, metric_code, SCAN_BLOCK, prepare_query, scan_rows)

__all__ = ["knn_exact", "pairwise_exact", "rescore"]

_ROW_BLOCK = 4096     # rows per block (~560 KB at D = 34: stays in L2 while a query group scans it)
_QUERY_GROUP = 4      # queries sharing one pass over the blocks (fewer when that leaves threads idle)


@njit(**JIT)
def _knn_one(X, q, w, metric, k, out_i, out_d):
    dd = X.shape[1]
    q32 = np.empty(dd, np.float32)
    c32 = np.empty(dd, np.float32)
    cn = np.empty(max(w.shape[0], dd // 2))
    eps, eta = prepare_query(q, w, metric, q32, c32, cn)
    hd = np.empty(k)
    hi = np.empty(k, np.int64)
    dummy = np.empty(0, np.int64)
    buf = np.empty(SCAN_BLOCK, np.float32)
    n = scan_rows(X, 0, X.shape[0], dummy, False, q, w, metric, q32, c32, eps, eta, hd, hi, 0, buf)
    finish_heap(hd, hi, n, k, out_i, out_d)


@njit(parallel=True, **JIT)
def _knn_batch(X, Q, W, metric, k, group, out_i, out_d):
    """Queries in groups of ``group`` (in parallel); a group walks the rows in blocks together."""
    nq = Q.shape[0]
    dd = X.shape[1]
    nrows = X.shape[0]
    ngroups = (nq + group - 1) // group
    dummy = np.empty(0, np.int64)
    for g in prange(ngroups):
        b0 = g * group
        b1 = min(nq, b0 + group)
        m = b1 - b0
        q32 = np.empty((m, dd), np.float32)
        c32 = np.empty((m, dd), np.float32)
        cn = np.empty(max(W.shape[1], dd // 2))
        eps = np.empty(m)
        eta = np.empty(m)
        hd = np.empty((m, k))
        hi = np.empty((m, k), np.int64)
        sz = np.zeros(m, np.int64)
        buf = np.empty(SCAN_BLOCK, np.float32)
        for j in range(m):
            eps[j], eta[j] = prepare_query(Q[b0 + j], W[b0 + j], metric, q32[j], c32[j], cn)
        for r0 in range(0, nrows, _ROW_BLOCK):
            r1 = min(nrows, r0 + _ROW_BLOCK)
            for j in range(m):
                sz[j] = scan_rows(X, r0, r1, dummy, False, Q[b0 + j], W[b0 + j], metric, q32[j], c32[j],
                                  eps[j], eta[j], hd[j], hi[j], sz[j], buf)
        for j in range(m):
            finish_heap(hd[j], hi[j], sz[j], k, out_i[b0 + j], out_d[b0 + j])


def knn_exact(data: np.ndarray, queries: np.ndarray, weights: np.ndarray | None, k: int,
              metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of ``data`` for each query.

    Args:
        data: (N, D) float32 rows, D = 2K, laid out [x0, y0, x1, y1, ...].
        queries: (B, D) (or (D,)) float32/float64, finite.
        weights: (B, K) (or (K,) for all queries) float64 >= 0 with positive row sums for
            ``metric="weighted"``; None for ``"l2"``.
        k: number of neighbours, 1 <= k <= N.
        metric: ``"weighted"`` or ``"l2"``.

    Returns:
        ``(ids int64 (B, k), dists float64 (B, k))`` ascending by distance, ties by smaller id; the
        distances are the exact float64 values of :func:`._common.exact_distance`.
    """
    code = metric_code(metric)
    data = check_data(data)
    n, dd = data.shape
    k = check_k(k, n)
    q = check_queries(queries, dd)
    w = check_weights(weights, code, q.shape[0], dd // 2)
    b = q.shape[0]
    out_i = np.empty((b, k), np.int64)
    out_d = np.empty((b, k), np.float64)
    if b == 1:
        _knn_one(data, q[0], w[0], code, k, out_i[0], out_d[0])
    elif b > 1:
        import numba
        group = max(1, min(_QUERY_GROUP, -(-b // numba.get_num_threads())))
        _knn_batch(data, q, w, code, k, group, out_i, out_d)
    return out_i, out_d


@njit(**JIT)
def _pairwise(X, q, w, metric, out):
    for i in range(X.shape[0]):
        out[i] = exact_distance(X[i], q, w, metric)


def pairwise_exact(data: np.ndarray, query: np.ndarray, weights: np.ndarray | None, metric: str) -> np.ndarray:
    """(N,) float64 exact distances of one query (D,) to every row (same values as the k-NN kernels)."""
    code = metric_code(metric)
    data = check_data(data)
    q = check_queries(query, data.shape[1])
    if q.shape[0] != 1:
        raise InvalidArgumentError(f"query: expected one query of shape ({data.shape[1]},), got {np.shape(query)}")
    w = check_weights(weights, code, 1, data.shape[1] // 2)
    out = np.empty(data.shape[0])
    _pairwise(data, q[0], w[0], code, out)
    return out


@njit(**JIT)
def _rescore(X, Q, W, metric, cand, k, out_i, out_d):
    n = X.shape[0]
    hd = np.empty(k)
    hi = np.empty(k, np.int64)
    for b in range(Q.shape[0]):
        sz = 0
        m = cand.shape[1]
        for t in range(m):
            c = cand[b, t]
            if c < 0 or c >= n:
                continue
            dup = False
            for u in range(t):          # candidate lists are short; skip repeated ids
                if cand[b, u] == c:
                    dup = True
                    break
            if dup:
                continue
            sz = heap_offer(hd, hi, sz, exact_distance(X[c], Q[b], W[b], metric), c)
        finish_heap(hd, hi, sz, k, out_i[b], out_d[b])


def rescore(data: np.ndarray, queries: np.ndarray, weights: np.ndarray | None, candidates: np.ndarray, k: int,
            metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact distances of candidate rows (B, m) (-1 = none), best k of each row sorted with ties by id.

    For approximate backends: their candidates get the same float64 values and order as the exact kernels.
    Missing places (fewer than k valid candidates) hold id -1 and distance inf.
    """
    code = metric_code(metric)
    data = check_data(data)
    q = check_queries(queries, data.shape[1])
    w = check_weights(weights, code, q.shape[0], data.shape[1] // 2)
    cand = np.asarray(candidates)
    if cand.ndim != 2 or cand.shape[0] != q.shape[0] or cand.dtype.kind not in "iu":
        raise InvalidArgumentError(f"candidates: expected integer ids of shape ({q.shape[0]}, m), "
                                   f"got {cand.dtype} {cand.shape}")
    check_number("k", k, integer=True, low=1)
    k = int(k)
    out_i = np.empty((q.shape[0], k), np.int64)
    out_d = np.empty((q.shape[0], k), np.float64)
    _rescore(data, q, w, code, np.ascontiguousarray(cand, dtype=np.int64), k, out_i, out_d)
    return out_i, out_d

