"""numba kernels: banded frame-distance matrices, DTW, Gotoh/Needleman-Wunsch and best-diagonal search.

Formulas are documented in :mod:`posesearch.sequence.framedist` and :mod:`posesearch.sequence.align`.
Banded storage: row u holds columns lo[u] .. hi[u]-1 at positions 0 .. hi[u]-lo[u]-1.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, uint64

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


#: reference frames per block of the row kernels: their 11 accumulator rows (11 x 128 doubles) stay in
#: the L1 cache while every joint is added (a whole row of a 60 s reference, 11 x 1,800, did not)
BLOCK = 128
#: reference frames per block of the uniform-weight shortcut (two accumulator rows: 16 KiB)
UBLOCK = 1024
ACC_SIZE = max(11 * BLOCK, 2 * UBLOCK)   # scratch of one row's blocks (general and shortcut)
#: joints (zero-padded) of the shortcut's points when a pair's whole two sums fit in one loop body
#: (:func:`_uniform_cells`); COCO-17 pads to 20
UJ = 20


@njit(cache=True)
def _procrustes_row(Y, wu, XT, wrT, lo, hi, max_rot, min_common, penalty, u, out, acc):
    """Row u of the Procrustes matrix (acc: (11 * BLOCK,) scratch), BLOCK reference frames at a time.
    penalty >= 0: joints present in only one pose add weight (their confidence) at error ``penalty``;
    penalty < 0: they are ignored. The inner loop over reference frames is branch-free so that it
    vectorises."""
    for b0 in range(lo[u], hi[u], BLOCK):
        n = min(BLOCK, hi[u] - b0)
        _procrustes_block(Y, wu, XT, wrT, b0, n, b0 - lo[u], max_rot, min_common, penalty, u, out, acc)


@njit(cache=True, inline="always")
def _procrustes_block(Y, wu, XT, wrT, r0, n, j0, max_rot, min_common, penalty, u, out, acc):
    """Reference frames r0 .. r0+n-1 (n <= BLOCK) of row u, written to out[u, j0 .. j0+n-1]. acc: (11 * BLOCK,)
    scratch, accumulator f of frame r0 + j at f * BLOCK + j."""
    B = BLOCK
    cos_mr = math.cos(max_rot)
    sin_mr = math.sin(max_rot)
    for i in range(11 * B):
        acc[i] = 0.0
    a0, a1, a2, a3, a4, a5 = acc[:B], acc[B:2 * B], acc[2 * B:3 * B], acc[3 * B:4 * B], acc[4 * B:5 * B], acc[5 * B:6 * B]
    a6, a7, a8, a9, a10 = acc[6 * B:7 * B], acc[7 * B:8 * B], acc[8 * B:9 * B], acc[9 * B:10 * B], acc[10 * B:]
    for k in range(wu.shape[1]):
        c = wu[u, k]
        wr_row = wrT[k, r0:r0 + n]
        if c <= 0.0:
            if penalty >= 0.0:
                for j in range(n):
                    a10[j] += wr_row[j]
            continue
        yx = Y[u, k, 0]
        yy = Y[u, k, 1]
        q = yx * yx + yy * yy
        xr = XT[k, 0, r0:r0 + n]
        yr = XT[k, 1, r0:r0 + n]
        # a few accumulators per loop: with all eleven in one loop the compiler would need more overlap checks
        # than it makes, and left the loop scalar; each accumulator gets the same operations in the same order
        for j in range(n):
            wr = wr_row[j]
            a0[j] += c * wr
            a9[j] += 1.0 if wr > 0.0 else 0.0
            a10[j] += 0.0 if wr > 0.0 else c
        for j in range(n):
            w = c * wr_row[j]
            a1[j] += w * yx
            a2[j] += w * yy
        for j in range(n):
            w = c * wr_row[j]
            a3[j] += w * xr[j]
            a4[j] += w * yr[j]
        for j in range(n):
            w = c * wr_row[j]
            xx = xr[j]
            xy = yr[j]
            a5[j] += w * q
            a6[j] += w * (xx * xx + xy * xy)
        for j in range(n):
            w = c * wr_row[j]
            xx = xr[j]
            xy = yr[j]
            a7[j] += w * (yx * xx + yy * xy)
            a8[j] += w * (yx * xy - yy * xx)
    for j in range(n):
        W = acc[j]
        a1 = acc[B + j]
        a2 = acc[2 * B + j]
        a3 = acc[3 * B + j]
        a4 = acc[4 * B + j]
        if acc[9 * B + j] < min_common or W <= 0.0:
            out[u, j0 + j] = np.nan
            continue
        syy = acc[5 * B + j] - (a1 * a1 + a2 * a2) / W
        sxx = acc[6 * B + j] - (a3 * a3 + a4 * a4) / W
        if syy <= 0.0 or sxx <= 0.0:
            out[u, j0 + j] = np.nan
            continue
        a = acc[7 * B + j] - (a1 * a3 + a2 * a4) / W
        b = acc[8 * B + j] - (a1 * a4 - a2 * a3) / W
        m = math.sqrt(a * a + b * b)
        # the best rotation's angle th = |atan2(b, a)| is within max_rot when a >= m cos(max_rot) (cos falls on
        # [0, pi]); beyond it, m cos(th - max_rot) = a cos(max_rot) + |b| sin(max_rot): no atan2 / cos per cell
        proj = m if a >= m * cos_mr else a * cos_mr + abs(b) * sin_mr
        if proj < 0.0:
            proj = 0.0
        den = sxx * syy
        # the product underflows for pair weights below ~1e-80 (to 0: a ZeroDivisionError). The features
        # keep confidences >= MIN_CONFIDENCE (1e-12), so it cannot from them; for any other caller, scaled
        # first there (the same value); elsewhere the same bits as before
        d2 = 1.0 - (proj * proj / den if den >= 1e-280 else (proj / sxx) * (proj / syy))
        if d2 < 0.0:
            d2 = 0.0
        if penalty >= 0.0:
            U = acc[10 * B + j]
            d2 = (W * d2 + U * penalty * penalty) / (W + U)
        out[u, j0 + j] = math.sqrt(d2)


@njit(cache=True, inline="always")
def _points4(Z, u, k):
    """Joints k .. k+3 of user frame u of the shortcut's points: (x0, y0, x1, y1, x2, y2, x3, y3)."""
    return (Z[u, k, 0], Z[u, k, 1], Z[u, k + 1, 0], Z[u, k + 1, 1], Z[u, k + 2, 0], Z[u, k + 2, 1], Z[u, k + 3, 0],
            Z[u, k + 3, 1])


