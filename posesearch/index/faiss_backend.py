"""``faiss`` backend: FAISS retrieves candidates, the exact metric re-ranks them.

Kinds (``kind``):

* ``hnsw`` (default) — ``IndexHNSWFlat`` (graph; ``M``, ``ef_construction``, ``ef_search``). Approximate.
* ``ivf`` — ``IndexIVFFlat`` (k-means cells; ``nlist``, ``nprobe``). Approximate.
* ``flat`` — exhaustive and exact: cosine through ``IndexFlatL2`` over unit vectors (candidates re-ranked
  in float64; the candidate set grows until the float32 FAISS distances certify that no frame outside it
  can be closer); weighted through the exact brute-force kernel, because FAISS has no per-query
  weighted L1 distance.

What FAISS searches:

* ``cosine``: the unit vectors with L2 — the same ranking as the cosine distance.
* ``weighted``: Move Mirror's distance is a weighted L1 with weights from the query, which FAISS cannot
  evaluate. Candidates come from the closest weighted *squared L2* proxy that a fixed index can rank:
  ``sum_k w_k ((fx_k - gx_k)^2 + (fy_k - gy_k)^2) = q.Wq - 2 (Wq).g + w.s(g)`` with
  ``s(g)_k = gx_k^2 + gy_k^2``, an inner product of ``[2 Wq, -w]`` with ``[g, s(g)]`` (51 dims), turned into
  an L2 search by the usual extra coordinate ``sqrt(Phi^2 - |[g, s(g)]|^2)`` (52 dims; ``Phi`` = largest
  norm). On real data this proxy needs about half the candidates plain L2 on the vectors needs (plain L2
  counts the query's missing joints, which the weighted distance ignores).

Every candidate is re-ranked with the exact float64 distance, so reported distances are exact; what
approximate kinds can miss is a true neighbour. ``candidates`` (default 0 = automatic:
``max(10 k, 200)`` for weighted, ``max(4 k, 64)`` for cosine) is how many FAISS results are re-ranked.

Measured recall@10 against ``exact`` (defaults, 300k real frames = Penn Action + COCO train, held-out
queries with confidences uniform in 0.3-1 and 15% missing; see tests/test_index_faiss.py and
indexes/README.md): HNSW weighted 0.99, cosine 0.999+; IVF weighted 0.99, cosine 0.999+.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError
from .backend import KERNEL_METRIC, Backend, check_positive_int
from .exact import ExactBackend

KINDS = ("hnsw", "ivf", "flat")
AUG_DIM = 34 + 17 + 1


def _faiss():
    import faiss

    return faiss


@dataclass(frozen=True)
class FaissParams:
    """FAISS settings.

    kind: hnsw | ivf | flat. M: HNSW graph degree. ef_construction: HNSW build beam. ef_search: HNSW search
    beam (raised to the candidate count when smaller). nlist: IVF cells (0 = 4 sqrt(N), at most N / 39).
    nprobe: IVF cells visited. candidates: results re-ranked exactly (0 = automatic). seed: IVF k-means.
    """

    kind: str = "hnsw"
    M: int = 32
    ef_construction: int = 200
    ef_search: int = 0
    nlist: int = 0
    nprobe: int = 32
    candidates: int = 0
    seed: int = 1234

    def __post_init__(self):
        if self.kind not in KINDS:
            from ..errors import UnknownNameError

            raise UnknownNameError("faiss index kind", self.kind, KINDS)
        for name in ("M", "ef_construction", "nprobe"):
            check_positive_int("faiss", name, getattr(self, name))
        for name in ("ef_search", "nlist", "candidates", "seed"):
            check_positive_int("faiss", name, getattr(self, name), minimum=0)


def weighted_data_transform(data: np.ndarray) -> tuple[np.ndarray, float]:
    """(M, 52) float32 augmented vectors for the weighted-L2 proxy, and Phi^2."""
    x = np.asarray(data, dtype=np.float64)
    s = x * x
    s = s[:, 0::2] + s[:, 1::2]
    xa = np.concatenate([x, s], axis=1)
    nr = (xa * xa).sum(axis=1)
    phi2 = float(nr.max()) if len(nr) else 1.0
    extra = np.sqrt(np.maximum(phi2 - nr, 0.0))[:, None]
    return np.ascontiguousarray(np.concatenate([xa, extra], axis=1), dtype=np.float32), phi2


def weighted_query_transform(queries: np.ndarray, weights: np.ndarray, phi2: float) -> np.ndarray:
    """(B, 52) float32 query vectors whose L2 ranking over the augmented data is the weighted-L2 ranking."""
    wq = np.repeat(weights, 2, axis=1)
    qa = np.concatenate([2.0 * wq * queries, -weights, np.zeros((len(queries), 1))], axis=1)
    n = np.sqrt((qa * qa).sum(axis=1, keepdims=True))
    qa = qa / np.where(n > 0, n, 1.0) * np.sqrt(phi2)  # scale (ranking-neutral) to look like the data
    return np.ascontiguousarray(qa, dtype=np.float32)


def _set_threads(batch: int) -> None:
    faiss = _faiss()
    # one query: OpenMP start-up costs more than it saves
    faiss.omp_set_num_threads(1 if batch < 8 else max(1, os.cpu_count() or 1))


class FaissBackend(Backend):
    """FAISS candidates + exact re-ranking (flat is exact; HNSW / IVF approximate, see module doc)."""

    name = "faiss"
    exact = False
    Params = FaissParams

    def __init__(self, data, metric, params, index=None, phi2: float = 1.0):
        super().__init__(data, metric, params)
        self.index = index
        self.phi2 = phi2
        self._exact = ExactBackend(data, metric, params) if (params.kind == "flat" and metric == "weighted") else None

    @property
    def is_exact(self) -> bool:
        return self.params.kind == "flat"

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def build(cls, data, metric, params, *, build_weights=None, progress=None):
        faiss = _faiss()
        n = len(data)
        if params.kind == "flat" and metric == "weighted":
            if progress:
                progress(n, n)
            return cls(data, metric, params)
        if metric == "weighted":
            vecs, phi2 = weighted_data_transform(data)
        else:
            vecs, phi2 = np.ascontiguousarray(data, dtype=np.float32), 1.0
        d = vecs.shape[1]
        faiss.omp_set_num_threads(max(1, os.cpu_count() or 1))
        if params.kind == "flat":
            index = faiss.IndexFlatL2(d)
        elif params.kind == "hnsw":
            index = faiss.IndexHNSWFlat(d, params.M)
            index.hnsw.efConstruction = params.ef_construction
        else:
            nlist = params.nlist or int(max(1, min(4 * np.sqrt(n), n // 39)))
            if nlist > n:
                raise InvalidArgumentError(f"backend 'faiss' parameter nlist: {nlist} cells for {n} frames; "
                                           f"use nlist <= {n}")
            quantizer = faiss.IndexFlatL2(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist)
            index.cp.seed = params.seed
            train = vecs
            cap = 256 * nlist
            if n > cap:
                train = vecs[np.random.default_rng(params.seed).choice(n, cap, replace=False)]
            index.train(train)
        step = 16384
        for a in range(0, n, step):  # add in slices so a progress bar can move
            index.add(vecs[a:a + step])
            if progress:
                progress(min(n, a + step), n)
        return cls(data, metric, params, index, phi2)

    # --- searching --------------------------------------------------------------------------

    def _n_candidates(self, k: int) -> int:
        c = self.params.candidates or (max(10 * k, 200) if self.metric == "weighted" else max(4 * k, 64))
        return int(min(max(c, k), len(self.data)))

    def _faiss_search(self, q: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        if self.params.kind == "hnsw":
            sp = faiss.SearchParametersHNSW(efSearch=max(self.params.ef_search, c))
            dist, lab = self.index.search(q, c, params=sp)
        elif self.params.kind == "ivf":
            sp = faiss.SearchParametersIVF(nprobe=min(self.params.nprobe, self.index.nlist))
            dist, lab = self.index.search(q, c, params=sp)
        else:
            dist, lab = self.index.search(q, c)
        return dist, lab.astype(np.int64, copy=False)

    def knn(self, queries, weights, k):
        if self._exact is not None:
            return self._exact.knn(queries, weights, k)
        from .kernels import exact as kx

        _set_threads(len(queries))
        if self.metric == "weighted":
            q = weighted_query_transform(queries, weights, self.phi2)
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

    def _fill_short(self, queries, weights, k, rows, dists):
        """Queries for which FAISS returned fewer than k results (tiny IVF cells): answer them exactly."""
        bad = np.flatnonzero((rows < 0).any(axis=1))
        ex = ExactBackend(self.data, self.metric, self.params)
        r, d = ex.knn(queries[bad], None if weights is None else weights[bad], k)
        rows[bad], dists[bad] = r, d
        return rows, dists

    # --- persistence ------------------------------------------------------------------------

    def to_arrays(self):
        if self.index is None:
            return {}
        faiss = _faiss()
        return {"faiss_index": np.asarray(faiss.serialize_index(self.index), dtype=np.uint8),
                "phi2": np.array([self.phi2], dtype=np.float64)}

    @classmethod
    def from_arrays(cls, arrays, data, metric, params, *, path="index"):
        if params.kind == "flat" and metric == "weighted":
            return cls(data, metric, params)
        blob, phi2 = arrays.get("faiss_index"), arrays.get("phi2")
        if blob is None or phi2 is None or blob.dtype != np.uint8 or blob.ndim != 1 or phi2.shape != (1,):
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
        return cls(data, metric, params, index, float(phi2[0]))

    def describe(self):
        out = {"faiss_kind": self.params.kind, "candidates": self.params.candidates or "auto"}
        if self.index is not None and self.params.kind == "ivf":
            out["nlist"] = int(self.index.nlist)
        return out
