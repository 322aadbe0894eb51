"""The prepare steps' numba paths (issue 21, helper prep) against the numpy code they replace, bit for bit.

``old_*`` below are main's (9d9142c) implementations, kept here as the reference: unit coordinates
(``unit_frame`` / ``to_unit`` / body size by numpy masks), the Kalman batch kernel that stored every
prediction, and the restore by ``np.where``."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst
from numba import njit

from posesearch.errors import InvalidPoseError
from posesearch.sequence import Sequence
from posesearch.sequence import smooth as sm
from posesearch.sequence.sequence import median_body_size
from posesearch.sequence._smooth_kernels import _predict, _update, one_euro_batch


def old_unit_frame(keypoints, present):
    kp = np.asarray(keypoints, dtype=np.float64)
    pres = np.asarray(present, bool)
    if not pres.any():
        return np.zeros(2), 1.0
    x, y = kp[..., 0], kp[..., 1]
    lo = np.array([np.where(pres, x, np.inf).min(), np.where(pres, y, np.inf).min()])
    hi = np.array([np.where(pres, x, -np.inf).max(), np.where(pres, y, -np.inf).max()])
    origin = 0.5 * lo + 0.5 * hi
    half = float((0.5 * hi - 0.5 * lo).max())
    if not half > 0:
        return origin, 1.0
    return origin, math.ldexp(1.0, math.frexp(half)[1])


def old_unit_arrays(seq, first_origin=False):
    pres = seq.present
    origin, unit = old_unit_frame(seq.keypoints, pres)
    if first_origin and pres.any():
        t = int(np.argmax(pres.any(axis=1)))
        origin = old_unit_frame(seq.keypoints[t], pres[t])[0]
    if unit == 1.0 and not origin.any():
        return seq.keypoints, origin, unit
    return np.where(pres[..., None], sm.to_unit(seq.keypoints, origin, unit), 0.0), origin, unit


def old_body_size(seq, kp):
    pres = seq.present
    x, y = kp[..., 0], kp[..., 1]
    w = np.where(pres, x, -np.inf).max(1) - np.where(pres, x, np.inf).min(1)
    h = np.where(pres, y, -np.inf).max(1) - np.where(pres, y, np.inf).min(1)
    ok = pres.sum(1) >= 2
    diag = np.hypot(w[ok], h[ok])
    diag = diag[diag > 0]
    return float(np.median(diag))


def old_restore(present, out, origin, unit):
    return np.where(present[..., None], sm.from_unit(out, origin, unit), 0.0)


@njit(cache=True)
def old_kalman_batch(z, r, times, q, v0var, rts):
    """z, r: (T, C); returns the filtered (or RTS-smoothed) positions (T, C)."""
    T, C = z.shape
    x = np.zeros((C, 2))
    P = np.zeros((C, 3))
    tlast = np.full(C, np.nan)
    xf = np.zeros((T, C, 2))
    Pf = np.zeros((T, C, 3))
    xp = np.zeros((T, C, 2))
    Pp = np.zeros((T, C, 3))
    init = np.zeros((T, C), dtype=np.bool_)
    for t in range(T):
        dt = times[t] - times[t - 1] if t > 0 else 0.0
        for c in range(C):
            inited = not math.isnan(tlast[c])
            if inited:
                _predict(x, P, c, dt, q)
                xp[t, c, 0] = x[c, 0]
                xp[t, c, 1] = x[c, 1]
                Pp[t, c, 0] = P[c, 0]
                Pp[t, c, 1] = P[c, 1]
                Pp[t, c, 2] = P[c, 2]
            if math.isfinite(r[t, c]):
                if inited:
                    _update(x, P, c, z[t, c], r[t, c])
                else:
                    x[c, 0] = z[t, c]
                    x[c, 1] = 0.0
                    P[c, 0] = r[t, c]
                    P[c, 1] = 0.0
                    P[c, 2] = v0var
                    tlast[c] = 1.0
            init[t, c] = not math.isnan(tlast[c])
            xf[t, c, 0] = x[c, 0]
            xf[t, c, 1] = x[c, 1]
            Pf[t, c, 0] = P[c, 0]
            Pf[t, c, 1] = P[c, 1]
            Pf[t, c, 2] = P[c, 2]
    out = np.empty((T, C))
    if not rts:
        for t in range(T):
            for c in range(C):
                out[t, c] = xf[t, c, 0]
        return out
    xs = xf.copy()
    for t in range(T - 2, -1, -1):
        dt = times[t + 1] - times[t]
        for c in range(C):
            if not init[t, c]:
                continue
            # G = Pf F' = [[f00 + dt f01, f01], [f01 + dt f11, f11]]
            f00, f01, f11 = Pf[t, c, 0], Pf[t, c, 1], Pf[t, c, 2]
            g00 = f00 + dt * f01
            g01 = f01
            g10 = f01 + dt * f11
            g11 = f11
            a, b, d = Pp[t + 1, c, 0], Pp[t + 1, c, 1], Pp[t + 1, c, 2]
            det = a * d - b * b
            if det <= 0.0:
                continue
            i00, i01, i11 = d / det, -b / det, a / det
            c00 = g00 * i00 + g01 * i01
            c01 = g00 * i01 + g01 * i11
            c10 = g10 * i00 + g11 * i01
            c11 = g10 * i01 + g11 * i11
            e0 = xs[t + 1, c, 0] - xp[t + 1, c, 0]
            e1 = xs[t + 1, c, 1] - xp[t + 1, c, 1]
            xs[t, c, 0] = xf[t, c, 0] + c00 * e0 + c01 * e1
            xs[t, c, 1] = xf[t, c, 1] + c10 * e0 + c11 * e1
    for t in range(T):
        for c in range(C):
            out[t, c] = xs[t, c, 0]
    return out



def old_smooth(seq, method, rts=True, scale=None):
    """main's kalman_smooth / one_euro_smooth (default settings but rts): the smoothed keypoints."""
    un, origin, unit = old_unit_arrays(seq)
    L = old_body_size(seq, un) if scale is None else scale / unit
    if method == "kalman":
        k = sm.KalmanSettings(rts=rts)
        t, kk = seq.confidences.shape
        r = sm._measurement_variance(seq.confidences, k.measurement_noise, L)
        q, v0var = k.process_noise * L * L, (k.initial_speed * L) * (k.initial_speed * L)
        out = old_kalman_batch(np.ascontiguousarray(un.reshape(t, 2 * kk)), np.ascontiguousarray(r), seq.times,
                               q, v0var, rts).reshape(t, kk, 2)
    else:
        o = sm.OneEuroSettings()
        out = one_euro_batch(np.ascontiguousarray(un), seq.present, seq.times, o.min_cutoff, o.beta / L, o.d_cutoff)
    return old_restore(seq.present, out, origin, unit)