@njit(cache=True, inline="always")
def _shortcut_distance(re, im, ux, uy, mx, my, q, cos_mr, sin_mr, cos2, neg):
    """The shortcut's distance of one pair from ``re + i im = sum_k conj(y_k) x_k`` (uncentred), the user's mean
    point (ux, uy), the reference's summed point (mx, my) and q = 1 / (the two centred sums of squares):
    ``a >= m cos(max_rot)`` tested on squares (no square root)."""
    a = re - (ux * mx + uy * my)
    b = im - (ux * my - uy * mx)
    m2 = a * a + b * b
    pos = a >= 0.0
    inside = (pos & (a * a >= m2 * cos2)) | (neg & (pos | (a * a <= m2 * cos2)))
    p = max(a * cos_mr + abs(b) * sin_mr, 0.0)
    p2 = m2 if inside else p * p
    d2 = 1.0 - p2 * q
    d2 = 0.0 if d2 < 0.0 else d2
    return math.sqrt(d2)


@njit(cache=True, inline="always")
def _uniform_block(Z, mu_u, invq_u, XZ, mu_r, invq_r, u, r0, n, j0, cos_mr, sin_mr, out, acc):
    """Reference frames r0 .. r0+n-1 of row u when the pair weights are one constant over one joint set
    (``code[u] == code[r] >= 0`` for all of them, see :func:`posesearch.sequence.framedist.uniform_frames`):
    then the weighted centroids and sizes are per-frame quantities and only ``sum_k conj(y_k) x_k`` is
    per pair: two dot products over the joints instead of eleven sums. Z (Tu, K, 2) / XZ (K, 2, Tr):
    points with the joints outside the set zeroed; mu_u (2, Tu) / mu_r (2, Tr): summed points (user frames
    divided by the joint count); invq_u (Tu,) / invq_r (Tr,): 1 / centred sum of squares (NaN for a
    degenerate frame).
    Branch-free loops (they vectorise); ``a >= m cos(max_rot)`` tested on squares (no square root)."""
    B = UBLOCK
    for i in range(n):
        acc[i] = 0.0
        acc[B + i] = 0.0
    re = acc[:B]
    im = acc[B:2 * B]
    for k in range(0, Z.shape[1], 4):      # four joints per pass (K padded to a multiple of 4 with zeros)
        a0, b0, a1, b1, a2, b2, a3, b3 = _points4(Z, u, k)
        x0 = XZ[k, 0, r0:r0 + n]
        y0 = XZ[k, 1, r0:r0 + n]
        x1 = XZ[k + 1, 0, r0:r0 + n]
        y1 = XZ[k + 1, 1, r0:r0 + n]
        x2 = XZ[k + 2, 0, r0:r0 + n]
        y2 = XZ[k + 2, 1, r0:r0 + n]
        x3 = XZ[k + 3, 0, r0:r0 + n]
        y3 = XZ[k + 3, 1, r0:r0 + n]
        for j in range(n):
            re[j] += (a0 * x0[j] + b0 * y0[j]) + (a1 * x1[j] + b1 * y1[j]) + \
                     ((a2 * x2[j] + b2 * y2[j]) + (a3 * x3[j] + b3 * y3[j]))
        for j in range(n):
            im[j] += (a0 * y0[j] - b0 * x0[j]) + (a1 * y1[j] - b1 * x1[j]) + \
                     ((a2 * y2[j] - b2 * x2[j]) + (a3 * y3[j] - b3 * x3[j]))
    ux = mu_u[0, u]
    uy = mu_u[1, u]
    qu = invq_u[u]
    cos2 = cos_mr * cos_mr
    neg = cos_mr < 0.0
    mx = mu_r[0, r0:r0 + n]
    my = mu_r[1, r0:r0 + n]
    qr = invq_r[r0:r0 + n]
    for j in range(n):
        out[u, j0 + j] = _shortcut_distance(re[j], im[j], ux, uy, mx[j], my[j], qu * qr[j], cos_mr, sin_mr, cos2, neg)


