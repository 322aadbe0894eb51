"""The sharded index without Ray (embedded execution: one thread a shard): the merge, the split, the answer
against one index over the same corpus (distances compared, not ids, because of ties), the manifest's
checks, partial answers, the CLI, and the bound that lets an L1 re-rank prove exactness.

Ray execution of the same index: tests/test_sharded_ray.py.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import set_h5_attrs, shared_path
from index_testdata import flip_byte, random_weights
from posesearch.corpus import Corpus, sample_corpus_path
from posesearch.errors import ChecksumError, FileFormatError, InvalidArgumentError, UnknownNameError
from posesearch.index import Index
from posesearch.index.manifest import ShardUnavailableError
from posesearch.index.rerank import l1_bound_factor, masked_l1, rerank_is_exact
from posesearch.index.sharded import ShardedIndex, build_sharded, describe, merge_knn, shard_ranges
from posesearch.poses.distances import weighted_distance

SAMPLE = sample_corpus_path()


def sample_queries(n: int = 40, seed: int = 7):
    """Raw COCO-17 queries (n, 17, 3) made from sample corpus frames, jittered, some joints dropped."""
    rng = np.random.default_rng(seed)
    with Corpus.open(SAMPLE) as c:
        ids = np.sort(rng.choice(np.flatnonzero(c.valid), n, replace=False))
        fb = c.frames(ids)
        kp, cf = np.array(fb.keypoints, dtype=np.float64), np.array(fb.confidences, dtype=np.float64)
    kp = np.nan_to_num(kp) + rng.normal(0, 3, kp.shape)
    cf = np.where((cf > 0) & (rng.random(cf.shape) > 0.15), rng.uniform(0.3, 1, cf.shape), 0.0)
    cf[:, 5:7] = np.maximum(cf[:, 5:7], 0.5)
    return np.concatenate([kp, cf[..., None]], axis=-1)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sample corpus as one vptree index and as 3 vptree shards (built by 2 processes)."""
    d = tmp_path_factory.mktemp("shards")
    summary = build_sharded(SAMPLE, d / "sample.h5", 3, backend="vptree", workers=2)
    return {"dir": d, "manifest": d / "sample.h5", "summary": summary, "one": Index.build(SAMPLE, backend="vptree")}


# ----------------------------------------------------------------------------- merge and split

def test_merge_tiny_hand_checked():
    ids = [np.array([[4, 9]]), np.array([[20, 21]]), np.array([[33, 30]])]
    d = [np.array([[0.1, 0.5]]), np.array([[0.3, 0.5]]), np.array([[0.05, 0.9]])]
    got_i, got_d = merge_knn(ids, d, 4)
    assert got_i.tolist() == [[33, 4, 20, 9]] and got_d.tolist() == [[0.05, 0.1, 0.3, 0.5]]  # tie 0.5: id 9 < 21
    with pytest.raises(InvalidArgumentError, match="at most 6"):
        merge_knn(ids, d, 7)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2 ** 31))
def test_merge_equals_sorting_the_union(n_shards, k, b, seed):
    """Merging per-shard sorted k-best lists = the k best of every candidate by (distance, id), also with ties
    (distances drawn from a few values)."""
    rng = np.random.default_rng(seed)
    ids, d = [], []
    base = 0
    for _ in range(n_shards):
        kk = int(rng.integers(1, k + 1))
        dist = rng.choice([0.1, 0.2, 0.3, 0.4], (b, kk))
        frame = base + np.argsort(rng.random((b, 50)), axis=1)[:, :kk]
        order = np.lexsort((frame, dist), axis=-1)
        ids.append(np.take_along_axis(frame, order, 1))
        d.append(np.take_along_axis(dist, order, 1))
        base += 50
    total = sum(x.shape[1] for x in ids)
    kk = min(k, total)
    got_i, got_d = merge_knn(ids, d, kk)
    all_i, all_d = np.concatenate(ids, 1), np.concatenate(d, 1)
    for r in range(b):
        want = sorted(zip(all_d[r], all_i[r]))[:kk]
        assert [(float(a), int(c)) for a, c in want] == list(zip(got_d[r].tolist(), got_i[r].tolist()))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=200), st.integers(1, 12))
