"""numba kernels: banded frame-distance matrices, DTW, Gotoh/Needleman-Wunsch and best-diagonal search.

Formulas are documented in :mod:`posesearch.sequence.framedist` and :mod:`posesearch.sequence.align`.
Banded storage: row u holds columns lo[u] .. hi[u]-1 at positions 0 .. hi[u]-lo[u]-1.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

INF = np.inf

# back-pointer codes
START = 0
DIAG = 1       # from (u-1, r-1)
UP = 2         # from (u-1, r): the user advanced, same reference frame
LEFT = 3       # from (u, r-1): the reference advanced, same user frame
# Gotoh states
ST_M = 0
ST_X = 1       # reference frame left unmatched (gap in the user)
ST_Y = 2       # user frame left unmatched (gap in the reference)
#: row chunks of the parallel frame-distance matrices (rows c, c + NCHUNK, ... go to one thread)
NCHUNK = 16


@njit(cache=True, inline="always")
def _joint_rows(P, wu, RT, wrT, u, k, r0, n, penalty, unmatched):
    """Joint k of user frame u against the reference frames r0 .. r0+n-1: the user's weight c, the
    reference weights, the user point (x, y) and the reference x and y rows. A joint the user lacks
    (c <= 0) adds the reference weights to ``unmatched`` when penalty >= 0 (the row kernels skip it)."""
    c = wu[u, k]
    wr_row = wrT[k, r0:r0 + n]
    if c <= 0.0 and penalty >= 0.0:
        for j in range(n):
            unmatched[j] += wr_row[j]
    return c, wr_row, P[u, k, 0], P[u, k, 1], RT[k, 0, r0:r0 + n], RT[k, 1, r0:r0 + n]


@njit(cache=True)
def _procrustes_row(Y, wu, XT, wrT, lo, hi, max_rot, min_common, penalty, u, out, acc):
    """Row u of the Procrustes matrix (acc: (11, width) scratch). penalty >= 0: joints present in
    only one pose add weight (their confidence) at error ``penalty``; penalty < 0: they are ignored.
    The inner loop over reference frames is branch-free so that it vectorises."""
    r0 = lo[u]
    n = hi[u] - r0
    acc[:, :n] = 0.0
    a0, a1, a2, a3, a4, a5 = acc[0], acc[1], acc[2], acc[3], acc[4], acc[5]
    a6, a7, a8, a9, a10 = acc[6], acc[7], acc[8], acc[9], acc[10]
    for k in range(wu.shape[1]):
        c, wr_row, yx, yy, xr, yr = _joint_rows(Y, wu, XT, wrT, u, k, r0, n, penalty, a10)
        if c <= 0.0:
            continue
        q = yx * yx + yy * yy
        for j in range(n):
            wr = wr_row[j]
            w = c * wr
            xx = xr[j]
            xy = yr[j]
            a0[j] += w
            a1[j] += w * yx
            a2[j] += w * yy
            a3[j] += w * xx
            a4[j] += w * xy
            a5[j] += w * q
            a6[j] += w * (xx * xx + xy * xy)
            a7[j] += w * (yx * xx + yy * xy)
            a8[j] += w * (yx * xy - yy * xx)
            a9[j] += 1.0 if wr > 0.0 else 0.0
            a10[j] += 0.0 if wr > 0.0 else c
    for j in range(n):
        W = a0[j]
        if a9[j] < min_common or W <= 0.0:
            out[u, j] = np.nan
            continue
        syy = a5[j] - (a1[j] * a1[j] + a2[j] * a2[j]) / W
        sxx = a6[j] - (a3[j] * a3[j] + a4[j] * a4[j]) / W
        if syy <= 0.0 or sxx <= 0.0:
            out[u, j] = np.nan
            continue
        a = a7[j] - (a1[j] * a3[j] + a2[j] * a4[j]) / W
        b = a8[j] - (a1[j] * a4[j] - a2[j] * a3[j]) / W
        m = math.sqrt(a * a + b * b)
        th = abs(math.atan2(b, a))
        proj = m if th <= max_rot else m * math.cos(th - max_rot)
        if proj < 0.0:
            proj = 0.0
        d2 = 1.0 - proj * proj / (sxx * syy)
        if d2 < 0.0:
            d2 = 0.0
        if penalty >= 0.0:
            U = a10[j]
            d2 = (W * d2 + U * penalty * penalty) / (W + U)
        out[u, j] = math.sqrt(d2)


@njit(cache=True)
def _weighted_row(U, wu, RT, wrT, lo, hi, min_common, penalty, u, out, acc):
    r0 = lo[u]
    n = hi[u] - r0
    acc[:4, :n] = 0.0
    num, den, cnt, one = acc[0], acc[1], acc[2], acc[3]
    for k in range(wu.shape[1]):
        c, wr_row, ux, uy, xr, yr = _joint_rows(U, wu, RT, wrT, u, k, r0, n, penalty, one)
        if c <= 0.0:
            continue
        for j in range(n):
            wr = wr_row[j]
            w = c * wr
            num[j] += w * (abs(ux - xr[j]) + abs(uy - yr[j]))
            den[j] += w
            cnt[j] += 1.0 if wr > 0.0 else 0.0
            one[j] += 0.0 if wr > 0.0 else c
    for j in range(n):
        if cnt[j] < min_common or den[j] <= 0.0:
            out[u, j] = np.nan
        elif penalty >= 0.0:
            out[u, j] = (num[j] + penalty * one[j]) / (den[j] + one[j])
        else:
            out[u, j] = num[j] / den[j]


@njit(cache=True)
def _matrix_rows(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, first, step, out, acc):
    """Rows first, first + step, ... of the banded matrix (procrustes or weighted); acc: (11, width) scratch."""
    for u in range(first, wu.shape[0], step):
        if procrustes:
            _procrustes_row(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, u, out, acc)
        else:
            _weighted_row(P, wu, RT, wrT, lo, hi, min_common, penalty, u, out, acc)


@njit(cache=True, parallel=True)
def _matrix_parallel(P, wu, RT, wrT, lo, hi, width, max_rot, min_common, penalty, procrustes):
    out = np.full((wu.shape[0], width), INF)
    for c in prange(NCHUNK):
        _matrix_rows(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, c, NCHUNK, out,
                     np.zeros((11, width)))
    return out


@njit(cache=True)
def _matrix_serial(P, wu, RT, wrT, lo, hi, width, max_rot, min_common, penalty, procrustes):
    out = np.full((wu.shape[0], width), INF)
    _matrix_rows(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, 0, 1, out, np.zeros((11, width)))
    return out


def procrustes_matrix_parallel(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty):
    """The (Tu, width) banded Procrustes matrix, rows spread over the threads in NCHUNK interleaved chunks."""
    return _matrix_parallel(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, True)


def procrustes_matrix_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty):
    return _matrix_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, True)


def weighted_matrix_parallel(U, wu, RT, wrT, lo, hi, width, min_common, penalty):
    return _matrix_parallel(U, wu, RT, wrT, lo, hi, width, 0.0, min_common, penalty, False)


def weighted_matrix_serial(U, wu, RT, wrT, lo, hi, width, min_common, penalty):
    return _matrix_serial(U, wu, RT, wrT, lo, hi, width, 0.0, min_common, penalty, False)


@njit(cache=True, inline="always")
def _get(C, lo, hi, u, r):
    if r < lo[u] or r >= hi[u]:
        return INF
    return C[u, r - lo[u]]


@njit(cache=True, inline="always")
def _hold_extra(run_before, d, missing, max_hold):
    """What a LEFT step costs beyond ``d`` when the user frame already held ``run_before`` reference
    frames: a cell at least ``max_hold`` frames into such a run (the user standing still while the
    reference moves on, or faster than max_hold x) costs like a pair without a distance,
    max(d, missing); max_hold 0: no limit."""
    if max_hold > 0 and run_before + 1.0 >= max_hold:
        return max(d, missing) - d
    return 0.0


@njit(cache=True)
def dtw(D, lo, hi, tr, missing, open_user, max_hold):
    """Banded DTW, steps (1,1), (1,0), (0,1) with weight 1 each (symmetric1, as dtaidistance).

    open_user: the path may start at any (u, 0) and end at any (u, tr-1) (extra user frames are free).
    max_hold > 0: a LEFT step into the max_hold-th consecutive reference frame matched to the same user
    frame, and every further one, costs max(d, missing) (:func:`_hold_extra`; the run is that of the
    best path into the cell); 0: plain symmetric1.
    Returns (total cost, path (P, 2) as (u, r) pairs in order).
    """
    tu = D.shape[0]
    C = np.full(D.shape, INF)
    B = np.zeros(D.shape, dtype=np.int8)
    H = np.zeros(D.shape, dtype=np.int8)      # LEFT steps in a row into the cell (capped at max_hold)
    lp = 0
    hp = 0
    for u in range(tu):
        lu = lo[u]
        hu = hi[u]
        if u > 0:
            lp = lo[u - 1]
            hp = hi[u - 1]
        for r in range(lu, hu):
            j = r - lu
            d = D[u, j]
            if math.isnan(d):
                d = missing
            best = INF
            code = START
            if u > 0:
                if r > lp and r - 1 < hp:
                    v = C[u - 1, r - 1 - lp]
                    if v < best:
                        best = v
                        code = DIAG
                if r >= lp and r < hp:
                    v = C[u - 1, r - lp]
                    if v < best:
                        best = v
                        code = UP
            if r > lu:
                v = C[u, j - 1] + _hold_extra(H[u, j - 1], d, missing, max_hold)
                if v < best:
                    best = v
                    code = LEFT
            if r == 0 and (u == 0 or open_user):
                if 0.0 < best:
                    best = 0.0
                    code = START
            if best < INF:
                C[u, j] = best + d
                B[u, j] = code
                if code == LEFT:
                    H[u, j] = min(H[u, j - 1] + 1, max(max_hold, 1))
    # end cell
    best = INF
    eu = -1
    er = -1
    if open_user:
        for u in range(tu):
            v = _get(C, lo, hi, u, tr - 1)
            if v < best:
                best = v
                eu = u
                er = tr - 1
    v = _get(C, lo, hi, tu - 1, tr - 1)
    if v < best:
        best = v
        eu = tu - 1
        er = tr - 1
    if eu < 0:
        return INF, np.zeros((0, 2), dtype=np.int64)
    path = np.empty((tu + tr, 2), dtype=np.int64)
    n = 0
    u = eu
    r = er
    while True:
        path[n, 0] = u
        path[n, 1] = r
        n += 1
        code = B[u, r - lo[u]]
        if code == START:
            break
        elif code == DIAG:
            u -= 1
            r -= 1
        elif code == UP:
            u -= 1
        else:
            r -= 1
    return best, path[:n][::-1].copy()      # the walk went backwards


@njit(cache=True, inline="always")
def _gap(n, free, gap_open, gap_extend):
    """Cost of n unmatched frames at an end of the alignment: 0 if free or n == 0, else open + n * extend."""
    if n == 0 or free:
        return 0.0
    return gap_open + gap_extend * n


@njit(cache=True, inline="always")
def _gap_step(G, BG, u, j, from_match, from_same, from_other, go, gap_extend, same, other):
    """Best way into gap state ``same`` at cell (u, j) of its table G (predecessor state in BG): open
    it after a match or after the other gap (``go`` = open + extend), or extend it; ties prefer the
    match, then extending. (Writing into G/BG here, not returning a tuple, keeps gotoh as fast as the
    two hand-written copies were.)"""
    a = from_match + go
    b = from_same + gap_extend
    c = from_other + go
    if a <= b and a <= c:
        G[u, j] = a
        BG[u, j] = ST_M
    elif b <= c:
        G[u, j] = b
        BG[u, j] = same
    else:
        G[u, j] = c
        BG[u, j] = other


@njit(cache=True)
def gotoh(D, lo, hi, tr, missing, gap_open, gap_extend, open_user):
    """Banded Needleman-Wunsch with affine gaps (Gotoh), minimising
    sum(match distances) + sum over gaps (gap_open + gap_extend * length).

    States: M (u matched to r), X (reference frame r unmatched), Y (user frame u unmatched).
    open_user: leading/trailing user frames are free (reference frames are always charged).
    Returns (total cost, matched pairs (P, 2) as (u, r)).
    """
    tu = D.shape[0]
    M = np.full(D.shape, INF)
    X = np.full(D.shape, INF)
    Yg = np.full(D.shape, INF)
    BM = np.zeros(D.shape, dtype=np.int8)   # predecessor state of M (or -1 = start)
    BX = np.zeros(D.shape, dtype=np.int8)
    BY = np.zeros(D.shape, dtype=np.int8)
    go = gap_open + gap_extend
    for u in range(tu):
        for r in range(lo[u], hi[u]):
            j = r - lo[u]
            d = D[u, j]
            if math.isnan(d):
                d = missing
            # M: from any state at (u-1, r-1), or a start
            best = INF
            code = -1
            if u > 0 and r > 0 and r - 1 >= lo[u - 1] and r - 1 < hi[u - 1]:
                jj = r - 1 - lo[u - 1]
                if M[u - 1, jj] < best:
                    best = M[u - 1, jj]
                    code = ST_M
                if X[u - 1, jj] < best:
                    best = X[u - 1, jj]
                    code = ST_X
                if Yg[u - 1, jj] < best:
                    best = Yg[u - 1, jj]
                    code = ST_Y
            start = _gap(u, open_user, gap_open, gap_extend) + _gap(r, False, gap_open, gap_extend)
            if start < best:
                best = start
                code = -1
            M[u, j] = best + d
            BM[u, j] = code
            # X: reference frame r unmatched, coming from (u, r-1)
            if r > 0 and r - 1 >= lo[u]:
                _gap_step(X, BX, u, j, M[u, j - 1], X[u, j - 1], Yg[u, j - 1], go, gap_extend, ST_X, ST_Y)
            # Y: user frame u unmatched, coming from (u-1, r)
            if u > 0 and r >= lo[u - 1] and r < hi[u - 1]:
                jj = r - lo[u - 1]
                _gap_step(Yg, BY, u, j, M[u - 1, jj], Yg[u - 1, jj], X[u - 1, jj], go, gap_extend, ST_Y, ST_X)
    # end: the last match; trailing unmatched frames are charged (or free) as configured
    best = INF
    eu = -1
    er = -1
    for u in range(tu):
        tail_u = _gap(tu - 1 - u, open_user, gap_open, gap_extend)
        if tail_u == INF:
            continue
        for r in range(lo[u], hi[u]):
            v = M[u, r - lo[u]] + tail_u + _gap(tr - 1 - r, False, gap_open, gap_extend)
            if v < best:
                best = v
                eu = u
                er = r
    if eu < 0:
        return INF, np.zeros((0, 2), dtype=np.int64)
    path = np.empty((min(tu, tr) + 1, 2), dtype=np.int64)
    n = 0
    u = eu
    r = er
    state = ST_M
    while True:
        j = r - lo[u]
        if state == ST_M:
            path[n, 0] = u
            path[n, 1] = r
            n += 1
            code = BM[u, j]
            if code < 0:
                break
            state = code
            u -= 1
            r -= 1
        elif state == ST_X:
            state = BX[u, j]
            r -= 1
        else:
            state = BY[u, j]
            u -= 1
    return best, path[:n][::-1].copy()      # the walk went backwards


@njit(cache=True)
def diagonal_means(D, lo, hi, tr, missing):
    """For each offset o = u - r in [-(tr-1), tu-1]: (sum, count) of in-band cells on that diagonal."""
    tu = D.shape[0]
    n = tu + tr - 1
    s = np.zeros(n)
    c = np.zeros(n, dtype=np.int64)
    for u in range(tu):
        for r in range(lo[u], hi[u]):
            d = D[u, r - lo[u]]
            if math.isnan(d):
                d = missing
            o = u - r + tr - 1
            s[o] += d
            c[o] += 1
    return s, c


# Rows of the per-cell path statistics of dtw_column_step (a (NSTAT, Tr) array per column).
ST_C, ST_L = 0, 1            # alignment cost, path length
ST_S, ST_N = 2, 3            # every aligned frame counts: sum / count of finished moments
ST_RS, ST_RC = 4, 5          # ... sum / count of pair scores at the cell's own reference frame
ST_SO, ST_NO = 6, 7          # recorded frames judge: sum / count of finished, resolved moments
ST_RO, ST_OC = 8, 9          # ... sum / count of recorded pairs at the cell's own reference frame
ST_VA, ST_VI = 10, 11        # ... last judged moment: its score (NaN: none yet) and reference index
ST_PC, ST_PI = 12, 13        # ... moments since then still unjudged: count and sum of their indices
ST_H = 14                    # reference frames the cell's user frame has held before this one (LEFT run)
NSTAT = 15


@njit(cache=True)
def finish_moment(X, q, r_done, valid, Y, r):
    """Y[:, r] = X[:, q] with the moment at reference frame r_done finished (valid: it is scored).
    Every-frame statistics add its mean pair score; recorded-frame statistics add its recorded mean
    (resolving the pending unjudged moments by linear interpolation from the last judged one), or,
    without a recorded pair, leave it pending."""
    for f in range(NSTAT):
        Y[f, r] = X[f, q]
    if not valid:
        return
    Y[ST_S, r] += X[ST_RS, q] / X[ST_RC, q]
    Y[ST_N, r] += 1.0
    if X[ST_OC, q] > 0.0:
        v = X[ST_RO, q] / X[ST_OC, q]
        pc = X[ST_PC, q]
        if pc > 0.0:
            va = X[ST_VA, q]
            if math.isnan(va):
                Y[ST_SO, r] += pc * v
            else:
                vi = X[ST_VI, q]
                Y[ST_SO, r] += pc * va + (v - va) * (X[ST_PI, q] - pc * vi) / (r_done - vi)
            Y[ST_NO, r] += pc
        Y[ST_SO, r] += v
        Y[ST_NO, r] += 1.0
        Y[ST_VA, r] = v
        Y[ST_VI, r] = r_done
        Y[ST_PC, r] = 0.0
        Y[ST_PI, r] = 0.0
    else:
        Y[ST_PC, r] += 1.0
        Y[ST_PI, r] += r_done


@njit(cache=True)
def dtw_column_step(d, ps, observed, ref_valid, missing, first, A, B, max_hold):
    """One user frame of open-begin DTW (the same recursion and tie-breaking as :func:`dtw` with no
    band), carrying per cell the statistics of its best path (rows ST_*): its length, and the moment
    scores so far both with every aligned frame counting and with only recorded (``observed``) user
    frames judging (see ScoreSettings.moments_from). Previous column in A (ignored when ``first``),
    new column written to B. max_hold as :func:`dtw`; a pair that deep into a hold scores 0 (ST_H
    counts the run)."""
    tr = d.shape[0]
    for r in range(tr):
        dd = d[r]
        if math.isnan(dd):
            dd = missing
        best = INF
        code = START
        if not first and r > 0:
            if A[ST_C, r - 1] < best:
                best = A[ST_C, r - 1]
                code = DIAG
        if not first:
            if A[ST_C, r] < best:
                best = A[ST_C, r]
                code = UP
        if r > 0:
            v = B[ST_C, r - 1] + _hold_extra(B[ST_H, r - 1], dd, missing, max_hold)
            if v < best:
                best = v
                code = LEFT
        if r == 0 and 0.0 < best:
            best = 0.0
            code = START
        if best == INF:
            B[ST_C, r] = INF
            continue
        p = ps[r]
        held = False
        if code == START:
            for f in range(NSTAT):
                B[f, r] = 0.0
            B[ST_VA, r] = np.nan
            B[ST_L, r] = 1.0
            B[ST_RS, r] = p
            B[ST_RC, r] = 1.0
        elif code == UP:
            for f in range(NSTAT):
                B[f, r] = A[f, r]
            B[ST_L, r] += 1.0
            B[ST_H, r] = 0.0
            B[ST_RS, r] += p
            B[ST_RC, r] += 1.0
        else:
            finish_moment(A if code == DIAG else B, r - 1, r - 1, ref_valid[r - 1], B, r)
            B[ST_H, r] = B[ST_H, r] + 1.0 if code == LEFT else 0.0
            if max_hold > 0 and B[ST_H, r] >= max_hold:
                held = True
                p = 0.0
            B[ST_L, r] += 1.0
            B[ST_RS, r] = p
            B[ST_RC, r] = 1.0
            B[ST_RO, r] = 0.0
            B[ST_OC, r] = 0.0
        if observed or held:          # a held pair is judged (0) even where the user was not recorded
            B[ST_RO, r] += p
            B[ST_OC, r] += 1.0
        B[ST_C, r] = best + dd
