"""``faiss`` backend: FAISS-built approximate structures, answers ranked by the exact metric.

Kinds (``kind``):

* ``hnsw`` (default) — FAISS builds an HNSW graph (``IndexHNSWFlat``; ``M``, ``ef_construction``) and
  our kernel walks it (:mod:`.kernels.hnsw`, beam ``ef_search``) with the query's own distance: the
  weighted distance with the query's confidences (the graph is built under L1, with the five face
  joints weighing ``face_weight``, default 0.5), or L2 on unit vectors for cosine. Identical rows are
  one graph node (HNSW's link pruning strands exact duplicates); nodes are numbered in VP-tree leaf
  order, so that neighbours lie close in memory. No FAISS code runs at search time and the file stores
  the graph arrays, not FAISS bytes. Approximate.

  Why a lighter face: pose estimators often miss face joints (91% of the benchmark's held-out real
  queries lack at least one; Penn Action has none), and a graph linking frames that agree on the face
  leads such queries astray. The benchmark's search section compares graphs built at face weight 1
  and 0.5 on 312k real frames (recall@10 and latency at the defaults, pose-estimator-like and uniform
  confidences: ``sweeps.weighted.face_weight`` in ``benchmarks/results/results.json``); when 0.5 was
  chosen it gave recall@10 0.9925 against 0.9876 (estimator-like) and was never lower with every
  joint present, and 0.3 and 0.1 were worse (that session's runs are not kept).
* ``ivf`` — ``IndexIVFFlat`` (k-means cells; ``nlist``, ``nprobe``); FAISS retrieves ``candidates``
  that are re-ranked exactly. Approximate.
* ``flat`` — exhaustive and exact: cosine through ``IndexFlatL2`` over unit vectors (candidates re-ranked
  in float64; the candidate set grows until the float32 FAISS distances certify that no frame outside it
  can be closer); weighted through the exact brute-force kernel, because FAISS has no per-query
  weighted L1 distance.

Why the HNSW graph is walked by our kernel rather than searched by FAISS: Move Mirror's distance is a
weighted L1 with weights from the query, which no fixed FAISS index evaluates. The best stand-in FAISS
can rank (used by ``ivf``) is a weighted *squared L2*: ``sum_k w_k ((fx_k - gx_k)^2 + (fy_k - gy_k)^2) =
q.Wq - 2 (Wq).g + w.s(g)`` with ``s(g)_k = gx_k^2 + gy_k^2``, an inner product of ``[2 Wq, -w]`` with
``[g, s(g)]`` (51 dims), made an L2 search by the extra coordinate ``sqrt(Phi^2 - |[g, s(g)]|^2)`` (52
dims, rows and queries scaled to unit length; IVF uses spherical k-means so that its cell choice agrees).
On 312k real frames (1,000 held-out queries, pose-estimator-like confidences) FAISS's own HNSW search
of that stand-in needed 400 re-ranked candidates for recall@10 0.98 at 0.65 ms; walking the L1 graph
with the exact weights gives 0.9925 at 0.073-0.076 ms (the weighted default beam: 128 for a query missing
joints, 64 for one weighing every joint), and cosine 0.9965 at 0.038 ms (48).

Reported distances are always the exact float64 values (bit-identical to every other backend); what
approximate kinds can miss is a true neighbour. ``candidates`` (IVF; 0 = automatic: ``max(4 k, 64)``
cosine, ``max(40 k, 400)`` weighted) is how many FAISS results are re-ranked.
Measured recall and latency per setting: ``posesearch bench`` (benchmarks/README.md).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from ..registry import Registry
from .backend import KERNEL_METRIC, MAX_SEED, Backend, check_positive_int, option
from .exact import ExactBackend

if TYPE_CHECKING:
    from .kernels.hnsw import HNSWGraph, WalkAids
from .query import FACE_DIMS

KINDS = Registry("faiss index kind", ("hnsw", "ivf", "flat"))
DEFAULT_EF_WEIGHTED = 128           # weighted, a query missing some joints
DEFAULT_EF_WEIGHTED_COMPLETE = 64   # weighted, a query weighing every joint
DEFAULT_EF_COSINE = 48
AUG_DIM = 34 + 17 + 1
#: (parameter, minimum, maximum): what FAISS and the kernels support. M = 1 crashes FAISS's HNSW (its
#: level multiplier is 1 / ln M), and M beyond a few hundred allocates 8 M bytes per node per level
#: (std::bad_alloc at 100000); the beams, cells and candidate counts are kept to sizes that fit in
#: memory (they are capped at the number of frames anyway); FAISS's k-means seed is a C int.
PARAM_BOUNDS = (("M", 2, 256), ("ef_construction", 1, 8192), ("ef_search", 0, 65536), ("nlist", 0, 1 << 20),
                ("nprobe", 0, 1 << 20), ("candidates", 0, 1 << 20), ("seed", 0, MAX_SEED))


def _faiss():
    import faiss

    return faiss


@dataclass(frozen=True)
class FaissParams:
    """FAISS settings.

    kind: hnsw | ivf | flat. M: HNSW graph degree (2 M links per node on the base layer).
    ef_construction: HNSW build beam. face_weight: weighted HNSW only, the weight of COCO-17's five face
    joints in the L1 distance the graph is built with (the walk always uses the query's own weights;
    see the module doc). ef_search: HNSW search beam, the frames kept while walking and
    scored exactly at the end (0 = automatic: weighted 128 for a query missing joints and 64 for one
    weighing every joint, which the graph steers better (recall@10 0.9935 at 64 with every joint
    weighed, 0.9922 at 128 with joints missing, on 312k real frames); 48 cosine; never below k);
    larger = higher recall, slower. nlist: IVF cells (0 = 4 sqrt(N), at most N / 39). nprobe: IVF cells visited (0 =
    automatic: 32 cosine, 128 weighted). candidates: IVF results re-ranked exactly (0 = automatic:
    max(4 k, 64) cosine, max(40 k, 400) weighted). seed: IVF k-means.
    """

    kind: str = option("hnsw", "hnsw (default) | ivf | flat.", flag="--faiss-kind")
    M: int = option(32, "HNSW graph degree M (32).", flag="--faiss-m")
    ef_construction: int = option(200, "HNSW build beam (200).")
    face_weight: float = 0.5
    ef_search: int = option(0, "HNSW search beam, frames kept while walking the graph (weighted: 128, or 64 for "
                               "a query weighing every joint; cosine 48; larger = higher recall, slower).")
    nlist: int = option(0, "IVF cells (default 4 sqrt(N)).")
    nprobe: int = option(0, "IVF cells visited (128 weighted, 32 cosine).")
    candidates: int = option(0, "IVF results re-ranked exactly (default automatic).")
    seed: int = option(1234, "IVF k-means.")

    def __post_init__(self):
        object.__setattr__(self, "kind", KINDS.canonical(self.kind))
        for name, lo, hi in PARAM_BOUNDS:
            check_positive_int("faiss", name, getattr(self, name), minimum=lo, maximum=hi)
        if not (isinstance(self.face_weight, (int, float)) and not isinstance(self.face_weight, bool)
                and 0.0 <= self.face_weight <= 1.0):
            raise InvalidArgumentError(f"backend 'faiss' parameter face_weight: expected a number in [0, 1], "
                                       f"got {self.face_weight!r}")


def weighted_data_transform(data: np.ndarray) -> np.ndarray:
    """(M, 52) float32 augmented rows ``[g, s(g), sqrt(Phi^2 - |[g, s(g)]|^2)] / Phi``, all of unit length."""
    x = np.asarray(data, dtype=np.float64)
    s = x * x
    s = s[:, 0::2] + s[:, 1::2]
    xa = np.concatenate([x, s], axis=1)
    nr = (xa * xa).sum(axis=1)
    phi2 = float(nr.max()) if len(nr) else 1.0
    extra = np.sqrt(np.maximum(phi2 - nr, 0.0))[:, None]
    out = np.concatenate([xa, extra], axis=1) / np.sqrt(phi2)
    return np.ascontiguousarray(out, dtype=np.float32)


def weighted_query_transform(queries: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, 52) float32 unit query rows whose L2 ranking over the augmented data is the weighted-L2 ranking.

    Both sides have unit length, so L2 order = inner-product order = weighted squared L2 order (the
    scale of the query is irrelevant to the inner-product order and is chosen to put it on the data's sphere).
    """
    wq = np.repeat(weights, 2, axis=1)
    qa = np.concatenate([2.0 * wq * queries, -weights, np.zeros((len(queries), 1))], axis=1)
    n = np.sqrt((qa * qa).sum(axis=1, keepdims=True))
    return np.ascontiguousarray(qa / np.where(n > 0, n, 1.0), dtype=np.float32)


