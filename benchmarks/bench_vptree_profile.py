"""Where an exact VP-tree query spends its time (issue 21, Part 1): per-query work of the ``vptree``
backend on cross-dataset queries, at several corpus sizes, in thread CPU time (robust to a shared machine).

Corpus and queries as ``bench_scaling.py`` (Penn Action + COCO frames of the benchmark corpus, nested random
subsets below their count, augmented poses beyond; cross-dataset queries: BODY25 + CMU from random cameras,
:mod:`posesearch_bench.crossdata`), with both the ``real`` and the ``estimator``-like confidences.

Per size and query set, over single queries answered one after the other on one thread:

* CPU time per query (median, mean, p99) and wall-clock median;
* the search's own counts (``knn_stats``): tree rows scanned through their 8-bit codes (and as a fraction
  of the distinct rows), nodes expanded, blocks scanned, exact distances computed, queries that fell back;
* ``ns_per_row``: mean CPU time / mean rows scanned, beside ``scan_ns_per_row``: the block scan alone
  (the kernel's ``_approx_codes`` over every block of the tree, all coordinates active, one pass), so
  their gap is what node expansion, exact rescoring and cache misses add;
* batch throughput (all queries in one call, every thread numba has; the best of 5 calls).

Every answer is checked against the ``exact`` backend (ids and distances, bit for bit).

``--int-filter both`` measures each query set twice in the same process, the integer pre-filter of the
block scan off (``<set>/int-off``) then on (the default where the CPU has AVX-512BW), side by side;
``int_passed_mean``: rows the integer filter kept (their exact distance was computed).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_vptree_profile.py \
        [--sizes 316300,3000000] [--queries 200] [--out benchmarks/results/vptree_profile.json] [--quick] \
        [--int-filter default|off|both]

A 10,000,000 point needs ~6 GB and ~4 min of build on one core (plus ~1 min for the exact answers).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT)]

from bench_scaling import load_sets  # noqa: E402
from posesearch.index.backend import NoParams  # noqa: E402
from posesearch.index.exact import ExactBackend  # noqa: E402
from posesearch.index.kernels import _vpsearch as vs  # noqa: E402
from posesearch.index.kernels._vplayout import padded  # noqa: E402
from posesearch.index.kernels.vptree import DEFAULT_BLOCK_ROWS, knn_vptree, rows_with_weight  # noqa: E402
from posesearch.index.vptree import VPTreeBackend, VPTreeParams  # noqa: E402
from posesearch_bench.data import corpus_of_size  # noqa: E402

K = 10
BATCH_REPEATS = 5


def scan_rate(tree) -> float:
    """ns per row of the block scan alone: every block of the tree, all coordinates active (best of 3)."""
    kt, max_block = tree.kernel_tree(DEFAULT_BLOCK_ROWS)
    dd = tree.d
    act = np.arange(dd, dtype=np.int64)
    s32 = np.full(dd, 0.01, np.float32)
    q32 = np.full(dd, 0.3, np.float32)
    c32 = np.full(dd, 2.0 / dd, np.float32)
    buf = np.empty(max_block, np.float32)
    nb = len(kt.block_off)

    def one_pass():
        for b in range(nb):
            cnt = kt.block_start[b + 1] - kt.block_start[b]
            vs._approx_codes(kt.codes, kt.block_off[b] * dd, padded(cnt), cnt, act, dd, s32, q32, c32, 0,
                             np.float32(0.1), buf)
    one_pass()
    best = np.inf
    for _ in range(3):
        t = time.thread_time()
        one_pass()
        best = min(best, time.thread_time() - t)
    return best / tree.n_unique * 1e9


def profile_set(be, q, w, ref) -> dict:
    face = rows_with_weight(w, 0, 5)
    for i in range(min(3, len(q))):
        be.knn(q[i:i + 1], w[i:i + 1], K)
    cpu, wall = [], []
    ids = np.empty((len(q), K), np.int64)
    dists = np.empty((len(q), K))
    for i in range(len(q)):
        t, tc = time.perf_counter(), time.thread_time()
        ids[i], dists[i] = (a[0] for a in be.knn(q[i:i + 1], w[i:i + 1], K))
        cpu.append(time.thread_time() - tc)
        wall.append(time.perf_counter() - t)
    if not (np.array_equal(ids, ref[0]) and np.array_equal(dists, ref[1])):
        raise AssertionError("vptree: an answer differs from the exact backend's")
    _, _, st = be.knn_stats(q, w, K)
    batch_s = np.inf
    for _ in range(BATCH_REPEATS):     # best of several: one call is ~50 ms, at the mercy of the machine's load
        t = time.perf_counter()
        bi, bd = be.knn(q, w, K)
        batch_s = min(batch_s, time.perf_counter() - t)
    if not (np.array_equal(bi, ref[0]) and np.array_equal(bd, ref[1])):
        raise AssertionError("vptree batch: an answer differs from the exact backend's")
    cpu = np.asarray(cpu) * 1e3
    u = be.tree.n_unique
    return {"queries": int(len(q)), "with_face": int(face.sum()),
            "cpu_median_ms": float(np.median(cpu)), "cpu_mean_ms": float(cpu.mean()),
            "cpu_p99_ms": float(np.percentile(cpu, 99)), "wall_median_ms": float(np.median(wall) * 1e3),
            "rows_scanned_mean": float(st["points"].mean()), "rows_scanned_median": float(np.median(st["points"])),
            "rows_scanned_fraction": float(st["points"].mean() / u),
            "nodes_mean": float(st["nodes"].mean()), "blocks_mean": float(st["blocks"].mean()),
            "exact_mean": float(st["exact"].mean()), "int_passed_mean": float(st["int_passed"].mean()),
            "fell_back": int(st["fell_back"].sum()),
            "ns_per_row": float(cpu.mean() * 1e6 / st["points"].mean()),
            "batch_qps": float(len(q) / batch_s)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="316300,3000000")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "results",
                    help="folder whose cache/ holds (or gets) the combined benchmark corpus")
    ap.add_argument("--quick", action="store_true", help="the quick benchmark corpus (a subset of the data)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--int-filter", choices=("default", "off", "both"), default="default",
                    help="the block scan's integer pre-filter: as the library decides, off, or off then default")
    a = ap.parse_args(argv)
    t_all = time.perf_counter()
    loaded = load_sets(a.cache, a.data, a.queries, a.seed, a.quick, lambda m: print(m, file=sys.stderr))
    if loaded is None:
        print("no benchmark data", file=sys.stderr)
        return 1
    d, sets, desc = loaded
    cq = sets["cross"][0]
    from posesearch_bench.crossdata import cross_queries
    from posesearch_bench.data import default_data_dir
    weights = cross_queries(a.data or default_data_dir(), a.queries, a.seed).weights   # the same queries
    qsets = {"cross/real": (cq, weights["real"]), "cross/estimator": (cq, weights["estimator"])}
    res = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "k": K,
           "threads": os.environ.get("NUMBA_NUM_THREADS"), "command": " ".join(sys.argv), "points": []}
    modes = {"default": [vs.INT_FILTER], "off": [False], "both": [False, vs.INT_FILTER]}[a.int_filter]
    res["int_filter_default"] = bool(vs.INT_FILTER)
    for size in (int(s) for s in a.sizes.split(",")):
        vec, origin = corpus_of_size(d, size, a.seed)
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        be = VPTreeBackend.build(vec, "weighted", VPTreeParams())
        build_s = time.perf_counter() - t
        ex = ExactBackend.build(vec, "weighted", NoParams())
        point = {"frames": int(len(vec)), "origin": origin, "distinct_rows": be.tree.n_unique,
                 "build_seconds": build_s, "scan_ns_per_row": scan_rate(be.tree), "sets": {}}
        for set_name, (q, w) in qsets.items():
            ref = ex.knn(q, w, K)
            for mode in modes:
                name = set_name + ("/int-off" if len(modes) > 1 and not mode else "")
                vs.INT_FILTER = mode
                point["sets"][name] = r = profile_set(be, q, w, ref)
                print(f"{len(vec):>10,} {name:24s} cpu median {r['cpu_median_ms']:.3f} mean {r['cpu_mean_ms']:.3f} "
                      f"p99 {r['cpu_p99_ms']:.3f} ms (wall median {r['wall_median_ms']:.3f}); rows "
                      f"{r['rows_scanned_mean']:,.0f} ({100 * r['rows_scanned_fraction']:.1f}%); nodes "
                      f"{r['nodes_mean']:.0f} blocks {r['blocks_mean']:.0f} exact {r['exact_mean']:.0f} int kept "
                      f"{r['int_passed_mean']:,.0f} fell back {r['fell_back']}; {r['ns_per_row']:.2f} ns/row (scan "
                      f"alone {point['scan_ns_per_row']:.2f}); batch {r['batch_qps']:,.0f} q/s", flush=True)
        point["load_1min"] = [load0, os.getloadavg()[0]]
        res["points"].append(point)
        del be, ex, vec
        if a.out:
            a.out.write_text(json.dumps(res, indent=1) + "\n")
    res["seconds"] = time.perf_counter() - t_all
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
