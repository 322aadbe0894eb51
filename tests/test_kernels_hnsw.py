"""The HNSW graph walk: exact when the beam covers the graph, hand-built graphs, damaged arrays, old files."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from index_testdata import random_poses, random_weights, repeated_rows, repeated_rows_args, vectors_of
from posesearch.errors import FileFormatError
from posesearch.index import Index
from posesearch.index.kernels._common import METRIC_L2, METRIC_WEIGHTED
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.hnsw import SEEDS, HNSWGraph, graph_from_faiss, knn_hnsw, seed_nodes


def _faiss_graph(data, metric, M=8):
    import faiss

    index = faiss.IndexHNSWFlat(data.shape[1], M, faiss.METRIC_L1 if metric == "weighted" else faiss.METRIC_L2)
    index.add(data)
    return graph_from_faiss(index)


def _chain_graph(n):
    """Layer 0 only: node i linked to i - 1 and i + 1 (a path), entry node 0."""
    nb = np.full((n, 2), -1, np.int32)          # links first, -1 pads the rest (FAISS's layout)
    nb[1:, 0] = np.arange(n - 1)
    nb[:-1, 1] = np.arange(1, n)
    nb[0] = [1, -1]
    ar = np.arange(n, dtype=np.int64)
    return HNSWGraph(nb.ravel().copy(), np.arange(n + 1, dtype=np.int64) * 2, np.array([0, 2], np.int64), 0, 0,
                     ar, np.arange(n + 1, dtype=np.int64), ar.copy())


def test_walk_on_a_hand_built_path():
    # points on a line at x = 0..9 (D = 2): a greedy walk from 0 along the path reaches the query's side
    data = np.zeros((10, 2), np.float32)
    data[:, 0] = np.arange(10)
    q = np.array([[6.2, 0.0]])
    w = np.ones((1, 1))
    ids, d = knn_hnsw(data, q, w, METRIC_WEIGHTED, _chain_graph(10), ef=1, k=1)
    assert ids.tolist() == [[6]] and d[0, 0] == pytest.approx(0.2, abs=1e-6)
    ids, d = knn_hnsw(data, q, w, METRIC_WEIGHTED, _chain_graph(10), ef=3, k=3)
    assert ids.tolist() == [[6, 7, 5]]
    # the walk reports true distances (a 10-node single-level graph: every node is a seed)
    ids, d = knn_hnsw(data, np.array([[9.0, 0.0]]), np.ones((1, 1)), METRIC_L2, _chain_graph(10), ef=1, k=1)
    assert ids.tolist() == [[9]] and d[0, 0] == 0.0


def test_unreached_places_are_marked():
    # a 12-node graph with no links and no upper level: every node is a seed, but the walk starts from
    # only the best SEEDS (8) of them and no link leads further, so 2 of the k = 10 places stay empty
    n = 12
    assert SEEDS == 8
    ar = np.arange(n, dtype=np.int64)
    g = HNSWGraph(np.full(n * 2, -1, np.int32), np.arange(n + 1, dtype=np.int64) * 2, np.array([0, 2], np.int64),
                  2, 0, ar, np.arange(n + 1, dtype=np.int64), ar.copy())
    data = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    ids, d = knn_hnsw(data, np.zeros((1, 2)), np.ones((1, 1)), METRIC_WEIGHTED, g, ef=10, k=10)
    assert ids[0].tolist() == list(range(8)) + [-1, -1] and np.isinf(d[0, 8:]).all() and np.isfinite(d[0, :8]).all()


def _levelled_graph(tops):
    """Nodes with the given top levels, no links (FAISS's layout: 2 level-0 slots, 1 per upper level)."""
    tops = np.asarray(tops)
    cum = np.concatenate([[0, 2], 2 + np.arange(1, tops.max() + 1)]).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(cum[tops + 1])]).astype(np.int64)
    n = len(tops)
    ar = np.arange(n, dtype=np.int64)
    return HNSWGraph(np.full(offsets[-1], -1, np.int32), offsets, cum, int(np.argmax(tops)), int(tops.max()), ar,
                     np.arange(n + 1, dtype=np.int64), ar.copy())