def _add_in_slices(index, vecs: np.ndarray, progress, step: int = 16384) -> None:
    """index.add in slices so that a progress bar can move."""
    n = len(vecs)
    for a in range(0, n, step):
        index.add(vecs[a:a + step])
        if progress:
            progress(min(n, a + step), n)


HNSW_PROGRESS_SAMPLE = 1024     # nodes sampled to estimate how many FAISS has inserted
HNSW_PROGRESS_POLL = 0.2        # seconds between progress reports during the HNSW add


def _inserted_fraction(hnsw, n: int) -> float | None:
    """Share of the n nodes FAISS's HNSW ``add`` has inserted so far, from a sample of their base-level
    neighbour lists (a node's list is filled when it is inserted), or None while FAISS is still sizing
    its arrays. Only reads memory after the last resize (offsets complete, neighbours at full size), so
    it never touches a buffer FAISS may reallocate."""
    faiss = _faiss()
    if hnsw.offsets.size() != n + 1:
        return None
    offsets = faiss.rev_swig_ptr(hnsw.offsets.data(), n + 1)
    if hnsw.neighbors.size() != int(offsets[n]) or offsets[n] == 0:
        return None
    nb = faiss.rev_swig_ptr(hnsw.neighbors.data(), int(offsets[n]))
    sample = np.linspace(0, n - 1, min(n, HNSW_PROGRESS_SAMPLE)).astype(np.int64)
    return float(np.mean(nb[offsets[sample]] != -1))


