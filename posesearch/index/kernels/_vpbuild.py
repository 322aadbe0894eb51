"""VP-tree construction kernels (numba), one call per tree level.

Nodes are numbered breadth-first, so a node's children always have larger ids than the node and the
two children of a node are ``left`` and ``left + 1``. A node owns the rows ``[start, end)`` of the tree
order; an internal node with n rows keeps the n // 2 rows nearest its vantage point in its left
(inner) child and the rest in its right (outer) child: splits are by position, so any number of
duplicate rows still halves every node (depth <= log2(N / leaf_size) + 1, no degenerate split).

Per-joint distances used for the bounds (j = 0..K-1, joint j is coordinates 2j, 2j + 1):

* weighted: ``d_j(a, b) = |a_2j - b_2j| + |a_2j+1 - b_2j+1|`` (L1 in the plane: a metric), total
  ``sum_j s_j d_j``;
* l2: ``d_j(a, b) = sqrt((a_2j - b_2j)^2 + (a_2j+1 - b_2j+1)^2)``, total ``sqrt(sum_j s_j d_j^2)``;

with *split weights* s_j in [0, 1], max 1 (default all 1): vantage points are chosen and nodes split by
the total. Down-weighting joints that queries often miss (weight 0, e.g. the face) makes the partition
follow the joints queries do weigh. For every child node c of a node with vantage point v the tree
stores ``shell_lo/hi[c, j]`` = min/max over c's rows x of d_j(v, x) for every joint j,
``tot_lo/hi[c]`` = min/max of the total, and the bounding box of c's rows.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._common import JIT, METRIC_WEIGHTED

N_CANDIDATES = 8      # vantage point candidates tried per node
N_SAMPLE = 128       # rows each candidate's distance spread is measured on


@njit(**JIT)
def _joint_dists(x, v, metric, sw, out):
    """Per-joint distances of row x (float32) to point v (float64) into out; returns the total with
    split weights ``sw``."""
    kk = out.shape[0]
    tot = 0.0
    if metric == METRIC_WEIGHTED:
        for j in range(kk):
            a = abs(np.float64(x[2 * j]) - v[2 * j]) + abs(np.float64(x[2 * j + 1]) - v[2 * j + 1])
            out[j] = a
            tot += sw[j] * a
        return tot
    for j in range(kk):
        dx = np.float64(x[2 * j]) - v[2 * j]
        dy = np.float64(x[2 * j + 1]) - v[2 * j + 1]
        s = dx * dx + dy * dy
        out[j] = np.sqrt(s)
        tot += sw[j] * s
    return np.sqrt(tot)


@njit(**JIT)
def _total_dist(x, v, metric, sw):
    """Total distance with split weights ``sw`` (what nodes are split by)."""
    tot = 0.0
    kk = sw.shape[0]
    if metric == METRIC_WEIGHTED:
        for j in range(kk):
            tot += sw[j] * (abs(np.float64(x[2 * j]) - v[2 * j]) + abs(np.float64(x[2 * j + 1]) - v[2 * j + 1]))
        return tot
    for j in range(kk):
        dx = np.float64(x[2 * j]) - v[2 * j]
        dy = np.float64(x[2 * j + 1]) - v[2 * j + 1]
        tot += sw[j] * (dx * dx + dy * dy)
    return np.sqrt(tot)


@njit(**JIT)
def _select(keys, idx, lo, hi, kth):
    """Reorder keys/idx[lo:hi] so that position kth holds the kth smallest key, smaller-or-equal keys
    before it and greater-or-equal after (iterative 3-way quickselect: linear even on all-equal keys)."""
    while hi - lo > 1:
        # median of three as pivot
        a = keys[lo]
        b = keys[(lo + hi) >> 1]
        c = keys[hi - 1]
        if a > b:
            a, b = b, a
        if b > c:
            b = c
        if a > b:
            b = a
        pivot = b
        lt = lo
        i = lo
        gt = hi
        while i < gt:
            kv = keys[i]
            if kv < pivot:
                keys[i], keys[lt] = keys[lt], keys[i]
                idx[i], idx[lt] = idx[lt], idx[i]
                lt += 1
                i += 1
            elif kv > pivot:
                gt -= 1
                keys[i], keys[gt] = keys[gt], keys[i]
                idx[i], idx[gt] = idx[gt], idx[i]
            else:
                i += 1
        if kth < lt:
            hi = lt
        elif kth >= gt:
            lo = gt
        else:
            return


@njit(**JIT)
def _permute_rows(work, perm, idx, s, e, rbuf):
    """Rows [s, e) of ``work`` and ``perm`` reordered in place so that position p gets what was at
    ``idx[p]`` (a permutation of s..e-1), cycle by cycle with one row of scratch (``rbuf``): no second
    copy of the rows. ``idx`` is consumed (every entry set to -1)."""
    dd = work.shape[1]
    for p in range(s, e):
        src = idx[p]
        if src < 0:
            continue
        if src == p:
            idx[p] = -1
            continue
        for i in range(dd):
            rbuf[i] = work[p, i]
        pid = perm[p]
        dst = p
        while src != p:
            for i in range(dd):
                work[dst, i] = work[src, i]
            perm[dst] = perm[src]
            idx[dst] = -1
            dst = src
            src = idx[dst]
        for i in range(dd):
            work[dst, i] = rbuf[i]
        perm[dst] = pid
        idx[dst] = -1


@njit(**JIT)
def _choose_vp(work, s, e, metric, sw, vbuf):
    """Vantage point of rows [s, e): among up to N_CANDIDATES random rows, the one whose distances to
    N_SAMPLE random rows have the largest variance. Returns its position."""
    n = e - s
    nc = min(n, N_CANDIDATES)
    ns = min(n, N_SAMPLE)
    sample = np.empty(ns, np.int64)
    if ns == n:
        for i in range(n):
            sample[i] = s + i
    else:
        for i in range(ns):
            sample[i] = s + np.random.randint(0, n)
    best = s
    best_var = -1.0
    for c in range(nc):
        pos = s + np.random.randint(0, n) if nc < n else s + c
        row = work[pos]
        for i in range(vbuf.shape[0]):
            vbuf[i] = np.float64(row[i])
        m1 = 0.0
        m2 = 0.0
        for i in range(ns):
            t = _total_dist(work[sample[i]], vbuf, metric, sw)
            m1 += t
            m2 += t * t
        var = m2 / ns - (m1 / ns) ** 2
        if var > best_var:
            best_var = var
            best = pos
    return best


@njit(**JIT)
def _child_bounds(work, vbuf, metric, sw, s, e, c, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi, jbuf):
    """Shells (per-joint and total distances to the parent's vantage point vbuf) and box of node c = [s, e)."""
    kk = jbuf.shape[0]
    dd = work.shape[1]
    for j in range(kk):
        shell_lo[c, j] = np.inf
        shell_hi[c, j] = 0.0
    tot_lo[c] = np.inf
    tot_hi[c] = 0.0
    for i in range(dd):
        box_lo[c, i] = np.inf
        box_hi[c, i] = -np.inf
    for p in range(s, e):
        row = work[p]
        t = _joint_dists(row, vbuf, metric, sw, jbuf)
        for j in range(kk):
            shell_lo[c, j] = min(shell_lo[c, j], jbuf[j])
            shell_hi[c, j] = max(shell_hi[c, j], jbuf[j])
        tot_lo[c] = min(tot_lo[c], t)
        tot_hi[c] = max(tot_hi[c], t)
        for i in range(dd):
            box_lo[c, i] = min(box_lo[c, i], row[i])
            box_hi[c, i] = max(box_hi[c, i], row[i])


@njit(**JIT)
def _split_node(node, lc, work, perm, metric, sw, seed, start, end, left, right, vp, shell_lo, shell_hi, tot_lo,
                tot_hi, box_lo, box_hi, keys, idx):
    """Split one node into children lc, lc + 1 (rows [s, e) of ``work``/``perm`` reordered in place)."""
    np.random.seed((seed * 1000003 + node) % 4294967296)   # per node: the same tree with any thread count
    dd = work.shape[1]
    kk = dd // 2
    vbuf = np.empty(dd)
    jbuf = np.empty(kk)
    rbuf = np.empty(dd, work.dtype)
    s = start[node]
    e = end[node]
    n = e - s
    vpos = _choose_vp(work, s, e, metric, sw, vbuf)
    vp_id = perm[vpos]
    for i in range(dd):
        vbuf[i] = np.float64(work[vpos, i])
    for p in range(s, e):
        keys[p] = _total_dist(work[p], vbuf, metric, sw)
        idx[p] = p
    m = n // 2
    _select(keys, idx, s, e, s + m)
    _permute_rows(work, perm, idx, s, e, rbuf)
    vp[node] = vp_id            # original row id for now; converted to a position at the end
    rc = lc + 1
    left[node] = lc
    right[node] = rc
    start[lc] = s
    end[lc] = s + m
    start[rc] = s + m
    end[rc] = e
    left[lc] = -1
    right[lc] = -1
    left[rc] = -1
    right[rc] = -1
    vp[lc] = -1
    vp[rc] = -1
    _child_bounds(work, vbuf, metric, sw, s, s + m, lc, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi, jbuf)
    _child_bounds(work, vbuf, metric, sw, s + m, e, rc, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi, jbuf)


@njit(parallel=True, **JIT)
def split_level(work, perm, metric, sw, leaf_size, seed, n0, n1, n_nodes,
                start, end, left, right, vp, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi,
                keys, idx):
    """Split every node n0..n1-1 holding more than ``leaf_size`` rows (in parallel: their rows are
    disjoint); children get ids from ``n_nodes`` on, in node order. ``work`` holds the rows in the
    current tree order (``perm`` their ids) and is reordered in place (no scratch copy of the rows), so
    every pass reads rows sequentially. Returns the new node count."""
    nl = n1 - n0
    child = np.full(nl, -1, np.int64)
    for t in range(nl):
        if end[n0 + t] - start[n0 + t] > leaf_size:
            child[t] = n_nodes
            n_nodes += 2
    for t in prange(nl):
        if child[t] >= 0:
            _split_node(n0 + t, child[t], work, perm, metric, sw, seed, start, end, left, right, vp, shell_lo,
                        shell_hi, tot_lo, tot_hi, box_lo, box_hi, keys, idx)
    return n_nodes


@njit(**JIT)
def compact_rows(data, rows):
    """Rows ``data[rows]`` moved to the front of ``data`` in place (``rows`` ascending, so every move is
    to a position at or before its source); returns the view ``data[:len(rows)]``."""
    dd = data.shape[1]
    for t in range(rows.shape[0]):
        r = rows[t]
        if r != t:
            for i in range(dd):
                data[t, i] = data[r, i]
    return data[:rows.shape[0]]


@njit(**JIT)
def root_box(data, box_lo, box_hi):
    dd = data.shape[1]
    for i in range(dd):
        box_lo[0, i] = np.inf
        box_hi[0, i] = -np.inf
    for p in range(data.shape[0]):
        for i in range(dd):
            x = data[p, i]
            if x < box_lo[0, i]:
                box_lo[0, i] = x
            if x > box_hi[0, i]:
                box_hi[0, i] = x


@njit(**JIT)
def verify_bounds(data_perm, metric, sw, start, end, left, vp, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi):
    """Check every row against its nodes' shells and boxes; returns the first failing node or -1."""
    dd = data_perm.shape[1]
    kk = dd // 2
    vbuf = np.empty(dd)
    jbuf = np.empty(kk)
    for node in range(start.shape[0]):
        for p in range(start[node], end[node]):
            for i in range(dd):
                x = data_perm[p, i]
                if not (box_lo[node, i] <= x <= box_hi[node, i]):
                    return node
        lc = left[node]
        if lc < 0:
            continue
        vrow = data_perm[vp[node]]
        for i in range(dd):
            vbuf[i] = np.float64(vrow[i])
        for c in range(lc, lc + 2):
            for p in range(start[c], end[c]):
                t = _joint_dists(data_perm[p], vbuf, metric, sw, jbuf)
                if not (tot_lo[c] <= t <= tot_hi[c]):
                    return c
                for j in range(kk):
                    if not (shell_lo[c, j] <= jbuf[j] <= shell_hi[c, j]):
                        return c
    return -1


@njit(**JIT)
def expand_groups(pos_group, gstart, members, out_start):
    """The ids in tree order: tree position p holds distinct row ``pos_group[p]``, whose ids are
    ``members[gstart[g]:gstart[g + 1]]``; they go to ``out[out_start[p]:out_start[p + 1]]``."""
    out = np.empty(members.shape[0], np.int64)
    for p in range(pos_group.shape[0]):
        g = pos_group[p]
        o = out_start[p]
        for t in range(gstart[g], gstart[g + 1]):
            out[o] = members[t]
            o += 1
    return out


@njit(**JIT)
def first_mixed_group(rows, perm, gstart, skip_lo, skip_hi):
    """The first group whose rows ``rows[perm[gstart[g]:gstart[g + 1]]]`` are not all equal, or -1.
    Columns ``skip_lo:skip_hi`` are left out of the comparison (the tree holds them as 0)."""
    for g in range(gstart.shape[0] - 1):
        r0 = rows[perm[gstart[g]]]
        for t in range(gstart[g] + 1, gstart[g + 1]):
            r = rows[perm[t]]
            for i in range(r.shape[0]):
                if r[i] != r0[i] and not skip_lo <= i < skip_hi:
                    return g
    return -1


@njit(**JIT)
def rows_to_tree_order(rows, perm, gstart):
    """Reorder ``rows`` in place into a tree's ``data_perm``: its first U = len(gstart) - 1 rows become
    ``rows[perm[gstart[:-1]]]`` (the distinct rows in tree order; the rows after them are left over).
    ``perm`` must be a permutation of the row ids. Returns the first group whose rows are not all
    equal (then ``rows`` is left in no useful order), or -1.

    The permutation is applied cycle by cycle (row k receives row perm[k]; one row is held aside per
    cycle, a byte a row marks those done), so no second (N, D) array is made."""
    n = rows.shape[0]
    done = np.zeros(n, np.bool_)
    held = np.empty(rows.shape[1], rows.dtype)
    for j in range(n):
        if done[j]:
            continue
        held[:] = rows[j]
        k = j
        while True:
            done[k] = True
            s = perm[k]
            if s == j:
                rows[k] = held
                break
            rows[k] = rows[s]
            k = s
    for g in range(gstart.shape[0] - 1):          # rows[t] is now the row of id perm[t]
        a = gstart[g]
        for t in range(a + 1, gstart[g + 1]):
            for i in range(rows.shape[1]):
                if rows[t, i] != rows[a, i]:
                    return g
        if a != g:                                 # a >= g: rows before a are done with
            rows[g] = rows[a]
    return -1
