"""Rotation-only (proper, det = +1) Procrustes alignment with scale, in 2D and 3D.

Given a target X and a source Y (K points each, D = 2 or 3) and per-point weights w ≥ 0, find the
rotation R (det R = +1), scale s and translation t minimising

    sum_k w_k |X_k - (s R Y_k + t)|^2 .

Both are first centred on their weighted centroids and scaled to unit weighted size
(sum_k w_k |X_k|^2 = 1). Then the optimal R maximises tr(R^T M), M = sum_k w_k X_k Y_k^T, with the
proper-rotation (Kabsch) sign correction, s = tr(R^T M), and the residual is 1 - s^2. We report

    procrustes_distance = sqrt(max(0, 1 - s^2))  in [0, 1]

(0: same shape up to rotation, scale and translation), computed as the square root of the residual.
Unlike an unconstrained orthogonal Procrustes (scipy.linalg.orthogonal_procrustes,
scipy.spatial.procrustes) we never reflect: a mirror image of an asymmetric pose is *not* at
distance 0. In 2D the optimum is closed form, vectorized over any batch:
a = Σ w (X·Y), b = Σ w (X_y Y_x − X_x Y_y), θ = atan2(b, a), s = hypot(a, b). In 3D: batched SVD.

Default weights: 1 where the keypoint is present in both poses (confidence > 0), else 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidPoseError


@dataclass
class ProcrustesResult:
    """Batched result: aligned source (…, K, D), rotation (…, D, D), scale (…,), translation (…, D), distance (…,)."""

    aligned: np.ndarray
    rotation: np.ndarray
    scale: np.ndarray
    translation: np.ndarray
    distance: np.ndarray


def _prepare(x, y, weights, conf_x, conf_y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape[-2:] != y.shape[-2:] or x.shape[-1] not in (2, 3):
        raise InvalidPoseError(f"procrustes: expected two (K, 2) or (K, 3) point sets of equal shape, got {x.shape} and {y.shape}")
    if weights is None:
        w = np.ones(np.broadcast_shapes(x.shape[:-1], y.shape[:-1]))
        if conf_x is not None:
            w = w * (np.asarray(conf_x) > 0)
        if conf_y is not None:
            w = w * (np.asarray(conf_y) > 0)
    else:
        w = np.asarray(weights, dtype=np.float64)
    nan = np.isnan(x).any(axis=-1) | np.isnan(y).any(axis=-1)
    w = np.where(nan, 0.0, w)
    x = np.where(np.isnan(x), 0.0, x)
    y = np.where(np.isnan(y), 0.0, y)
    return x, y, w


def _centre_scale(p, w):
    wsum = w.sum(axis=-1, keepdims=True)
    mu = (w[..., None] * p).sum(axis=-2) / np.where(wsum > 0, wsum, 1.0)
    c = p - mu[..., None, :]
    size = np.sqrt((w[..., None] * c * c).sum(axis=(-2, -1)))
    return c, mu, size


def procrustes_align(target, source, weights=None, *, conf_target=None, conf_source=None) -> ProcrustesResult:
    """Align ``source`` onto ``target`` with a proper rotation, a scale and a translation (batched).

    target, source: (…, K, D) with D = 2 or 3; weights (…, K) or None (see module doc).
    Raises InvalidPoseError when fewer than two weighted points remain or a shape collapses to a point.
    """
    x, y, w = _prepare(target, source, weights, conf_target, conf_source)
    if np.any((w > 0).sum(axis=-1) < 2):
        raise InvalidPoseError("procrustes: fewer than 2 keypoints present in both poses")
    xc, mux, sx = _centre_scale(x, w)
    yc, muy, sy = _centre_scale(y, w)
    if np.any(sx == 0) or np.any(sy == 0):
        raise InvalidPoseError("procrustes: a pose has all its present keypoints on one point")
    xn = xc / sx[..., None, None]
    yn = yc / sy[..., None, None]
    d = x.shape[-1]
    if d == 2:
        a = (w * (xn[..., 0] * yn[..., 0] + xn[..., 1] * yn[..., 1])).sum(axis=-1)
        b = (w * (xn[..., 1] * yn[..., 0] - xn[..., 0] * yn[..., 1])).sum(axis=-1)
        s_unit = np.hypot(a, b)
        theta = np.arctan2(b, a)
        c, s = np.cos(theta), np.sin(theta)
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)
    else:
        m = np.einsum("...k,...ki,...kj->...ij", w, xn, yn)
        u, sv, vt = np.linalg.svd(m)
        det = np.linalg.det(u @ vt)
        corr = np.ones(sv.shape)
        corr[..., -1] = np.sign(np.where(det == 0, 1.0, det))
        rot = (u * corr[..., None, :]) @ vt
        s_unit = (sv * corr).sum(axis=-1)
    # residual computed directly (1 - s^2 loses precision near 0)
    fit = s_unit[..., None, None] * np.einsum("...ij,...kj->...ki", rot, yn)
    dist = np.sqrt((w[..., None] * (xn - fit) ** 2).sum(axis=(-2, -1)))
    scale = s_unit * sx / sy
    aligned = scale[..., None, None] * np.einsum("...ij,...kj->...ki", rot, yc) + mux[..., None, :]
    translation = mux - scale[..., None] * np.einsum("...ij,...j->...i", rot, muy)
    return ProcrustesResult(aligned, rot, scale, translation, dist)


def procrustes_distance(target, source, weights=None, *, conf_target=None, conf_source=None) -> np.ndarray:
    """sqrt(1 - s^2) after proper-rotation Procrustes on unit-size shapes: 0 = same shape; never reflects."""
    return procrustes_align(target, source, weights, conf_target=conf_target, conf_source=conf_source).distance
