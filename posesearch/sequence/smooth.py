"""Keypoint smoothing: a confidence-aware constant-velocity Kalman filter (+ RTS smoother) and the One Euro filter.

Both work per keypoint coordinate, driven by the frame *times* (irregular spacing and dropped frames
are fine), in units of the sequence's body size ``L`` (:meth:`Sequence.body_size`, the median
bounding-box diagonal) so that the settings do not depend on pixels. A missing keypoint
(confidence 0) is a skipped update, never a zero measurement, and stays missing in the output:
smoothing moves present keypoints only and never invents one. Confidences pass through unchanged.

Kalman (per coordinate, state ``[p, v]``, time step ``dt``)::

    predict:  p <- p + v dt,   P <- F P F' + Q,   F = [[1, dt], [0, 1]],
              Q = q L^2 [[dt^3/3, dt^2/2], [dt^2/2, dt]]          (white-noise acceleration)
    update:   R = (sigma L / c)^2                                  (noise grows as confidence c falls)
              K = P H' / (H P H' + R),  H = [1, 0];   x <- x + K (z - p),   P <- (I - K H) P
    start:    at a coordinate's first present sample, p = z, v = 0, P = diag(R, (v0 L)^2)

with ``q = process_noise``, ``sigma = measurement_noise``, ``v0 = initial_speed``. The offline
Rauch-Tung-Striebel pass (``rts=True``) then runs backwards,
``x_s[t] = x_f[t] + C (x_s[t+1] - x_p[t+1])``, ``C = P_f[t] F' P_p[t+1]^-1``, removing the
filter's lag.

One Euro (Casiez et al., CHI 2012), per keypoint, for a present sample at time ``t`` after the
previous present one at ``t0`` (``dt = t - t0``)::

    alpha(fc) = 1 / (1 + 1 / (2 pi fc dt))
    dx  = (z - x_hat) / dt;       dx_hat <- alpha(d_cutoff) dx + (1 - alpha(d_cutoff)) dx_hat
    fc  = min_cutoff + beta |dx_hat| / L                 (|.| = the keypoint's 2-D speed)
    x_hat <- alpha(fc) z + (1 - alpha(fc)) x_hat

so ``beta`` is in Hz per (body size / second) and one cutoff serves both coordinates of a keypoint.

Scale: both filters are equivariant to moving and scaling the coordinates (every setting is in
units of ``L``), so they run on coordinates mapped into [-1, 1] (:func:`normalized`: minus the centre
of the present keypoints' range, divided by a power of two) and map the result back. The answer is
the same up to rounding for coordinates of 1e-300 or 1e300 (where ``L^2`` would underflow to 0 or
overflow, dividing by zero or overflowing in the filter), so a score does not depend on the units.
A result that is still not finite (e.g. frame times 1e200 s apart) raises InvalidPoseError.

The loops over time run in numba (``cache=True``) over all K*2 coordinates per step; the streaming
scorer uses the same step kernels through :class:`OnlineSmoother`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, check_finite_positive
from ..registry import Registry
from .sequence import Sequence, median_body_size

SMOOTHERS = Registry("smoother", ("kalman", "one-euro", "none"),
                     aliases={"1euro": "one-euro", "one-euro-filter": "one-euro"})


@dataclass(frozen=True)
class KalmanSettings:
    """Constant-velocity Kalman filter settings (units: body sizes L and seconds; see the module formulas).

    measurement_noise: sigma, std of a confidence-1 measurement, in body sizes (0.02 = 2% of L).
    process_noise: q, spectral density of the white-noise acceleration, L^2/s^3. Larger follows fast
        motion more closely, smaller removes more jitter. Chosen with ``python -m posesearch_bench.seqsteps
        --tune`` (or ``benchmarks/bench_sequence.py --tune``) on CMU mocap projected to 2-D at 30 fps
        with 2% noise: with RTS the RMS error keeps falling as q falls (0.95% of body height at q = 5,
        0.78% at q = 0.5; mocap is smoother than a camera recording), while the causal filter used for
        streaming lags more (6.5 ms at q = 5, 19 ms at q = 0.5). q = 5 balances the two.
    initial_speed: v0, std of the unknown initial velocity, L/s.
    rts: run the Rauch-Tung-Striebel backward pass (offline, zero lag); False = causal filter only.
    """

    measurement_noise: float = 0.02
    process_noise: float = 5.0
    initial_speed: float = 1.0
    rts: bool = True

    def __post_init__(self):
        for n in ("measurement_noise", "process_noise", "initial_speed"):
            check_finite_positive(f"kalman.{n}", getattr(self, n))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OneEuroSettings:
    """One Euro filter settings (see the module formulas).

    min_cutoff: Hz, cutoff when still (lower = less jitter at rest, more lag).
    beta: Hz per (body size / s); how fast the cutoff rises with speed (higher = less lag when moving).
    d_cutoff: Hz, cutoff of the speed estimate.
    Defaults from ``python -m posesearch_bench.seqsteps --tune`` (CMU mocap, 2% noise, 30 fps): the lowest RMS
    error of the grid (1.32% of body height, from 2.0% raw) with about 20 ms of lag; a larger beta
    cuts the lag (8 ms at beta 32) at some jitter (1.5%).
    """

    min_cutoff: float = 1.0
    beta: float = 8.0
    d_cutoff: float = 1.0

    def __post_init__(self):
        check_finite_positive("one_euro.min_cutoff", self.min_cutoff)
        check_finite_positive("one_euro.d_cutoff", self.d_cutoff)
        b = float(self.beta)
        if not (math.isfinite(b) and b >= 0):
            raise InvalidArgumentError(f"one_euro.beta: expected a finite number >= 0, got {self.beta!r}")

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# numba kernels (imported lazily so that importing this module stays cheap)
_KERNELS = None


def _kernels():
    global _KERNELS
    if _KERNELS is None:
        from . import _smooth_kernels

        _KERNELS = _smooth_kernels
    return _KERNELS


def unit_frame(keypoints: np.ndarray, present: np.ndarray) -> tuple[np.ndarray, float]:
    """``(origin (2,), unit)`` mapping the present keypoints into [-1, 1] by ``(z - origin) / unit``:
    ``origin`` the centre of their x and y ranges, ``unit`` the power of two at or above half the larger
    range (exact to divide by; 1 when there is no range). Computed without overflow for any finite input."""
    kp = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
    pres = np.asarray(present, bool).reshape(-1)
    lo, hi, seen = _kernels().present_range(kp, pres)
    if not seen:
        return np.zeros(2), 1.0
    origin = 0.5 * lo + 0.5 * hi
    half = float((0.5 * hi - 0.5 * lo).max())
    if not half > 0:
        return origin, 1.0
    return origin, math.ldexp(1.0, math.frexp(half)[1])


def to_unit(keypoints: np.ndarray, origin: np.ndarray, unit: float) -> np.ndarray:
    """``(z - origin) / unit`` without overflow (halved first: ``z - origin`` may exceed the float range)."""
    return (0.5 * np.asarray(keypoints, dtype=np.float64) - 0.5 * origin) / (0.5 * unit)


def from_unit(keypoints: np.ndarray, origin: np.ndarray, unit: float) -> np.ndarray:
    """Inverse of :func:`to_unit`."""
    with np.errstate(over="ignore"):
        return keypoints * unit + origin


def _unit_arrays(seq: Sequence, first_origin: bool = False) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """``(keypoints in unit coordinates (T, K, 2), origin, unit, each frame's bounding-box diagonal in them (T,),
    NaN for a frame with fewer than two keypoints)``; missing keypoints stay 0 (first_origin: see
    :func:`normalized`)."""
    pres = seq.present
    origin, unit = unit_frame(seq.keypoints, pres)
    if first_origin and pres.any():
        t = int(np.argmax(pres.any(axis=1)))
        origin = unit_frame(seq.keypoints[t], pres[t])[0]
    same = unit == 1.0 and not origin.any()
    kp, diag = _kernels().to_unit_frames(seq.keypoints, pres, origin, float(unit), same)
    return (seq.keypoints if same else kp), origin, unit, diag


def normalized(seq: Sequence, *, first_origin: bool = False) -> tuple[Sequence, np.ndarray, float]:
    """``(seq in unit coordinates, origin, unit)`` (see :func:`unit_frame`); missing keypoints stay 0.

    first_origin: the origin is the centre of the first frame with a keypoint (the unit is still the whole
    sequence's, so coordinates stay within (-2, 2)): what a live session knows at that frame. Its unit
    coordinates (its own unit: that frame's) then differ from these by a power of two, an exact factor, so
    that every later step (resampling, mirroring about x = 0, frame features) gives it the same bits."""
    kp, origin, unit, _ = _unit_arrays(seq, first_origin)
    if kp is seq.keypoints:
        return seq, origin, unit
    return Sequence._derived(kp, seq), origin, unit      # within (-2, 2), 0 where missing


def _restore(seq: Sequence, out: np.ndarray, origin: np.ndarray, unit: float, what: str) -> Sequence:
    """Smoothed unit coordinates ``out`` (T, K, 2) back in ``seq``'s units, missing keypoints 0."""
    kp, finite = _kernels().from_unit_frames(out, seq.present, origin, float(unit))
    if not finite:
        gap = float(np.diff(seq.times).max()) if len(seq) > 1 else 0.0
        raise InvalidPoseError(f"{seq.name}: {what} smoothing overflowed (frames up to {gap:g} s apart, "
                               f"{len(seq)} frames); expected frame times a float filter can step through")
    return Sequence._derived(kp, seq)      # finite (checked), 0 where missing: nothing to validate again


def _measurement_variance(conf: np.ndarray, sigma: float, scale: float) -> np.ndarray:
    """(T, K) -> (T, 2K) measurement variance R = (sigma L / c)^2, +inf where missing."""
    with np.errstate(divide="ignore"):
        r = np.where(conf > 0, (sigma * scale) ** 2 / np.maximum(conf, 1e-12) ** 2, np.inf)
    return np.repeat(r, 2, axis=1)


def kalman_smooth(seq: Sequence, settings: KalmanSettings = KalmanSettings(), *,
                  scale: float | None = None) -> Sequence:
    """Kalman-filter (and, with ``settings.rts``, RTS-smooth) every keypoint coordinate of ``seq``
    (``scale``: the body size L in ``seq``'s units; default :meth:`Sequence.body_size`)."""
    if scale is not None:
        check_finite_positive("scale", scale)
    un, origin, unit, diag = _unit_arrays(seq)
    L = median_body_size(diag, seq.name) if scale is None else check_finite_positive("scale", scale / unit)
    with np.errstate(over="ignore"):
        q, v0var = settings.process_noise * L * L, (settings.initial_speed * L) * (settings.initial_speed * L)
    s2 = (settings.measurement_noise * L) ** 2          # R = s2 / c^2 (as _measurement_variance)
    out = _kernels().kalman_frames(un, seq.confidences, seq.times, s2, q, v0var, bool(settings.rts))
    return _restore(seq, out, origin, unit, "Kalman")


def one_euro_smooth(seq: Sequence, settings: OneEuroSettings = OneEuroSettings(), *,
                    scale: float | None = None) -> Sequence:
    """One Euro filter every keypoint of ``seq`` (time-stamp aware; ``scale`` as in :func:`kalman_smooth`)."""
    if scale is not None:
        check_finite_positive("scale", scale)
    un, origin, unit, diag = _unit_arrays(seq)
    L = median_body_size(diag, seq.name) if scale is None else check_finite_positive("scale", scale / unit)
    out = _kernels().one_euro_batch(np.ascontiguousarray(un), seq.present, seq.times,
                                    settings.min_cutoff, settings.beta / L, settings.d_cutoff)
    return _restore(seq, out, origin, unit, "One Euro")


def check_smoother(method: str) -> str:
    return SMOOTHERS.canonical(method)


def smooth(seq: Sequence, method: str = "kalman", *, kalman: KalmanSettings = KalmanSettings(),
           one_euro: OneEuroSettings = OneEuroSettings(), scale: float | None = None) -> Sequence:
    """Smooth ``seq`` with ``method`` in {"kalman", "one-euro", "none"}."""
    m = check_smoother(method)
    if m == "kalman":
        return kalman_smooth(seq, kalman, scale=scale)
    if m == "one-euro":
        return one_euro_smooth(seq, one_euro, scale=scale)
    return seq


class OnlineSmoother:
    """Causal, frame-by-frame version of :func:`smooth` for streaming (Kalman without the RTS pass).

    ``step(keypoints (K, 2), confidences (K,), t)`` returns the smoothed (K, 2) keypoints (missing
    ones stay as given). State is O(K); the numerics are those of the batch kernels, run (like them) in
    unit coordinates: minus the centre of the first frame with a keypoint, divided by the power of two at
    or above ``scale``, so any finite scale works.
    """

    def __init__(self, num_keypoints: int, scale: float, method: str = "kalman", *,
                 kalman: KalmanSettings = KalmanSettings(), one_euro: OneEuroSettings = OneEuroSettings()):
        self.method = check_smoother(method)
        self.k = int(num_keypoints)
        self.scale = check_finite_positive("scale", scale)
        self._unit = math.ldexp(1.0, math.frexp(self.scale)[1])
        self._origin: np.ndarray | None = None
        self.kalman = kalman
        self.one_euro = one_euro
        c = 2 * self.k
        self._x = np.zeros((c, 2))          # kalman: [p, v]; one-euro: [x_hat, dx_hat]
        self._p = np.zeros((c, 3))          # kalman covariance [P00, P01, P11]
        self._tlast = np.full(c, np.nan)    # time of the last update (NaN = never)
        self._tprev = np.nan                # kalman: time the state was last predicted to

    def step(self, keypoints: np.ndarray, confidences: np.ndarray, t: float) -> np.ndarray:
        kp = np.asarray(keypoints, dtype=np.float64).reshape(self.k, 2)
        cf = np.asarray(confidences, dtype=np.float64).reshape(self.k)
        if self.method == "none":
            return kp.copy()
        kern = _kernels()
        pres = cf > 0
        if self._origin is None and pres.any():
            self._origin = unit_frame(kp, pres)[0]
        origin = self._origin if self._origin is not None else np.zeros(2)
        un = np.where(pres[:, None], to_unit(kp, origin, self._unit), 0.0)
        L = self.scale / self._unit
        if self.method == "kalman":
            r = _measurement_variance(cf[None], self.kalman.measurement_noise, L)[0]
            z = un.reshape(-1).copy()
            dt = 0.0 if not np.isfinite(self._tprev) else float(t) - self._tprev
            kern.kalman_step(z, r, dt, self.kalman.process_noise * L * L, (self.kalman.initial_speed * L) ** 2,
                             self._x, self._p, self._tlast)
            self._tprev = float(t)
            out = self._x[:, 0].reshape(self.k, 2).copy()
        else:
            out = un.copy()
            kern.one_euro_step(out, pres, float(t), self.one_euro.min_cutoff, self.one_euro.beta / L,
                               self.one_euro.d_cutoff, self._x.reshape(self.k, 2, 2), self._tlast[: self.k])
        out = from_unit(out, origin, self._unit)
        if not np.isfinite(out[pres]).all():
            raise InvalidPoseError(f"smoothing overflowed at t = {float(t):g} s; are the frame times or "
                                   f"coordinates absurdly far apart?")
        return np.where(pres[:, None], out, kp)