def test_shard_ranges_tile_the_corpus_evenly(valid, n):
    valid = np.array(valid)
    if n > valid.sum():
        with pytest.raises(InvalidArgumentError, match="--shards: expected at most"):
            shard_ranges(valid, n)
        return
    ranges = shard_ranges(valid, n)
    assert len(ranges) == n and ranges[0][0] == 0 and ranges[-1][1] == len(valid)
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    counts = [int(valid[a:b].sum()) for a, b in ranges]
    assert sum(counts) == valid.sum() and max(counts) - min(counts) <= 1 and min(counts) >= 1


# ----------------------------------------------------------------------------- same answer as one index

def test_manifest_loads_as_a_sharded_index(built):
    idx = Index.load(built["manifest"])
    assert isinstance(idx, ShardedIndex) and isinstance(idx, Index)
    assert idx.execution == "local" and len(idx.shards) == 3 and len(idx) == len(built["one"])
    assert idx.exact and idx.backend_name == "vptree" and idx.metric == "weighted"
    assert [s.count for s in idx.shards] == [4425, 4425, 4425]
    with pytest.raises(InvalidArgumentError, match="only apply to a sharded index"):
        Index.load(built["dir"] / "sample.shard000-of-003.h5", allow_partial=True)


@pytest.mark.parametrize("mirror", [False, True])
def test_sharded_equals_one_index_on_the_sample_corpus(built, mirror):
    q = sample_queries()
    idx = Index.load(built["manifest"], corpus=SAMPLE)
    got = idx.search(q, 10, mirror=mirror)
    want = built["one"].search(q, 10, mirror=mirror)
    np.testing.assert_array_equal(got.distances, want.distances)   # bit for bit
    assert (got.ids == want.ids).mean() > 0.95                    # ids may differ only between equal distances
    assert got.partial is None and got.clip_ids is not None
    ids, dists, _ = idx.search_ids(q[:5], 3, mirror=mirror)
    np.testing.assert_array_equal(dists, want.distances[:5, :3])


@pytest.mark.parametrize("backend,metric,params", [("exact", "cosine", {}), ("faiss", "weighted", {"kind": "flat"})])
def test_other_exact_backends_and_cosine(tmp_path, backend, metric, params):
    build_sharded(SAMPLE, tmp_path / "m.h5", 4, backend=backend, metric=metric, params=params, workers=1)
    idx = Index.load(tmp_path / "m.h5", execution="local")
    one = Index.build(SAMPLE, metric=metric, backend=backend, **params)
    q = sample_queries(25, seed=3)
    np.testing.assert_array_equal(idx.search(q, 7).distances, one.search(q, 7).distances)
    v = np.random.default_rng(1).normal(size=(3, 34))
    np.testing.assert_array_equal(idx.search_vectors(v, 5).distances, one.search_vectors(v, 5).distances)


def test_approximate_shards_state_their_recall(tmp_path):
    s = build_sharded(SAMPLE, tmp_path / "h.h5", 2, backend="faiss", params={"kind": "hnsw"}, workers=1)
    assert not s["exact"] and 0.9 <= s["shard_recall_at_10"]["min"] <= 1.0
    assert 0.9 <= s["build_recall_at_10"] <= 1.0 and s["build_recall_queries"] > 100   # the merged answer's
    info = describe(tmp_path / "h.h5")
    assert info["recall"]["measured"] and info["recall"]["build_recall_at_10"] == s["build_recall_at_10"]
    idx = Index.load(tmp_path / "h.h5")
    assert not idx.exact
    q = sample_queries(10, seed=4)
    wide = idx.set_search_params(ef_search=400).search(q, 5)     # every shard searched with the wider beam
    assert idx.params["ef_search"] == 400 and all(ix.params["ef_search"] == 400 for ix in idx.executor.indexes)
    exact = Index.build(SAMPLE, backend="exact").search(q, 5)
    assert np.mean(np.isclose(wide.distances, exact.distances)) >= 0.95
    with pytest.raises(UnknownNameError, match="search parameter of backend 'faiss'"):
        idx.set_search_params(kind="ivf")


