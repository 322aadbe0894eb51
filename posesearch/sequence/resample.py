"""Resampling a sequence onto other frame times (missing frames, other frame rates).

Every keypoint is interpolated on its own, over the frames where it is present, driven by the frame
times (irregular times and dropped frames are fine). For a target time ``t`` let ``a`` be the last
present sample at or before ``t`` and ``b`` the first after it:

* an exact hit (``|t_a - t| <= 1e-6`` s, so that float grids such as ``i / 30`` and ``i * (1/30)``
  agree) takes sample ``a`` as it is;
* otherwise the keypoint is present only if both ``a`` and ``b`` exist and ``t_b - t_a <= max_gap``:
  longer gaps stay missing (confidence 0) rather than being invented, and nothing is extrapolated
  before the first or after the last sample;
* ``hold``: sample-and-hold (the value and confidence of ``a``: a time remapping, no new poses);
* ``linear``: ``z = (1 - w) z_a + w z_b`` with ``w = (t - t_a) / (t_b - t_a)``;
* ``cubic``: monotone piecewise-cubic Hermite interpolation (PCHIP, Fritsch-Carlson derivatives,
  the same as :class:`scipy.interpolate.PchipInterpolator`) over each run of samples whose gaps are
  all <= max_gap. PCHIP rather than a cubic spline because it never overshoots the samples (a
  spline rings between sparse or irregular samples and invents poses beyond those observed) and a
  bad sample only affects its neighbouring intervals;
* confidences are interpolated linearly (``hold``: carried from ``a``).

``hold`` and ``linear`` run in numba (:func:`._resample_kernels.resample_frames`, one pass per keypoint);
``cubic`` is vectorised over frames with numpy, with a Python loop over the K keypoints.

Size bound: one number (a frame rate of 1e9, frame times 10^6 s apart) can ask for billions of target
frames. :func:`regular_times` and :func:`resample` refuse more than ``max_frames`` target frames
(default :data:`MAX_FRAMES`, one hour at 30 fps; ``None`` = no bound) with a one-line
:class:`~posesearch.errors.InvalidArgumentError` *before* allocating anything.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import InvalidArgumentError, check_finite_positive
from ..registry import Registry
from .sequence import Sequence, _check_times

INTERPOLATIONS = Registry("interpolation", ("hold", "linear", "cubic"),
                          aliases={"pchip": "cubic", "sample-and-hold": "hold"})
DEFAULT_MAX_GAP = 0.25
TIME_TOLERANCE = 1e-6   # seconds: a target this close to a sample time is that sample (float grids)
#: Most target frames a resampling may produce (one hour at 30 fps; ~17 kB per frame of COCO-17 output
#: plus the caller's copies). ScoreSettings.max_frames passes its own bound.
MAX_FRAMES = 108_000


def check_max_frames(max_frames) -> int | None:
    """``max_frames`` as a positive int (None = unbounded); InvalidArgumentError otherwise."""
    if max_frames is None:
        return None
    if isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 1:
        raise InvalidArgumentError(f"max_frames: expected a positive whole number of frames or None, "
                                   f"got {max_frames!r}")
    return int(max_frames)


def grid_length(start: float, stop: float, fps: float) -> float:
    """How many frames the regular grid ``start + i / fps`` (i >= 0, <= stop) has, as a float (it may be
    astronomically large: callers compare it with a bound before allocating)."""
    span = (float(stop) - float(start)) * float(fps)
    if not math.isfinite(span):
        return math.inf
    return math.floor(span + 1e-6) + 1.0 if span > 0 else 1.0


def too_many_frames(what: str, n: float, max_frames: int, why: str = "") -> InvalidArgumentError:
    """The one-line error for a resampling that would make ``n`` > ``max_frames`` frames."""
    count = "more than 10^18" if not n < 1e18 else f"{int(n):,}"
    return InvalidArgumentError(f"{what}: {why}{count} frames, more than the maximum of {max_frames:,} "
                                f"(max_frames; check the frame rates and frame times)")


def check_interp(method: str) -> str:
    return INTERPOLATIONS.canonical(method)


def _edge_slope(h0, h1, m0, m1):
    """scipy's PCHIP end-point derivative (one-sided three-point estimate, shape-preserving)."""
    d = ((2.0 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    d = np.where(np.sign(d) != np.sign(m0), 0.0, d)
    big = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > np.abs(3.0 * m0))
    return np.where(big, 3.0 * m0, d)


def pchip_slopes(ts: np.ndarray, ys: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """PCHIP derivatives at samples ``ts`` (n,) of values ``ys`` (n, D), treating intervals with
    ``ok`` (n-1,) False as breaks (each run of ok intervals is interpolated on its own)."""
    n = len(ts)
    d = np.zeros_like(ys)
    if n < 2:
        return d
    h = np.diff(ts)[:, None]
    m = np.diff(ys, axis=0) / h
    okl = np.zeros(n, bool)   # the interval left of sample i is usable
    okr = np.zeros(n, bool)   # the interval right of sample i is usable
    okl[1:] = ok
    okr[:-1] = ok
    # interior samples: weighted harmonic mean of the two slopes, 0 at a local extremum
    i = np.flatnonzero(okl & okr)
    if i.size:
        m0, m1 = m[i - 1], m[i]
        h0, h1 = h[i - 1], h[i]
        w1 = 2.0 * h1 + h0
        w2 = h1 + 2.0 * h0
        same = (np.sign(m0) == np.sign(m1)) & (m0 != 0) & (m1 != 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            hm = (w1 + w2) / (w1 / m0 + w2 / m1)
        d[i] = np.where(same, hm, 0.0)
    # ends of runs: scipy's three-point end slope if the run has >= 3 samples, else the secant slope
    i = np.flatnonzero(okr & ~okl)          # left ends (okr[i] => i + 1 <= n - 1)
    d[i] = m[i]
    j = i[okr[i + 1]]
    d[j] = _edge_slope(h[j], h[j + 1], m[j], m[j + 1])
    i = np.flatnonzero(okl & ~okr)          # right ends (okl[i] => i >= 1)
    d[i] = m[i - 1]
    j = i[okl[i - 1]]
    d[j] = _edge_slope(h[j - 1], h[j - 2], m[j - 1], m[j - 2])
    return d


def _interp_keypoint(ts, zs, cs, target, method, max_gap):
    """One keypoint: samples (n,), (n, 2), (n,) -> values (M, 2), confidences (M,) (0 = missing). (zs may
    have any number of columns: keypoints sampled at the same times, with their confidences as columns.)"""
    n = len(ts)
    M = len(target)
    out = np.zeros((M, zs.shape[1]))
    conf = np.zeros(M)
    if n == 0:
        return out, conf
    j = np.searchsorted(ts, target + TIME_TOLERANCE, side="right")
    a = j - 1
    b = j
    has_a = a >= 0
    ac = np.clip(a, 0, n - 1)
    bc = np.clip(b, 0, n - 1)
    exact = has_a & (np.abs(ts[ac] - target) <= TIME_TOLERANCE)
    bridge = has_a & (b < n) & ~exact & ((ts[bc] - ts[ac]) <= max_gap)
    out[exact] = zs[ac[exact]]
    conf[exact] = cs[ac[exact]]
    if not bridge.any():
        return out, conf
    ia, ib = ac[bridge], bc[bridge]
    if method == "hold":
        out[bridge] = zs[ia]
        conf[bridge] = cs[ia]
        return out, conf
    h = ts[ib] - ts[ia]
    w = (target[bridge] - ts[ia]) / h
    conf[bridge] = (1.0 - w) * cs[ia] + w * cs[ib]
    if method == "linear":
        out[bridge] = (1.0 - w)[:, None] * zs[ia] + w[:, None] * zs[ib]
        return out, conf
    d = pchip_slopes(ts, zs, np.diff(ts) <= max_gap)
    s = w[:, None]
    h00 = (1 + 2 * s) * (1 - s) ** 2
    h10 = s * (1 - s) ** 2
    h01 = s * s * (3 - 2 * s)
    h11 = s * s * (s - 1)
    hh = h[:, None]
    out[bridge] = h00 * zs[ia] + h10 * hh * d[ia] + h01 * zs[ib] + h11 * hh * d[ib]
    return out, conf


def resample(seq: Sequence, times, *, method: str = "linear", max_gap: float = DEFAULT_MAX_GAP,
             fps: float | None = None, max_frames: int | None = MAX_FRAMES) -> Sequence:
    """Resample ``seq`` onto ``times`` (strictly increasing seconds); see the module rules.

    ``fps`` is recorded as the result's nominal rate. Raises if no keypoint is present at any of the
    target times (e.g. no overlap with the sequence's time span), or if there are more than
    ``max_frames`` target times.
    """
    m = check_interp(method)
    g = check_finite_positive("max_gap", max_gap)
    mf = check_max_frames(max_frames)
    target = np.asarray(times, dtype=np.float64)
    if target.ndim != 1 or target.size == 0:
        raise InvalidArgumentError(f"times: expected a non-empty 1-D array of seconds, got shape {target.shape}")
    if mf is not None and target.size > mf:
        raise too_many_frames(f"{seq.name}: resample", target.size, mf, "the target times are ")
    target = _check_times(target, len(target), f"{seq.name}: resample")
    if m != "cubic":        # numba, per keypoint and target time: the formulas of _interp_keypoint, the same values
        from ._resample_kernels import resample_frames

        kp, cf, clean = resample_frames(seq.times, np.ascontiguousarray(seq.keypoints),
                                        np.ascontiguousarray(seq.confidences), target, m == "linear", g, TIME_TOLERANCE)
        if clean:       # what validating would check and leave as it is (the times were checked above)
            return Sequence._computed(kp, cf, seq.layout, target, fps, seq.name)
        return Sequence(kp, cf, seq.layout, target, fps, seq.name)
    T, K = seq.confidences.shape
    kp = np.zeros((len(target), K, 2))
    cf = np.zeros((len(target), K))
    for k in range(K):
        idx = np.flatnonzero(seq.present[:, k])
        kp[:, k], cf[:, k] = _interp_keypoint(seq.times[idx], seq.keypoints[idx, k], seq.confidences[idx, k],
                                              target, m, g)
    return Sequence(kp, cf, seq.layout, target, fps, seq.name)


def regular_times(start: float, stop: float, fps: float, *, max_frames: int | None = MAX_FRAMES) -> np.ndarray:
    """``start + i / fps`` for i = 0, 1, ... while <= stop (up to a rounding tolerance); refuses a grid
    of more than ``max_frames`` frames before allocating it."""
    f = check_finite_positive("fps", fps)
    mf = check_max_frames(max_frames)
    n = grid_length(start, stop, f)
    if mf is not None and n > mf:
        raise too_many_frames("regular_times", n, mf,
                              f"{float(stop) - float(start):.6g} s at {f:.6g} fps would make ")
    return start + np.arange(int(n), dtype=np.float64) / f


def resample_to_fps(seq: Sequence, fps: float, *, method: str = "linear",
                    max_gap: float = DEFAULT_MAX_GAP, max_frames: int | None = MAX_FRAMES) -> Sequence:
    """Resample onto the regular grid ``t_0 + i / fps`` spanning the sequence's own times (at most
    ``max_frames`` frames, checked before allocating)."""
    f = check_finite_positive("fps", fps)
    mf = check_max_frames(max_frames)
    n = grid_length(seq.times[0], seq.times[-1], f)
    if mf is not None and n > mf:
        raise too_many_frames(seq.name, n, mf, f"resampling its {seq.duration:.6g} s to {f:.6g} fps would make ")
    return resample(seq, regular_times(seq.times[0], seq.times[-1], f, max_frames=mf), method=method,
                    max_gap=max_gap, fps=f, max_frames=mf)
