"""VP-tree kernels: results identical to the exact kernel (ids, order, bit-identical distances) on
hand cases, random and duplicate-heavy data, real poses; serialization round trip; corrupted arrays."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posesearch.errors import FileFormatError, InvalidArgumentError, UnknownNameError
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.vptree import VPTreeArrays, build_vptree, knn_vptree
from tests.conftest import shared_path


def assert_same(tree, data, queries, weights, k, **kw):
    ei, ed = knn_exact(data, queries, weights, k, tree.metric)
    got = knn_vptree(tree, queries, weights, k, **kw)
    np.testing.assert_array_equal(got[1], ed)   # distances first: a mismatch here is a lost neighbour
    np.testing.assert_array_equal(got[0], ei)   # same values and the same tie rule: ids match too
    return got


def random_weights(rng, b, kj, p_zero=0.3):
    w = rng.uniform(0.3, 1.0, (b, kj)) * (rng.random((b, kj)) > p_zero)
    w[w.sum(axis=1) == 0, 0] = 1.0
    return w


# ----------------------------------------------------------------------------- small cases

def test_tiny_by_hand():
    data = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 2], [1, 1, 1, 1], [5, 5, 5, 5]], np.float32)
    tree = build_vptree(data, "weighted", leaf_size=1)
    assert tree.n_leaves == 5 and tree.depth <= 4
    ids, d = knn_vptree(tree, np.zeros((1, 4)), np.array([[1.0, 3.0]]), 3)
    assert ids.tolist() == [[0, 1, 2]] and d.tolist() == [[0.0, 0.25, 1.5]]
    ids, d = knn_vptree(tree, np.zeros((1, 4)), np.array([[1.0, 0.0]]), 2)
    assert ids.tolist() == [[0, 2]] and d.tolist() == [[0.0, 0.0]]


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_single_row(metric):
    data = np.array([[0.25, 0.5, 1.0, 2.0]], np.float32)
    tree = build_vptree(data, metric)
    w = np.array([[1.0, 1.0]]) if metric == "weighted" else None
    assert_same(tree, data, np.zeros((2, 4)), None if w is None else np.repeat(w, 2, 0), 1)
    assert tree.n_nodes == 1 and tree.depth == 1


@pytest.mark.parametrize("metric", ["weighted", "l2"])
@pytest.mark.parametrize("block_rows", [1, 7, 64, 1024])
def test_random_data_all_k(metric, block_rows, rng):
    data = rng.random((700, 12)).astype(np.float32)
    tree = build_vptree(data, metric, leaf_size=16, seed=3)
    q = np.concatenate([rng.random((5, 12)), data[:3].astype(np.float64)])
    w = random_weights(rng, 8, 6) if metric == "weighted" else None
    for k in (1, 10, 50, 700):
        assert_same(tree, data, q, w, k, block_rows=block_rows)


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_fallback_scan_is_exact(metric, rng):
    data = rng.random((5000, 34)).astype(np.float32)
    tree = build_vptree(data, metric, leaf_size=32)
    q = rng.random((6, 34))
    w = random_weights(rng, 6, 17) if metric == "weighted" else None
    for block in (32, 256):
        ids, d, stats = assert_same(tree, data, q, w, 10, block_rows=block, fallback_work=1e-6, return_stats=True)
        assert stats["fell_back"].all()
        _, _, stats = knn_vptree(tree, q, w, 10, block_rows=block, return_stats=True, fallback_work=100.0)
        assert not stats["fell_back"].any()


def test_batch_equals_single(rng):
    data = rng.random((3000, 34)).astype(np.float32)
    tree = build_vptree(data, "weighted", leaf_size=32)
    q = rng.random((9, 34))
    w = random_weights(rng, 9, 17)
    ids, d = knn_vptree(tree, q, w, 10)
    for b in range(9):
        i1, d1 = knn_vptree(tree, q[b], w[b], 10)
        np.testing.assert_array_equal(i1[0], ids[b])
        np.testing.assert_array_equal(d1[0], d[b])


def test_fetch_add_hands_out_each_item_once():
    """The batch's shared counter: workers of a parallel loop taking items until none is left get every
    item exactly once, and the counter ends at items + one failed take per worker (the counter comes from
    outside the parallel function, as in the search: made inside it, it read back as 0 after the loop)."""
    from numba import njit, prange

    from posesearch.index.kernels._llvm import fetch_add

    @njit(parallel=True)
    def take_all(n, workers, seen, who, nxt):
        for wk in prange(workers):
            b = fetch_add(nxt, 0, 1)
            while b < n:
                seen[b] += 1
                who[b] = wk
                b = fetch_add(nxt, 0, 1)

    for n, workers in ((0, 2), (1, 2), (5, 8), (10_000, 2), (10_000, 7)):
        seen = np.zeros(n, np.int64)
        who = np.full(n, -1, np.int64)
        nxt = np.zeros(1, np.int64)
        take_all(n, workers, seen, who, nxt)
        assert nxt[0] == n + workers
        np.testing.assert_array_equal(seen, 1)
        assert n == 0 or who.min() >= 0 and who.max() < workers


def test_concurrent_threads(rng):
    """Single-query calls from several Python threads at once (per-thread workspaces, GIL released)."""
    from concurrent.futures import ThreadPoolExecutor

    data = rng.random((20_000, 34)).astype(np.float32)
    tree = build_vptree(data, "weighted")
    q = rng.random((40, 34))
    w = random_weights(rng, 40, 17)
    ids, d = knn_vptree(tree, q, w, 10)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda b: knn_vptree(tree, q[b], w[b], 10), range(40)))
    np.testing.assert_array_equal(np.concatenate([g[1] for g in got]), d)
    np.testing.assert_array_equal(np.concatenate([g[0] for g in got]), ids)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 400), kj=st.integers(1, 5), k=st.sampled_from([1, 10, 50]), seed=st.integers(0, 2**31),
       metric=st.sampled_from(["weighted", "l2"]), leaf=st.sampled_from([1, 4, 16, 128]),
       block=st.sampled_from([1, 16, 1024]), dup=st.booleans(), fallback=st.sampled_from([0.75, 1e-9]),
       split=st.sampled_from(["all", "random"]))
def test_property_equals_exact(n, kj, k, seed, metric, leaf, block, dup, fallback, split):
    rng = np.random.default_rng(seed)
    k = min(k, n)
    data = rng.normal(size=(n, 2 * kj)).astype(np.float32)
    if dup:
        data = np.round(data[rng.integers(0, max(1, n // 8), n)], 1)
    sw = None
    if split == "random":   # split weights in [0, 1] with zeros: only the partition changes, never results
        sw = rng.random(kj) * (rng.random(kj) > 0.3)
        sw[rng.integers(kj)] = 1.0
    tree = build_vptree(data, metric, leaf_size=leaf, seed=seed % 7, split_weights=sw)
    q = np.concatenate([rng.normal(size=(3, 2 * kj)), data[rng.integers(0, n, 2)].astype(np.float64)])
    w = random_weights(rng, 5, kj, 0.4) if metric == "weighted" else None
    assert_same(tree, data, q, w, k, block_rows=block, fallback_work=fallback)


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_ten_thousand_duplicates(metric, rng):
    dup = rng.random(34).astype(np.float32)
    data = np.concatenate([np.repeat(dup[None], 10_000, axis=0), rng.random((3000, 34)).astype(np.float32)])
    perm = rng.permutation(len(data))
    data = data[perm]
    tree = build_vptree(data, metric, leaf_size=64)
    # balanced despite the duplicates: positional median splits
    assert tree.depth <= int(np.ceil(np.log2(len(data) / 64))) + 1
    leaf_sizes = (tree.end - tree.start)[tree.left < 0]
    assert leaf_sizes.max() <= 64 and leaf_sizes.min() >= 32
    near = dup.astype(np.float64)[None] + np.array([[0.0], [1e-6], [0.05]])
    w = np.ones((3, 17)) if metric == "weighted" else None
    for k in (1, 10, 50):
        ids, d = assert_same(tree, data, near, w, k)
    dup_ids = np.sort(np.flatnonzero(perm < 10_000))
    assert ids[0].tolist() == dup_ids[:50].tolist()          # all tie at 0: the 50 smallest ids
    assert np.all(d[0] == 0.0)


# ----------------------------------------------------------------------------- groups of identical rows

@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_identical_rows_by_hand(metric):
    """5 identical rows and 3 distinct ones: the tree holds 4 rows; k = 6 gives the 5 duplicates (ids
    ascending) and then the nearest distinct row, as the exact kernel does."""
    dup = [1.0, 1.0, 1.0, 1.0]
    data = np.array([[9, 9, 9, 9], dup, [1, 1, 1, 3], dup, dup, [5, 5, 5, 5], dup, dup], np.float32)
    tree = build_vptree(data, metric, leaf_size=1)
    assert tree.n == 8 and tree.n_unique == 4 and tree.data_perm.shape == (4, 4)
    q = np.ones((1, 4))
    w = np.array([[1.0, 1.0]]) if metric == "weighted" else None
    ids, d = assert_same(tree, data, q, w, 6)
    assert ids.tolist() == [[1, 3, 4, 6, 7, 2]]
    assert d.tolist() == [[0.0] * 5 + [1.0 if metric == "weighted" else 2.0]]
    ids, d = assert_same(tree, data, q, w, 3)          # k smaller than the group: its 3 smallest ids
    assert ids.tolist() == [[1, 3, 4]]
    ids, _ = assert_same(tree, data, q, w, 8)
    assert ids.tolist() == [[1, 3, 4, 6, 7, 2, 5, 0]]


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_identical_frames_are_scanned_once(metric, rng):
    """10,000 identical frames (issue 15, trust 11) are one tree row: a query scans a handful of rows
    instead of all 10,000 (before the groups: 10,000 rows scanned, 13.6x a normal corpus's time)."""
    row = rng.random(34).astype(np.float32)
    data = np.repeat(row[None], 10_000, axis=0)
    tree = build_vptree(data, metric)
    assert tree.n_unique == 1 and tree.n_nodes == 1
    q = rng.random((4, 34))
    w = random_weights(rng, 4, 17) if metric == "weighted" else None
    ids, d, st = assert_same(tree, data, q, w, 10, return_stats=True)
    assert ids[:, :10].tolist() == [list(range(10))] * 4
    assert st["points"].max() == 1 and st["exact"].max() == 1
    # near-all duplicates: 99% one frame, plus 100 distinct ones
    mixed = np.concatenate([data[:9_900], rng.random((100, 34)).astype(np.float32)])[rng.permutation(10_000)]
    tree = build_vptree(mixed, metric, leaf_size=16)
    assert tree.n_unique == 101
    _, _, st = assert_same(tree, mixed, np.concatenate([q, row[None].astype(np.float64)]),
                           None if w is None else np.concatenate([w, w[:1]]), 50, return_stats=True)
    assert st["points"].max() <= 101


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 600), distinct=st.integers(1, 40),
       shape=st.sampled_from(["one-big-group", "many-small-groups", "uniform"]),
       metric=st.sampled_from(["weighted", "l2"]), leaf=st.sampled_from([1, 4, 32]),
       block=st.sampled_from([1, 16, 1024]), k=st.integers(1, 80), signed_zero=st.booleans())
