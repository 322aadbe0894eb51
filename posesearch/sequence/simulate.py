"""Simulated users: a reference clip degraded the way a real user recording differs from it.

Used by the tests and benchmarks (self-score, degraded-score checks) and handy for trying settings.
:func:`degrade` applies, in this order:

1. ``slower``: the movement is played ``slower`` times as long (1.2 = 20% slower);
2. ``delay``: the user starts late: the first pose is held for ``delay`` seconds before moving;
3. ``fps``: the recording samples that timeline at ``fps`` frames per second (linear interpolation
   of the source frames; frame times 0, 1/fps, ...);
4. ``drop``: each frame is dropped with this probability (irregular times);
5. ``noise``: Gaussian jitter of std ``noise * H`` per coordinate, H = the clip's body height (median
   over frames of the present keypoints' bounding-box height);
6. ``mirror``: every frame mirrored (:meth:`Sequence.mirrored`), as seen by a selfie camera.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError, check_finite_positive
from .resample import regular_times, resample
from .sequence import Sequence


def body_height(seq: Sequence) -> float:
    """Median over frames (with >= 2 present keypoints) of the present keypoints' bounding-box height."""
    pres = seq.present
    y = seq.keypoints[..., 1]
    h = np.where(pres, y, -np.inf).max(1) - np.where(pres, y, np.inf).min(1)
    h = h[(pres.sum(1) >= 2) & (h > 0)]
    if h.size == 0:
        raise InvalidArgumentError(f"{seq.name}: no frame has a body height")
    return float(np.median(h))


def degrade(seq: Sequence, *, fps: float | None = 10.0, noise: float = 0.02, delay: float = 0.3,
            slower: float = 1.2, mirror: bool = True, drop: float = 0.0, seed: int = 0) -> Sequence:
    """A simulated user recording of ``seq`` (see the module doc). ``fps=None`` keeps the source rate."""
    check_finite_positive("slower", slower)
    if not (delay >= 0):
        raise InvalidArgumentError(f"delay: expected seconds >= 0, got {delay!r}")
    if not (0 <= drop < 1):
        raise InvalidArgumentError(f"drop: expected a probability in [0, 1), got {drop!r}")
    rng = np.random.default_rng(seed)
    t = (seq.times - seq.times[0]) * slower + delay
    if delay > 0:
        t = np.concatenate([[0.0], t])
        kp = np.concatenate([seq.keypoints[:1], seq.keypoints])
        cf = np.concatenate([seq.confidences[:1], seq.confidences])
    else:
        kp, cf = seq.keypoints, seq.confidences
    timeline = Sequence(kp, cf, seq.layout, t, None, seq.name)
    rate = fps if fps is not None else (seq.fps or 1.0 / seq.frame_interval)
    grid = regular_times(0.0, t[-1], rate)
    out = resample(timeline, grid, method="linear", max_gap=max(np.diff(t).max() * 1.01, 1e-6), fps=rate)
    if drop > 0:
        keep = rng.random(len(out)) >= drop
        keep[0] = keep[-1] = True
        out = Sequence(out.keypoints[keep], out.confidences[keep], out.layout, out.times[keep], None, seq.name)
    if noise > 0:
        sigma = noise * body_height(seq)
        jit = rng.normal(0.0, sigma, size=out.keypoints.shape)
        out = out.replace(keypoints=np.where(out.present[..., None], out.keypoints + jit, 0.0))
    if mirror:
        out = out.mirrored()
    return out


def synthetic_motion(seconds: float = 4.0, fps: float = 30.0, *, seed: int = 0, height: float = 400.0,
                     tempo: float = 0.5) -> Sequence:
    """A smooth, plausible COCO-17 movement for tests and demos: a 2-D stick figure (image
    coordinates, y down, ``height`` pixels tall) whose shoulder, elbow, hip and knee angles follow
    random sums of sinusoids around ``tempo`` Hz, the body swaying and bobbing slightly. Deterministic
    for a given seed; all keypoints present (confidence 1)."""
    check_finite_positive("seconds", seconds)
    check_finite_positive("fps", fps)
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * fps)) + 1) / fps
    T = len(t)

    def wave(amp):
        f = tempo * rng.uniform(0.6, 1.6, 3)
        ph = rng.uniform(0, 2 * np.pi, 3)
        a = amp * rng.uniform(0.3, 1.0, 3) / 1.8
        return (a[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + ph[:, None])).sum(0)

    H = float(height)
    hip_c = np.stack([200 + 0.05 * H * np.sin(2 * np.pi * 0.2 * t), 0.55 * H + wave(0.02 * H)], -1)
    lean = wave(0.15)
    up = np.stack([np.sin(lean), -np.cos(lean)], -1)              # torso direction (y down)
    side = np.stack([np.cos(lean), np.sin(lean)], -1)              # towards the image right
    neck = hip_c + 0.30 * H * up
    kp = np.zeros((T, 17, 2))
    kp[:, 0] = neck + 0.10 * H * up                                 # nose
    # facing the camera: the person's left is the image right (+side)
    kp[:, 1] = kp[:, 0] + 0.02 * H * (up + side)
    kp[:, 2] = kp[:, 0] + 0.02 * H * (up - side)
    kp[:, 3] = kp[:, 0] + 0.05 * H * side
    kp[:, 4] = kp[:, 0] - 0.05 * H * side
    sh = {5: neck + 0.11 * H * side, 6: neck - 0.11 * H * side}
    hp = {11: hip_c + 0.08 * H * side, 12: hip_c - 0.08 * H * side}

    def limb(base, sign, a1, a2, l1, l2):
        # angles from hanging straight down, positive = away from the body (outwards)
        d1 = np.stack([sign * np.sin(a1), np.cos(a1)], -1)
        j1 = base + l1 * H * d1
        d2 = np.stack([sign * np.sin(a1 + a2), np.cos(a1 + a2)], -1)
        return j1, j1 + l2 * H * d2

    for s, (shi, eli, wri) in ((1, (5, 7, 9)), (-1, (6, 8, 10))):
        a1 = 0.8 + wave(1.2)
        a2 = 0.5 + wave(0.8)
        kp[:, shi] = sh[shi]
        kp[:, eli], kp[:, wri] = limb(sh[shi], s, a1, a2, 0.17, 0.15)
    for s, (hi, ki, ai) in ((1, (11, 13, 15)), (-1, (12, 14, 16))):
        a1 = 0.15 + wave(0.4)
        a2 = -np.abs(wave(0.6))
        kp[:, hi] = hp[hi]
        kp[:, ki], kp[:, ai] = limb(hp[hi], s, a1, a2, 0.22, 0.22)
    from ..poses.layouts import COCO17

    return Sequence(kp, np.ones((T, 17)), COCO17, t, fps, "synthetic")
