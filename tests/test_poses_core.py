"""Pose core: layouts, validation, normalization, distances, mirror, Procrustes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from posesearch.errors import InvalidPoseError, UnknownNameError
from posesearch.poses.distances import cosine_distance, get_metric, weighted_distance
from posesearch.poses.layouts import COCO17, LAYOUTS, get_layout, layout_for_count
from posesearch.poses.mirror import mirror
from posesearch.poses.normalize import normalize_batch, normalize_pose
from posesearch.poses.pose import validate_batch, validate_pose
from posesearch.poses.procrustes import procrustes_align, procrustes_distance
from posesearch.poses.similarity import pose_similarity

coords = arrays(np.float64, (17, 2), elements=st.floats(-1000, 1000, allow_nan=False))
confs = arrays(np.float64, (17,), elements=st.sampled_from([0.0, 0.3, 0.5, 0.9, 1.0]))


def _spread(kp, cf, min_present=3):
    present = cf > 0
    return present.sum() >= min_present and np.ptp(kp[present], axis=0).min() > 1e-3


# ---------------------------------------------------------------- layouts
def test_layouts_registry_and_flip():
    assert set(LAYOUTS) == {"coco17", "body25", "blazepose33", "penn13", "mpii16", "cmu19"}
    for lay in LAYOUTS.values():
        flip = np.asarray(lay.flip)
        assert sorted(flip) == list(range(lay.num_keypoints))
        assert (flip[flip] == np.arange(lay.num_keypoints)).all()  # an involution
    assert COCO17.joints[COCO17.flip[COCO17.index("left_wrist")]] == "right_wrist"
    assert get_layout("OpenPose") is LAYOUTS["body25"] and layout_for_count(33).name == "blazepose33"
    with pytest.raises(UnknownNameError, match="unknown layout 'coco18'; expected one of: blazepose33, body25"):
        get_layout("coco18")


def test_convert_to_coco_marks_missing_joints():
    penn = get_layout("penn13")
    kp = np.arange(26, dtype=float).reshape(13, 2)
    out, cf = penn.convert_to_coco(kp, np.ones(13))
    assert cf[COCO17.index("nose")] == 0 and np.isnan(out[COCO17.index("nose")]).all()  # head is not a nose
    assert set(penn.missing_in_coco()) == {"nose", "left_eye", "right_eye", "left_ear", "right_ear"}
    # Penn index 1 (documented l_shoulder) is the person's right shoulder
    assert (out[COCO17.index("right_shoulder")] == kp[1]).all()
    body = get_layout("body25")
    kp25 = np.random.default_rng(0).normal(size=(4, 25, 2))
    out25, cf25 = body.convert_to_coco(kp25, np.ones((4, 25)))
    assert (cf25 == 1).all() and np.allclose(out25[:, COCO17.index("left_ankle")], kp25[:, body.index("left_ankle")])
    with pytest.raises(InvalidPoseError, match="expected 25 keypoints, got 17"):
        body.convert_to_coco(np.zeros((17, 2)), np.ones(17))


# ---------------------------------------------------------------- validation
@pytest.mark.parametrize("pose, pattern", [
    ([], "empty"),
    ([[1, 2]], r"expected a \(K, 3\) array"),
    ([[1, np.inf, 1], [2, 3, 1]], "infinite"),
    ([[1, 2, -0.1], [2, 3, 1]], r"confidence must be in \[0, 1\], got -0.1"),
    ([[1, 2, 1.5], [2, 3, 1]], r"confidence must be in \[0, 1\], got 1.5"),
    ([[1, 2, np.nan], [2, 3, 1]], "NaN confidence"),
    ("abc", "numeric"),
])
def test_validate_pose_errors(pose, pattern):
    with pytest.raises(InvalidPoseError, match=pattern):
        validate_pose(pose)


def test_validate_nan_coordinates_are_missing_and_counts_checked():
    kp, cf = validate_pose([[np.nan, 1, 0.9], [1, 2, 0.8], [3, 4, 1]])
    assert cf[0] == 0 and (kp[0] == 0).all()
    with pytest.raises(InvalidPoseError, match="expected 17 keypoints, got 13"):
        validate_batch(np.zeros((2, 13, 3)), num_keypoints=17)


# ---------------------------------------------------------------- normalization
def test_normalize_hand_checked():
    # present: (2,0),(2,2); missing third -> bbox (2..2, 0..2); translated (0,0),(0,2) -> /2
    v = normalize_pose(np.array([[2, 0], [2, 2], [50, 50]]), np.array([1.0, 1.0, 0.0]))
    assert np.allclose(v, [0, 0, 0, 1, 0, 0.5])  # missing at the normalized bbox centre


@pytest.mark.parametrize("kp, cf, why", [
    ([[1, 1], [2, 2]], [1, 0], "1 present keypoint"),
    ([[0, 0], [0, 0]], [0, 0], "0 present keypoint"),
    ([[3, 3], [3, 3], [3, 3]], [1, 1, 1], "one point"),
])
def test_normalize_rejects_degenerate(kp, cf, why):
    with pytest.raises(InvalidPoseError, match=why):
        normalize_pose(np.array(kp, float), np.array(cf, float))


def test_normalize_batch_mask_mode():
    kp = np.zeros((3, 17, 2))
    kp[0] = np.random.default_rng(1).normal(size=(17, 2))
    v, valid = normalize_batch(kp, np.ones((3, 17)), on_invalid="mask")
    assert valid.tolist() == [True, False, False] and (v[1:] == 0).all()
    assert abs(np.linalg.norm(v[0]) - 1) < 1e-12


@settings(max_examples=60, deadline=None)
@given(coords, confs, st.floats(0.01, 100), st.floats(-500, 500), st.floats(-500, 500))
def test_normalization_invariant_to_translation_and_scale(kp, cf, s, dx, dy):
    assume(_spread(kp, cf))
    assert np.allclose(normalize_pose(kp, cf), normalize_pose(kp * s + [dx, dy], cf), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(coords, confs, coords)
def test_missing_keypoints_never_move_the_vector(kp, cf, other):
    assume(_spread(kp, cf))
    moved = np.where(cf[:, None] > 0, kp, other)
    assert np.allclose(normalize_pose(kp, cf), normalize_pose(moved, cf), atol=1e-12)


# ---------------------------------------------------------------- distances
@settings(max_examples=60, deadline=None)
@given(coords, confs, coords, confs, st.floats(0.01, 100), st.floats(-500, 500))
def test_distances_invariant_to_translation_and_scale_of_either_pose(a, ca, b, cb, s, t):
    assume(_spread(a, ca) and _spread(b, cb))
    pa, pb = np.c_[a, ca], np.c_[b, cb]
    pa2, pb2 = np.c_[a * s + t, ca], np.c_[b / s - t, cb]
    both = (ca > 0) & (cb > 0)
    strategies = ["weighted_distance", "cosine_distance"]
    if _spread(a, both.astype(float)) and _spread(b, both.astype(float)):
        strategies.append("procrustes_distance")  # needs >= 2 keypoints present in both poses
    for strategy in strategies:
        base = pose_similarity(pa, pb, strategy)
        assert abs(pose_similarity(pa2, pb, strategy) - base) < 1e-7
        assert abs(pose_similarity(pa, pb2, strategy) - base) < 1e-7


@settings(max_examples=60, deadline=None)
@given(coords, confs, coords, confs)
def test_cosine_distance_symmetric(a, ca, b, cb):
    assume(_spread(a, ca) and _spread(b, cb))
    pa, pb = np.c_[a, ca], np.c_[b, cb]
    assert abs(pose_similarity(pa, pb, "cosine_distance") - pose_similarity(pb, pa, "cosine_distance")) < 1e-9


@settings(max_examples=60, deadline=None)
@given(coords, confs, coords, coords)
def test_weighted_distance_ignores_zero_confidence_joints(a, ca, b, other):
    assume(_spread(a, ca) and _spread(b, np.ones(17)))
    vb = normalize_pose(b, np.ones(17))
    va = normalize_pose(a, ca)
    # G's coordinates at the query's zero-confidence joints do not matter
    vb2 = vb.copy().reshape(17, 2)
    vb2[ca == 0] = other[ca == 0] / 1000
    assert abs(weighted_distance(va, vb, ca) - weighted_distance(va, vb2.ravel(), ca)) < 1e-12


def test_weighted_distance_not_symmetric_and_metric_registry():
    # weights come from the query: F sees only joint 0, G only joint 1
    f, g = np.array([0, 0, 1, 0]), np.array([0, 0, 0, 1])
    assert weighted_distance(f, g, [1, 0]) == 0.0 and weighted_distance(g, f, [0, 1]) == 2.0
    assert get_metric("cosine_distance").name == "cosine" and get_metric("weighted").weighted
    with pytest.raises(UnknownNameError, match="expected one of: cosine, view, weighted"):
        get_metric("euclid")
    assert abs(cosine_distance([1, 0], [0, 1]) - np.sqrt(2)) < 1e-12


# ---------------------------------------------------------------- mirror
@settings(max_examples=60, deadline=None)
@given(coords, confs)
def test_mirror_is_an_involution(kp, cf):
    for lay in ("coco17",):
        mk, mc = mirror(*mirror(kp, cf, lay), lay)
        present = cf > 0
        assert np.allclose(mk[present], kp[present], atol=1e-9) and (mc == cf).all()


def test_mirror_hand_checked():
    kp = np.zeros((17, 2))
    kp[COCO17.index("left_wrist")] = [10, 5]
    kp[COCO17.index("right_wrist")] = [0, 7]
    cf = np.zeros(17)
    cf[[COCO17.index("left_wrist"), COCO17.index("right_wrist")]] = 1
    mk, mc = mirror(kp, cf)
    # x flips about the centre 5; left/right swap: the mirrored left wrist is the old right wrist flipped
    assert mk[COCO17.index("left_wrist")].tolist() == [10, 7]
    assert mk[COCO17.index("right_wrist")].tolist() == [0, 5]


def test_mirror_invariant_similarity_reports_mirror():
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 100, (17, 2))
    cf = np.ones(17)
    mk, mc = mirror(kp, cf)
    d, mirrored = pose_similarity(np.c_[kp, cf], np.c_[mk, mc], mirror_invariant=True)
    assert mirrored and d < 1e-12
    assert pose_similarity(np.c_[kp, cf], np.c_[mk, mc]) > 0.05


# ---------------------------------------------------------------- Procrustes
def _rot(t):
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (17, 2), elements=st.floats(-10, 10)), st.floats(-np.pi, np.pi), st.floats(0.1, 10))
def test_procrustes_rotated_copy_is_zero_mirror_is_not(x, theta, s):
    assume(np.linalg.matrix_rank(x - x.mean(0), tol=1e-3) == 2)
    y = s * x @ _rot(theta).T + [5, -3]
    r = procrustes_align(x, y)
    assert r.distance < 1e-6
    assert np.allclose(r.aligned, x, atol=1e-6) and abs(np.linalg.det(r.rotation) - 1) < 1e-9
    m = x * [-1, 1]
    # a reflection is never used, so the mirror image is only at 0 if x is itself mirror-symmetric
    best_sym = procrustes_distance(x, m)
    sym_err = min(procrustes_distance(x, m @ _rot(a).T) for a in np.linspace(0, 2 * np.pi, 721))
    assert best_sym <= sym_err + 1e-9


def test_procrustes_never_reflects_unlike_scipy():
    from scipy.spatial import procrustes as scipy_procrustes

    x = np.array([[0, 0], [4, 0], [0, 1], [1, 3], [2, 2]], float)  # asymmetric
    m = x * [-1, 1]
    assert scipy_procrustes(x, m)[2] < 1e-12  # scipy makes the mirror image identical
    assert procrustes_distance(x, m) > 0.3   # ours does not


def test_procrustes_3d_and_batch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 19, 3))
    from scipy.spatial.transform import Rotation

    rots = Rotation.random(4, random_state=2).as_matrix()
    y = np.einsum("nij,nkj->nki", rots, x) * 2
    assert (procrustes_distance(x, y) < 1e-9).all()
    assert (procrustes_distance(x, y * [-1, 1, 1]) > 0.1).all()
    with pytest.raises(InvalidPoseError, match="fewer than 2"):
        procrustes_distance(x[0], y[0], weights=np.eye(19)[0])


@pytest.mark.parametrize("dtype, tol", [(np.float64, 0.0), (np.float32, 2e-6)])
def test_compiled_normalization_matches_numpy(dtype, tol):
    """float64: the compiled path adds and divides in the numpy path's order (bit-identical vectors)."""
    from posesearch.poses import normalize as nm

    rng = np.random.default_rng(7)
    n = nm.COMPILED_FROM + 3
    kp = rng.uniform(-50, 500, (n, 17, 2))
    cf = rng.uniform(0, 1, (n, 17)) * (rng.uniform(0, 1, (n, 17)) > 0.25)
    kp[5, 3] = np.nan
    cf[7] = 0
    cf[8, 2:] = 0                       # one present keypoint: invalid
    kp[9] = 4.0                         # all on one point: invalid
    big_v, big_ok = nm.normalize_batch(kp, cf, on_invalid="mask", dtype=dtype)
    parts = [nm.normalize_batch(kp[i:i + 1000], cf[i:i + 1000], on_invalid="mask", dtype=dtype) for i in range(0, n, 1000)]
    small_v = np.concatenate([p[0] for p in parts])
    small_ok = np.concatenate([p[1] for p in parts])
    assert (big_ok == small_ok).all() and not big_ok[[7, 8, 9]].any() and big_ok.sum() > n - 10
    assert np.abs(big_v - small_v).max() <= tol
    with pytest.raises(InvalidPoseError, match=r"\(pose 7\): cannot normalize: has 0 present keypoint"):
        nm.normalize_batch(kp, cf, dtype=dtype)