@pytest.mark.parametrize("counts, level, seeds", [
    ({0: 100, 1: 60, 2: 10}, 1, 70),    # level 1 holds 70 >= 64 nodes, level 2 only 10
    ({0: 100, 1: 10, 2: 70}, 2, 70),    # the highest level with >= 64 nodes
    ({0: 100, 1: 20}, 1, 20),           # no level holds 64: level 1
    ({0: 30}, 0, 30),                   # a single-level graph: all of it
])
def test_seed_level_is_the_highest_with_64_nodes(counts, level, seeds):
    tops = np.repeat(list(counts), list(counts.values()))
    g = _levelled_graph(np.random.default_rng(0).permutation(tops))
    got, lev = seed_nodes(g)
    assert lev == level and len(got) == seeds
    top = np.searchsorted(g.cum, np.diff(g.offsets)) - 1
    assert (top[got] >= level).all() and got.dtype == np.int64


def test_seeds_find_a_region_the_entry_point_cannot_reach():
    # two separate clusters, each a path on layer 0 with 64 upper-level nodes; FAISS's entry point sits in
    # the other cluster. Scoring the seeds starts the beam in the query's cluster (ef 20 covers the
    # 8-bit steering's ties: codes step 327 / 255 here).
    n = 256
    data = np.zeros((n, 2), np.float32)
    data[:128, 0] = np.arange(128)              # cluster A: x = 0..127
    data[128:, 0] = 200 + np.arange(128)        # cluster B: x = 200..327, no link to A
    nb = np.full((n, 3), -1, np.int32)          # 2 level-0 slots + 1 level-1 slot per node
    for c0 in (0, 128):
        for i in range(c0, c0 + 128):
            links = [j for j in (i - 1, i + 1) if c0 <= j < c0 + 128]
            nb[i, :len(links)] = links
    cum = np.array([0, 2, 3], np.int64)
    offsets = np.arange(n + 1, dtype=np.int64) * 3
    ar = np.arange(n, dtype=np.int64)
    g = HNSWGraph(nb.ravel().copy(), offsets, cum, 200, 1, ar, np.arange(n + 1, dtype=np.int64), ar.copy())
    q = np.array([[40.3, 0.0]])
    ids, d = knn_hnsw(data, q, np.ones((1, 1)), METRIC_WEIGHTED, g, ef=20, k=5)
    ref_i, ref_d = knn_exact(data, q, np.ones((1, 1)), 5, "weighted")
    np.testing.assert_array_equal(d, ref_d)
    assert sorted(ids[0].tolist()) == [38, 39, 40, 41, 42]


def _random_connected_graph(rng, n, extra=3):
    """Layer 0 only: a random spanning path plus ``extra`` random links per node (all ids, -1 padded)."""
    order = rng.permutation(n)
    width = 2 + extra
    nb = np.full((n, width), -1, np.int32)
    for i, node in enumerate(order):
        links = [order[i - 1]] if i > 0 else []
        links += [order[i + 1]] if i < n - 1 else []
        links += [int(x) for x in rng.integers(0, n, extra) if x != node]
        nb[node, :len(links)] = links[:width]
    ar = np.arange(n, dtype=np.int64)
    return HNSWGraph(nb.ravel().copy(), np.arange(n + 1, dtype=np.int64) * width, np.array([0, width], np.int64),
                     int(order[0]), 0, ar, np.arange(n + 1, dtype=np.int64), ar.copy())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 300), st.integers(0, 2 ** 31 - 1), st.sampled_from(["weighted", "l2"]))