def _random_sequence(seed, t, k, magnitude, missing, low_conf):
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 1, (1, k, 2)) + np.cumsum(rng.normal(0, 0.05, (t, 1, 2)), axis=0)
    kp = (base + rng.normal(0, 0.02, (t, k, 2))) * magnitude + rng.normal(0, 3) * magnitude
    cf = np.where(rng.random((t, k)) < missing, 0.0, 1.0)
    if low_conf:
        cf *= rng.uniform(0.05, 1.0, (t, k))
    cf[0, :3] = 1.0                                     # at least one frame with 2+ distinct keypoints
    times = np.cumsum(rng.uniform(0.01, 0.2, t))
    return Sequence(kp, cf, None, times, None)


def _same(a, b):
    return a.shape == b.shape and a.tobytes() == b.tobytes()


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 40), k=hst.sampled_from([13, 17, 25]),
       magnitude=hst.sampled_from([1.0, 0.5, 3e-300, 640.0, 1e290]), missing=hst.sampled_from([0.0, 0.3, 0.9]),
       low_conf=hst.booleans(), rts=hst.booleans(), method=hst.sampled_from(["kalman", "one-euro"]),
       scale=hst.sampled_from([None, 0.7]))
def test_smoothing_bit_identical_to_main(seed, t, k, magnitude, missing, low_conf, rts, method, scale):
    seq = _random_sequence(seed, t, k, magnitude, missing, low_conf)
    un, origin, unit = old_unit_arrays(seq)
    if scale is None and not (old_unit_arrays(seq)[0][seq.present].size and
                              np.isfinite(old_body_size(seq, un)) and old_body_size(seq, un) > 0):
        return
    sc = None if scale is None else scale * magnitude
    want = old_smooth(seq, method, rts, sc)
    if not np.isfinite(want).all():
        return
    out = sm.smooth(seq, method, kalman=sm.KalmanSettings(rts=rts), scale=sc)
    assert _same(out.keypoints, want)
    _assert_valid_derived(out, seq)


def _assert_valid_derived(out, seq):
    """``out`` (made by Sequence._derived, not validated) is what validating construction makes of it, and shares
    no array with ``seq``."""
    again = Sequence(out.keypoints, out.confidences, out.layout, out.times, out.fps, out.name)
    for f in ("keypoints", "confidences", "times"):
        assert _same(getattr(again, f), getattr(out, f))
        assert not np.shares_memory(getattr(out, f), getattr(seq, f))
    assert (again.layout, again.fps, again.name, out.points3d) == (out.layout, out.fps, out.name, None)


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 30), magnitude=hst.sampled_from([1.0, 2.0 ** -3, 7e-310, 1e300]),
       missing=hst.sampled_from([0.0, 0.5, 1.0]), first_origin=hst.booleans(), shift=hst.booleans())
