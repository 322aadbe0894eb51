"""What is benchmarked: posesearch's index backends and the peers a user would pick instead.

Every contender builds over the same (M, 34) float32 normalized vectors and answers
``knn(queries (B, 34) float64, weights (B, 17) | None, k) -> (ids (B, k), distances (B, k) | None)``:

* ours, through the backend layer of :mod:`posesearch.index` (the :class:`~posesearch.index.Index`
  adds only argument checks and the row -> frame id map): ``exact``, ``vptree``, ``faiss-flat``,
  ``faiss-hnsw``, ``faiss-ivf`` (HNSW / IVF candidates re-ranked with the exact distance),
  ``vptree-pypi`` (Move Mirror's way: the PyPI package, tree built with each frame's own confidences);
* peers, each at its best settings for the task: ``numpy`` (float64 brute force; cosine: one
  matrix-vector product ``x @ q`` on unit rows, a batch one matrix product, the k best re-scored
  exactly; weighted: one vectorized pass per query, as L1 needs the differences),
  ``faiss-IndexFlatL2`` (raw FAISS, float32, no re-rank), ``faiss-IndexHNSWFlat`` (FAISS's own HNSW
  search, M 32 and efConstruction 200 like our ``faiss-hnsw``, efSearch 48 like our cosine beam),
  ``hnswlib`` (HNSW, M 32, efConstruction 200, ef 64, L2). FAISS and hnswlib have no per-query
  weighted L1 distance: under ``weighted`` they rank by plain L2 on the vectors (claim ``l2-standin``),
  and, as a capable user would run them, fetch ``RERANK_FACTOR`` x k candidates by L2 and re-rank them
  with the exact weighted distance (``... + re-rank xF``, claim ``approximate``; the over-fetch sweep
  is in the search section).

For ``cosine`` the data are unit rows and queries unit vectors (cosine distance = L2 of unit vectors).
Threads: single queries run single-threaded everywhere (FAISS ``omp_set_num_threads(1)``, hnswlib
``num_threads=1``, BLAS limited to 1 thread by :func:`blas_threads` for every contender; the numba
kernels run one query serially); batches use every core (BLAS too).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

CORES = os.cpu_count() or 1

#: stated recall@10 floors of the approximate contenders at their defaults (below: the run fails).
#: Measured: faiss-hnsw (the graph built with the face at weight 0.5 and walked with the exact distance
#: from the best 8 seed nodes; ef_search weighted 128, 64 for a query weighing every joint, cosine 48)
#: weighted 0.9925 at 312k real frames
#: (estimator-like confidences) and 0.984 at 1M (augmented), cosine 0.9945-0.9965; weighted IVF
#: 0.983-0.99. Recall falls slowly with size at a fixed ef_search, so the HNSW floor is 0.97. Peers are
#: never failed on recall (they are not ours to fix).
STATED_RECALL = {"faiss-hnsw": 0.97, "faiss-ivf": 0.97, "vptree-pypi": 0.0}


@dataclass
class Contender:
    """A named way to answer k-NN queries (see the module doc)."""

    name: str
    family: str                     # "posesearch" or "peer"
    claim: str                      # exact | approximate | float32 | l2-standin
    build: Callable[[np.ndarray, str, np.ndarray | None], Any]
    knn: Callable[[Any, np.ndarray, np.ndarray | None, int, bool], tuple[np.ndarray, np.ndarray | None]]
    params: dict = field(default_factory=dict)
    min_recall: float = 0.0
    note: str = ""
    exact_distances: bool = True    # reported distances are the exact float64 metric values
    #: like ``build`` but the data are handed over (the index may reorder them and keep them as its own rows,
    #: as ``Index.build`` does with the array it makes); the built object's ``.data`` reads the rows. None:
    #: the contender always keeps a copy of its own (or none)
    build_owned: Callable[[np.ndarray, str, np.ndarray | None], Any] | None = None


def blas_threads(n: int):
    """A context in which BLAS (numpy's matrix products) uses at most ``n`` threads, via threadpoolctl
    (bench extra); without it a no-op (then set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before the run).
    Applied around every contender alike: single queries in 1 thread, batches in every core."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def blas_threads_how() -> str:
    """How :func:`blas_threads` limits BLAS in this run (recorded in the results)."""
    try:
        import threadpoolctl  # noqa: F401
        return "threadpoolctl: 1 BLAS thread for single queries, every core for batches (every contender)"
    except ImportError:
        env = {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
               if k in os.environ}
        return f"threadpoolctl not installed: BLAS threads from the environment {env or '(default: every core)'}"


def unit_rows(v: np.ndarray, dtype=np.float64) -> np.ndarray:
    from posesearch.index.query import unit_rows as _u

    return _u(v, dtype)


def prepare_data(vectors: np.ndarray, metric: str) -> np.ndarray:
    """What an index of ``metric`` stores: the vectors (weighted) or unit rows (cosine), float32."""
    return unit_rows(vectors, np.float32) if metric == "cosine" else np.ascontiguousarray(vectors, np.float32)


def prepare_queries(queries: np.ndarray, metric: str) -> np.ndarray:
    return unit_rows(queries) if metric == "cosine" else np.ascontiguousarray(queries, np.float64)


# ---------------------------------------------------------------- ours ----------------------------------

def _ours(name: str, backend: str, params: dict, claim_weighted: str, claim_cosine: str | None = None,
          note: str = ""):
    def make(metric: str) -> Contender:
        from posesearch.index.backend import parse_params
        from posesearch.index.registry import get_backend_spec

        spec = get_backend_spec(backend)
        cls = spec.load()
        p = parse_params(cls.Params, spec.name, params)

        def build(data, metric_, build_weights):
            return cls.build(data, metric_, p, build_weights=build_weights)

        def build_owned(data, metric_, build_weights):
            return cls.build(data, metric_, p, build_weights=build_weights, own_data=True)

        def knn(be, q, w, k, single):
            return be.knn(q, w if be.metric == "weighted" else None, k)

        claim = claim_weighted if metric == "weighted" else (claim_cosine or claim_weighted)
        return Contender(name, "posesearch", claim, build, knn, dict(params, backend=backend),
                         STATED_RECALL.get(name, 0.0) if claim == "approximate" else 0.0, note,
                         build_owned=build_owned if cls.CAN_OWN_DATA else None)
    return make


OURS = {
    "exact": _ours("exact", "exact", {}, "exact", note="numba brute force: the reference"),
    "vptree": _ours("vptree", "vptree", {}, "exact", note="numba VP-tree with per-joint bounds"),
    "faiss-flat": _ours("faiss-flat", "faiss", {"kind": "flat"}, "exact",
                        note="cosine: FAISS flat + certified float64 re-rank; weighted: the exact kernel"),
    "faiss-hnsw": _ours("faiss-hnsw", "faiss", {"kind": "hnsw"}, "approximate",
                        note="FAISS HNSW graph (M 32, efC 200) walked with the exact distance"),
    "faiss-ivf": _ours("faiss-ivf", "faiss", {"kind": "ivf"}, "approximate",
                       note="IVF (nlist 4 sqrt N, nprobe 32) candidates re-ranked exactly"),
    "vptree-pypi": _ours("vptree-pypi", "vptree-pypi", {"max_frames": 10_000_000}, "approximate", "exact",
                         note="PyPI vptree (pure Python), Move Mirror's build weights"),
}


# ---------------------------------------------------------------- peers ---------------------------------

class _Numpy:
    def __init__(self, data):
        self.x = np.asarray(data, dtype=np.float64)


def _numpy_topk(x: np.ndarray, q: np.ndarray, d: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest of ``d`` (ties by row), ids and values."""
    part = np.argpartition(d, k - 1)[:k]
    order = np.lexsort((part, d[part]))
    return part[order], d[part[order]]


def _numpy_cosine(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine on unit rows as a capable numpy user runs it: the similarities of a whole batch in one
    matrix product (a single query: one matrix-vector product ``x @ q``), the 2k most similar rows,
    then those re-scored as the exact L2 of unit vectors (``sqrt(2 - 2 cos)`` loses digits for near
    neighbours) and the k best kept."""
    out_i = np.empty((len(q), k), np.int64)
    out_d = np.empty((len(q), k))
    c = min(2 * k, len(x))
    step = max(1, (64 << 20) // (8 * len(x)))             # ~64 MB of similarities at a time
    for s in range(0, len(q), step):
        qs = q[s:s + step]
        sim = x @ qs[0] if len(qs) == 1 else x @ qs.T      # (N,) or (N, b)
        sim = sim.reshape(len(x), len(qs))
        top = np.argpartition(-sim, c - 1, axis=0)[:c]     # (c, b)
        for j in range(len(qs)):
            cand = top[:, j]
            diff = x[cand] - qs[j]
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            order = np.lexsort((cand, d))[:k]
            out_i[s + j], out_d[s + j] = cand[order], d[order]
    return out_i, out_d


def _numpy_contender(metric: str) -> Contender:
    def build(data, metric_, bw):
        return _Numpy(data)

    def knn(st, q, w, k, single):
        x = st.x
        if metric != "weighted":
            return _numpy_cosine(x, q, k)
        out_i = np.empty((len(q), k), np.int64)
        out_d = np.empty((len(q), k))
        for b in range(len(q)):
            diff = x - q[b]
            np.abs(diff, out=diff)
            d = (diff[:, 0::2] + diff[:, 1::2]) @ (w[b] / w[b].sum())
            out_i[b], out_d[b] = _numpy_topk(x, q[b], d, k)
        return out_i, out_d

    note = ("float64 brute force: one vectorized L1 pass per query" if metric == "weighted" else
            "float64 brute force: x @ q on unit rows (a batch: one matrix product), top 2k re-scored exactly")
    return Contender("numpy", "peer", "exact", build, knn, {"dtype": "float64"}, note=note)


def _faiss_flat_raw(metric: str) -> Contender:
    def build(data, metric_, bw):
        import faiss

        idx = faiss.IndexFlatL2(data.shape[1])
        idx.add(np.ascontiguousarray(data, np.float32))
        return idx

    def knn(idx, q, w, k, single):
        import faiss

        faiss.omp_set_num_threads(1 if single else CORES)
        d, i = idx.search(np.ascontiguousarray(q, np.float32), k)
        return i.astype(np.int64), np.sqrt(np.maximum(d, 0)).astype(np.float64)

    claim = "float32" if metric == "cosine" else "l2-standin"
    return Contender("faiss-IndexFlatL2", "peer", claim, build, knn, {"kind": "IndexFlatL2", "rerank": False},
                     note="raw FAISS, float32, no re-rank" + ("" if metric == "cosine" else "; plain L2 (no weights)"),
                     exact_distances=False)


#: hnswlib and FAISS's own HNSW are built like our faiss-hnsw graph (M 32, efConstruction 200)
HNSWLIB_M, HNSWLIB_EFC, HNSWLIB_EF = 32, 200, 64
FAISS_HNSW_M, FAISS_HNSW_EFC, FAISS_HNSW_EF = 32, 200, 48


def _faiss_hnsw_raw(metric: str, ef: int = FAISS_HNSW_EF) -> Contender:
    """FAISS's own HNSW (IndexHNSWFlat, L2) and its own search: the graph built with our faiss-hnsw's
    M and efConstruction over the same rows (cosine: unit rows, where L2 ranks like cosine)."""
    def build(data, metric_, bw):
        import faiss

        faiss.omp_set_num_threads(CORES)
        idx = faiss.IndexHNSWFlat(data.shape[1], FAISS_HNSW_M, faiss.METRIC_L2)
        idx.hnsw.efConstruction = FAISS_HNSW_EFC
        idx.add(np.ascontiguousarray(data, np.float32))
        return idx

    def knn(idx, q, w, k, single):
        import faiss

        faiss.omp_set_num_threads(1 if single else CORES)
        sp = faiss.SearchParametersHNSW(efSearch=max(ef, k))
        d, i = idx.search(np.ascontiguousarray(q, np.float32), k, params=sp)
        return i.astype(np.int64), np.sqrt(np.maximum(d, 0)).astype(np.float64)

    claim = "approximate" if metric == "cosine" else "l2-standin"
    return Contender("faiss-IndexHNSWFlat", "peer", claim, build, knn,
                     {"M": FAISS_HNSW_M, "ef_construction": FAISS_HNSW_EFC, "ef_search": ef, "rerank": False},
                     note="FAISS's own HNSW search, float32 L2, no re-rank"
                     + ("" if metric == "cosine" else "; plain L2 (no weights)"), exact_distances=False)


def _hnswlib(metric: str, ef: int = HNSWLIB_EF) -> Contender:
    def build(data, metric_, bw):
        import hnswlib

        idx = hnswlib.Index(space="l2", dim=data.shape[1])
        idx.init_index(max_elements=len(data), M=HNSWLIB_M, ef_construction=HNSWLIB_EFC, random_seed=100)
        idx.add_items(np.ascontiguousarray(data, np.float32), np.arange(len(data)), num_threads=CORES)
        return idx

    def knn(idx, q, w, k, single):
        idx.set_ef(max(ef, k))
        lab, d = idx.knn_query(np.ascontiguousarray(q, np.float32), k=k, num_threads=1 if single else CORES)
        return lab.astype(np.int64), np.sqrt(np.maximum(d, 0)).astype(np.float64)

    claim = "approximate" if metric == "cosine" else "l2-standin"
    return Contender("hnswlib", "peer", claim, build, knn,
                     {"M": HNSWLIB_M, "ef_construction": HNSWLIB_EFC, "ef": ef, "rerank": False},
                     note="HNSW, float32 L2, no re-rank" + ("" if metric == "cosine" else "; plain L2 (no weights)"),
                     exact_distances=False)


PEERS = {"numpy": _numpy_contender, "faiss-IndexFlatL2": _faiss_flat_raw, "faiss-IndexHNSWFlat": _faiss_hnsw_raw,
         "hnswlib": _hnswlib}

#: weighted: the L2 peers as a capable user runs them: fetch RERANK_FACTOR x k by L2, re-rank exactly
RERANK_PEERS = ("faiss-IndexFlatL2", "faiss-IndexHNSWFlat", "hnswlib")
RERANK_FACTOR = 10
RERANK_SWEEP = (1, 2, 4, 10, 30, 100)


def rerank_name(base: str, factor: int) -> str:
    return f"{base} + re-rank x{factor}"


def with_rerank(base: Contender, data: np.ndarray, factor: int) -> Contender:
    """``base`` (an L2 peer, already built) asked for ``factor`` x k candidates, which are re-ranked with
    the exact weighted distance in float64 numpy (what a user of FAISS or hnswlib would write). The
    graph peers search with a beam of at least the candidate count. Distances reported are exact."""
    from .checks import true_distances

    def knn(obj, q, w, k, single):
        kk = min(factor * k, len(data))
        if base.name == "hnswlib":
            ids = _hnswlib("weighted", max(HNSWLIB_EF, kk)).knn(obj, q, w, kk, single)[0]
        elif base.name == "faiss-IndexHNSWFlat":
            ids = _faiss_hnsw_raw("weighted", max(FAISS_HNSW_EF, kk)).knn(obj, q, w, kk, single)[0]
        else:
            ids = base.knn(obj, q, w, kk, single)[0]
        d = true_distances(data, q, w, ids, "weighted")
        order = np.lexsort((ids, d), axis=1)[:, :k]
        return np.take_along_axis(ids, order, 1), np.take_along_axis(d, order, 1)

    return Contender(rerank_name(base.name, factor), "peer", "approximate", base.build, knn,
                     dict(base.params, rerank=True, overfetch=factor),
                     note=f"{base.name}: {factor} x k candidates by plain L2, re-ranked with the exact weighted distance")


def available_peers() -> dict[str, str]:
    """Peers whose library is missing -> why (they are left out with that message, which the run prints
    and records under ``skipped_peers`` in results.json)."""
    missing = {}
    try:
        import hnswlib  # noqa: F401
    except ImportError:
        missing["hnswlib"] = ("peer left out of search and scaling: the hnswlib module is not installed "
                              "(install the bench extra: pip install -e '.[bench]')")
    return missing


def index_bytes(obj, data: np.ndarray) -> int:
    """Bytes a built contender keeps (what its file would hold): ours = the indexed vectors + the
    backend's stored arrays + 8-byte frame ids (the index file, less HDF5 overhead); numpy = its array;
    FAISS = ``serialize_index``; hnswlib = its ``save_index`` file."""
    from posesearch.index.backend import Backend

    if isinstance(obj, Backend):
        return int(data.nbytes + 8 * len(data) + sum(int(np.asarray(a).nbytes) for a in obj.to_arrays().values()))
    if isinstance(obj, _Numpy):
        return int(obj.x.nbytes)
    if type(obj).__module__.startswith("faiss"):
        import faiss

        return int(len(faiss.serialize_index(obj)))
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:      # hnswlib
        path = os.path.join(tmp, "index.bin")
        obj.save_index(path)
        return int(os.path.getsize(path))


def make(name: str, metric: str) -> Contender:
    if name in OURS:
        return OURS[name](metric)
    return PEERS[name](metric)


def rebind_faiss(be, **params):
    """The same built FAISS backend with other search parameters (a shallow copy: no rebuild)."""
    import copy
    import dataclasses

    new = copy.copy(be)
    new.params = dataclasses.replace(be.params, **params)
    return new