@njit(cache=True, inline="always")
def _dot4(Z, u, k, XZ, c, joints):
    """Joints k .. k+3 of user frame u against reference frame c: the two partial sums of
    :func:`_uniform_block`'s four-joint pass, summed in its order. ``joints`` (1 or 4, a constant at each
    call site): with 1, joints k+1 .. k+3 are the zero padding, whose products are +-0 and leave the sums as
    they are (up to the sign of a zero, which no distance depends on), so they are not computed."""
    a0 = Z[u, k, 0]
    b0 = Z[u, k, 1]
    x0 = XZ[k, 0, c]
    y0 = XZ[k, 1, c]
    if joints == 1:
        return a0 * x0 + b0 * y0, a0 * y0 - b0 * x0
    _, _, a1, b1, a2, b2, a3, b3 = _points4(Z, u, k)
    x1 = XZ[k + 1, 0, c]
    y1 = XZ[k + 1, 1, c]
    x2 = XZ[k + 2, 0, c]
    y2 = XZ[k + 2, 1, c]
    x3 = XZ[k + 3, 0, c]
    y3 = XZ[k + 3, 1, c]
    return (((a0 * x0 + b0 * y0) + (a1 * x1 + b1 * y1)) + ((a2 * x2 + b2 * y2) + (a3 * x3 + b3 * y3)),
            ((a0 * y0 - b0 * x0) + (a1 * y1 - b1 * x1)) + ((a2 * y2 - b2 * x2) + (a3 * y3 - b3 * x3)))


@njit(cache=True, inline="always")
def _uniform_cells(Z, mu_u, invq_u, XZ, mu_r, invq_r, u, r0, n, j0, cos_mr, sin_mr, out, last):
    """:func:`_uniform_block` for UJ (20) padded joints, bit for bit, as one loop over the reference frames
    whose body sums all joints and finishes the cell (no accumulator rows in memory: the loop vectorises
    and is bound by its multiplications). ``last`` (a constant at each call site): joints of the last
    four-joint group that are not padding, 1 (COCO-17) or 4 (any other count up to 20)."""
    ux = mu_u[0, u]
    uy = mu_u[1, u]
    qu = invq_u[u]
    cos2 = cos_mr * cos_mr
    neg = cos_mr < 0.0
    base = uint64(r0)          # unsigned indices: no negative-index wraparound, so the loads stay affine
    ob = uint64(j0)
    for j in range(uint64(n)):
        c = base + j
        re = 0.0
        im = 0.0
        for k in range(0, UJ - 4, 4):
            pr, pi = _dot4(Z, u, k, XZ, c, 4)
            re += pr
            im += pi
        pr, pi = _dot4(Z, u, UJ - 4, XZ, c, last)
        re += pr
        im += pi
        out[u, ob + j] = _shortcut_distance(re, im, ux, uy, mu_r[0, c], mu_r[1, c], qu * invq_r[c], cos_mr, sin_mr,
                                            cos2, neg)


@njit(cache=True, nogil=True)
def procrustes_features(kp, cf, min_common):
    """Each pose (T, K, 2) centred on its confidence-weighted centroid and scaled to unit weighted RMS
    radius, absent joints (confidence <= 0) at 0: (points, weights (0 for an invalid frame), valid (T,));
    :func:`posesearch.sequence.framedist.features_from_arrays` (same formula, summed joint by joint)."""
    T, K = cf.shape
    pts = np.zeros((T, K, 2))
    wts = np.zeros((T, K))
    valid = np.zeros(T, dtype=np.bool_)
    for t in range(T):
        ws = 0.0
        mx = 0.0
        my = 0.0
        n = 0
        for k in range(K):
            w = cf[t, k]
            if w > 0.0:
                ws += w
                mx += w * kp[t, k, 0]
                my += w * kp[t, k, 1]
                n += 1
        safe = ws if ws > 0.0 else 1.0
        mx /= safe
        my /= safe
        ss = 0.0
        for k in range(K):
            w = cf[t, k]
            if w > 0.0:
                cx = kp[t, k, 0] - mx
                cy = kp[t, k, 1] - my
                pts[t, k, 0] = cx
                pts[t, k, 1] = cy
                ss += w * cx * cx + w * cy * cy
        rad = math.sqrt(ss / safe)
        valid[t] = n >= min_common and rad > 0.0
        scale = rad if rad > 0.0 else 1.0
        row = pts[t]
        for k in range(K):              # alone in its loop, so that it runs as vector divisions
            row[k, 0] = row[k, 0] / scale
            row[k, 1] = row[k, 1] / scale
        if valid[t]:
            for k in range(K):
                if cf[t, k] > 0.0:
                    wts[t, k] = cf[t, k]
    return pts, wts, valid


