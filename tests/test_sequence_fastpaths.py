"""The scoring pipeline's shortcuts give the answers of the plain formulas.

* the Procrustes matrix's uniform-weight shortcut (pairs whose present joints all have one confidence and
  the same joint set: two sums instead of eleven) against the per-pair reference
  :func:`posesearch.poses.procrustes.procrustes_distance` and against the general kernel, with missing
  joints, max_rotation, missing_penalty, joints left out by ``restrict_joints`` and degenerate poses;
* the shortcut's one-loop kernel against its four-joints-per-pass kernel, bit for bit;
* the DTW kernel (two cost rows instead of the full cost table) against a plain full-table DTW written
  here in Python from its documented recurrence, and DTW over distance rows computed as they are aligned
  (ProcrustesRows, no matrix) against DTW of the matrix, bit for bit; two mirror states on two threads
  against one.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

from posesearch.errors import InvalidArgumentError, InvalidPoseError
from posesearch.poses.procrustes import procrustes_distance
from posesearch.sequence import _align_kernels as kern
from posesearch.sequence.align import dtw_path
from posesearch.sequence.framedist import (MIN_COMMON, Band, DistanceMatrix, features_from_arrays,
                                           frame_distance_matrix, restrict_joints, uniform_frames)


# --------------------------------------------------------------------------------- reference formulas
def _rotation_limited(ref, pts, w, max_rotation):
    """Procrustes distance with the rotation limited to ``max_rotation`` degrees, per pair (complex numpy,
    the module formula): centre on the w-centroids, rho = best projection within the limit."""
    y = pts[:, 0] + 1j * pts[:, 1]
    x = ref[:, 0] + 1j * ref[:, 1]
    W = w.sum()
    y = y - (w * y).sum() / W
    x = x - (w * x).sum() / W
    syy = (w * abs(y) ** 2).sum()
    sxx = (w * abs(x) ** 2).sum()
    if not (syy > 0 and sxx > 0):
        return math.nan
    z = (w * np.conj(y) * x).sum()
    lim = math.radians(max_rotation)
    th = min(max(np.angle(z), -lim), lim)
    proj = max((z * np.exp(-1j * th)).real, 0.0)
    return math.sqrt(max(1.0 - proj * proj / (sxx * syy), 0.0))


def _pair(ku, cu, kr, cr, max_rotation, penalty):
    """The matrix cell of one pair from the formulas of :mod:`posesearch.sequence.framedist`."""
    w = cu * cr
    if (w > 0).sum() < MIN_COMMON:
        return math.nan
    if max_rotation >= 180:
        d = procrustes_distance(kr, ku, w)
    else:
        d = _rotation_limited(kr, ku, w, max_rotation)
    if penalty is None or math.isnan(d):
        return d
    W = w.sum()
    U = np.where(cr > 0, 0.0, cu).sum() + np.where(cu > 0, 0.0, cr).sum()
    return math.sqrt((W * d * d + U * penalty * penalty) / (W + U))


def _general(fu, fr, band, max_rotation, penalty):
    """The general eleven-sum kernel alone (no shortcut)."""
    rt = np.ascontiguousarray(fr.points.transpose(1, 2, 0))
    wt = np.ascontiguousarray(fr.weights.T)
    return kern.procrustes_matrix_serial(fu.points, fu.weights, rt, wt, band.lo, band.hi, band.width,
                                         math.radians(max_rotation), MIN_COMMON,
                                         -1.0 if penalty is None else float(penalty))


def _uniform_poses(rng, n, k=17, missing=0.0, levels=(1.0,)):
    """n poses whose present joints share one confidence (picked from ``levels``), ``missing`` of the
    joints absent: the same absent set for every frame (so pairs qualify for the shortcut)."""
    kp = rng.uniform(0, 300, (n, k, 2))
    conf = np.repeat(rng.choice(levels, n)[:, None], k, axis=1)
    gone = rng.random(k) < missing
    conf[:, gone] = 0.0
    return kp, conf


# ---------------------------------------------------------------------------------------- hand cases
def test_shortcut_hand_case_rotation_and_scale():
    """A square and the same square turned 30 degrees, doubled and moved: distance 0 with rotation up to 180
    (and 45) degrees; limited to 20 degrees, the best fit is 10 degrees short: d = sin(10 deg)."""
    sq = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], float)[None]
    th = math.radians(30)
    rot = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    moved = 2 * sq @ rot.T + [5, -3]
    one = np.ones((1, 4))
    fu, fr = features_from_arrays(moved, one), features_from_arrays(sq, one)
    assert uniform_frames(fu)[1][0] == uniform_frames(fr)[1][0] == 0b1111      # both qualify, one joint set
    assert frame_distance_matrix(fu, fr, max_rotation=180).dense()[0, 0] == pytest.approx(0.0, abs=1e-7)
    assert frame_distance_matrix(fu, fr, max_rotation=45).dense()[0, 0] == pytest.approx(0.0, abs=1e-7)
    got = frame_distance_matrix(fu, fr, max_rotation=20).dense()[0, 0]
    assert got == pytest.approx(math.sin(math.radians(10)), abs=1e-12)


def test_shortcut_hand_case_opposite_turn_scores_one():
    """Turned 180 degrees with the rotation limited to 20: the best allowed fit projects negatively, so the
    scale is 0 and d = 1."""
    tri = np.array([[0, 0], [2, 0], [0, 1]], float)[None]
    one = np.ones((1, 3))
    d = frame_distance_matrix(features_from_arrays(-tri, one), features_from_arrays(tri, one),
                              max_rotation=20).dense()[0, 0]
    assert d == pytest.approx(1.0, abs=1e-12)


def test_which_frames_qualify():
    kp = np.random.default_rng(0).uniform(0, 100, (4, 5, 2))
    conf = np.array([[1, 1, 1, 1, 1],            # all present, one confidence
                     [0.5, 0.5, 0, 0.5, 0.5],    # one absent, the rest equal
                     [1, 0.9, 1, 1, 1],          # unequal confidences: general kernel
                     [1, 1, 0, 0, 0]], float)    # fewer than MIN_COMMON joints
    code = uniform_frames(features_from_arrays(kp, conf))[1]
    assert code.tolist() == [0b11111, 0b11011, -1, -1]


def test_degenerate_pose_is_nan():
    """Every joint at one point (zero size): no distance, whichever kernel."""
    kp = np.zeros((1, 5, 2))
    other = np.random.default_rng(1).uniform(0, 10, (1, 5, 2))
    one = np.ones((1, 5))
    assert np.isnan(frame_distance_matrix(features_from_arrays(kp, one), features_from_arrays(other, one)).dense()[0, 0])


# ----------------------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tu=hst.integers(1, 12), tr=hst.integers(1, 12),
       max_rotation=hst.sampled_from([0.0, 20.0, 90.0, 135.0, 180.0]),
       penalty=hst.sampled_from([None, 0.0, 0.3, 1.0]), missing=hst.sampled_from([0.0, 0.3]),
       mixed=hst.booleans(), collapse=hst.booleans(), restrict=hst.booleans())
def test_matrix_equals_per_pair_formula(seed, tu, tr, max_rotation, penalty, missing, mixed, collapse, restrict):
    rng = np.random.default_rng(seed)
    ku, cu = _uniform_poses(rng, tu, missing=missing, levels=(1.0, 0.5))
    kr, cr = _uniform_poses(rng, tr, missing=missing, levels=(1.0, 0.7))
    if mixed:       # some frames with unequal confidences or their own missing joints: the general kernel
        cu[rng.random(tu) < 0.3] *= rng.uniform(0.2, 1.0, 17)
        cr[rng.random((tr, 17)) < 0.1] = 0.0
    if collapse:    # a degenerate pose (all joints at one point)
        ku[rng.integers(tu)] = 0.0
    fu, fr = features_from_arrays(ku, cu), features_from_arrays(kr, cr)
    if restrict:    # joints left out on both sides (as scoring does for joints a layout lacks)
        keep = rng.random(17) < 0.8
        fu, fr = restrict_joints(fu, keep), restrict_joints(fr, keep)
        cu, cr = fu.weights, fr.weights
    band = Band.sakoe_chiba(tu, tr, 3) if tu > 1 and tr > 1 else None
    got = frame_distance_matrix(fu, fr, max_rotation=max_rotation, band=band, missing_penalty=penalty)
    D = got.dense()
    inside = np.isfinite(D) | np.isnan(D)
    for u in range(tu):
        for r in range(tr):
            if not inside[u, r]:
                continue
            valid = fu.valid[u] and fr.valid[r]       # a degenerate pose has no distance
            want = _pair(ku[u], cu[u], kr[r], cr[r], max_rotation, penalty) if valid else math.nan
            assert D[u, r] == pytest.approx(want, abs=1e-7, nan_ok=True), (u, r)
    general = _general(fu, fr, got.band, max_rotation, penalty)
    assert np.array_equal(np.isnan(general), np.isnan(got.values))
    fin = np.isfinite(general)
    assert np.abs(general[fin] - got.values[fin]).max(initial=0.0) < 1e-12


def test_matrix_on_real_motion_equals_general_kernel():
    """A 20 s synthetic reference against its degraded copy, both mirror states' shapes: the shortcut and
    the general kernel agree to 1e-12 and have the same NaN cells."""
    from posesearch.sequence.score import ScoreSettings, prepare_reference, prepare_user
    from posesearch.sequence.simulate import degrade, synthetic_motion
    from posesearch.sequence.align import make_band

    ref = synthetic_motion(20, 30, seed=1)
    st = ScoreSettings()
    R = prepare_reference(ref, st)
    U = prepare_user(degrade(ref, seed=2), R.fps, st)
    band = make_band(len(U.seq), len(R.seq), fps=R.fps, band=st.band, band_seconds=st.band_seconds)
    for feats in U.features.values():
        assert (uniform_frames(feats)[1] >= 0).mean() > 0.9      # the shortcut is taken
        got = frame_distance_matrix(feats, R.features, max_rotation=20, band=band, missing_penalty=0.3).values
        want = _general(feats, R.features, band, 20, 0.3)
        assert np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(np.isinf(got), np.isinf(want))
        fin = np.isfinite(want)
        assert np.abs(got[fin] - want[fin]).max() < 1e-12


def test_code_run_ends_hand_case():
    """Where each frame's run of equal codes ends (the row kernels' one-comparison test of a block's codes)."""
    got = kern.code_run_ends(np.array([5, 5, 7, 7, 7, -1], np.int64))
    assert got.tolist() == [2, 2, 5, 5, 5, 6]
    assert kern.code_run_ends(np.zeros(0, np.int64)).tolist() == []


