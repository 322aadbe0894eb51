"""Exact brute-force kernels: hand-checked cases, a numpy reference, property tests, argument errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesearch.errors import InvalidArgumentError, UnknownNameError
from posesearch.index.kernels.exact import knn_exact, pairwise_exact, rescore
from posesearch.poses.distances import weighted_distance


def reference_knn(data, queries, weights, k, metric):
    """Top k of pairwise_exact by (distance, id) with numpy's lexsort."""
    ids = np.empty((len(queries), k), np.int64)
    dists = np.empty((len(queries), k))
    for b, q in enumerate(queries):
        d = pairwise_exact(data, q, None if weights is None else weights[b], metric)
        order = np.lexsort((np.arange(len(d)), d))[:k]
        ids[b], dists[b] = order, d[order]
    return ids, dists


def numpy_distances(data, q, w, metric):
    x = data.astype(np.float64)
    if metric == "weighted":
        return weighted_distance(q, x, w)
    return np.sqrt(((x - q) ** 2).sum(axis=1))


# ----------------------------------------------------------------------------- hand-checkable

def test_weighted_by_hand():
    # K = 2 joints, D = 4: rows [x0, y0, x1, y1]
    data = np.array([[0, 0, 0, 0],
                     [1, 0, 0, 0],
                     [0, 0, 0, 2],
                     [1, 1, 1, 1]], np.float32)
    q = np.zeros((1, 4))
    w = np.array([[1.0, 3.0]])
    # d = (1 * (|dx0| + |dy0|) + 3 * (|dx1| + |dy1|)) / 4
    expect = np.array([0.0, 0.25, 1.5, 2.0])
    np.testing.assert_array_equal(pairwise_exact(data, q[0], w[0], "weighted"), expect)
    ids, d = knn_exact(data, q, w, 3, "weighted")
    assert ids.tolist() == [[0, 1, 2]]
    np.testing.assert_array_equal(d, [[0.0, 0.25, 1.5]])
    # zero weight on joint 1: row 2 differs only there and ties with row 0; the smaller id wins
    ids, d = knn_exact(data, q, np.array([[1.0, 0.0]]), 2, "weighted")
    assert ids.tolist() == [[0, 2]] and d.tolist() == [[0.0, 0.0]]


def test_l2_by_hand():
    data = np.array([[3, 4], [0, 1], [0, -1], [6, 8]], np.float32)
    ids, d = knn_exact(data, np.zeros((1, 2)), None, 4, "l2")
    assert ids.tolist() == [[1, 2, 0, 3]]            # rows 1 and 2 tie at 1: smaller id first
    np.testing.assert_array_equal(d, [[1.0, 1.0, 5.0, 10.0]])


def test_ties_by_smaller_id_and_k_equals_n():
    data = np.zeros((7, 4), np.float32)
    data[[1, 4]] = 1.0
    ids, d = knn_exact(data, np.ones((1, 4)), np.ones((1, 2)), 7, "weighted")
    assert ids.tolist() == [[1, 4, 0, 2, 3, 5, 6]]
    assert d[0].tolist() == [0.0, 0.0] + [2.0] * 5


def test_single_row_and_one_dimension_pair():
    data = np.array([[0.5, 0.25]], np.float32)
    ids, d = knn_exact(data, np.array([0.0, 0.0]), np.array([2.0]), 1, "weighted")
    assert ids.tolist() == [[0]] and d.tolist() == [[0.75]]


# ----------------------------------------------------------------------------- against references