@njit(cache=True, nogil=True)
def uniform_stats(P, W, valid, min_common):
    """Per-frame inputs of :func:`_uniform_block` (see :func:`posesearch.sequence.framedist.uniform_frames`):
    points with absent joints zeroed and K padded with zero joints to a multiple of 4, at least UJ (T, K4, 2), the joint-set code (T,)
    (-1: the frame does not qualify), the joint count, summed points (T, 2) and centred sum of squares."""
    T, K = W.shape
    K4 = max(K + (-K) % 4, UJ)
    Z = np.zeros((T, K4, 2))
    code = np.full(T, -1, dtype=np.int64)
    cnt = np.zeros(T)
    sy = np.zeros((T, 2))
    c2 = np.zeros(T)
    for t in range(T):
        top = 0.0
        for k in range(K):
            top = max(top, W[t, k])
        bits = 0
        same = True
        n = 0
        sx = 0.0
        sv = 0.0
        q = 0.0
        for k in range(K):
            w = W[t, k]
            if w > 0.0:
                same = same and w == top
                bits |= 1 << k
                n += 1
                x = P[t, k, 0]
                y = P[t, k, 1]
                Z[t, k, 0] = x
                Z[t, k, 1] = y
                sx += x
                sv += y
                q += x * x + y * y
        cnt[t] = n
        sy[t, 0] = sx
        sy[t, 1] = sv
        c2[t] = q - (sx * sx + sv * sv) / max(n, 1)
        if valid[t] and same and n >= min_common and K <= 62:
            code[t] = bits
    return Z, code, cnt, sy, c2


@njit(cache=True, nogil=True)
def code_run_ends(code):
    """(T,) where the run of equal codes that frame r is in ends: the first frame after r with another
    code (T after the last run); the row kernels test a block's codes with it in one comparison."""
    t = len(code)
    out = np.empty(t, np.int64)
    end = t
    for r in range(t - 1, -1, -1):
        if r + 1 < t and code[r + 1] != code[r]:
            end = r + 1
        out[r] = end
    return out


@njit(cache=True)
def _procrustes_rows_fast(Y, wu, XT, wrT, lo, hi, max_rot, min_common, penalty, Z, code_u, mu_u, invq_u,
                          XZ, code_r, mu_r, invq_r, run_r, first, step, out, acc):
    """Rows first, first + step, ... of the banded Procrustes matrix: each block of reference frames by
    :func:`_uniform_block` when every pair in it has uniform weights on one joint set, else by
    :func:`_procrustes_block` (the general eleven sums); the shortcut is :func:`_uniform_cells` when the
    points are padded to UJ joints (every count up to 20), else :func:`_uniform_block`, same bits. The shortcut's inputs (``Z, code_u, mu_u,
    invq_u`` of the user frames, ``XZ, code_r, mu_r, invq_r, run_r`` of the reference frames) are those of
    :func:`posesearch.sequence.framedist.shortcut_inputs`. The live session computes its rows with this
    same function, so its distances are the offline matrix's, bit for bit."""
    tu = wu.shape[0]
    cos_mr = math.cos(max_rot)
    sin_mr = math.sin(max_rot)
    fused = Z.shape[1] == UJ            # K <= 20: the one-loop kernel; COCO-17 skips the last three (padding)
    coco = wu.shape[1] == UJ - 3
    for u in range(first, tu, step):
        cu = code_u[u]
        b0 = lo[u]
        while b0 < hi[u]:
            n = min(UBLOCK, hi[u] - b0)
            same = cu >= 0 and code_r[b0] == cu and run_r[b0] >= b0 + n      # the whole block has code cu
            if same and fused and coco:
                _uniform_cells(Z, mu_u, invq_u, XZ, mu_r, invq_r, u, b0, n, b0 - lo[u], cos_mr, sin_mr, out, 1)
            elif same and fused:
                _uniform_cells(Z, mu_u, invq_u, XZ, mu_r, invq_r, u, b0, n, b0 - lo[u], cos_mr, sin_mr, out, 4)
            elif same:
                _uniform_block(Z, mu_u, invq_u, XZ, mu_r, invq_r, u, b0, n, b0 - lo[u], cos_mr, sin_mr, out, acc)
            else:
                n = min(BLOCK, n)
                _procrustes_block(Y, wu, XT, wrT, b0, n, b0 - lo[u], max_rot, min_common, penalty, u, out, acc)
            b0 += n
        for j in range(hi[u] - lo[u], out.shape[1]):     # past the row's band (out is not pre-filled)
            out[u, j] = INF


@njit(cache=True, parallel=True)
def _procrustes_fast_parallel(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref):
    out = np.empty((wu.shape[0], width))
    for c in prange(NCHUNK):
        _procrustes_rows_fast(Y, wu, XT, wrT, lo, hi, max_rot, min_common, penalty, user[0], user[1], user[2],
                              user[3], ref[0], ref[1], ref[2], ref[3], ref[4], c, NCHUNK, out, np.zeros(ACC_SIZE))
    return out


@njit(cache=True)
def _procrustes_fast_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref):
    out = np.empty((wu.shape[0], width))
    _procrustes_rows_fast(Y, wu, XT, wrT, lo, hi, max_rot, min_common, penalty, user[0], user[1], user[2], user[3],
                          ref[0], ref[1], ref[2], ref[3], ref[4], 0, 1, out, np.zeros(ACC_SIZE))
    return out