def _pad_joints(inputs, joints, axis):
    """Shortcut inputs (framedist.shortcut_inputs) with the points padded by zero joints to ``joints``."""
    z = inputs[0]
    pad = [(0, 0)] * z.ndim
    pad[axis] = (0, joints - z.shape[axis])
    return (np.pad(z, pad),) + tuple(inputs[1:])


@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), k=hst.sampled_from([3, 5, 8, 13, 16, 17, 20]), tu=hst.integers(1, 40),
       tr=hst.integers(1, 300), max_rotation=hst.sampled_from([0.0, 20.0, 135.0, 180.0]),
       penalty=hst.sampled_from([None, 0.3]), missing=hst.sampled_from([0.0, 0.3]), mixed=hst.booleans(),
       radius=hst.sampled_from([2.0, 40.0, 1e9]))
def test_one_loop_shortcut_is_bit_identical_to_block_shortcut(seed, k, tu, tr, max_rotation, penalty, missing,
                                                                mixed, radius):
    """The shortcut's one-loop kernel (_uniform_cells: points padded to UJ = 20 joints, COCO-17's three padding
    joints skipped) gives the bits of the four-joints-per-pass kernel (_uniform_block, taken when the points are
    padded further, to 24): the same products summed in the same order, the padding adding exact zeros."""
    from posesearch.sequence.framedist import shortcut_inputs

    rng = np.random.default_rng(seed)
    ku, cu = _uniform_poses(rng, tu, k=k, missing=missing, levels=(1.0, 0.5))
    kr, cr = _uniform_poses(rng, tr, k=k, missing=missing, levels=(1.0, 0.7))
    if mixed:       # frames the shortcut does not take (general kernel) between ones it does
        cu[rng.random(tu) < 0.2] *= rng.uniform(0.2, 1.0, k)
        cr[rng.random((tr, k)) < 0.02] = 0.0
    fu, fr = features_from_arrays(ku, cu), features_from_arrays(kr, cr)
    band = Band.sakoe_chiba(tu, tr, radius) if tu > 1 and tr > 1 else Band.full(tu, tr)
    user, ref = shortcut_inputs(fu, "user"), shortcut_inputs(fr, "reference")
    assert user[0].shape[1] == kern.UJ and ref[0].shape[0] == kern.UJ
    rt = np.ascontiguousarray(fr.points.transpose(1, 2, 0))
    wt = np.ascontiguousarray(fr.weights.T)
    pen = -1.0 if penalty is None else penalty
    args = (fu.points, fu.weights, rt, wt, band.lo, band.hi, band.width, math.radians(max_rotation), MIN_COMMON, pen)
    got = kern.procrustes_fast_serial(*args, user, ref)
    want = kern.procrustes_fast_serial(*args, _pad_joints(user, 24, 1), _pad_joints(ref, 24, 0))
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(kern.procrustes_fast_parallel(*args, user, ref), got, equal_nan=True)