def test_beam_covering_a_connected_graph_is_exact(n, seed, metric):
    """With ef = N the layer-0 beam reaches every node of a connected graph: the walk equals brute force."""
    rng = np.random.default_rng(seed)
    kp, cf = random_poses(rng, n)
    v = vectors_of(kp, cf)
    g = _random_connected_graph(rng, n)
    q = v[rng.choice(n, 4)].astype(np.float64) + rng.normal(0, 0.02, (4, 34))
    w = random_weights(rng, 4) if metric == "weighted" else np.ones((4, 1))
    k = min(n, 5)
    ref_i, ref_d = knn_exact(v, q, w if metric == "weighted" else None, k, metric)
    code = METRIC_WEIGHTED if metric == "weighted" else METRIC_L2
    got_i, got_d = knn_hnsw(v, q, w, code, g, ef=n, k=k)
    np.testing.assert_array_equal(got_d, ref_d)
    np.testing.assert_array_equal(got_i, ref_i)         # ties by smaller row, like the exact kernels
    one_i, one_d = knn_hnsw(v, q[:1], w[:1], code, g, ef=n, k=k)
    np.testing.assert_array_equal(one_d[0], got_d[0])   # single-query path = batch path


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*repeated_rows_args(2, 300, 4))
def test_duplicates_expand_from_their_node(n, seed, metric, dup_every):
    """Runs of identical rows are one graph node; every copy comes back, ties by smaller row."""
    from posesearch.index import Index

    rng, v = repeated_rows(seed, n, dup_every)
    idx = Index.build(v, metric=metric, backend="faiss", kind="hnsw", ef_search=max(n, 1))
    assert len(idx.backend.graph.rows) == len(np.unique(v, axis=0))
    q = v[rng.choice(n, 3)].astype(np.float64)          # exact copies of indexed rows: ties everywhere
    w = random_weights(rng, 3)
    k = min(n, 6)
    ref = Index.build(v, metric=metric, backend="exact").search_vectors(q, k, weights=w)
    got = idx.search_vectors(q, k, weights=w)
    # a query equal to a node is found whatever the graph; its whole group comes first in row order
    np.testing.assert_array_equal(got.distances[:, 0], ref.distances[:, 0])
    np.testing.assert_array_equal(got.ids[:, :min(k, dup_every)], ref.ids[:, :min(k, dup_every)])


def _arrays(g):
    return {k: v.copy() for k, v in g.to_arrays().items()}


@pytest.mark.parametrize("damage", ["neighbor out of range", "offsets", "entry", "level", "missing", "dtype",
                                    "row out of range", "group offsets"])
def test_damaged_graph_arrays_are_refused(damage):
    rng = np.random.default_rng(3)
    kp, cf = random_poses(rng, 200)
    g = _faiss_graph(vectors_of(kp, cf), "weighted")
    a = _arrays(g)
    HNSWGraph.from_arrays(a, 200)                       # intact: accepted
    if damage == "neighbor out of range":
        a["hnsw_neighbors"][5] = 200
    elif damage == "offsets":
        a["hnsw_offsets"][3] = a["hnsw_offsets"][4] + 1
    elif damage == "entry":
        a["hnsw_entry"][0] = 200
    elif damage == "level":
        a["hnsw_entry"][1] = len(a["hnsw_cum"])
    elif damage == "missing":
        del a["hnsw_cum"]
    elif damage == "row out of range":
        a["hnsw_rows"][7] = 200
    elif damage == "group offsets":
        a["hnsw_group_start"][-1] = 199
    else:
        a["hnsw_neighbors"] = a["hnsw_neighbors"].astype(np.int64)
    with pytest.raises(FileFormatError, match="HNSW graph arrays"):
        HNSWGraph.from_arrays(a, 200, "x.h5")