@njit(cache=True)
def _weighted_row(U, wu, RT, wrT, lo, hi, min_common, penalty, u, out, acc):
    """Row u of the weighted matrix, BLOCK reference frames at a time (as :func:`_procrustes_row`)."""
    for b0 in range(lo[u], hi[u], BLOCK):
        n = min(BLOCK, hi[u] - b0)
        _weighted_block(U, wu, RT, wrT, b0, n, b0 - lo[u], min_common, penalty, u, out, acc)


@njit(cache=True, inline="always")
def _weighted_block(U, wu, RT, wrT, r0, n, j0, min_common, penalty, u, out, acc):
    """As :func:`_procrustes_block`: num, den, count and one-sided weight of frame r0 + j at j + f * BLOCK."""
    B = BLOCK
    for i in range(4 * B):
        acc[i] = 0.0
    for k in range(wu.shape[1]):
        c = wu[u, k]
        wr_row = wrT[k, r0:r0 + n]
        if c <= 0.0:
            if penalty >= 0.0:
                for j in range(n):
                    acc[3 * B + j] += wr_row[j]
            continue
        ux = U[u, k, 0]
        uy = U[u, k, 1]
        xr = RT[k, 0, r0:r0 + n]
        yr = RT[k, 1, r0:r0 + n]
        for j in range(n):
            wr = wr_row[j]
            w = c * wr
            acc[j] += w * (abs(ux - xr[j]) + abs(uy - yr[j]))
            acc[B + j] += w
            acc[2 * B + j] += 1.0 if wr > 0.0 else 0.0
            acc[3 * B + j] += 0.0 if wr > 0.0 else c
    for j in range(n):
        num = acc[j]
        den = acc[B + j]
        if acc[2 * B + j] < min_common or den <= 0.0:
            out[u, j0 + j] = np.nan
        elif penalty >= 0.0:
            one = acc[3 * B + j]
            out[u, j0 + j] = (num + penalty * one) / (den + one)
        else:
            out[u, j0 + j] = num / den


@njit(cache=True)
def _matrix_rows(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, first, step, out, acc):
    """Rows first, first + step, ... of the banded matrix (procrustes or weighted); acc: (11 * BLOCK,) scratch."""
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
                     np.zeros(11 * BLOCK))
    return out


@njit(cache=True)
def _matrix_serial(P, wu, RT, wrT, lo, hi, width, max_rot, min_common, penalty, procrustes):
    out = np.full((wu.shape[0], width), INF)
    _matrix_rows(P, wu, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, 0, 1, out,
                 np.zeros(11 * BLOCK))
    return out


def procrustes_matrix_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty):
    """The (Tu, width) banded Procrustes matrix by the general eleven-sum kernel alone, without the
    shortcut: the reference the tests compare the shortcut's kernels with."""
    return _matrix_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, True)


def procrustes_fast_parallel(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref):
    """The (Tu, width) banded Procrustes matrix, rows spread over the threads in NCHUNK interleaved chunks;
    pairs of uniform frames by the two-sum shortcut (``_uniform_cells``); user / ref: the shortcut's inputs
    (:func:`posesearch.sequence.framedist.shortcut_inputs`; see ``_procrustes_rows_fast``)."""
    return _procrustes_fast_parallel(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref)


def procrustes_fast_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref):
    return _procrustes_fast_serial(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref)


def weighted_matrix_parallel(U, wu, RT, wrT, lo, hi, width, min_common, penalty):
    return _matrix_parallel(U, wu, RT, wrT, lo, hi, width, 0.0, min_common, penalty, False)


def weighted_matrix_serial(U, wu, RT, wrT, lo, hi, width, min_common, penalty):
    return _matrix_serial(U, wu, RT, wrT, lo, hi, width, 0.0, min_common, penalty, False)


@njit(cache=True, inline="always")
def _hold_extra(run_before, d, missing, max_hold):
    """What a LEFT step costs beyond ``d`` when the user frame already held ``run_before`` reference
    frames: a cell at least ``max_hold`` frames into such a run (the user standing still while the
    reference moves on, or faster than max_hold x) costs like a pair without a distance,
    max(d, missing); max_hold 0: no limit."""
    if max_hold > 0 and run_before + 1.0 >= max_hold:
        return max(d, missing) - d
    return 0.0


@njit(cache=True, inline="always")
def _dtw_cell(d, dg, up, left, run, r, first, missing, cap, hold_from):
    """One cell (u, r) of :func:`dtw` from its distance d (NaN: no distance, costs ``missing``), the costs of
    (u-1, r-1) ``dg``, (u-1, r) ``up`` and (u, r-1) ``left`` (inf outside the band) and ``run``, the reference
    frames the user frame already held on the best path into (u, r-1); ``first``: row u may start a path at
    r == 0. Returns (its cost, inf when no path reaches it; its run; its step code).

    Every value is computed before it is chosen, so that the choices compile to selects and masked moves
    instead of branches (which step wins is unpredictable: branches mispredicted about a third of the time
    on real matrices): a 60 s mirror state 9.1 -> 6.9 ms, whatever the data. Same values and codes as the
    plain rule ("DIAG, UP if lower, LEFT if lower, a start if lower; no finite cost: START"): a LEFT step
    (``is_left``) always has a finite cost and is never a start (a start is only at r == 0, whose left
    neighbour is inf), so the run continues exactly when ``is_left``. The code's test is written
    ``lf >= best0`` so that the run's ``lf < best0`` stays a mask compare (one shared compare went through a
    general register and lengthened the chain from cell to cell). Keep the statements in this order: with
    the three selects written into the return tuple instead, the two-row loop of :func:`_dtw_rows` ran much
    slower (measured while writing it, not kept)."""
    d = missing if math.isnan(d) else d
    extra = max(d, missing) - d                      # _hold_extra, from the run's test below
    lf = left + (extra if run >= hold_from else 0.0)
    is_up = up < dg
    best0 = min(dg, up)
    is_left = lf < best0
    best = min(best0, lf)
    is_start = (r == 0) & first & (0.0 < best)
    best = 0.0 if is_start else best
    ok = best < INF
    total = best + d
    left = total if ok else INF
    held = min(run + 1.0, cap)
    run = held if is_left else 0.0
    c_up = UP if is_up else DIAG
    c_left = c_up if lf >= best0 else LEFT
    code = c_left if (ok & (is_start == False)) else START  # noqa: E712
    return left, run, code


