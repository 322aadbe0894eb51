"""Frame-distance matrices and time alignment (DTW, Needleman-Wunsch/Gotoh, best diagonal)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from dtaidistance import dtw as dtai
from dtaidistance import dtw_ndim as dtai_ndim
from hypothesis import given, settings, strategies as hst

from posesearch.errors import InvalidArgumentError, InvalidPoseError, UnknownNameError
from posesearch.poses.distances import weighted_distance
from posesearch.poses.mirror import mirror
from posesearch.poses.normalize import normalize_batch
from posesearch.poses.procrustes import procrustes_distance
from posesearch.sequence.align import align, diagonal_path, dtw_path, fit_timing, make_band, nw_path
from posesearch.sequence.framedist import (Band, DistanceMatrix, features_from_arrays, frame_distance_matrix,
                                           frame_features, pair_errors)
from posesearch.sequence.simulate import degrade, synthetic_motion


def _poses(n, rng, missing=0.0):
    kp = rng.uniform(0, 300, (n, 17, 2))
    cf = rng.uniform(0.2, 1.0, (n, 17))
    cf[rng.random((n, 17)) < missing] = 0.0
    return kp, cf


def _banded(D, band):
    vals = np.full((D.shape[0], band.width), np.inf)
    for u in range(D.shape[0]):
        vals[u, : band.hi[u] - band.lo[u]] = D[u, band.lo[u]:band.hi[u]]
    return DistanceMatrix(vals, band)


# ------------------------------------------------------------------------------------ frame distances
def test_procrustes_matrix_equals_lead_procrustes_distance(rng):
    ku, cu = _poses(9, rng, missing=0.2)
    kr, cr = _poses(7, rng, missing=0.2)
    fu = features_from_arrays(ku, cu)
    fr = features_from_arrays(kr, cr)
    D = frame_distance_matrix(fu, fr, max_rotation=180).dense()
    for u in range(9):
        for r in range(7):
            w = cu[u] * cr[r]
            want = procrustes_distance(kr[r], ku[u], w) if (w > 0).sum() >= 3 else np.nan
            assert D[u, r] == pytest.approx(want, abs=1e-7, nan_ok=True)
    # the per-pair detail agrees with the matrix
    uu, rr = np.meshgrid(np.arange(9), np.arange(7), indexing="ij")
    d, e, w = pair_errors(fu, fr, uu.ravel(), rr.ravel(), max_rotation=180)
    assert np.allclose(d, D.ravel(), atol=1e-7, equal_nan=True)
    ok = np.isfinite(d)
    rms = np.sqrt(np.nansum(w * e * e, axis=1) / w.sum(axis=1))
    assert np.allclose(rms[ok], d[ok], atol=1e-9)          # d = weighted RMS of the joint errors


def test_procrustes_invariances_and_no_reflection(rng):
    kp = rng.uniform(0, 300, (1, 17, 2))
    one = np.ones((1, 17))
    th = math.radians(30)
    R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    moved = 2.5 * kp @ R.T + [40, -7]
    f = lambda a: features_from_arrays(a, one)  # noqa: E731
    d = lambda a, b, **kw: frame_distance_matrix(f(a), f(b), **kw).dense()[0, 0]  # noqa: E731
    assert d(moved, kp, max_rotation=180) < 1e-6
    assert d(moved, kp, max_rotation=45) < 1e-6
    # rotation limited to 20 degrees: the best fit is 10 degrees short -> d = sin(10 deg)
    assert d(moved, kp, max_rotation=20) == pytest.approx(math.sin(math.radians(10)), abs=1e-9)
    mk = mirror(kp[0], np.ones(17))[0][None]
    assert d(mk, kp, max_rotation=180) > 0.05


def test_weighted_matrix_equals_move_mirror_distance(rng):
    ku, cu = _poses(6, rng, missing=0.15)
    kr, cr = _poses(5, rng, missing=0.15)
    D = frame_distance_matrix(features_from_arrays(ku, cu, "weighted"), features_from_arrays(kr, cr, "weighted"),
                              distance="weighted").dense()
    vu, _ = normalize_batch(np.where(cu[..., None] > 0, ku, 0), cu, on_invalid="mask")
    vr, _ = normalize_batch(np.where(cr[..., None] > 0, kr, 0), cr, on_invalid="mask")
    for u in range(6):
        for r in range(5):
            w = cu[u] * cr[r]
            want = weighted_distance(vu[u], vr[r], w) if (w > 0).sum() >= 3 else np.nan
            assert D[u, r] == pytest.approx(want, abs=1e-12, nan_ok=True)


def test_missing_penalty_formula():
    rng = np.random.default_rng(4)
    kp = rng.uniform(0, 100, (1, 17, 2))
    cu = np.ones((1, 17))
    cr = np.ones((1, 17))
    cu[0, :2] = 0.0                     # two joints only the reference has
    cr[0, 16] = 0.0                     # one joint only the user has
    other = kp + rng.normal(0, 5, kp.shape)
    fu, fr = features_from_arrays(other, cu), features_from_arrays(kp, cr)
    d0 = frame_distance_matrix(fu, fr, missing_penalty=None).dense()[0, 0]
    d1 = frame_distance_matrix(fu, fr, missing_penalty=0.5).dense()[0, 0]
    W, U = 14.0, 3.0
    assert d1 == pytest.approx(math.sqrt((W * d0 ** 2 + U * 0.25) / (W + U)), abs=1e-12)
    dd, _, _ = pair_errors(fu, fr, np.array([0]), np.array([0]), missing_penalty=0.5)
    assert dd[0] == pytest.approx(d1, abs=1e-9)


def test_too_few_common_joints_is_nan():
    kp = np.random.default_rng(0).uniform(0, 100, (1, 17, 2))
    cu = np.zeros((1, 17))
    cu[0, :2] = 1
    D = frame_distance_matrix(features_from_arrays(kp, cu), features_from_arrays(kp, np.ones((1, 17))))
    assert np.isnan(D.dense()[0, 0])


def test_banded_matrix_equals_dense_inside_band(rng):
    ku, cu = _poses(40, rng)
    kr, cr = _poses(30, rng)
    fu, fr = features_from_arrays(ku, cu), features_from_arrays(kr, cr)
    full = frame_distance_matrix(fu, fr).dense()
    band = Band.sakoe_chiba(40, 30, 4)
    got = frame_distance_matrix(fu, fr, band=band).dense()
    inside = np.isfinite(got)
    assert np.allclose(got[inside], full[inside])
    assert inside.sum() == band.cells < 40 * 30
    # rows are contiguous, non-decreasing and connected
    assert (np.diff(band.lo) >= 0).all() and (np.diff(band.hi) >= 0).all() and (band.hi[:-1] >= band.lo[1:]).all()


def test_parallel_and_serial_kernels_agree(rng, monkeypatch):
    from posesearch.sequence import framedist

    ku, cu = _poses(50, rng, 0.1)
    kr, cr = _poses(60, rng, 0.1)
    fu, fr = features_from_arrays(ku, cu), features_from_arrays(kr, cr)
    for dist in ("procrustes", "weighted"):
        fu, fr = features_from_arrays(ku, cu, dist), features_from_arrays(kr, cr, dist)
        monkeypatch.setattr(framedist, "PARALLEL_MIN_WORK", 10 ** 12)
        a = frame_distance_matrix(fu, fr, distance=dist, missing_penalty=0.3).dense()
        monkeypatch.setattr(framedist, "PARALLEL_MIN_WORK", 0)
        b = frame_distance_matrix(fu, fr, distance=dist, missing_penalty=0.3).dense()
        assert np.array_equal(a, b, equal_nan=True)


# ---------------------------------------------------------------------------------------------- DTW
@settings(max_examples=30, deadline=None)
@given(seed=hst.integers(0, 100_000), n=hst.integers(2, 30), m=hst.integers(2, 30))
def test_dtw_equals_dtaidistance_1d(seed, n, m):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=m)          # a = user, b = reference
    D = (a[:, None] - b[None, :]) ** 2
    M = DistanceMatrix(D.copy(), Band.full(n, m))
    total, path = dtw_path(M, open_ends="none")
    assert math.sqrt(total) == pytest.approx(dtai.distance(a, b), abs=1e-9)
    assert path[0].tolist() == [0, 0] and path[-1].tolist() == [m - 1, n - 1]
    assert D[path[:, 1], path[:, 0]].sum() == pytest.approx(total)
    # open begin/end on the user axis = dtaidistance's psi relaxation of series 1
    total, path = dtw_path(M, open_ends="user")
    assert math.sqrt(total) == pytest.approx(dtai.distance(a, b, psi=(n, n, 0, 0)), abs=1e-9)
    assert path[0, 0] == 0 and path[-1, 0] == m - 1


def test_dtw_equals_dtaidistance_multidim_and_band():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(35, 3)), rng.normal(size=(35, 3))
    D = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    total, _ = dtw_path(DistanceMatrix(D.copy(), Band.full(35, 35)), open_ends="none")
    assert math.sqrt(total) == pytest.approx(dtai_ndim.distance(a, b), abs=1e-9)
    for w in (1, 3, 6):
        band = Band.sakoe_chiba(35, 35, w)                 # |u - r| <= w, i.e. dtaidistance window w + 1
        t, _ = dtw_path(_banded(D, band), open_ends="none")
        assert math.sqrt(t) == pytest.approx(dtai_ndim.distance(a, b, window=w + 1), abs=1e-9)


def test_dtw_recovers_repeated_frames():
    ref = np.arange(10, dtype=float)
    user = np.repeat(ref, [1, 1, 3, 1, 1, 2, 1, 1, 1, 1])
    D = np.abs(user[:, None] - ref[None, :])
    total, path = dtw_path(DistanceMatrix(D, Band.full(len(user), 10)), open_ends="none")
    assert total == 0 and np.array_equal(user[path[:, 1]], path[:, 0])


def test_dtw_open_user_ends_skip_extra_frames():
    ref = np.array([0.0, 1, 2, 3])
    user = np.array([9.0, 9, 0, 1, 2, 3, 9])
    D = np.abs(user[:, None] - ref[None, :])
    total, path = dtw_path(DistanceMatrix(D, Band.full(7, 4)), open_ends="user")
    assert total == 0 and path.tolist() == [[0, 2], [1, 3], [2, 4], [3, 5]]


# ----------------------------------------------------------------------------------- Needleman-Wunsch
def _brute_nw(D, go, ge, open_user):
    """Minimum over every non-empty strictly increasing matching of the affine-gap cost."""
    n, m = D.shape
    gap = lambda k, free=False: 0.0 if k == 0 or free else go + ge * k  # noqa: E731
    best = np.inf
    cells = [(u, r) for u in range(n) for r in range(m)]
    for size in range(1, min(n, m) + 1):
        for combo in itertools.combinations(cells, size):
            us = [c[0] for c in combo]
            rs = [c[1] for c in combo]
            if any(us[i + 1] <= us[i] or rs[i + 1] <= rs[i] for i in range(size - 1)):
                continue
            c = sum(D[u, r] for u, r in combo)
            c += gap(us[0], open_user) + gap(rs[0]) + gap(n - 1 - us[-1], open_user) + gap(m - 1 - rs[-1])
            for i in range(size - 1):
                c += gap(us[i + 1] - us[i] - 1) + gap(rs[i + 1] - rs[i] - 1)
            best = min(best, c)
    return best


@settings(max_examples=25, deadline=None)
@given(seed=hst.integers(0, 100_000), n=hst.integers(1, 4), m=hst.integers(1, 4),
       open_ends=hst.sampled_from(["user", "none"]))
def test_nw_equals_brute_force(seed, n, m, open_ends):
    rng = np.random.default_rng(seed)
    D = rng.uniform(0, 1, (n, m))
    go, ge = rng.uniform(0, 0.6), rng.uniform(0, 0.4)
    total, path = nw_path(DistanceMatrix(D.copy(), Band.full(n, m)), gap_open=go, gap_extend=ge,
                          open_ends=open_ends)
    assert total == pytest.approx(_brute_nw(D, go, ge, open_ends == "user"), abs=1e-12)
    assert (np.diff(path, axis=0) > 0).all()               # one to one, strictly increasing


def test_nw_skips_an_inserted_block():
    ref = np.arange(8, dtype=float)
    user = np.concatenate([ref[:4], [50, 60, 70], ref[4:]])
    D = np.minimum(np.abs(user[:, None] - ref[None, :]), 5.0)
    total, path = nw_path(DistanceMatrix(D, Band.full(11, 8)), gap_open=0.5, gap_extend=0.2)
    assert total == pytest.approx(0.5 + 3 * 0.2)
    assert path[:, 0].tolist() == list(range(8)) and path[:, 1].tolist() == [0, 1, 2, 3, 7, 8, 9, 10]


# ------------------------------------------------------------------------------------------ diagonal
def test_diagonal_finds_offset():
    ref = np.sin(np.arange(40) / 3.0)
    user = np.concatenate([np.zeros(6), ref])
    D = np.abs(user[:, None] - ref[None, :])
    mean, total, path = diagonal_path(DistanceMatrix(D, Band.full(46, 40)), min_overlap=0.5)
    assert mean == 0 and (path[:, 1] - path[:, 0] == 6).all() and len(path) == 40
    with pytest.raises(InvalidPoseError, match="overlaps"):
        diagonal_path(DistanceMatrix(D, Band.sakoe_chiba(46, 40, 1)), min_overlap=1.0)


# ---------------------------------------------------------------------------------- timing and align()
def test_fit_timing_line():
    r = np.arange(30)
    u = np.round(9 + 1.25 * r).astype(int)
    path = np.stack([r, u], 1)
    off, speed = fit_timing(path, np.arange(30) / 30, np.arange(60) / 30)
    assert off == pytest.approx(0.3, abs=0.01) and speed == pytest.approx(0.8, abs=0.01)
    off, speed = fit_timing(np.array([[0, 3], [0, 4]]), np.arange(3) / 30, np.arange(9) / 30)
    assert math.isnan(speed) and off == pytest.approx(3.5 / 30)


@pytest.mark.parametrize("method", ["dtw", "nw", "diagonal"])
def test_align_synthetic_delay_and_speed(method):
    ref = synthetic_motion(5, 30, seed=3)
    slow = 1.0 if method != "dtw" else 1.25
    # the user holds the first pose for 0.5 s, then moves (slower for DTW), recorded at 30 fps
    user = degrade(ref, fps=30, noise=0, delay=0.5, slower=slow, mirror=False)
    fu, fr = frame_features(user), frame_features(ref)
    band = make_band(len(user), len(ref), fps=30, band=0.25)
    D = frame_distance_matrix(fu, fr, band=band)
    A = align(D, ref.times, user.times, method=method)
    assert A.method == method and A.path.shape[1] == 2
    assert A.time_offset == pytest.approx(0.5, abs=0.12)
    assert A.speed_ratio == pytest.approx(1 / slow, abs=0.05)


def test_align_errors():
    M = DistanceMatrix(np.zeros((3, 3)), Band.full(3, 3))
    with pytest.raises(UnknownNameError, match="alignment method"):
        align(M, np.arange(3.0), np.arange(3.0), method="hmm")
    with pytest.raises(UnknownNameError, match="open_ends"):
        dtw_path(M, open_ends="both")
    with pytest.raises(InvalidArgumentError, match="gap_open"):
        nw_path(M, gap_open=-1, gap_extend=0.1)
    with pytest.raises(InvalidArgumentError, match="min_overlap"):
        diagonal_path(M, min_overlap=0)
    with pytest.raises(InvalidArgumentError, match="different keypoint counts"):
        frame_distance_matrix(features_from_arrays(np.ones((2, 17, 2)), np.ones((2, 17))),
                              features_from_arrays(np.ones((2, 13, 2)), np.ones((2, 13))))
