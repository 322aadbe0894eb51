"""Compiled (numba) search kernels of the index layer.

* :mod:`.exact` — brute-force exact k-NN (:func:`knn_exact`), all distances (:func:`pairwise_exact`),
  exact rescoring of candidate ids (:func:`rescore`).
* :mod:`.vptree` — the exact VP-tree for the weighted (Move Mirror) and l2 metrics
  (:func:`build_vptree`, :func:`knn_vptree`, :class:`VPTreeArrays`).

Kernel metrics are ``"weighted"`` and ``"l2"`` (the cosine metric is l2 over unit vectors). Every kernel
reports the same float64 distance for the same (query, row): see :mod:`._common`.
"""
from __future__ import annotations

from ._common import KERNEL_METRICS
from .exact import knn_exact, pairwise_exact, rescore

__all__ = ["KERNEL_METRICS", "knn_exact", "pairwise_exact", "rescore",
           "VPTreeArrays", "build_vptree", "knn_vptree"]


def __getattr__(name):  # the VP-tree module is imported on first use
    if name in ("VPTreeArrays", "build_vptree", "knn_vptree"):
        from . import vptree
        return getattr(vptree, name)
    raise AttributeError(name)
