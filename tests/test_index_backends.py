"""Every backend against brute force on synthetic poses: exact distances, duplicates, errors, mirror search."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from index_testdata import (backend_settings, check_answers, random_poses, random_weights, recall_at, repeated_rows,
                            repeated_rows_args, rewrite_index_file, vectors_of)
from posesearch.errors import InvalidArgumentError, PoseSearchError, UnknownNameError
from posesearch.index import BACKENDS, Index
from posesearch.poses.distances import cosine_distance, weighted_distance
from posesearch.poses.mirror import mirror

N = 3000
EXACT_SETTINGS = backend_settings(exact_for=("weighted", "cosine"))   # from the registry
PYPI_WEIGHTED_RECALL = 0.99   # recall@10 measured 1.000 on this fixed-seed data (40 queries x 10)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2024)
    kp, cf = random_poses(rng, N)
    qkp, qcf = random_poses(rng, 40)
    qv = vectors_of(qkp, qcf).astype(np.float64)
    return {"kp": kp, "cf": cf, "vectors": vectors_of(kp, cf), "queries": qv,
            "weights": random_weights(rng, 40)}


@pytest.fixture(scope="module")
def exact_indexes(data):
    return {m: Index.build(data["vectors"], metric=m, backend="exact") for m in ("weighted", "cosine")}


def brute_force(vectors, q, w, metric, k):
    """numpy reference from posesearch.poses.distances: (ids, dists) sorted by (distance, id)."""
    v = vectors.astype(np.float64)
    d = weighted_distance(q, v, w) if metric == "weighted" else cosine_distance(q, v)
    order = np.lexsort((np.arange(len(v)), d))[:k]
    return order, d[order]


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_exact_backend_matches_numpy_reference(data, exact_indexes, metric):
    m = exact_indexes[metric].search_vectors(data["queries"], 10, weights=data["weights"])
    # weighted: float64 over the stored float32 vectors, as numpy does; cosine: the index holds float32
    # unit vectors (rounded once), so it agrees with float64 cosine to ~1e-8
    tol = 1e-12 if metric == "weighted" else 1e-6
    for b in range(len(data["queries"])):
        ids, d = brute_force(data["vectors"], data["queries"][b], data["weights"][b], metric, 10)
        np.testing.assert_allclose(m.distances[b], d, rtol=0, atol=tol)
        if np.all(np.diff(d) > 1e-9):  # no near-ties: the ids must agree too
            assert m.ids[b].tolist() == ids.tolist()


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
@pytest.mark.parametrize("k", [1, 10, 50])
@pytest.mark.parametrize("backend,params", EXACT_SETTINGS)
def test_exact_backends_give_the_exact_distances(data, exact_indexes, metric, k, backend, params):
    ref = exact_indexes[metric].search_vectors(data["queries"], k, weights=data["weights"])
    idx = Index.build(data["vectors"], metric=metric, backend=backend, **params)
    got = idx.search_vectors(data["queries"], k, weights=data["weights"])
    assert idx.exact
    np.testing.assert_array_equal(got.distances, ref.distances)
    # the distance reported for each id is that id's exact distance
    for b in range(3):
        _, d = brute_force(data["vectors"][got.ids[b]], data["queries"][b], data["weights"][b], metric, k)
        np.testing.assert_allclose(np.sort(d), got.distances[b], atol=1e-12 if metric == "weighted" else 1e-6)


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_faiss_approximate_kinds_recall(data, exact_indexes, metric, kind):
    idx = Index.build(data["vectors"], metric=metric, backend="faiss", kind=kind)
    got = idx.search_vectors(data["queries"], 10, weights=data["weights"])
    assert not idx.exact
    assert recall_at(got.ids, data["vectors"], data["queries"], data["weights"], metric) >= 0.97
    check_answers(got.ids, got.distances, data["vectors"], data["queries"], data["weights"], metric)


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_recall_helper_judges_ids_not_reported_distances(data, exact_indexes, metric):
    """recall_at recomputes true distances from the returned ids: a fake backend that returns the nearest
    frame k times (reporting the exact k distances) scores 1/k, and check_answers refuses the answer."""
    v, q, w = data["vectors"], data["queries"], data["weights"]
    ref = exact_indexes[metric].search_vectors(q, 10, weights=w)
    assert recall_at(ref.ids, v, q, w, metric) == 1.0
    check_answers(ref.ids, ref.distances, v, q, w, metric)
    fake_ids = np.repeat(ref.ids[:, :1], 10, axis=1)
    assert recall_at(fake_ids, v, q, w, metric) == pytest.approx(0.1)
    with pytest.raises(AssertionError, match="an id returned twice"):
        check_answers(fake_ids, ref.distances, v, q, w, metric)
    # distinct ids with the right distances reported, but the wrong rows: the far end of the corpus
    far = np.argsort(-weighted_distance(q[0], v.astype(np.float64), w[0]) if metric == "weighted"
                     else -cosine_distance(q[0], v.astype(np.float64)))[:10]
    wrong = ref.ids.copy()
    wrong[0] = far
    assert recall_at(wrong, v, q, w, metric) == pytest.approx(1 - 1 / len(q))
    with pytest.raises(AssertionError, match="not the true distance"):
        check_answers(wrong, ref.distances, v, q, w, metric)
    # one wrong distance reported for the right id
    bad = ref.distances.copy()
    bad[3, 4] *= 1.001
    with pytest.raises(AssertionError, match="not the true distance"):
        check_answers(ref.ids, bad, v, q, w, metric)


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_vptree_pypi_baseline(data, exact_indexes, metric):
    ref = exact_indexes[metric].search_vectors(data["queries"], 10, weights=data["weights"])
    idx = Index.build(data["vectors"], metric=metric, backend="vptree-pypi")
    got = idx.search_vectors(data["queries"], 10, weights=data["weights"])
    if metric == "cosine":   # a metric: the package's search is exact
        np.testing.assert_array_equal(got.distances, ref.distances)
    else:                    # Move Mirror's non-metric use: approximate, distances still exact values
        r = recall_at(got.ids, data["vectors"], data["queries"], data["weights"], metric)
        assert r >= PYPI_WEIGHTED_RECALL, r
    check_answers(got.ids, got.distances, data["vectors"], data["queries"], data["weights"], metric)


@pytest.mark.parametrize("backend,params", backend_settings())
@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_duplicate_heavy_corpus(data, backend, params, metric):
    """10,000 identical frames (the PyPI package alone would hit its RecursionError, issue #20)."""
    same = np.repeat(data["vectors"][:1], 10_000, axis=0)
    vectors = np.concatenate([same, data["vectors"][1:200]])
    idx = Index.build(vectors, metric=metric, backend=backend, **params)
    m = idx.search_vectors(data["vectors"][:1].astype(np.float64), 25, weights=np.ones(17))
    # (cosine compares float32-rounded unit vectors: ~1e-9 instead of 0)
    assert np.all(m.distances < 1e-6) and np.all(m.distances == m.distances[0, 0])
    if idx.exact:
        assert m.ids[0].tolist() == list(range(25))      # ties by smaller id
    assert len(set(m.ids[0].tolist())) == 25
    far = idx.search_vectors(data["queries"][:2], 5, weights=data["weights"][:2])
    ref = Index.build(vectors, metric=metric, backend="exact").search_vectors(
        data["queries"][:2], 5, weights=data["weights"][:2])
    if idx.exact:
        np.testing.assert_array_equal(far.distances, ref.distances)


def test_mirror_search_finds_the_mirrored_frame(data):
    kp, cf = data["kp"], data["cf"]
    idx = Index.build(data["vectors"], metric="weighted", backend="vptree")
    j = 123
    mk, mc = mirror(kp[j], cf[j], "coco17")
    raw = np.concatenate([np.where(mc[:, None] > 0, mk, np.nan), mc[:, None]], axis=1)
    plain = idx.search(raw, 3)
    assert not (plain.ids[0, 0] == j and plain.distances[0, 0] < 1e-6)
    m = idx.search(raw, 3, mirror=True)
    assert m.ids[0, 0] == j and m.distances[0, 0] < 1e-6 and m.mirrored[0, 0]
    assert m.mirrored.dtype == bool and not plain.mirrored.any()
    # a batch: the unmirrored pose matches itself without the mirror flag
    both = np.stack([raw, np.concatenate([kp[j], cf[j][:, None]], axis=1)])
    mb = idx.search(both, 1, mirror=True)
    assert mb.ids[:, 0].tolist() == [j, j] and mb.mirrored[:, 0].tolist() == [True, False]


def test_search_raw_equals_search_vectors(data):
    idx = Index.build(data["vectors"], metric="weighted", backend="exact")
    raw = np.concatenate([data["kp"][:5], data["cf"][:5, :, None]], axis=2)
    a = idx.search(raw, 4)
    b = idx.search_vectors(data["vectors"][:5].astype(np.float64), 4, weights=data["cf"][:5])
    np.testing.assert_allclose(a.distances, b.distances, atol=1e-6)
    assert a.distances[:, 0].max() < 1e-6 and a.ids[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_k_validation(data):
    idx = Index.build(data["vectors"][:50], metric="cosine", backend="exact")
    with pytest.raises(InvalidArgumentError, match=r"k: expected 1 <= k <= 50 \(the number of indexed frames\), got 0"):
        idx.search_vectors(data["queries"][0], 0)
    with pytest.raises(InvalidArgumentError, match="got 51"):
        idx.search_vectors(data["queries"][0], 51)
    with pytest.raises(InvalidArgumentError, match="k: expected an integer"):
        idx.search_vectors(data["queries"][0], 2.5)
    assert idx.search_vectors(data["queries"][0], 50).k == 50


def test_unknown_names_list_the_valid_ones(data):
    with pytest.raises(UnknownNameError, match="unknown backend 'annoy'.*exact, faiss, vptree, vptree-pypi"):
        Index.build(data["vectors"], backend="annoy")
    with pytest.raises(UnknownNameError, match="unknown metric"):
        Index.build(data["vectors"], metric="euclid")
    with pytest.raises(UnknownNameError,
                       match="unknown parameter of backend 'vptree' 'kind'.*leaf_size, seed, split_weights"):
        Index.build(data["vectors"], backend="vptree", kind="hnsw")
    with pytest.raises(UnknownNameError, match="unknown faiss index kind 'lsh'"):
        Index.build(data["vectors"], backend="faiss", kind="lsh")
    with pytest.raises(InvalidArgumentError, match=r"leaf_size: expected an integer in \[1, 1048576\], got 0"):
        Index.build(data["vectors"], backend="vptree", leaf_size=0)
    with pytest.raises(InvalidArgumentError, match="parameter M: expected int, got 'many'"):
        Index.build(data["vectors"], backend="faiss", M="many")
    assert {name for name, _ in backend_settings()} == set(BACKENDS)   # every backend is tested


def test_bad_build_vectors():
    with pytest.raises(InvalidArgumentError, match=r"expected shape \(B, 34\)"):
        Index.build(np.ones((5, 26), np.float32))
    with pytest.raises(InvalidArgumentError, match="all-zero"):
        Index.build(np.zeros((5, 34), np.float32))


def test_vptree_pypi_limits(data, monkeypatch):
    with pytest.raises(InvalidArgumentError, match="exceed its max_frames .* use backend 'vptree'"):
        Index.build(data["vectors"], backend="vptree-pypi", max_frames=100)
    import vptree

    def deep(self, points, dist_fn):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(vptree.VPTree, "__init__", deep)
    with pytest.raises(InvalidArgumentError, match="recursion limit .* issue #20"):
        Index.build(data["vectors"][:100], backend="vptree-pypi")


def test_pypi_build_weights_option(data):
    a = Index.build(data["vectors"][:500], backend="vptree-pypi", build_weights="uniform")
    assert a.params == {"build_weights": "uniform", "max_frames": 200_000}
    with pytest.raises(PoseSearchError, match="build_weights"):
        Index.build(data["vectors"][:500], backend="vptree-pypi", build_weights="random")


def test_batch_and_single_results_agree(data):
    idx = Index.build(data["vectors"], metric="weighted", backend="faiss", kind="hnsw")
    batch = idx.search_vectors(data["queries"][:12], 10, weights=data["weights"][:12])
    for b in range(12):
        one = idx.search_vectors(data["queries"][b], 10, weights=data["weights"][b])
        np.testing.assert_array_equal(one.distances[0], batch.distances[b])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*repeated_rows_args(1, 400, 3))
def test_exact_backends_property(n, seed, metric, dup_every):
    """Small random corpora with repeated rows: vptree and faiss flat give exact's distances and ids."""
    rng, v = repeated_rows(seed, n, dup_every)
    q = vectors_of(*random_poses(rng, 3)).astype(np.float64)
    w = random_weights(rng, 3)
    k = int(rng.integers(1, n + 1))
    ref = Index.build(v, metric=metric, backend="exact").search_vectors(q, k, weights=w)
    for backend, params in [("vptree", {"leaf_size": int(rng.integers(1, 20))}), ("faiss", {"kind": "flat"})]:
        got = Index.build(v, metric=metric, backend=backend, **params).search_vectors(q, k, weights=w)
        np.testing.assert_array_equal(got.distances, ref.distances)
        np.testing.assert_array_equal(got.ids, ref.ids)


# ----------------------------------------------------------------------------- vptree: identical rows in files

_rewrite_index = rewrite_index_file


@pytest.mark.parametrize("metric", ["weighted", "cosine"])
def test_vptree_groups_survive_the_index_file(tmp_path, data, metric):
    """A duplicate-heavy corpus: the file stores each tree's groups (``group_start``, one offset per distinct
    row), and the loaded index answers as the exact backend does."""
    import h5py

    v = data["vectors"]
    vectors = np.concatenate([v[:300], np.repeat(v[:1], 2000, axis=0), v[100:200], v[5:6], v[5:6]])
    n_distinct = 300
    exact = Index.build(vectors, metric=metric, backend="exact")
    idx = Index.build(vectors, metric=metric, backend="vptree", leaf_size=8)
    path = idx.save(tmp_path / "dups.h5")
    with h5py.File(path, "r") as f:
        assert f["backend/group_start"].shape == (n_distinct + 1,)
        assert ("backend/face_free_group_start" in f) == (metric == "weighted")
        assert f.attrs["format_version"] == 2
    back = Index.load(path)
    assert back.describe()["tree_distinct_rows"] == n_distinct
    q, w = np.concatenate([data["queries"][:6], v[:2].astype(np.float64)]), data["weights"][:8]
    for k in (1, 10, len(vectors)):
        ref = exact.search_vectors(q, k, weights=w)
        for got in (idx.search_vectors(q, k, weights=w), back.search_vectors(q, k, weights=w)):
            np.testing.assert_array_equal(got.distances, ref.distances)
            np.testing.assert_array_equal(got.ids, ref.ids)


def test_vptree_file_with_a_mixed_group_is_refused(tmp_path, data):
    from posesearch.errors import FileFormatError

    v = data["vectors"]
    path = Index.build(np.concatenate([v[:50], v[:50]]), metric="cosine", backend="vptree").save(tmp_path / "m.h5")

    def edit(f):                                  # row 50 copies row 0; now it differs, checksum re-signed
        vec = f["vectors"][()]
        vec[50, 0] += 0.5
        f["vectors"][...] = vec
    _rewrite_index(path, edit)
    with pytest.raises(FileFormatError, match="damaged index file: group_start/perm: the rows of group .* are not "
                                              "identical"):
        Index.load(path)


def test_vptree_format_version_1_file_still_loads(tmp_path, data):
    """An index written before the groups (format 1, VP-tree arrays version 1, no group_start) loads and
    answers exactly; what is written now says format 2."""
    v = data["vectors"][:400]
    idx = Index.build(v, metric="weighted", backend="vptree", leaf_size=8)
    path = idx.save(tmp_path / "v1.h5")

    def to_v1(f):
        for prefix in ("backend/", "backend/face_free_"):
            del f[prefix + "group_start"]
            del f[prefix + "version"]
            f[prefix + "version"] = np.array(1, np.int64)
        f.attrs["format_version"] = 1
    _rewrite_index(path, to_v1)
    back = Index.load(path)
    assert Index.metadata(path)["format_version"] == 1 and back.backend.face_free is not None
    q, w = data["queries"][:10], _faceless(data["weights"][:10])
    ref = Index.build(v, metric="weighted", backend="exact").search_vectors(q, 10, weights=w)
    got = back.search_vectors(q, 10, weights=w)
    np.testing.assert_array_equal(got.distances, ref.distances)
    np.testing.assert_array_equal(got.ids, ref.ids)


# ----------------------------------------------------------------------------- vptree: the face-free tree

def _faceless(w):
    w = w.copy()
    w[::2, :5] = 0.0          # every other query has no face joint (like Penn Action poses)
    return w


@pytest.mark.parametrize("k", [1, 10])
def test_face_free_tree_answers_like_exact(data, exact_indexes, k):
    """Queries without face joints go to the second tree; a mixed batch and single queries agree with exact
    (ids and bit-identical distances) and the statistics cover every query."""
    w = _faceless(data["weights"])
    idx = Index.build(data["vectors"], metric="weighted", backend="vptree", leaf_size=16)
    be = idx.backend
    assert be.face_free is not None and idx.describe()["face_free_tree"] is True
    ref = exact_indexes["weighted"].search_vectors(data["queries"], k, weights=w)
    got = idx.search_vectors(data["queries"], k, weights=w)
    np.testing.assert_array_equal(got.distances, ref.distances)
    np.testing.assert_array_equal(got.ids, ref.ids)
    for b in (0, 1):                                        # one face-free, one with a face
        one = idx.search_vectors(data["queries"][b], k, weights=w[b])
        np.testing.assert_array_equal(one.distances[0], ref.distances[b])
    rows, dists, st = be.knn_stats(data["queries"], w, k)
    np.testing.assert_array_equal(dists, ref.distances)
    assert st["points"].shape == (len(w),) and st["mean_points"] == st["points"].mean()
    # the face-free tree really is used: it scans its own (face-zeroed) rows
    assert be.face_free.data_perm[:, :10].max() == 0.0 and be.tree.data_perm[:, :10].max() > 0.0


def test_face_free_tree_option_and_files(tmp_path, data):
    w = _faceless(data["weights"])
    plain = Index.build(data["vectors"], metric="weighted", backend="vptree", face_free_tree=False)
    assert plain.backend.face_free is None
    assert Index.build(data["vectors"], metric="cosine", backend="vptree").backend.face_free is None
    two = Index.build(data["vectors"], metric="weighted", backend="vptree")
    np.testing.assert_array_equal(plain.search_vectors(data["queries"], 10, weights=w).distances,
                                  two.search_vectors(data["queries"], 10, weights=w).distances)
    back = Index.load(two.save(tmp_path / "two.h5"))
    assert back.backend.face_free is not None
    np.testing.assert_array_equal(back.search_vectors(data["queries"], 10, weights=w).ids,
                                  two.search_vectors(data["queries"], 10, weights=w).ids)
    back = Index.load(plain.save(tmp_path / "one.h5"))     # a file without the second tree still loads
    assert back.backend.face_free is None


def test_search_params_change_recall_not_the_index(data, exact_indexes):
    """faiss's beam can be changed on a built index (wider = at least as good here); names and values checked."""
    w = data["weights"]
    idx = Index.build(data["vectors"], metric="weighted", backend="faiss", kind="hnsw", M=4, ef_search=10)
    narrow = recall_at(idx.search_vectors(data["queries"], 10, weights=w).ids, data["vectors"], data["queries"], w)
    assert idx.set_search_params(ef_search=len(data["vectors"])) is idx
    assert idx.params["ef_search"] == len(data["vectors"]) and idx.params["M"] == 4
    wide = recall_at(idx.search_vectors(data["queries"], 10, weights=w).ids, data["vectors"], data["queries"], w)
    assert wide >= narrow and wide >= 0.99
    with pytest.raises(UnknownNameError, match="expected one of: candidates, ef_search, nprobe"):
        idx.set_search_params(M=8)                       # a build parameter
    with pytest.raises(PoseSearchError, match=r"ef_search: expected an integer in \[0, 65536\], got -1"):
        idx.set_search_params(ef_search=-1)
    with pytest.raises(UnknownNameError, match=r"\(none\)"):
        exact_indexes["weighted"].set_search_params(ef_search=5)