def test_unit_coordinates_bit_identical_to_main(seed, t, magnitude, missing, first_origin, shift):
    rng = np.random.default_rng(seed)
    kp = rng.uniform(-1, 1, (t, 17, 2)) * magnitude + (rng.normal() * magnitude if shift else 0.0)
    cf = np.where(rng.random((t, 17)) < missing, 0.0, 1.0)
    cf[0, 0] = 1.0
    seq = Sequence(kp, cf, "coco17", np.arange(t) / 30.0, None)
    for f in (lambda s: s, lambda s: s[0], lambda s: s[-1:]):       # a whole sequence, one frame, (1, K)
        want, got = old_unit_frame(f(seq.keypoints), f(seq.present)), sm.unit_frame(f(seq.keypoints), f(seq.present))
        assert _same(got[0], want[0]) and got[1] == want[1]
    want_kp, want_o, want_u = old_unit_arrays(seq, first_origin)
    got_kp, got_o, got_u, diag = sm._unit_arrays(seq, first_origin)
    assert _same(got_kp, want_kp) and _same(got_o, want_o) and got_u == want_u
    assert (got_kp is seq.keypoints) == (want_kp is seq.keypoints)
    if (diag > 0).any():
        assert median_body_size(diag, seq.name) == old_body_size(seq, want_kp)
    n, o, u = sm.normalized(seq, first_origin=first_origin)
    assert _same(n.keypoints, want_kp) and (n is seq) == (want_kp is seq.keypoints)
    if n is not seq:
        _assert_valid_derived(n, seq)


def test_restore_refuses_overflow_and_keeps_missing_zero():
    present = np.array([[True, True], [True, False]])
    out = np.array([[[1.0, 0.0], [-4.0, 0.5]], [[0.5, 0.5], [9.0, 9.0]]])
    kp, finite = sm._kernels().from_unit_frames(out, present, np.zeros(2), 2.0 ** 1023)
    assert not finite
    kp, finite = sm._kernels().from_unit_frames(out, present, np.array([1.0, 2.0]), 2.0)
    assert finite and _same(kp, old_restore(present, out, np.array([1.0, 2.0]), 2.0))
    assert kp[1, 1].tolist() == [0.0, 0.0] and kp[0, 1].tolist() == [-7.0, 3.0]


def old_resample(seq, target, method, max_gap):
    """main's resample of "hold" / "linear": the keypoints present in every frame as one group, the others
    one at a time, by resample._interp_keypoint (numpy): (keypoints, confidences)."""
    from posesearch.sequence.resample import _interp_keypoint

    T, K = seq.confidences.shape
    kp = np.zeros((len(target), K, 2))
    cf = np.zeros((len(target), K))
    pres = seq.present
    full = pres.all(axis=0)
    if full.sum() > 1:
        grp = np.flatnonzero(full)
        both = np.concatenate([seq.keypoints[:, grp].reshape(T, -1), seq.confidences[:, grp]], axis=1)
        vals, _ = _interp_keypoint(seq.times, both, np.ones(T), target, method, max_gap)
        kp[:, grp] = vals[:, :2 * len(grp)].reshape(len(target), len(grp), 2)
        cf[:, grp] = vals[:, 2 * len(grp):]
    for k in (np.flatnonzero(~full) if full.sum() > 1 else range(K)):
        idx = np.flatnonzero(pres[:, k])
        kp[:, k], cf[:, k] = _interp_keypoint(seq.times[idx], seq.keypoints[idx, k], seq.confidences[idx, k],
                                              target, method, max_gap)
    kp[cf == 0] = 0.0
    return kp, cf


@settings(max_examples=200, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 40), missing=hst.sampled_from([0.0, 0.2, 0.7]),
       low_conf=hst.booleans(), method=hst.sampled_from(["linear", "hold"]),
       max_gap=hst.sampled_from([0.05, 0.25, 10.0]), grid=hst.sampled_from(["own", "fps", "random", "shifted"]))
def test_resample_bit_identical_to_main(seed, t, missing, low_conf, method, max_gap, grid):
    from posesearch.sequence.resample import regular_times, resample

    seq = _random_sequence(seed, t, 17, 1.0, missing, low_conf)
    rng = np.random.default_rng(seed + 1)
    target = {"own": seq.times,
              "fps": regular_times(seq.times[0], seq.times[-1], 30.0),
              "random": np.sort(rng.uniform(seq.times[0] - 0.1, seq.times[-1] + 0.1, 25)),
              "shifted": seq.times + rng.choice([0.0, 5e-7, -5e-7, 2e-6], t)}[grid]
    if np.any(np.diff(target) <= 0):
        return
    want_kp, want_cf = old_resample(seq, target, method, max_gap)
    if not (want_cf > 0).any():
        return
    got = resample(seq, target, method=method, max_gap=max_gap)
    assert _same(got.keypoints, want_kp) and _same(got.confidences, want_cf)


@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 20), missing=hst.sampled_from([0.0, 0.5]),
       with_3d=hst.booleans(), fps=hst.sampled_from([None, 30.0]))
def test_renamed_equals_replace(seed, t, missing, with_3d, fps):
    from posesearch.sequence.io import as_sequence

    seq = _random_sequence(seed, t, 17, 1.0, missing, True)
    if with_3d:
        p3 = np.random.default_rng(seed).normal(0, 1, (t, 17, 3))
        p3[0, 0] = np.nan
        seq = seq.replace(points3d=p3)
    if fps is not None:
        seq = seq.replace(fps=fps)
    want = seq.replace(name="user")
    got = as_sequence(seq, name="user")
    assert (got.layout, got.fps, got.name) == (want.layout, want.fps, "user") and got is not seq
    for f in ("keypoints", "confidences", "times", "points3d"):
        a, b = getattr(got, f), getattr(want, f)
        assert (a is None and b is None) or (_same(a, b) and not np.shares_memory(a, getattr(seq, f)))