def test_old_files_with_a_faiss_hnsw_index_still_load(tmp_path, monkeypatch):
    """posesearch 0.1.0 stored the FAISS HNSW index itself: its graph is taken out of it and walked."""
    import faiss

    from posesearch.index.faiss_backend import FaissBackend

    rng = np.random.default_rng(11)
    kp, cf = random_poses(rng, 400)
    v = vectors_of(kp, cf)
    idx = Index.build(v, metric="cosine", backend="faiss", kind="hnsw")

    def old_to_arrays(self):
        index = faiss.IndexHNSWFlat(34, self.params.M)
        index.add(np.ascontiguousarray(self.data, dtype=np.float32))
        return {"faiss_index": np.asarray(faiss.serialize_index(index), dtype=np.uint8)}

    monkeypatch.setattr(FaissBackend, "to_arrays", old_to_arrays)
    path = idx.save(tmp_path / "old.h5")
    monkeypatch.undo()
    back = Index.load(path)
    assert back.backend.graph is not None and back.backend.index is None
    q = v[:20].astype(np.float64) + rng.normal(0, 0.01, (20, 34))
    exact = Index.build(v, metric="cosine", backend="exact").search_vectors(q, 5)
    got = back.search_vectors(q, 5)
    assert np.mean(got.distances <= exact.distances[:, -1:] + 1e-12) >= 0.95


def test_visited_marks_survive_many_queries():
    """The per-thread visited marks are query stamps that wrap after 254 queries: 600 single queries
    through one WalkAids give the same answers as a fresh one each time (and as the batch path)."""
    from posesearch.index.kernels.hnsw import STAMP_LIMIT, WalkAids

    rng = np.random.default_rng(3)
    kp, cf = random_poses(rng, 400)
    v = vectors_of(kp, cf)
    g = _faiss_graph(v, "weighted")
    nq = 600
    q = v[rng.choice(len(v), nq)].astype(np.float64) + rng.normal(0, 0.01, (nq, 34))
    w = random_weights(rng, nq)
    aids = WalkAids(v, g)
    got = np.array([knn_hnsw(v, q[i:i + 1], w[i:i + 1], METRIC_WEIGHTED, g, ef=16, k=5, aids=aids)[1][0]
                    for i in range(nq)])
    assert nq > 2 * STAMP_LIMIT and aids.visited()[1][0] < STAMP_LIMIT
    fresh = np.array([knn_hnsw(v, q[i:i + 1], w[i:i + 1], METRIC_WEIGHTED, g, ef=16, k=5)[1][0] for i in range(0, nq, 50)])
    np.testing.assert_array_equal(got[::50], fresh)
    np.testing.assert_array_equal(got, knn_hnsw(v, q, w, METRIC_WEIGHTED, g, ef=16, k=5, aids=aids)[1])


def test_relabeled_graph_is_the_same_graph():
    """Renumbering nodes (the build's locality order) keeps every link, slot and row group."""
    from posesearch.index.kernels.hnsw import locality_order

    rng = np.random.default_rng(5)
    kp, cf = random_poses(rng, 300)
    v = vectors_of(kp, cf)
    v[50:60] = v[40]                                   # a group of identical rows
    from posesearch.index.groups import RowGroups

    groups = RowGroups.of(v)
    import faiss

    index = faiss.IndexHNSWFlat(34, 8, faiss.METRIC_L1)
    index.add(np.ascontiguousarray(v[groups.rows]))
    g = graph_from_faiss(index, groups)
    for order in (rng.permutation(len(g.rows)), locality_order(v[g.rows], "weighted")):
        h = g.relabeled(order)
        HNSWGraph.from_arrays(h.to_arrays(), len(v))     # accepted as consistent
        new_of = np.empty(len(order), np.int64)
        new_of[order] = np.arange(len(order))
        for i in rng.choice(len(order), 40, replace=False):
            o = order[i]
            old = g.neighbors[g.offsets[o]:g.offsets[o + 1]]
            new = h.neighbors[h.offsets[i]:h.offsets[i + 1]]
            np.testing.assert_array_equal(new, np.where(old >= 0, new_of[np.maximum(old, 0)], -1))
            assert h.rows[i] == g.rows[o]
            np.testing.assert_array_equal(h.members[h.group_start[i]:h.group_start[i + 1]],
                                          g.members[g.group_start[o]:g.group_start[o + 1]])
        assert new_of[g.entry] == h.entry
        q = v[:5].astype(np.float64) + rng.normal(0, 0.01, (5, 34))
        w = random_weights(rng, 5)
        a = knn_hnsw(v, q, w, METRIC_WEIGHTED, g, ef=len(v), k=10)
        b = knn_hnsw(v, q, w, METRIC_WEIGHTED, h, ef=len(v), k=10)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])