# ------------------------------------------------------------------------------------------------- DTW
def _dtw_full_table(D, lo, hi, tr, missing, open_user, max_hold):
    """Banded DTW from the documented recurrence with the full cost table (the kernel's previous form)."""
    tu = D.shape[0]
    C = np.full(D.shape, np.inf)
    H = np.zeros(D.shape, int)
    Bk = np.zeros(D.shape, int)

    def get(u, r):
        return C[u, r - lo[u]] if lo[u] <= r < hi[u] else np.inf

    for u in range(tu):
        for r in range(lo[u], hi[u]):
            j = r - lo[u]
            d = missing if math.isnan(D[u, j]) else D[u, j]
            best, code = np.inf, 0
            if u > 0 and get(u - 1, r - 1) < best:
                best, code = get(u - 1, r - 1), 1
            if u > 0 and get(u - 1, r) < best:
                best, code = get(u - 1, r), 2
            if r > lo[u]:
                extra = max(d, missing) - d if max_hold > 0 and H[u, j - 1] + 1 >= max_hold else 0.0
                if C[u, j - 1] + extra < best:
                    best, code = C[u, j - 1] + extra, 3
            if r == 0 and (u == 0 or open_user) and 0.0 < best:
                best, code = 0.0, 0
            if best < np.inf:
                C[u, j] = best + d
                Bk[u, j] = code
                if code == 3:
                    H[u, j] = min(H[u, j - 1] + 1, max(max_hold, 1))
    ends = [(get(u, tr - 1), u) for u in (range(tu) if open_user else [])] + [(get(tu - 1, tr - 1), tu - 1)]
    best, eu = min(ends, key=lambda e: e[0])       # the first of equal costs, as the kernel
    if not best < np.inf:
        return np.inf, np.zeros((0, 2), int)
    path, u, r = [], eu, tr - 1
    while True:
        path.append((u, r))
        code = Bk[u, r - lo[u]]
        if code == 0:
            break
        u, r = (u - 1, r - 1) if code == 1 else (u - 1, r) if code == 2 else (u, r - 1)
    return best, np.array(path[::-1])