@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_matches_numpy_reference(metric, rng):
    data = rng.random((3000, 34)).astype(np.float32)
    queries = rng.random((9, 34))
    weights = rng.uniform(0.3, 1.0, (9, 17)) * (rng.random((9, 17)) > 0.3) if metric == "weighted" else None
    if weights is not None:
        weights[:, 0] = 0.5   # keep every row's sum positive
    ids, d = knn_exact(data, queries, weights, 25, metric)
    rid, rd = reference_knn(data, queries, weights, 25, metric)
    np.testing.assert_array_equal(ids, rid)
    np.testing.assert_array_equal(d, rd)                 # bit-identical: same exact distance function
    for b in range(len(queries)):
        ref = numpy_distances(data, queries[b], None if weights is None else weights[b], metric)
        np.testing.assert_allclose(pairwise_exact(data, queries[b], None if weights is None else weights[b], metric),
                                   ref, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_batch_equals_single_queries(metric, rng):
    data = rng.random((5000, 10)).astype(np.float32)
    queries = rng.random((11, 10))
    weights = rng.random((11, 5)) + 0.01 if metric == "weighted" else None
    ids, d = knn_exact(data, queries, weights, 7, metric)
    for b in range(len(queries)):
        i1, d1 = knn_exact(data, queries[b:b + 1], None if weights is None else weights[b:b + 1], 7, metric)
        np.testing.assert_array_equal(i1[0], ids[b])
        np.testing.assert_array_equal(d1[0], d[b])


def test_float32_filter_keeps_near_ties(rng):
    """Rows differing by far less than float32 resolution of the distance: the filter must keep them all."""
    base = rng.random(34).astype(np.float32)
    data = np.repeat(base[None], 2000, axis=0)
    idx = rng.integers(0, 34, 2000)
    data[np.arange(2000), idx] = np.nextafter(data[np.arange(2000), idx], np.float32(2.0))   # 1-ulp moves
    data = np.concatenate([data, rng.random((2000, 34)).astype(np.float32)])
    q = base.astype(np.float64)[None] + 1e-9
    w = np.ones((1, 17))
    for k in (1, 10, 300):
        for metric, ww in (("weighted", w), ("l2", None)):
            ids, d = knn_exact(data, q, ww, k, metric)
            rid, rd = reference_knn(data, q, ww, k, metric)
            np.testing.assert_array_equal(ids, rid)
            np.testing.assert_array_equal(d, rd)


def test_large_coordinates_stay_exact(rng):
    data = (rng.random((2000, 6)) * 1e6).astype(np.float32)
    data[1000:1100] = data[7]
    q = data[7:8].astype(np.float64) + 0.01
    for metric, w in (("weighted", np.ones((1, 3))), ("l2", None)):
        ids, d = knn_exact(data, q, w, 120, metric)
        rid, rd = reference_knn(data, q, w, 120, metric)
        np.testing.assert_array_equal(ids, rid)
        np.testing.assert_array_equal(d, rd)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), kj=st.integers(1, 6), k=st.sampled_from([1, 10, 50]), seed=st.integers(0, 2**31),
       metric=st.sampled_from(["weighted", "l2"]), dup=st.booleans())