def test_face_weight_option_and_files_written_before_it(tmp_path, monkeypatch):
    """face_weight shapes the weighted graph only (distances stay exact); a bad value is a one-line error;
    a file written before the option existed loads as built, with face weight 1."""
    import json

    from posesearch.errors import InvalidArgumentError
    from posesearch.index import index as index_module

    rng = np.random.default_rng(12)
    kp, cf = random_poses(rng, 300)
    v = vectors_of(kp, cf)
    with pytest.raises(InvalidArgumentError, match=r"face_weight: expected a number in \[0, 1\], got 1.5"):
        Index.build(v, metric="weighted", backend="faiss", face_weight=1.5)
    q = v[:10].astype(np.float64) + rng.normal(0, 0.01, (10, 34))
    w = random_weights(rng, 10)
    exact = Index.build(v, metric="weighted", backend="exact").search_vectors(q, 5, weights=w)
    for fw in (0.0, 0.5, 1.0):
        idx = Index.build(v, metric="weighted", backend="faiss", face_weight=fw, ef_search=300)
        assert idx.params["face_weight"] == fw
        got = idx.search_vectors(q, 5, weights=w)
        np.testing.assert_array_equal(got.distances, exact.distances)   # a beam over the whole graph
    old_json = index_module.params_to_json

    def without_face_weight(params):
        d = json.loads(old_json(params))
        d.pop("face_weight")
        return json.dumps(d)

    monkeypatch.setattr(index_module, "params_to_json", without_face_weight)
    path = Index.build(v, metric="weighted", backend="faiss", face_weight=1.0).save(tmp_path / "old.h5")
    monkeypatch.undo()
    assert "face_weight" not in Index.metadata(path)["backend_params"]
    back = Index.load(path)
    assert back.params["face_weight"] == 1.0


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(2, 200), st.integers(0, 2 ** 31 - 1), st.sampled_from(["weighted", "l2"]),
       st.floats(0.01, 3.0))
def test_rerank_slack_bounds_the_exact_distance(n, seed, metric, spread):
    """rerank_slack: every row's exact distance is at least its 8-bit steering value minus the slack
    (the bound that lets the re-rank stop early), for queries inside and far outside the rows' range."""
    from posesearch.index.kernels._common import exact_distance
    from posesearch.index.kernels.hnsw import _approx, _approx_l2, quantize, rerank_slack

    rng = np.random.default_rng(seed)
    v = (rng.normal(0, spread, (n, 34))).astype(np.float32)
    codes, lo, scale = quantize(v)
    code = METRIC_WEIGHTED if metric == "weighted" else METRIC_L2
    for _ in range(5):
        q = rng.normal(0, spread * rng.choice([0.5, 1.0, 4.0]), 34)
        w = random_weights(rng, 1)[0] if metric == "weighted" else np.ones(1)
        c = np.repeat(w / w.sum(), 2) if metric == "weighted" else np.ones(34)
        qc = ((q - lo) / scale).astype(np.float32)
        cc = (c * scale if metric == "weighted" else scale * scale).astype(np.float32)
        half, rel = rerank_slack(q, lo, scale, cc, qc, metric == "l2")
        for i in range(n):
            a = float((_approx if metric == "weighted" else _approx_l2)(codes, i, qc, cc)) * (1.0 - rel)
            lb = (np.sqrt(a) if metric == "l2" else a) - half
            assert exact_distance(v[i], q, w, code) >= lb


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_bounded_rerank_gives_the_full_reranks_answers(metric):
    """The re-rank stops once the 8-bit error bound rules out the rest: ids and distances equal those of
    re-ranking every frame the beam kept, duplicates included, for k = 1, 10, 50."""
    rng = np.random.default_rng(11)
    kp, cf = random_poses(rng, 1500)
    v = vectors_of(kp, cf)
    v[100:160] = v[7]                                  # a group of identical rows
    v[300:305] = v[301] + np.float32(1e-6)             # near-duplicates
    from posesearch.index.groups import RowGroups

    groups = RowGroups.of(v)
    import faiss

    index = faiss.IndexHNSWFlat(34, 8, faiss.METRIC_L1 if metric == "weighted" else faiss.METRIC_L2)
    index.add(np.ascontiguousarray(v[groups.rows]))
    g = graph_from_faiss(index, groups)
    q = v[rng.choice(len(v), 60)].astype(np.float64) + rng.normal(0, 0.02, (60, 34))
    q[:5] = v[7]                                       # queries on the duplicate group
    w = random_weights(rng, 60) if metric == "weighted" else np.ones((60, 1))
    code = METRIC_WEIGHTED if metric == "weighted" else METRIC_L2
    for k, ef in ((1, 8), (10, 40), (50, 120)):
        a = knn_hnsw(v, q, w, code, g, ef=ef, k=k)
        b = knn_hnsw(v, q, w, code, g, ef=ef, k=k, full_rerank=True)
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[0], b[0])
        one = knn_hnsw(v, q[:1], w[:1], code, g, ef=ef, k=k)
        np.testing.assert_array_equal(one[0][0], b[0][0])


