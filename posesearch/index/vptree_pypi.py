"""``vptree-pypi`` backend: the PyPI ``vptree`` package (pure Python), used the way Move Mirror used a VP-tree.

Kept as the baseline the benchmarks compare against. How Move Mirror did it (Google, 2018, with the
JavaScript ``vptree.js``): every pose vector carries its own confidences, and the tree is built and
searched with ``weightedDistanceMatching(a, b)``, whose weights are those of its *first* argument. The
VP-tree calls ``d(vantage point, point)`` while building and ``d(query, vantage point)`` while
searching, so the tree is partitioned with each vantage point's own confidences and searched with the
query's. We do the same: ``build_weights="corpus"`` (default) uses the corpus frames' COCO-17
confidences at build time (``"uniform"``: all ones; also used for trees built from bare vectors).

The weighted distance is not a metric (weights change with the first argument, so the triangle
inequality the tree's pruning relies on does not hold between build and search): results are
**approximate**. Under ``cosine`` the distance is the L2 distance of unit vectors, a metric, and the
package's search is exact. Measured recall@10 against ``exact`` (41k real frames, Penn Action + COCO
val, held-out queries with confidences uniform in 0.3-1 and 15% missing, see indexes/README.md):
weighted 0.945 (``uniform`` build weights: 0.943), cosine 1.0, at 35-50 ms per query.

Limits and workarounds:

* Pure Python: about 5 us per distance; building costs ~ N log2 N distances. Corpora above
  ``max_frames`` (default 200,000) are refused with a message pointing to the ``vptree`` backend.
* The package recurses once per tree level and puts points tied with the median on one side, so ~500
  identical points make it exceed Python's recursion limit (its issue #20). Identical vectors are
  therefore collapsed into one tree point before building (results expand them again, ties by smaller
  id); a RecursionError that still happens (many near-ties) becomes a one-line error.
* Its neighbour list compares ``(distance, point)`` tuples, so tree points are integer ids (never
  arrays); distances are re-computed by the exact kernel so they match every other backend bit for bit.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ..registry import Registry
from .backend import KERNEL_METRIC, Backend, check_positive_int, option

BUILD_WEIGHTS = Registry("vptree-pypi build_weights", ("corpus", "uniform"))


@dataclass(frozen=True)
class PyPIVPTreeParams:
    """build_weights: "corpus" (Move Mirror: each vantage point weighs with its own confidences) or
    "uniform". max_frames: largest corpus accepted (pure Python is slow)."""

    build_weights: str = option("corpus", "corpus (Move Mirror) | uniform.")
    max_frames: int = option(200_000, "largest corpus accepted.")

    def __post_init__(self):
        object.__setattr__(self, "build_weights", BUILD_WEIGHTS.canonical(self.build_weights))
        check_positive_int("vptree-pypi", "max_frames", self.max_frames, maximum=10_000_000)


class _Query:
    """A query as a tree 'point': its vector and weights (tree points are ints, so this is told apart)."""

    __slots__ = ("vec", "w", "wsum")

    def __init__(self, vec, w):
        self.vec = vec
        self.w = w
        self.wsum = float(w.sum()) if w is not None else 1.0


class _Distance:
    """dist_fn(a, b) for the package: a is a tree point (int) while building, a _Query while searching."""

    def __init__(self, points: np.ndarray, weights: np.ndarray | None, metric: str,
                 progress=None, total: int = 0):
        self.x = points                                  # (U, 34) float64
        self.w = weights                                 # (U, 17) float64 or None
        self.wsum = None if weights is None else weights.sum(axis=1)
        self.weighted = metric == "weighted"
        self.calls = 0
        self.progress = progress
        self.total = max(1, total)

    def __call__(self, a, b):
        g = self.x[b]
        if isinstance(a, _Query):
            f, w, ws = a.vec, a.w, a.wsum
        else:
            self.calls += 1
            if self.progress is not None and self.calls % 50_000 == 0:
                self.progress(min(self.calls, self.total - 1), self.total)
            f = self.x[a]
            if self.weighted:
                w, ws = self.w[a], self.wsum[a]
        if self.weighted:
            d = np.abs(f - g)
            return float((d[0::2] + d[1::2]) @ w) / ws if ws > 0 else 0.0
        d = f - g
        return float(np.sqrt(d @ d))


def _vptree_module():
    import vptree

    return vptree


def _flatten(root) -> dict[str, np.ndarray]:
    """Tree objects -> arrays (breadth-first; children as node indices, -1 = none), iteratively."""
    nodes = [root]
    vp, left, right, lmin, lmax, rmin, rmax = [], [], [], [], [], [], []
    i = 0
    while i < len(nodes):
        n = nodes[i]
        vp.append(int(n.vp))
        for child, out in ((n.left, left), (n.right, right)):
            if child is None:
                out.append(-1)
            else:
                out.append(len(nodes))
                nodes.append(child)
        lmin.append(n.left_min)
        lmax.append(n.left_max)
        rmin.append(n.right_min)
        rmax.append(n.right_max)
        i += 1
    return {"vp": np.array(vp, np.int64), "left": np.array(left, np.int64), "right": np.array(right, np.int64),
            "bounds": np.array([lmin, lmax, rmin, rmax], np.float64).T.copy()}


def _unflatten(arrays: dict[str, np.ndarray], dist_fn):
    """Arrays -> the package's VPTree objects (without re-running its constructor)."""
    VPTree = _vptree_module().VPTree
    vp, left, right, bounds = arrays["vp"], arrays["left"], arrays["right"], arrays["bounds"]
    nodes = [object.__new__(VPTree) for _ in range(len(vp))]
    for i, n in enumerate(nodes):
        n.vp = np.int64(vp[i])
        n.left = nodes[left[i]] if left[i] >= 0 else None
        n.right = nodes[right[i]] if right[i] >= 0 else None
        n.left_min, n.left_max, n.right_min, n.right_max = (float(v) for v in bounds[i])
        n.dist_fn = dist_fn
    return nodes[0]


