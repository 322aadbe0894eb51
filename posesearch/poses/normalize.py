"""Move Mirror normalization: bounding-box translate, then unit L2 norm of the 2K-vector.

For a pose with present keypoints P (confidence > 0):

    x'_k = (x_k - min_{j in P} x_j) / s,   y'_k = (y_k - min_{j in P} y_j) / s,
    s    = sqrt( sum_{k in P} (x_k - min x)^2 + (y_k - min y)^2 )

which is what posenet-similarity computes (it first divides by max(x, y) as well; that factor
cancels in the L2 step). The sum runs over keypoints in order and coordinates are divided by s, in the
numpy path and the compiled one alike: both give bit-identical vectors (float64). Missing keypoints
never move the box or the norm. In the vector they are
filled with the centre of the present keypoints' normalized bounding box, so they sit neutrally in
the middle of the pose; weighted distances give them no weight on the query side anyway.

A pose with fewer than two present keypoints, or with all of them on one point (s = 0), has no
normalized form: :func:`normalize_batch` raises, or with ``on_invalid="mask"`` returns it as invalid
(all-zero vector) so that batch ingestion can skip it and say how many were skipped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidPoseError
from ..registry import Registry

MIN_PRESENT = 2
COMPILED_FROM = 20_000
#: what normalize_batch does with a pose it cannot normalize
ON_INVALID: Registry[str] = Registry("on_invalid", ("raise", "mask"))
"""Batches of at least this many poses use the compiled (numba) path; smaller ones stay in numpy, which
needs no JIT start-up (a CLI comparing two poses should not load numba)."""


@dataclass(frozen=True)
class NormalizationSettings:
    """How pose vectors are normalized (stored in corpus and index files)."""

    method: str = "bbox-l2"          # translate by the present keypoints' min x / min y, then unit L2 norm
    fill_missing: str = "bbox-centre"  # missing keypoints take the centre of the normalized bounding box
    min_present: int = MIN_PRESENT

    def to_dict(self) -> dict:
        return asdict(self)


DEFAULT_NORMALIZATION = NormalizationSettings()


def normalize_batch(keypoints: np.ndarray, confidences: np.ndarray, *, on_invalid: str = "raise",
                    dtype=np.float64, name: str = "poses") -> tuple[np.ndarray, np.ndarray]:
    """Normalize (N, K, 2) keypoints with (N, K) confidences into (N, 2K) vectors.

    Vector layout: [x_0, y_0, x_1, y_1, ...]. Returns ``(vectors, valid)`` where ``valid`` is an (N,)
    bool mask; invalid rows are all zero. ``on_invalid``: "raise" (default) or "mask".
    Inputs are assumed validated (see :func:`posesearch.poses.pose.validate_batch`).
    """
    on_invalid = ON_INVALID.canonical(on_invalid)
    if len(keypoints) >= COMPILED_FROM:
        return _normalize_compiled(keypoints, confidences, on_invalid=on_invalid, dtype=dtype, name=name)
    kp = np.asarray(keypoints, dtype=dtype)
    present = np.asarray(confidences) > 0
    present &= ~np.isnan(kp).any(axis=-1)
    n, k = present.shape
    x = kp[..., 0]
    y = kp[..., 1]
    big = np.array(np.inf, dtype=dtype)
    minx = np.where(present, x, big).min(axis=1, keepdims=True)
    miny = np.where(present, y, big).min(axis=1, keepdims=True)
    tx = np.where(present, x - minx, 0)
    ty = np.where(present, y - miny, 0)
    # extreme scales (1e200, 1e-300): bring the pose's extent near 1 by an exact power of two first, so the
    # sum of squares neither overflows nor underflows; a factor of 1 elsewhere keeps every vector bit-identical
    hi, lo = safe_range(tx.dtype)
    extent = np.maximum(tx.max(axis=1, initial=0), ty.max(axis=1, initial=0))
    factor = np.where((extent > hi) | ((extent < lo) & (extent > 0)),
                      np.ldexp(np.ones_like(extent), -np.frexp(extent)[1]), 1.0).astype(tx.dtype)
    tx *= factor[:, None]
    ty *= factor[:, None]
    # sum over keypoints in order (a running sum): the compiled path adds in the same order, so both
    # give bit-identical vectors (numpy's .sum would add pairwise)
    norm = np.sqrt(np.add.accumulate(tx * tx + ty * ty, axis=1)[:, -1:]) if k else np.zeros((n, 1), dtype)
    count = present.sum(axis=1)
    valid = (count >= MIN_PRESENT) & (norm[:, 0] > 0) & np.isfinite(norm[:, 0])
    _raise_invalid(valid, count, on_invalid, name)
    safe = np.where(valid[:, None], norm, 1.0)
    tx /= safe
    ty /= safe
    # missing keypoints: centre of the normalized bbox of the present ones
    cx = np.where(present, tx, -big).max(axis=1, keepdims=True) * 0.5
    cy = np.where(present, ty, -big).max(axis=1, keepdims=True) * 0.5
    tx = np.where(present, tx, cx)
    ty = np.where(present, ty, cy)
    out = np.empty((n, 2 * k), dtype=dtype)
    out[:, 0::2] = tx
    out[:, 1::2] = ty
    out[~valid] = 0
    return out, valid


def safe_range(dtype) -> tuple[float, float]:
    """Extents between these two powers of two are normalized as they are: their squares summed over any
    layout neither overflow nor underflow in ``dtype``."""
    info = np.finfo(dtype)
    return float(np.ldexp(1.0, info.maxexp // 2 - 8)), float(np.ldexp(1.0, info.minexp // 2 + 8))


def _raise_invalid(valid, count, on_invalid, name):
    if not valid.all() and on_invalid == "raise":
        n = len(valid)
        i = int(np.argmin(valid))
        if count[i] < MIN_PRESENT:
            why = f"has {int(count[i])} present keypoint(s), at least {MIN_PRESENT} are needed"
        else:
            why = "has all its present keypoints on one point (zero size)"
        where = f" (pose {i})" if n > 1 else ""
        raise InvalidPoseError(f"{name}{where}: cannot normalize: {why}")


def _normalize_compiled(keypoints, confidences, *, on_invalid, dtype, name):
    """The numba path for big batches (same formula, one pass a pose, parallel over poses)."""
    from ._normalize_kernel import normalize_into

    kp = np.ascontiguousarray(keypoints, dtype=np.float64 if np.dtype(dtype) == np.float64 else np.float32)
    cf = np.ascontiguousarray(confidences, dtype=kp.dtype)
    n, k = cf.shape
    out = np.empty((n, 2 * k), dtype=dtype)
    valid = np.empty(n, dtype=np.bool_)
    big, small = safe_range(kp.dtype)
    normalize_into(kp, cf, out, valid, MIN_PRESENT, big, small)
    if not valid.all() and on_invalid == "raise":
        present = (cf > 0) & ~np.isnan(kp).any(axis=-1)
        _raise_invalid(valid, present.sum(axis=1), on_invalid, name)
    return out, valid


def normalize_pose(keypoints: np.ndarray, confidences: np.ndarray, *, name: str = "pose") -> np.ndarray:
    """Normalize one (K, 2) pose into a (2K,) vector; raises InvalidPoseError if it cannot be normalized."""
    vec, _ = normalize_batch(np.asarray(keypoints)[None], np.asarray(confidences)[None], name=name)
    return vec[0]
