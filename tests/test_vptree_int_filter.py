"""The VP-tree's integer pre-filter of the block codes (AVX-512BW, :func:`_vpsearch.int_filter_setup`):
its bound never drops a row that could enter the result (hypothesis, extreme weights, codes 0 / 255,
queries outside the block box, saturated accumulators), and searches with the filter on, off, and
compiled for a CPU without AVX-512BW all equal the exact kernel bit for bit."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from hypothesis import given, settings
from hypothesis import strategies as st

from posesearch.index.kernels import _vpsearch as vs
from posesearch.index.kernels._common import exact_distance
from posesearch.index.kernels._llvm import HAS_AVX512BW, int_bound_mask, int_bound_pass, int_box_mask
from posesearch.index.kernels._vplayout import chunk_box_offset, padded
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.vptree import build_vptree, knn_vptree

needs_avx512bw = pytest.mark.skipif(not HAS_AVX512BW, reason="the integer filter needs AVX-512BW (this CPU: "
                                                              "only the float32 path runs)")


@njit
def _bound_block(codes, base, npad, offs, npair, qp, qm, wts, acc, split):
    """Pairs [0, split) for every chunk, then [split, npair) for the even chunks, then for the odd ones
    (the search's two passes run the second one on a subset of the chunks), every chunk kept (limit
    65535)."""
    nch = npad // 64
    chunks = np.arange(nch)
    kept = int_bound_pass(codes, base, offs, 0, split, qp, qm, wts, acc, chunks, nch, 65535, True)
    even = chunks[0::2].copy()
    odd = chunks[1::2].copy()
    kept_even = int_bound_pass(codes, base, offs, split, npair, qp, qm, wts, acc, even, len(even), 65535, False)
    kept_odd = int_bound_pass(codes, base, offs, split, npair, qp, qm, wts, acc, odd, len(odd), 65535, False)
    return kept == nch and kept_even == len(even) and kept_odd == len(odd) and np.all(chunks == np.arange(nch))


@njit
def _live_chunks(codes, base, npad, offs, p0, p1, qp, qm, wts, acc, chunks, limit, first):
    """int_bound_pass over the given chunks: (their number kept, the chunk list after the call)."""
    n = int_bound_pass(codes, base, offs, p0, p1, qp, qm, wts, acc, chunks, len(chunks), limit, first)
    return n, chunks


@njit
def _box_mask(boxes, base, nch, group, offs, npad, dim, npair, qp, qm, wts, limit):
    return int_box_mask(boxes, base, nch, group, offs, npad, dim, npair, qp, qm, wts, limit)


@njit
def _bound_mask(acc, chunk, limit):
    return int_bound_mask(acc, chunk, limit)


def _rows_of(acc, npad):
    """int_bound_block's accumulator (vpmaddubsw lane order) in row order."""
    r = np.arange(npad)
    i = r % 64
    pos = np.where(i % 16 < 8, 8 * (i // 16) + i % 16, 32 + 8 * (i // 16) + i % 16 - 8)
    return acc[64 * (r // 64) + pos].astype(np.int64)


def _block_check(tree, q, w, dk, block_rows=64):
    """For every block: the integer bound of each row (by the kernel and by hand), the rows it drops at
    k-th distance dk, and their exact distances. Returns (rows dropped, saturated accumulators)."""
    kt, _ = tree.kernel_tree(block_rows)
    dd = tree.d
    cn = w / w.sum()
    act = np.flatnonzero(np.repeat(cn, 2) > 0).astype(np.int64)
    eps = 2.0 * (dd + 8) * 2.0 ** -24
    iqp, iqm, iw = (np.zeros(dd + 1, np.uint8) for _ in range(3))
    ioff = np.zeros(dd + 1, np.int64)
    dropped = saturated = 0
    for b in range(len(kt.block_off)):
        s, e = kt.block_start[b], kt.block_start[b + 1]
        cnt = e - s
        npad = padded(cnt)
        npair, scale, slack, outside = vs.int_filter_setup(b, kt, q, cn, act, len(act), npad, dk, eps, iqp, iqm, iw,
                                                           ioff)
        if npair == 0:
            continue
        acc = np.full(npad, 12345, np.uint16)
        split = max(1, min(npair, b % 4))   # (pair 0 starts from 0: the 12345 must not show)
        assert _bound_block(kt.codes, kt.block_off[b] * dd, npad, ioff, npair, iqp, iqm, iw, acc, split)
        a = _rows_of(acc, npad)[:cnt]
        # the same sums by hand (vpmaddubsw: pairs saturate at 32767; vpaddusw: total at 65535)
        codes = kt.codes[kt.block_off[b] * dd:kt.block_off[b] * dd + dd * npad]
        ref = np.zeros(npad, np.int64)
        for p in range(npair):
            pair = np.zeros(npad, np.int64)
            for t in (2 * p, 2 * p + 1):
                c = codes[ioff[t]:ioff[t] + npad].astype(np.int64)
                pair += int(iw[t]) * (np.maximum(c - iqp[t], 0) | np.maximum(int(iqm[t]) - c, 0))
            ref = np.minimum(ref + np.minimum(pair, 32767), 65535)
        np.testing.assert_array_equal(a, ref[:cnt])
        lim = vs.int_filter_limit(dk, eps, scale, slack, outside)
        assert lim <= 65535
        saturated += int((a == 65535).sum())
        if lim >= 0:
            mask = np.array([(int(_bound_mask(acc, r // 64, lim)) >> (r % 64)) & 1 for r in range(cnt)], bool)
            np.testing.assert_array_equal(mask, a <= lim)
            # one pass over every pair, chunks given in reverse: the kept ones come back in that order
            order = np.arange(npad // 64)[::-1].copy()
            acc2 = np.full(npad, 999, np.uint16)
            nk, got = _live_chunks(kt.codes, kt.block_off[b] * dd, npad, ioff, 0, npair, iqp, iqm, iw, acc2, order,
                                   lim, True)
            want = [c for c in np.arange(npad // 64)[::-1] if (ref[64 * c:64 * c + 64] <= lim).any()]
            assert list(got[:nk]) == want
            np.testing.assert_array_equal(_rows_of(acc2, npad)[:cnt], ref[:cnt])
            # the chunks' boxes: each coordinate's smallest and largest code over the chunk's real rows
            nch = npad // 64
            cb = chunk_box_offset(kt.block_off[b], dd)
            box_ref = np.zeros(nch, np.int64)
            for c in range(nch):
                rows = slice(64 * c, min(64 * c + 64, cnt))
                lo = np.array([codes[i * npad:][rows].min() for i in range(dd)], np.int64)
                hi = np.array([codes[i * npad:][rows].max() for i in range(dd)], np.int64)
                np.testing.assert_array_equal(kt.chunk_boxes[cb + c:cb + dd * nch:nch], lo)
                np.testing.assert_array_equal(kt.chunk_boxes[cb + dd * nch + c:cb + 2 * dd * nch:nch], hi)
                for p in range(npair):
                    pair = 0
                    for t in (2 * p, 2 * p + 1):
                        i = ioff[t] // npad
                        pair += int(iw[t]) * (max(lo[i] - int(iqp[t]), 0) | max(int(iqm[t]) - hi[i], 0))
                    box_ref[c] = min(box_ref[c] + min(pair, 32767), 65535)
                assert box_ref[c] <= ref[64 * c:min(64 * c + 64, cnt)].min(), "a box bound above a row's"
            got_box = np.concatenate([[(int(_box_mask(kt.chunk_boxes, cb, nch, g, ioff, npad, dd, npair, iqp, iqm,
                                                      iw, lim)) >> r) & 1 for r in range(64)]
                                      for g in range((nch + 63) // 64)])[:nch].astype(bool)
            np.testing.assert_array_equal(got_box, box_ref <= lim)
        exact = np.array([exact_distance(kt.data[p], q, w, 0) for p in range(s, e)])
        # the bound in distance units: A / scale + outside <= true distance + slack (float64's rounding)
        assert np.all(a / scale + outside <= exact * (1 + 1e-12) + slack + 1e-300)
        drop = a > lim
        assert np.all(exact[drop] > dk), "the integer filter dropped a row within the k-th distance"
        dropped += int(drop.sum())
    return dropped, saturated


@needs_avx512bw
@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 300), kj=st.integers(1, 6), seed=st.integers(0, 2**31),
       scale_x=st.sampled_from([1e-3, 1.0, 1e3]), spread_w=st.sampled_from([1.0, 1e3, 1e8]),
       q_kind=st.sampled_from(["near", "row", "far", "corner"]), dk_frac=st.sampled_from([0.0, 0.01, 0.3, 1.0, 5.0]),
       dup=st.booleans())
def test_property_bound_never_drops_a_neighbour(n, kj, seed, scale_x, spread_w, q_kind, dk_frac, dup):
    rng = np.random.default_rng(seed)
    data = (rng.normal(size=(n, 2 * kj)) * scale_x).astype(np.float32)
    if dup:   # codes 0 and 255 everywhere (two values a coordinate), and degenerate (step 0) coordinates
        data = np.where(rng.random(data.shape) < 0.5, data.min(0), data.max(0)).astype(np.float32)
        data[:, 0] = 1.0
    tree = build_vptree(data, "weighted", leaf_size=8, seed=seed % 5)
    w = rng.uniform(1.0, spread_w, kj) * (rng.random(kj) > 0.3)
    if w.sum() == 0:
        w[0] = 1.0
    if q_kind == "near":
        q = data[rng.integers(n)] + rng.normal(size=2 * kj) * scale_x * 0.05
    elif q_kind == "row":      # exactly on a row: cell boundaries, distance 0
        q = data[rng.integers(n)].astype(np.float64)
    elif q_kind == "far":      # outside every block's box
        q = rng.normal(size=2 * kj) * scale_x * 1e3
    else:                      # the corner of the data's box
        q = data.min(0).astype(np.float64)
    d_all = np.array([exact_distance(x, q, w, 0) for x in data])
    dk = float(np.quantile(d_all, min(dk_frac, 1.0))) * (1 if dk_frac <= 1 else dk_frac)
    if dk < vs._INT_DK_MIN:
        dk = float(d_all.max()) * 0.5 + 1e-6
    _block_check(tree, q.astype(np.float64), w, dk)


@needs_avx512bw
def test_bound_drops_rows_and_saturates(rng):
    """A near query, equal weights: accumulators saturate (65535 > the limit) and most rows are dropped;
    a far query with one dominant weight: the distance outside the blocks' boxes drops rows too."""
    data = rng.random((3000, 34)).astype(np.float32)
    tree = build_vptree(data, "weighted", leaf_size=16)
    w = np.ones(17)
    q = data[11].astype(np.float64) + 0.01
    d_all = np.array([exact_distance(x, q, w, 0) for x in data])
    dropped, saturated = _block_check(tree, q, w, float(np.sort(d_all)[9]))
    assert dropped > 2500 and saturated > 1000
    # blocks of up to 8192 rows: 47 chunks in one block's box mask; 3000 rows twice over: 94, in 2 groups of 64
    assert _block_check(tree, q, w, float(np.sort(d_all)[9]), block_rows=8192)[0] > 2500
    data2 = np.concatenate([data, data[::-1] + 1e-3])
    tree2 = build_vptree(data2, "weighted", leaf_size=16)
    assert tree2.kernel_tree(8192)[1] > 64 * 64       # one block of more than 64 chunks
    d2 = np.array([exact_distance(x, q, w, 0) for x in data2])
    assert _block_check(tree2, q, w, float(np.sort(d2)[9]), block_rows=8192)[0] > 5000
    w = np.full(17, 1e-6)
    w[3] = 1.0
    q = data[7].astype(np.float64) + 5.0
    d_all = np.array([exact_distance(x, q, w, 0) for x in data])
    assert _block_check(tree, q, w, float(np.sort(d_all)[9]))[0] > 2000


def _same_as_exact(tree, data, q, w, k, **kw):
    ei, ed = knn_exact(data, q, w, k, "weighted")
    ids, d, st_ = knn_vptree(tree, q, w, k, return_stats=True, **kw)
    np.testing.assert_array_equal(d, ed)
    np.testing.assert_array_equal(ids, ei)
    return st_


@pytest.mark.parametrize("dup", [False, True])
@pytest.mark.parametrize("first_pairs", [1, 8])
def test_search_with_and_without_filter_equals_exact(dup, first_pairs, rng, monkeypatch):
    monkeypatch.setattr(vs, "INT_FIRST_PAIRS", first_pairs)   # the filter's first pass: 1 or 8 of 17 pairs
    data = rng.normal(size=(20_000, 34)).astype(np.float32)
    if dup:
        data = np.round(data[rng.integers(0, 15_000, len(data))], 1)   # > one block of distinct rows
    tree = build_vptree(data, "weighted")
    q = np.concatenate([data[rng.integers(0, len(data), 20)] + rng.normal(size=(20, 34)) * 0.05,
                        rng.normal(size=(4, 34)) * 10])
    w = rng.uniform(0.2, 1.0, (24, 17)) * (rng.random((24, 17)) > 0.3)
    w[:4, 5:] = 0.0
    w[4:8, 0] = 1e6
    w[w.sum(1) == 0, 0] = 1.0
    kept = 0
    for k in (1, 10, 100):
        on = _same_as_exact(tree, data, q, w, k, int_filter=True)
        off = _same_as_exact(tree, data, q, w, k, int_filter=False)
        assert off["int_passed"].sum() == 0
        np.testing.assert_array_equal(on["points"], off["points"])   # the same blocks: only rows are filtered
        kept += on["int_passed"].sum()
    assert (kept > 0) == HAS_AVX512BW       # the filter ran (and its survivors were checked)


def test_default_follows_the_module_switch(rng, monkeypatch):
    data = rng.random((20_000, 34)).astype(np.float32)     # several blocks of the default size (6000 rows at most)
    tree = build_vptree(data, "weighted")
    q = data[:5].astype(np.float64) + 0.01
    w = np.ones((5, 17))
    monkeypatch.setattr(vs, "INT_FILTER", False)
    assert _same_as_exact(tree, data, q, w, 10)["int_passed"].sum() == 0
    monkeypatch.setattr(vs, "INT_FILTER", True)
    st_ = _same_as_exact(tree, data, q, w, 10)
    assert (st_["int_passed"].sum() > 0) == HAS_AVX512BW


_NO_AVX512 = """
import numpy as np
from posesearch.index.kernels._llvm import HAS_AVX512BW
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.vptree import build_vptree, knn_vptree
assert not HAS_AVX512BW
rng = np.random.default_rng(5)
data = rng.normal(size=(6000, 34)).astype(np.float32)
tree = build_vptree(data, "weighted")
q = data[:6].astype(np.float64) + 0.02
w = rng.uniform(0.2, 1.0, (6, 17))
ei, ed = knn_exact(data, q, w, 10, "weighted")
ids, d, st = knn_vptree(tree, q, w, 10, return_stats=True, int_filter=True)
assert np.array_equal(d, ed) and np.array_equal(ids, ei) and st["int_passed"].sum() == 0
print("ok")
"""


def test_cpu_without_avx512bw_takes_the_float_path(tmp_path):
    """Compiled for a generic x86-64 CPU (NUMBA_CPU_NAME): the intrinsics compile to nothing, the search
    never calls them (int_filter=True is ignored) and stays exact. Its own numba cache: compiles ~1 min."""
    env = {**os.environ, "NUMBA_CPU_NAME": "generic", "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, "-c", _NO_AVX512], env=env, cwd=root, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_default_block_size_follows_the_filter(rng):
    """Without a block size the search takes INT_BLOCK_ROWS where the integer filter runs and
    DEFAULT_BLOCK_ROWS where the float32 scan does (l2 trees, the filter off, no AVX-512BW); kernel_tree()
    without one derives the same layout as the search."""
    from posesearch.index.kernels.vptree import DEFAULT_BLOCK_ROWS, INT_BLOCK_ROWS

    data = rng.random((3000, 34)).astype(np.float32)
    q = data[:3].astype(np.float64) + 0.01
    w = rng.uniform(0.2, 1.0, (3, 17))
    tree = build_vptree(data, "weighted")
    knn_vptree(tree, q, w, 5, int_filter=False)
    assert set(tree._derived) == {("ktree", DEFAULT_BLOCK_ROWS)}
    knn_vptree(tree, q, w, 5)
    on = INT_BLOCK_ROWS if HAS_AVX512BW else DEFAULT_BLOCK_ROWS
    assert set(tree._derived) == {("ktree", DEFAULT_BLOCK_ROWS), ("ktree", on)}
    assert tree.kernel_tree() is tree._derived[("ktree", on)]
    l2 = build_vptree(data, "l2")
    knn_vptree(l2, q, None, 5)
    assert set(l2._derived) == {("ktree", DEFAULT_BLOCK_ROWS)}
