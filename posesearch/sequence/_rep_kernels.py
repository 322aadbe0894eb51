"""numba kernel of repetition segmentation (see :mod:`posesearch.sequence.reps`)."""
from __future__ import annotations

import math

import numpy as np
from numba import njit

INF = np.inf


@njit(cache=True)
def subsequence_ends(D, missing, blocked):
    """Open-begin DTW of the whole reference against every stretch of the user, in one pass.

    D: (Tu, Tr) frame distances (NaN = no distance, charged ``missing``); blocked: (Tu,) bool, user
    frames no path may use (reps already found). Steps (1,1), (1,0), (0,1) of weight 1 (symmetric1, as
    :func:`posesearch.sequence._align_kernels.dtw`); a path may start at any (u, 0).
    Returns per user frame u, for the best path ending at (u, Tr-1): its total cost (inf if none),
    its length in steps and its first user frame. O(Tu Tr) time, O(Tr) memory.
    """
    tu, tr = D.shape
    cost = np.full(tu, INF)
    length = np.zeros(tu, np.int64)
    start = np.full(tu, -1, np.int64)
    pc = np.full(tr, INF)          # previous column: cost, length, start
    pl = np.zeros(tr, np.int64)
    ps = np.zeros(tr, np.int64)
    cc = np.full(tr, INF)
    cl = np.zeros(tr, np.int64)
    cs = np.zeros(tr, np.int64)
    for u in range(tu):
        if blocked[u]:
            for r in range(tr):
                cc[r] = INF
        else:
            for r in range(tr):
                d = D[u, r]
                if math.isnan(d):
                    d = missing
                if r == 0:
                    best = 0.0            # a fresh start is never worse than waiting at r = 0
                    bl = 0
                    bs = u
                else:
                    best = pc[r - 1]      # diagonal
                    bl = pl[r - 1]
                    bs = ps[r - 1]
                    if pc[r] < best:      # up: one more user frame on reference frame r
                        best = pc[r]
                        bl = pl[r]
                        bs = ps[r]
                    if cc[r - 1] < best:  # left: one more reference frame on user frame u
                        best = cc[r - 1]
                        bl = cl[r - 1]
                        bs = cs[r - 1]
                if best == INF:
                    cc[r] = INF
                    continue
                cc[r] = best + d
                cl[r] = bl + 1
                cs[r] = bs
        cost[u] = cc[tr - 1]
        length[u] = cl[tr - 1]
        start[u] = cs[tr - 1]
        for r in range(tr):
            pc[r] = cc[r]
            pl[r] = cl[r]
            ps[r] = cs[r]
    return cost, length, start


@njit(cache=True)
def running_median(x, w):
    """Running median over windows of w (odd) rows of x (T, C), ignoring NaN; windows shrink at the edges;
    NaN where a window holds no number."""
    T, C = x.shape
    h = w // 2
    out = np.full((T, C), np.nan)
    buf = np.empty(w)
    for c in range(C):
        for t in range(T):
            n = 0
            for i in range(max(0, t - h), min(T, t + h + 1)):
                v = x[i, c]
                if not math.isnan(v):
                    buf[n] = v
                    n += 1
            if n == 0:
                continue
            s = np.sort(buf[:n])
            if n % 2 == 1:
                out[t, c] = s[n // 2]
            else:
                out[t, c] = 0.5 * (s[n // 2 - 1] + s[n // 2])
    return out