@settings(max_examples=60, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 20), missing=hst.sampled_from([0.0, 0.5]),
       with_3d=hst.booleans(), axis_sum=hst.sampled_from([0.0, -0.0, None, 3.5]))
def test_mirrored_without_validation_equals_validated(seed, t, missing, with_3d, axis_sum):
    seq = _random_sequence(seed, t, 17, 1.0, missing, True)
    if with_3d:
        seq = seq.replace(points3d=np.random.default_rng(seed).normal(0, 1, (t, 17, 3)))
    got = seq.mirrored(axis_sum=axis_sum)
    again = Sequence(got.keypoints, got.confidences, got.layout, got.times, got.fps, got.name, got.points3d)
    for f in ("keypoints", "confidences", "times", "points3d"):
        a, b = getattr(got, f), getattr(again, f)
        assert (a is None and b is None) or (_same(a, b) and not np.shares_memory(a, getattr(seq, f)))
    assert (got.layout, got.fps, got.name) == (seq.layout, seq.fps, seq.name)


def old_joint_sums(r, err, w, use, tr):
    """main's per-joint sums in _moments: np.bincount per joint of the masked products."""
    K = err.shape[1]
    fin = np.isfinite(err) & use[:, None]
    e_sum = np.zeros((tr, K))
    w_sum = np.zeros((tr, K))
    e_add = np.where(fin, err, 0.0) * w
    w_add = np.where(fin, w, 0.0)
    for k in range(K):
        e_sum[:, k] = np.bincount(r, weights=e_add[:, k], minlength=tr)
        w_sum[:, k] = np.bincount(r, weights=w_add[:, k], minlength=tr)
    return e_sum, w_sum


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tr=hst.integers(1, 30), extra=hst.integers(0, 30),
       nan_share=hst.sampled_from([0.0, 0.3, 1.0]), observed=hst.sampled_from(["none", "some", "all"]),
       held=hst.booleans())
def test_joint_sums_bit_identical_to_main(seed, tr, extra, nan_share, observed, held):
    from posesearch.sequence._score_kernels import joint_sums
    from posesearch.sequence.score import CALIBRATION, _moments, held_pairs

    rng = np.random.default_rng(seed)
    # a monotone path over the reference frames 0..tr-1 (each at least once) and some user frames
    steps = np.sort(rng.integers(0, tr, extra))
    r = np.sort(np.concatenate([np.arange(tr), steps]))
    path = np.stack([r, np.arange(len(r)) // 2], 1).astype(np.int64)
    P, K = len(path), 17
    dist = np.where(rng.random(P) < nan_share, np.nan, rng.uniform(0, 1, P))
    err = np.where(rng.random((P, K)) < nan_share, np.nan, rng.uniform(0, 2, (P, K)))
    w = rng.uniform(0, 1, (P, K)) * (rng.random((P, K)) > 0.2)
    obs = {"none": None, "some": rng.random(P) < 0.4, "all": np.ones(P, bool)}[observed]
    valid = rng.random(tr) < 0.9
    hp = held_pairs(path) if held else None
    use = rng.random(P) < 0.7
    for a, b in zip(joint_sums(path[:, 0], err, w, use, tr), old_joint_sums(path[:, 0], err, w, use, tr)):
        assert _same(a, b)
    # and the moments they feed: per joint, the weighted mean error where a weight was summed
    d_r, s_r, e_r = _moments(path, dist, err, w, tr, CALIBRATION["procrustes"], obs, valid, hp)
    assert e_r.shape == (tr, K) and np.isfinite(s_r).all()


# ---------------------------------------------------------------------------- helper serial (issue 21, round 2)
# main's (25a3cbc) code for what became numba paths or ran one after the other: kept as the reference

def old_mirrored(seq, axis_sum):
    """main's Sequence.mirrored: posesearch.poses.mirror.mirror, then the missing points set to 0."""
    from posesearch.poses.mirror import mirror

    pres, x = seq.present, seq.keypoints[..., 0]
    if axis_sum is None:
        axis_sum = float(x[pres].min() + x[pres].max()) if pres.any() else 0.0
    kp, cf = mirror(seq.keypoints, seq.confidences, seq.layout, axis_sum=float(axis_sum))
    return np.where(cf[..., None] > 0, kp, 0.0), cf


@settings(max_examples=100, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 20), k=hst.sampled_from([13, 17, 25]),
       missing=hst.sampled_from([0.0, 0.5]), axis_sum=hst.sampled_from([0.0, -0.0, None, 3.5]),
       zeros=hst.booleans())
def test_mirrored_bit_identical_to_main(seed, t, k, missing, axis_sum, zeros):
    seq = _random_sequence(seed, t, k, 1.0, missing, True)
    if zeros:      # present points at x = +0.0 and -0.0: 0.0 - x keeps their signs as main's numpy did
        kp = seq.keypoints.copy()
        kp[0, 0, 0], kp[0, 1, 0] = 0.0, -0.0
        seq = seq.replace(keypoints=kp)
    want_kp, want_cf = old_mirrored(seq, axis_sum)
    got = seq.mirrored(axis_sum=axis_sum)
    assert _same(got.keypoints, want_kp) and _same(got.confidences, want_cf)


def test_mirrored_overflow_is_refused_as_before():
    seq = Sequence(np.full((2, 17, 2), -1e308), np.ones((2, 17)), "coco17", None, 30.0, name="user")
    with pytest.raises(InvalidPoseError, match="user: infinite coordinate"):
        seq.mirrored(axis_sum=1.7e308)


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 40), missing=hst.sampled_from([0.0, 0.2, 0.7]),
       low_conf=hst.booleans(), method=hst.sampled_from(["linear", "hold"]),
       grid=hst.sampled_from(["own", "fps", "random"]))