# ------------------------------------------------------------------ extreme scales (issue 15: a new user's find)
@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-160, 1e154, 1e200, 1e300])
def test_normalization_is_scale_free_at_extreme_scales(scale):
    """Poses x1e-300 .. x1e300 normalize as x1 (the sum of squares used to overflow or underflow: 'all its
    present keypoints on one point (zero size)', untrue), in the numpy path and the compiled one."""
    from posesearch.poses.normalize import COMPILED_FROM, normalize_batch

    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (4, 17, 2))
    cf = np.ones((4, 17))
    cf[:, 3] = 0
    ref, _ = normalize_batch(kp, cf)
    got, valid = normalize_batch(kp * scale, cf)
    assert valid.all()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    reps = COMPILED_FROM // 4 + 1                        # the compiled path: bit-identical to numpy's
    many, _ = normalize_batch(np.tile(kp * scale, (reps, 1, 1)), np.tile(cf, (reps, 1)))
    assert np.array_equal(many[:4], got)


def test_normalization_unchanged_in_the_normal_range():
    """The power-of-two rescale applies only outside the safe range: ordinary poses keep bit-identical vectors
    (the Move Mirror formula divided by the plain norm)."""
    from posesearch.poses.normalize import normalize_batch

    rng = np.random.default_rng(1)
    kp = rng.uniform(-1e6, 1e6, (50, 17, 2))
    cf = np.ones((50, 17))
    got, _ = normalize_batch(kp, cf)
    t = kp - kp.min(axis=1, keepdims=True)
    norm = np.sqrt(np.add.accumulate((t ** 2).sum(-1), axis=1)[:, -1:])
    want = (t / norm[..., None]).reshape(50, 34)
    assert np.array_equal(got, want)


