"""Data helpers shared by the index tests (synthetic poses, small corpora, real-data subsets, queries)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from posesearch.corpus.clip import Clip
from posesearch.poses.layouts import COCO17
from posesearch.poses.normalize import normalize_batch


def backend_settings(*, exact_for: tuple[str, ...] = ()) -> list[tuple[str, dict]]:
    """(backend name, params) of every registered backend's TEST_PARAMS (a new backend is tested by
    registering it); ``exact_for``: only the settings exact under each of these metrics."""
    from posesearch.index.registry import BACKENDS

    out = []
    for name, spec in BACKENDS.items():
        cls = spec.load()
        out += [(name, dict(p)) for p in cls.TEST_PARAMS if all(cls.exact_for(m, p) for m in exact_for)]
    return out


def random_poses(rng: np.random.Generator, n: int, *, missing: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """(n, 17, 2) pixel keypoints of loosely human-shaped random poses and (n, 17) confidences."""
    base = np.array([[0, -60], [-5, -65], [5, -65], [-10, -62], [10, -62], [-20, -40], [20, -40], [-30, -15],
                     [30, -15], [-35, 10], [35, 10], [-12, 10], [12, 10], [-14, 50], [14, 50], [-15, 90],
                     [15, 90]], dtype=np.float64)
    kp = base[None] * rng.uniform(0.5, 2.0, (n, 1, 1)) + rng.normal(0, 12, (n, 17, 2)) + rng.uniform(0, 500, (n, 1, 2))
    cf = rng.uniform(0.3, 1.0, (n, 17))
    cf[rng.random((n, 17)) < missing] = 0.0
    cf[:, 5:7] = np.maximum(cf[:, 5:7], 0.5)  # at least the shoulders: every pose normalizes
    kp[cf == 0] = 0.0
    return kp, cf


def vectors_of(kp: np.ndarray, cf: np.ndarray) -> np.ndarray:
    v, valid = normalize_batch(kp, cf)
    assert valid.all()
    return v.astype(np.float32)


def random_weights(rng: np.random.Generator, b: int, *, missing: float = 0.15) -> np.ndarray:
    """Query confidences as the tests use them: present keypoints uniform in 0.3-1, some missing (0)."""
    w = rng.uniform(0.3, 1.0, (b, 17))
    w[rng.random((b, 17)) < missing] = 0.0
    w[:, 0] = np.maximum(w[:, 0], 0.3)  # never all missing
    return w


def repeated_rows_args(min_n: int, max_n: int, max_every: int) -> tuple:
    """Hypothesis strategies for ``(n, seed, metric, every)``, the arguments of :func:`repeated_rows` and a
    metric: a property test over small corpora with runs of identical rows takes ``@given(*these)``."""
    from hypothesis import strategies as st

    return (st.integers(min_n, max_n), st.integers(0, 2 ** 31 - 1), st.sampled_from(["weighted", "cosine"]),
            st.integers(1, max_every))


def repeated_rows(seed: int, n: int, every: int) -> tuple[np.random.Generator, np.ndarray]:
    """A generator seeded with ``seed`` and the vectors of ``n`` random poses drawn from it, in runs of
    ``every`` identical rows (row i is pose i // every); the generator goes on to draw the queries."""
    rng = np.random.default_rng(seed)
    kp, cf = random_poses(rng, n)
    return rng, vectors_of(kp, cf)[np.arange(n) // every]


def coco_clips(kp: np.ndarray, cf: np.ndarray, prefix: str = "synth") -> list[Clip]:
    """One single-frame clip per pose (COCO-17), labelled with its row."""
    return [Clip(f"{prefix}:{i}", kp[i:i + 1].astype(np.float32), cf[i:i + 1].astype(np.float32), "coco17",
                 labels={"row": str(i), "kind": prefix}) for i in range(len(kp))]


def make_corpus(path: Path, clips) -> Path:
    from posesearch.corpus.store import Corpus

    Corpus.ingest(path, clips, overwrite=True)
    return path


def corpus_fixtures(seed: int, n: int):
    """The fixtures ``poses`` (module scope: ``random_poses`` of ``n`` rows from ``seed``) and ``corpus`` (a
    corpus file of them, one single-frame COCO clip a pose, in tmp_path). A test module takes both with
    ``poses, corpus = corpus_fixtures(seed, n)``."""
    import pytest

    @pytest.fixture(scope="module")
    def poses():
        return random_poses(np.random.default_rng(seed), n)

    @pytest.fixture()
    def corpus(tmp_path, poses):
        return make_corpus(tmp_path / "c.h5", coco_clips(*poses))

    return poses, corpus


TIE_RTOL = {"weighted": 1e-12, "cosine": 1e-6}
TIE_ATOL = {"weighted": 1e-15, "cosine": 1e-7}
"""Slack (relative, absolute) when comparing distances. Weighted: float64 over the stored vectors, as the backends
compute it. Cosine: the indexes hold float32-rounded unit vectors, ~1e-8 from float64 cosine."""


def true_distances(vectors: np.ndarray, queries: np.ndarray, weights: np.ndarray | None, ids: np.ndarray,
                   metric: str = "weighted", rows: np.ndarray | None = None) -> np.ndarray:
    """(B, k) true distances of query b to ``vectors[ids[b]]``, by the library's reference functions
    (posesearch.poses.distances), in float64. ``vectors`` is indexed by the ids a backend returns (corpus
    frame ids for an index built on a corpus); ``rows`` (optional) is the set of ids the index holds:
    an id outside it is refused."""
    from posesearch.poses.distances import cosine_distance, weighted_distance

    ids = np.asarray(ids)
    assert ids.ndim == 2 and ids.shape[0] == len(queries), f"ids of shape {ids.shape} for {len(queries)} queries"
    assert np.issubdtype(ids.dtype, np.integer), f"ids must be integers, got {ids.dtype}"
    assert ((ids >= 0) & (ids < len(vectors))).all(), "an id outside the corpus"
    if rows is not None:
        assert np.isin(ids, rows).all(), "an id of a frame the index does not hold"
    out = np.empty(ids.shape)
    for b in range(len(queries)):
        g = np.asarray(vectors[ids[b]], dtype=np.float64)
        out[b] = (weighted_distance(queries[b], g, weights[b]) if metric == "weighted"
                  else cosine_distance(queries[b], g))
    return out


def brute_force_kth(vectors: np.ndarray, queries: np.ndarray, weights: np.ndarray | None, k: int,
                    metric: str = "weighted", rows: np.ndarray | None = None) -> np.ndarray:
    """(B,) true k-th nearest distance of each query over ``vectors[rows]`` (all rows by default)."""
    from posesearch.poses.distances import cosine_distance, weighted_distance

    v = np.asarray(vectors if rows is None else vectors[rows], dtype=np.float64)
    out = np.empty(len(queries))
    for b in range(len(queries)):
        d = weighted_distance(queries[b], v, weights[b]) if metric == "weighted" else cosine_distance(queries[b], v)
        out[b] = np.partition(d, k - 1)[k - 1]
    return out


def recall_at(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, weights: np.ndarray | None,
              metric: str = "weighted", rows: np.ndarray | None = None) -> float:
    """Tie-aware recall@k computed from the returned ids against brute force, trusting nothing the backend
    reports: a returned id is a hit when its true distance (recomputed from ``vectors``) is within the
    true k-th distance (times 1 + TIE_RTOL, so any of several tied frames counts); an id repeated in one
    answer counts once (a backend returning the nearest frame k times scores 1/k). ``queries`` / ``weights``
    are the normalized query vectors and per-keypoint weights the index searched with (``rows``: see
    :func:`true_distances`)."""
    ids = np.asarray(ids)
    k = ids.shape[1]
    got = true_distances(vectors, queries, weights, ids, metric, rows)
    kth = brute_force_kth(vectors, queries, weights, k, metric, rows)
    ok = got <= kth[:, None] * (1 + TIE_RTOL[metric]) + TIE_ATOL[metric]
    hits = [len(np.unique(ids[b][ok[b]])) for b in range(len(ids))]
    return float(np.mean(hits) / k)


def check_answers(ids: np.ndarray, dists: np.ndarray, vectors: np.ndarray, queries: np.ndarray,
                  weights: np.ndarray | None, metric: str = "weighted", rows: np.ndarray | None = None) -> None:
    """The backend contract, approximate backends included: no id twice in one answer, distances
    ascending, and each reported distance the true distance of the id it comes with (AssertionError)."""
    ids, dists = np.asarray(ids), np.asarray(dists, dtype=np.float64)
    assert ids.shape == dists.shape, f"ids {ids.shape} vs distances {dists.shape}"
    for b in range(len(ids)):
        assert len(np.unique(ids[b])) == ids.shape[1], f"query {b}: an id returned twice: {ids[b].tolist()}"
    assert np.all(np.diff(dists, axis=1) >= 0), "distances not ascending"
    got = true_distances(vectors, queries, weights, ids, metric, rows)
    np.testing.assert_allclose(dists, got, rtol=TIE_RTOL[metric], atol=TIE_ATOL[metric],
                               err_msg="a reported distance is not the true distance of the returned id")


def flip_byte(path: Path, dataset: str, at: float = 0.5) -> None:
    """Flip one byte inside a contiguous HDF5 dataset, in place."""
    import h5py

    with h5py.File(path, "r") as f:
        ds = f[dataset]
        offset = ds.id.get_offset()
        nbytes = ds.id.get_storage_size()
    assert offset is not None and nbytes > 0, f"{dataset} is not stored contiguously"
    pos = offset + int(nbytes * at)
    with open(path, "r+b") as fh:
        fh.seek(pos)
        b = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([b[0] ^ 0x5A]))


def held_out_queries(penn_files, kit_files, rng: np.random.Generator, n_penn: int, n_kit: int,
                     missing: float = 0.15):
    """Raw queries from real data outside the test corpus: (layout, (K, 2) keypoints, (K,) confidences).

    Present keypoints get confidences uniform in 0.3-1 and a share ``missing`` of them are dropped.
    """
    from posesearch.corpus.readers import iter_source

    raw = []
    penn = list(iter_source("penn-action", penn_files))
    for _ in range(n_penn):
        c = penn[rng.integers(len(penn))]
        t = rng.integers(len(c))
        raw.append(("penn13", c.keypoints[t], c.confidences[t]))
    kit = []
    for f in kit_files:
        for item in iter_source("openpose", [f]):
            kit.extend(item.clips() if hasattr(item, "clips") else [item])
    for _ in range(n_kit):
        c = kit[rng.integers(len(kit))]
        raw.append(("body25", c.keypoints[0], c.confidences[0]))
    out = []
    for lay, kp, cf in raw:
        cf = np.asarray(cf, dtype=np.float64)
        present = cf > 0
        conf = np.where(present, rng.uniform(0.3, 1.0, cf.shape), 0.0)
        drop = present & (rng.random(cf.shape) < missing)
        if (present & ~drop).sum() >= 3:
            conf[drop] = 0.0
        out.append((lay, np.asarray(kp, dtype=np.float64), conf))
    return out


def coco_queries(raw) -> tuple[np.ndarray, np.ndarray]:
    """Raw queries of mixed layouts mapped to COCO-17 (what Index.search would do), batched."""
    from posesearch.index.query import raw_to_coco

    kps, cfs = [], []
    for lay, kp, cf in raw:
        k, c, _ = raw_to_coco(kp, lay, cf)
        kps.append(k[0])
        cfs.append(c[0])
    return np.array(kps), np.array(cfs)


__all__ = ["COCO17", "random_poses", "vectors_of", "random_weights", "coco_clips", "make_corpus", "recall_at",
           "true_distances", "brute_force_kth", "check_answers", "flip_byte", "held_out_queries", "coco_queries"]


def rewrite_index_file(path, edit) -> dict:
    """Apply ``edit(h5file)`` to an index file and store a matching checksum (a consistent file that the
    checksum cannot tell from one written that way); returns the file's arrays after the edit, by name."""
    import h5py

    from posesearch.index.fileformat import compute_checksum

    with h5py.File(path, "r+") as f:
        edit(f)
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        arrays = {name: np.asarray(f[name][()]) for name in names}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v)
                 for k, v in f.attrs.items()}
        f.attrs["checksum"] = compute_checksum(attrs, arrays)
    return arrays
