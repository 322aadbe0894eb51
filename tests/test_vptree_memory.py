"""What the vptree backend does to hold less memory, checked to change nothing else: taking its vectors
over (``own_data=True``, what ``Index.build`` does) gives the same trees and bit-identical answers as
keeping a copy, and the rows read back through the tree (:class:`~posesearch.index.vptree.TreeRows`)
equal the vectors however they are indexed; perm / group_start held as int32 and the boxes shared with
the search layout leave the stored arrays and the answers as they were."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from index_testdata import rewrite_index_file

from posesearch.index import Index
from posesearch.index.backend import parse_params
from posesearch.index.kernels.vptree import outward_f32
from posesearch.index.vptree import TreeRows, VPTreeBackend


def _rows(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 34)).astype(np.float32)
    x[100:160] = x[5]                       # identical rows: one tree row, a group of ids
    x[300:310] = x[320:330]
    x[300:310, :10] = 2.0                   # rows that differ only in the face: one face-free tree row
    return x


def _params(**kw):
    return parse_params(VPTreeBackend.Params, "vptree", {"leaf_size": 8, **kw})


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
@pytest.mark.parametrize("split", ["uniform", "face-light"])
def test_own_data_same_trees_and_answers(metric, split):
    x = _rows()
    rng = np.random.default_rng(1)
    q = rng.normal(size=(40, 34))
    w = rng.uniform(size=(40, 17)) if metric == "weighted" else None
    if w is not None:
        w[::2, :5] = 0.0                   # half the queries go to the face-free tree
    kept = VPTreeBackend.build(x, metric, _params(split_weights=split))
    owned = VPTreeBackend.build(x.copy(), metric, _params(split_weights=split), own_data=True)
    a, b = kept.to_arrays(), owned.to_arrays()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and np.array_equal(a[key], b[key]), key
    ia, da = kept.knn(q, w, 10)
    ib, db = owned.knn(q, w, 10)
    assert np.array_equal(ia, ib)
    assert np.array_equal(da.view(np.int64), db.view(np.int64))      # bit-identical distances
    assert isinstance(owned.data, TreeRows) and kept.data is x
    assert np.array_equal(np.asarray(owned.data), x)


def test_own_data_reorders_the_array_handed_over():
    x = _rows()
    y = x.copy()
    VPTreeBackend.build(y, "weighted", _params(), own_data=True)
    assert not np.array_equal(x, y)         # handed over: the caller must not use it afterwards
    z = x.copy()
    VPTreeBackend.build(z, "weighted", _params())
    assert np.array_equal(x, z)             # kept: untouched


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_tree_rows_index_like_the_array(data):
    x = _rows(n=500)
    rows = VPTreeBackend.build(x.copy(), "weighted", _params(), own_data=True).data
    assert rows.shape == x.shape and len(rows) == len(x) and rows.dtype == x.dtype and rows.nbytes == x.nbytes
    n = len(x)
    kind = data.draw(st.sampled_from(["int", "ids", "slice", "mask", "ids-cols", "int-col", "none"]))
    if kind == "int":
        key = data.draw(st.integers(-n, n - 1))
    elif kind == "ids":
        key = np.array(data.draw(st.lists(st.integers(-n, n - 1), max_size=20)), dtype=np.int64)
    elif kind == "slice":
        key = slice(data.draw(st.integers(-n, n)), data.draw(st.integers(-n, n)), data.draw(st.integers(1, 7)))
    elif kind == "mask":
        key = np.random.default_rng(data.draw(st.integers(0, 99))).random(n) < 0.1
    elif kind == "ids-cols":
        key = (np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=9))), slice(2, 9))
    elif kind == "int-col":
        key = (data.draw(st.integers(0, n - 1)), data.draw(st.integers(0, 33)))
    else:
        key = None
    assert np.array_equal(np.asarray(rows[key]), x[key])


def test_tree_rows_act_as_the_array_for_ndarray_methods():
    """Code written for Index.data as an ndarray keeps working: astype, copy and the other ndarray
    attributes act on the whole array; a name ndarray does not have is an AttributeError."""
    x = _rows(n=300)
    rows = VPTreeBackend.build(x.copy(), "weighted", _params(), own_data=True).data
    assert rows.astype(np.float64).dtype == np.float64 and np.array_equal(rows.astype(np.float64), x)
    assert np.array_equal(rows.copy(), x) and rows.copy() is not rows.copy()
    assert rows.mean() == x.mean() and np.array_equal(rows.T, x.T) and rows.tolist() == x.tolist()
    assert np.array_equal(np.asarray(rows, dtype=np.float64), x.astype(np.float64))
    with pytest.raises(AttributeError, match="no attribute 'frobnicate'"):
        rows.frobnicate
    with pytest.raises(AttributeError):
        rows._tree_secret


def test_tree_rows_out_of_range_is_an_index_error():
    rows = VPTreeBackend.build(_rows(n=200), "weighted", _params(), own_data=True).data
    with pytest.raises(IndexError):
        rows[200]
    with pytest.raises(IndexError):
        rows[np.array([0, -201])]


def test_index_build_hands_its_vectors_over_and_saves_and_loads_them(tmp_path):
    x = _rows()
    idx = Index.build(x, metric="weighted", backend="vptree", leaf_size=8)
    assert isinstance(idx.data, TreeRows)
    assert np.array_equal(np.asarray(idx.data), x)
    q = np.random.default_rng(2).normal(size=(5, 34))
    w = np.random.default_rng(3).uniform(size=(5, 17))
    ref = Index.build(x, metric="weighted", backend="exact").search_vectors(q, 10, weights=w)
    got = idx.search_vectors(q, 10, weights=w)
    assert np.array_equal(got.ids, ref.ids) and np.array_equal(got.distances.view(np.int64), ref.distances.view(np.int64))
    path = idx.save(tmp_path / "x.psi")
    back = Index.load(path)
    assert isinstance(back.data, TreeRows)
    assert np.array_equal(np.asarray(back.data), x)
    got2 = back.search_vectors(q, 10, weights=w)
    assert np.array_equal(got2.ids, ref.ids) and np.array_equal(got2.distances, ref.distances)


def test_compact_ids_and_shared_boxes_leave_the_stored_arrays_unchanged(tmp_path):
    from posesearch.index.kernels.vptree import VPTreeArrays, build_vptree, knn_vptree

    x = _rows()
    tree = build_vptree(x, "weighted", leaf_size=8)
    assert tree.perm.dtype == np.int32 and tree.group_start.dtype == np.int32
    before = {k: v.copy() for k, v in tree.to_arrays().items()}
    assert before["perm"].dtype == np.int64 and before["group_start"].dtype == np.int64   # the file's types
    q = np.random.default_rng(4).normal(size=(20, 34))
    w = np.random.default_rng(5).uniform(size=(20, 17))
    ids, d = knn_vptree(tree, q, w, 10)              # derives the search layout: boxes become its views
    nrec = tree.kernel_tree()[0].nrec                # the default layout is the one the search derived
    assert len(tree._derived) == 1
    assert np.shares_memory(tree.box_lo, nrec) and np.shares_memory(tree.box_hi, nrec)
    after = tree.to_arrays()
    for k, v in before.items():
        assert after[k].dtype == v.dtype and np.array_equal(after[k], v), k
    again = VPTreeArrays.from_arrays(after, verify=True)
    assert again.perm.dtype == np.int32
    i2, d2 = knn_vptree(again, q, w, 10, block_rows=64)    # another layout over shared boxes
    assert np.array_equal(ids, i2) and np.array_equal(d.view(np.int64), d2.view(np.int64))
    ref_i, ref_d = Index.build(x, metric="weighted", backend="exact").backend.knn(q, w, 10)
    assert np.array_equal(ids, ref_i) and np.array_equal(d.view(np.int64), ref_d.view(np.int64))


def test_bounds_are_float32_rounded_outwards_and_older_files_still_load(tmp_path):
    """Shells and total ranges are held as float32 rounded outwards and stored as float64 holding exactly
    those values (the file format is unchanged); a file written before, whose float64 bounds are the exact
    extremes, loads them rounded the same way: the same search layout, the same answers."""
    import h5py

    x = _rows()
    idx = Index.build(x, metric="weighted", backend="vptree", leaf_size=8)
    q = np.random.default_rng(6).normal(size=(8, 34))
    w = np.random.default_rng(7).uniform(size=(8, 17))
    w[::2, :5] = 0.0
    ref = idx.search_vectors(q, 10, weights=w)
    tree = idx.backend.tree
    keys = ("shell_lo", "shell_hi", "tot_lo", "tot_hi")
    assert all(getattr(tree, k).dtype == np.float32 for k in keys)
    path = idx.save(tmp_path / "i.h5")
    with h5py.File(path, "r") as f:
        for k in keys:
            a = f["backend/" + k][()]
            assert a.dtype == np.float64 and np.array_equal(a, getattr(tree, k).astype(np.float64))
    rng = np.random.default_rng(8)

    def as_before(f):     # float64 bounds within a float32 step inside the outward float32 ones
        for prefix in ("backend/", "backend/face_free_"):
            for k in keys:
                a = f[prefix + k][()]
                step = np.abs(np.nextafter(a.astype(np.float32), np.float32(np.inf)) - a.astype(np.float32))
                inward = rng.uniform(0.0, 0.9, a.shape) * step * (1 if k.endswith("_lo") else -1)
                inward[a == 0] = 0.0
                del f[prefix + k]
                f[prefix + k] = a + inward

    old = rewrite_index_file(path, as_before)
    back = Index.load(path)
    for k in keys:
        a64 = old["backend/" + k]
        got = getattr(back.backend.tree, k)
        assert got.dtype == np.float32 and np.array_equal(got, getattr(tree, k))
        assert (got <= a64).all() if k.endswith("_lo") else (got >= a64).all()
        assert np.array_equal(got, outward_f32(a64, up=k.endswith("_hi")))
    back.backend.tree.verify()
    got = back.search_vectors(q, 10, weights=w)
    assert np.array_equal(got.ids, ref.ids) and np.array_equal(got.distances.view(np.int64), ref.distances.view(np.int64))


def test_outward_f32_never_rounds_to_the_wrong_side():
    v = np.array([0.0, 1e-45, 0.1, 1 / 3, 2.0 ** -130, 1e38, 3.5e38, np.inf, -0.1])
    down, up = outward_f32(v, up=False), outward_f32(v, up=True)
    assert (down.astype(np.float64) <= v).all() and (up.astype(np.float64) >= v).all()
    assert (down <= up).all() and down[6] == np.finfo(np.float32).max and up[6] == np.inf
    exact = np.array([0.5, 2.0, 0.0], np.float64)
    assert np.array_equal(outward_f32(exact, up=True), exact.astype(np.float32))
    assert np.array_equal(outward_f32(exact, up=False), exact.astype(np.float32))


def test_both_trees_share_one_search_workspace_per_thread():
    x = _rows()
    be = VPTreeBackend.build(x, "weighted", _params())
    assert be.face_free is not None and be.face_free._workspace is be.tree._workspace
    rng = np.random.default_rng(9)
    q, w = rng.normal(size=(12, 34)), rng.uniform(size=(12, 17))
    w[::2, :5] = 0.0                       # alternate trees query by query
    ref_i, ref_d = Index.build(x, metric="weighted", backend="exact").backend.knn(q, w, 7)
    for i in range(len(q)):
        ids, d = be.knn(q[i:i + 1], w[i:i + 1], 7)
        assert np.array_equal(ids[0], ref_i[i]) and np.array_equal(d[0].view(np.int64), ref_d[i].view(np.int64))
