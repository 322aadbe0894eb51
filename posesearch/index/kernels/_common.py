"""Shared pieces of the search kernels: argument checks, the exact distance, the result heap, the
float32 candidate filter and its proven error bound.

Two kernel metrics, on rows ``x`` of float32 data and float64 queries ``q`` of dimension D = 2K:

* ``weighted`` (code 0): ``d(q, x) = (sum_k w_k (|q_2k - x_2k| + |q_2k+1 - x_2k+1|)) / sum_k w_k``
  with per-query weights ``w`` (K,) >= 0, positive sum (Move Mirror's distance, weights from the query).
* ``l2`` (code 1): ``d(q, x) = sqrt(sum_d (q_d - x_d)^2)``.

**Reported distances** are computed by :func:`exact_distance` in float64 with one fixed summation
order (k = 0..K-1, the x term then the y term; the weight sum likewise), without fastmath, so every
kernel and backend reports bit-identical values for the same (query, row).

**Candidate filter.** Scanning computes a cheap float32 approximation ``a`` of each distance (fastmath,
any summation order) and computes the exact value only when ``a`` could belong to the result. With
u = 2^-24, the float32 approximation satisfies (see :func:`prepare_query`, :func:`filter_threshold`)

    weighted:  a        <= (1 + eps) (d + eta),  eta = 2u sum_d c_d |q_d|,  c_d = w_k / sum w
    l2:        sqrt(a)  <= (1 + eps) (d + eta),  eta = 2u ||q||_2

with eps = 2 (D + 8) u (rounding of q and c to float32, of each product and of a D-term sum in any
order, with a factor 2 to spare, also covering the float64 rounding of the reported values). A row can
enter the k best only if its exact distance is <= the current k-th distance ``dk`` (ties go to the
smaller id), so it is skipped only when ``a > T(dk)``: the filter never loses a true neighbour.
A float32 overflow (``a`` = inf) always falls through to the exact computation. The VP-tree scans
8-bit codes instead, with the quantization error added to the same threshold
(:func:`._vpsearch.scan_block`).

numba note: the fastmath pass rewrites every instruction compiled into a fastmath function, callees
included, so the approximations live in their own fastmath functions and the exact distance is only
ever called from functions without fastmath (tests check the values bit for bit).
"""
from __future__ import annotations

import numbers

import numpy as np
from numba import njit

from ...errors import InvalidArgumentError, UnknownNameError

METRIC_WEIGHTED = 0
METRIC_L2 = 1
KERNEL_METRICS = {"weighted": METRIC_WEIGHTED, "l2": METRIC_L2}
# Query coordinates must stay far from float32 overflow for the filter bound to hold.
MAX_ABS_COORD = 1e15
FASTMATH = {"reassoc", "contract", "nsz"}   # no nnan/ninf: inf thresholds and NaN checks must work
_U32 = 2.0 ** -24
F32_MAX = float(np.finfo(np.float32).max)

JIT = dict(cache=True, nogil=True)


# ----------------------------------------------------------------------------- argument checks

def metric_code(metric: str) -> int:
    """Kernel metric name -> code; UnknownNameError listing the valid names otherwise."""
    if not isinstance(metric, str) or metric not in KERNEL_METRICS:
        raise UnknownNameError("kernel metric", metric, KERNEL_METRICS)
    return KERNEL_METRICS[metric]


def check_data(data, name: str = "data") -> np.ndarray:
    """Data must be a non-empty (N, D) float32 array with D even; returned C-contiguous."""
    if not isinstance(data, np.ndarray):
        raise InvalidArgumentError(f"{name}: expected a numpy float32 array of shape (N, D), got {type(data).__name__}")
    if data.dtype != np.float32:
        raise InvalidArgumentError(f"{name}: expected dtype float32, got {data.dtype}")
    if data.ndim != 2:
        raise InvalidArgumentError(f"{name}: expected a 2-D array (N, D), got shape {data.shape}")
    n, d = data.shape
    if n < 1:
        raise InvalidArgumentError(f"{name}: expected at least one row, got 0")
    if d < 2 or d % 2:
        raise InvalidArgumentError(f"{name}: expected an even dimension D = 2K >= 2, got D = {d}")
    return np.ascontiguousarray(data)


def check_k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise InvalidArgumentError(f"k: expected an integer, got {k!r}")
    k = int(k)
    if k < 1 or k > n:
        raise InvalidArgumentError(f"k: expected 1 <= k <= {n} (the number of rows), got {k}")
    return k