def test_property_matches_reference(n, kj, k, seed, metric, dup):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    data = rng.normal(size=(n, 2 * kj)).astype(np.float32)
    if dup:                                  # many exact duplicates and rounded values: lots of ties
        data = np.round(data[rng.integers(0, max(1, n // 5), n)], 1)
    queries = rng.normal(size=(3, 2 * kj))
    weights = None
    if metric == "weighted":
        weights = rng.random((3, kj)) * (rng.random((3, kj)) > 0.4)
        weights[weights.sum(axis=1) == 0, 0] = 1.0
    ids, d = knn_exact(data, queries, weights, k, metric)
    rid, rd = reference_knn(data, queries, weights, k, metric)
    np.testing.assert_array_equal(d, rd)
    np.testing.assert_array_equal(ids, rid)


def test_rescore_matches_and_skips_invalid(rng):
    data = rng.random((500, 8)).astype(np.float32)
    q = rng.random((2, 8))
    w = rng.random((2, 4)) + 0.1
    cand = np.array([[5, 3, 3, -1, 499, 0], [1, 2, 600, -7, 2, 2]])
    ids, d = rescore(data, q, w, cand, 4, "weighted")
    for b in range(2):
        valid = sorted({c for c in cand[b] if 0 <= c < 500})
        full = pairwise_exact(data, q[b], w[b], "weighted")
        order = sorted(valid, key=lambda c: (full[c], c))[:4]
        got = [i for i in ids[b] if i >= 0]
        assert got == order
        np.testing.assert_array_equal(d[b][:len(got)], full[order])
        assert np.all(ids[b][len(got):] == -1) and np.all(np.isinf(d[b][len(got):]))


# ----------------------------------------------------------------------------- errors

@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    return rng.random((20, 6)).astype(np.float32), rng.random((2, 6)), rng.random((2, 3)) + 0.1


@pytest.mark.parametrize("k", [0, -1, 21, 2.0, True, "3"])
def test_bad_k(small, k):
    data, q, w = small
    with pytest.raises(InvalidArgumentError, match="k"):
        knn_exact(data, q, w, k, "weighted")


def test_argument_errors(small):
    data, q, w = small
    with pytest.raises(InvalidArgumentError, match=r"shape \(B, 6\)"):
        knn_exact(data, q[:, :4], w, 3, "weighted")
    bad = q.copy()
    bad[1, 2] = np.nan
    with pytest.raises(InvalidArgumentError, match="query 1"):
        knn_exact(data, bad, w, 3, "weighted")
    with pytest.raises(InvalidArgumentError, match=r"weights: expected shape \(2, 3\)"):
        knn_exact(data, q, w[:, :2], 3, "weighted")
    with pytest.raises(InvalidArgumentError, match="negative"):
        knn_exact(data, q, w - 1.0, 3, "weighted")
    with pytest.raises(InvalidArgumentError, match="all weights zero"):
        knn_exact(data, q, np.zeros_like(w), 3, "weighted")
    with pytest.raises(InvalidArgumentError, match="needs per-keypoint weights"):
        knn_exact(data, q, None, 3, "weighted")
    with pytest.raises(InvalidArgumentError, match="takes no weights"):
        knn_exact(data, q, w, 3, "l2")
    with pytest.raises(UnknownNameError, match="cosine.*l2, weighted"):
        knn_exact(data, q, w, 3, "cosine")
    with pytest.raises(InvalidArgumentError, match="float32"):
        knn_exact(data.astype(np.float64), q, w, 3, "weighted")
    with pytest.raises(InvalidArgumentError, match="even dimension"):
        knn_exact(data[:, :5].copy(), q[:, :5], None, 3, "l2")
    with pytest.raises(InvalidArgumentError, match="within"):
        knn_exact(data, q * 1e20, w, 3, "weighted")


def test_empty_batch(small):
    data, q, w = small
    ids, d = knn_exact(data, q[:0], w[:0], 3, "weighted")
    assert ids.shape == (0, 3) and d.shape == (0, 3)


@pytest.mark.slow
def test_real_poses_against_numpy():
    """COCO train persons, normalized: exact kernel vs an independent numpy computation."""
    from posesearch.poses.normalize import normalize_batch
    from tests.conftest import shared_path

    coco = np.load(shared_path("coco", "train2017_yolo_kpts.npz"))
    conf = (coco["vis"][:30_050] > 0).astype(np.float64)
    vec, valid = normalize_batch(coco["kpts_norm"][:30_050].astype(np.float64), conf, on_invalid="mask")
    vec, conf = vec[valid], conf[valid]
    data, queries = vec[:-40].astype(np.float32), vec[-40:]
    rng = np.random.default_rng(1)
    weights = np.where(conf[-40:] > 0, rng.uniform(0.3, 1.0, (40, 17)), 0.0)
    ids, d = knn_exact(data, queries, weights, 20, "weighted")
    for b in range(40):
        ref = numpy_distances(data, queries[b], weights[b], "weighted")
        np.testing.assert_allclose(d[b], ref[ids[b]], rtol=1e-12)
        kth = np.sort(ref)[19]
        assert d[b, -1] <= kth * (1 + 1e-12) and np.all(ref[ids[b]] <= kth * (1 + 1e-12))
        assert np.all(np.diff(d[b]) >= 0)