@settings(max_examples=80, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tu=hst.integers(1, 25), tr=hst.integers(1, 25),
       radius=hst.sampled_from([None, 1.0, 3.0]), open_user=hst.booleans(), max_hold=hst.sampled_from([0, 1, 2, 3]),
       nan_share=hst.sampled_from([0.0, 0.2]), ties=hst.booleans())
def test_dtw_equals_full_table(seed, tu, tr, radius, open_user, max_hold, nan_share, ties):
    rng = np.random.default_rng(seed)
    dense = rng.integers(0, 3, (tu, tr)).astype(float) if ties else rng.random((tu, tr))
    dense[rng.random((tu, tr)) < nan_share] = np.nan
    band = Band.full(tu, tr) if radius is None or tu < 2 or tr < 2 else Band.sakoe_chiba(tu, tr, radius)
    vals = np.full((tu, band.width), np.inf)
    for u in range(tu):
        vals[u, :band.hi[u] - band.lo[u]] = dense[u, band.lo[u]:band.hi[u]]
    want_cost, want_path = _dtw_full_table(vals, band.lo, band.hi, tr, 0.9, open_user, max_hold)
    cost, path = kern.dtw(vals, band.lo, band.hi, tr, 0.9, open_user, max_hold)
    assert cost == want_cost or (math.isinf(cost) and math.isinf(want_cost))
    assert np.array_equal(path, want_path)
    if math.isfinite(want_cost):        # the public door: (reference, user) pairs
        got = dtw_path(DistanceMatrix(vals, band), open_ends="user" if open_user else "none", missing_cost=0.9,
                       max_hold=max_hold)
        assert got[0] == want_cost and np.array_equal(got[1], want_path[:, ::-1])