def test_resampled_sequence_is_what_construction_makes(seed, t, missing, low_conf, method, grid):
    """resample's result skips validation when its kernel found it clean: it must equal the validated one."""
    from posesearch.sequence.resample import regular_times, resample

    seq = _random_sequence(seed, t, 17, 1.0, missing, low_conf)
    rng = np.random.default_rng(seed + 1)
    target = {"own": seq.times, "fps": regular_times(seq.times[0], seq.times[-1], 30.0),
              "random": np.unique(rng.uniform(seq.times[0] - 0.1, seq.times[-1] + 0.1, 25))}[grid]
    try:
        got = resample(seq, target, method=method, max_gap=0.25, fps=12.5)
    except InvalidPoseError as e:       # nothing survives: construction's own message
        assert "all keypoints are missing" in str(e)
        return
    _assert_valid_derived(got, seq)
    assert got.fps == 12.5 and got.name == seq.name


def test_resample_clean_check_sends_odd_output_to_construction():
    from posesearch.sequence._resample_kernels import _clean

    kp, cf = np.zeros((2, 3, 2)), np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    kp[0, 0] = kp[0, 2] = [0.25, -3.0]
    assert _clean(kp, cf)
    for change in ("negative zero", "point where missing", "confidence above 1", "infinite", "nan", "none"):
        k, c = kp.copy(), cf.copy()
        if change == "negative zero":
            k[1, 1, 0] = -0.0           # construction sets a missing point to +0.0
        elif change == "point where missing":
            k[0, 1, 1] = 1.0
        elif change == "confidence above 1":
            c[0, 2] = 1.0000000000000002
        elif change == "infinite":
            k[0, 0, 1] = np.inf
        elif change == "nan":
            k[0, 2, 0] = np.nan
        else:
            c[:] = 0.0
            k[:] = 0.0
        assert not _clean(k, c), change


def old_fill(s_r, d_r, e_r, fill, judged):
    """main's interpolation of the moments no observed pair judged (in _moments), in place."""
    tr = len(s_r)
    idx = np.arange(tr)
    j = np.flatnonzero(judged)
    s_r[fill] = np.interp(idx[fill], j, s_r[j])
    ok = judged & np.isfinite(d_r)
    if ok.any():
        d_r[fill] = np.interp(idx[fill], idx[ok], d_r[ok])
    for k in range(e_r.shape[1]):
        ok = judged & np.isfinite(e_r[:, k])
        if ok.any():
            e_r[fill, k] = np.interp(idx[fill], idx[ok], e_r[ok, k])


@settings(max_examples=200, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tr=hst.integers(1, 40), judged_share=hst.sampled_from([0.05, 0.3, 0.9]),
       nan_share=hst.sampled_from([0.0, 0.3, 0.95]), k=hst.sampled_from([1, 17]), big=hst.booleans())
def test_fill_columns_bit_identical_to_np_interp(seed, tr, judged_share, nan_share, k, big):
    from posesearch.sequence._score_kernels import fill_columns

    rng = np.random.default_rng(seed)
    judged = rng.random(tr) < judged_share
    if not judged.any():
        judged[rng.integers(tr)] = True
    fill = ~judged & (rng.random(tr) < 0.7)
    scale = 1e308 if big else 1.0         # slopes that overflow: np.interp's other direction, then its tie rule
    s_r = rng.uniform(0, 100, tr)
    d_r = np.where(rng.random(tr) < nan_share, np.nan, rng.uniform(-1, 1, tr) * scale)
    e_r = np.where(rng.random((tr, k)) < nan_share, np.nan, rng.uniform(-1, 1, (tr, k)) * scale)
    e_r[rng.random((tr, k)) < 0.2] = scale
    want = [a.copy() for a in (s_r, d_r, e_r)]
    old_fill(*want, fill, judged)
    for values in (s_r.reshape(tr, 1), d_r.reshape(tr, 1), e_r):
        fill_columns(values, fill, judged)
    for a, b in zip((s_r, d_r, e_r), want):
        assert _same(a, b)


def _prepared_fields(ref, usr):
    """Every array and value of a PreparedReference and a PreparedUser, for comparing bit for bit."""
    out = [ref.fps, ref.available.tobytes(), usr.observed.tobytes()]
    for seq in (ref.seq, usr.seq):
        out += [seq.keypoints.tobytes(), seq.confidences.tobytes(), seq.times.tobytes(), seq.fps, seq.name]
    for f in [ref.features] + [usr.features[m] for m in sorted(usr.features)]:
        out += [f.points.tobytes(), f.weights.tobytes(), f.valid.tobytes(), f.distance]
    return out + [usr.available[m].tobytes() for m in sorted(usr.available)]


