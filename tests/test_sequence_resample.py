"""Resampling: hold / linear / cubic (PCHIP) per keypoint, gaps, ends, confidences."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst
from scipy.interpolate import PchipInterpolator

from posesearch.errors import InvalidArgumentError, InvalidPoseError, UnknownNameError
from posesearch.sequence import Sequence
from posesearch.sequence.resample import pchip_slopes, regular_times, resample, resample_to_fps


def _two_samples():
    kp = np.zeros((2, 17, 2))
    kp[:, :, 1] = 7.0
    kp[1, :, 0] = 10.0
    cf = np.ones((2, 17))
    cf[1] = 0.5
    return Sequence(kp, cf, "coco17", [0.0, 1.0], None)


def test_hand_case_hold_linear_cubic():
    s = _two_samples()
    tg = [0.0, 0.25, 1.0]
    lin = resample(s, tg, method="linear", max_gap=2)
    assert lin.keypoints[:, 3, 0].tolist() == pytest.approx([0, 2.5, 10])
    assert lin.confidences[:, 3].tolist() == pytest.approx([1, 0.875, 0.5])
    hold = resample(s, tg, method="hold", max_gap=2)
    assert hold.keypoints[:, 3, 0].tolist() == pytest.approx([0, 0, 10])
    assert hold.confidences[:, 3].tolist() == pytest.approx([1, 1, 0.5])
    cub = resample(s, tg, method="cubic", max_gap=2)       # two samples: PCHIP is the straight line
    assert cub.keypoints[:, 3, 0].tolist() == pytest.approx([0, 2.5, 10])


@pytest.mark.parametrize("method", ["hold", "linear", "cubic"])
def test_gaps_longer_than_max_gap_and_ends_stay_missing(method):
    s = _two_samples()
    out = resample(s, [-0.5, 0.0, 0.5, 1.0, 1.5], method=method, max_gap=0.9)
    # before the first / after the last sample: missing; across a 1 s gap > 0.9 s: missing
    assert out.confidences[:, 0].tolist() == [0, 1, 0, 0.5, 0]
    assert (out.keypoints[[0, 2, 4]] == 0).all()


def test_missing_samples_are_skipped_per_keypoint():
    kp = np.zeros((3, 17, 2))
    kp[:, :, 0] = np.array([0.0, 99.0, 20.0])[:, None]
    cf = np.ones((3, 17))
    cf[1, 4] = 0.0                                   # keypoint 4 missing in the middle frame
    s = Sequence(kp, cf, "coco17", [0.0, 0.1, 0.2], None)
    out = resample(s, [0.1], method="linear", max_gap=0.25)
    assert out.keypoints[0, 4, 0] == pytest.approx(10.0)       # bridged over the hole, not 99 or 0
    assert out.keypoints[0, 3, 0] == pytest.approx(99.0)       # present: exact hit
    out = resample(s, [0.1], method="linear", max_gap=0.15)
    assert out.confidences[0, 4] == 0.0


def test_identity_on_own_times_and_float_grids():
    rng = np.random.default_rng(0)
    T = 31
    s = Sequence(rng.uniform(0, 100, (T, 17, 2)), np.ones((T, 17)), "coco17", None, 30.0)
    for m in ("hold", "linear", "cubic"):
        r = resample(s, np.arange(T) * (1 / 30), method=m)    # i * (1/30) != i / 30 in floats
        assert np.array_equal(r.keypoints, s.keypoints) and np.array_equal(r.confidences, s.confidences)
    assert len(resample_to_fps(s, 30.0)) == T


def test_cubic_equals_scipy_pchip():
    rng = np.random.default_rng(5)
    T = 25
    times = np.cumsum(rng.uniform(0.02, 0.1, T))
    kp = rng.normal(0, 50, (T, 17, 2))
    s = Sequence(kp, np.ones((T, 17)), "coco17", times, None)
    tg = np.linspace(times[0], times[-1], 97)
    out = resample(s, tg, method="cubic", max_gap=1.0)
    want = PchipInterpolator(times, kp, axis=0)(tg)
    assert np.allclose(out.keypoints, want, atol=1e-9)


def test_cubic_runs_are_independent_across_long_gaps():
    """Each run between long gaps is its own PCHIP (scipy on that run alone)."""
    rng = np.random.default_rng(2)
    times = np.array([0, 0.1, 0.2, 0.3, 1.0, 1.1, 1.25, 1.3])
    kp = rng.normal(0, 10, (8, 17, 2))
    s = Sequence(kp, np.ones((8, 17)), "coco17", times, None)
    tg = np.array([0.05, 0.15, 0.25, 0.6, 1.05, 1.2, 1.28])
    out = resample(s, tg, method="cubic", max_gap=0.2)
    a = PchipInterpolator(times[:4], kp[:4], axis=0)(tg[:3])
    b = PchipInterpolator(times[4:], kp[4:], axis=0)(tg[4:])
    assert np.allclose(out.keypoints[:3], a) and np.allclose(out.keypoints[4:], b)
    assert out.confidences[3].max() == 0


def test_pchip_slopes_two_point_runs():
    ts = np.array([0.0, 1.0, 5.0, 6.0])
    ys = np.array([[0.0], [2.0], [0.0], [-3.0]])
    d = pchip_slopes(ts, ys, np.array([True, False, True]))
    assert d[:, 0].tolist() == pytest.approx([2, 2, -3, -3])


@settings(max_examples=40, deadline=None)
@given(seed=hst.integers(0, 100_000), n=hst.integers(2, 12))
def test_cubic_never_overshoots(seed, n):
    """Property (PCHIP): every interpolated value lies between its two neighbouring samples."""
    rng = np.random.default_rng(seed)
    times = np.cumsum(rng.uniform(0.01, 0.2, n))
    kp = rng.normal(0, 30, (n, 17, 2))
    s = Sequence(kp, np.ones((n, 17)), "coco17", times, None)
    tg = np.sort(rng.uniform(times[0], times[-1], 50))
    out = resample(s, tg, method="cubic", max_gap=10)
    j = np.clip(np.searchsorted(times, tg, side="right") - 1, 0, n - 2)
    lo = np.minimum(kp[j], kp[j + 1]) - 1e-9
    hi = np.maximum(kp[j], kp[j + 1]) + 1e-9
    assert ((out.keypoints >= lo) & (out.keypoints <= hi)).all()


@settings(max_examples=30, deadline=None)
@given(seed=hst.integers(0, 100_000), method=hst.sampled_from(["hold", "linear", "cubic"]))
def test_confidence_in_range_and_missing_means_zero(seed, method):
    rng = np.random.default_rng(seed)
    n = 15
    times = np.cumsum(rng.uniform(0.01, 0.3, n))
    cf = np.where(rng.random((n, 17)) < 0.3, 0.0, rng.uniform(0.1, 1, (n, 17)))
    cf[0, 0] = 1
    s = Sequence(rng.normal(0, 30, (n, 17, 2)), cf, "coco17", times, None)
    out = resample(s, np.linspace(times[0] - 0.1, times[-1] + 0.1, 40), method=method, max_gap=0.25)
    assert ((out.confidences >= 0) & (out.confidences <= 1)).all()
    assert (out.keypoints[out.confidences == 0] == 0).all()


def test_regular_times():
    assert regular_times(1.0, 1.3, 10).tolist() == pytest.approx([1.0, 1.1, 1.2, 1.3])
    assert len(regular_times(0.0, 0.05, 10)) == 1


def test_errors():
    s = _two_samples()
    with pytest.raises(UnknownNameError, match="interpolation 'spline'"):
        resample(s, [0.5], method="spline")
    with pytest.raises(InvalidArgumentError, match="max_gap"):
        resample(s, [0.5], max_gap=0)
    with pytest.raises(InvalidArgumentError, match="strictly increasing"):
        resample(s, [0.5, 0.2], max_gap=2)
    with pytest.raises(InvalidPoseError, match="all keypoints are missing"):
        resample(s, [5.0, 6.0])                   # no overlap with the sequence: nothing to show