def check_queries(queries, d: int) -> np.ndarray:
    """(B, D) or (D,) finite queries -> (B, D) float64 C-contiguous."""
    if (type(queries) is np.ndarray and queries.dtype == np.float64 and queries.ndim == 2   # fast path:
            and queries.shape[1] == d and queries.flags.c_contiguous                       # already in form
            and _all_within(queries, MAX_ABS_COORD)):
        return queries
    try:
        q = np.asarray(queries)
    except Exception as e:  # pragma: no cover - exotic inputs
        raise InvalidArgumentError(f"queries: expected a numeric array, got {type(queries).__name__} ({e})") from None
    if q.dtype.kind not in "fiu" or q.dtype == np.bool_:
        raise InvalidArgumentError(f"queries: expected a numeric array, got dtype {q.dtype}")
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != d:
        raise InvalidArgumentError(f"queries: expected shape (B, {d}), got {np.shape(queries)}")
    q = np.ascontiguousarray(q, dtype=np.float64)
    if not _all_within(q, MAX_ABS_COORD):                   # compiled fast path; NaN fails it too
        if not np.isfinite(q).all():
            bad = int(np.argmin(np.isfinite(q).all(axis=1)))
            raise InvalidArgumentError(f"queries: query {bad} contains NaN or infinite values")
        raise InvalidArgumentError(f"queries: coordinates must be within +-{MAX_ABS_COORD:g}, "
                                   f"got {np.abs(q).max():g}")
    return q


