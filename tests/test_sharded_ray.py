"""The sharded index on Ray (the 'cluster' extra): shards built as Ray tasks, served by one Ray actor each, on a
local Ray started inside the test with 2 CPUs. The answer equals one index's (distances compared, not ids,
because of ties) on the sample corpus and on Penn Action; a shard refused at load; an actor killed mid-query
gives a clear error, or an answer marked partial when allowed, and Ray restarts it.

Skipped when ray is not installed (CI's `cluster` step installs it: .ci/steps/cluster.sh).
"""
from __future__ import annotations

import json
import shutil
import threading
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='needs the cluster extra (pip install "posesearch[cluster]"): Ray is not '
                                        "installed, so Ray execution is not tested here")

from conftest import shared_path  # noqa: E402
from index_testdata import flip_byte  # noqa: E402
from posesearch.corpus import Corpus  # noqa: E402
from posesearch.errors import ChecksumError, FileFormatError  # noqa: E402
from posesearch.index import Index  # noqa: E402
from posesearch.index.manifest import ShardUnavailableError  # noqa: E402
from posesearch.index.sharded import build_sharded  # noqa: E402
from test_sharded import SAMPLE, run, sample_queries  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    if started:
        ray.shutdown()


@pytest.fixture(scope="module")
def built(local_ray, tmp_path_factory):
    """The sample corpus as 3 exact shards built as Ray tasks, and as one exact index."""
    d = tmp_path_factory.mktemp("rayshards")
    summary = build_sharded(SAMPLE, d / "sample.h5", 3, backend="exact", parallel="ray")
    assert summary["parallel"] == "ray" and summary["shards"] == 3
    return {"dir": d, "manifest": d / "sample.h5", "one": Index.build(SAMPLE, backend="exact")}


def test_ray_answer_equals_one_index(built):
    idx = Index.load(built["manifest"], corpus=SAMPLE)      # auto: Ray, since a Ray is running
    try:
        assert idx.execution == "ray" and len(idx.executor.actors) == 3
        q = sample_queries(30)
        for mirror in (False, True):
            got, want = idx.search(q, 10, mirror=mirror), built["one"].search(q, 10, mirror=mirror)
            np.testing.assert_array_equal(got.distances, want.distances)
            assert got.partial is None and got.clip_ids is not None
        v = np.random.default_rng(2).normal(size=(4, 34))
        np.testing.assert_array_equal(idx.search_vectors(v, 8).distances, built["one"].search_vectors(v, 8).distances)
    finally:
        idx.close()


def test_ray_cli_query_equals_local(built, tmp_path):
    pose = tmp_path / "pose.json"
    pose.write_text(json.dumps({"keypoints": sample_queries(1)[0].tolist()}))
    a = run("query", built["manifest"], pose, "-k", 5, "--json", "--ray")
    b = run("query", built["manifest"], pose, "-k", 5, "--json", "--local")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert json.loads(a.stdout) == json.loads(b.stdout)


@pytest.mark.slow
def test_ray_equals_one_index_on_penn_action(local_ray, tmp_path):
    from index_testdata import coco_queries, held_out_queries
    from posesearch.corpus.readers import iter_source

    penn = sorted(shared_path("penn_action", "labels").glob("*.mat"))
    corpus = tmp_path / "penn150.h5"
    Corpus.ingest(corpus, iter_source("penn-action", penn[150:300]))
    build_sharded(corpus, tmp_path / "penn.h5", 4, backend="vptree", parallel="ray")
    kp, cf = coco_queries(held_out_queries(penn[2100:2130], [], np.random.default_rng(9), 60, 0))
    one = Index.build(corpus, backend="vptree")
    idx = Index.load(tmp_path / "penn.h5", execution="ray")
    try:
        for mirror in (False, True):
            np.testing.assert_array_equal(idx.search(kp, 10, confidences=cf, mirror=mirror).distances,
                                          one.search(kp, 10, confidences=cf, mirror=mirror).distances)
    finally:
        idx.close()


def test_ray_refuses_corrupt_or_missing_shard_at_load(built, tmp_path):
    for f in built["dir"].glob("sample*.h5"):
        shutil.copy(f, tmp_path / f.name)
    flip_byte(tmp_path / "sample.shard001-of-003.h5", "vectors")   # found by the actor loading it
    with pytest.raises(ChecksumError, match=r"shard 1 \(sample.shard001-of-003.h5\): checksum mismatch") as e:
        Index.load(tmp_path / "sample.h5", execution="ray")
    assert "\n" not in str(e.value)
    (tmp_path / "sample.shard002-of-003.h5").unlink()
    with pytest.raises(FileFormatError, match="shard 2 file sample.shard002-of-003.h5 is missing"):
        Index.load(tmp_path / "sample.h5", execution="ray")


