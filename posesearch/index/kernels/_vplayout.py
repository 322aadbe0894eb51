"""Search layout of a VP-tree: compact records derived from :class:`..vptree.VPTreeArrays` at load.

The search expands nodes of more than ``block_rows`` rows with the full bounds and scans each maximal
subtree of at most ``block_rows`` rows (or a leaf) as one *block*: its rows are contiguous. The block
size is a search-time choice (one tree serves any), the layout is derived per block size, never
serialized (so a file can't hold an inconsistent copy), in one linear pass:

* ``nint`` (M, 4) int64 per node: left child (-1 leaf), number of rows, and the range [b0, b1) of the
  blocks inside the node (b1 = b0 + 1 exactly for block roots; nodes inside a block: -1, -1).
* ``nrec`` (M, RN) float32 per node, one contiguous record (the two children of a node are adjacent):
  box_lo (D) | box_hi (D) | shell_lo (K) | shell_hi (K) | tot_lo | tot_hi | vantage point of the
  node's PARENT (D, only filled in left children: expanding a node reads exactly its two children's
  records). Float64 bounds are rounded outwards to float32 (lo down, hi up), so they stay valid.
* per block b (row order): rows [block_start[b], block_start[b + 1]), ``brec`` (B, 2D) float32 =
  lo | step, and 8-bit codes at ``codes[block_off[b] * D:]``: coordinate i of the block's row r at
  ``i * npad + r`` (npad = rows rounded up to CODE_PAD, padding codes 0), with
  ``code = floor((x - lo_i) / step_i)``, lo/hi the block's box and ``step_i`` = float32 of
  (hi_i - lo_i) / 255 rounded up, so that ``0 <= x - lo_i - code * step_i <= step_i`` (code <= 255):
  x lies within step_i / 2 (+ rounding, see :func:`._vpsearch.scan_block`) of the cell centre
  lo_i + (code + 1/2) step_i.
* per block b and chunk (its rows 64 c .. 64 c + 63, the real ones), the smallest and largest code of
  each coordinate i (``chunk_boxes``, uint8, from chunk offset cb = block_off[b] / 64 * 2 D, see
  :func:`chunk_box_offset`: the smallest at ``cb + i * nch + c``, the largest at ``cb + (D + i) * nch +
  c``, nch = npad / 64; 64 bytes of padding at the end, for full-width reads): the integer filter's box
  bound of a chunk
  (:func:`._llvm.int_box_mask`).
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ._common import JIT

CODE_PAD = 64   # leaf code rows padded to a multiple of this: full SIMD iterations, no scalar tail


@njit(**JIT)
def f32_down(v):
    r = np.float32(v)
    if np.float64(r) > v:
        r = np.nextafter(r, np.float32(-np.inf))
    return r


@njit(**JIT)
def f32_up(v):
    r = np.float32(v)
    if np.float64(r) < v:
        r = np.nextafter(r, np.float32(np.inf))
    return r


@njit(**JIT)
def padded(n):
    return (n + CODE_PAD - 1) // CODE_PAD * CODE_PAD


@njit(inline="always", **JIT)
def chunk_box_offset(row_off, dim):
    """Where the chunk boxes of a block begin in ``chunk_boxes``: its first code row ``row_off``
    (``block_off[b]``, a multiple of CODE_PAD) over CODE_PAD rows a chunk, times 2 D bytes a chunk."""
    return row_off // CODE_PAD * 2 * dim


@njit(**JIT)
def mark_blocks(start, end, left, block_rows, is_block):
    """is_block[node] = node roots a block (a leaf or at most block_rows rows, parent not a block).
    Returns (number of blocks, total padded rows)."""
    m = start.shape[0]
    inside = np.zeros(m, np.bool_)       # node lies in (or roots) a block
    nb = 0
    tot = 0
    for node in range(m):                # parents have smaller ids
        is_block[node] = False
        if inside[node]:
            pass
        elif left[node] < 0 or end[node] - start[node] <= block_rows:
            is_block[node] = True
            inside[node] = True
            nb += 1
            tot += padded(end[node] - start[node])
        lc = left[node]
        if lc >= 0 and inside[node]:
            inside[lc] = True
            inside[lc + 1] = True
    return nb, tot


@njit(**JIT)
def build_layout(data_perm, start, end, left, vp, shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi, is_block,
                 nint, nrec, block_start, block_off, brec, codes, chunk_boxes):
    m = start.shape[0]
    dd = data_perm.shape[1]
    kk = dd // 2
    nb = block_off.shape[0]
    roots = np.empty(nb, np.int64)
    keys = np.empty(nb, np.int64)
    t = 0
    for node in range(m):
        if is_block[node]:
            roots[t] = node
            keys[t] = start[node]
            t += 1
    order = np.argsort(keys)
    for node in range(m):
        nint[node, 0] = left[node]
        nint[node, 1] = end[node] - start[node]
        nint[node, 2] = -1
        nint[node, 3] = -1
    total = 0
    for b in range(nb):
        node = roots[order[b]]
        nint[node, 2] = b
        nint[node, 3] = b + 1
        s = start[node]
        n = end[node] - s
        npad = padded(n)
        block_start[b] = s
        block_off[b] = total
        for i in range(dd):
            lo = box_lo[node, i]
            step = f32_up((np.float64(box_hi[node, i]) - np.float64(lo)) / 255.0)
            brec[b, i] = lo
            brec[b, dd + i] = step
            o = total * dd + i * npad
            st = np.float64(step)
            for r in range(npad):
                c = 0
                if r < n and st > 0.0:
                    x = np.float64(data_perm[s + r, i])
                    c = int((x - np.float64(lo)) / st)
                    c = min(255, max(0, c))
                    while c > 0 and np.float64(lo) + c * st > x:   # the division's rounding: cell must contain x
                        c -= 1
                codes[o + r] = c
        nch = npad // CODE_PAD
        cb = chunk_box_offset(total, dd)
        for i in range(dd):
            o = total * dd + i * npad
            for ch in range(nch):
                lo = 255
                hi = 0
                for r in range(ch * CODE_PAD, min(ch * CODE_PAD + CODE_PAD, n)):
                    lo = min(lo, codes[o + r])
                    hi = max(hi, codes[o + r])
                chunk_boxes[cb + i * nch + ch] = lo
                chunk_boxes[cb + (dd + i) * nch + ch] = hi
        total += npad
    block_start[nb] = data_perm.shape[0]
    for node in range(m - 1, -1, -1):      # block ranges of the nodes above the blocks (children first)
        lc = left[node]
        if lc >= 0 and nint[node, 2] < 0 and nint[lc, 2] >= 0:
            nint[node, 2] = nint[lc, 2]
            nint[node, 3] = nint[lc + 1, 3]
    for node in range(m):
        lc = left[node]
        if lc >= 0:
            vrow = data_perm[vp[node]]
            for i in range(dd):
                nrec[lc, 2 * dd + 2 * kk + 2 + i] = vrow[i]
        for i in range(dd):
            nrec[node, i] = box_lo[node, i]
            nrec[node, dd + i] = box_hi[node, i]
        for j in range(kk):
            nrec[node, 2 * dd + j] = f32_down(shell_lo[node, j])
            nrec[node, 2 * dd + kk + j] = f32_up(shell_hi[node, j])
        nrec[node, 2 * dd + 2 * kk] = f32_down(tot_lo[node])
        nrec[node, 2 * dd + 2 * kk + 1] = f32_up(tot_hi[node])
