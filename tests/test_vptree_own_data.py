"""The vptree backend taking its vectors over (``own_data=True``, what ``Index.build`` does): the same
trees and bit-identical answers as when it keeps a copy, and the rows read back through the tree
(:class:`~posesearch.index.vptree.TreeRows`) equal to the vectors, in every way they are indexed."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesearch.index import Index
from posesearch.index.backend import parse_params
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