def test_walk_layout_gives_the_faiss_layout_back():
    """WalkAids lays the graph out for the walk (level 0 at a fixed stride, upper levels compact) and keeps
    no other copy of the links: to_graph() must give back exactly the arrays FAISS built (all levels)."""
    from posesearch.index.groups import RowGroups
    from posesearch.index.kernels.hnsw import WalkAids

    rng = np.random.default_rng(8)
    kp, cf = random_poses(rng, 3000)
    v = vectors_of(kp, cf)
    v[200:230] = v[3]
    groups = RowGroups.of(v)
    import faiss

    index = faiss.IndexHNSWFlat(34, 4, faiss.METRIC_L1)     # small M: several levels over 3,000 rows
    index.add(np.ascontiguousarray(v[groups.rows]))
    g = graph_from_faiss(index, groups)
    assert g.max_level >= 3
    aids = WalkAids(v, g)
    assert aids.seed_level >= 2 and len(aids.up_nodes) < len(g.rows)
    back = aids.to_graph()
    for name, a in g.to_arrays().items():
        np.testing.assert_array_equal(back.to_arrays()[name], a, err_msg=name)
    np.testing.assert_array_equal(aids.rows, g.rows)


def test_faiss_backend_keeps_one_copy_of_the_links(tmp_path):
    """After the first search the backend holds the walk's layout only; saving still writes FAISS's
    layout, and the reloaded index answers the same."""
    rng = np.random.default_rng(9)
    kp, cf = random_poses(rng, 800)
    v = vectors_of(kp, cf)
    idx = Index.build(v, metric="weighted", backend="faiss")
    before = idx.backend.to_arrays()
    q = v[:6].astype(np.float64) + rng.normal(0, 0.01, (6, 34))
    w = random_weights(rng, 6)
    first = idx.backend.knn(q, w, 5)
    assert idx.backend._graph is None and idx.backend._aids is not None
    after = idx.backend.to_arrays()
    for name, a in before.items():
        np.testing.assert_array_equal(after[name], a, err_msg=name)
    idx.save(tmp_path / "x.h5")
    again = Index.load(tmp_path / "x.h5").backend.knn(q, w, 5)
    np.testing.assert_array_equal(again[0], first[0])
    np.testing.assert_array_equal(again[1], first[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2 ** 40), min_size=0, max_size=40), st.integers(1, 12), st.integers(0, 2 ** 40))
