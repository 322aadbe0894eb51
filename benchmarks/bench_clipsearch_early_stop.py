"""Sequence search before / after the early stop of its scoring step, on real Penn Action (issue 21).

``search_sequence`` scores the best-covered candidates in falling coverage and stops once no later one
could enter the ``top`` with a perfect score (:data:`posesearch.clipsearch.SCORE_MAX`). Setting
``SCORE_MAX`` to infinity restores the old loop (every candidate scored). This script answers the same
users both ways on one index (Penn train clips, exact VP-tree), checks that the answers are identical
(clips, scores, segments, every field of ``to_dict(reports=True)``), and prints the scorings and the
median time per sequence at ``top`` 3 and 1.

    python benchmarks/bench_clipsearch_early_stop.py [--test-clips 20] [--degraded 10] [--data ../shared/data]

Users: random Penn test clips (another person; seed 20240) and degraded halves of random train clips
(10 fps, 2% jitter, 0.3 s late, 20% slower, mirrored), as in ``posesearch_bench.seqsearch``.
Exit status 1 if any answer differs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--test-clips", type=int, default=20)
    ap.add_argument("--degraded", type=int, default=10)
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    a = ap.parse_args(argv)

    import posesearch.clipsearch as cs
    from posesearch.corpus.readers import penn_action
    from posesearch.corpus.store import Corpus
    from posesearch.index import Index
    from posesearch.sequence.io import as_sequence
    from posesearch.sequence.sequence import sequence_from_clip
    from posesearch.sequence.simulate import degrade

    clips = list(penn_action.read(a.data / "penn_action" / "labels"))
    train = [c for c in clips if c.labels.get("split") == "train"]
    test = [c for c in clips if c.labels.get("split") == "test"]
    cp = Path(tempfile.mkdtemp()) / "penn_train.h5"
    Corpus.ingest(cp, train)
    corpus = Corpus.open(cp)
    index = Index.build(corpus, metric="weighted", backend="vptree")
    rng = np.random.default_rng(20240)
    users = [as_sequence(test[int(i)]) for i in rng.choice(len(test), a.test_clips, replace=False)]
    for ci in rng.choice(corpus.num_clips, a.degraded, replace=False):
        seq = sequence_from_clip(corpus.clip(int(ci)))
        lo = len(seq) // 5
        users.append(degrade(seq.slice(lo, min(len(seq), lo + max(20, len(seq) // 2))), fps=10, mirror=True,
                             seed=int(ci)))
    calls = [0]
    real = cs.score_sequence

    def counted(*args, **kw):
        calls[0] += 1
        return real(*args, **kw)

    cs.score_sequence = counted
    score_max = cs.SCORE_MAX

    def run(limit, top):
        cs.SCORE_MAX = limit
        calls[0] = 0
        outs, secs = [], []
        for u in users:
            t0 = time.perf_counter()
            try:
                outs.append(index.search_sequence(u, top=top).to_dict(reports=True))
            except cs.PoseSearchError as e:          # a clip without enough visible joints
                outs.append(str(e))
            secs.append(time.perf_counter() - t0)
        return outs, np.array(secs), calls[0]

    run(score_max, 3)                                 # warm up (numba, caches)
    bad = False
    for top in (3, 1):
        every, t_every, n_every = run(float("inf"), top)
        early, t_early, n_early = run(score_max, top)
        same = every == early
        bad |= not same
        print(f"top {top}: {len(users)} users, identical answers: {same}; scorings {n_every} -> {n_early}; "
              f"median s per sequence {np.median(t_every):.4f} -> {np.median(t_early):.4f}; "
              f"total s {t_every.sum():.2f} -> {t_early.sum():.2f}")
    corpus.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