@njit(cache=True, inline="always")
def _dtw_cells(drow, lu, r0, r1, prev, cur, Bu, left, run, first, missing, cap, hold_from):
    """Cells r0 .. r1-1 of one row (first cell lu, distances ``drow``) after the cell with cost ``left`` and
    run ``run``: costs into ``cur`` (indexed by reference frame + 1) from the row above in ``prev``, codes
    into ``Bu``. Unsigned indices: no negative-index wraparound code per access. Returns (left, run)."""
    for i in range(uint64(max(r1 - r0, 0))):
        r = uint64(r0) + i
        j = r - uint64(lu)
        left, run, code = _dtw_cell(drow[j], prev[r], prev[r + uint64(1)], left, run, r, first, missing, cap,
                                    hold_from)
        Bu[j] = code
        cur[r + uint64(1)] = left
    return left, run


@njit(cache=True, inline="always")
def _dtw_rows(drows, i0, n, u, lo, hi, tr, missing, open_user, cap, hold_from, bufs, B, last):
    """Row u of :func:`dtw`, and row u+1 too when ``n`` is 2, from their in-band distances drows[i0] (and
    drows[i0 + 1]; position j = reference frame lo[u] + j): costs into bufs[u % 3] (and bufs[(u+1) % 3]) from row u-1 in
    bufs[(u-1) % 3] (all three indexed by reference frame + 1, inf outside a row's band), step codes into
    B[u], the last reference frame's cost into last[u].

    Two rows at once: the step into (u+1, r-1) needs row u only up to r-1, so the two rows are walked
    together, row u+1 one column behind, and the two chains of dependent steps (each cell waits for its
    left neighbour) overlap in the processor: a 60 s mirror state's DTW 6.6 -> 4.8 ms, min of 40 (same cells, same
    operations, same bits; benchmarks/results/runs/2026-12-07-dtw2)."""
    for x in range(u, u + n):           # bufs[x % 3] still holds row x-3: back to inf outside its cells
        if x >= 3:
            for r in range(lo[x - 3], hi[x - 3]):
                bufs[x % 3, r + 1] = INF
    prev = bufs[(u + 2) % 3]
    ca = bufs[u % 3]
    la = lo[u]
    ha = hi[u]
    first = u == 0 or open_user
    if n == 1:
        _dtw_cells(drows[i0], la, la, ha, prev, ca, B[u], INF, 0.0, first, missing, cap, hold_from)
    else:
        cb = bufs[(u + 1) % 3]
        lb = lo[u + 1]
        hb = hi[u + 1]
        da = drows[i0]
        db = drows[i0 + 1]
        Ba = B[u]
        Bb = B[u + 1]
        e1 = min(lb + 1, ha)            # row u alone up to where row u+1 starts, one column behind
        lefta, runa = _dtw_cells(da, la, la, e1, prev, ca, Ba, INF, 0.0, first, missing, cap, hold_from)
        leftb = INF
        runb = 0.0
        s0 = uint64(e1)
        one = uint64(1)
        for i in range(uint64(max(ha - e1, 0))):       # both: row u at column s, row u+1 at column s-1
            s = s0 + i
            j = s - uint64(la)
            lefta, runa, code = _dtw_cell(da[j], prev[s], prev[s + one], lefta, runa, s, first, missing, cap,
                                          hold_from)
            Ba[j] = code
            ca[s + one] = lefta
            c = s - one
            k = c - uint64(lb)
            leftb, runb, code = _dtw_cell(db[k], ca[c], ca[s], leftb, runb, c, open_user, missing, cap,
                                          hold_from)
            Bb[k] = code
            cb[s] = leftb
        _dtw_cells(db, lb, max(ha - 1, lb), hb, ca, cb, Bb, leftb, runb, open_user, missing, cap, hold_from)
        if lb <= tr - 1 < hb:
            last[u + 1] = cb[tr]
    if la <= tr - 1 < ha:
        last[u] = ca[tr]


