"""Constructed truth for repetition tests and the reps benchmark: N copies of one rep with random speed
(0.6-1.6x), pauses, jitter, mirroring and k altered copies (one knee's bend reduced), with the true rep
boundaries and the change made. Also the reference reps taken from real data (Penn Action, CMU)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posesearch.poses.angles import ANGLES, joint_angles
from posesearch.poses.layouts import get_layout
from posesearch.sequence.sequence import Sequence

#: One rep of real Penn Action clips: (clip id, first frame, last frame + 1). Penn Action clips each hold
#: one repetition (their joint trajectories, plotted, go from the rest pose and back once); these two are
#: side views where the joint we alter (squat: knee, push-up: elbow) is seen bending through the rep. The
#: squat is cut to its movement (frames 8-79: before and after it the person stands still, moving < 1 px
#: a frame), so that its boundaries are defined.
PENN_REPS = {
    "squat": ("1670", 8, 80),
    "pushup": ("1358", 0, 83),
}


def penn_clip(clip_id: str, root) -> Sequence:
    from posesearch.corpus.readers.penn_action import read_clip

    from posesearch.sequence.sequence import sequence_from_clip

    return sequence_from_clip(read_clip(f"{root}/labels/{clip_id}.mat"))


def alter_bend(kp: np.ndarray, cf: np.ndarray, layout, joint: str, degrees: float) -> np.ndarray:
    """Open the bend at ``joint`` (``left_knee``/``right_knee``/``*_elbow``) by ``degrees`` at the frame of
    deepest bend and proportionally less elsewhere (flexion / max flexion, the way the joint bends
    at its deepest), by rotating the distal bone
    (shank / forearm) about the joint in 2D; returns new (T, K, 2) keypoints."""
    lay = get_layout(layout)
    side, part = joint.split("_")
    prox, dist = {"knee": ("hip", "ankle"), "elbow": ("shoulder", "wrist")}[part]
    j, p, d = lay.index(joint), lay.index(f"{side}_{prox}"), lay.index(f"{side}_{dist}")
    ang = joint_angles(kp, cf, lay)[:, ANGLES.index(joint)]
    flex = 180.0 - ang
    deep = int(np.nanargmax(flex))
    fmax = flex[deep]
    delta = np.radians(degrees * np.clip(np.where(np.isfinite(flex), flex / fmax, 0.0), 0.0, 1.0))
    a = kp[:, p] - kp[:, j]
    b = kp[:, d] - kp[:, j]
    cross = a[deep, 0] * b[deep, 1] - a[deep, 1] * b[deep, 0]
    th = np.sign(cross) * delta           # rotating b away from a opens the angle (the way it bends deepest)
    c, s = np.cos(th), np.sin(th)
    out = kp.copy()
    out[:, d, 0] = kp[:, j, 0] + c * b[:, 0] - s * b[:, 1]
    out[:, d, 1] = kp[:, j, 1] + s * b[:, 0] + c * b[:, 1]
    return out


@dataclass
class Trial:
    user: Sequence
    starts: np.ndarray       # true rep starts / ends (s)
    ends: np.ndarray
    altered: np.ndarray      # (N,) bool
    joint: str
    degrees: float
    mirrored: bool


def construct(rep: Sequence, n: int, k: int, rng: np.random.Generator, *, joint: str = "knee",
              degrees: float = 30.0, speed=(0.6, 1.6), pause=(0.0, 1.0), jitter: float = 0.01,
              mirror: bool | None = None, partial_end: float = 0.0) -> Trial:
    """N copies of ``rep`` (speed, pause before each, Gaussian jitter of ``jitter`` x body height, the whole
    user mirrored with probability 1/2 unless ``mirror`` is given; ``k`` random copies with ``joint``'s
    bend reduced by ``degrees``). ``partial_end`` > 0: a last, partial copy of that fraction of the rep."""
    fps = rep.fps or 30.0
    kp0, cf0 = rep.keypoints, rep.confidences
    mir = bool(rng.random() < 0.5) if mirror is None else mirror
    if mir:
        m = rep.mirrored()
        kp0, cf0 = m.keypoints, m.confidences
    altered = np.zeros(n, bool)
    altered[rng.choice(n, size=k, replace=False)] = True
    if joint in ("knee", "elbow"):    # the side seen more often (a side view hides the far one)
        lay = get_layout(rep.layout)
        joint = max((f"{sd}_{joint}" for sd in ("left", "right")), key=lambda j: (cf0[:, lay.index(j)] > 0).sum())
    kp_alt = alter_bend(kp0, cf0, rep.layout, joint, degrees)
    size = rep.body_size()
    frames, confs, starts, ends = [], [], [], []
    t = 0
    T = len(kp0)
    src_t = np.arange(T)
    copies = [(i, 1.0) for i in range(n)] + ([(n, partial_end)] if partial_end > 0 else [])
    for i, frac in copies:
        hold = int(round(rng.uniform(*pause) * fps))
        if hold:
            frames.append(np.repeat(kp0[:1], hold, axis=0))
            confs.append(np.repeat(cf0[:1], hold, axis=0))
            t += hold
        sp = rng.uniform(*speed)
        m_len = max(2, int(round(T / sp)))
        x = np.linspace(0, T - 1, m_len)
        if frac < 1:
            x = x[: max(2, int(round(frac * m_len)))]
        src = kp_alt if (i < n and altered[i]) else kp0
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, T - 1)
        w = (x - i0)[:, None, None]
        frames.append((1 - w) * src[i0] + w * src[i1])
        confs.append(np.minimum(cf0[i0], cf0[i1]))
        if i < n:
            starts.append(t / fps)
            ends.append((t + len(x) - 1) / fps)
        t += len(x)
    hold = int(round(rng.uniform(*pause) * fps))
    if hold:
        frames.append(np.repeat(kp0[-1:], hold, axis=0))
        confs.append(np.repeat(cf0[-1:], hold, axis=0))
    kp = np.concatenate(frames)
    cf = np.concatenate(confs)
    kp = kp + rng.normal(0, jitter * size, kp.shape)
    user = Sequence(np.where(cf[..., None] > 0, kp, 0.0), cf, rep.layout, fps=fps, name="user")
    return Trial(user, np.array(starts), np.array(ends), altered, joint, degrees, mir)
