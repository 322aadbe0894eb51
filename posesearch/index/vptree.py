"""``vptree`` backend (default): the numba VP-tree of :mod:`posesearch.index.kernels.vptree`.

Exact for both metrics. The weighted distance is not a metric across queries (its weights come from
the query), but for one query it is a weighted L1 distance, and the tree bounds each node per joint
(shells of per-joint L1 distances to the vantage point), so the query's weights can be applied to the
bounds at search time: pruning never drops a true neighbour, for any query confidences. Cosine is
searched as L2 over unit vectors. See the kernel module for the bounds and their proof.

Parameters: ``leaf_size`` (rows per leaf, default 128), ``seed`` (vantage point sampling),
``split_weights`` ("uniform", or "face-light": the five COCO face joints weigh 0.25 when choosing vantage
points and splits; results never change, only how many rows a query scans — see the kernel) and
``face_free_tree`` (weighted only, default on): a second tree over the rows with the five face joints
left out, searched by every query that has none of them. Such a query's distance ignores the face, so
that tree's splits and whole-distance bounds fit it better; its answers are the same bit for bit (a
joint of weight 0 adds exactly 0). Penn Action, and many COCO persons, have no face joints: measured on
312k real frames with real confidences, those queries scan about half the rows (median 0.49 -> 0.26 ms).
The cost is a second tree: about twice the build time and the tree's memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError
from ..registry import Registry
from .backend import KERNEL_METRIC, MAX_SEED, Backend, check_positive_int, option
from .query import FACE_DIMS, FACE_JOINTS


SPLIT_WEIGHTS = Registry("vptree split_weights", {"uniform": None, "face-light": "face-light"})
_FACE_FREE = "face_free_"    # prefix of the second tree's arrays in the index file
MAX_LEAF_SIZE = 1 << 20      # a leaf this big is a brute-force scan already


def _merge(a: np.ndarray, b: np.ndarray, to_b: np.ndarray) -> np.ndarray:
    """Rows of ``a`` where ``to_b`` is False and of ``b`` where it is True, in query order."""
    out = np.empty((len(to_b),) + a.shape[1:], a.dtype)
    out[~to_b], out[to_b] = a, b
    return out


def _without_face(data: np.ndarray) -> np.ndarray:
    out = np.array(data, dtype=np.float32, copy=True)
    out[:, FACE_DIMS] = 0.0
    return out


@dataclass(frozen=True)
class VPTreeParams:
    """leaf_size: rows per leaf (smaller = deeper tree). seed: vantage point sampling. split_weights:
    "uniform" or "face-light" (joint weights used to build the tree; speed only, results are exact).
    face_free_tree: weighted only, also build a tree without the face joints for queries that have none
    (speed only; see the module doc)."""

    leaf_size: int = option(128, "points per leaf (128).")
    seed: int = option(0, "vantage point choice.")
    split_weights: str = option("uniform", "uniform | face-light (build-time joint weights; speed only).")
    face_free_tree: bool = True

    def __post_init__(self):
        check_positive_int("vptree", "leaf_size", self.leaf_size, maximum=MAX_LEAF_SIZE)
        check_positive_int("vptree", "seed", self.seed, minimum=0, maximum=MAX_SEED)   # numba int64
        object.__setattr__(self, "split_weights", SPLIT_WEIGHTS.canonical(self.split_weights))


class VPTreeBackend(Backend):
    """Exact VP-tree search (numba kernels)."""

    name = "vptree"
    Params = VPTreeParams
    TEST_PARAMS = ({}, {"leaf_size": 8, "split_weights": "face-light"})

    @classmethod
    def exact_for(cls, metric, params=None) -> bool:
        return True

    CAN_OWN_DATA = True

    def __init__(self, data, metric, params, tree=None, face_free=None):
        super().__init__(data, metric, params)
        self.tree = tree
        self.face_free = face_free     # the tree without face joints (weighted), or None
        if tree is not None and face_free is not None and face_free.n_nodes == tree.n_nodes \
                and face_free.d == tree.d:
            # a thread searches one tree at a time: both use the same per-thread search workspace (its
            # (nodes, K) float64 inherited bounds are ~36 MB at 10M rows)
            face_free._workspace = tree._workspace

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None, own_data=False):
        """``own_data=True``: ``data`` is handed over and becomes the tree's rows, reordered in place (see
        :attr:`Backend.CAN_OWN_DATA`); ``self.data`` then reads them through the tree's permutation, so
        the vectors are held once instead of twice (in row order and in tree order)."""
        from .kernels.vptree import build_vptree

        two = metric == "weighted" and params.face_free_tree and data.shape[1] == 34
        steps = 1000
        n_parts = 2 if two else 1
        trees = []
        # owned data: the face-free rows are made before the first tree reorders data (the same rows, in
        # the same order, so the same tree); otherwise only after the first build (not beside its
        # scratch). Either way they are handed over: the build reorders them in place, no second copy
        face_free_rows = _without_face(data) if (two and own_data) else None
        for i in range(n_parts):
            report = None if progress is None else (
                lambda f, i=i: progress(int((i + f) * steps / n_parts), steps))
            if i == 0:
                rows = data
            else:
                rows = face_free_rows if face_free_rows is not None else _without_face(data)
                face_free_rows = None
            trees.append(build_vptree(rows, KERNEL_METRIC[metric], leaf_size=params.leaf_size, seed=params.seed,
                                      progress=report, split_weights=SPLIT_WEIGHTS[params.split_weights],
                                      overwrite=i > 0 or own_data))
            del rows
        return cls(TreeRows(trees[0]) if own_data else data, metric, params, trees[0], trees[1] if two else None)

    def _search(self, queries, weights, k, stats: bool):
        from .kernels.vptree import knn_vptree, rows_with_weight

        if self.metric != "weighted":
            return knn_vptree(self.tree, queries, None, k, return_stats=stats)
        if self.face_free is None:
            return knn_vptree(self.tree, queries, weights, k, return_stats=stats)
        try:
            w = np.ascontiguousarray(weights, dtype=np.float64)
        except (TypeError, ValueError):
            w = None
        if w is None or w.ndim != 2 or w.shape[1] < FACE_JOINTS.stop:   # malformed: the kernel's checks report it
            return knn_vptree(self.tree, queries, weights, k, return_stats=stats)
        has_face = rows_with_weight(w, FACE_JOINTS.start, FACE_JOINTS.stop)
        n_face = np.count_nonzero(has_face)
        if n_face in (0, len(w)):                    # one tree serves the whole batch (always for one query)
            return knn_vptree(self.tree if n_face else self.face_free, queries, weights, k, return_stats=stats)
        no_face = ~has_face
        q = np.asarray(queries)
        (ia, da, *sa), (ib, db, *sb) = (knn_vptree(t, q[m], w[m], k, return_stats=stats)
                                        for t, m in ((self.tree, ~no_face), (self.face_free, no_face)))
        ids, dists = _merge(ia, ib, no_face), _merge(da, db, no_face)
        if not stats:
            return ids, dists
        st = {key: _merge(v, sb[0][key], no_face) for key, v in sa[0].items() if isinstance(v, np.ndarray)}
        st["mean_points"] = float(st["points"].mean())
        st["mean_nodes"] = float(st["nodes"].mean())
        return ids, dists, st

    def knn(self, queries, weights, k):
        return self._search(queries, weights, k, False)

    def knn_stats(self, queries, weights, k):
        """Like :meth:`knn`, plus the kernel's search statistics (distances computed, nodes visited)."""
        return self._search(queries, weights, k, True)

    def to_arrays(self):
        # the rows in tree order are data[perm]: not stored twice (the index stores data itself)
        out = {k: v for k, v in self.tree.to_arrays().items() if k != "data_perm"}
        if self.face_free is not None:
            out.update({_FACE_FREE + k: v for k, v in self.face_free.to_arrays().items() if k != "data_perm"})
        return out

    @classmethod
    def from_arrays(cls, arrays, data, metric, params, *, path="index", own_data=False):
        """``own_data=True`` (what ``Index.load`` does): ``arrays`` and ``data`` are handed over. The arrays
        are popped from the dict as the trees take them (the file's int64 / float64 copies are freed as
        they are converted) and ``data`` becomes the first tree's rows, reordered in place: loading then
        holds about what the loaded index holds, not the file's arrays beside both trees."""
        rows = np.ascontiguousarray(data, dtype=np.float32)
        if own_data:
            main = {k: arrays.pop(k) for k in [k for k in arrays if not k.startswith(_FACE_FREE)]}
        else:
            main = {k: v for k, v in arrays.items() if not k.startswith(_FACE_FREE)}
        sub = {k[len(_FACE_FREE):]: v for k, v in arrays.items() if k.startswith(_FACE_FREE)}
        if own_data:
            arrays.clear()
        # the face-free tree first, while the rows are still in row order: its distinct rows are gathered
        # from them with the face set to 0 (no face-free copy of all rows); then the first tree takes the
        # rows over (in place when owned). Both check their groups of identical rows against the rows.
        face_free = _tree_from(sub, rows, path, "face-free ", zero_cols=FACE_DIMS, consume=own_data) \
            if sub else None                 # absent in files without the second tree
        del sub
        tree = _tree_from(main, rows, path, "", own_rows=own_data, consume=own_data)
        # the rows are read from the tree (checked equal to data's: the tree's distinct rows are taken from
        # data and its groups checked identical), so the caller's copy of them need not be kept
        return cls(TreeRows(tree), metric, params, tree, face_free)

    def describe(self):
        t = self.tree
        return {"tree_depth": t.depth, "tree_nodes": t.n_nodes, "tree_leaves": t.n_leaves,
                "tree_distinct_rows": t.n_unique,     # identical rows are one tree row
                "face_free_tree": self.face_free is not None}