@njit(cache=True)
def _dtw_path(last, B, lo, tu, tr, open_user):
    """The end cell of :func:`dtw` (from every row's last-reference-frame cost ``last``) and the path walked
    back on the step codes B: (total cost, path (P, 2) as (u, r) pairs in order)."""
    best = INF
    eu = -1
    er = -1
    if open_user:
        for u in range(tu):
            v = last[u]
            if v < best:
                best = v
                eu = u
                er = tr - 1
    v = last[tu - 1]
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
    # costs: only the last three rows are kept (the path is walked back on B), and the last reference
    # frame's cost of every row for the end cell; the hold run of the cell to the left is a scalar
    bufs = np.full((3, tr + 2), INF)
    last = np.full(tu, INF)
    B = np.empty(D.shape, dtype=np.int8)      # every in-band cell is written
    cap = max(max_hold, 1)
    hold_from = max_hold - 1.0 if max_hold > 0 else 1e300
    for u in range(0, tu, 2):
        _dtw_rows(D, u, min(2, tu - u), u, lo, hi, tr, missing, open_user, cap, hold_from, bufs, B, last)
    return _dtw_path(last, B, lo, tu, tr, open_user)


@njit(cache=True, nogil=True)
def procrustes_dtw(Y, wu, XT, wrT, lo, hi, width, max_rot, min_common, penalty, user, ref, tr, missing, open_user,
                   max_hold):
    """:func:`dtw` of the banded Procrustes matrix of :func:`procrustes_fast_serial` without the matrix: each
    row's distances (by :func:`_procrustes_rows_fast`, the same bits) go into a one-row buffer and the DTW
    row step takes them from there while they are in the cache. Same answer as the two calls; the memory
    is the step codes (one byte a cell) instead of nine bytes a cell, and no 8-bytes-a-cell matrix is
    written, read back and handed to the system (page faults) on every call. Releases the GIL (the two
    mirror states run on two threads)."""
    tu = wu.shape[0]
    bufs = np.full((3, tr + 2), INF)
    last = np.full(tu, INF)
    B = np.empty((tu, width), dtype=np.int8)
    cap = max(max_hold, 1)
    hold_from = max_hold - 1.0 if max_hold > 0 else 1e300
    rows = np.empty((2, width))
    acc = np.zeros(ACC_SIZE)
    Z, code_u, mu_u, invq_u = user
    for u in range(0, tu, 2):
        e = min(u + 2, tu)
        _procrustes_rows_fast(Y[u:e], wu[u:e], XT, wrT, lo[u:e], hi[u:e], max_rot, min_common, penalty, Z[u:e],
                              code_u[u:e], mu_u[:, u:e], invq_u[u:e], ref[0], ref[1], ref[2], ref[3], ref[4], 0, 1, rows, acc)
        _dtw_rows(rows, 0, e - u, u, lo, hi, tr, missing, open_user, cap, hold_from, bufs, B, last)
    return _dtw_path(last, B, lo, tu, tr, open_user)


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


@njit(cache=True, inline="always")
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


@njit(cache=True, error_model="numpy")
def live_columns(P, W, RT, wrT, lo, hi, max_rot, min_common, penalty, procrustes, d50, slope, observed, ref_valid,
                 missing, first, A, B, max_hold, end, d, ps, acc, user, ref):
    """The grid frames u = 0 .. n-1 (features P (n, K, 2), W (n, K)) of one live mirror state, in order:
    the distance row of frame u against every reference frame (``lo``/``hi``: (n,) 0 and Tr) into d[u]
    (procrustes: by the offline matrix's row function, with the shortcut's inputs ``user`` and ``ref``),
    its pair scores s(d) (0 without a distance) into ps, then :func:`dtw_column_step` from A into B, the
    two swapping roles after each frame; ``end`` (NSTAT, 1) takes the statistics of the last reference
    frame's cell whenever it is finite and cheaper than end's (ST_C inf = none yet). Returns (whether the
    current column ended in A (an odd n: the caller swaps its arrays), the reference frame with the lowest
    mean cost per step in the last column (the first of equals; 0 when none is finite), that mean cost)."""
    n = P.shape[0]
    tr = d.shape[1]
    for u in range(n):
        if procrustes:
            _procrustes_rows_fast(P, W, RT, wrT, lo, hi, max_rot, min_common, penalty, user[0], user[1], user[2],
                                  user[3], ref[0], ref[1], ref[2], ref[3], ref[4], u, n, d, acc)
        else:
            _weighted_row(P, W, RT, wrT, lo, hi, min_common, penalty, u, d, acc)
        for r in range(tr):
            x = d[u, r]
            if math.isnan(x) or math.isinf(x):
                ps[r] = 0.0
            else:
                ps[r] = 100.0 / (1.0 + (max(x, 0.0) / d50) ** slope)
        dtw_column_step(d[u], ps, observed[u], ref_valid, missing, first and u == 0, A, B, max_hold)
        c = B[ST_C, tr - 1]
        if not math.isinf(c) and not math.isnan(c) and c < end[ST_C, 0]:
            for f in range(NSTAT):
                end[f, 0] = B[f, tr - 1]
        A, B = B, A
    best_r = 0
    best = INF
    for r in range(tr):          # A holds the last column now
        m = A[ST_C, r] / A[ST_L, r]
        if not math.isinf(m) and not math.isnan(m) and m < best:
            best = m
            best_r = r
    return n % 2 == 1, best_r, A[ST_C, best_r] / A[ST_L, best_r]


