"""Validated pose arrays.

A pose is keypoints ``(K, 2)`` plus confidences ``(K,)`` in [0, 1]; a batch is ``(N, K, 2)`` /
``(N, K)``. A missing keypoint has confidence 0; NaN coordinates are accepted as missing (their
confidence becomes 0). Infinite coordinates, NaN or negative or >1 confidences are errors.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidPoseError
from .layouts import Layout, get_layout


@dataclass
class Poses:
    """A batch of poses in one layout: keypoints (N, K, 2), confidences (N, K)."""

    keypoints: np.ndarray
    confidences: np.ndarray
    layout: Layout

    def __len__(self) -> int:
        return len(self.keypoints)

    def to_coco(self) -> "Poses":
        kp, cf = self.layout.convert_to_coco(self.keypoints, self.confidences)
        return Poses(kp, cf, get_layout("coco17"))

    def as_array(self) -> np.ndarray:
        """(N, K, 3) array of [x, y, confidence], missing keypoints as NaN coordinates."""
        kp = np.where(self.confidences[..., None] > 0, self.keypoints, np.nan)
        return np.concatenate([kp, self.confidences[..., None]], axis=-1)


def _check_real(values, name: str, what: str) -> None:
    """Refuse (never coerce) booleans, complex numbers, strings and other non-numbers."""
    try:
        a = values if isinstance(values, np.ndarray) else np.asarray(values)
    except (TypeError, ValueError):
        return   # ragged lists: the conversion below reports them
    kind = a.dtype.kind
    if kind == "O":
        bad = next((v for v in a.ravel() if v is not None and not (
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_)))), None)
        if bad is None:
            return
        raise InvalidPoseError(f"{name}: expected numeric {what}, got {type(bad).__name__} {str(bad)[:20]!r}")
    if kind not in "iuf":
        raise InvalidPoseError(f"{name}: expected numeric {what} (real numbers), got dtype {a.dtype}")


def validate_batch(keypoints, confidences=None, *, num_keypoints: int | None = None, name: str = "poses",
                   dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Check and coerce a batch. Accepts (N, K, 2) + (N, K), or (N, K, 3) with confidences in the last column.

    Returns float arrays (copies) where missing keypoints have confidence 0 and coordinates 0.
    Raises InvalidPoseError naming ``name`` and the problem.
    """
    _check_real(keypoints, name, "keypoints")
    try:
        kp = np.array(keypoints, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidPoseError(f"{name}: expected numeric keypoints, got {type(keypoints).__name__} ({e})") from None
    if confidences is None:
        if kp.ndim != 3 or kp.shape[-1] != 3:
            raise InvalidPoseError(f"{name}: expected an (N, K, 3) array of [x, y, confidence], got shape {kp.shape}")
        kp, cf = kp[..., :2].copy(), kp[..., 2].copy()
    else:
        _check_real(confidences, name, "confidences")
        try:
            cf = np.array(confidences, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise InvalidPoseError(f"{name}: expected numeric confidences ({e})") from None
        if kp.ndim != 3 or kp.shape[-1] != 2:
            raise InvalidPoseError(f"{name}: expected keypoints of shape (N, K, 2), got {kp.shape}")
        if cf.shape != kp.shape[:2]:
            raise InvalidPoseError(f"{name}: confidences shape {cf.shape} does not match keypoints {kp.shape[:2]}")
    n, k = cf.shape
    if n == 0:
        raise InvalidPoseError(f"{name}: empty (no poses)")
    if k == 0:
        raise InvalidPoseError(f"{name}: a pose has no keypoints")
    if num_keypoints is not None and k != num_keypoints:
        raise InvalidPoseError(f"{name}: expected {num_keypoints} keypoints, got {k}")
    bad = first_bad_value(kp, cf)
    if bad is not None:
        raise InvalidPoseError(f"{name}: {bad[1]} at pose/keypoint {bad[0]}")
    nan = np.isnan(kp[..., 0]) | np.isnan(kp[..., 1])
    cf[nan] = 0.0
    kp[cf == 0] = 0.0
    return kp, cf


def first_bad_value(keypoints: np.ndarray, confidences: np.ndarray) -> "tuple[tuple[int, ...], str] | None":
    """The first value no pose may hold, as (index of the keypoint, what is wrong), or None when all are fine.

    ``keypoints`` (..., K, 2) and ``confidences`` (..., K); the checks run in this order: an infinite
    coordinate, a NaN confidence, a confidence outside [0, 1] (NaN coordinates are allowed: missing).
    The one check shared by :func:`validate_batch`, the corpus writer and the live scoring stream; each
    says where in its own words (pose/keypoint, clip and frame, stream frame).
    """
    keypoints = np.asarray(keypoints)
    confidences = np.asarray(confidences)
    if confidences.size and np.isfinite(confidences).all() and confidences.min() >= 0 and confidences.max() <= 1 \
            and not np.isinf(keypoints).any():
        return None        # the common case in one pass per check, no per-keypoint masks
    checks = ((lambda: np.isinf(keypoints).any(axis=-1), "infinite coordinate"),
              (lambda: np.isnan(confidences), "NaN confidence"),
              (lambda: (confidences < 0) | (confidences > 1), "confidence must be in [0, 1]"))
    for mask, what in checks:
        bad = mask()
        if bad.any():
            i = tuple(int(v) for v in np.argwhere(bad)[0])
            return i, (f"{what}, got {confidences[i]:g}" if what.startswith("confidence") else what)
    return None


def validate_pose(keypoints, confidences=None, *, num_keypoints: int | None = None, name: str = "pose",
                  dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Single-pose version of :func:`validate_batch`: (K, 2) + (K,), or (K, 3). Returns (K, 2), (K,)."""
    _check_real(keypoints, name, "keypoints")
    try:
        kp = np.array(keypoints, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise InvalidPoseError(f"{name}: expected numeric keypoints ({e})") from None
    if kp.size == 0:
        raise InvalidPoseError(f"{name}: empty (no keypoints)")
    want = 3 if confidences is None else 2
    if kp.ndim != 2 or kp.shape[1] != want:
        what = "(K, 3) array of [x, y, confidence]" if want == 3 else "(K, 2) array of [x, y]"
        raise InvalidPoseError(f"{name}: expected a {what}, got shape {kp.shape}")
    kb, cb = validate_batch(kp[None], None if confidences is None else [confidences],
                            num_keypoints=num_keypoints, name=name, dtype=dtype)
    return kb[0], cb[0]
