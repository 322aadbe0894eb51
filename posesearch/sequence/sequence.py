"""The Sequence type: a person's keypoints over time, with frame times.

A sequence holds keypoints ``(T, K, 2)`` (float64, pixels or any unit, y down as in images),
confidences ``(T, K)`` in [0, 1] (0 = missing; a missing keypoint's coordinates are stored as 0 and
mean nothing), its keypoint :class:`~posesearch.poses.layouts.Layout`, frame ``times`` ``(T,)`` in
seconds (strictly increasing; irregular spacing and dropped frames are allowed) and the nominal
``fps`` (None when only times are known).

Construction validates everything and raises :class:`~posesearch.errors.InvalidPoseError` /
:class:`~posesearch.errors.InvalidArgumentError` with one-line messages naming the sequence: an empty
sequence, a keypoint count that does not match the layout, NaN confidences, infinite coordinates,
fps <= 0, times that are not strictly increasing, or a sequence where every keypoint is missing.
NaN coordinates are accepted as "missing" (their confidence becomes 0), as in
:func:`posesearch.poses.pose.validate_batch`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError
from ..poses.layouts import Layout, get_layout, layout_for_count
from ..poses.pose import _check_real, validate_batch


def _check_fps(fps, name: str) -> float | None:
    if fps is None:
        return None
    if isinstance(fps, (bool, np.bool_, str, bytes)):       # True is not 1 fps, "30" is not a number
        raise InvalidArgumentError(f"{name}: fps: expected a positive number, got {fps!r}")
    try:
        v = float(fps)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{name}: fps: expected a positive finite number, got {str(fps)[:40]}") from None
    if not (np.isfinite(v) and v > 0):
        raise InvalidArgumentError(f"{name}: fps: expected a positive finite number, got {fps!r}")
    return v


def _check_times(times, n: int, name: str) -> np.ndarray:
    try:
        t = np.array(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name}: times: expected numbers (seconds), got {type(times).__name__}") from None
    if t.shape != (n,):
        raise InvalidArgumentError(f"{name}: times: expected {n} frame times (one per frame), got shape {t.shape}")
    if not np.isfinite(t).all():
        i = int(np.argmin(np.isfinite(t)))
        raise InvalidArgumentError(f"{name}: times[{i}]: expected a finite number of seconds, got {t[i]}")
    if n > 1:
        d = np.diff(t)
        if (d <= 0).any():
            i = int(np.argmax(d <= 0)) + 1
            raise InvalidArgumentError(f"{name}: times must be strictly increasing; times[{i}] = {t[i]:g} "
                                       f"follows times[{i - 1}] = {t[i - 1]:g}")
    return t


def check_points3d(points3d, shape: tuple[int, int], name: str) -> np.ndarray | None:
    """(T, K, 3) float64 3D joints matching ``shape`` (T, K); NaN = missing; None if every joint is missing."""
    from ..poses.pose import _check_real

    _check_real(points3d, name, "points3d")
    try:
        p = np.array(points3d, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise InvalidPoseError(f"{name}: points3d: expected numbers ({e})") from None
    if p.shape != tuple(shape) + (3,):
        raise InvalidPoseError(f"{name}: points3d: expected shape {tuple(shape) + (3,)} (one 3D point per "
                               f"keypoint), got {p.shape}")
    if np.isinf(p).any():
        raise InvalidPoseError(f"{name}: points3d: expected finite coordinates or NaN (missing), found infinity")
    p[np.isnan(p).any(-1)] = np.nan
    return p if np.isfinite(p).any() else None


#: What a one-frame input to sequence scoring is told (Sequence.require_frames).
SINGLE_POSE_HINT = "a single pose: compare it with `posesearch compare` or `query`"



def median_body_size(diag: np.ndarray, name: str) -> float:
    """:meth:`Sequence.body_size` from the frames' bounding-box diagonals (0 where a frame has no two distinct
    present keypoints); raises when no frame has a size."""
    diag = diag[diag > 0]
    if diag.size == 0:
        raise InvalidPoseError(f"{name}: no frame has two distinct present keypoints (size is zero)")
    return float(np.median(diag))

@dataclass
class Sequence:
    """Keypoints of one person over time.

    Attributes:
        keypoints: (T, K, 2) float64; coordinates of missing keypoints are 0.
        confidences: (T, K) float64 in [0, 1]; 0 = missing.
        layout: keypoint layout (K must equal ``layout.num_keypoints``).
        times: (T,) float64 seconds, strictly increasing.
        fps: nominal frame rate, or None if the frames only have times.
        name: what error messages call this sequence (``reference``, ``user``, a file name).
        points3d: optional (T, K, 3) float64 3D joints in the same layout (world: Y up, the subject
            facing +Z at yaw 0, any unit; NaN = missing), e.g. from motion capture. Scoring can then fit
            the user's camera to them (``ScoreSettings(view=...)``, :mod:`posesearch.view.camera`).
    """

    keypoints: np.ndarray
    confidences: np.ndarray
    layout: Layout
    times: np.ndarray | None = None
    fps: float | None = None
    name: str = field(default="sequence", compare=False)
    points3d: np.ndarray | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        name = self.name
        kp, cf = validate_batch(self.keypoints, self.confidences, name=name)
        lay = get_layout(self.layout) if self.layout is not None else layout_for_count(kp.shape[1])
        if kp.shape[1] != lay.num_keypoints:
            raise InvalidPoseError(f"{name}: layout {lay.name} expects {lay.num_keypoints} keypoints, "
                                   f"got {kp.shape[1]}")
        if not (cf > 0).any():
            raise InvalidPoseError(f"{name}: all keypoints are missing (every confidence is 0) in all "
                                   f"{len(cf)} frame(s)")
        fps = _check_fps(self.fps, name)
        n = len(kp)
        if self.times is None:
            if fps is None:
                if n > 1:
                    raise InvalidArgumentError(f"{name}: frame times unknown: give fps or times")
                times = np.zeros(1)
            else:
                times = np.arange(n, dtype=np.float64) / fps
        else:
            times = _check_times(self.times, n, name)
        self.keypoints, self.confidences, self.layout, self.times, self.fps = kp, cf, lay, times, fps
        if self.points3d is not None:
            self.points3d = check_points3d(self.points3d, kp.shape[:2], name)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, keypoints, confidences=None, *, layout: "str | Layout | None" = None,
                    fps: float | None = None, times=None, name: str = "sequence") -> "Sequence":
        """Build a sequence from (T, K, 3) [x, y, confidence], or (T, K, 2) keypoints + (T, K) confidences.

        ``layout`` defaults to the layout with K keypoints; ``times`` default to ``arange(T) / fps``.
        (T, K, 2) keypoints without confidences count every keypoint present (NaN = missing).
        """
        arr = keypoints
        if confidences is None:
            _check_real(keypoints, name, "keypoints")   # complex, bool, "1.5": refused, not coerced
            try:
                a = np.asarray(keypoints, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise InvalidPoseError(f"{name}: expected numeric keypoints ({e})") from None
            if a.ndim == 3 and a.shape[-1] == 2:
                confidences = np.where(np.isnan(a).any(axis=-1), 0.0, 1.0)
            elif a.ndim == 3 and a.shape[-1] == 3:
                arr, confidences = a[..., :2], a[..., 2]
            else:
                raise InvalidPoseError(f"{name}: expected a (T, K, 3) array of [x, y, confidence] or "
                                       f"(T, K, 2) keypoints, got shape {a.shape}")
        return cls(arr, confidences, get_layout(layout) if layout is not None else None, times, fps, name)

    @classmethod
    def _derived(cls, keypoints: np.ndarray, like: "Sequence", confidences: np.ndarray | None = None) -> "Sequence":
        """``like`` with these keypoints (and confidences), without validating again: for steps that compute
        (T, K, 2) float64 keypoints from a validated sequence's, finite and 0 where missing, and take its
        confidences (copied, as construction copies them) or a new array of them (a permutation: ``mirrored``).
        No 3D points (``points3d`` None): the new 2D keypoints no longer match them (scoring reads 3D from the
        sequence as given)."""
        cf = like.confidences.copy() if confidences is None else confidences
        return cls._computed(keypoints, cf, like.layout, like.times.copy(), like.fps, like.name)

    @classmethod
    def _computed(cls, keypoints: np.ndarray, confidences: np.ndarray, layout: Layout, times: np.ndarray,
                  fps: float | None, name: str) -> "Sequence":
        """A sequence of new arrays (owned by no one else) that construction would take as they are: (T, K, 2)
        finite float64 keypoints, 0 where missing, (T, K) confidences in [0, 1] with some above 0, a Layout of K
        keypoints and checked times. Only ``fps`` is checked: validating (and copying) again would cost more than
        the step that made them."""
        seq = cls.__new__(cls)
        seq.keypoints, seq.confidences, seq.layout, seq.times = keypoints, confidences, layout, times
        seq.fps, seq.name, seq.points3d = _check_fps(fps, name), name, None
        return seq

    def renamed(self, name: str) -> "Sequence":
        """A copy called ``name``: ``replace(name=name)`` without validating the validated arrays again (they
        are copied, as construction copies them)."""
        seq = self._derived(self.keypoints.copy(), self)
        seq.name = name
        seq.points3d = None if self.points3d is None else self.points3d.copy()
        return seq

    # -- basic properties --------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def num_keypoints(self) -> int:
        return self.keypoints.shape[1]

    @property
    def duration(self) -> float:
        """Seconds from the first to the last frame."""
        return float(self.times[-1] - self.times[0])

    @property
    def frame_interval(self) -> float:
        """Typical seconds between frames: 1/fps if known, else the median time step."""
        if self.fps:
            return 1.0 / self.fps
        if len(self) < 2:
            raise InvalidArgumentError(f"{self.name}: one frame has no frame interval")
        return float(np.median(np.diff(self.times)))

    @property
    def present(self) -> np.ndarray:
        """(T, K) bool: keypoint present (confidence > 0)."""
        return self.confidences > 0

    def as_array(self) -> np.ndarray:
        """(T, K, 3) [x, y, confidence] with NaN coordinates for missing keypoints."""
        kp = np.where(self.present[..., None], self.keypoints, np.nan)
        return np.concatenate([kp, self.confidences[..., None]], axis=-1)

    def require_frames(self, minimum: int = 2, source: str | None = None,
                       single_pose_hint: str = SINGLE_POSE_HINT) -> "Sequence":
        """Raise InvalidPoseError unless the sequence has at least ``minimum`` frames; returns self.
        ``source``: the file (or ``FILE:ID``) it was read from, named in the message; a single frame
        gets ``single_pose_hint``: one pose is compared, not scored or searched as a performance."""
        if len(self) < minimum:
            where = f" ({source})" if source else ""
            hint = f" ({single_pose_hint})" if len(self) == 1 and single_pose_hint else ""
            raise InvalidPoseError(f"{self.name}{where}: expected at least {minimum} frames, got {len(self)}{hint}")
        return self

    def replace(self, **changes) -> "Sequence":
        """A copy with some fields replaced (validated again)."""
        d = dict(keypoints=self.keypoints, confidences=self.confidences, layout=self.layout,
                 times=self.times, fps=self.fps, name=self.name, points3d=self.points3d)
        d.update(changes)
        return Sequence(**d)

    # -- conversions -------------------------------------------------------------------------------
    def to_coco(self) -> "Sequence":
        """The same sequence in COCO-17 (joints the layout lacks become missing)."""
        if self.layout.name == "coco17":
            return self
        kp, cf = self.layout.convert_to_coco(self.keypoints, self.confidences)
        kp = np.where(cf[..., None] > 0, kp, 0.0)
        p3 = None
        if self.points3d is not None:
            idx = np.asarray(self.layout.to_coco)
            p3 = np.full((len(self), 17, 3), np.nan)
            p3[:, idx >= 0] = self.points3d[:, idx[idx >= 0]]
        return Sequence(kp, cf, get_layout("coco17"), self.times, self.fps, self.name, p3)

    def mirrored(self, axis_sum: float | None = None) -> "Sequence":
        """The sequence mirrored as a selfie camera shows it: x flipped about one vertical axis for the
        whole sequence (the centre of all present keypoints' x range, so it stays in place) and left /
        right joints swapped. One axis rather than each frame's own (as
        :func:`posesearch.poses.mirror.mirror` does for single poses) keeps motion a motion: mirroring
        then commutes with smoothing and resampling (both are equivariant to x -> c - x), and every
        per-frame distance is unchanged, since those ignore where a pose stands. ``axis_sum``: flip as
        x -> axis_sum - x instead (0: x -> -x, exact)."""
        from ._sequence_kernels import mirror_frames

        if axis_sum is None:
            pres = self.present
            x = self.keypoints[..., 0]
            axis_sum = float(x[pres].min() + x[pres].max()) if pres.any() else 0.0
        kp, cf = mirror_frames(self.keypoints, self.confidences, np.asarray(self.layout.flip, np.int64),
                               float(axis_sum))
        p3 = None
        if self.points3d is not None:     # the mirrored scene: X -> -X, left and right swapped
            p3 = self.points3d[:, np.asarray(self.layout.flip)] * np.array([-1.0, 1.0, 1.0])
        if axis_sum == 0.0:     # x -> -x: finite, 0 where missing, the confidences permuted: nothing to validate
            seq = self._derived(kp, self, cf)
            seq.points3d = p3
            return seq
        return Sequence(kp, cf, self.layout, self.times, self.fps, self.name, p3)

    def body_size(self) -> float:
        """Median over frames of the diagonal of the present keypoints' bounding box (>= 2 present).

        The scale unit of smoothing noise settings and of simulated jitter. Raises if no frame has
        two present keypoints spanning a non-zero box.
        """
        pres = self.present
        x = self.keypoints[..., 0]
        y = self.keypoints[..., 1]
        w = np.where(pres, x, -np.inf).max(1) - np.where(pres, x, np.inf).min(1)
        h = np.where(pres, y, -np.inf).max(1) - np.where(pres, y, np.inf).min(1)
        ok = (pres.sum(1) >= 2)
        return median_body_size(np.hypot(w[ok], h[ok]), self.name)

    def slice(self, start: int, stop: int | None = None) -> "Sequence":
        """Frames ``start:stop`` (times kept)."""
        return Sequence(self.keypoints[start:stop], self.confidences[start:stop], self.layout,
                        self.times[start:stop], self.fps, self.name,
                        None if self.points3d is None else self.points3d[start:stop])


def sequence_from_clip(clip, *, name: str | None = None) -> Sequence:
    """A :class:`posesearch.corpus.clip.Clip` (reader output / corpus clip) as a Sequence in its own layout."""
    fps = clip.fps if clip.fps else None
    times = None if clip.times is None else np.asarray(clip.times, dtype=np.float64)
    if times is None and fps is None and len(clip) > 1:
        raise InvalidArgumentError(f"{name or clip.clip_id}: the clip has no fps or times")
    p3 = getattr(clip, "points3d", None)
    return Sequence(np.asarray(clip.keypoints, dtype=np.float64), np.asarray(clip.confidences, dtype=np.float64),
                    get_layout(clip.layout), times, fps, name or clip.clip_id, p3)
