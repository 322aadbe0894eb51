"""What is benchmarked: posesearch's index backends and the peers a user would pick instead.

Every contender builds over the same (M, 34) float32 normalized vectors and answers
``knn(queries (B, 34) float64, weights (B, 17) | None, k) -> (ids (B, k), distances (B, k) | None)``:

* ours, through the backend layer of :mod:`posesearch.index` (the :class:`~posesearch.index.Index`
  adds only argument checks and the row -> frame id map): ``exact``, ``vptree``, ``faiss-flat``,
  ``faiss-hnsw``, ``faiss-ivf`` (HNSW / IVF candidates re-ranked with the exact distance),
  ``vptree-pypi`` (Move Mirror's way: the PyPI package, tree built with each frame's own confidences);
* peers: ``numpy`` (float64 brute force, vectorized per query; computes the weighted metric too),
  ``faiss-IndexFlatL2`` (raw FAISS, float32, no re-rank), ``hnswlib`` (HNSW, L2, no re-rank). FAISS and
  hnswlib have no per-query weighted L1 distance: under ``weighted`` they rank by plain L2 on the
  vectors (claim ``l2-standin``), which is what a user of those libraries would get.

For ``cosine`` the data are unit rows and queries unit vectors (cosine distance = L2 of unit vectors).
Threads: single queries run single-threaded everywhere (FAISS ``omp_set_num_threads(1)``, hnswlib
``num_threads=1``; the numba kernels run one query serially); batches use every core.
"""
from __future__ import annotations

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

        def knn(be, q, w, k, single):
            return be.knn(q, w if be.metric == "weighted" else None, k)

        claim = claim_weighted if metric == "weighted" else (claim_cosine or claim_weighted)
        return Contender(name, "posesearch", claim, build, knn, dict(params, backend=backend),
                         STATED_RECALL.get(name, 0.0) if claim == "approximate" else 0.0, note)
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


def _numpy_contender(metric: str) -> Contender:
    def build(data, metric_, bw):
        return _Numpy(data)

    def knn(st, q, w, k, single):
        x = st.x
        out_i = np.empty((len(q), k), np.int64)
        out_d = np.empty((len(q), k))
        for b in range(len(q)):
            diff = x - q[b]
            if metric == "weighted":
                np.abs(diff, out=diff)
                d = (diff[:, 0::2] + diff[:, 1::2]) @ w[b] / w[b].sum()
            else:
                d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            part = np.argpartition(d, k - 1)[:k]
            order = np.lexsort((part, d[part]))
            out_i[b] = part[order]
            out_d[b] = d[part[order]]
        return out_i, out_d

    return Contender("numpy", "peer", "exact", build, knn, {"dtype": "float64"},
                     note="float64 brute force, one vectorized pass per query")


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


HNSWLIB_M, HNSWLIB_EFC, HNSWLIB_EF = 16, 200, 64


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


PEERS = {"numpy": _numpy_contender, "faiss-IndexFlatL2": _faiss_flat_raw, "hnswlib": _hnswlib}


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
