"""Smoothing: Kalman (+RTS) and One Euro against straightforward reference implementations."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

from posesearch.errors import InvalidArgumentError, UnknownNameError
from posesearch.sequence import Sequence
from posesearch.sequence.smooth import (KalmanSettings, OneEuroSettings, OnlineSmoother, kalman_smooth,
                                        one_euro_smooth, smooth)


def _seq(z, conf=None, times=None):
    """(T,) or (T, K, 2) values into a Sequence (1-D: keypoint 0's x, other keypoints fixed)."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 1:
        kp = np.zeros((len(z), 17, 2))
        kp[:, :, 0] = np.arange(17) * 10.0
        kp[:, :, 1] = 5.0
        kp[:, 0, 0] = z
    else:
        kp = z
    cf = np.ones(kp.shape[:2]) if conf is None else conf
    t = np.arange(len(kp)) / 30.0 if times is None else times
    return Sequence(kp, cf, "coco17", t, None)


# ------------------------------------------------------------------------- reference implementations
def ref_kalman(z, r, times, q, v0var, rts):
    """Textbook matrix Kalman filter + RTS for one coordinate (r = inf where missing)."""
    T = len(z)
    xs, Ps, xps, Pps, init = [None] * T, [None] * T, [None] * T, [None] * T, [False] * T
    x = P = None
    for t in range(T):
        dt = times[t] - times[t - 1] if t else 0.0
        if x is not None:
            F = np.array([[1, dt], [0, 1]])
            Q = q * np.array([[dt ** 3 / 3, dt ** 2 / 2], [dt ** 2 / 2, dt]])
            x = F @ x
            P = F @ P @ F.T + Q
            xps[t], Pps[t] = x.copy(), P.copy()
        if np.isfinite(r[t]):
            if x is None:
                x = np.array([z[t], 0.0])
                P = np.diag([r[t], v0var])
            else:
                H = np.array([[1.0, 0.0]])
                S = (H @ P @ H.T)[0, 0] + r[t]
                K = (P @ H.T)[:, 0] / S
                x = x + K * (z[t] - x[0])
                P = (np.eye(2) - np.outer(K, H[0])) @ P
        if x is not None:
            init[t] = True
            xs[t], Ps[t] = x.copy(), P.copy()
    out = np.array([v[0] if v is not None else 0.0 for v in xs])
    if not rts:
        return out
    sm = [v.copy() if v is not None else None for v in xs]
    for t in range(T - 2, -1, -1):
        if not init[t]:
            continue
        dt = times[t + 1] - times[t]
        F = np.array([[1, dt], [0, 1]])
        C = Ps[t] @ F.T @ np.linalg.inv(Pps[t + 1])
        sm[t] = xs[t] + C @ (sm[t + 1] - xps[t + 1])
    return np.array([v[0] if v is not None else 0.0 for v in sm])


def ref_one_euro(pts, present, times, min_cutoff, beta, d_cutoff):
    """One Euro per keypoint (2-D speed), as in the module formulas; pts (T, 2)."""
    out = pts.copy()
    xh = dxh = None
    t0 = None
    for t in range(len(pts)):
        if not present[t]:
            continue
        if xh is None:
            xh, dxh, t0 = pts[t].copy(), np.zeros(2), times[t]
            continue
        dt = times[t] - t0
        alpha = lambda fc: 1.0 / (1.0 + 1.0 / (2 * math.pi * fc * dt))  # noqa: E731
        dxh = alpha(d_cutoff) * (pts[t] - xh) / dt + (1 - alpha(d_cutoff)) * dxh
        a = alpha(min_cutoff + beta * np.hypot(*dxh))
        xh = a * pts[t] + (1 - a) * xh
        out[t] = xh
        t0 = times[t]
    return out


# -------------------------------------------------------------------------------------------- tests
def test_kalman_first_two_steps_by_hand():
    z = [100.0, 110.0]
    s = _seq(z)
    L = s.body_size()
    st = KalmanSettings(measurement_noise=0.02, process_noise=20.0, initial_speed=1.0, rts=False)
    out = kalman_smooth(s, st).keypoints[:, 0, 0]
    R = (0.02 * L) ** 2
    V = (1.0 * L) ** 2
    q = 20.0 * L * L
    dt = 1 / 30
    p00 = R + dt * dt * V + q * dt ** 3 / 3
    k0 = p00 / (p00 + R)
    assert out[0] == pytest.approx(100.0)
    assert out[1] == pytest.approx(100.0 + k0 * 10.0)


@pytest.mark.parametrize("rts", [False, True])
def test_kalman_matches_textbook_with_missing_low_confidence_and_irregular_times(rts):
    rng = np.random.default_rng(3)
    T = 40
    times = np.cumsum(rng.uniform(0.01, 0.1, T))
    z = np.cumsum(rng.normal(0, 3, T)) + 200
    conf = rng.choice([0.0, 0.2, 0.7, 1.0], T, p=[0.2, 0.2, 0.2, 0.4])
    conf[:2] = 0.0                                # not initialised at first
    cf = np.ones((T, 17))
    cf[:, 0] = conf
    s = _seq(z, cf, times)
    st = KalmanSettings(rts=rts)
    got = kalman_smooth(s, st).keypoints[:, 0, 0]
    L = s.body_size()
    r = np.where(conf > 0, (st.measurement_noise * L) ** 2 / np.maximum(conf, 1e-12) ** 2, np.inf)
    want = ref_kalman(z, r, times, st.process_noise * L * L, (st.initial_speed * L) ** 2, rts)
    present = conf > 0
    assert np.allclose(got[present], want[present], rtol=1e-10, atol=1e-8)
    assert (got[~present] == 0).all()            # missing stays missing


def test_missing_keypoint_is_skipped_not_zero():
    z = np.full(30, 300.0)
    cf = np.ones((30, 17))
    cf[10:15, 0] = 0.0
    for method in ("kalman", "one-euro"):
        out = smooth(_seq(z, cf), method)
        assert (out.confidences == cf).all()
        assert np.allclose(out.keypoints[cf[:, 0] > 0, 0, 0], 300.0)
        assert (out.keypoints[10:15, 0] == 0).all()


def test_low_confidence_outlier_moves_less():
    z = np.full(21, 100.0)
    z[10] = 160.0
    cf_hi = np.ones((21, 17))
    cf_lo = cf_hi.copy()
    cf_lo[10, 0] = 0.05
    hi = kalman_smooth(_seq(z, cf_hi)).keypoints[10, 0, 0]
    lo = kalman_smooth(_seq(z, cf_lo)).keypoints[10, 0, 0]
    assert 100.0 < lo < hi


def test_one_euro_matches_reference_with_irregular_times():
    rng = np.random.default_rng(7)
    T = 50
    times = np.cumsum(rng.uniform(0.01, 0.08, T))
    kp = np.cumsum(rng.normal(0, 4, (T, 17, 2)), axis=0) + 300
    cf = np.ones((T, 17))
    cf[rng.random((T, 17)) < 0.15] = 0.0
    cf[0] = 1.0
    s = Sequence(kp, cf, "coco17", times, None)
    st = OneEuroSettings(min_cutoff=1.2, beta=0.8, d_cutoff=1.0)
    got = one_euro_smooth(s, st)
    L = s.body_size()
    for k in (0, 5, 16):
        pres = cf[:, k] > 0
        want = ref_one_euro(s.keypoints[:, k], pres, times, st.min_cutoff, st.beta / L, st.d_cutoff)
        assert np.allclose(got.keypoints[pres, k], want[pres], rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("method", ["kalman", "one-euro", "none"])
def test_online_smoother_equals_causal_batch(method):
    rng = np.random.default_rng(1)
    T = 60
    times = np.cumsum(rng.uniform(0.02, 0.06, T))
    kp = np.cumsum(rng.normal(0, 4, (T, 17, 2)), axis=0) + 300
    cf = np.where(rng.random((T, 17)) < 0.1, 0.0, rng.uniform(0.3, 1, (T, 17)))
    cf[0] = 1.0
    s = Sequence(kp, cf, "coco17", times, None)
    L = s.body_size()
    batch = smooth(s, method, kalman=KalmanSettings(rts=False), scale=L)
    online = OnlineSmoother(17, L, method, kalman=KalmanSettings(rts=False))
    out = np.array([online.step(s.keypoints[t], s.confidences[t], times[t]) for t in range(T)])
    pres = s.present
    assert np.allclose(out[pres], batch.keypoints[pres], rtol=1e-12, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=hst.integers(0, 10_000), method=hst.sampled_from(["kalman", "one-euro"]))
def test_smoothing_reduces_jitter_on_smooth_motion(seed, method):
    """Property: on a slow smooth motion with 2% noise, every filter lowers the RMS error."""
    rng = np.random.default_rng(seed)
    T = 120
    t = np.arange(T) / 30
    base = rng.uniform(100, 400, (17, 2))
    amp = rng.uniform(10, 40, (17, 2))
    clean = base + amp * np.sin(2 * np.pi * 0.5 * t[:, None, None] + rng.uniform(0, 6, (17, 2)))
    s0 = Sequence(clean, np.ones((T, 17)), "coco17", t, 30.0)
    noisy = clean + rng.normal(0, 0.02 * s0.body_size(), clean.shape)
    out = smooth(Sequence(noisy, np.ones((T, 17)), "coco17", t, 30.0), method)
    raw = np.sqrt(((noisy - clean) ** 2).mean())
    assert np.sqrt(((out.keypoints - clean) ** 2).mean()) < 0.9 * raw


def test_settings_errors():
    with pytest.raises(InvalidArgumentError, match="kalman.process_noise"):
        KalmanSettings(process_noise=0)
    with pytest.raises(InvalidArgumentError, match="one_euro.beta"):
        OneEuroSettings(beta=-1)
    with pytest.raises(InvalidArgumentError, match="one_euro.min_cutoff"):
        OneEuroSettings(min_cutoff=float("inf"))
    with pytest.raises(UnknownNameError, match="unknown smoother 'gauss'"):
        smooth(_seq([1.0, 2.0]), "gauss")