@pytest.mark.parametrize("mirror", ["auto", "on", "off"])
def test_preparing_both_at_once_equals_one_after_the_other(monkeypatch, mirror):
    """_prepare_both with a worker thread (forced here: the code takes it when numba may use 2 threads) gives what
    prepare_reference then prepare_user give (NUMBA_NUM_THREADS=1: no worker), and so the same report."""
    from concurrent.futures import ThreadPoolExecutor

    from posesearch.sequence import score as sc
    from posesearch.sequence.simulate import degrade, synthetic_motion

    ref = synthetic_motion(6, 30, seed=1)
    user = degrade(ref, seed=2)
    st = sc.ScoreSettings(mirror=mirror)
    want_ref = sc.prepare_reference(ref, st)
    want = _prepared_fields(want_ref, sc.prepare_user(user, want_ref.fps, st))
    want_report = sc.score_sequence(ref, user, settings=st).to_dict()
    with ThreadPoolExecutor(max_workers=1) as pool:
        monkeypatch.setattr(sc, "_worker", lambda: pool)
        assert _prepared_fields(*sc._prepare_both(ref, user, st, None)) == want
        assert sc.score_sequence(ref, user, settings=st).to_dict() == want_report
    monkeypatch.setattr(sc, "_worker", lambda: None)
    assert _prepared_fields(*sc._prepare_both(ref, user, st, None)) == want


@pytest.mark.parametrize("threaded", [True, False])
def test_preparing_both_at_once_raises_what_one_after_the_other_raises(monkeypatch, threaded):
    """The reference's error first (even when the user's preparation, running beside it, fails too), then the
    user's; with and without the worker thread."""
    from concurrent.futures import ThreadPoolExecutor

    from posesearch.sequence import score as sc

    def seq(name, joints):
        cf = np.zeros((20, 17))
        cf[:, :joints] = 1.0
        kp = np.random.default_rng(0).normal(0, 1, (20, 17, 2))
        return Sequence(kp, cf, "coco17", None, 30.0, name=name)

    st = sc.ScoreSettings()
    with ThreadPoolExecutor(max_workers=1) as pool:
        monkeypatch.setattr(sc, "_worker", lambda: pool if threaded else None)
        with pytest.raises(InvalidPoseError, match="^reference: no frame has 3"):
            sc._prepare_both(seq("reference", 2), seq("user", 2), st, None)
        with pytest.raises(InvalidPoseError, match="^user: no frame has 3"):
            sc._prepare_both(seq("reference", 17), seq("user", 2), st, None)
        with pytest.raises(InvalidPoseError, match="^reference: expected at least 2 frames"):
            sc._prepare_both(seq("reference", 17).slice(0, 1), seq("user", 2), st, None)


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 40), patterns=hst.integers(1, 4), rts=hst.booleans(),
       odd=hst.sampled_from(["none", "negative zero", "tiny", "underflow"]))
def test_kalman_groups_bit_identical_to_per_coordinate_filter(seed, t, patterns, rts, odd):
    """kalman_frames shares covariances and gains among joints with equal confidence columns (all of mocap's, a
    joint's two coordinates, joints hidden together): each coordinate must still get main's per-coordinate filter."""
    from posesearch.sequence._smooth_kernels import _column_groups, kalman_frames

    rng = np.random.default_rng(seed)
    k = 17
    shapes = [np.ones(t), (rng.random(t) < 0.7).astype(float), rng.uniform(0, 1, t) * (rng.random(t) < 0.8),
              np.where(rng.random(t) < 0.5, 0.0, 0.6)]
    cf = np.stack([shapes[i] for i in rng.integers(0, patterns, k)], axis=1)
    if odd == "negative zero":      # -0.0 and 0.0 compare equal and are both "missing": one group is right
        cf[:, 0] = np.where(cf[:, 0] == 0.0, -0.0, cf[:, 0])
    elif odd == "tiny":
        cf[0, :] = 1e-200           # below the 1e-12 floor
    z = rng.normal(0, 0.5, (t, k, 2))
    times = np.cumsum(rng.uniform(0.01, 0.2, t))
    sd, q, v0 = (1e-150, 1e-300, 1e-300) if odd == "underflow" else (0.02, 5.0, 1.0)
    s2 = sd ** 2                    # as kalman_smooth and _measurement_variance square it
    r = sm._measurement_variance(cf, 1.0, sd)
    want = old_kalman_batch(np.ascontiguousarray(z.reshape(t, 2 * k)), np.ascontiguousarray(r), times, q, v0,
                            rts).reshape(t, k, 2)
    got = kalman_frames(z, cf, times, s2, q, v0, rts)
    assert _same(got, want)
    group, rep = _column_groups(cf)
    assert len(rep) <= patterns + (odd == "negative zero") and (cf[:, rep[group]] == cf).all()


def old_restrict_joints(features, keep):
    """main's restrict_joints: always new features unless every joint is kept."""
    from posesearch.sequence.framedist import MIN_COMMON, FrameFeatures

    if keep.all():
        return features
    w = np.where(keep[None, :], features.weights, 0.0)
    valid = features.valid & ((w > 0).sum(axis=1) >= MIN_COMMON)
    return FrameFeatures(features.points, np.where(valid[:, None], w, 0.0), valid, features.distance)