def _kill_during_query(idx, q, victim: int):
    """Run ``idx.search(q)`` in a thread and kill shard ``victim``'s actor (Ray may restart it) while it runs;
    returns the search's result or exception, or None when the query ended before the kill landed."""
    out: dict = {}

    def go():
        try:
            out["r"] = idx.search(q, 10)
        except Exception as e:   # noqa: BLE001 - the test inspects it
            out["r"] = e

    t = threading.Thread(target=go)
    t.start()
    time.sleep(0.3)
    if "r" in out:
        t.join()
        return None
    ray.kill(idx.executor.actors[victim], no_restart=False)
    t.join()
    return out["r"]


def _until_whole(idx, q, want, timeout=90.0):
    """Query until every shard answers again (Ray restarts the killed actor); the answer is then whole."""
    t0 = time.monotonic()
    while True:
        try:
            got = idx.search(q, 10)
        except ShardUnavailableError:
            got = None
        if got is not None and got.partial is None:
            np.testing.assert_array_equal(got.distances, want.distances)
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, "the killed shard actor was not restarted"
        time.sleep(0.5)


def test_actor_killed_mid_query(built):
    """A big batch keeps every actor busy for a while; one is killed meanwhile. The query raises a one-line
    ShardUnavailableError, or (when allowed) answers marked partial with the best of the other shards; Ray
    restarts the actor and the next queries are answered whole."""
    base = sample_queries(40)
    q = np.repeat(base, 600, axis=0)          # 24,000 queries: about a second per shard
    idx = Index.load(built["manifest"], execution="ray")
    whole = built["one"].search(base, 10)
    s1 = idx.shards[1]
    try:
        for allow_partial in (False, True):
            idx.allow_partial = allow_partial
            result = None
            for _ in range(4):                # the kill must land while the query runs
                result = _kill_during_query(idx, q, victim=1)
                if result is not None:
                    break
                _until_whole(idx, base, whole)
            assert result is not None, "the query always ended before the actor was killed"
            if allow_partial:
                assert not isinstance(result, Exception), result
                assert result.partial["missing_shards"] == [1] and "did not answer" in result.partial["reason"]
                assert result.partial["missing_frames"] == s1.count
                assert not ((result.ids >= s1.frame_start) & (result.ids < s1.frame_stop)).any()
                outside = (whole.ids < s1.frame_start) | (whole.ids >= s1.frame_stop)
                for r in range(len(base)):    # the best of the other shards, in order
                    keep = whole.distances[r][outside[r]]
                    np.testing.assert_array_equal(result.distances[r * 600][:len(keep)], keep)
            else:
                assert isinstance(result, ShardUnavailableError), result
                msg = str(result)
                assert "\n" not in msg and "shard 1 (sample.shard001-of-003.h5) did not answer" in msg
                assert "Ray actor died mid-query" in msg and "Ray restarts the shard's actor" in msg
                assert "--allow-partial" in msg
            _until_whole(idx, base, whole)    # restarted by Ray: whole again
    finally:
        idx.close()


def test_query_times_out_instead_of_hanging(built):
    """A fan-out waits at most `timeout` seconds (default QUERY_TIMEOUT) for all the shards together: a shard
    that has not answered by then counts as unavailable (one line naming the shard and the timeout), so a
    query never hangs (a partial answer needs at least one shard that answered). The actors compile their
    kernels at load, so the default timeout is not spent on the first query. A bad timeout is refused."""
    from posesearch.errors import InvalidArgumentError
    from posesearch.index.ray_shards import QUERY_TIMEOUT

    assert 0 < QUERY_TIMEOUT < float("inf")
    base = sample_queries(40)
    q = np.repeat(base, 600, axis=0)          # about a second per shard: longer than the timeout below
    idx = Index.load(built["manifest"], execution="ray", timeout=0.05)
    try:
        assert idx.executor.timeout == 0.05
        with pytest.raises(ShardUnavailableError) as e:
            idx.search(q, 10)
        msg = str(e.value)
        assert "\n" not in msg and "did not answer within 0.05 s" in msg and "--allow-partial" in msg
        idx.allow_partial = True          # every shard timed out: there is no partial answer to give
        with pytest.raises(ShardUnavailableError, match="did not answer within 0.05 s"):
            idx.search(q, 10)
    finally:
        idx.close()
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(InvalidArgumentError, match="timeout: expected a positive number of seconds"):
            Index.load(built["manifest"], execution="ray", timeout=bad)
    default = Index.load(built["manifest"], execution="ray")
    try:
        assert default.executor.timeout == QUERY_TIMEOUT
        np.testing.assert_array_equal(default.search(base, 10).distances, built["one"].search(base, 10).distances)
    finally:
        default.close()
