"""Loading a vptree index file holds no second copy of what the file held: the vectors become the first
tree's rows in place (:func:`~posesearch.index.kernels._vpbuild.rows_to_tree_order`), the face-free tree's
rows are gathered from them with the face set to 0, and the file's arrays are dropped as the trees convert
them. Checked to change nothing: the loaded trees are those built (every array, bit for bit), answers are
bit-identical, groups that are not identical are still refused (in either tree), and the peak of traced
memory while loading stays near what the loaded index holds (it was 2.4x before)."""
from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from index_testdata import rewrite_index_file

from posesearch.errors import FileFormatError
from posesearch.index import Index
from posesearch.index.kernels._vpbuild import first_mixed_group, rows_to_tree_order
from posesearch.index.query import FACE_DIMS


def _rows(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 34)).astype(np.float32)
    x[100:160] = x[5]                       # identical rows: one row of both trees
    x[300:310] = x[320:330]
    x[300:310, :10] = 2.0                   # rows that differ only in the face: one row of the face-free tree
    return x


_rewrite = rewrite_index_file


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_loaded_trees_are_the_built_ones_and_answer_the_same_bits(tmp_path, metric):
    x = _rows()
    idx = Index.build(x, metric=metric, backend="vptree", leaf_size=8)
    back = Index.load(idx.save(tmp_path / "i.h5"))
    pairs = [(idx.backend.tree, back.backend.tree)]
    if metric == "weighted":
        pairs.append((idx.backend.face_free, back.backend.face_free))
        assert back.backend.face_free.n_unique < back.backend.tree.n_unique < len(x)
    for built, loaded in pairs:
        for name in ("data_perm", "perm", "group_start", "start", "end", "left", "right", "vp", "shell_lo",
                     "shell_hi", "tot_lo", "tot_hi", "box_lo", "box_hi", "split_weights"):
            a, b = getattr(built, name), getattr(loaded, name)
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), name
        assert loaded.data_perm.shape == (loaded.n_unique, 34)     # shrunk to the distinct rows
    assert np.array_equal(np.asarray(back.data), np.asarray(idx.data))     # cosine: unit vectors
    rng = np.random.default_rng(1)
    q = rng.normal(size=(30, 34))
    w = rng.uniform(size=(30, 17))
    w[::2, :5] = 0.0                        # half the queries are searched in the face-free tree
    ref = Index.build(x, metric=metric, backend="exact").search_vectors(q, 10, weights=w)
    for got in (idx.search_vectors(q, 10, weights=w), back.search_vectors(q, 10, weights=w)):
        assert np.array_equal(got.ids, ref.ids)
        assert np.array_equal(got.distances.view(np.int64), ref.distances.view(np.int64))


@pytest.mark.parametrize("row,col,which", [(101, 20, "face-free "), (101, 3, ""), (300, 20, "face-free ")])
def test_a_group_of_rows_no_longer_identical_is_refused(tmp_path, row, col, which):
    """Row 101 is in a group of identical rows of both trees, row 300 in one of the face-free tree only: a
    change outside the face breaks the face-free tree's group (checked first), one in the face only the
    first tree's; a change in a face coordinate of a row alone in its first-tree group breaks no group."""
    path = Index.build(_rows(), metric="weighted", backend="vptree", leaf_size=8).save(tmp_path / "m.h5")

    def edit(f):
        vec = f["vectors"][()]
        vec[row, col] += 0.5
        f["vectors"][...] = vec
    _rewrite(path, edit)
    with pytest.raises(FileFormatError, match=f"damaged index file: {which}group_start/perm: the rows of group "
                                              ".* are not identical"):
        Index.load(path)


def test_a_face_change_of_a_row_alone_in_its_group_still_loads(tmp_path):
    x = _rows()
    path = Index.build(x, metric="weighted", backend="vptree", leaf_size=8).save(tmp_path / "f.h5")
    _rewrite(path, lambda f: f["vectors"].__setitem__((300, 3), 1.5))
    x[300, 3] = 1.5
    assert np.array_equal(np.asarray(Index.load(path).data), x)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_rows_to_tree_order_is_the_gather_in_place(data):
    """Reordering in place gives the rows that gathering gives, and finds the same first mixed group."""
    n = data.draw(st.integers(1, 60))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rows = rng.integers(0, 3, size=(n, 4)).astype(np.float32)      # few values: many identical rows
    perm = rng.permutation(n).astype(data.draw(st.sampled_from([np.int32, np.int64])))
    cuts = np.flatnonzero(rng.random(n - 1) < data.draw(st.floats(0.05, 1.0))) + 1
    if data.draw(st.booleans()):             # groups of truly identical rows: sort by row value
        order = np.lexsort(rows.T[::-1])
        perm = order.astype(perm.dtype)
        same = np.all(rows[order][1:] == rows[order][:-1], axis=1)
        cuts = np.flatnonzero(~same) + 1
    gs = np.concatenate([[0], cuts, [n]]).astype(perm.dtype)
    expect_g = first_mixed_group(rows, perm, gs, 0, 0)
    expect = rows[perm[gs[:-1]]]
    got = rows.copy()
    g = rows_to_tree_order(got, perm, gs)
    assert g == expect_g
    if g < 0:
        assert np.array_equal(got[:len(gs) - 1], expect)


def test_first_mixed_group_leaves_out_the_zero_columns():
    rows = np.zeros((4, 34), np.float32)
    rows[1, FACE_DIMS] = 1.0                   # rows 0 and 1 differ in the face only
    perm, gs = np.arange(4), np.array([0, 2, 4])
    assert first_mixed_group(rows, perm, gs, 0, 0) == 0
    assert first_mixed_group(rows, perm, gs, FACE_DIMS.start, FACE_DIMS.stop) == -1
    rows[3, 10] = 1.0
    assert first_mixed_group(rows, perm, gs, FACE_DIMS.start, FACE_DIMS.stop) == 1


def test_loading_peaks_near_what_the_index_holds(tmp_path):
    """Traced memory (numpy's arrays) while Index.load reads a 20k-frame weighted vptree file: the peak is
    at most 1.2x what the loaded index holds (before: 2.4x, the file's arrays held beside both trees and a
    face-free copy of every row)."""
    x = np.random.default_rng(3).normal(size=(20_000, 34)).astype(np.float32)
    path = Index.build(x, metric="weighted", backend="vptree").save(tmp_path / "p.h5")
    del x
    Index.load(path)                            # imports, kernel compilation / cache loading
    gc.collect()
    tracemalloc.start()
    try:
        idx = Index.load(path)
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert idx.backend.face_free is not None
    assert held > 20_000 * 300                  # both trees' rows (136 B a frame each) and the rest
    assert peak <= 1.2 * held, f"peak {peak / 20_000:.0f} B a frame, held {held / 20_000:.0f}"
