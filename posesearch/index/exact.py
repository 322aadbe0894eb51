"""``exact`` backend: brute force over every indexed vector (the reference all backends are tested against).

Each query costs M distance evaluations (M indexed frames), computed in float64 by the numba kernel
:func:`posesearch.index.kernels.exact.knn_exact`. Results are the exact k nearest, ties broken by the
smaller row. Stores nothing besides the vectors.
"""
from __future__ import annotations

from .backend import KERNEL_METRIC, Backend, NoParams


class ExactBackend(Backend):
    """Brute force: exact k nearest under the weighted and cosine metrics."""

    name = "exact"

    @classmethod
    def exact_for(cls, metric, params=None) -> bool:
        return True
    Params = NoParams

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        if progress:
            progress(len(data), len(data))
        return cls(data, metric, params)

    def knn(self, queries, weights, k):
        from .kernels.exact import knn_exact

        metric = KERNEL_METRIC[self.metric]
        return knn_exact(self.data, queries, weights if metric == "weighted" else None, k, metric)