def check_weights(weights, code: int, b: int, k_joints: int) -> np.ndarray:
    """Per-query weights -> (B, K) float64 (weighted) or a (B, 1) dummy (l2, weights must be None)."""
    if code == METRIC_L2:
        if weights is not None:
            raise InvalidArgumentError("weights: the l2 metric takes no weights, pass None")
        return np.ones((b, 1), dtype=np.float64)
    if weights is None:
        raise InvalidArgumentError(f"weights: the weighted metric needs per-keypoint weights of shape ({b}, {k_joints})")
    if (type(weights) is np.ndarray and weights.dtype == np.float64 and weights.shape == (b, k_joints)  # fast path
            and b > 0 and weights.flags.c_contiguous and _weights_ok(weights)):
        return weights
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"weights: expected a numeric array, got {type(weights).__name__}") from None
    if w.ndim == 1 and w.shape[0] == k_joints:
        w = np.broadcast_to(w, (b, k_joints))
    if w.shape != (b, k_joints):
        raise InvalidArgumentError(f"weights: expected shape ({b}, {k_joints}), got {np.shape(weights)}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if b == 0:
        return w
    if _weights_ok(w):                   # compiled fast path: >= 0, finite, each row's sum in (0, 1e300]
        return w
    sums = w.sum(axis=1)
    if not np.isfinite(w).all():
        raise InvalidArgumentError("weights: contain NaN or infinite values")
    if (w < 0).any():
        i = int(np.argmax((w < 0).any(axis=1)))
        raise InvalidArgumentError(f"weights: must be >= 0, query {i} has a negative weight")
    if (sums <= 0).any():
        i = int(np.argmax(sums <= 0))
        raise InvalidArgumentError(f"weights: query {i} has all weights zero (no keypoint to compare)")
    raise InvalidArgumentError("weights: too large (sum overflows)")


@njit(**JIT)
def _all_within(q, limit):
    """Every value of the 2-D array q has |value| <= limit (False for NaN)."""
    for i in range(q.shape[0]):
        for j in range(q.shape[1]):
            if not abs(q[i, j]) <= limit:
                return False
    return True


@njit(**JIT)
def _weights_ok(w):
    """Every weight of the 2-D array w is >= 0 (not NaN) and every row's sum lies in (0, 1e300]."""
    for i in range(w.shape[0]):
        s = 0.0
        for j in range(w.shape[1]):
            if not w[i, j] >= 0.0:
                return False
            s += w[i, j]
        if not (s > 0.0 and s <= 1e300):
            return False
    return True


# ----------------------------------------------------------------------------- exact distance

@njit(fastmath=False, **JIT)
def exact_distance(x, q, w, metric):
    """Exact float64 distance of float32 row ``x`` to query ``q`` in the fixed summation order."""
    if metric == METRIC_WEIGHTED:
        kk = w.shape[0]
        s = 0.0
        ws = 0.0
        for j in range(kk):
            a = abs(np.float64(x[2 * j]) - q[2 * j])
            b = abs(np.float64(x[2 * j + 1]) - q[2 * j + 1])
            s += w[j] * (a + b)
            ws += w[j]
        return s / ws
    s = 0.0
    for dd in range(x.shape[0]):
        t = np.float64(x[dd]) - q[dd]
        s += t * t
    return np.sqrt(s)


# ----------------------------------------------------------------------------- heaps
# Two binary heaps over parallel (keys, ids) arrays, sharing one sift up and one sift down:
# * the result heap, a max-heap of (distance, id) pairs ordered lexicographically: its root is the worst
#   kept result (``sign`` = 1);
# * the frontier min-heap of the searches, (ids, keys) with the smallest key at the root, ties to the
#   smaller id (``sign`` = -1).
# ``sign`` is a literal at every call site, so the inlined comparisons compile to plain ones.

@njit(inline="always", **JIT)
def _above(k1, i1, k2, i2, sign):
    """(k1, i1) belongs nearer the root than (k2, i2): larger pair first for sign 1, smaller for -1."""
    return sign * k1 > sign * k2 or (k1 == k2 and sign * i1 > sign * i2)


@njit(inline="always", **JIT)
def _put(keys, ids, p, key, idx):
    keys[p] = key
    ids[p] = idx


@njit(inline="always", **JIT)
def _sift_up(keys, ids, p, key, idx, sign):
    """Put (key, idx) into the hole at position p and move it up to its place."""
    while p > 0:
        par = (p - 1) >> 1
        if not _above(key, idx, keys[par], ids[par], sign):
            break
        _put(keys, ids, p, keys[par], ids[par])
        p = par
    _put(keys, ids, p, key, idx)


@njit(inline="always", **JIT)
def _sift_down(keys, ids, size, key, idx, sign):
    """Put (key, idx) at the root of the heap of ``size`` entries and sift it down to its place."""
    p = 0
    c = 1
    while c < size:
        if c + 1 < size and _above(keys[c + 1], ids[c + 1], keys[c], ids[c], sign):
            c += 1
        if not _above(keys[c], ids[c], key, idx, sign):
            break
        _put(keys, ids, p, keys[c], ids[c])
        p = c
        c = 2 * p + 1
    _put(keys, ids, p, key, idx)


@njit(**JIT)
def heap_offer(hd, hi, n, d, idx):
    """Offer (d, idx) to the result heap of current size n (capacity hd.shape[0]); returns the new size."""
    if n < hd.shape[0]:
        _sift_up(hd, hi, n, d, idx, 1)
        return n + 1
    if _above(hd[0], hi[0], d, idx, 1):
        _sift_down(hd, hi, n, d, idx, 1)      # replace the root
    return n


@njit(**JIT)
def heap_offer_group(hd, hi, n, d, ids, i0, i1):
    """Offer (d, ids[i]) for i in [i0, i1): the rows of one group of identical vectors, ids ascending.
    Stops at the first one the full heap refuses (the rest tie with it and have larger ids), so a group
    costs at most k + 1 offers whatever its size. Returns the new size."""
    cap = hd.shape[0]
    for i in range(i0, i1):
        if n == cap and not _above(hd[0], hi[0], d, ids[i], 1):
            break
        n = heap_offer(hd, hi, n, d, ids[i])
    return n


@njit(**JIT)
def heap_sort(hd, hi, n):
    """Sort the first n heap entries ascending by (distance, id), in place."""
    for end in range(n - 1, 0, -1):
        d = hd[end]
        idx = hi[end]
        hd[end] = hd[0]
        hi[end] = hi[0]
        _sift_down(hd, hi, end, d, idx, 1)


@njit(**JIT)
def finish_heap(hd, hi, n, k, out_i, out_d):
    """Sort the n heap entries and write the best k into out_i / out_d (id -1, distance inf past n)."""
    heap_sort(hd, hi, n)
    for j in range(k):
        if j < n:
            out_i[j] = hi[j]
            out_d[j] = hd[j]
        else:
            out_i[j] = -1
            out_d[j] = np.inf


@njit(**JIT)
def minheap_push(ids, keys, sz, idx, key):
    """Push (idx, key) into the frontier min-heap of size sz (capacity the caller's); returns the new size."""
    _sift_up(keys, ids, sz, key, idx, -1)
    return sz + 1


@njit(**JIT)
def minheap_pop(ids, keys, sz):
    """Remove the root of the frontier min-heap of size sz (read it first); returns the new size."""
    sz -= 1
    if sz > 0:
        _sift_down(keys, ids, sz, keys[sz], ids[sz], -1)
    return sz


# ----------------------------------------------------------------------------- float32 filter

@njit(**JIT)
def prepare_query(q, w, metric, q32, c32, cn):
    """Fill float32 query ``q32``, float32 per-coordinate weights ``c32`` (w_k / sum w, for x and y)
    and float64 normalized per-joint weights ``cn``; returns (eps, eta) of the filter bound."""
    dd = q.shape[0]
    for i in range(dd):
        q32[i] = np.float32(q[i])
    eps = 2.0 * (dd + 8) * _U32
    if metric == METRIC_WEIGHTED:
        ws = 0.0
        for j in range(w.shape[0]):
            ws += w[j]
        s = 0.0
        for j in range(w.shape[0]):
            c = w[j] / ws
            cn[j] = c
            c32[2 * j] = np.float32(c)
            c32[2 * j + 1] = np.float32(c)
            s += c * (abs(q[2 * j]) + abs(q[2 * j + 1]))
        eta = 2.0 * _U32 * s + 1e-30
    else:
        s = 0.0
        for i in range(dd):
            c32[i] = np.float32(1.0)
            s += q[i] * q[i]
        for j in range(cn.shape[0]):
            cn[j] = 1.0
        eta = 2.0 * _U32 * np.sqrt(s) + 1e-30
    return eps, eta


@njit(**JIT)
def filter_threshold(dk, eps, eta, metric):
    """float32 threshold on the approximation ``a`` (see module doc); inf while the heap is not full."""
    if not dk < np.inf:
        return np.float32(np.inf)
    t = (1.0 + eps) * (dk + eta) * (1.0 + 2.0 ** -20)
    if metric == METRIC_L2:
        t = t * t * (1.0 + 2.0 ** -20)
    if t > F32_MAX:
        return np.float32(np.inf)
    return np.float32(t)


SCAN_BLOCK = 256   # rows whose float32 approximations are computed in one vectorized call


@njit(fastmath=FASTMATH, **JIT)
def approx_rows(X, i0, i1, q32, c32, metric, t32, out):
    """out[i - i0] = float32 approximation of the distance of rows i0..i1-1 (squared for l2); returns
    how many may pass the filter (a <= t32, or a overflowed to inf).

    fastmath (any summation order): only ever compared with :func:`filter_threshold`. Kept separate
    from the exact computation because numba's fastmath pass rewrites everything compiled into a
    function, callees included.
    """
    dd = X.shape[1]
    cnt = 0
    if metric == METRIC_WEIGHTED:
        for i in range(i0, i1):
            a = np.float32(0.0)
            for j in range(dd):
                a += c32[j] * abs(X[i, j] - q32[j])
            out[i - i0] = a
            cnt += (a <= t32) | (a > F32_MAX)
    else:
        for i in range(i0, i1):
            a = np.float32(0.0)
            for j in range(dd):
                t = X[i, j] - q32[j]
                a += t * t
            out[i - i0] = a
            cnt += (a <= t32) | (a > F32_MAX)
    return cnt


@njit(**JIT)
def scan_rows(X, i0, i1, perm, use_perm, q, w, metric, q32, c32, eps, eta, hd, hi, n, buf):
    """Scan rows i0..i1-1 of X into the result heap (size n, returned updated).

    Each row's float32 approximation is compared with the filter threshold; survivors get their exact
    distance and are offered to the heap under id ``perm[i]`` (``use_perm``) or ``i``.
    ``buf``: float32 scratch of at least SCAN_BLOCK entries.
    """
    kcap = hd.shape[0]
    t32 = filter_threshold(hd[0] if n == kcap else np.inf, eps, eta, metric)
    for b0 in range(i0, i1, SCAN_BLOCK):
        b1 = min(i1, b0 + SCAN_BLOCK)
        if approx_rows(X, b0, b1, q32, c32, metric, t32, buf) == 0:
            continue
        for i in range(b0, b1):
            a = buf[i - b0]
            if a <= t32 or a > F32_MAX:
                d = exact_distance(X[i], q, w, metric)
                idx = perm[i] if use_perm else i
                n = heap_offer(hd, hi, n, d, idx)
                if n == kcap:
                    t32 = filter_threshold(hd[0], eps, eta, metric)
    return n