def _add_watched(index, vecs: np.ndarray, progress, poll: float | None = None) -> None:
    """``index.add(vecs)`` for an empty HNSW index, reporting progress while FAISS inserts the nodes (FAISS
    releases the GIL: the add runs in a thread, this one samples how many nodes have links)."""
    n = len(vecs)
    if not progress or n == 0:
        index.add(vecs)
        return
    failed: list[BaseException] = []

    def run():
        try:
            index.add(vecs)
        except BaseException as e:  # pragma: no cover - FAISS errors are re-raised below
            failed.append(e)

    poll = HNSW_PROGRESS_POLL if poll is None else poll
    progress(0, n)
    worker = threading.Thread(target=run, name="faiss-hnsw-add", daemon=True)
    worker.start()
    while True:
        worker.join(poll)
        if not worker.is_alive():
            break
        frac = _inserted_fraction(index.hnsw, n)
        if frac is not None:
            progress(min(n - 1, int(frac * n)), n)
    if failed:
        raise failed[0]
    progress(n, n)


def _hnsw():
    """The numba HNSW kernels, imported when first used (listing backends and their options stays cheap)."""
    from .kernels import hnsw

    return hnsw


def _set_threads(batch: int) -> None:
    faiss = _faiss()
    # one query: OpenMP start-up costs more than it saves
    faiss.omp_set_num_threads(1 if batch < 8 else max(1, os.cpu_count() or 1))