@pytest.mark.slow
def test_sharded_equals_one_index_on_penn_action(tmp_path):
    """Real data: 150 Penn Action clips, 4 vptree shards against one vptree index, held-out Penn queries."""
    from index_testdata import coco_queries, held_out_queries
    from posesearch.corpus.readers import iter_source

    penn = sorted(shared_path("penn_action", "labels").glob("*.mat"))
    corpus = tmp_path / "penn150.h5"
    Corpus.ingest(corpus, iter_source("penn-action", penn[:150]))
    build_sharded(corpus, tmp_path / "penn.h5", 4, backend="vptree", workers=2)
    kp, cf = coco_queries(held_out_queries(penn[2000:2030], [], np.random.default_rng(5), 60, 0))
    one = Index.build(corpus, backend="vptree")
    sharded = Index.load(tmp_path / "penn.h5")
    for mirror in (False, True):
        want = one.search(kp, 10, confidences=cf, mirror=mirror)
        got = sharded.search(kp, 10, confidences=cf, mirror=mirror)
        np.testing.assert_array_equal(got.distances, want.distances)


# ----------------------------------------------------------------------------- faults

def copy_index(built, tmp_path):
    for f in built["dir"].glob("sample*.h5"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "sample.h5"


def test_missing_shard_is_refused(built, tmp_path):
    m = copy_index(built, tmp_path)
    (tmp_path / "sample.shard001-of-003.h5").unlink()
    with pytest.raises(FileFormatError, match=r"shard 1 file sample.shard001-of-003.h5 is missing") as e:
        Index.load(m)
    assert "\n" not in str(e.value)


def test_corrupt_shard_is_refused(built, tmp_path):
    m = copy_index(built, tmp_path)
    flip_byte(tmp_path / "sample.shard002-of-003.h5", "vectors")
    with pytest.raises(ChecksumError, match=r"shard 2 \(sample.shard002-of-003.h5\): checksum mismatch"):
        Index.load(m)


def test_shard_of_another_metric_or_index_is_refused(built, tmp_path):
    m = copy_index(built, tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    build_sharded(SAMPLE, other / "sample.h5", 3, backend="vptree", metric="cosine", workers=1)
    shutil.copy(other / "sample.shard000-of-003.h5", tmp_path / "sample.shard000-of-003.h5")
    with pytest.raises(FileFormatError, match=r"shard 0 \(sample.shard000-of-003.h5\): its metric is 'cosine', "
                                              r"the manifest's is 'weighted'"):
        Index.load(m)
    # same metric, rebuilt: the checksum the manifest recorded differs
    build_sharded(SAMPLE, other / "sample.h5", 3, backend="vptree", workers=1, overwrite=True)
    shutil.copy(other / "sample.shard000-of-003.h5", tmp_path / "sample.shard000-of-003.h5")
    with pytest.raises(ChecksumError, match="differs from the manifest's"):
        Index.load(m)


def test_tampered_manifest_is_refused(built, tmp_path):
    m = set_h5_attrs(copy_index(built, tmp_path), count=5)
    with pytest.raises(ChecksumError, match="manifest checksum mismatch"):
        Index.load(m)


def test_failing_shard_raises_or_answers_marked_partial(built):
    q = sample_queries(6)
    idx = Index.load(built["manifest"])
    whole = idx.search(q, 5)

    def broken(*a, **k):
        raise RuntimeError("disk gone")

    idx.executor.indexes[1]._knn = broken
    with pytest.raises(ShardUnavailableError, match=r"shard 1 \(sample.shard001-of-003.h5\) did not answer: disk "
                                                    r"gone; the answer would be incomplete"):
        idx.search(q, 5)
    idx.allow_partial = True
    got = idx.search(q, 5)
    assert got.partial["missing_shards"] == [1] and got.partial["missing_frames"] == 4425
    in_shard1 = (whole.ids >= idx.shards[1].frame_start) & (whole.ids < idx.shards[1].frame_stop)
    for r in range(len(q)):   # the partial answer: the best of the other shards, in order
        keep = whole.distances[r][~in_shard1[r]]
        np.testing.assert_array_equal(got.distances[r][:len(keep)], keep)
        assert not ((got.ids[r] >= idx.shards[1].frame_start) & (got.ids[r] < idx.shards[1].frame_stop)).any()
    with pytest.raises(ShardUnavailableError, match="clip search needs every shard"):
        idx.search_ids(q, 5)          # search_ids (clip search) never answers partially


def test_ray_asked_without_ray_says_what_to_install(built, monkeypatch, tmp_path):
    import posesearch.index.sharded as sharded

    monkeypatch.setattr(sharded, "_ray_available", lambda: False)
    with pytest.raises(InvalidArgumentError, match=r"needs the 'cluster' extra: pip install \"posesearch\[cluster\]\""):
        Index.load(built["manifest"], execution="ray")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert Index.load(built["manifest"], execution="auto").execution == "local"
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")     # a named cluster is never silently local
    with pytest.raises(InvalidArgumentError, match=r"RAY_ADDRESS names a Ray cluster \(127.0.0.1:6379\), but Ray "
                                                   r"execution needs the 'cluster' extra"):
        Index.load(built["manifest"], execution="auto")
    assert Index.load(built["manifest"], execution="local").execution == "local"
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"keypoints": sample_queries(1)[0].tolist()}))
    r = run("query", built["manifest"], pose)
    assert r.exit_code == 2 and "RAY_ADDRESS names a Ray cluster" in r.stderr and "--local" in r.stderr, r.output
    assert run("query", built["manifest"], pose, "--local").exit_code == 0
    monkeypatch.delenv("RAY_ADDRESS")
    for args in (("query", built["manifest"], pose, "--ray"),
                 ("build", SAMPLE, "--shards", 2, "--ray", "-o", tmp_path / "r.h5")):
        r = run(*args)
        assert r.exit_code == 2 and r.stderr.count("\n") == 1, r.output
        assert r.stderr.strip().endswith("needs the 'cluster' extra: pip install \"posesearch[cluster]\" (from a "
                                         "checkout: pip install -e \".[cluster]\")"), r.stderr


