"""``vptree`` backend (default): the numba VP-tree of :mod:`posesearch.index.kernels.vptree`.

Exact for both metrics. The weighted distance is not a metric across queries (its weights come from
the query), but for one query it is a weighted L1 distance, and the tree bounds each node per joint
(shells of per-joint L1 distances to the vantage point), so the query's weights can be applied to the
bounds at search time: pruning never drops a true neighbour, for any query confidences. Cosine is
searched as L2 over unit vectors. See the kernel module for the bounds and their proof.

Parameters: ``leaf_size`` (rows per leaf, default 128), ``seed`` (vantage point sampling) and
``split_weights`` ("uniform", or "face-light": the five COCO face joints weigh 0.25 when choosing vantage
points and splits; results never change, only how many rows a query scans — see the kernel).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError
from .backend import KERNEL_METRIC, Backend, check_positive_int


SPLIT_WEIGHTS = {"uniform": None, "face-light": "face-light"}


@dataclass(frozen=True)
class VPTreeParams:
    """leaf_size: rows per leaf (smaller = deeper tree). seed: vantage point sampling. split_weights:
    "uniform" or "face-light" (joint weights used to build the tree; speed only, results are exact)."""

    leaf_size: int = 128
    seed: int = 0
    split_weights: str = "uniform"

    def __post_init__(self):
        check_positive_int("vptree", "leaf_size", self.leaf_size)
        check_positive_int("vptree", "seed", self.seed, minimum=0)
        if self.split_weights not in SPLIT_WEIGHTS:
            from ..errors import UnknownNameError

            raise UnknownNameError("vptree split_weights", self.split_weights, SPLIT_WEIGHTS)


class VPTreeBackend(Backend):
    """Exact VP-tree search (numba kernels)."""

    name = "vptree"
    exact = True
    Params = VPTreeParams

    def __init__(self, data, metric, params, tree=None):
        super().__init__(data, metric, params)
        self.tree = tree

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        from .kernels.vptree import build_vptree

        steps = 1000
        tree = build_vptree(data, KERNEL_METRIC[metric], leaf_size=params.leaf_size, seed=params.seed,
                            progress=None if progress is None else (lambda f: progress(int(f * steps), steps)),
                            split_weights=SPLIT_WEIGHTS[params.split_weights])
        return cls(data, metric, params, tree)

    def knn(self, queries, weights, k):
        from .kernels.vptree import knn_vptree

        return knn_vptree(self.tree, queries, weights if self.metric == "weighted" else None, k)

    def knn_stats(self, queries, weights, k):
        """Like :meth:`knn`, plus the kernel's search statistics (distances computed, nodes visited)."""
        from .kernels.vptree import knn_vptree

        return knn_vptree(self.tree, queries, weights if self.metric == "weighted" else None, k, return_stats=True)

    def to_arrays(self):
        # the rows in tree order are data[perm]: not stored twice (the index stores data itself)
        return {k: v for k, v in self.tree.to_arrays().items() if k != "data_perm"}

    @classmethod
    def from_arrays(cls, arrays, data, metric, params, *, path="index"):
        from .kernels.vptree import VPTreeArrays

        arrays = dict(arrays)
        perm = arrays.get("perm")
        if not (isinstance(perm, np.ndarray) and perm.dtype == np.int64 and perm.shape == (len(data),)
                and (len(perm) == 0 or (perm.min() >= 0 and perm.max() < len(data)))):
            raise FileFormatError(path, "damaged index file: VP-tree permutation missing or out of range")
        arrays["data_perm"] = np.ascontiguousarray(data[perm])
        try:
            tree = VPTreeArrays.from_arrays(arrays)
        except FileFormatError as e:
            raise FileFormatError(path, f"damaged index file: {e.problem}") from None
        except (KeyError, ValueError, TypeError) as e:
            raise FileFormatError(path, f"damaged index file: VP-tree arrays are inconsistent ({e})") from None
        n = getattr(tree, "n", None)
        if n is not None and int(n) != len(data):
            raise FileFormatError(path, f"damaged index file: the VP-tree holds {n} rows, the index {len(data)}")
        return cls(data, metric, params, tree)

    def describe(self):
        t = self.tree
        return {"tree_depth": t.depth, "tree_nodes": t.n_nodes, "tree_leaves": t.n_leaves}
