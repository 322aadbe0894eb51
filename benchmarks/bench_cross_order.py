"""Why two measurements of the cross-dataset speed-up differ: the same exact VP-tree and compiled scan
(``bench_cross.py``'s corpus and queries: 309,787 Penn Action + COCO-train rows, 300 cross-dataset queries,
estimator-like confidences), timed in thread CPU time two ways, twice each:

* consecutive: each contender answers every query in a row (as ``posesearch bench`` times it, and as a server
  answering a stream of queries runs: its index stays in the CPU caches);
* interleaved: query by query, the scan then the tree (as ``bench_cross.py`` does), so the tree always runs on
  caches the scan has just flushed by streaming the whole corpus.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_cross_order.py [--cache /tmp/cross_corpus.npz]
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import bench_cross as B  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="bench_cross.py's corpus cache (.npz)")
    ap.add_argument("--seed", type=int, default=20240)
    a = ap.parse_args(argv)
    vec, _ = B.corpus(a.cache)
    rng = np.random.default_rng(a.seed)
    hold = np.sort(rng.permutation(len(vec))[:300])
    keep = np.ones(len(vec), bool)
    keep[hold] = False
    data = np.ascontiguousarray(vec[keep])
    cq = B.cross_queries(B.DATA, 300, a.seed)
    q, w = cq.vectors, cq.weights["estimator"]
    exact = B.C.make("exact", "weighted").build(data, "weighted", None)
    tree = B.C.make("vptree", "weighted").build(data, "weighted", None)
    for c in (exact, tree):
        c.knn(q[:2], w[:2], 10)

    def one(c, i):
        t = time.thread_time()
        r = c.knn(q[i:i + 1], w[i:i + 1], 10)
        return time.thread_time() - t, r

    for rep in range(2):
        cons = {name: [one(c, i) for i in range(len(q))] for name, c in (("exact", exact), ("tree", tree))}
        inter = {"exact": [], "tree": []}
        for i in range(len(q)):
            inter["exact"].append(one(exact, i))
            inter["tree"].append(one(tree, i))
        for how, res in (("consecutive", cons), ("interleaved", inter)):
            for e, t in zip(res["exact"], res["tree"]):
                np.testing.assert_allclose(t[1][1], e[1][1], rtol=1e-9, atol=1e-12)   # same distances
            me = 1e3 * np.median([x[0] for x in res["exact"]])
            mt = 1e3 * np.median([x[0] for x in res["tree"]])
            print(f"run {rep + 1} {how:12s} exact {me:.3f} ms  tree {mt:.3f} ms  -> {me / mt:.2f}x", flush=True)
    print(f"{len(data):,} rows, {len(q)} cross-dataset queries (estimator-like); every tree answer's distances "
          "equal the scan's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
