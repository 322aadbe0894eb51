"""Exact VP-tree k-NN for the weighted (Move Mirror) and l2 metrics.

The weighted distance is not a metric, so the tree is built on per-joint planar distances, which are
(L1 per joint for ``weighted``, Euclidean per joint for ``l2``), and searched with lower bounds that
combine per-joint distance shells around each vantage point, per-node bounding boxes, bounds inherited
from ancestors and the node's whole-distance range (see :mod:`._vpsearch`). Results are exact: same
ids, order (ties by smaller id) and bit-identical float64 distances as :func:`.exact.knn_exact`.

Identical rows: the tree holds each distinct vector once (bit-identical rows are one tree row with its
group of ids, :class:`~posesearch.index.groups.RowGroups`). A hit offers its group's ids, ascending, to
the result heap until the heap refuses one, so k and the tie order (smaller id first) are those of the
exact backend. Without it, 10,000 identical frames tie with each other, no bound can prune among them,
and a query scanned all of them (13.6x the time on a normal corpus of that size; now the same or less).

Layout: everything is flat numpy arrays (no Python object per node). The U distinct rows are stored in
tree order (``data_perm``, every subtree contiguous); the ids of tree row p are
``perm[group_start[p]:group_start[p + 1]]`` (ascending). Nodes are numbered breadth-first; see
:class:`VPTreeArrays` for each array. At the first search a compact search layout is derived from them
(node records, 8-bit codes of the rows; :mod:`._vplayout`): it is never serialized, so a file cannot
hold an inconsistent copy.

Search cost (309k Penn Action + COCO poses, k = 10, one core; see benchmarks/bench_kernels.py):
best-first over nodes with the full bounds down to blocks of <= 4096 rows, scanned through their codes
(~2 ns a row) with exact float64 rescoring of the rows that may enter the result. Block size: a node
expansion costs about a microsecond (two child bounds, their records, the frontier heap), so larger blocks
win although they scan more rows: 4096 against 1024, measured side by side (thread CPU time, 310k Penn +
COCO rows, 100 queries each, benchmarks/bench_cross.py) 1.34x faster on cross-dataset queries with
estimator-like confidences, 1.31x with real ones, 1.11-1.41x on held-out corpus rows, p99 lower too.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Callable, Sequence

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError, check_number
from ..groups import RowGroups
from ._common import (KERNEL_METRICS, check_data, check_k, check_queries,
                      check_weights, metric_code)

__all__ = ["VPTreeArrays", "build_vptree", "knn_vptree", "rows_with_weight", "VPTREE_VERSION"]

VPTREE_VERSION = 2   # 2: groups of identical rows (group_start); version 1 arrays (no groups) still load
#: held as float32 rounded outwards (lo down, hi up), as the search layout rounds them anyway: the same layout
#: and answers, half their memory. Stored as float64 (exactly those values; files written before hold the
#: float64 extremes, rounded outwards at load), so the file format is unchanged.
BOUNDS = ("shell_lo", "shell_hi", "tot_lo", "tot_hi")
DEFAULT_LEAF_SIZE = 128
DEFAULT_BLOCK_ROWS = 4096   # search: subtrees of at most this many rows are scanned whole (see _vplayout)
INT_BLOCK_ROWS = 6000       # the same when the integer filter scans them (its chunk boxes make larger blocks pay)
FACE_SPLIT_WEIGHT = 0.25    # build: split weight of COCO-17's face joints with split_weights="face-light"
DEFAULT_FALLBACK_WORK = 0.75  # search: fall back to scanning once the work passes this fraction of N rows
_METRIC_NAMES = {v: k for k, v in KERNEL_METRICS.items()}
_WHAT = "vptree arrays"


@dataclass(eq=False)
class VPTreeArrays:
    """A built VP-tree: scalar parameters and flat arrays (M nodes, N rows of which U distinct, D = 2K).

    Attributes:
        metric: ``"weighted"`` or ``"l2"``; leaf_size, n (= N), d (= D), seed, version.
        scale: max |coordinate| over the rows (sets the absolute rounding slack of the bounds).
        split_weights: (K,) float64 in [0, 1], each joint's weight in the distance vantage points and
            splits use (see :mod:`._vpbuild`; the bounds always use every joint).
        perm: (N,) a permutation of the row ids: the ids of tree position p are
            perm[group_start[p]:group_start[p + 1]], ascending (their rows are bit-identical).
        group_start: (U + 1,) strictly increasing from 0 to N (U = N: no duplicates).
            perm and group_start are held as int32 when N < 2**31 (:func:`id_dtype`; 8 bytes a row less
            over both, which a search reads the same), stored as int64 (:meth:`to_arrays`).
        data_perm: (U, D) float32, the distinct rows in tree order (every subtree's rows are contiguous).
        start, end: (M,) int64, the node's rows are positions [start, end) of data_perm.
        left, right: (M,) int64, children ids (right = left + 1 > node id), -1 for a leaf.
        vp: (M,) int64, position of an internal node's vantage point row, -1 for a leaf.
        shell_lo, shell_hi: (M, K) float32, min/max over the node's rows of the per-joint distance to
            the parent's vantage point (0 for the root), computed in float64 and rounded outwards (lo
            down, hi up: still bounds; the search layout's node records round them the same way).
            Stored as float64 (:data:`BOUNDS`).
        tot_lo, tot_hi: (M,) float32, the same for the total distance (split-weighted, see _vpbuild).
        box_lo, box_hi: (M, D) float32, per-coordinate bounding box of the node's rows (once a search
            layout is derived, views of its node records: see :meth:`_share_boxes`).
    """

    metric: str
    leaf_size: int
    n: int
    d: int
    seed: int
    version: int
    scale: float
    split_weights: np.ndarray
    perm: np.ndarray
    group_start: np.ndarray
    data_perm: np.ndarray
    start: np.ndarray
    end: np.ndarray
    left: np.ndarray
    right: np.ndarray
    vp: np.ndarray
    shell_lo: np.ndarray
    shell_hi: np.ndarray
    tot_lo: np.ndarray
    tot_hi: np.ndarray
    box_lo: np.ndarray
    box_hi: np.ndarray
    _workspace: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    _derived: dict = field(default_factory=dict, repr=False, compare=False)
    _records: np.ndarray | None = field(default=None, repr=False, compare=False)   # see _hold_boxes_in_records

    def __getstate__(self):       # pickling: arrays and parameters only (derived data is rebuilt on use)
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._workspace = threading.local()
        self._derived = {}
        self._records = None

    @property
    def n_nodes(self) -> int:
        return int(self.start.shape[0])

    @property
    def n_unique(self) -> int:
        """U: the number of distinct rows (tree rows)."""
        return int(self.group_start.shape[0] - 1)

    @property
    def n_leaves(self) -> int:
        return int((self.left < 0).sum())

    @property
    def depth(self) -> int:
        """Number of levels (the root alone is depth 1)."""
        depth = np.zeros(self.n_nodes, np.int64)
        internal = np.flatnonzero(self.left >= 0)
        for i in internal:          # ids grow with depth (breadth-first numbering)
            depth[self.left[i]] = depth[self.right[i]] = depth[i] + 1
        return int(depth.max()) + 1

    # ------------------------------------------------------------------ serialization
    _SCALARS = {"metric": np.int64, "leaf_size": np.int64, "n": np.int64, "d": np.int64, "seed": np.int64,
                "version": np.int64, "scale": np.float64}
    _ARRAYS = {"split_weights": np.float64, "perm": np.int64, "group_start": np.int64, "data_perm": np.float32,
               "start": np.int64, "end": np.int64, "left": np.int64, "right": np.int64, "vp": np.int64,
               "shell_lo": np.float64, "shell_hi": np.float64, "tot_lo": np.float64, "tot_hi": np.float64,
               "box_lo": np.float32, "box_hi": np.float32}

    def to_arrays(self) -> dict[str, np.ndarray]:
        """All fields as numpy arrays (scalars as 0-d arrays; ``metric`` as its int64 code:
        0 weighted, 1 l2)."""
        out: dict[str, np.ndarray] = {}
        for name, dt in self._SCALARS.items():
            val = KERNEL_METRICS[self.metric] if name == "metric" else getattr(self, name)
            out[name] = np.array(val, dtype=dt)
        for name, dt in self._ARRAYS.items():
            out[name] = getattr(self, name).astype(dt, copy=False)     # perm, group_start: int64 in files
        return out

    @classmethod
    def from_arrays(cls, d: dict, *, rows: np.ndarray | None = None, verify: bool = False, own_rows: bool = False,
                    zero_cols: slice | None = None, consume: bool = False) -> "VPTreeArrays":
        """Rebuild from :meth:`to_arrays` output, validating everything a search relies on.

        ``rows``: the (N, D) float32 rows the tree was built over, when ``d`` leaves out ``data_perm``
        (an index file stores the rows once): data_perm is then taken from them, and every group of
        identical rows is checked to be identical. Version 1 arrays (before the groups) load with every
        row its own group. ``zero_cols``: columns the tree was built with as 0 (the rows given still hold
        their values): set to 0 in data_perm, left out of the group check.

        Loading without second copies: ``own_rows=True`` hands ``rows`` over (an array owning its memory,
        no view of it in use): it is reordered in place into data_perm and shrunk to the distinct rows
        (not with ``zero_cols``); ``consume=True`` pops each array from ``d`` as it is taken, so the
        caller's int64 / float64 copies are freed as the tree converts them (if nothing else holds them).

        Raises FileFormatError("vptree arrays", ...) on missing keys, wrong dtypes or shapes, values out
        of range, a broken tree structure or a non-permutation; a tree accepted here cannot crash the
        search kernels. ``verify=True`` also checks every row against every bound of its nodes
        (O(N depth D); catches silently altered bounds, which would otherwise give wrong answers).
        """
        def bad(problem: str):
            raise FileFormatError(_WHAT, problem)

        if not hasattr(d, "keys"):
            bad(f"expected a mapping of arrays, got {type(d).__name__}")
        take = d.pop if consume else d.__getitem__
        missing = [k for k in cls._SCALARS if k not in d]
        if missing:
            bad(f"missing array(s): {', '.join(missing)}")
        vals: dict = {}
        for name, dt in cls._SCALARS.items():
            a = np.asarray(d[name])
            if a.shape != () or a.dtype.kind not in ("f" if dt is np.float64 else "iu"):
                bad(f"{name}: expected a 0-d {np.dtype(dt).name} scalar, got {a.dtype} of shape {a.shape}")
            vals[name] = a.item()
        if vals["version"] not in (1, VPTREE_VERSION):
            bad(f"version: expected 1 or {VPTREE_VERSION}, got {vals['version']}")
        expected = [k for k in cls._ARRAYS if not (k == "data_perm" and rows is not None)
                    and not (k == "group_start" and vals["version"] == 1)]
        missing = [k for k in expected if k not in d]
        if missing:
            bad(f"missing array(s): {', '.join(missing)}")
        if vals["version"] == 1 and "group_start" in d:
            bad("group_start: version 1 arrays have no groups of identical rows")
        if vals["metric"] not in _METRIC_NAMES:
            bad(f"metric: expected code 0 (weighted) or 1 (l2), got {vals['metric']}")
        vals["metric"] = _METRIC_NAMES[vals["metric"]]
        n, dim = int(vals["n"]), int(vals["d"])
        if n < 1:
            bad(f"n: expected >= 1 rows, got {n}")
        if dim < 2 or dim % 2:
            bad(f"d: expected an even dimension >= 2, got {dim}")
        if vals["leaf_size"] < 1:
            bad(f"leaf_size: expected >= 1, got {vals['leaf_size']}")
        if not (np.isfinite(vals["scale"]) and vals["scale"] >= 0):
            bad(f"scale: expected a finite value >= 0, got {vals['scale']}")
        kj = dim // 2
        for name in expected:
            a = take(name)
            if not isinstance(a, np.ndarray):
                a = np.asarray(a)
            if name in BOUNDS and a.dtype == np.float64:      # held as float32, rounded outwards (see BOUNDS)
                a = outward_f32(a, up=name.endswith("_hi"))
            if a.dtype != (np.float32 if name in BOUNDS else cls._ARRAYS[name]):
                bad(f"{name}: expected dtype {np.dtype(cls._ARRAYS[name]).name}, got {a.dtype}")
            vals[name] = np.ascontiguousarray(a)
            del a
        if vals["version"] == 1:
            vals["group_start"] = np.arange(n + 1, dtype=np.int64)
        vals["version"] = VPTREE_VERSION
        gs, perm = vals["group_start"], vals["perm"]
        if gs.ndim != 1 or not 2 <= gs.shape[0] <= n + 1:
            bad(f"group_start: expected a 1-d array of 2 to {n + 1} offsets, got shape {gs.shape}")
        if gs[0] != 0 or gs[-1] != n or (np.diff(gs) < 1).any():
            bad(f"group_start: expected offsets increasing strictly from 0 to {n}")
        u = gs.shape[0] - 1
        if perm.shape != (n,):
            bad(f"perm: expected shape {(n,)}, got {perm.shape}")
        if perm.min() < 0 or perm.max() >= n or np.bincount(perm, minlength=n).max() != 1:
            bad("perm: not a permutation of the row ids")
        in_group = np.ones(n, np.bool_)
        in_group[gs[:-1]] = False                    # True: the row follows another of its group
        if (np.diff(perm) <= 0)[in_group[1:]].any():
            bad("perm: the ids of a group of identical rows must be ascending")
        del in_group
        # held as int32 from here (the int64 copies are freed before the rows are taken, if not held elsewhere)
        perm, gs = perm.astype(id_dtype(n), copy=False), gs.astype(id_dtype(n), copy=False)
        vals["perm"], vals["group_start"] = perm, gs
        if rows is not None:
            if not (isinstance(rows, np.ndarray) and rows.dtype == np.float32 and rows.ndim == 2):
                bad(f"rows: expected a float32 (N, D) array, got {getattr(rows, 'dtype', type(rows).__name__)}")
            if rows.shape != (n, dim):
                bad(f"n, d: the tree holds {n} rows of {dim} values, the rows given are {rows.shape}")
            vals["data_perm"], g = _tree_rows(rows, perm, gs, own_rows and zero_cols is None and rows.flags.c_contiguous,
                                              zero_cols)
            if g >= 0:
                bad(f"group_start/perm: the rows of group {g} are not identical")
        m = vals["start"].shape[0] if vals["start"].ndim == 1 else -1
        if m < 1:
            bad(f"start: expected a non-empty 1-d array, got shape {vals['start'].shape}")
        shapes = {"split_weights": (kj,), "data_perm": (u, dim), "start": (m,), "end": (m,),
                  "left": (m,), "right": (m,),
                  "vp": (m,), "shell_lo": (m, kj), "shell_hi": (m, kj), "tot_lo": (m,), "tot_hi": (m,),
                  "box_lo": (m, dim), "box_hi": (m, dim)}
        for name, shp in shapes.items():
            if vals[name].shape != shp:
                bad(f"{name}: expected shape {shp}, got {vals[name].shape}")
        sw = vals["split_weights"]
        if not (np.all((sw >= 0) & (sw <= 1)) and sw.max() > 0):
            bad("split_weights: expected values in [0, 1], at least one > 0")
        for name in ("data_perm", "shell_lo", "shell_hi", "tot_lo", "tot_hi", "box_lo", "box_hi"):
            lo, hi = vals[name].min(), vals[name].max()       # NaN propagates; no temporary array
            if not (np.isfinite(lo) and np.isfinite(hi)):
                bad(f"{name}: contains NaN or infinite values")
        _check_structure(vals, u, m, bad)
        if (vals["shell_lo"] < 0).any() or (vals["shell_lo"] > vals["shell_hi"]).any():
            bad("shell_lo/shell_hi: expected 0 <= lo <= hi")
        if (vals["tot_lo"] < 0).any() or (vals["tot_lo"] > vals["tot_hi"]).any():
            bad("tot_lo/tot_hi: expected 0 <= lo <= hi")
        if (vals["box_lo"] > vals["box_hi"]).any():
            bad("box_lo/box_hi: expected lo <= hi")
        if max(-vals["data_perm"].min(), vals["data_perm"].max()) > vals["scale"]:   # = max |x|, no temporary
            bad("scale: smaller than the largest |coordinate| of data_perm")
        tree = cls(**{f.name: vals[f.name] for f in fields(cls) if not f.name.startswith("_")})
        tree._hold_boxes_in_records()
        if verify:
            tree.verify()
        return tree

    def verify(self) -> None:
        """Check every row against the shells and boxes of all its nodes; FileFormatError if any fails."""
        from ._vpbuild import verify_bounds
        bad_node = verify_bounds(self.data_perm, KERNEL_METRICS[self.metric], self.split_weights, self.start,
                                 self.end, self.left,
                                 self.vp, self.shell_lo, self.shell_hi, self.tot_lo, self.tot_hi, self.box_lo,
                                 self.box_hi)
        if bad_node >= 0:
            raise FileFormatError(_WHAT, f"node {bad_node}: a row lies outside the node's stored bounds")

    def kernel_tree(self, block_rows: int | None = None):
        """The namedtuple of arrays the search kernels take for a block size (None: the size
        :func:`knn_vptree` takes by default); the derived layout (see :mod:`._vplayout`) is computed on
        first use and kept (one per block size)."""
        if block_rows is None:
            block_rows = default_block_rows(self.metric)
        key = ("ktree", int(block_rows))
        kt = self._derived.get(key)
        if kt is None:
            from ._vplayout import CODE_PAD, build_layout, mark_blocks, padded
            from ._vpsearch import KTree
            m, dim = self.n_nodes, self.d
            is_block = np.empty(m, np.bool_)
            nb, total = mark_blocks(self.start, self.end, self.left, int(block_rows), is_block)
            nint = np.empty((m, 4), np.int64)
            nrec, self._records = self._records, None        # the boxes' records: filled in place, no copy
            if nrec is None or nrec.shape != (m, 4 * dim + 2):
                nrec = np.zeros((m, 4 * dim + 2), np.float32)
                boxes = None
            else:
                boxes = (self.box_lo.sum(0, dtype=np.float64), self.box_hi.sum(0, dtype=np.float64))
            block_start = np.empty(nb + 1, np.int64)
            block_off = np.empty(nb, np.int64)
            brec = np.empty((nb, 2 * dim), np.float32)
            codes = np.empty(total * dim, np.uint8)
            chunk_boxes = np.zeros(total // CODE_PAD * 2 * dim + CODE_PAD, np.uint8)
            build_layout(self.data_perm, self.start, self.end, self.left, self.vp, self.shell_lo, self.shell_hi,
                         self.tot_lo, self.tot_hi, self.box_lo, self.box_hi, is_block, nint, nrec, block_start,
                         block_off, brec, codes, chunk_boxes)
            if boxes is not None and not (np.array_equal(boxes[0], self.box_lo.sum(0, dtype=np.float64))
                                          and np.array_equal(boxes[1], self.box_hi.sum(0, dtype=np.float64))):
                raise AssertionError("vptree: the search layout's node records no longer begin with box_lo | "
                                     "box_hi (see VPTreeArrays._hold_boxes_in_records)")
            kt = KTree(float(self.scale), self.data_perm, self.perm, self.group_start, self.split_weights,
                       np.flatnonzero(self.split_weights > 0).astype(np.int64), nint, nrec, block_start, block_off,
                       brec, codes, chunk_boxes)
            self._share_boxes(nrec)
            max_block = int(padded(int(np.diff(block_start).max())))
            kt = self._derived[key] = (kt, max_block)
        return kt

    def _hold_boxes_in_records(self) -> "VPTreeArrays":
        """Keep the boxes in the node records the first search layout will fill (``box_lo | box_hi`` first,
        :func:`._vplayout.build_layout`): deriving it then copies nothing and the tree's boxes are views
        of them, so the boxes are never held twice (about 14 bytes a row at 10M rows, which the
        derivation otherwise added to the peak). Returns the tree."""
        m, dim = self.n_nodes, self.d
        rec = np.zeros((m, 4 * dim + 2), np.float32)
        rec[:, :dim] = self.box_lo
        rec[:, dim:2 * dim] = self.box_hi
        self.box_lo, self.box_hi, self._records = rec[:, :dim], rec[:, dim:2 * dim], rec
        return self

    def _share_boxes(self, nrec: np.ndarray) -> None:
        """The node records of a search layout begin with each node's box (box_lo | box_hi, the same
        float32 values): the tree then keeps views of them instead of its own copies (2 D float32 a node,
        about 14 bytes a row at 10M rows). Checked, so a layout that stores them otherwise keeps them."""
        dim = self.d
        lo, hi = nrec[:, :dim], nrec[:, dim:2 * dim]
        if lo.shape == self.box_lo.shape and np.array_equal(lo, self.box_lo) and np.array_equal(hi, self.box_hi):
            self.box_lo, self.box_hi = lo, hi

    def workspace(self, max_block: int):
        """Per-thread search workspace (reused across calls from the same thread)."""
        ws = getattr(self._workspace, "arrays", None)
        if ws is None or ws[3].shape[0] < max_block:
            m = self.n_nodes
            ws = (np.empty((m, self.d // 2)), np.empty(m, np.int64), np.empty(m), np.empty(max_block, np.float32))
            self._workspace.arrays = ws
        return ws


def outward_f32(a: np.ndarray, *, up: bool) -> np.ndarray:
    """float64 values as float32 rounded up (``up``) or down: never on the wrong side of the value (NaN and
    infinities stay what they are)."""
    a = np.asarray(a, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        r = a.astype(np.float32)
        off = (r.astype(np.float64) < a) if up else (r.astype(np.float64) > a)
    r[off] = np.nextafter(r[off], np.float32(np.inf if up else -np.inf))
    return r


def _tree_rows(rows: np.ndarray, perm: np.ndarray, gs: np.ndarray, in_place: bool,
               zero_cols: slice | None) -> tuple[np.ndarray, int]:
    """A tree's data_perm (its distinct rows in tree order) from the (N, D) rows in row order, and the first
    group of ids whose rows are not identical (-1: none). ``in_place``: ``rows`` (handed over, C-contiguous)
    is reordered into it and shrunk to the U distinct rows in place (no view of it may exist: the memory
    may move); otherwise a new array. ``zero_cols``: set to 0 in it, and not compared within groups."""
    from ._vpbuild import first_mixed_group, rows_to_tree_order

    u = gs.shape[0] - 1
    if in_place:
        g = rows_to_tree_order(rows, perm, gs)
        if u < rows.shape[0]:                  # duplicates: the rows after the first U are left over
            if rows.flags.owndata and rows.base is None:
                rows.resize((u, rows.shape[1]), refcheck=False)
            else:
                rows = rows[:u]
        return rows, g
    out = rows[perm[gs[:-1]]]
    lo, hi = 0, 0
    if zero_cols is not None:
        lo, hi, step = zero_cols.indices(rows.shape[1])
        if step != 1:
            raise ValueError("zero_cols: expected a slice of consecutive columns")
        out[:, lo:hi] = 0.0
    return out, first_mixed_group(np.ascontiguousarray(rows), perm, gs, lo, hi)


def id_dtype(n: int):
    """The integer type a tree over n rows holds its row ids and group offsets in (int32 below 2**31)."""
    return np.int32 if n < 2**31 else np.int64


def _check_structure(vals: dict, n: int, m: int, bad) -> None:
    start, end, left, right, vp = (vals[k] for k in ("start", "end", "left", "right", "vp"))
    if start[0] != 0 or end[0] != n:
        bad(f"node 0 (root): expected rows [0, {n}), got [{start[0]}, {end[0]})")
    if (start < 0).any() or (end > n).any() or (start >= end).any():
        bad("start/end: every node needs 0 <= start < end <= n")
    leaf = left < 0
    if ((left == -1) != leaf).any() or ((right == -1) != leaf).any() or ((vp == -1) != leaf).any():
        bad("left/right/vp: a leaf has -1 in all three, an internal node in none")
    ids = np.arange(m)
    inner = ~leaf
    li, ri = left[inner], right[inner]
    if (li <= ids[inner]).any() or (ri != li + 1).any() or (ri >= m).any():
        bad("left/right: children must be ids left > node, right = left + 1 < number of nodes")
    refs = np.bincount(np.concatenate([li, ri]), minlength=m)
    if refs[0] != 0 or (refs[1:] != 1).any():
        bad("left/right: every node but the root must be the child of exactly one node")
    if (start[li] != start[inner]).any() or (end[li] != start[ri]).any() or (end[ri] != end[inner]).any():
        bad("start/end: the children of a node must split its rows [start, end) in two")
    if ((vp[inner] < start[inner]) | (vp[inner] >= end[inner])).any():
        bad("vp: a vantage point must be one of its node's rows")


def _split_weights(split_weights, kj: int) -> np.ndarray:
    if isinstance(split_weights, str):
        if split_weights != "face-light" or kj != 17:
            raise InvalidArgumentError(f"split_weights: expected None, {kj} weights or 'face-light' (17 joints only), "
                                       f"got {split_weights!r}")
        sw = np.ones(kj)
        sw[:5] = FACE_SPLIT_WEIGHT
        return sw
    if split_weights is None:
        return np.ones(kj)
    try:
        sw = np.array(split_weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"split_weights: expected {kj} numbers, got {split_weights!r}") from None
    if sw.shape != (kj,) or not np.all((sw >= 0) & (sw <= 1)) or not sw.max() > 0:
        raise InvalidArgumentError(f"split_weights: expected {kj} weights in [0, 1], not all 0, got {split_weights!r}")
    return sw


def _count_nodes(n: int, leaf_size: int) -> int:
    """Exact number of nodes of the tree over n rows (splits are n -> n // 2, n - n // 2)."""
    memo: dict[int, int] = {}

    def leaves(x: int) -> int:
        if x <= leaf_size:
            return 1
        if x not in memo:
            memo[x] = leaves(x // 2) + leaves(x - x // 2)
        return memo[x]
    return 2 * leaves(n) - 1


def build_vptree(data: np.ndarray, metric: str, *, leaf_size: int = DEFAULT_LEAF_SIZE, seed: int = 0,
                 progress: Callable[[float], None] | None = None,
                 split_weights: Sequence[float] | str | None = None, overwrite: bool = False) -> VPTreeArrays:
    """Build the VP-tree of (N, D) float32 rows for ``metric`` ("weighted" or "l2").

    Vantage points: of 8 random rows of a node, the one with the largest variance of distances to 128
    random rows. Each node splits at the median distance by position (duplicates included), so the
    depth is at most log2(N / leaf_size) + 1 and no recursion is used. ``progress(done_fraction)`` is
    called after each level. Deterministic for a given seed.

    Bit-identical rows are indexed once (see the module doc): the tree is built over the distinct rows.

    ``split_weights``: (K,) weights in [0, 1] of the joints in the distance that picks vantage points
    and splits (results never depend on it, only speed; bounds always use every joint). None (default)
    = all 1; ``"face-light"`` = for K = 17 (COCO-17) ``FACE_SPLIT_WEIGHT`` for the five face joints,
    which pose estimators and face-less layouts (Penn Action) often miss. Measured on 309k Penn + COCO
    poses: face weight 0 scans 14% fewer rows for queries with real-like confidences but 85% more with
    uniform ones (which weigh the face); 0.25: -10% / +50%.

    Memory: besides the tree's own rows (``data_perm``, one copy of the distinct rows, reordered in
    place while building) the build needs 24 bytes a row of scratch, the groups of identical rows
    (about 80 bytes a row at their peak, 24 kept during the build) and the nodes. ``overwrite=True`` lets
    it use a float32 C-contiguous ``data`` itself as those rows (the caller's array is reordered and must
    not be used afterwards): no copy at all. The built tree holds 8 bytes a row of ids (int32 perm and
    group_start) and about 600 bytes a node (a node per ~40 rows at 10M rows): float32 bounds, and the
    boxes in the node records its first search layout fills (see :meth:`VPTreeArrays._hold_boxes_in_records`);
    benchmarks/bench_vptree_memory.py shows the resident set at each step.
    """
    from . import _vpbuild as vb

    code = metric_code(metric)
    data = check_data(data)
    if not np.isfinite(data.sum(dtype=np.float64)):   # NaN/inf anywhere makes the sum so (no N x D temporary)
        raise InvalidArgumentError("data: contains NaN or infinite values")
    check_number("leaf_size", leaf_size, integer=True, low=1)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidArgumentError(f"seed: expected an integer >= 0, got {seed!r}")
    leaf_size, seed = int(leaf_size), int(seed)
    n_rows, dim = data.shape
    kj = dim // 2
    split_weights = _split_weights(split_weights, kj)
    groups = RowGroups.of(data)
    n = len(groups.rows)
    if n == n_rows:                         # work becomes data_perm: the rows kept in tree order while building
        work = data if overwrite else data.copy()
    elif overwrite:
        work = vb.compact_rows(data, groups.rows)   # distinct rows moved to the front, in place
    else:
        work = np.ascontiguousarray(data[groups.rows])
    del data
    scale = float(max(work.max(), -work.min()))
    m = _count_nodes(n, leaf_size)
    start = np.zeros(m, np.int64)
    end = np.zeros(m, np.int64)
    left = np.full(m, -1, np.int64)
    right = np.full(m, -1, np.int64)
    vp = np.full(m, -1, np.int64)
    shell_lo = np.zeros((m, kj))
    shell_hi = np.zeros((m, kj))
    tot_lo = np.zeros(m)
    tot_hi = np.zeros(m)
    box_lo = np.zeros((m, dim), np.float32)
    box_hi = np.zeros((m, dim), np.float32)
    perm = np.arange(n, dtype=np.int64)
    keys = np.empty(n)
    idx = np.empty(n, np.int64)
    end[0] = n
    vb.root_box(work, box_lo, box_hi)
    count = 1
    lo, level = 0, 0
    n_levels = max(1, int(np.ceil(np.log2(max(n / leaf_size, 1.0)))) + 1)
    while lo < count:
        hi = count
        count = vb.split_level(work, perm, code, split_weights, leaf_size, seed, lo, hi, count, start, end, left,
                               right, vp,
                               shell_lo, shell_hi, tot_lo, tot_hi, box_lo, box_hi, keys, idx)
        lo = hi
        level += 1
        if progress is not None and lo < count:
            progress(min(0.99, level / n_levels))
    if count != m:  # pragma: no cover - _count_nodes mirrors split_level exactly
        raise AssertionError(f"vptree build: expected {m} nodes, made {count}")
    del keys
    inv = idx                               # reused: inverse of perm
    inv[perm] = np.arange(n)
    inner = vp >= 0
    vp[inner] = inv[vp[inner]]
    del inv, idx
    # an overwritten input with duplicates: the distinct rows are its first n. Kept as a view of the input
    # (no copy beside it at the build's peak) unless over a quarter of the input would lie unused
    data_perm = work.copy() if (overwrite and n < 0.75 * n_rows) else work
    del work
    # tree position p holds distinct row perm[p]: its ids are that group's members
    sizes = np.diff(groups.group_start)[perm]
    group_start = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=group_start[1:])
    if n < n_rows:
        perm = vb.expand_groups(perm, groups.group_start, groups.members, group_start)
    perm, group_start = perm.astype(id_dtype(n_rows), copy=False), group_start.astype(id_dtype(n_rows), copy=False)
    shell_lo, tot_lo = outward_f32(shell_lo, up=False), outward_f32(tot_lo, up=False)
    shell_hi, tot_hi = outward_f32(shell_hi, up=True), outward_f32(tot_hi, up=True)
    if progress is not None:
        progress(1.0)
    return VPTreeArrays(metric=metric, leaf_size=leaf_size, n=n_rows, d=dim, seed=seed, version=VPTREE_VERSION,
                        scale=scale, split_weights=split_weights, perm=perm, group_start=group_start,
                        data_perm=data_perm, start=start,
                        end=end, left=left, right=right,
                        vp=vp, shell_lo=shell_lo, shell_hi=shell_hi, tot_lo=tot_lo, tot_hi=tot_hi, box_lo=box_lo,
                        box_hi=box_hi)._hold_boxes_in_records()


def rows_with_weight(weights: np.ndarray, j0: int, j1: int) -> np.ndarray:
    """(B,) bool: which rows of the (B, K) weights have a nonzero weight among joints [j0, j1) (the
    tree choice of the weighted backend; compiled, as it runs on every query)."""
    from ._vpsearch import any_nonzero

    w = np.asarray(weights)
    out = np.empty(w.shape[0], np.bool_)
    any_nonzero(w, j0, j1, out)
    return out


def uses_int_filter(metric: str, int_filter: bool | None = None) -> bool:
    """Whether a search of a tree of this kernel metric runs the integer filter (``int_filter`` None: the
    module switch ``_vpsearch.INT_FILTER``); it needs the weighted metric and an AVX-512BW host."""
    from . import _vpsearch as vs

    on = vs.INT_FILTER if int_filter is None else int_filter
    return bool(on) and vs.HAS_AVX512BW and KERNEL_METRICS[metric] == vs.METRIC_WEIGHTED


def default_block_rows(metric: str, int_filter: bool | None = None) -> int:
    """The search's block size when none is given: ``INT_BLOCK_ROWS`` where the integer filter runs, else
    ``DEFAULT_BLOCK_ROWS`` (see :func:`knn_vptree`)."""
    return INT_BLOCK_ROWS if uses_int_filter(metric, int_filter) else DEFAULT_BLOCK_ROWS


def knn_vptree(tree: VPTreeArrays, queries: np.ndarray, weights: np.ndarray | None, k: int, *,
               return_stats: bool = False, block_rows: int | None = None,
               fallback_work: float = DEFAULT_FALLBACK_WORK, int_filter: bool | None = None):
    """Exact k nearest rows for each query: ``(ids int64 (B, k), dists float64 (B, k)[, stats])``.

    Same semantics as :func:`.exact.knn_exact` (ascending, ties by smaller id, identical float64
    distances). ``weights``: (B, K) for a weighted tree, None for l2. Batches run in parallel.

    Search options (results never depend on them, only speed): ``block_rows`` — subtrees of at most
    this many rows are scanned whole through their 8-bit codes instead of being expanded further (None:
    ``INT_BLOCK_ROWS`` when the integer filter runs, else ``DEFAULT_BLOCK_ROWS``. Subtrees halve, so blocks
    hold between half and all of the limit: with the filter, blocks of ~5,000 rows (316k rows: 6000 and
    8192 give the same layout) took 0.93-0.97x (real confidences) and 0.90-0.93x (estimator-like) the
    time of ~2,500 (4096), cross-dataset queries, one thread; at 100k rows 8192 (blocks of ~6,250) took
    1.08-1.11x the time of 4096 and 6000 (~3,125) 1.01x; without the filter 8192 is 1.21x slower at 316k);
    ``fallback_work`` — once rows scanned + 256 per node expanded exceed this fraction of N, the
    remaining candidate nodes are scanned block by block with box checks only (bounds a query the
    tree cannot prune near a plain scan); ``int_filter`` — weighted trees: an integer pre-filter of the
    codes (AVX-512BW hosts only; None: ``_vpsearch.INT_FILTER``, on where available).

    ``stats`` (if asked): dict of per-query arrays ``points`` (tree rows scanned: a group of identical
    rows counts once), ``nodes`` (nodes expanded), ``blocks`` (blocks scanned), ``exact`` (exact
    distances computed), ``fell_back``, ``int_passed`` (rows the integer filter kept: their exact
    distance was computed), and the means ``mean_points``, ``mean_nodes``.
    """
    from . import _vpsearch as vs

    if not isinstance(tree, VPTreeArrays):
        raise InvalidArgumentError(f"tree: expected VPTreeArrays, got {type(tree).__name__}")
    code = KERNEL_METRICS[tree.metric]
    k = check_k(k, tree.n)
    q = check_queries(queries, tree.d)
    w = check_weights(weights, code, q.shape[0], tree.d // 2)
    b = q.shape[0]
    out_i = np.empty((b, k), np.int64)
    out_d = np.empty((b, k), np.float64)
    stats = np.zeros((b, 6), np.int64)
    use_int = vs.INT_FIRST_PAIRS if uses_int_filter(tree.metric, int_filter) else 0
    if block_rows is None:
        block_rows = default_block_rows(tree.metric, int_filter)
    check_number("block_rows", block_rows, integer=True, low=1)
    kt, max_block = tree.kernel_tree(int(block_rows))
    if not (isinstance(fallback_work, (int, float, np.integer, np.floating)) and fallback_work > 0):
        raise InvalidArgumentError(f"fallback_work: expected a positive fraction of the rows, got {fallback_work!r}")
    max_work = int(min(float(fallback_work) * tree.n_unique, 2**62))
    if b == 1:
        inh, hn, hl, buf = tree.workspace(max_block)
        vs.search_one(q[0], w[0], code, k, kt, max_work, inh, hn, hl, out_i[0], out_d[0], stats[0], buf, use_int)
    elif b > 1:
        import numba
        vs.search_batch(q, w, code, k, kt, max_work, out_i, out_d, stats, min(b, numba.get_num_threads()),
                        max_block, use_int, np.zeros(1, np.int64))
    if not return_stats:
        return out_i, out_d
    st = {"points": stats[:, 0].copy(), "nodes": stats[:, 1].copy(), "blocks": stats[:, 2].copy(),
          "exact": stats[:, 3].copy(), "fell_back": stats[:, 4].astype(bool),
          "int_passed": stats[:, 5].copy(),
          "mean_points": float(stats[:, 0].mean()) if b else 0.0,
          "mean_nodes": float(stats[:, 1].mean()) if b else 0.0}
    return out_i, out_d, st