def test_pool_insert_keeps_the_best_sorted(keys, ef, key):
    """The walk's candidate pool: inserting keeps P[:L] the ef smallest keys, ascending (the binary
    search and the memmove shift checked against sorted())."""
    from posesearch.index.kernels.hnsw import _pool_insert

    P = np.empty(ef + 1, np.int64)
    L = 0
    for x in keys + [key]:
        if L < ef or x < P[L - 1]:
            L, pos = _pool_insert(P, L, ef, np.int64(x))
            assert P[pos] == x
    assert L == min(ef, len(keys) + 1)
    assert list(P[:L]) == sorted(keys + [key])[:L]


def _two_level_graph(rng, n, upper=10):
    """A random connected layer 0 (:func:`_random_connected_graph`) plus a level 1 of ``upper`` nodes
    linked in a path: the walk's seeds are those nodes only, so a narrow beam really is narrow."""
    base = _random_connected_graph(rng, n)
    w0 = int(base.cum[1])
    up = np.sort(rng.choice(n, upper, replace=False))
    top = np.zeros(n, np.int64)
    top[up] = 1
    cum = np.array([0, w0, w0 + 2], np.int64)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(cum[top + 1], out=offsets[1:])
    nb = np.full(int(offsets[-1]), -1, np.int32)
    for i in range(n):
        nb[offsets[i]:offsets[i] + w0] = base.neighbors[base.offsets[i]:base.offsets[i] + w0]
    for j, i in enumerate(up):
        links = [up[j - 1]] if j > 0 else []
        links += [up[j + 1]] if j < upper - 1 else []
        nb[offsets[i] + w0:offsets[i] + w0 + len(links)] = links
    ar = np.arange(n, dtype=np.int64)
    return HNSWGraph(nb, offsets, cum, int(up[0]), 1, ar, np.arange(n + 1, dtype=np.int64), ar.copy())


def test_queries_weighing_every_joint_take_their_own_beam():
    """ef_full is the beam of a query whose weights are all positive, ef that of a query missing a joint:
    with a covering beam (N) on one side only, exactly that side equals brute force, on a graph where a
    beam of k does not."""
    rng = np.random.default_rng(12)
    n = 2000
    kp, cf = random_poses(rng, n)
    v = vectors_of(kp, cf)
    g = _two_level_graph(rng, n)
    nq = 80
    q = v[rng.choice(n, nq)].astype(np.float64) + rng.normal(0, 0.05, (nq, 34))
    w = rng.uniform(0.3, 1.0, (nq, 17))
    w[nq // 2:, 3] = 0.0                               # the second half misses a joint
    full = (w > 0).all(axis=1)
    _, ref_d = knn_exact(v, q, w, 5, "weighted")
    for ef, ef_full, exact_side in ((5, n, full), (n, 5, ~full)):
        _, d = knn_hnsw(v, q, w, METRIC_WEIGHTED, g, ef=ef, k=5, ef_full=ef_full)
        np.testing.assert_array_equal(d[exact_side], ref_d[exact_side])
        assert not np.array_equal(d[~exact_side], ref_d[~exact_side])   # the narrow side is not exact here


def test_first_searches_from_several_threads_agree():
    """The walk's layout is made once, under a lock, by whichever thread searches first; threads that
    search at the same moment get the same answers as one thread alone."""
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(13)
    kp, cf = random_poses(rng, 1500)
    v = vectors_of(kp, cf)
    q = v[:8].astype(np.float64) + rng.normal(0, 0.01, (8, 34))
    w = random_weights(rng, 8)
    alone = Index.build(v, metric="weighted", backend="faiss").backend.knn(q, w, 5)
    be = Index.build(v, metric="weighted", backend="faiss").backend
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda i: be.knn(q[i:i + 1], w[i:i + 1], 5), range(8)))
    assert be._graph is None and be._aids is not None
    np.testing.assert_array_equal(np.concatenate([o[1] for o in outs]), alone[1])
    np.testing.assert_array_equal(np.concatenate([o[0] for o in outs]), alone[0])