class PyPIVPTreeBackend(Backend):
    """The PyPI ``vptree`` package with Move Mirror's weighted distance (approximate; baseline)."""

    name = "vptree-pypi"
    Params = PyPIVPTreeParams
    needs_build_weights = True

    def __init__(self, data, metric, params, tree=None, reps=None, group_start=None, members=None):
        super().__init__(data, metric, params)
        self.tree = tree
        self.reps = reps                    # (U,) row of each tree point
        self.group_start = group_start      # (U + 1,) CSR offsets into members
        self.members = members              # rows, grouped by tree point, ascending within a group

    @classmethod
    def exact_for(cls, metric, params=None) -> bool:
        return metric != "weighted"   # weighted (query weights only) is no metric: pruning may miss neighbours;
        # cosine and view are L2 distances of unit vectors

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        n = len(data)
        if n > params.max_frames:
            raise InvalidArgumentError(
                f"backend 'vptree-pypi' is pure Python and slow: {n:,} frames exceed its max_frames "
                f"({params.max_frames:,}); use backend 'vptree' (exact, fast) or raise max_frames")
        # collapse identical vectors (the package recurses once per level and degenerates on them)
        from .groups import RowGroups   # numba: imported when building, not when listing options

        groups = RowGroups.of(data)
        reps, group_start, members = groups.rows, groups.group_start, groups.members

        weighted = metric == "weighted"
        w = None
        if weighted:
            if params.build_weights == "corpus" and build_weights is not None:
                w = np.asarray(build_weights, dtype=np.float64)[reps]
                w[w.sum(axis=1) <= 0] = 1.0
            else:
                w = np.ones((len(reps), data.shape[1] // 2))
        x = np.asarray(data, dtype=np.float64)[reps]
        est = int(len(reps) * max(1.0, np.log2(max(2, len(reps)))))
        dist = _Distance(x, w, metric, progress, est)
        VPTree = _vptree_module().VPTree
        try:
            tree = VPTree(np.arange(len(reps), dtype=np.int64), dist)
        except RecursionError:
            raise InvalidArgumentError(
                f"backend 'vptree-pypi': the PyPI vptree package exceeded Python's recursion limit "
                f"({sys.getrecursionlimit()}) building over {len(reps):,} distinct frames (it degenerates on "
                "many near-identical poses, its issue #20); use backend 'vptree'") from None
        if progress:
            progress(est, est)
        return cls(data, metric, params, tree, reps, group_start, members)

    def knn(self, queries, weights, k):
        from .kernels.exact import rescore

        weighted = self.metric == "weighted"
        kk = min(k, len(self.reps))
        cands = []
        for b in range(len(queries)):
            q = _Query(np.asarray(queries[b], dtype=np.float64), weights[b] if weighted else None)
            found = self.tree.get_n_nearest_neighbors(q, kk)
            pts = np.array([int(p) for _, p in found], dtype=np.int64)
            rows = np.concatenate([self.members[self.group_start[p]:self.group_start[p + 1]] for p in pts])
            cands.append(rows)
        width = max(len(c) for c in cands)
        cand = np.full((len(queries), width), -1, dtype=np.int64)
        for b, c in enumerate(cands):
            cand[b, :len(c)] = c
        return rescore(self.data, queries, weights if weighted else None, cand, k, KERNEL_METRIC[self.metric])

    def to_arrays(self):
        out = {f"tree_{k}": v for k, v in _flatten(self.tree).items()}
        out.update(reps=self.reps, group_start=self.group_start, members=self.members)
        return out

    @classmethod
    def from_arrays(cls, arrays, data, metric, params, *, path="index"):
        need = ("tree_vp", "tree_left", "tree_right", "tree_bounds", "reps", "group_start", "members")
        if any(n not in arrays for n in need):
            raise FileFormatError(path, "damaged index file: vptree-pypi arrays missing")
        t = {k[5:]: arrays[k] for k in need[:4]}
        reps, gs, mem = arrays["reps"], arrays["group_start"], arrays["members"]
        u, n = len(reps), len(data)
        ok = (t["vp"].ndim == 1 and len(t["vp"]) == u and t["left"].shape == (u,) and t["right"].shape == (u,)
              and t["bounds"].shape == (u, 4) and gs.shape == (u + 1,) and mem.shape == (n,)
              and (u == 0 or (t["vp"].min() >= 0 and t["vp"].max() < u))
              and np.all((t["left"] == -1) | ((t["left"] > np.arange(u)) & (t["left"] < u)))
              and np.all((t["right"] == -1) | ((t["right"] > np.arange(u)) & (t["right"] < u)))
              and (u == 0 or (reps.min() >= 0 and reps.max() < n)) and gs[0] == 0 and gs[-1] == n
              and np.all(np.diff(gs) >= 1) and (n == 0 or (mem.min() >= 0 and mem.max() < n)))
        if not ok:
            raise FileFormatError(path, "damaged index file: inconsistent vptree-pypi arrays")
        dist = _Distance(np.asarray(data, dtype=np.float64)[reps], None, metric)
        tree = _unflatten(t, dist)
        return cls(data, metric, params, tree, reps, gs, mem)

    def describe(self):
        return {"tree_points": int(len(self.reps)), "duplicates_collapsed": int(len(self.data) - len(self.reps))}