@settings(max_examples=100, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 20), missing=hst.sampled_from([0.0, 0.5]),
       never=hst.integers(0, 3), leave_out=hst.integers(0, 4),
       distance=hst.sampled_from(["procrustes", "pair-weighted"]), negative_zero=hst.booleans())
def test_restrict_joints_keeps_the_features_when_nothing_changes(seed, t, missing, never, leave_out, distance,
                                                                  negative_zero):
    """restrict_joints hands back the features themselves (and so their cached shortcut arrays, computed while
    preparing) exactly when leaving the joints out changes no number, bit for bit."""
    from posesearch.sequence.framedist import frame_features, restrict_joints

    seq = _random_sequence(seed, t, 17, 1.0, missing, True)
    cf = seq.confidences.copy()
    cf[:, :never] = 0.0                 # joints never seen (a layout without them)
    seq = seq.replace(confidences=cf)
    feats = frame_features(seq, distance)
    if negative_zero and never:
        feats.weights[:, 0] = -0.0      # "never seen" but not +0.0: restricting makes it +0.0, a new array
    keep = np.ones(17, bool)
    keep[:leave_out] = False
    got, want = restrict_joints(feats, keep), old_restrict_joints(feats, keep)
    assert _same(got.weights, want.weights) and _same(got.valid, want.valid) and got.points is feats.points
    unchanged = _same(want.weights, feats.weights) and _same(want.valid, feats.valid)
    assert (got is feats) == unchanged
    if leave_out and negative_zero and never:
        assert got is not feats and not unchanged
    elif leave_out <= never:            # only never-seen joints left out: the features themselves
        assert got is feats


def old_run_medians(path, user_times):
    """main's fit_timing up to the line fit: runs of the path by numpy."""
    r = path[:, 0]
    ut = user_times[path[:, 1]] - user_times[0]
    if len(r) > 1 and (r[1:] >= r[:-1]).all():
        start = np.flatnonzero(np.concatenate(([True], r[1:] != r[:-1])))
        refs, count = r[start], np.diff(np.append(start, len(r)))
    else:
        refs, start, count = np.unique(r, return_index=True, return_counts=True)
    return refs, 0.5 * (ut[start + (count - 1) // 2] + ut[start + count // 2])


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tr=hst.integers(1, 40), extra=hst.integers(0, 40),
       order=hst.sampled_from(["sorted", "shuffled"]), times=hst.sampled_from(["float", "int", "offset"]))
def test_fit_timing_bit_identical_to_main(seed, tr, extra, order, times):
    from posesearch.sequence.align import _run_medians, _timing_line, fit_timing

    rng = np.random.default_rng(seed)
    r = np.sort(np.concatenate([np.arange(tr), rng.integers(0, tr, extra)]))
    u = np.sort(rng.integers(0, tr + extra + 5, len(r)))
    path = np.stack([r, u], 1).astype(np.int64)
    if order == "shuffled":
        path = path[rng.permutation(len(path))]
    tu = np.cumsum(rng.uniform(0.01, 0.1, tr + extra + 5))
    ref_times = np.arange(tr) / 30.0
    if times == "int":
        tu = np.arange(len(tu)) * 3
    elif times == "offset":
        tu = tu + 1e6
    want, got = old_run_medians(path, tu), _run_medians(path, tu)
    assert _same(got[0], want[0]) and _same(got[1], want[1])
    assert [v.hex() for v in fit_timing(path, ref_times, tu)] == [v.hex() for v in _timing_line(*want, ref_times)]


@settings(max_examples=100, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tr=hst.sampled_from([1, 7, 130, 1801, 5000]), patterns=hst.integers(1, 4),
       unseen=hst.sampled_from([0.0, 0.3, 1.0]))
def test_seen_means_bit_identical_to_one_joint_at_a_time(seed, tr, patterns, unseen):
    """The joint scores' means, taken for all joints seen at the same moments at once: main's per-joint
    ``values[k][seen].mean()`` bits (numpy sums each row of a C-contiguous array as it sums that row alone)."""
    from posesearch.sequence.score import _seen_means

    rng = np.random.default_rng(seed)
    masks = rng.random((patterns, tr)) >= unseen
    seen = masks[rng.integers(0, patterns, 17)]
    values = np.where(seen, rng.uniform(0, 100, (17, tr)) ** rng.uniform(0.5, 2), np.nan)
    want = [float(values[k][seen[k]].mean()) if seen[k].any() else None for k in range(17)]
    got = _seen_means(values, seen)
    assert [None if v is None else v.hex() for v in got] == [None if v is None else v.hex() for v in want]


def numpy_procrustes_features(kp, cf, min_common):
    """procrustes_features' formulas with numpy, over all frames at once and joint by joint in the kernel's order."""
    T, K = cf.shape
    ws, mx, my, n = np.zeros(T), np.zeros(T), np.zeros(T), np.zeros(T, np.int64)
    for k in range(K):
        w, on = cf[:, k], cf[:, k] > 0
        ws, n = np.where(on, ws + w, ws), n + on
        mx, my = np.where(on, mx + w * kp[:, k, 0], mx), np.where(on, my + w * kp[:, k, 1], my)
    safe = np.where(ws > 0, ws, 1.0)
    mx, my = mx / safe, my / safe
    ss, pts = np.zeros(T), np.zeros((T, K, 2))
    for k in range(K):
        w, on = cf[:, k], cf[:, k] > 0
        cx, cy = kp[:, k, 0] - mx, kp[:, k, 1] - my
        pts[:, k, 0], pts[:, k, 1] = np.where(on, cx, 0.0), np.where(on, cy, 0.0)
        ss = np.where(on, ss + (w * cx * cx + w * cy * cy), ss)
    rad = np.sqrt(ss / safe)
    valid = (n >= min_common) & (rad > 0)
    pts /= np.where(rad > 0, rad, 1.0)[:, None, None]
    return pts, np.where(valid[:, None] & (cf > 0), cf, 0.0), valid


@settings(max_examples=100, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), t=hst.integers(1, 40), k=hst.sampled_from([13, 17, 25]),
       missing=hst.sampled_from([0.0, 0.3, 0.9]), low_conf=hst.booleans(), magnitude=hst.sampled_from([1.0, 1e-200]))