# ----------------------------------------------------------------------------- CLI

def run(*args):
    from typer.testing import CliRunner

    from posesearch.cli.app import app

    return CliRunner().invoke(app, [str(a) for a in args])


def test_cli_build_query_info(built, tmp_path):
    pose = tmp_path / "pose.json"
    q = sample_queries(1)[0]
    pose.write_text(json.dumps({"keypoints": q.tolist()}))
    r = run("build", SAMPLE, "--shards", 2, "--backend", "exact", "-o", tmp_path / "m.h5", "--workers", 1, "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["shards"] == 2 and s["exact"] and s["shard_files"] == ["m.shard000-of-002.h5", "m.shard001-of-002.h5"]
    one = tmp_path / "one.h5"
    assert run("build", SAMPLE, "--backend", "exact", "-o", one).exit_code == 0
    a = json.loads(run("query", tmp_path / "m.h5", pose, "-k", 5, "--json").stdout)
    b = json.loads(run("query", one, pose, "-k", 5, "--json").stdout)
    assert [m["distance"] for m in a["results"][0]["matches"]] == [m["distance"] for m in b["results"][0]["matches"]]
    assert {k: v for k, v in a.items() if k != "index"} == {k: v for k, v in b.items() if k != "index"}
    p = json.loads(run("query", tmp_path / "m.h5", pose, "-k", 5, "--json", "--allow-partial", "--local").stdout)
    assert p["partial"] is False
    r = run("query", tmp_path / "m.h5", pose, "-k", 3)
    assert r.exit_code == 0 and "2 shards on local threads" in r.stdout
    info = json.loads(run("info", tmp_path / "m.h5", "--json", "--verify").stdout)
    assert info["format"] == "posesearch-shards" and info["num_shards"] == 2 and info["verified"]["shards"] == 2
    r = run("query", one, pose, "--allow-partial")
    assert r.exit_code == 2 and "only applies to a sharded index" in r.stderr
    r = run("build", SAMPLE, "--shards", 2, "-o", tmp_path / "m.h5")
    assert r.exit_code == 2 and "already exists" in r.stderr
    r = run("build", SAMPLE, "--shards", 0, "-o", tmp_path / "z.h5")
    assert r.exit_code == 2 and "--shards: expected an integer >= 1, got 0" in r.stderr
    r = run("build", SAMPLE, "--workers", 2, "-o", tmp_path / "z.h5")
    assert r.exit_code == 2 and "only applies with --shards" in r.stderr
    flip_byte(tmp_path / "m.shard001-of-002.h5", "vectors")
    r = run("query", tmp_path / "m.h5", pose)
    assert r.exit_code == 2 and "shard 1 (m.shard001-of-002.h5): checksum mismatch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- the re-rank bound

@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2 ** 31), st.floats(0.0, 0.5))
def test_weighted_distance_is_bounded_below_by_min_weight_times_l1(seed, missing):
    rng = np.random.default_rng(seed)
    q, g = rng.normal(size=(4, 34)), rng.normal(size=(30, 34))
    w = random_weights(rng, 4, missing=missing)
    d = np.stack([weighted_distance(q[b], g, w[b]) for b in range(4)])
    bound = l1_bound_factor(w)[:, None] * masked_l1(q, g, w)
    assert np.all(d >= bound * (1 - 1e-12))
    full = np.ones((4, 17))   # all keypoints, equal weights: the bound is the weighted distance itself
    np.testing.assert_allclose(np.stack([weighted_distance(q[b], g, full[b]) for b in range(4)]),
                               l1_bound_factor(full)[:, None] * masked_l1(q, g, full))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2 ** 31), st.integers(1, 8), st.integers(5, 120))