def test_heavy_duplication_property(seed, n, distinct, shape, metric, leaf, block, k, signed_zero):
    """Corpora made of a few distinct rows repeated (one dominant row, many pairs and triples, or even
    repeats): distances and ids equal the exact kernel's for every k, including k beyond a group's size.
    ``signed_zero``: some copies carry -0.0 for 0.0 (other bytes, same distances: their own group)."""
    rng = np.random.default_rng(seed)
    base = np.round(rng.normal(size=(distinct, 6)), 1).astype(np.float32)
    if shape == "one-big-group":
        pick = np.where(rng.random(n) < 0.9, 0, rng.integers(0, distinct, n))
    elif shape == "many-small-groups":
        pick = rng.permutation(np.arange(n) // int(rng.integers(1, 4)))
        base = np.round(rng.normal(size=(n, 6)), 1).astype(np.float32)
    else:
        pick = rng.integers(0, distinct, n)
    data = base[pick]
    if signed_zero:
        data[rng.random(n) < 0.3, 0] = np.float32(0.0) * np.float32(-1.0)
        data[rng.random(n) < 0.3, 1] = np.float32(0.0)
    tree = build_vptree(data, metric, leaf_size=leaf, seed=seed % 5)
    assert tree.n_unique == len(np.unique(data.view(np.uint32), axis=0))
    q = np.concatenate([rng.normal(size=(2, 6)), data[rng.integers(0, n, 2)].astype(np.float64)])
    w = random_weights(rng, 4, 3, 0.4) if metric == "weighted" else None
    assert_same(tree, data, q, w, min(k, n), block_rows=block)


def test_groups_round_trip_and_checks(rng):
    """Arrays with groups survive to_arrays/from_arrays (with the rows given instead of data_perm, as in an
    index file); damaged groups are refused; version 1 arrays (no groups) still load."""
    data = rng.random((50, 34)).astype(np.float32)[rng.integers(0, 50, 400)]
    tree = build_vptree(data, "weighted", leaf_size=8)
    assert tree.n_unique < 60 and tree.group_start[-1] == 400
    arrays = tree.to_arrays()
    q, w = rng.random((3, 34)), random_weights(rng, 3, 17)
    rows_only = {k: v for k, v in arrays.items() if k != "data_perm"}
    for back in (VPTreeArrays.from_arrays(arrays, verify=True), VPTreeArrays.from_arrays(rows_only, rows=data)):
        assert_same(back, data, q, w, 40)
    first_big = int(np.argmax(np.diff(tree.group_start) > 1))     # the first group of 2 or more ids
    g0, g1 = tree.group_start[first_big], tree.group_start[first_big + 1]
    assert g1 - g0 > 1
    descending = arrays["perm"].copy()
    descending[g0:g1] = descending[g0:g1][::-1]
    for name, value, message in [("group_start", _set(1, 0)(arrays["group_start"].copy()), "group_start: expected"),
                                 ("perm", descending, "perm: the ids of a group .* must be ascending")]:
        with pytest.raises(FileFormatError, match=f"vptree arrays: {message}"):
            VPTreeArrays.from_arrays({**arrays, name: value})
    mixed = data.copy()
    mixed[arrays["perm"][tree.group_start[first_big] + 1]] += 1.0   # a member no longer equals its group
    with pytest.raises(FileFormatError, match=f"the rows of group {first_big} are not identical"):
        VPTreeArrays.from_arrays(rows_only, rows=mixed)
    with pytest.raises(FileFormatError, match="the tree holds 400 rows"):
        VPTreeArrays.from_arrays(rows_only, rows=data[:-1])
    with pytest.raises(FileFormatError, match="missing array.*group_start"):
        VPTreeArrays.from_arrays({k: v for k, v in arrays.items() if k != "group_start"})
    # version 1 (before the groups): no group_start, every row its own tree row
    distinct = rng.random((300, 34)).astype(np.float32)
    v1 = build_vptree(distinct, "l2", leaf_size=8).to_arrays()
    assert v1["group_start"].tolist() == list(range(301))
    del v1["group_start"]
    v1["version"] = np.array(1)
    old = VPTreeArrays.from_arrays(v1, verify=True)
    assert old.version == 2 and old.n_unique == 300
    assert_same(old, distinct, rng.random((3, 34)), None, 10)
    with pytest.raises(FileFormatError, match="version 1 arrays have no groups"):
        VPTreeArrays.from_arrays({**v1, "group_start": np.arange(301)})


@pytest.mark.parametrize("metric", ["weighted", "l2"])
def test_face_light_split_is_exact(metric, rng):
    data = rng.random((4000, 34)).astype(np.float32)
    tree = build_vptree(data, metric, leaf_size=32, split_weights="face-light")
    assert tree.split_weights[:5].tolist() == [0.25] * 5 and tree.split_weights[5:].tolist() == [1.0] * 12
    tree.verify()
    w = random_weights(rng, 5, 17) if metric == "weighted" else None
    if w is not None:
        w[:, :5] = 0.0
        w[:, 6] = 1.0
    assert_same(tree, data, rng.random((5, 34)), w, 10, block_rows=64)
    with pytest.raises(InvalidArgumentError, match="split_weights"):
        build_vptree(data[:, :8], metric, split_weights="face-light")
    with pytest.raises(InvalidArgumentError, match="split_weights"):
        build_vptree(data, metric, split_weights=np.full(17, 2.0))


def test_near_duplicates(rng):
    base = rng.random(34).astype(np.float32)
    data = (base + rng.normal(scale=1e-6, size=(10_000, 34))).astype(np.float32)
    data = np.concatenate([data, rng.random((2000, 34)).astype(np.float32)])
    tree = build_vptree(data, "weighted")
    q = np.concatenate([base[None].astype(np.float64), rng.random((2, 34))])
    for k in (1, 10, 50):
        assert_same(tree, data, q, random_weights(rng, 3, 17), k)


def test_stats_and_progress(rng):
    data = rng.random((5000, 34)).astype(np.float32)
    seen = []
    tree = build_vptree(data, "weighted", leaf_size=100, progress=seen.append)
    assert seen and seen[-1] == 1.0 and all(0 < a <= b for a, b in zip(seen, seen[1:]))
    _, _, stats = knn_vptree(tree, rng.random((4, 34)), np.ones((4, 17)), 5, return_stats=True)
    assert stats["points"].shape == (4,) and np.all(stats["points"] >= 5) and np.all(stats["points"] <= 5000)
    assert stats["mean_points"] == pytest.approx(stats["points"].mean())


def test_deterministic_build(rng):
    import numba

    data = rng.random((3000, 8)).astype(np.float32)
    a = build_vptree(data, "weighted", seed=5, leaf_size=16).to_arrays()
    before = numba.get_num_threads()
    numba.set_num_threads(1)                    # levels are split in parallel: the thread count must not matter
    try:
        b = build_vptree(data, "weighted", seed=5, leaf_size=16).to_arrays()
    finally:
        numba.set_num_threads(before)
    assert a.keys() == b.keys() and all(np.array_equal(a[key], b[key]) for key in a)
    c = build_vptree(data, "weighted", seed=6, leaf_size=16).to_arrays()
    assert not np.array_equal(a["perm"], c["perm"])


# ----------------------------------------------------------------------------- serialization

@pytest.fixture(scope="module")
def saved():
    rng = np.random.default_rng(11)
    data = rng.random((4000, 34)).astype(np.float32)
    tree = build_vptree(data, "weighted", leaf_size=64)
    return data, tree, tree.to_arrays()


def test_round_trip_identical_results(saved, tmp_path):
    data, tree, arrays = saved
    assert all(isinstance(v, np.ndarray) for v in arrays.values())
    assert arrays["n"].shape == () and int(arrays["metric"]) == 0
    np.savez(tmp_path / "t.npz", **arrays)
    with np.load(tmp_path / "t.npz") as f:
        back = VPTreeArrays.from_arrays(dict(f), verify=True)
    rng = np.random.default_rng(2)
    q, w = rng.random((6, 34)), random_weights(rng, 6, 17)
    a = knn_vptree(tree, q, w, 10)
    b = knn_vptree(back, q, w, 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_read_only_arrays_and_pickle(saved):
    import pickle

    data, tree, arrays = saved
    ro = {k: v.copy() for k, v in arrays.items()}
    for v in ro.values():
        v.setflags(write=False)
    back = VPTreeArrays.from_arrays(ro)
    rng = np.random.default_rng(4)
    q, w = rng.random((3, 34)), random_weights(rng, 3, 17)
    q.setflags(write=False)
    assert_same(back, data, q, w, 10)
    again = pickle.loads(pickle.dumps(back))
    assert_same(again, data, q, w, 10)


def _corrupt(arrays, name, fn):
    d = {k: v.copy() for k, v in arrays.items()}
    d[name] = fn(d[name])
    return d


def _set(idx, val):
    def f(a):
        a[idx] = val
        return a
    return f


CORRUPTIONS = {
    "duplicate perm entry": ("perm", _set(3, 0)),
    "perm out of range": ("perm", _set(0, 10**9)),
    "truncated start": ("start", lambda a: a[:-1]),
    "data_perm rows missing": ("data_perm", lambda a: a[:-1]),
    "child id out of range": ("left", _set(0, 10**9)),
    "child points back up (cycle)": ("left", _set(1, 0)),
    "leaf marker mismatch": ("right", _set(0, -1)),
    "vantage point outside node": ("vp", _set(0, 10**7)),
    "children do not split the rows": ("end", _set(1, 5)),
    "NaN shell": ("shell_hi", _set((1, 0), np.nan)),
    "shell lo > hi": ("shell_lo", _set((1, 0), 1e9)),
    "box dtype": ("box_lo", lambda a: a.astype(np.float64)),
    "wrong version": ("version", lambda a: np.array(99)),
    "bad metric code": ("metric", lambda a: np.array(7)),
    "scale below data": ("scale", lambda a: np.array(0.0)),
    "scalar given as vector": ("n", lambda a: np.array([a])),
    "odd dimension": ("d", lambda a: np.array(33)),
    "split weight above 1": ("split_weights", _set(0, 1.5)),
    "split weights all zero": ("split_weights", lambda a: a * 0),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupted_arrays_raise(saved, case):
    _, _, arrays = saved
    name, fn = CORRUPTIONS[case]
    with pytest.raises(FileFormatError, match="vptree arrays"):
        VPTreeArrays.from_arrays(_corrupt(arrays, name, fn))


def test_missing_key_and_tampered_bounds(saved):
    _, _, arrays = saved
    d = dict(arrays)
    del d["tot_hi"]
    with pytest.raises(FileFormatError, match="missing array"):
        VPTreeArrays.from_arrays(d)
    # a shell that is still well-formed but wrong: only the full verification can see it
    bad = _corrupt(arrays, "shell_hi", lambda a: a * 0.5)
    bad["shell_lo"] = np.minimum(bad["shell_lo"], bad["shell_hi"])
    VPTreeArrays.from_arrays(bad)
    with pytest.raises(FileFormatError, match="outside the node's stored bounds"):
        VPTreeArrays.from_arrays(bad, verify=True)
    with pytest.raises(FileFormatError, match="mapping"):
        VPTreeArrays.from_arrays([1, 2])


# ----------------------------------------------------------------------------- errors

def test_argument_errors(saved):
    data, tree, _ = saved
    q = np.zeros((2, 34))
    w = np.ones((2, 17))
    for k in (0, 4001, 1.5):
        with pytest.raises(InvalidArgumentError, match="k"):
            knn_vptree(tree, q, w, k)
    with pytest.raises(InvalidArgumentError, match=r"shape \(B, 34\)"):
        knn_vptree(tree, q[:, :30], w, 3)
    with pytest.raises(InvalidArgumentError, match="NaN"):
        knn_vptree(tree, np.full((1, 34), np.nan), w[:1], 3)
    with pytest.raises(InvalidArgumentError, match="weights"):
        knn_vptree(tree, q, w[:, :16], 3)
    with pytest.raises(InvalidArgumentError, match="negative"):
        knn_vptree(tree, q, -w, 3)
    with pytest.raises(InvalidArgumentError, match="all weights zero"):
        knn_vptree(tree, q, 0 * w, 3)
    with pytest.raises(InvalidArgumentError, match="block_rows"):
        knn_vptree(tree, q, w, 3, block_rows=0)
    with pytest.raises(InvalidArgumentError, match="fallback_work"):
        knn_vptree(tree, q, w, 3, fallback_work=-1)
    with pytest.raises(UnknownNameError):
        build_vptree(data, "manhattan")
    with pytest.raises(InvalidArgumentError, match="NaN"):
        build_vptree(np.full((3, 4), np.nan, np.float32), "l2")
    with pytest.raises(InvalidArgumentError, match="leaf_size"):
        build_vptree(data, "l2", leaf_size=0)
    l2tree = build_vptree(data[:100], "l2")
    with pytest.raises(InvalidArgumentError, match="takes no weights"):
        knn_vptree(l2tree, q, w, 3)


# ----------------------------------------------------------------------------- real poses

def load_real_vectors(max_rows: int, seed: int = 0):
    """Normalized COCO-17 vectors of Penn Action frames and COCO train persons, with presence masks."""
    import scipy.io

    from posesearch.poses.layouts import PENN13
    from posesearch.poses.normalize import normalize_batch

    coco = np.load(shared_path("coco", "train2017_yolo_kpts.npz"))
    kp = [coco["kpts_norm"].astype(np.float64)]
    cf = [(coco["vis"] > 0).astype(np.float64)]
    penn_dir = shared_path("penn_action", "labels")
    for f in sorted(penn_dir.glob("*.mat"))[::4]:
        m = scipy.io.loadmat(f, variable_names=["x", "y", "visibility"])
        pk, pc = PENN13.convert_to_coco(np.stack([m["x"], m["y"]], -1).astype(np.float64),
                                        m["visibility"].astype(np.float64))
        kp.append(np.nan_to_num(pk))
        cf.append(pc)
    kp, cf = np.concatenate(kp), np.concatenate(cf)
    vec, valid = normalize_batch(kp, cf, on_invalid="mask")
    vec, cf = vec[valid], cf[valid]
    pick = np.random.default_rng(seed).choice(len(vec), min(max_rows, len(vec)), replace=False)
    return vec[pick].astype(np.float32), cf[pick] > 0


@pytest.mark.slow
def test_real_poses_equal_exact():
    vec, present = load_real_vectors(50_100)
    data, queries, qpresent = vec[:50_000], vec[50_000:].astype(np.float64), present[50_000:]
    rng = np.random.default_rng(0)
    real_like = np.where(qpresent, rng.uniform(0.3, 1.0, qpresent.shape), 0.0)
    uniform = np.ones(qpresent.shape)
    tree = build_vptree(data, "weighted")
    for w in (real_like, uniform):
        for k in (1, 10, 50):
            assert_same(tree, data, queries, w, k)
    unit = data / np.linalg.norm(data, axis=1, keepdims=True)
    l2tree = build_vptree(unit, "l2")
    qunit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    for k in (1, 10):
        assert_same(l2tree, unit, qunit, None, k)
    _, _, stats = knn_vptree(tree, queries, uniform, 10, return_stats=True)
    assert stats["mean_points"] < 0.5 * len(data)      # the bounds do prune on real poses


@pytest.mark.parametrize("dups", [False, True])
def test_overwrite_build_is_the_same_tree(dups, rng):
    """overwrite=True (the build keeps the caller's array as its rows, compacting out duplicates in
    place) gives the tree of a normal build, array for array, and the same answers."""
    data = rng.random((3000, 34)).astype(np.float32)
    if dups:
        data[100:400] = data[7]
        data[2000:2100] = data[2999]
    normal = build_vptree(data, "weighted", leaf_size=16, seed=2)
    own = data.copy()
    over = build_vptree(own, "weighted", leaf_size=16, seed=2, overwrite=True)
    a, b = normal.to_arrays(), over.to_arrays()
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert np.shares_memory(over.data_perm, own)      # no copy: the caller's array is the tree's rows
    q, w = rng.random((5, 34)), random_weights(rng, 5, 17)
    assert_same(over, data, q, w, 12)
    few = rng.random((200, 34)).astype(np.float32)
    few[50:] = few[0]                                  # 3/4 of the rows duplicates: the rows are copied out
    t = build_vptree(few.copy(), "weighted", leaf_size=8, overwrite=True)
    assert t.data_perm.base is None and t.n_unique == 50
    assert_same(t, few, q, w, 12)
