"""Query preparation, mirror merging and Matches (fast, no index structures)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index_testdata import random_poses
from posesearch.errors import InvalidArgumentError, InvalidPoseError
from posesearch.index.matches import Matches, merge_mirrored
from posesearch.index.query import check_query_vectors, prepare_coco, raw_to_coco, unit_rows
from posesearch.poses.layouts import PENN13
from posesearch.poses.mirror import mirror
from posesearch.poses.normalize import normalize_batch


def test_raw_single_pose_is_batched(rng):
    kp, cf = random_poses(rng, 1)
    raw = np.concatenate([kp[0], cf[0][:, None]], axis=1)
    k, c, single = raw_to_coco(raw)
    assert single and k.shape == (1, 17, 2) and c.shape == (1, 17)
    np.testing.assert_array_equal(c[0], cf[0])


def test_raw_other_layout_maps_to_coco(rng):
    kp = rng.uniform(0, 100, (4, 13, 2))
    cf = rng.uniform(0.3, 1, (4, 13))
    k, c, single = raw_to_coco(kp, "penn13", cf)
    assert not single
    ek, ec = PENN13.convert_to_coco(kp, cf)
    np.testing.assert_array_equal(c, ec)
    have = ec > 0
    np.testing.assert_array_equal(k[have], ek[have])
    assert (c[:, :5] == 0).all()          # Penn Action has no face joints
    assert (k[c == 0] == 0).all()


def test_raw_wrong_count_names_layout():
    with pytest.raises(InvalidPoseError, match="layout coco17 expects 17 keypoints, got 13"):
        raw_to_coco(np.ones((13, 3)))


def test_raw_nan_coordinate_is_missing_and_inf_is_an_error(rng):
    kp, cf = random_poses(rng, 1, missing=0)
    raw = np.concatenate([kp[0], cf[0][:, None]], axis=1)
    raw[3, 0] = np.nan
    _, c, _ = raw_to_coco(raw)
    assert c[0, 3] == 0
    raw[4, 1] = np.inf
    with pytest.raises(InvalidPoseError, match="infinite"):
        raw_to_coco(raw)


def test_raw_bad_confidence_and_shape():
    with pytest.raises(InvalidPoseError, match=r"confidence must be in \[0, 1\]"):
        raw_to_coco(np.full((17, 3), 2.0))
    with pytest.raises(InvalidPoseError, match="expected a pose"):
        raw_to_coco(np.ones(17))


def test_prepare_matches_normalize_and_mirror(rng):
    kp, cf = random_poses(rng, 5)
    p = prepare_coco(kp, cf)
    v, _ = normalize_batch(kp, cf)
    np.testing.assert_array_equal(p.vectors, v)
    np.testing.assert_array_equal(p.weights, cf)
    m = prepare_coco(kp, cf, mirrored=True)
    mk, mc = mirror(kp, cf, "coco17")
    mk = np.where(mc[..., None] > 0, mk, 0)
    np.testing.assert_allclose(m.vectors, normalize_batch(mk, mc)[0])
    np.testing.assert_array_equal(m.weights, mc)


def test_prepare_unnormalizable_query_is_an_error():
    kp = np.zeros((1, 17, 2))
    cf = np.zeros((1, 17))
    cf[0, 0] = 1
    with pytest.raises(InvalidPoseError, match="at least 2 are needed"):
        prepare_coco(kp, cf)


def test_check_query_vectors():
    v = np.full(34, 0.1)
    q, w, single = check_query_vectors(v, None, weighted=True)
    assert single and q.shape == (1, 34) and (w == 1).all()
    q, w, _ = check_query_vectors(np.stack([v, v]), np.ones(17), weighted=True)
    assert w.shape == (2, 17)
    with pytest.raises(InvalidArgumentError, match=r"expected shape \(B, 34\)"):
        check_query_vectors(np.ones(26), None, weighted=False)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        check_query_vectors(np.full(34, np.nan), None, weighted=False)
    with pytest.raises(InvalidArgumentError, match="all-zero"):
        check_query_vectors(np.zeros(34), None, weighted=False)
    with pytest.raises(InvalidArgumentError, match="no keypoint with positive weight"):
        check_query_vectors(v, np.zeros(17), weighted=True)
    with pytest.raises(InvalidArgumentError, match=r"weights: expected shape \(1, 17\)"):
        check_query_vectors(v, np.ones((1, 13)), weighted=True)


def test_unit_rows():
    u = unit_rows(np.array([[3.0, 4.0], [0.0, 2.0]]))
    np.testing.assert_allclose(u, [[0.6, 0.8], [0.0, 1.0]])


def test_merge_mirrored_hand_example():
    ids, d, m = merge_mirrored(np.array([[1, 2, 3]]), np.array([[0.1, 0.2, 0.3]]),
                               np.array([[2, 5, 6]]), np.array([[0.05, 0.25, 0.4]]), 3)
    assert ids.tolist() == [[2, 1, 5]]
    assert d.tolist() == [[0.05, 0.1, 0.25]]
    assert m.tolist() == [[True, False, True]]


def test_merge_mirrored_tie_prefers_unmirrored_then_smaller_id():
    ids, d, m = merge_mirrored(np.array([[7, 9]]), np.array([[0.5, 0.6]]),
                               np.array([[7, 8]]), np.array([[0.5, 0.6]]), 2)
    assert ids.tolist() == [[7, 8]] and m.tolist() == [[False, True]]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2 ** 31 - 1))
def test_merge_mirrored_equals_brute_force(k, seed):
    rng = np.random.default_rng(seed)
    pool = 12
    rows = []
    for _ in range(2):
        ids = rng.choice(pool, k, replace=False)
        dist = rng.integers(0, 5, k) / 4.0          # coarse values: many ties
        order = np.lexsort((ids, dist))
        rows.append((ids[order][None], dist[order][None]))
    (ia, da), (ib, db) = rows
    got_i, got_d, got_m = merge_mirrored(ia, da, ib, db, k)
    best = {}
    for i, dd, flag in [(i, dd, False) for i, dd in zip(ia[0], da[0])] + [(i, dd, True) for i, dd in zip(ib[0], db[0])]:
        if i not in best or (dd, flag) < best[i]:
            best[i] = (dd, flag)
    ref = sorted((v[0], i, v[1]) for i, v in best.items())[:k]
    assert got_i[0].tolist() == [r[1] for r in ref]
    assert got_d[0].tolist() == [r[0] for r in ref]
    assert got_m[0].tolist() == [r[2] for r in ref]


def test_matches_records_and_indexing():
    m = Matches(np.array([[3, 1], [2, 0]]), np.array([[0.0, 0.5], [0.1, 0.2]]),
                np.array([[False, True], [False, False]]), "weighted")
    assert len(m) == 2 and m.k == 2
    rec = m.to_records()
    assert rec[0][1] == {"rank": 2, "id": 1, "distance": 0.5, "mirrored": True}
    one = m[1]
    assert one.ids.tolist() == [[2, 0]] and len(one) == 1
    assert m[-1].ids.tolist() == [[2, 0]]
    with pytest.raises(IndexError):
        m[2]


def _checked(poses, layout, conf, mirror_too):
    from posesearch.index.query import prepare_coco as pc, raw_to_coco as rc

    k, c, _ = rc(poses, layout, conf)
    return pc(k, c), (pc(k, c, mirrored=True) if mirror_too else None)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31 - 1), st.sampled_from(["coco17", "body25", "penn13", "blazepose33"]),
       st.integers(1, 6), st.booleans(), st.booleans(), st.booleans())
def test_compiled_preparation_is_the_checked_path_bit_for_bit(seed, layout, b, single, separate, mirror_too):
    """prepare_raw's compiled pass = raw_to_coco + prepare_coco exactly (vectors, weights, mirror images),
    with missing joints, NaN coordinates and zero confidences; and it really runs (no fallback)."""
    from posesearch.index import query as qm
    from posesearch.poses.layouts import get_layout

    rng = np.random.default_rng(seed)
    k = get_layout(layout).num_keypoints
    kp = rng.uniform(-30, 700, (b, k, 2))
    cf = rng.uniform(0.05, 1, (b, k)) * (rng.uniform(0, 1, (b, k)) > 0.3)
    cf[:, :3] = rng.uniform(0.5, 1, (b, 3))             # at least 3 present joints (normalizable)
    kp[rng.uniform(0, 1, (b, k)) < 0.1] = np.nan         # NaN coordinates: missing
    if layout == "penn13":
        cf[:, 1:3] = 1.0                                 # Penn's head is not mapped: keep two mapped joints
        kp[:, 1:3] = rng.uniform(0, 100, (b, 2, 2))
    if layout == "body25":
        cf[:, [2, 5]] = 1.0                              # two joints COCO-17 has (shoulders)
        kp[:, [2, 5]] = rng.uniform(0, 100, (b, 2, 2))
    if layout == "blazepose33":
        cf[:, [11, 12]] = 1.0
        kp[:, [11, 12]] = rng.uniform(0, 100, (b, 2, 2))
    poses, conf = (kp, cf) if separate else (np.concatenate([kp, cf[..., None]], axis=-1), None)
    if single:
        poses, conf = poses[0], (None if conf is None else conf[0])
    want, want_m = _checked(poses, layout, conf, mirror_too)
    fast = qm._prepare_compiled(poses, get_layout(layout), conf, mirror_too)
    assert fast is not None
    got, got_m = qm.prepare_raw(poses, layout, conf, mirror=mirror_too)
    for g in (got, fast[0]):
        np.testing.assert_array_equal(g.vectors, want.vectors)
        np.testing.assert_array_equal(g.weights, want.weights)
    if mirror_too:
        np.testing.assert_array_equal(got_m.vectors, want_m.vectors)
        np.testing.assert_array_equal(got_m.weights, want_m.weights)
    else:
        assert got_m is None


@pytest.mark.parametrize("problem, message", [
    ("inf", r"infinite coordinate at pose/keypoint \(0, 4\)"), ("nan_conf", "NaN confidence"),
    ("conf2", r"confidence must be in \[0, 1\]"),
    ("one_joint", "at least 2 are needed"), ("count", "expects 17 keypoints, got 13"), ("ragged", "expected numeric"),
])
def test_prepare_raw_errors_are_the_checked_path_messages(problem, message):
    """Input the compiled pass cannot take goes through the checked path: the same one-line errors."""
    from posesearch.index.query import prepare_raw

    rng = np.random.default_rng(0)
    raw = np.concatenate([rng.uniform(0, 100, (17, 2)), np.ones((17, 1))], axis=1)
    if problem == "inf":
        raw[4, 0] = np.inf
    elif problem == "nan_conf":
        raw[2, 2] = np.nan
    elif problem == "conf2":
        raw[2, 2] = 2.0
    elif problem == "one_joint":
        raw[1:, 2] = 0.0
    elif problem == "count":
        raw = raw[:13]
    elif problem == "ragged":
        raw = [[1.0, 2.0, 1.0], [3.0, 4.0]]
    with pytest.raises(InvalidPoseError, match=message):
        prepare_raw(raw, mirror=True)