class FaissBackend(Backend):
    """FAISS candidates + exact re-ranking (flat is exact; HNSW / IVF approximate, see module doc)."""

    name = "faiss"
    Params = FaissParams
    TEST_PARAMS = ({"kind": "flat"}, {"kind": "hnsw"}, {"kind": "ivf"})
    SEARCH_PARAMS = ("ef_search", "nprobe", "candidates")
    LEGACY_PARAMS = {"face_weight": 1.0}     # HNSW graphs written before face_weight were built with 1

    def __init__(self, data, metric, params, index=None, graph=None):
        super().__init__(data, metric, params)
        self.index = index
        self._graph = graph         # hnsw: the graph FAISS built (FAISS's layout), until the first search
        self._aids = None           # hnsw: the graph laid out for the walk (kernels.hnsw.WalkAids), made on
        self._aids_lock = threading.Lock()   # first search; it then replaces _graph (one copy of the links)
        self._exact = ExactBackend(data, metric, params) if (params.kind == "flat" and metric == "weighted") else None

    @property
    def graph(self) -> HNSWGraph | None:
        """hnsw: the graph in FAISS's layout (rebuilt from the walk's layout once a search has run)."""
        if self._graph is not None:
            return self._graph
        return self._aids.to_graph() if self._aids is not None else None

    @property
    def _has_graph(self) -> bool:
        return self._graph is not None or self._aids is not None

    def _walk_aids(self) -> WalkAids:
        aids = self._aids
        if aids is not None:
            return aids
        with self._aids_lock:
            if self._aids is None:
                self._aids = _hnsw().WalkAids(self.data, self._graph)
                self._graph = None
            return self._aids

    @classmethod
    def exact_for(cls, metric, params=None) -> bool:
        return cls.param(params, "kind") == "flat"

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        faiss = _faiss()
        n = len(data)
        if params.kind == "flat" and metric == "weighted":
            if progress:
                progress(n, n)
            return cls(data, metric, params)
        faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))
        if params.kind == "hnsw":
            # the graph links frames close under the metric's own geometry (weighted: L1 with the face
            # at face_weight; cosine: L2 on unit vectors); the walk then uses the exact distance.
            # Identical rows become one node (HNSW link pruning strands exact duplicates)
            from .groups import RowGroups

            groups = RowGroups.of(data)
            vecs = np.ascontiguousarray(data[groups.rows], dtype=np.float32)
            order = _hnsw().locality_order(vecs, KERNEL_METRIC[metric])
            if metric == "weighted" and vecs.shape[1] == 34 and params.face_weight != 1.0:
                vecs[:, FACE_DIMS] *= np.float32(params.face_weight)   # the graph's distance only
            index = faiss.IndexHNSWFlat(vecs.shape[1], params.M,
                                        faiss.METRIC_L1 if metric == "weighted" else faiss.METRIC_L2)
            index.hnsw.efConstruction = params.ef_construction
            # one add: FAISS then inserts the nodes of the upper levels first (in slices, each slice's
            # own upper nodes would come after the earlier slices' base nodes), a better graph: recall@10
            # 0.9925 against 0.9890 at ef_search 128 on 312k real frames. The progress bar follows the
            # insertion instead (see _add_watched)
            _add_watched(index, vecs, progress)
            graph = _hnsw().graph_from_faiss(index, groups)
            del index
            return cls(data, metric, params, graph=graph.relabeled(order))
        if metric == "weighted":
            vecs = weighted_data_transform(data)
        else:
            vecs = np.ascontiguousarray(data, dtype=np.float32)
        d = vecs.shape[1]
        if params.kind == "flat":
            index = faiss.IndexFlatL2(d)
        else:
            nlist = params.nlist or int(max(1, min(4 * np.sqrt(n), n // 39)))
            if nlist > n:
                raise InvalidArgumentError(f"backend 'faiss' parameter nlist: {nlist} cells for {n} frames; "
                                           f"use nlist <= {n}")
            quantizer = faiss.IndexFlatL2(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist)
            index.cp.seed = params.seed
            # every row has unit length: keep the centroids on the sphere too, so that picking cells by
            # L2 to the centroid agrees with the (inner-product) order the rows are ranked by
            index.cp.spherical = True
            train = vecs
            cap = 256 * nlist
            if n > cap:
                train = vecs[np.random.default_rng(params.seed).choice(n, cap, replace=False)]
            index.train(train)
        _add_in_slices(index, vecs, progress)
        return cls(data, metric, params, index)

    # --- searching --------------------------------------------------------------------------

    def _n_candidates(self, k: int) -> int:
        c = self.params.candidates or (max(40 * k, 400) if self.metric == "weighted" else max(4 * k, 64))
        return int(min(max(c, k), len(self.data)))

    def _faiss_search(self, q: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        weighted = self.metric == "weighted"
        if self.params.kind == "ivf":
            nprobe = self.params.nprobe or (128 if weighted else 32)
            sp = faiss.SearchParametersIVF(nprobe=min(nprobe, self.index.nlist))
            dist, lab = self.index.search(q, c, params=sp)
        else:
            dist, lab = self.index.search(q, c)
        return dist, lab.astype(np.int64, copy=False)

    def knn(self, queries, weights, k):
        if self._exact is not None:
            return self._exact.knn(queries, weights, k)
        if self._has_graph:
            return self._walk(queries, weights, k)
        from .kernels import exact as kx

        _set_threads(len(queries))
        if self.metric == "weighted":
            q = weighted_query_transform(queries, weights)
        else:
            q = np.ascontiguousarray(queries, dtype=np.float32)
        c = self._n_candidates(k)
        n = len(self.data)
        while True:
            fd, rows = self._faiss_search(q, c)
            out_r, out_d = kx.rescore(self.data, queries, weights if self.metric == "weighted" else None,
                                      rows, k, KERNEL_METRIC[self.metric])
            if self.params.kind != "flat" or c >= n:
                break
            # flat + cosine: certified when the k-th exact distance is below every frame outside the
            # candidates, i.e. below the c-th (float32) FAISS distance, with margin for rounding
            bound = np.sqrt(np.maximum(fd[:, -1].astype(np.float64), 0.0)) - 1e-5
            if np.all(out_d[:, -1] < bound):
                break
            c = min(n, 4 * c)
        if np.any(out_r < 0):
            out_r, out_d = self._fill_short(queries, weights, k, out_r, out_d)
        return out_r, out_d

    def _ef(self, k: int, complete: bool = False) -> int:
        """The beam width (``complete``: for a query weighing every joint)."""
        ef = self.params.ef_search or (DEFAULT_EF_COSINE if self.metric != "weighted" else
                                       DEFAULT_EF_WEIGHTED_COMPLETE if complete else DEFAULT_EF_WEIGHTED)
        return int(min(max(ef, k), len(self.data)))

    def _walk(self, queries, weights, k):
        from .kernels import _common as kc

        weighted = self.metric == "weighted"
        code = kc.METRIC_WEIGHTED if weighted else kc.METRIC_L2
        q = kc.check_queries(queries, self.data.shape[1])
        w = kc.check_weights(weights if weighted else None, code, q.shape[0], self.data.shape[1] // 2)
        rows, dists = _hnsw().knn_hnsw(self.data, q, w, code, None, self._ef(k), k, self._walk_aids(),
                               ef_full=self._ef(k, complete=True))
        if (rows[0, -1] < 0 if len(rows) == 1 else (rows[:, -1] < 0).any()):   # misses come last
            rows, dists = self._fill_short(queries, weights, k, rows, dists)
        return rows, dists

    def _fill_short(self, queries, weights, k, rows, dists):
        """Queries with fewer than k results (tiny IVF cells; a graph part not reached): answer them exactly."""
        bad = np.flatnonzero((rows < 0).any(axis=1))
        ex = ExactBackend(self.data, self.metric, self.params)
        r, d = ex.knn(queries[bad], None if weights is None else weights[bad], k)
        rows[bad], dists[bad] = r, d
        return rows, dists

    # --- persistence ------------------------------------------------------------------------

    def to_arrays(self):
        if self._has_graph:
            return self.graph.to_arrays()
        if self.index is None:
            return {}
        faiss = _faiss()
        return {"faiss_index": np.asarray(faiss.serialize_index(self.index), dtype=np.uint8)}

    @classmethod
    def from_arrays(cls, arrays, data, metric, params, *, path="index"):
        if params.kind == "flat" and metric == "weighted":
            return cls(data, metric, params)
        if params.kind == "hnsw" and "faiss_index" not in arrays:
            return cls(data, metric, params, graph=_hnsw().HNSWGraph.from_arrays(arrays, len(data), path))
        blob = arrays.get("faiss_index")
        if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
            raise FileFormatError(path, "damaged index file: FAISS index data missing or malformed")
        faiss = _faiss()
        try:
            index = faiss.deserialize_index(blob)
        except Exception as e:  # checksum passed, so this is a FAISS version problem
            raise FileFormatError(path, f"FAISS cannot read the stored index ({str(e).splitlines()[0][:120]}); "
                                  "rebuild it with this installation's `posesearch build`") from None
        want_d = AUG_DIM if metric == "weighted" else 34
        if index.d != want_d or index.ntotal != len(data):
            raise FileFormatError(path, f"damaged index file: FAISS index has {index.ntotal} vectors of dimension "
                                  f"{index.d}, expected {len(data)} of {want_d}")
        if params.kind == "hnsw":
            # written by posesearch 0.1.0 before the walk: its graph (over the weighted stand-in vectors
            # for ``weighted``) links the same rows, so it is walked like a new one
            g = _hnsw().graph_from_faiss(index)
            return cls(data, metric, params, graph=_hnsw().HNSWGraph.from_arrays(g.to_arrays(), len(data), path))
        return cls(data, metric, params, index)

    @staticmethod
    def search_settings(params: dict, metric: str) -> dict:
        """What a search of an index built with ``params`` does (automatic values spelled out), for ``info``."""
        kind = params.get("kind", "hnsw")
        weighted = metric == "weighted"
        if kind == "hnsw":
            ef = int(params.get("ef_search", 0) or 0)
            if ef:
                beam = f"{ef} (never below k)"
            elif weighted:
                beam = (f"auto: {DEFAULT_EF_WEIGHTED} for a query missing joints, {DEFAULT_EF_WEIGHTED_COMPLETE} for "
                        "one weighing every joint (never below k)")
            else:
                beam = f"auto: {DEFAULT_EF_COSINE} (never below k)"
            return {"ef_search": beam, "graph": f"HNSW, M {params.get('M')}, ef_construction "
                                                f"{params.get('ef_construction')}"}
        if kind == "ivf":
            nprobe = int(params.get("nprobe", 0) or 0) or (128 if weighted else 32)
            cand = int(params.get("candidates", 0) or 0)
            auto = "max(40 k, 400)" if weighted else "max(4 k, 64)"
            return {"nprobe": f"{nprobe}{'' if params.get('nprobe') else ' (auto)'} cells (at most nlist)",
                    "candidates": f"{cand} re-ranked exactly" if cand else f"auto: {auto} re-ranked exactly"}
        return {"search": "exhaustive (exact)"}

    def describe(self):
        out = {"faiss_kind": self.params.kind}
        if self._has_graph:
            nodes = len(self._graph.rows if self._graph is not None else self._aids.rows)
            out.update(ef_search=self.params.ef_search or "auto", graph_nodes=int(nodes),
                       duplicates_collapsed=int(len(self.data) - nodes))
            return out
        out["candidates"] = self.params.candidates or "auto"
        if self.index is not None and self.params.kind == "ivf":
            out["nlist"] = int(self.index.nlist)
        return out