def test_query_and_compare_of_a_huge_pose(tmp_path):
    """CLI: a pose x1e200 compares as the same pose (distance 0), with no overflow warning."""
    import json
    import subprocess
    import sys

    from posesearch.cli.app import app
    from typer.testing import CliRunner

    pose = {"layout": "coco17", "keypoints": [[10.0 + 3 * k, 20.0 + (k % 5) * 7, 1.0] for k in range(17)]}
    (tmp_path / "a.json").write_text(json.dumps(pose))
    pose["keypoints"] = [[x * 1e200, y * 1e200, c] for x, y, c in pose["keypoints"]]
    (tmp_path / "b.json").write_text(json.dumps(pose))
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"), "--json"])
    assert r.exit_code == 0, r.output
    assert abs(json.loads(r.stdout)["value"]) < 1e-12, r.stdout
    out = subprocess.run([sys.executable, "-W", "error", "-m", "posesearch.cli.app", "compare",
                          str(tmp_path / "a.json"), str(tmp_path / "b.json")], capture_output=True, text=True)
    assert out.returncode == 0 and "Warning" not in out.stderr, out.stderr


def test_first_bad_value_order_and_words():
    """The one pose value check behind validate_batch, the corpus writer and ScoreSession.push: infinite
    coordinates first, then NaN confidences, then confidences outside [0, 1]; NaN coordinates are missing."""
    from posesearch.poses.pose import first_bad_value

    kp, cf = np.zeros((2, 3, 2)), np.ones((2, 3))
    kp[0, 0] = np.nan
    assert first_bad_value(kp, cf) is None
    cf[1, 2], cf[0, 2], kp[1, 1, 0] = 1.5, np.nan, np.inf
    assert first_bad_value(kp, cf) == ((1, 1), "infinite coordinate")
    kp[1, 1, 0] = 0.0
    assert first_bad_value(kp, cf) == ((0, 2), "NaN confidence")
    cf[0, 2] = 1.0
    assert first_bad_value(kp, cf) == ((1, 2), "confidence must be in [0, 1], got 1.5")
    assert first_bad_value(kp[1], cf[1]) == ((2,), "confidence must be in [0, 1], got 1.5")   # one pose
