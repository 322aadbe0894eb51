"""When an exact re-rank of L1 candidates is provably exact under the weighted distance.

Engines that do not know Move Mirror's weighted distance (FAISS IVF on disk, a vector database) can still
serve exact weighted answers: fetch candidates by L1 distance, re-rank them with the weighted distance,
and check a certificate. For a query with per-keypoint weights ``w`` (its confidences, ``W = sum w``) and
``P`` its keypoints of positive weight, for every corpus vector ``g``::

    weighted(q, g) = sum_k w_k (|dx_k| + |dy_k|) / W  >=  (min_{k in P} w_k / W) * L1_P(q, g)

where ``L1_P`` sums ``|dx_k| + |dy_k|`` over the keypoints of ``P`` only (every term of the left side is
at least ``min_P w / W`` times the same term of ``L1_P``; keypoints of zero weight add nothing to either).
When every keypoint is present ``L1_P`` is the plain L1 distance of the two vectors.

So if the engine returned every vector with ``L1_P <= R`` (for a top-C query: ``R`` is the C-th candidate's
L1 distance), any vector it did not return has ``weighted > (min_P w / W) * R``; if the k-th best weighted
distance among the candidates is ``<= (min_P w / W) * R`` (:func:`rerank_is_exact`), no vector outside the
candidates can enter the top k, and the re-ranked top k is the exact one (ties at the boundary included).
Otherwise fetch more candidates (a larger C) or fall back to an exact index.
"""
from __future__ import annotations

import numpy as np

__all__ = ["l1_bound_factor", "masked_l1", "rerank_is_exact"]


def l1_bound_factor(weights) -> np.ndarray:
    """Per query, ``min_{k: w_k > 0} w_k / sum_k w_k``: the weighted distance is at least this times
    :func:`masked_l1`. ``weights``: (B, 17) or (17,) non-negative, at least one positive per query."""
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    smallest = np.where(w > 0, w, np.inf).min(axis=1)
    return smallest / w.sum(axis=1)


def masked_l1(queries, vectors, weights) -> np.ndarray:
    """(B, M) L1 distances of (B, 34) queries to (M, 34) vectors over the keypoints each query weighs > 0."""
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    present = np.repeat(np.atleast_2d(np.asarray(weights)) > 0, 2, axis=1)       # (B, 34), x and y of each joint
    return (np.abs(q[:, None, :] - v[None, :, :]) * present[:, None, :]).sum(axis=2)


def rerank_is_exact(kth_weighted, l1_radius, weights) -> np.ndarray:
    """Per query, whether a re-ranked top k is provably exact: its k-th weighted distance is at most
    :func:`l1_bound_factor` times ``l1_radius``, the L1 distance (over the query's present keypoints) within
    which the engine returned every vector."""
    return np.asarray(kth_weighted, dtype=np.float64) <= l1_bound_factor(weights) * np.asarray(l1_radius,
                                                                                               dtype=np.float64)