def test_procrustes_features_bit_identical_to_their_formulas(seed, t, k, missing, low_conf, magnitude):
    from posesearch.sequence._align_kernels import procrustes_features

    seq = _random_sequence(seed, t, k, magnitude, missing, low_conf)
    got = procrustes_features(seq.keypoints, seq.confidences, 3)
    for a, b in zip(got, numpy_procrustes_features(seq.keypoints, seq.confidences, 3)):
        assert _same(a, b)


def old_moments(path, dist, err, w, tr, curve, observed, valid, held=None):
    """main's _moments (numpy: np.bincount sums, np.interp per column)."""
    r = path[:, 0]
    if observed is not None and held is not None:
        observed = observed | held
    use = observed if observed is not None and (observed & valid[r]).any() else np.ones(len(r), bool)
    cnt = np.bincount(r, weights=use.astype(np.float64), minlength=tr)
    bad = ~np.isfinite(dist)
    d0 = np.where(bad, 0.0, dist)
    pair_score = np.where(bad, 0.0, curve.score(d0))
    if held is not None:
        pair_score = np.where(held, 0.0, pair_score)
    s_r = np.bincount(r, weights=np.where(use, pair_score, 0.0), minlength=tr) / np.maximum(cnt, 1)
    d_cnt = np.bincount(r, weights=(use & ~bad).astype(np.float64), minlength=tr)
    d_r = np.bincount(r, weights=np.where(use, d0, 0.0), minlength=tr) / np.maximum(d_cnt, 1)
    d_r = np.where(d_cnt > 0, d_r, np.nan)
    e_sum, w_sum = old_joint_sums(r, err, w, use, tr)
    e_r = np.full((tr, err.shape[1]), np.nan)
    np.divide(e_sum, w_sum, out=e_r, where=w_sum > 0)
    judged = (cnt > 0) & valid
    on_path = np.zeros(tr, bool)
    on_path[r] = True
    fill = on_path & ~judged
    if fill.any() and judged.any():
        old_fill(s_r, d_r, e_r, fill, judged)
    return d_r, s_r, e_r


@settings(max_examples=150, deadline=None)
@given(seed=hst.integers(0, 2 ** 31), tr=hst.integers(1, 30), extra=hst.integers(0, 30),
       nan_share=hst.sampled_from([0.0, 0.3, 1.0]), observed=hst.sampled_from(["none", "some", "all"]),
       held=hst.booleans(), gaps=hst.booleans())
def test_moments_bit_identical_to_main(seed, tr, extra, nan_share, observed, held, gaps):
    from posesearch.sequence.score import CALIBRATION, _moments, held_pairs

    rng = np.random.default_rng(seed)
    r = np.sort(np.concatenate([np.arange(tr), rng.integers(0, tr, extra)]))
    if gaps:                                # reference frames the path skips (NW gaps before _fill_gaps)
        r = r[(r % 4 != 2) | (r == 0)]
    path = np.stack([r, np.arange(len(r)) // 2], 1).astype(np.int64)
    P, K = len(path), 17
    dist = np.where(rng.random(P) < nan_share, np.nan, rng.uniform(0, 1, P))
    dist[rng.random(P) < 0.05] = np.inf
    err = np.where(rng.random((P, K)) < nan_share, np.nan, rng.uniform(0, 2, (P, K)))
    w = rng.uniform(0, 1, (P, K)) * (rng.random((P, K)) > 0.2)
    obs = {"none": None, "some": rng.random(P) < 0.4, "all": np.ones(P, bool)}[observed]
    valid = rng.random(tr) < 0.9
    hp = held_pairs(path) if held else None
    want = old_moments(path, dist, err, w, tr, CALIBRATION["procrustes"], obs, valid, hp)
    got = _moments(path, dist, err, w, tr, CALIBRATION["procrustes"], obs, valid, hp)
    for a, b in zip(got, want):
        assert _same(a, b)