@pytest.mark.parametrize("lo, hi, why", [([0, 2, 1], [3, 3, 3], "non-decreasing"), ([0, 0], [2, 1], "non-decreasing"),
                                          ([0, 1], [1, 1], "lo[u] < hi[u]"), ([0, 0], [2, 4], "<= 3"),
                                          ([0, 0, 0], [1, 1], "one length")])
def test_band_shape_is_checked(lo, hi, why):
    """The DTW kernels walk two rows at once and rely on the band's shape (0 <= lo < hi <= Tr, both
    non-decreasing): another shape is refused when the band is made, not read out of bounds."""
    with pytest.raises(InvalidArgumentError, match="band: ") as e:
        Band(np.array(lo), np.array(hi), 3)
    assert why in str(e.value)


def _general_band(rng, tu, tr):
    """A random band of any shape Band accepts (0 <= lo < hi <= tr, both non-decreasing), not only Sakoe-Chiba
    ones: rows that only touch the next one diagonally, or not at all."""
    lo = np.sort(rng.integers(0, tr, tu))
    hi = np.maximum.accumulate(np.minimum(lo + 1 + rng.integers(0, max(tr // 2, 1), tu), tr))
    return Band(lo.astype(np.int64), hi.astype(np.int64), tr)


@settings(max_examples=80, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tu=hst.integers(1, 25), tr=hst.integers(1, 25), open_user=hst.booleans(),
       max_hold=hst.sampled_from([0, 2]), ties=hst.booleans())
def test_dtw_equals_full_table_on_any_band(seed, tu, tr, open_user, max_hold, ties):
    """The two-rows-at-once DTW on bands of any accepted shape: the full table's cost and path (inf and an
    empty path when no path fits)."""
    rng = np.random.default_rng(seed)
    band = _general_band(rng, tu, tr)
    vals = rng.integers(0, 3, (tu, band.width)).astype(float) if ties else rng.random((tu, band.width))
    want_cost, want_path = _dtw_full_table(vals, band.lo, band.hi, tr, 0.9, open_user, max_hold)
    cost, path = kern.dtw(vals, band.lo, band.hi, tr, 0.9, open_user, max_hold)
    assert cost == want_cost or (math.isinf(cost) and math.isinf(want_cost))
    assert np.array_equal(path, want_path) or (math.isinf(want_cost) and len(path) == 0)


@pytest.mark.parametrize("shape, band", [((2, 1), (2, 3)), ((3, 3), (2, 3)), ((0, 3), (0, 3))])
def test_distance_matrix_must_fit_its_band(shape, band):
    """The aligners' kernels read values unchecked: a matrix that does not cover its band is refused."""
    with pytest.raises(InvalidArgumentError, match="distance matrix: expected a float64 array of shape"):
        DistanceMatrix(np.zeros(shape), Band.full(*band))
    with pytest.raises(InvalidArgumentError, match="got int64 array"):
        DistanceMatrix(np.zeros((2, 3), np.int64), Band.full(2, 3))


def test_tiny_confidences_give_the_distances_of_their_scaled_copy():
    """Pair weights are products of two confidences: at 1e-10 (unequal, so the general kernel runs) the
    distances are those of the same poses with the confidences scaled up (without a penalty they do not depend
    on the scale); below MIN_CONFIDENCE (1e-160: the products underflow) a joint counts as missing, and
    scoring such poses says so in one line instead of dividing by zero."""
    from posesearch.sequence import Sequence, score_sequence

    rng = np.random.default_rng(7)
    kp = rng.random((12, 17, 2)) * 100
    cf = rng.uniform(1, 2, (12, 17)) / 2
    small = frame_distance_matrix(features_from_arrays(kp, cf * 1e-10), features_from_arrays(kp[::-1], cf * 1e-10))
    want = frame_distance_matrix(features_from_arrays(kp, cf), features_from_arrays(kp[::-1], cf))
    # (pairs of one pose with itself: d = sqrt(rounding) ~ 1e-8 whatever the scale of the weights)
    assert np.allclose(small.values, want.values, rtol=1e-9, atol=1e-7)
    assert not features_from_arrays(kp, cf * 1e-160).valid.any()
    seq = Sequence(kp, cf * 1e-160, "coco17", fps=30)
    with pytest.raises(InvalidPoseError, match="no frame has 3 or more present keypoints"):
        score_sequence(seq, seq)


def test_dtw_hand_case_hold_limit():
    """One user frame against three reference frames, all distance 0.1, missing cost 1: with max_hold 2 the
    third reference frame held costs max(d, missing) = 1 (total 0.1 + 0.1 + 1); without a limit 0.3."""
    vals = np.full((1, 3), 0.1)
    band = Band.full(1, 3)
    assert kern.dtw(vals, band.lo, band.hi, 3, 1.0, False, 2)[0] == pytest.approx(1.2)
    assert kern.dtw(vals, band.lo, band.hi, 3, 1.0, False, 0)[0] == pytest.approx(0.3)


@settings(max_examples=50, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tu=hst.integers(1, 40), tr=hst.integers(1, 60),
       radius=hst.sampled_from([None, 1.0, 4.0]), open_user=hst.booleans(), max_hold=hst.sampled_from([0, 2, 3]),
       max_rotation=hst.sampled_from([20.0, 180.0]), penalty=hst.sampled_from([None, 0.3]), mixed=hst.booleans(),
       collapse=hst.booleans())
def test_rows_aligned_as_computed_equal_dtw_of_the_matrix(seed, tu, tr, radius, open_user, max_hold, max_rotation,
                                                          penalty, mixed, collapse):
    """ProcrustesRows (each distance row aligned as it is computed, no matrix) gives dtw's cost and path of the
    Procrustes matrix, bit for bit, and align() gives the same Alignment either way."""
    from posesearch.sequence.align import align
    from posesearch.sequence.framedist import ProcrustesRows

    rng = np.random.default_rng(seed)
    ku, cu = _uniform_poses(rng, tu, missing=0.2, levels=(1.0, 0.5))
    kr, cr = _uniform_poses(rng, tr, missing=0.2, levels=(1.0, 0.7))
    if mixed:       # general-kernel frames and pairs without a distance (too few common joints)
        cu[rng.random(tu) < 0.3] *= rng.uniform(0.2, 1.0, 17)
        cr[rng.random((tr, 17)) < 0.5] = 0.0
    if collapse:
        ku[rng.integers(tu)] = 0.0
    fu, fr = features_from_arrays(ku, cu), features_from_arrays(kr, cr)
    band = Band.full(tu, tr) if radius is None or tu < 2 or tr < 2 else Band.sakoe_chiba(tu, tr, radius)
    D = frame_distance_matrix(fu, fr, max_rotation=max_rotation, band=band, missing_penalty=penalty)
    rows = ProcrustesRows(fu, fr, band, max_rotation, penalty)
    want = kern.dtw(D.values, band.lo, band.hi, tr, 0.9, open_user, max_hold)
    got = rows.dtw(0.9, open_user, max_hold)
    assert got[0] == want[0] or (math.isinf(got[0]) and math.isinf(want[0]))
    assert np.array_equal(got[1], want[1])
    assert np.array_equal(rows.matrix().values, D.values, equal_nan=True)
    if math.isfinite(want[0]):
        times_u, times_r = np.arange(tu) / 30.0, np.arange(tr) / 30.0
        kw = dict(open_ends="user" if open_user else "none", missing_cost=0.9, max_hold=max_hold)
        a, b = align(D, times_r, times_u, **kw), align(rows, times_r, times_u, **kw)
        assert np.array_equal(a.path, b.path) and a.cost == b.cost and a.total_cost == b.total_cost
        assert a.time_offset == b.time_offset or (math.isnan(a.time_offset) and math.isnan(b.time_offset))


def test_two_mirror_states_on_two_threads_score_as_on_one():
    """score_sequence with numba allowed one thread (both mirror states in turn) and two (the second state on a
    worker thread): the same report values."""
    import numba

    from posesearch.sequence import score_sequence
    from posesearch.sequence.simulate import degrade, synthetic_motion

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here (NUMBA_NUM_THREADS=1): nothing to compare")
    ref = synthetic_motion(8, 30, seed=3)
    user = degrade(ref, seed=4)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = score_sequence(ref, user)
        numba.set_num_threads(2)
        two = score_sequence(ref, user)
    finally:
        numba.set_num_threads(before)
    assert one.score == two.score and one.mirror_costs == two.mirror_costs and one.mirrored == two.mirrored
    assert np.array_equal(one.alignment.path, two.alignment.path)
    assert np.array_equal(one.moment_scores, two.moment_scores, equal_nan=True)


@settings(max_examples=200, deadline=None)
@given(steps=hst.lists(hst.sampled_from(["diag", "up", "left"]), max_size=60))
def test_held_pairs_equals_the_run_count_loop(steps):
    """score.held_pairs (vectorised) marks the pairs the plain loop over the path marks: those MAX_HOLD or more
    steps into a run of reference frames matched to the same user frame."""
    from posesearch.sequence.score import MAX_HOLD, held_pairs

    r, u = [0], [0]
    for s in steps:
        r.append(r[-1] + (s != "up"))
        u.append(u[-1] + (s != "left"))
    path = np.stack([r, u], axis=1).astype(np.int64)
    want = np.zeros(len(path), bool)
    run = 0
    for i in range(1, len(path)):
        run = run + 1 if (path[i, 1] == path[i - 1, 1] and path[i, 0] == path[i - 1, 0] + 1) else 0
        want[i] = run >= MAX_HOLD
    assert np.array_equal(held_pairs(path), want)
    assert not held_pairs(path[:0]).any() and not held_pairs(path[:1]).any()


def _score_in_child(conn):
    from posesearch.sequence import score_sequence
    from posesearch.sequence.simulate import degrade, synthetic_motion

    ref = synthetic_motion(4, 30, seed=5)
    conn.send(score_sequence(ref, degrade(ref, seed=6)).score)


def test_two_threads_after_fork():
    """A process forked after scoring on two threads scores too (the parent's worker thread does not exist in
    the child: it makes its own) and gets the parent's score."""
    import multiprocessing

    import numba

    from posesearch.sequence import score_sequence
    from posesearch.sequence.simulate import degrade, synthetic_motion

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here (NUMBA_NUM_THREADS=1): the mirror states run in turn")
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    ref = synthetic_motion(4, 30, seed=5)
    want = score_sequence(ref, degrade(ref, seed=6)).score        # the parent's worker thread exists now
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_score_in_child, args=(child,), daemon=True)
    proc.start()
    done = parent.poll(120)
    if not done:
        proc.kill()
    assert done, "the forked child did not finish scoring"
    got = parent.recv()
    proc.join(10)
    assert got == want and proc.exitcode == 0
