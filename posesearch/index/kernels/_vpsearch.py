"""VP-tree search kernels (numba): exact best-first k-NN with per-joint bounds.

Notation: query q, normalized weights c_j = w_j / sum w (weighted) or 1 (l2), node N with vantage point
v, child C, per-joint distance d_j and split weights s_j (see :mod:`._vpbuild`), ``dq_j = d_j(q, v)``.
For every row x of C and every joint j, three lower bounds on d_j(q, x) hold:

* shell (triangle inequality of the planar metric d_j): ``d_j(q, x) >= |dq_j - t_j|`` with
  ``t_j = d_j(v, x)`` in ``[shell_lo[C, j], shell_hi[C, j]]``;
* box: the distance from (q_2j, q_2j+1) to C's bounding box in that joint's plane;
* inherited: the per-joint bound already proven for C's parent (ancestors used other vantage points).

Let g_j = max(box, inherited). weighted: the row's distance is ``sum_j c_j d_j(q, x) >= sum_j c_j
max(|dq_j - t_j|, g_j)``, and its total ``sum_j s_j t_j`` lies in ``[tot_lo[C], tot_hi[C]]``; so the
minimum of that convex separable function over the box of t and the total's range (a small linear
program, solved exactly by a greedy over marginal costs c_j / s_j: first the free moves inside the flat
parts, then the cheapest joints) bounds every row of C from below. l2: ``d(q, x)^2 = sum_j d_j(q,
x)^2 >= sum_j b_j^2`` with b_j the per-joint bound, and ``d(q, x) >= d_s(q, x) >= |d_s(q, v) - d_s(v,
x)|`` (d_s the total with split weights <= 1) with the total shell. A child's bound is at least its
parent's. Nodes are expanded best-first (smallest bound first) down to *blocks* (subtrees of at most
``block_rows`` rows, see :mod:`._vplayout`), which are scanned through their 8-bit codes; the search
stops when the smallest pending bound exceeds the current k-th distance. Ties: a node is pruned only
when its bound is strictly larger, so equal-distance rows with smaller ids are never lost. Bounds are
lowered by a relative 1e-10 and an absolute 1e-10 (1 + max|q| + max|x|) against rounding (the bounds
use float64 arithmetic on float32 data and outward-rounded float32 node records).

Weighted metric, heap full: a block's codes first go through an integer filter (AVX-512BW, see
:func:`int_filter_setup`), ~3x cheaper a row than the float32 approximation. A 64-row chunk is first
checked as a whole, through the smallest and largest code of each coordinate over its rows
(:func:`._llvm.int_box_mask`); the rows of the chunks left get their integer bound, and only the rows it
cannot reject get their exact distance (~30 a query; their float32 approximation rejected almost none).
The integer filter only rejects rows whose true distance exceeds the k-th, so results are the same bit
for bit (``INT_FILTER`` / ``knn_vptree(int_filter=False)`` turn it off).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, prange

from ._common import (F32_MAX, FASTMATH, JIT, METRIC_WEIGHTED, exact_distance, filter_threshold, finish_heap,
                      minheap_pop, minheap_push,
                      heap_offer, heap_offer_group, prepare_query)
from ._llvm import HAS_AVX512BW, fetch_add, int_bound_mask, int_bound_pass, int_box_mask, lowest_bit, prefetch_row
from ._vplayout import CODE_PAD, chunk_box_offset, padded

assert CODE_PAD == 64        # the integer filter's masks: one bit a row of a 64-row chunk
INT_FILTER = HAS_AVX512BW   # default of knn_vptree's int_filter (read at each call)
INT_FIRST_PAIRS = 8         # the integer filter's first pass: the 8 heaviest pairs of coordinates, every row
NODE_WORK = 256   # a node expansion costs about as much as scanning this many rows (fallback rule)
_REL_SLACK = 1.0 - 1e-10
_ABS_SLACK = 1e-10

# The frontier heap and the exact rescoring of :mod:`._common`, the same Python functions compiled inline into
# search_one (a call of a non-inlined numba function increfs and decrefs its array arguments with atomic
# operations: ~190 heap calls and ~30 exact distances a query). exact_distance stays without fastmath
# (search_one has none), so its summation order and the distances are unchanged.
_minheap_push = njit(inline="always", **JIT)(minheap_push.py_func)
_minheap_pop = njit(inline="always", **JIT)(minheap_pop.py_func)
_exact_distance = njit(inline="always", fastmath=False, **JIT)(exact_distance.py_func)
_heap_offer_group = njit(inline="always", **JIT)(heap_offer_group.py_func)

KTree = namedtuple("KTree", ["scale", "data", "perm", "gstart", "sw", "split", "nint", "nrec", "block_start",
                             "block_off", "brec", "codes", "chunk_boxes"])
KTree.__doc__ = """Arrays a search reads: ``scale`` (max |coordinate|), ``data`` (distinct rows in tree order),
``perm`` and ``gstart`` (the ids of position p: perm[gstart[p]:gstart[p + 1]]), ``sw`` (split weights),
``split`` (the joints with sw > 0) and the derived layout of :mod:`._vplayout`."""


@njit(inline="always", **JIT)
def _box_gaps(x, y, lox, loy, hix, hiy):
    """x and y distances from a joint (x, y) of the query to a box [lo, hi] of its plane (scalars, not
    arrays: an inlined call increfs each array it is given, and this one runs for every joint)."""
    return max(0.0, lox - x, x - hix), max(0.0, loy - y, y - hiy)


@njit(inline="always", **JIT)
def _move_total(cost, need, sgn, olim, nr, c, cn, sw, split, order, dq, g, t0):
    """``cost`` plus the least extra cost of moving sum_j sw_j t_j by ``need`` > 0 from t0, upwards
    (sgn = 1, each t_j up to its shell limit nr[c, olim + j] = shell_hi) or downwards (sgn = -1, down to
    shell_lo): first free inside each flat part of the cost (|dq_j - t_j| <= g_j), then the cheapest
    joints by cn_j / sw_j. Written once for both directions through sgn * t: multiplying by +-1 is exact
    and the costs are added in the same order, so the bounds are bit-identical to two separate loops."""
    free = 0.0
    for jj in range(split.shape[0]):
        j = split[jj]
        f = min(sgn * np.float64(nr[c, olim + j]), sgn * dq[j] + g[j]) - sgn * t0[j]
        if f > 0.0:
            free += sw[j] * f
    if free >= need:
        return cost
    need -= free
    for jj in range(order.shape[0]):
        j = order[jj]
        lim = sgn * np.float64(nr[c, olim + j])
        f = max(0.0, min(lim, sgn * dq[j] + g[j]) - sgn * t0[j])
        cap = sw[j] * (lim - sgn * t0[j] - f)
        if cap <= 0.0:
            continue
        if cap >= need:
            return cost + cn[j] / sw[j] * need
        cost += cn[j] / sw[j] * cap
        need -= cap
    return cost


@njit(inline="always", **JIT)
def _child_bound_weighted(nr, c, q, cn, sw, split, order, dq, inh, pn, t0, g):
    """Lower bound (normalized weighted distance) for child c (record nr[c], parent pn); fills its
    per-joint bounds inh[c] from its parent's inh[pn] (rows indexed in the 2-D arrays, not views: no
    refcounts). The total shell constrains sum_j sw_j t_j; ``split``: joints with sw_j > 0,
    ``order``: the same sorted by cost per unit of total, cn_j / sw_j. t0, g: scratch (K,)."""
    kk = cn.shape[0]
    dd = 2 * kk
    osl = 2 * dd
    osh = 2 * dd + kk
    cost = 0.0
    ssum = 0.0
    for j in range(kk):
        bx, by = _box_gaps(q[2 * j], q[2 * j + 1], nr[c, 2 * j], nr[c, 2 * j + 1], nr[c, dd + 2 * j],
                           nr[c, dd + 2 * j + 1])
        gj = max(inh[pn, j], bx + by)
        lo = np.float64(nr[c, osl + j])
        hi = np.float64(nr[c, osh + j])
        d = dq[j]
        t = min(max(d, lo), hi)
        t0[j] = t
        base = max(abs(d - t), gj)
        inh[c, j] = base
        cost += cn[j] * base
        g[j] = gj
    for jj in range(split.shape[0]):
        ssum += sw[split[jj]] * t0[split[jj]]
    lo_tot = np.float64(nr[c, osh + kk])
    hi_tot = np.float64(nr[c, osh + kk + 1])
    if ssum < lo_tot:       # raise sum t_j to lo_tot (each t_j at most its shell's hi)
        cost = _move_total(cost, lo_tot - ssum, 1.0, osh, nr, c, cn, sw, split, order, dq, g, t0)
    elif ssum > hi_tot:     # lower it to hi_tot (each t_j at least its shell's lo)
        cost = _move_total(cost, ssum - hi_tot, -1.0, osl, nr, c, cn, sw, split, order, dq, g, t0)
    return cost


@njit(inline="always", **JIT)
def _prefetch_records(flat, width, lc):
    """Prefetch the records of children lc and lc + 1 (adjacent rows of width ``width`` of the node
    records, flattened once a query): a hint, never a fault."""
    o = lc * width
    for off in range(0, 2 * width, 16):        # 16 float32 a cache line
        prefetch_row(flat, o + off)


@njit(inline="always", **JIT)
def _child_bound_l2(nr, c, q, dq, dq_tot, inh, pn):
    kk = dq.shape[0]
    dd = 2 * kk
    osl = 2 * dd
    osh = 2 * dd + kk
    s = 0.0
    for j in range(kk):
        bx, by = _box_gaps(q[2 * j], q[2 * j + 1], nr[c, 2 * j], nr[c, 2 * j + 1], nr[c, dd + 2 * j],
                           nr[c, dd + 2 * j + 1])
        d = dq[j]
        v = max(inh[pn, j], np.sqrt(bx * bx + by * by), d - nr[c, osh + j], nr[c, osl + j] - d)
        inh[c, j] = v
        s += v * v
    return max(np.sqrt(s), dq_tot - nr[c, osh + kk + 1], nr[c, osh + kk] - dq_tot)


@njit(inline="always", **JIT)
def _block_box_bound(b, brec, q, cn, metric):
    """Bound of block b from its quantization box [lo, lo + 255 step] (contains the block's box)."""
    kk = cn.shape[0]
    dd = 2 * kk
    s = 0.0
    for j in range(kk):
        bb = 0.0
        for a in range(2):
            i = 2 * j + a
            lo = np.float64(brec[b, i])
            hi = lo + 255.0 * np.float64(brec[b, dd + i])
            x = q[i]
            v = max(0.0, lo - x, x - hi)
            bb = bb + v if metric == METRIC_WEIGHTED else bb + v * v
        if metric == METRIC_WEIGHTED:
            s += cn[j] * bb
        else:
            s += bb
    if metric == METRIC_WEIGHTED:
        return s
    return np.sqrt(s)


@njit(fastmath=FASTMATH, **JIT)
def _approx_codes(codes, base, npad, n, act, na, s32, q32, c32, metric, t32, out):
    """Float32 approximations (squared for l2) of a block's rows from their 8-bit codes, over the
    ``na`` active coordinates ``act`` (those with a nonzero weight); returns how many of the n real
    rows may pass the filter threshold t32."""
    for r in range(npad):
        out[r] = 0.0
    if metric == METRIC_WEIGHTED:
        for t in range(na):
            c = c32[t]
            qq = q32[t]
            st = s32[t]
            o = base + act[t] * npad
            row = codes[o:o + npad]
            for r in range(npad):
                out[r] += c * abs(st * np.float32(row[r]) - qq)
    else:
        for t in range(na):
            qq = q32[t]
            st = s32[t]
            o = base + act[t] * npad
            row = codes[o:o + npad]
            for r in range(npad):
                v = st * np.float32(row[r]) - qq
                out[r] += v * v
    cnt = 0
    for r in range(n):
        a = out[r]
        cnt += (a <= t32) | (a > F32_MAX)
    return cnt


_INT_WMAX = 127.0      # vpmaddubsw multiplies by signed bytes
_INT_LIMIT = 65534.0   # the limit stays below 65535, the u16 accumulator's saturation value
_INT_DK_MIN = 1e-30    # below this k-th distance the integer filter is not used


@njit(inline="always", **JIT)
def int_filter_limit(dk, eps, scale, slack, outside):
    """The integer filter's limit L: rows whose integer bound exceeds it are dropped (proof in
    :func:`int_filter_setup`); L < 0 drops the whole block."""
    thr = (1.0 + eps) * dk * (1.0 + 2.0 ** -20)
    x = scale * (thr + slack - outside)
    return min(int(np.floor(x + 1e-9 * scale * (thr + slack + outside))), 65535)   # 65535: keeps every row


@njit(inline="always", **JIT)
def int_filter_setup(b, T, q, cn, act, na, npad, dk, eps, iqp, iqm, iw, ioff):
    """Integer lower bound for the rows of block b (weighted metric, k-th distance dk); fills the
    per-coordinate query codes iqp / iqm, weights iw (uint8) and code offsets ioff (int64), all of size
    >= na + 1, and returns (pairs of coordinates, scale, slack, outside); 0 pairs: no filter.

    Proof. Coordinate i of a block row x with code c (lo, step st > 0 from brec) satisfies
    x = lo + st u with u in [c - 1e-9, c + 1 + 1e-9] (:mod:`._vplayout`, and the 1e-9 of
    :func:`scan_block`). Let v = (q_i - lo) / st (float64; its error is < 1e-12 code units wherever it
    matters: |v| <= 256), Q = floor(v) clamped to [0, 255], d = max(|c - Q| - 1, 0) and e = max(v -
    256, -v, 0) (how far the query lies outside the block's 256 cells). Then |u - v| >= d + e - 2e-9:
    for c > Q, u - v >= c - (Q + 1) (v < Q + 1 unless v >= 256, when Q = 255 >= c); for c < Q,
    v - u >= Q - (c + 1) + e (v >= Q, and v - 256 >= 0 more when v >= 256, as then Q = 255); for
    v < 0, u - v >= c + e >= d + e. In bytes d = sat(c - qp) | sat(qm - c) with qp = min(Q + 1, 255),
    qm = max(Q - 1, 0) (one term is 0). So with c_i = w_j / sum w (exact), the true distance
    D = sum_i c_i |x_i - q_i| >= sum_i c_i st_i d_i + E - H, with E <= sum_i c_i st_i e_i (computed
    with a relative 1e-9 to spare, over every active coordinate) and H = 1e-8 sum_i c_i st_i. The
    integer weights W_i = floor(S cn_i st_i (1 - 1e-9)) <= S c_i st_i (<= 127 by the choice of S);
    coordinates with W_i = 0 are left out of the sum (their terms are >= 0). The kernel's accumulator
    A (saturating additions of nonnegative terms: never above the exact sum) satisfies
    A <= sum_i W_i d_i <= S (D + H - E). A row is dropped when A > L = floor(S (T + H - E) + 1e-9 S
    (T + H + E)) with T = (1 + eps) dk (1 + 2^-20) (:func:`int_filter_limit`; the second term covers
    the float64 evaluation of the first): then S (D + H - E) >= A > S (T + H - E), so D > T and the
    row's reported distance (float64, relative error < eps / 2) is > dk: the heap would refuse it (ties
    need <= dk). L < 0: every row is dropped. S also keeps L <= 65534 < 65535, so a saturated
    accumulator is dropped, as it should be (L is capped at 65535, where nothing is dropped, should
    rounding ever take it past 65534). dk only falls during a search, so L only falls too."""
    return _int_filter_setup(b, T.brec, q, cn, act, na, npad, dk, eps, iqp, iqm, iw, ioff)


@njit(inline="always", **JIT)
def _int_filter_setup(b, brec, q, cn, act, na, npad, dk, eps, iqp, iqm, iw, ioff):
    """:func:`int_filter_setup` on the block records ``brec`` (the search passes the tree's arrays it
    needs, not the whole KTree: each array argument of an inlined call costs a refcount pair)."""
    dd = brec.shape[1] // 2
    thr = (1.0 + eps) * dk * (1.0 + 2.0 ** -20)
    cmax = 0.0
    csum = 0.0
    outside = 0.0
    for tt in range(na):
        i = act[tt]
        st = np.float64(brec[b, dd + i])
        cs = cn[i >> 1] * st
        cmax = max(cmax, cs)
        csum += cs
        if st > 0.0:
            v = (q[i] - np.float64(brec[b, i])) / st
            outside += cs * max(v - 256.0, -v, 0.0)
            iqp[tt] = min(255, max(0, int(np.floor(min(max(v, -1.0), 256.0)))))   # Q, until the loop below
    outside *= 1.0 - 1e-9
    if not (cmax > 0.0 and dk >= _INT_DK_MIN and thr < np.inf):
        return 0, 0.0, 0.0, 0.0
    slack = 1e-8 * csum
    room = thr + slack - outside
    scale = _INT_WMAX / cmax
    if room > 0.0:
        scale = min(scale, _INT_LIMIT / (room + 2e-9 * (thr + slack + outside)))
    nt = 0
    for tt in range(na):
        i = act[tt]
        st = np.float64(brec[b, dd + i])
        wi = min(np.floor(scale * cn[i >> 1] * st * (1.0 - 1e-9)), _INT_WMAX)
        if not wi >= 1.0:
            continue
        qc = np.int64(iqp[tt])   # (wi >= 1: st > 0; nt <= tt, so iqp[tt] is still the first loop's)
        iqp[nt] = min(qc + 1, 255)
        iqm[nt] = max(qc - 1, 0)
        iw[nt] = int(wi)
        ioff[nt] = i * npad
        nt += 1
    if nt == 0:
        return 0, 0.0, 0.0, 0.0
    if nt % 2 == 1:              # pad to whole pairs with a weight-0 coordinate
        iqp[nt] = 255
        iqm[nt] = 0
        iw[nt] = 0
        ioff[nt] = ioff[nt - 1]
        nt += 1
    return nt // 2, scale, slack, outside


@njit(inline="always", **JIT)
def _offer_row(p, data, perm, gstart, q, w, metric, hd, hi, n, stats):
    """Exact distance of tree row p offered to the result heap with p's identical rows."""
    stats[3] += 1
    de = _exact_distance(data[p], q, w, metric)
    return _heap_offer_group(hd, hi, n, de, perm, gstart[p], gstart[p + 1])


@njit(inline="always", **JIT)
def _scan_setup(b, brec, q, cn, act, na, metric, s32, q32, c32):
    """The float32 filter's per-block inputs of :func:`scan_block` (steps s32, query offsets q32, weights
    c32 over the active coordinates) and its slack H (returned)."""
    dd = brec.shape[1] // 2
    u = 2.0 ** -24
    hsum = 0.0
    h2 = 0.0
    r2 = 0.0
    for tt in range(na):
        i = act[tt]
        lo = np.float64(brec[b, i])
        st = np.float64(brec[b, dd + i])
        qq = q[i] - lo - 0.5 * st
        s32[tt] = brec[b, dd + i]
        q32[tt] = np.float32(qq)
        h = st * (0.5 + 1e-9)
        err = 2.0 * u * (255.0 * st + abs(qq))
        if metric == METRIC_WEIGHTED:
            c = cn[i >> 1]
            c32[tt] = np.float32(c)
            hsum += c * (h + err)
        else:
            h2 += h * h
            r2 += err * err
    if metric != METRIC_WEIGHTED:
        hsum = np.sqrt(h2) + np.sqrt(r2)
    return hsum * (1.0 + 1e-6)


@njit(inline="always", **JIT)
def scan_block(b, data, brec, bstart, boff, codes, cboxes, perm, gstart, q, w, metric, cn, act, eps, hd, hi, n, buf,
               s32, q32, c32, stats, int_filter, acc, iqp, iqm, iw, ioff, chunks):
    """Scan block b into the result heap of size n (returned updated). data ... gstart: the KTree's arrays
    (data, brec, block_start, block_off, codes, chunk_boxes, perm, gstart), passed one by one: an inlined
    call increfs every array it is given, and a KTree holds 13. ``act``: the active coordinates.

    Filter: with e_i = step_i code_i - (q_i - lo_i - step_i / 2), |x_i - q_i| >= |e_i| - h_i,
    h_i = step_i (1/2 + 1e-9) (the cell half-width, plus the rounding of the code computation); the
    float32 evaluation of e_i errs by at most 2u (255 step_i + |q_i - lo_i - step_i / 2|) (u = 2^-24).
    Summing (weighted: with weights c_i; l2: in norm) gives the slack H added to the k-th distance in
    the threshold of :func:`._common.filter_threshold`; only rows passing it get an exact distance.

    ``int_filter`` > 0 (weighted, heap full): the integer filter of :func:`int_filter_setup` runs first and
    the rows it keeps get their exact distance (stats[5] counts them); acc (uint16, >= the block's padded
    rows), iqp, iqm, iw (uint8), ioff (int64) (D + 1,), chunks (int64, >= padded rows / 64): its
    workspace; ``cboxes``: the tree's chunk boxes (:mod:`._vplayout`). First the chunks' box bounds
    (every pair, 64 chunks at a time: ~36% of the chunks are dropped there, cross-dataset queries,
    real confidences, 316k rows), then two passes over the rows of the chunks left: the ``int_filter``
    heaviest pairs of coordinates (``act`` comes sorted by weight), then the other pairs only for the
    chunks where a row is still within the limit (partial sums are lower bounds too; ~80% of the chunks
    are dropped after the first pass; INT_FIRST_PAIRS is 8). A row offered to the heap lowers the limit,
    and the chunk's remaining rows are checked against the new one.
    """
    dd = data.shape[1]
    na = act.shape[0]
    s = bstart[b]
    cnt = bstart[b + 1] - s
    kcap = hd.shape[0]
    base = boff[b] * dd
    npad = padded(cnt)
    if int_filter > 0 and metric == METRIC_WEIGHTED and n == kcap:
        npair, scale, slack, outside = _int_filter_setup(b, brec, q, cn, act, na, npad, hd[0], eps, iqp, iqm, iw, ioff)
        if npair > 0:
            lim = int_filter_limit(hd[0], eps, scale, slack, outside)
            if lim < 0:
                return n
            nch = npad // CODE_PAD
            live = 0                        # the chunks whose box bound is within the limit
            cb = chunk_box_offset(boff[b], dd)
            for g in range((nch + 63) // 64):
                m = int_box_mask(cboxes, cb, nch, g, ioff, npad, dd, npair, iqp, iqm, iw, lim)
                while m != 0:
                    c = g * 64 + lowest_bit(m)
                    if c >= nch:
                        break
                    m &= m - np.uint64(1)
                    chunks[live] = c
                    live += 1
            nch = live
            p1 = min(npair, int_filter)     # the heaviest pairs (act is sorted) for every chunk,
            nch = int_bound_pass(codes, base, ioff, 0, p1, iqp, iqm, iw, acc, chunks, nch, lim, True)
            if p1 < npair:                  # the rest only for chunks with a row still <= lim
                nch = int_bound_pass(codes, base, ioff, p1, npair, iqp, iqm, iw, acc, chunks, nch, lim, False)
            for j in range(nch):
                ch = chunks[j]
                m = int_bound_mask(acc, ch, lim)
                while m != 0:
                    r = ch * 64 + lowest_bit(m)
                    if r >= cnt:
                        break
                    m &= m - np.uint64(1)
                    stats[5] += 1
                    dk = hd[0]
                    n = _offer_row(s + r, data, perm, gstart, q, w, metric, hd, hi, n, stats)
                    if hd[0] != dk:
                        lim = int_filter_limit(hd[0], eps, scale, slack, outside)
                        if lim < 0:         # no row of the block can enter any more
                            return n
                        m &= int_bound_mask(acc, ch, lim)
            return n
    hsum = _scan_setup(b, brec, q, cn, act, na, metric, s32, q32, c32)
    t32 = filter_threshold(hd[0] if n == kcap else np.inf, eps, hsum, metric)
    if _approx_codes(codes, base, npad, cnt, act, na, s32, q32, c32, metric, t32, buf) == 0:
        return n
    if n < kcap:     # heap not full: first the rows with the smallest approximations, for a tight threshold
        sd = np.empty(kcap)
        si = np.empty(kcap, np.int64)
        m = 0
        for r in range(cnt):
            a = np.float64(buf[r])
            if a <= F32_MAX and (m < kcap or a < sd[0]):
                m = heap_offer(sd, si, m, a, r)
        for j in range(m):
            r = si[j]
            buf[r] = np.nan              # offered now: the pass below skips it
            n = _offer_row(s + r, data, perm, gstart, q, w, metric, hd, hi, n, stats)
        t32 = filter_threshold(hd[0] if n == kcap else np.inf, eps, hsum, metric)
    for r in range(cnt):
        a = buf[r]
        if a <= t32 or a > F32_MAX:
            n = _offer_row(s + r, data, perm, gstart, q, w, metric, hd, hi, n, stats)
            if n == kcap:
                t32 = filter_threshold(hd[0], eps, hsum, metric)
    return n


@njit(**JIT)
def search_one(q, w, metric, k, T, max_work, inh, hn, hl, out_i, out_d, stats, buf, int_filter):
    """k-NN of one query over tree T (a KTree): nodes are expanded best-first with the full bounds
    until a block root is popped, whose block is scanned.

    Fallback: work = rows scanned + NODE_WORK per node expanded; once it exceeds ``max_work`` the
    bounds are not paying for themselves, and every pending node (still best-first, still cut off by
    its bound) has its blocks scanned in row order, each after a cheap box check, without further
    expansion. A node pushed onto the frontier has its children's records prefetched (best-first often
    expands it soon; on corpora past the caches a node expansion waits on them: 3-4% less CPU per query
    at 316k to 10M rows). Workspaces: inh (M, K), hn/hl (M,), buf (largest padded block,) float32.
    stats: [rows scanned, nodes expanded, blocks scanned, exact distances computed, 1 if fell back,
    rows kept by the integer filter]. int_filter: 0 (off), or the pairs of coordinates of the integer
    filter's first pass (AVX-512BW hosts only, else 0; see scan_block).
    """
    data = T.data
    sw = T.sw
    nint = T.nint
    bstart = T.block_start
    nrec = T.nrec
    brec = T.brec
    boff = T.block_off
    codes = T.codes
    cboxes = T.chunk_boxes
    perm = T.perm
    gstart = T.gstart
    nrec_flat = nrec.reshape(-1)        # once a query (a reshape costs a C call and a refcount)
    dd = data.shape[1]
    kk = dd // 2
    ovp = 2 * dd + 2 * kk + 2
    q32 = np.empty(dd, np.float32)
    c32 = np.empty(dd, np.float32)
    cn = np.empty(kk)
    eps, eta = prepare_query(q, w, metric, q32, c32, cn)
    split = T.split
    order = split[np.argsort(cn[split] / sw[split])]
    act = np.empty(dd, np.int64)
    na = 0
    for i in range(dd):
        if metric != METRIC_WEIGHTED or cn[i >> 1] > 0.0:
            act[na] = i
            na += 1
    hd = np.empty(k)
    hi = np.empty(k, np.int64)
    s32 = np.empty(dd, np.float32)
    l32 = np.empty(dd, np.float32)
    lc32 = np.empty(dd, np.float32)
    dq = np.empty(kk)
    t0 = np.empty(kk)
    g = np.empty(kk)
    if not (HAS_AVX512BW and metric == METRIC_WEIGHTED):
        int_filter = 0
    if int_filter > 0:   # heaviest joints first, for the integer filter's first pass (any order is exact)
        act[:na] = act[:na][np.argsort(-cn[act[:na] >> 1], kind="mergesort")]
    act_n = act[:na].copy()     # the active coordinates (a call of more than 30 arguments would not compile)
    acc = np.empty(buf.shape[0] if int_filter > 0 else 0, np.uint16)
    iqp = np.empty(dd + 1, np.uint8)
    iqm = np.empty(dd + 1, np.uint8)
    iw = np.empty(dd + 1, np.uint8)
    ioff = np.empty(dd + 1, np.int64)
    chunks = np.empty(acc.shape[0] // 64, np.int64)
    stats[5] = 0
    qmax = 0.0
    for i in range(dd):
        qmax = max(qmax, abs(q[i]))
    abs_slack = _ABS_SLACK * (1.0 + qmax + T.scale)
    n = 0
    for j in range(kk):
        inh[0, j] = 0.0
    sz = _minheap_push(hn, hl, 0, 0, 0.0)
    npts = 0
    nnodes = 0
    nleaves = 0
    stats[3] = 0
    stats[4] = 0
    flat = False
    while sz > 0:
        node = hn[0]
        lb = hl[0]
        sz = _minheap_pop(hn, hl, sz)
        if n == k and lb * _REL_SLACK - abs_slack > hd[0]:
            break
        b0 = nint[node, 2]
        b1 = nint[node, 3]
        if b1 == b0 + 1 or flat:
            for b in range(b0, b1):
                if b1 > b0 + 1 and n == k:
                    if _block_box_bound(b, brec, q, cn, metric) * _REL_SLACK - abs_slack > hd[0]:
                        continue
                n = scan_block(b, data, brec, bstart, boff, codes, cboxes, perm, gstart, q, w, metric, cn, act_n, eps,
                               hd, hi, n, buf, s32, l32, lc32, stats, int_filter, acc, iqp, iqm, iw, ioff, chunks)
                npts += bstart[b + 1] - bstart[b]
                nleaves += 1
            continue
        if npts + NODE_WORK * nnodes > max_work:
            flat = True
            stats[4] = 1
            sz = _minheap_push(hn, hl, sz, node, lb)
            continue
        lc = nint[node, 0]
        nnodes += 1
        if metric == METRIC_WEIGHTED:
            for j in range(kk):
                dq[j] = abs(q[2 * j] - nrec[lc, ovp + 2 * j]) + abs(q[2 * j + 1] - nrec[lc, ovp + 2 * j + 1])
            dq_tot = 0.0
        else:
            for j in range(kk):
                dx = q[2 * j] - nrec[lc, ovp + 2 * j]
                dy = q[2 * j + 1] - nrec[lc, ovp + 2 * j + 1]
                dq[j] = np.sqrt(dx * dx + dy * dy)
            s2 = 0.0
            for jj in range(split.shape[0]):
                s2 += sw[split[jj]] * dq[split[jj]] * dq[split[jj]]
            dq_tot = np.sqrt(s2)
        for side in range(2):
            c = lc + side
            if metric == METRIC_WEIGHTED:
                cb = _child_bound_weighted(nrec, c, q, cn, sw, split, order, dq, inh, node, t0, g)
            else:
                cb = _child_bound_l2(nrec, c, q, dq, dq_tot, inh, node)
            cb = max(cb, lb)
            if n < k or cb * _REL_SLACK - abs_slack <= hd[0]:
                sz = _minheap_push(hn, hl, sz, c, cb)
                gc = nint[c, 0]
                if gc >= 0 and nint[c, 3] != nint[c, 2] + 1:   # c may be expanded next: ask for its
                    _prefetch_records(nrec_flat, nrec.shape[1], gc)   # children's records now
    finish_heap(hd, hi, n, k, out_i, out_d)
    stats[0] = npts
    stats[1] = nnodes
    stats[2] = nleaves


@njit(**JIT)
def any_nonzero(w, j0, j1, out):
    """out[b] = any(w[b, j0:j1] != 0)."""
    for b in range(w.shape[0]):
        hit = False
        for j in range(j0, j1):
            if w[b, j] != 0.0:
                hit = True
                break
        out[b] = hit


@njit(parallel=True, **JIT)
def search_batch(Q, W, metric, k, T, max_work, out_i, out_d, stats, nworkers, max_block, int_filter, nxt):
    """All queries, on ``nworkers`` parallel workers (one workspace each) that take the next query from the
    shared counter nxt[0] (int64 (1,), 0 on entry; :func:`._llvm.fetch_add`) until none is left: a query's
    cost varies several-fold, and fixed shares of the batch left one thread idle for ~5% of it (316k rows,
    cross-dataset queries). The counter comes from the caller: numba's parallel pass does not see the
    atomic update, and an array made here read back as 0 after the loop."""
    nint = T.nint
    data = T.data
    nq = Q.shape[0]
    nn = nint.shape[0]
    kk = data.shape[1] // 2
    for _ in prange(nworkers):
        inh = np.empty((nn, kk))
        hn = np.empty(nn, np.int64)
        hl = np.empty(nn)
        buf = np.empty(max_block, np.float32)
        b = fetch_add(nxt, 0, 1)
        while b < nq:
            search_one(Q[b], W[b], metric, k, T, max_work, inh, hn, hl, out_i[b], out_d[b], stats[b], buf,
                       int_filter)
            b = fetch_add(nxt, 0, 1)
