"""Crash safety, as the README's "Reliability" section states it: processes killed (SIGKILL) while they
append to a corpus or save an index leave the old file or the complete new one; readers of an index that
another process keeps rebuilding always get the answers of one complete index. (Damaged files and bad
input: the fuzz suite, tests/test_fuzz_*.py.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from index_testdata import coco_clips, make_corpus, random_poses
from posesearch.corpus import Clip, Corpus

APPEND = textwrap.dedent("""
    import sys
    import numpy as np
    from posesearch.corpus import Clip, Corpus
    from posesearch.corpus import writer
    writer.FLUSH_FRAMES = 500            # write to the temporary file often
    rng = np.random.default_rng(1)
    def gen():
        for i in range(int(sys.argv[2])):
            if i % 5 == 0:
                print(i, flush=True)
            yield Clip(f"new{i}", rng.uniform(0, 100, (50, 17, 2)), np.ones((50, 17)), "coco17", fps=30)
    Corpus.ingest(sys.argv[1], gen(), append=True)
    print("finished", flush=True)
""")

SAVE = textwrap.dedent("""
    import sys
    from posesearch.index import Index
    idx = Index.build(sys.argv[1], metric=sys.argv[3], backend="vptree")
    print("saving", flush=True)
    idx.save(sys.argv[2])
    print("finished", flush=True)
""")


def _kill_after(cmd, trigger: str, delay: float) -> int:
    """Run ``cmd``, wait for an output line starting with ``trigger``, sleep ``delay`` s, SIGKILL it.
    Returns the return code (-9 when killed, 0 when it finished first)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        for line in proc.stdout:
            if line.startswith(trigger):
                break
            assert time.time() < deadline, "subprocess made no progress"
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.stdout.close()
        proc.wait()
    return proc.returncode


def _clips(rng, n, prefix):
    for i in range(n):
        yield Clip(f"{prefix}{i}", rng.uniform(0, 100, (50, 17, 2)), np.ones((50, 17)), "coco17", fps=30)


# point in the appender's output (clips generated so far) at which it is killed, and a delay after it
APPEND_KILLS = [("0", 0.0), ("5", 0.0), ("20", 0.01), ("40", 0.0), ("60", 0.05), ("75", 0.2)]


@pytest.mark.parametrize("trigger, delay", APPEND_KILLS)
def test_sigkill_during_append_leaves_old_or_complete_new_corpus(tmp_path, trigger, delay):
    rng = np.random.default_rng(7)
    path = tmp_path / "c.h5"
    Corpus.ingest(path, _clips(rng, 10, "old"))
    before = path.read_bytes()
    code = _kill_after([sys.executable, "-c", APPEND, str(path), "80"], trigger, delay)
    assert code in (-signal.SIGKILL, 0)
    temps = [p for p in tmp_path.iterdir() if ".posesearch-tmp-" in p.name]
    with Corpus.open(path) as c:
        c.verify()                                   # checksum chain, attributes, every vector
        if path.read_bytes() == before:
            assert c.num_clips == 10
            assert temps, "killed before the append began writing"   # (the trigger is printed while it writes)
        else:                                        # the append completed before the kill
            assert c.num_clips == 90 and list(c.clip_ids()[-1:]) == ["new79"]
    Corpus.append(path, _clips(rng, 1, "after"))     # the next writer cleans up and works
    assert not [p for p in tmp_path.iterdir() if ".posesearch-tmp-" in p.name or p.name.endswith(".lock")]


@pytest.fixture(scope="module")
def two_indexes(tmp_path_factory):
    """A corpus, its weighted and cosine VP-tree indexes, and queries with both indexes' answers."""
    from posesearch.index import Index

    d = tmp_path_factory.mktemp("rel")
    rng = np.random.default_rng(8)
    kp, cf = random_poses(rng, 6000)
    corpus = make_corpus(d / "c.h5", coco_clips(kp, cf))
    q = np.concatenate([kp[:20] + 3.0, cf[:20, :, None]], axis=2)
    answers = {}
    for metric in ("weighted", "cosine"):
        p = Index.build(corpus, metric=metric, backend="vptree").save(d / f"{metric}.h5")
        m = Index.load(p, corpus=corpus).search(q, 5)
        answers[metric] = (m.ids.copy(), m.distances.copy())
    return {"dir": d, "corpus": corpus, "q": q, "answers": answers}


def _answer_of(path, env):
    from posesearch.index import Index

    m = Index.load(path, corpus=env["corpus"]).search(env["q"], 5)
    for metric, (ids, dists) in env["answers"].items():
        if np.array_equal(m.ids, ids) and np.array_equal(m.distances, dists):
            return metric
    raise AssertionError(f"{path}: answers of neither complete index")


@pytest.mark.parametrize("delay", [0.0, 0.002, 0.01, 0.05])
def test_sigkill_during_index_save_leaves_old_or_complete_new_index(two_indexes, tmp_path, delay):
    import shutil

    out = tmp_path / "i.h5"
    shutil.copyfile(two_indexes["dir"] / "weighted.h5", out)    # the old index
    code = _kill_after([sys.executable, "-c", SAVE, str(two_indexes["corpus"]), str(out), "cosine"], "saving", delay)
    assert code in (-signal.SIGKILL, 0)
    assert _answer_of(out, two_indexes) in ("weighted", "cosine")


def test_readers_during_rebuilds_get_one_complete_index(two_indexes, tmp_path):
    """Another process rewrites the index 12 times, alternating weighted and cosine; every load made
    meanwhile answers exactly as one of the two complete indexes."""
    import shutil

    out = tmp_path / "live.h5"
    shutil.copyfile(two_indexes["dir"] / "weighted.h5", out)
    code = textwrap.dedent("""
        import sys
        from posesearch.index import Index
        a, b = Index.load(sys.argv[2]), Index.load(sys.argv[3])
        for i in range(12):
            (b if i % 2 == 0 else a).save(sys.argv[1])
        print("finished", flush=True)
    """)
    d = two_indexes["dir"]
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(d / "weighted.h5"), str(d / "cosine.h5")],
                            stdout=subprocess.PIPE, text=True)
    seen = []
    try:
        while proc.poll() is None:
            seen.append(_answer_of(out, two_indexes))
    finally:
        proc.wait(timeout=120)
    seen.append(_answer_of(out, two_indexes))
    assert proc.returncode == 0
    assert len(seen) >= 2 and seen[-1] == "weighted"    # the 12th save (i = 11) writes the weighted index