def test_certified_l1_rerank_is_exact(seed, k, c):
    """Take the top C by (masked) L1 as an engine would, re-rank them by the weighted distance: whenever the
    certificate holds, the re-ranked k-th distance is the exact k-th (and every exact top-k distance)."""
    rng = np.random.default_rng(seed)
    data, q = rng.normal(size=(120, 34)), rng.normal(size=(1, 34))
    w = random_weights(rng, 1)
    l1 = masked_l1(q, data, w)[0]
    cand = np.argsort(l1, kind="stable")[:c]
    radius = l1[cand[-1]]
    d_all = weighted_distance(q[0], data, w[0])
    d_cand = np.sort(d_all[cand])
    kk = min(k, c)
    if rerank_is_exact(d_cand[kk - 1], radius, w)[0]:
        np.testing.assert_array_equal(d_cand[:kk], np.sort(d_all)[:kk])
    if c == 120:   # every vector a candidate: exact whatever the certificate says
        np.testing.assert_array_equal(d_cand[:kk], np.sort(d_all)[:kk])


def test_merged_recall_of_exact_shards_is_one(tmp_path):
    """The merged-recall measurement maps the fan-out's frame ids back to rows correctly: exact shards score
    1.0 (a truth over other frames, or a merge that lost or repeated frames, would score lower)."""
    from posesearch.index.sharded import measure_merged_recall

    build_sharded(SAMPLE, tmp_path / "e.h5", 3, backend="exact", workers=1)
    r = measure_merged_recall(tmp_path / "e.h5", SAMPLE)
    assert r["build_recall_at_10"] == 1.0 and r["build_recall_queries"] > 100


def test_cli_build_approximate_shards_prints_merged_recall(tmp_path):
    r = run("build", SAMPLE, "--shards", 2, "--backend", "faiss", "--param", "kind=hnsw", "-o", tmp_path / "h.h5",
            "--workers", 1)
    assert r.exit_code == 0, r.stderr
    assert "of the merged answer against brute force over every shard's frames" in r.stdout
    assert "recall@10 per shard: min" in r.stdout
    r = run("info", tmp_path / "h.h5", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["recall"]["measured"] is True