class TreeRows:
    """The (N, D) float32 rows of a VP-tree in row-id order, read through its permutation: an array-like
    standing for the vectors a tree was built over once the tree holds them (in tree order) and the
    row-order copy is gone. Indexing (``rows[ids]``, ``rows[i]``, slices, masks, ``rows[ids, cols]``)
    gathers the rows asked for; ``np.asarray(rows)`` makes the whole (N, D) array (a copy, on demand)."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, tree):
        self._tree = tree

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._tree.n), int(self._tree.d))

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def positions(self, ids: np.ndarray | None = None) -> np.ndarray:
        """The tree positions (rows of ``data_perm``) of row ``ids`` (all rows when None). No map from ids to
        positions is kept (it would be 4 bytes a row): one pass over the permutation finds those asked."""
        t = self._tree
        gs = t.group_start
        if ids is None:
            pos = np.empty(t.n, np.int64)
            pos[t.perm] = np.repeat(np.arange(t.n_unique), np.diff(gs))
            return pos
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros(ids.shape, np.int64)
        asked = np.unique(ids)
        chunk = 1 << 16                                   # where in perm the ids asked for are, chunk by
        parts = []                                        # chunk: no N-sized temporary
        for a in range(0, t.n, chunk):
            p = t.perm[a:a + chunk]
            i = np.minimum(np.searchsorted(asked, p), len(asked) - 1)
            parts.append(np.flatnonzero(asked[i] == p) + a)
        at = np.concatenate(parts)
        pos_of = np.empty(t.n, np.int64) if at.size * 64 > t.n else None
        tree_pos = np.searchsorted(gs, at, side="right") - 1
        if pos_of is not None:                            # many ids: a full-size scatter is cheaper
            pos_of[t.perm[at]] = tree_pos
            return pos_of[ids]
        found = t.perm[at]                                # ids in perm order; sort them to look the asked up
        order = np.argsort(found, kind="stable")
        return tree_pos[order][np.searchsorted(found[order], ids)]

    def __getitem__(self, key):
        rows, rest = (key[0], key[1:]) if isinstance(key, tuple) and key else (key, ())
        if rows is None or rows is Ellipsis:
            return np.asarray(self)[key]
        ids = self._ids(rows)
        out = self._tree.data_perm[self.positions(ids)]
        if not rest:
            return out
        return out[rest] if np.ndim(ids) == 0 else out[(slice(None),) + rest]

    def _ids(self, rows):
        """Row ids (non-negative, int64, an array or a scalar) that ``rows`` selects, as numpy would index
        an (N, D) array's first axis; IndexError when out of range (no N-sized temporary)."""
        n = self.shape[0]
        if isinstance(rows, slice):
            return np.arange(*rows.indices(n), dtype=np.int64)
        a = np.asarray(rows)
        if a.dtype == np.bool_:
            if a.shape != (n,):
                raise IndexError(f"boolean index of shape {a.shape} does not match {n} rows")
            return np.flatnonzero(a)
        if a.dtype.kind not in "iu":
            raise IndexError(f"row index: expected integers, a slice or a boolean mask, got {a.dtype}")
        a = a.astype(np.int64)
        if a.size and (a.min() < -n or a.max() >= n):
            raise IndexError(f"row index out of range for {n} rows")
        return np.where(a < 0, a + n, a) if a.ndim else (int(a) + n if a < 0 else int(a))

    def __array__(self, dtype=None, copy=None):
        out = self._tree.data_perm[self.positions()]
        return out if dtype is None else out.astype(dtype, copy=False)

    def astype(self, dtype, copy: bool = True) -> np.ndarray:
        """The whole (N, D) array as ``dtype`` (always a new array, as for an ndarray view of another dtype)."""
        return np.asarray(self).astype(dtype, copy=False)

    def copy(self) -> np.ndarray:
        """The whole (N, D) float32 array (a new array)."""
        return np.asarray(self)

    def __getattr__(self, name):
        """Any other ndarray attribute or method (``mean``, ``T``, ``tolist``...) acts on the whole (N, D)
        array, made on demand: code written for ``Index.data`` as an ndarray keeps working."""
        if name.startswith("_") or not hasattr(np.ndarray, name):
            raise AttributeError(f"'TreeRows' object has no attribute {name!r}")
        return getattr(np.asarray(self), name)

    def __repr__(self) -> str:
        return f"TreeRows(shape={self.shape}, dtype=float32)"


def _tree_from(arrays, rows: np.ndarray, path: str, which: str, **how):
    """A VPTreeArrays from stored arrays over ``rows`` (the file stores the rows once, as the index's
    vectors: the tree's distinct rows are taken from them, its groups of identical rows checked). ``how``:
    :meth:`VPTreeArrays.from_arrays`'s own_rows / zero_cols / consume (``arrays`` is then the caller's
    dict to consume)."""
    from .kernels.vptree import VPTreeArrays

    if how.get("consume"):
        arrays.pop("data_perm", None)          # not stored (the rows are): ignored
    else:
        arrays = {k: v for k, v in arrays.items() if k != "data_perm"}
    try:
        tree = VPTreeArrays.from_arrays(arrays, rows=rows, **how)
    except FileFormatError as e:
        raise FileFormatError(path, f"damaged index file: {which}{e.problem}") from None
    except (KeyError, ValueError, TypeError, IndexError) as e:
        raise FileFormatError(path, f"damaged index file: {which}VP-tree arrays are inconsistent ({e})") from None
    return tree
