"""Pose distances on normalized vectors, and the registry of metric names.

Vectors are (..., 2K) as produced by :func:`posesearch.poses.normalize.normalize_batch`
([x_0, y_0, x_1, y_1, ...]); weights are (..., K), one per keypoint.

* ``cosine_similarity(a, b) = a.b / (|a| |b|)``
* ``cosine_distance(a, b) = sqrt(2 (1 - cosine_similarity(a, b)))`` — the Euclidean distance of the
  unit vectors, so an L2 index over unit vectors is exact for it.
* ``l2_distance(a, b) = |a - b|`` — metric ``view``, on the view-invariant vectors of
  :func:`posesearch.view.lift.embed` (unit length, so an L2 index over them is exact), not on Move
  Mirror vectors.
* ``weighted_distance(F, G, w) = (1 / sum_k w_k) sum_k w_k (|Fx_k - Gx_k| + |Fy_k - Gy_k|)`` — Google
  Move Mirror's confidence-weighted Manhattan distance, weights taken from the query pose F.
  Not symmetric and not a metric (the triangle inequality fails).

All functions broadcast over leading dimensions.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InvalidArgumentError
from ..registry import Registry


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    num = (a * b).sum(axis=-1)
    den = np.sqrt((a * a).sum(axis=-1)) * np.sqrt((b * b).sum(axis=-1))
    if np.any(den == 0):
        raise InvalidArgumentError("cosine_similarity: a vector has zero length")
    return num / den


def cosine_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(2.0 * (1.0 - cosine_similarity(a, b)), 0.0))


def weighted_distance(f: np.ndarray, g: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Move Mirror weighted distance of query vector(s) ``f`` to ``g`` with per-keypoint ``weights``."""
    f = np.asarray(f, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if f.shape[-1] != 2 * w.shape[-1]:
        raise InvalidArgumentError(f"weights: expected {f.shape[-1] // 2} per-keypoint weights, got {w.shape[-1]}")
    total = w.sum(axis=-1)
    if np.any(total <= 0):
        raise InvalidArgumentError("weights: the query has no keypoint with positive weight")
    d = np.abs(f - g)
    per_kp = d[..., 0::2] + d[..., 1::2]
    return (per_kp * w).sum(axis=-1) / total


def l2_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of vectors (metric ``view`` compares view-invariant vectors with it)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    return np.sqrt((d * d).sum(axis=-1))


@dataclass(frozen=True)
class Metric:
    """A registered metric: name, whether it uses per-keypoint weights, and its numpy reference function."""

    name: str
    weighted: bool
    symmetric: bool
    description: str
    function: Callable


METRICS: Registry[Metric] = Registry("metric", {
    "weighted": Metric("weighted", True, False,
                       "Move Mirror confidence-weighted Manhattan distance (weights from the query)",
                       lambda f, g, w: weighted_distance(f, g, w)),
    "cosine": Metric("cosine", False, True, "sqrt(2 (1 - cosine similarity)) of the normalized vectors",
                     lambda f, g, w=None: cosine_distance(f, g)),
    "view": Metric("view", False, True, "any camera angle: L2 distance of the poses lifted to 3D and turned to "
                   "face one way (posesearch.view.lift.embed vectors)", lambda f, g, w=None: l2_distance(f, g)),
}, aliases={"weighted_distance": "weighted", "move-mirror": "weighted", "cosine_distance": "cosine"})
METRICS.descriptions.update({n: m.description for n, m in METRICS.items()})


def get_metric(name: "str | Metric") -> Metric:
    """Look up a metric by name (aliases: weighted_distance, move-mirror, cosine_distance; case, hyphens and
    underscores do not matter); unknown names list the valid ones."""
    if isinstance(name, Metric):
        return name
    return METRICS.lookup(name)
