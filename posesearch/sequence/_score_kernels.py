"""numba kernel of :func:`posesearch.sequence.score._moments`."""
from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def joint_sums(r, err, w, use, tr):
    """Per reference frame and joint, the summed weighted errors and weights of the pairs ``use``d with a finite
    error: ``(sum w e (tr, K), sum w (tr, K))``, added in pair order from 0 as ``np.bincount`` adds (the pairs
    left out add nothing: the numpy form added +0.0 for them, which leaves these non-negative sums as they are)."""
    P, K = err.shape
    e_sum = np.zeros((tr, K))
    w_sum = np.zeros((tr, K))
    for p in range(P):
        if not use[p]:
            continue
        i = r[p]
        for k in range(K):
            e = err[p, k]
            if math.isfinite(e):
                e_sum[i, k] += e * w[p, k]
                w_sum[i, k] += w[p, k]
    return e_sum, w_sum


@njit(cache=True, nogil=True)
def fill_columns(values, fill, judged):
    """In place, per column of ``values`` (tr, C): each frame i with ``fill[i]`` takes ``np.interp(i, ok, values[ok])``
    over the frames ``ok`` = ``judged`` with a finite value in that column (a column without one is left as it is).
    np.interp's arithmetic and branches, element by element (``slope * (x - xp[j]) + fp[j]``, the slope from the
    neighbouring pair, the ends held, the other direction on a NaN), so the same bits, without a numpy call per
    column."""
    tr, C = values.shape
    xp = np.empty(tr, np.int64)
    for c in range(C):
        n = 0
        for i in range(tr):
            if judged[i] and math.isfinite(values[i, c]):
                xp[n] = i
                n += 1
        if n == 0:
            continue
        j = 0                                   # xp[j] <= i < xp[j + 1] for the frames i past xp[0]
        for i in range(tr):
            if not fill[i]:
                continue
            while j + 1 < n and xp[j + 1] <= i:
                j += 1
            values[i, c] = _interp_at(float(i), values, xp, n, j, c)
    return values


@njit(cache=True, inline="always")
def _interp_at(x, values, xp, n, j, c):
    """np.interp at x of the column c over the frames xp[:n], given xp[j] <= x < xp[j + 1] (or x outside them)."""
    first, last = values[xp[0], c], values[xp[n - 1], c]
    if x < xp[0]:
        return first
    if x > xp[n - 1]:
        return last
    if j == n - 1:
        return last
    x0, x1 = float(xp[j]), float(xp[j + 1])
    y0, y1 = values[xp[j], c], values[xp[j + 1], c]
    if x0 == x:
        return y0
    slope = (y1 - y0) / (x1 - x0)
    out = slope * (x - x0) + y0
    if math.isnan(out):
        out = slope * (x - x1) + y1
        if math.isnan(out) and y0 == y1:
            out = y0
    return out


@njit(cache=True, nogil=True)
def moment_values(r, use, dist, pair_score, err, w, valid, tr):
    """:func:`posesearch.sequence.score._moments` after the pair scores: per reference frame, from the pairs
    ``use``d (reference frame ``r[p]``), the mean distance (finite ones; NaN without), mean pair score and
    per-joint weighted mean error (NaN without a weight), then :func:`fill_columns` for the frames on the path that
    no pair judged (``valid``: frames with a pose). Sums in pair order from 0, as ``np.bincount`` adds them (it
    added +0.0 for the pairs left out, which leaves these non-negative sums as they are), then numpy's divisions:
    ``d_r, s_r, e_r``."""
    P = r.shape[0]
    cnt = np.zeros(tr)
    s_r = np.zeros(tr)
    d_cnt = np.zeros(tr)
    d_r = np.zeros(tr)
    on_path = np.zeros(tr, dtype=np.bool_)
    for p in range(P):
        i = r[p]
        on_path[i] = True
        if use[p]:
            cnt[i] += 1.0
            s_r[i] += pair_score[p]
            if math.isfinite(dist[p]):
                d_cnt[i] += 1.0
                d_r[i] += dist[p]
    e_sum, w_sum = joint_sums(r, err, w, use, tr)
    e_r = np.full(e_sum.shape, np.nan)
    judged = np.empty(tr, dtype=np.bool_)
    fill = np.empty(tr, dtype=np.bool_)
    for i in range(tr):
        s_r[i] /= max(cnt[i], 1.0)
        d_r[i] = d_r[i] / max(d_cnt[i], 1.0) if d_cnt[i] > 0.0 else np.nan
        for k in range(e_r.shape[1]):
            if w_sum[i, k] > 0.0:
                e_r[i, k] = e_sum[i, k] / w_sum[i, k]
        judged[i] = cnt[i] > 0.0 and valid[i]
        fill[i] = on_path[i] and not judged[i]
    if fill.any() and judged.any():
        # s_r is finite everywhere (a pair without a distance scores 0), so all its judged frames count
        for values in (s_r.reshape((tr, 1)), d_r.reshape((tr, 1)), e_r):
            fill_columns(values, fill, judged)
    return d_r, s_r, e_r


@njit(cache=True, nogil=True)
def held_runs(r, u, max_hold):
    """:func:`posesearch.sequence.score.held_pairs` of a path's reference frames ``r`` and user frames ``u``: each
    pair at least ``max_hold`` hold steps (same user frame, next reference frame) into a run of them."""
    P = r.shape[0]
    held = np.zeros(P, dtype=np.bool_)
    run = 0
    for p in range(1, P):
        run = run + 1 if u[p] == u[p - 1] and r[p] == r[p - 1] + 1 else 0
        held[p] = run >= max_hold
    return held