@njit(cache=True, error_model="numpy")
def pair_detail(y, cu, x, cr, max_rot, min_common, penalty, procrustes, err):
    """One pair's distance and per-joint errors (into err (K,), NaN where the joint is not in both poses), as
    :func:`posesearch.sequence.framedist.pair_errors` computes them for many pairs (same formulas, real
    arithmetic instead of complex: equal to rounding); the live session's per-frame feedback."""
    K = y.shape[0]
    W = 0.0
    one = 0.0
    n_common = 0
    for k in range(K):
        w = cu[k] * cr[k]
        W += w
        n_common += 1 if w > 0.0 else 0
        one += (0.0 if cr[k] > 0.0 else cu[k]) + (0.0 if cu[k] > 0.0 else cr[k])
    ok = n_common >= min_common
    Ws = W if ok else 1.0
    if not procrustes:
        num = 0.0
        for k in range(K):
            w = cu[k] * cr[k]
            e = abs(y[k, 0] - x[k, 0]) + abs(y[k, 1] - x[k, 1])
            num += w * e
            err[k] = e if (w > 0.0 and ok) else np.nan
        if not ok:
            return np.nan
        return num / Ws if penalty < 0.0 else (num + penalty * one) / (Ws + one)
    myx = myy = mxx = mxy = 0.0
    for k in range(K):
        w = cu[k] * cr[k]
        myx += w * y[k, 0]
        myy += w * y[k, 1]
        mxx += w * x[k, 0]
        mxy += w * x[k, 1]
    myx /= Ws
    myy /= Ws
    mxx /= Ws
    mxy /= Ws
    syy = sxx = zr = zi = 0.0
    for k in range(K):
        w = cu[k] * cr[k]
        ax, ay = y[k, 0] - myx, y[k, 1] - myy
        bx, by = x[k, 0] - mxx, x[k, 1] - mxy
        syy += w * (ax * ax + ay * ay)
        sxx += w * (bx * bx + by * by)
        zr += w * (ax * bx + ay * by)         # conj(a) * b
        zi += w * (ax * by - ay * bx)
    ok = ok and syy > 0.0 and sxx > 0.0
    if not ok:
        for k in range(K):
            err[k] = np.nan
        return np.nan
    theta = min(max(math.atan2(zi, zr), -max_rot), max_rot)
    ct, st = math.cos(theta), math.sin(theta)
    proj = max(zr * ct + zi * st, 0.0)        # Re(z e^{-i theta})
    scale = proj / syy
    rad = math.sqrt(sxx / Ws)
    sq = 0.0
    for k in range(K):
        w = cu[k] * cr[k]
        if not w > 0.0:
            err[k] = np.nan
            continue
        ax, ay = y[k, 0] - myx, y[k, 1] - myy
        fx = scale * (ct * ax - st * ay) - (x[k, 0] - mxx)
        fy = scale * (st * ax + ct * ay) - (x[k, 1] - mxy)
        e = math.sqrt(fx * fx + fy * fy) / rad
        err[k] = e
        sq += w * e * e
    d2 = sq / Ws if penalty < 0.0 else (sq + penalty * penalty * one) / (Ws + one)
    return math.sqrt(d2)


@njit(cache=True, error_model="numpy", nogil=True)
def pair_details(Y, CU, X, CR, ui, ri, max_rot, min_common, penalty, procrustes, details):
    """:func:`pair_detail` of the pairs (ui[p], ri[p]) of user frames Y/CU and reference frames X/CR:
    (distance (P,), joint errors (P, K), pair weights CU * CR (P, K)); without ``details`` the distances alone
    (the other two (0, K)); :func:`posesearch.sequence.framedist.pair_errors`."""
    P, K = ui.shape[0], Y.shape[1]
    dist = np.empty(P)
    err = np.empty((P if details else 0, K))
    w = np.empty((P if details else 0, K))
    scratch = np.empty(K)
    for p in range(P):
        u, r = ui[p], ri[p]
        dist[p] = pair_detail(Y[u], CU[u], X[r], CR[r], max_rot, min_common, penalty, procrustes,
                              err[p] if details else scratch)
        if details:
            for k in range(K):
                w[p, k] = CU[u, k] * CR[r, k]
    return dist, err, w


@njit(cache=True, nogil=True)
def run_medians(r, u, user_times):
    """Of a path sorted by reference frame (``r`` non-decreasing, ``u`` its user frames): the reference frames
    (runs of equal r) and the median of each run's user times from the first user frame, ``ut = user_times[u] -
    user_times[0]``, as ``0.5 * (ut[middle low] + ut[middle high])`` (:func:`posesearch.sequence.align.fit_timing`);
    ``sorted`` False (and empty arrays) when r decreases somewhere."""
    P = r.shape[0]
    refs = np.empty(P, np.int64)
    med = np.empty(P)
    for p in range(1, P):
        if r[p] < r[p - 1]:
            return False, refs[:0], med[:0]
    t0 = user_times[0]
    n = 0
    start = 0
    for p in range(1, P + 1):
        if p == P or r[p] != r[start]:
            count = p - start
            a = start + (count - 1) // 2
            b = start + count // 2
            refs[n] = r[start]
            med[n] = 0.5 * ((user_times[u[a]] - t0) + (user_times[u[b]] - t0))
            n += 1
            start = p
    return True, refs[:n], med[:n]
