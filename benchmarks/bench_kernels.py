"""Benchmark of the compiled search kernels on ~300k real poses: numpy brute force, ``knn_exact``,
``knn_vptree``, side by side in one process, every answer checked against ``knn_exact``.

Corpus: every Penn Action frame and every COCO train person, mapped to COCO-17 and normalized
(Move Mirror bbox + unit L2, missing joints filled), invalid poses dropped; left/right mirrors are added
only if that leaves fewer than ``--rows`` rows. 1,000 rows are held out as queries.

Query weights (``weighted`` metric): *real-like* = the query's present joints get a uniform random
confidence in [0.3, 1], missing joints 0 (like a pose estimator's output); *uniform* = all 1.
``l2`` (the cosine metric) runs on unit vectors. Reported: single-query latency (median, p99, wall
clock, one query per call), batch throughput (all queries in one call, parallel), build time, rows
scanned, ratios vs ``knn_exact``; a duplicate-heavy corpus (10,000 identical + 10,000 near-identical
frames added); identical frames (10k-300k copies of one frame, 99% copies, groups of 3 copies) against a
real corpus of the same size (target: no more than 2x its query time); numba compile times cold and
from the cache (fresh processes).

    python benchmarks/bench_kernels.py [--quick] [--out results.json] [--k 10]
    python benchmarks/bench_kernels.py --only identical [--sizes 10000,300000]

Exits with status 1 if any answer differs from ``knn_exact``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT))

from posesearch.index.kernels.exact import knn_exact  # noqa: E402
from posesearch.index.kernels.vptree import build_vptree, knn_vptree  # noqa: E402
from posesearch.poses.layouts import COCO17, PENN13  # noqa: E402
from posesearch.poses.normalize import normalize_batch  # noqa: E402


class Mismatch(AssertionError):
    pass


# ----------------------------------------------------------------------------- data

def load_poses() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints (N, 17, 2), confidences (N, 17), source (N,) 0 Penn / 1 COCO) in COCO-17."""
    import scipy.io

    kp, cf, src = [], [], []
    files = sorted((DATA / "penn_action" / "labels").glob("*.mat"))
    if not files:
        sys.exit(f"needs Penn Action labels under {DATA / 'penn_action' / 'labels'}")
    for f in files:
        m = scipy.io.loadmat(f, variable_names=["x", "y", "visibility"])
        k, c = PENN13.convert_to_coco(np.stack([m["x"], m["y"]], -1).astype(np.float64),
                                      m["visibility"].astype(np.float64))
        kp.append(np.nan_to_num(k))
        cf.append(c)
    coco = np.load(DATA / "coco" / "train2017_yolo_kpts.npz")
    kp.append(coco["kpts_norm"].astype(np.float64))
    cf.append((coco["vis"] > 0).astype(np.float64))
    src = np.concatenate([np.zeros(sum(len(a) for a in kp[:-1]), np.int8), np.ones(len(kp[-1]), np.int8)])
    return np.concatenate(kp), np.concatenate(cf), src


def mirror(kp: np.ndarray, cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x-flip plus left/right swap (the mirrored pose; normalization makes the flip axis irrelevant)."""
    flip = np.asarray(COCO17.flip)
    out = kp[:, flip].copy()
    out[..., 0] = -out[..., 0]
    return out, cf[:, flip]


def make_corpus(rows: int, n_queries: int, seed: int):
    kp, cf, src = load_poses()
    vec, valid = normalize_batch(kp, cf, on_invalid="mask")
    vec, present, src = vec[valid], cf[valid] > 0, src[valid]
    n_real = len(vec)
    if len(vec) < rows + n_queries:
        mk, mc = mirror(kp[valid], cf[valid])
        mv, mvalid = normalize_batch(mk, mc, on_invalid="mask")
        extra = np.random.default_rng(seed + 1).permutation(np.flatnonzero(mvalid))[:rows + n_queries - len(vec)]
        vec = np.concatenate([vec, mv[extra]])
        present = np.concatenate([present, mc[extra] > 0])
        src = np.concatenate([src, src[extra] + 2])
    rng = np.random.default_rng(seed)
    pick = rng.permutation(len(vec))[:rows + n_queries]
    qi, di = pick[:n_queries], np.sort(pick[n_queries:])
    info = {"poses_valid": int(n_real), "mirrors_added": int(len(vec) - n_real), "rows": int(len(di)),
            "queries": int(n_queries), "query_sources": {"penn": int((src[qi] % 2 == 0).sum()),
                                                         "coco": int((src[qi] % 2 == 1).sum())}}
    return vec[di].astype(np.float32), vec[qi], present[qi], info


# ----------------------------------------------------------------------------- timing helpers

def numpy_knn(data64: np.ndarray, q: np.ndarray, w: np.ndarray | None, k: int):
    diff = np.abs(data64 - q)
    if w is None:
        d = np.sqrt((diff * diff).sum(axis=1))
    else:
        d = (diff[:, 0::2] + diff[:, 1::2]) @ w / w.sum()
    idx = np.argpartition(d, k - 1)[:k]
    order = np.lexsort((idx, d[idx]))
    return idx[order], d[idx[order]]


def single_latencies(fn, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Wall-clock and thread-CPU milliseconds of fn(i) for i < n (CPU time is robust to a busy machine)."""
    wall = np.empty(n)
    cpu = np.empty(n)
    for i in range(n):
        t, c = time.perf_counter(), time.thread_time()
        fn(i)
        cpu[i] = time.thread_time() - c
        wall[i] = time.perf_counter() - t
    return wall * 1e3, cpu * 1e3


def summary(lat: tuple[np.ndarray, np.ndarray]) -> dict:
    wall, cpu = lat
    return {"median_ms": float(np.median(wall)), "p99_ms": float(np.percentile(wall, 99)),
            "mean_ms": float(wall.mean()), "max_ms": float(wall.max()),
            "cpu_median_ms": float(np.median(cpu)), "cpu_p99_ms": float(np.percentile(cpu, 99))}


def check_equal(name: str, ref, got) -> None:
    if not (np.array_equal(ref[1], got[1]) and np.array_equal(ref[0], got[0])):
        bad = np.flatnonzero(~np.all((ref[1] == got[1]) & (ref[0] == got[0]), axis=1))
        raise Mismatch(f"{name}: {len(bad)} queries differ from knn_exact (first: query {bad[0]}, "
                       f"exact {ref[0][bad[0]].tolist()} {ref[1][bad[0]].tolist()}, "
                       f"got {got[0][bad[0]].tolist()} {got[1][bad[0]].tolist()})")


# ----------------------------------------------------------------------------- sections

def bench_config(label, data, queries, weights, metric, tree, k, n_numpy, results, table):
    nq = len(queries)
    w_of = (lambda i: None) if weights is None else (lambda i: weights[i:i + 1])
    # warm up (compilation / cache load / layout)
    knn_exact(data, queries[:1], w_of(0), k, metric)
    knn_vptree(tree, queries[:1], w_of(0), k)
    knn_exact(data, queries[:2], None if weights is None else weights[:2], k, metric)
    knn_vptree(tree, queries[:2], None if weights is None else weights[:2], k)

    ex_res = [None] * nq
    vp_res = [None] * nq

    def run_exact(i):
        ex_res[i] = knn_exact(data, queries[i:i + 1], w_of(i), k, metric)

    def run_vp(i):
        vp_res[i] = knn_vptree(tree, queries[i:i + 1], w_of(i), k, return_stats=True)

    lat_ex = single_latencies(run_exact, nq)
    lat_vp = single_latencies(run_vp, nq)
    ref = (np.concatenate([r[0] for r in ex_res]), np.concatenate([r[1] for r in ex_res]))
    got = (np.concatenate([r[0] for r in vp_res]), np.concatenate([r[1] for r in vp_res]))
    check_equal(f"{label} vptree single", ref, got)
    points = np.concatenate([r[2]["points"] for r in vp_res])
    nodes = np.concatenate([r[2]["nodes"] for r in vp_res])

    t = time.perf_counter()
    bex = knn_exact(data, queries, weights, k, metric)
    t_bex = time.perf_counter() - t
    t = time.perf_counter()
    bvp = knn_vptree(tree, queries, weights, k)
    t_bvp = time.perf_counter() - t
    check_equal(f"{label} exact batch", ref, bex)
    check_equal(f"{label} vptree batch", ref, bvp)

    # numpy brute force on a subset of queries (it is slow); distances agree to rounding
    data64 = data.astype(np.float64)
    npq = min(n_numpy, nq)
    np_res = [None] * npq

    def run_np(i):
        np_res[i] = numpy_knn(data64, queries[i], None if weights is None else weights[i], k)

    lat_np = single_latencies(run_np, npq)
    for i, (ids, d) in enumerate(np_res):
        if not np.allclose(d, ref[1][i], rtol=1e-9, atol=1e-12):
            raise Mismatch(f"{label} numpy: query {i} distances {d.tolist()} != exact {ref[1][i].tolist()}")

    s_np, s_ex, s_vp = summary(lat_np), summary(lat_ex), summary(lat_vp)
    entry = {"numpy": s_np, "exact": {**s_ex, "batch_ms_per_query": t_bex / nq * 1e3},
             "vptree": {**s_vp, "batch_ms_per_query": t_bvp / nq * 1e3,
                        "mean_rows_scanned": float(points.mean()), "median_rows_scanned": float(np.median(points)),
                        "mean_nodes_expanded": float(nodes.mean())},
             "vptree_speedup_median": s_ex["median_ms"] / s_vp["median_ms"],
             "vptree_speedup_median_cpu": s_ex["cpu_median_ms"] / s_vp["cpu_median_ms"],
             "vptree_p99_over_exact_p99": s_vp["p99_ms"] / s_ex["p99_ms"],
             "vptree_p99_over_exact_p99_cpu": s_vp["cpu_p99_ms"] / s_ex["cpu_p99_ms"],
             "vptree_batch_speedup": t_bex / t_bvp, "numpy_queries": npq, "checked_queries": nq}
    results[label] = entry
    n = len(data)
    table.append((label, "numpy", s_np, None, None, n, s_ex["median_ms"] / s_np["median_ms"]))
    table.append((label, "knn_exact", s_ex, t_bex / nq * 1e3, nq / t_bex, n, 1.0))
    table.append((label, "knn_vptree", s_vp, t_bvp / nq * 1e3, nq / t_bvp, float(points.mean()),
                  entry["vptree_speedup_median"]))
    return entry


def print_table(table):
    print("\nsingle query: wall-clock median / p99 and thread-CPU median / p99 (ms; numpy's matmul may run on other "
          "threads, so its CPU column undercounts); batch: all queries in one call")
    print(f"{'config':26s} {'method':11s} {'med':>8s} {'p99':>8s} {'cpu med':>8s} {'cpu p99':>8s} {'batch ms/q':>10s} "
          f"{'q/s batch':>10s} {'rows scanned':>12s} {'x exact':>8s}")
    for label, meth, s, bms, qps, rows, ratio in table:
        b = f"{bms:10.3f}" if bms is not None else f"{'-':>10s}"
        r = f"{qps:10.0f}" if qps is not None else f"{'-':>10s}"
        print(f"{label:26s} {meth:11s} {s['median_ms']:8.3f} {s['p99_ms']:8.3f} {s['cpu_median_ms']:8.3f} "
              f"{s['cpu_p99_ms']:8.3f} {b} {r} {rows:12.0f} {ratio:8.2f}")


COMPILE_SNIPPET = r"""
import json, time, sys
t0 = time.perf_counter()
import numpy as np
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.vptree import build_vptree, knn_vptree
t_import = time.perf_counter() - t0
rng = np.random.default_rng(0)
X = rng.random((3000, 34)).astype(np.float32)
q = rng.random((3, 34)); w = rng.random((3, 17)) + 0.1
out = {"import_s": t_import}
def timed(name, fn):
    t = time.perf_counter(); fn(); out[name] = time.perf_counter() - t
timed("knn_exact_single_s", lambda: knn_exact(X, q[:1], w[:1], 5, "weighted"))
timed("knn_exact_batch_s", lambda: knn_exact(X, q, w, 5, "weighted"))
tree = [None]
timed("build_vptree_s", lambda: tree.__setitem__(0, build_vptree(X, "weighted")))
timed("knn_vptree_single_s", lambda: knn_vptree(tree[0], q[:1], w[:1], 5))
timed("knn_vptree_batch_s", lambda: knn_vptree(tree[0], q, w, 5))
timed("l2_exact_and_vptree_s", lambda: (knn_exact(X, q, None, 5, "l2"),
                                          knn_vptree(build_vptree(X, "l2"), q[:1], None, 5)))
print(json.dumps(out))
"""


def compile_times() -> dict:
    """First-call times in fresh processes: no cache (empty NUMBA_CACHE_DIR), then from that cache."""
    res = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        for phase in ("cold", "cached"):
            t = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET], env=env, capture_output=True, text=True)
            if p.returncode:
                raise RuntimeError(p.stderr[-2000:])
            res[phase] = json.loads(p.stdout.strip().splitlines()[-1])
            res[phase]["process_wall_s"] = time.perf_counter() - t
    return res


def duplicates_section(data, queries, weights, k, seed, results, table):
    """10,000 identical + 10,000 near-identical frames added; queries near and far from them."""
    rng = np.random.default_rng(seed)
    base = data[rng.integers(len(data))]
    near = (base + rng.normal(scale=1e-4, size=(10_000, data.shape[1]))).astype(np.float32)
    dup_data = np.concatenate([data, np.repeat(base[None], 10_000, axis=0), near])
    nq = len(queries)
    q = np.concatenate([queries[: nq - 100], base[None].astype(np.float64) + rng.normal(scale=1e-3, size=(100, data.shape[1]))])
    w = np.concatenate([weights[: nq - 100], np.ones((100, weights.shape[1]))])
    t = time.perf_counter()
    tree = build_vptree(dup_data, "weighted")
    bt = time.perf_counter() - t
    entry = bench_config("weighted dup-heavy", dup_data, q, w, "weighted", tree, k, 20, results, table)
    entry["build_s"] = bt
    entry["tree_depth"] = tree.depth


IDENTICAL_SIZES = (10_000, 30_000, 100_000, 300_000)


def identical_frames_section(data, queries, present, k, seed, sizes, n_queries, results):
    """Issue 15 (trust 11): a corpus of N identical frames cost the VP-tree 13.6x the query time of a real
    corpus of N frames (10,000), no faster than brute force. For each N: a real corpus (N random rows), N
    copies of one row, 99% copies of one row + 1% real rows, and N / 3 real rows each 3 times; vptree and
    exact single-query medians (thread CPU time), every answer checked against ``knn_exact``. Weighted
    with real-like confidences, and l2 (cosine) on unit vectors."""
    rng = np.random.default_rng(seed + 11)
    w_all = np.where(present, rng.uniform(0.3, 1.0, present.shape), 0.0)[:n_queries]
    q_all = queries[:n_queries]
    out = {}
    print(f"\nidentical frames: vptree vs exact, single-query median CPU ms ({len(q_all)} queries, k = {k}); "
          "ratio = vptree time / vptree time on the real corpus of that size")
    print(f"{'metric':9s} {'rows':>8s} {'corpus':22s} {'distinct':>9s} {'vptree':>8s} {'exact':>8s} "
          f"{'rows scanned':>12s} {'ratio':>6s}")
    for n in sizes:
        if n > len(data):
            print(f"  (skipped {n:,} rows: the corpus has {len(data):,})")
            continue
        real = data[np.sort(rng.choice(len(data), n, replace=False))]
        one = real[rng.integers(n)]
        near_all = real.copy()
        near_all[rng.random(n) < 0.99] = one
        corpora = {"real": real, "identical": np.repeat(one[None], n, axis=0), "99% identical": near_all,
                   "groups of 3": real[rng.permutation(np.arange(n) // 3)]}
        for metric in ("weighted", "l2"):
            q, w = (q_all, w_all) if metric == "weighted" else (q_all / np.linalg.norm(q_all, axis=1, keepdims=True),
                                                                None)
            base = None
            for name, rows in corpora.items():
                if metric == "l2":
                    rows = rows / np.linalg.norm(rows, axis=1, keepdims=True)
                t = time.perf_counter()
                tree = build_vptree(rows, metric)
                bt = time.perf_counter() - t
                w_of = (lambda i: None) if w is None else (lambda i: w[i:i + 1])
                knn_vptree(tree, q[:1], w_of(0), k)
                vp = [None] * len(q)
                ex = [None] * len(q)

                def run_vp(i):
                    vp[i] = knn_vptree(tree, q[i:i + 1], w_of(i), k, return_stats=True)

                def run_ex(i):
                    ex[i] = knn_exact(rows, q[i:i + 1], w_of(i), k, metric)

                s_vp, s_ex = summary(single_latencies(run_vp, len(q))), summary(single_latencies(run_ex, len(q)))
                check_equal(f"identical frames {metric} {name} {n}",
                            (np.concatenate([r[0] for r in ex]), np.concatenate([r[1] for r in ex])),
                            (np.concatenate([r[0] for r in vp]), np.concatenate([r[1] for r in vp])))
                scanned = float(np.mean([r[2]["points"][0] for r in vp]))
                base = s_vp["cpu_median_ms"] if base is None else base
                ratio = s_vp["cpu_median_ms"] / base
                out[f"{metric} {n} {name}"] = {"rows": n, "distinct": tree.n_unique, "build_s": bt,
                                               "vptree": s_vp, "exact": s_ex, "mean_rows_scanned": scanned,
                                               "ratio_to_real": ratio}
                print(f"{metric:9s} {n:8d} {name:22s} {tree.n_unique:9d} {s_vp['cpu_median_ms']:8.3f} "
                      f"{s_ex['cpu_median_ms']:8.3f} {scanned:12.0f} {ratio:6.2f}", flush=True)
    worst = max((e["ratio_to_real"] for key, e in out.items() if not key.endswith(" real")), default=float("nan"))
    results["identical_frames"] = {"entries": out, "worst_ratio_to_real": worst, "queries": len(q_all)}
    print(f"worst ratio to the real corpus: {worst:.2f} (target <= 2)")
    return worst


def pruning_gap_section(tree, queries, weights_by_label, k, results, n=200):
    """How far the tree's bounds are from perfect ones, on the same blocks: rows the search scans with the
    fallback off, against the rows of the blocks that truly hold a row within the k-th distance (what a
    search with exact bounds per block would scan)."""
    kt, _ = tree.kernel_tree()
    bs = np.asarray(kt.block_start)
    sizes = np.diff(bs)
    xp = tree.data_perm.astype(np.float64)
    out = {}
    for label, w in weights_by_label.items():
        _, d, st = knn_vptree(tree, queries[:n], w[:n], k, return_stats=True, fallback_work=1e9)
        oracle = np.empty(n)
        for i in range(n):
            diff = np.abs(xp - queries[i])
            dist = (diff[:, 0::2] + diff[:, 1::2]) @ (w[i] / w[i].sum())
            oracle[i] = sizes[np.minimum.reduceat(dist, bs[:-1]) <= d[i, -1] * (1 + 1e-9)].sum()
        out[label] = {"queries": n, "blocks": int(len(sizes)), "scanned_median": float(np.median(st["points"])),
                      "oracle_median": float(np.median(oracle)), "rows": int(tree.n)}
        print(f"  pruning gap, {label}: scans a median {out[label]['scanned_median']:,.0f} of {tree.n:,} rows with "
              f"the fallback off; blocks truly within the k-th distance hold {out[label]['oracle_median']:,.0f}")
    results["pruning_gap"] = out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k rows, 200 queries, no compile-time section")
    ap.add_argument("--rows", type=int, default=None, help="corpus rows (default 300,000+: all real poses)")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--numpy-queries", type=int, default=None, help="queries timed with numpy (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--only", choices=["identical"], default=None,
                    help="run one section: identical = identical frames against a real corpus of the same size")
    ap.add_argument("--sizes", default=None, help="identical section: corpus sizes, e.g. 10000,300000 (default "
                    f"{','.join(map(str, IDENTICAL_SIZES))}; --quick 10000,30000)")
    args = ap.parse_args(argv)
    rows = args.rows or (100_000 if args.quick else 309_000)
    nq = args.queries or (200 if args.quick else 1000)
    n_numpy = args.numpy_queries or (30 if args.quick else 100)
    import numba

    results: dict = {"machine": {"python": platform.python_version(), "numpy": np.__version__,
                                 "numba": numba.__version__, "threads": numba.get_num_threads(),
                                 "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()},
                     "k": args.k}
    t = time.perf_counter()
    data, queries, present, info = make_corpus(rows, nq, args.seed)
    info["load_s"] = time.perf_counter() - t
    results["corpus"] = info
    print(f"corpus: {info['rows']} rows ({info['poses_valid']} valid real poses, {info['mirrors_added']} mirrors), "
          f"{nq} held-out queries ({info['query_sources']}); loaded in {info['load_s']:.1f}s")
    rng = np.random.default_rng(args.seed + 7)
    real_like = np.where(present, rng.uniform(0.3, 1.0, present.shape), 0.0)
    uniform = np.ones(present.shape)
    missing = (~present).sum(axis=1)
    print(f"queries missing >= 1 joint: {np.mean(missing > 0):.0%}; median missing joints {np.median(missing):.0f}")
    sizes = (tuple(int(x) for x in args.sizes.split(",")) if args.sizes
             else (10_000, 30_000) if args.quick else IDENTICAL_SIZES)
    if args.only == "identical":
        try:
            worst = identical_frames_section(data, queries, present, args.k, args.seed, sizes, min(nq, 200), results)
        except Mismatch as e:
            print(f"\nMISMATCH: {e}", file=sys.stderr)
            return 1
        print(f"identical frames <= 2x a real corpus: {'met' if worst <= 2.0 else 'NOT met'}; "
              "all answers identical to knn_exact")
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
        return 0

    table: list = []
    failed = False
    try:
        build_vptree(data[:2000], "weighted")  # compile / cache load outside the timed build
        build_vptree(data[:2000], "l2")
        t = time.perf_counter()
        tree = build_vptree(data, "weighted")
        bt = time.perf_counter() - t
        t = time.perf_counter()
        tree.kernel_tree()
        lt = time.perf_counter() - t
        results["vptree_weighted"] = {"build_s": bt, "layout_s": lt, "nodes": tree.n_nodes, "leaves": tree.n_leaves,
                                      "depth": tree.depth}
        print(f"vptree weighted: build {bt:.2f}s (+ search layout {lt:.3f}s on first query), {tree.n_nodes} nodes, "
              f"depth {tree.depth}")
        for label, w in (("weighted real-like conf", real_like), ("weighted uniform conf", uniform)):
            bench_config(label, data, queries, w, "weighted", tree, args.k, n_numpy, results, table)
            e = results[label]
            print(f"  {label}: exact {e['exact']['median_ms']:.3f} ms, vptree {e['vptree']['median_ms']:.3f} ms "
                  f"(x{e['vptree_speedup_median']:.2f}; CPU time x{e['vptree_speedup_median_cpu']:.2f}), "
                  f"p99 {e['vptree']['p99_ms']:.3f} vs {e['exact']['p99_ms']:.3f}")
        pruning_gap_section(tree, queries, {"real-like": real_like, "uniform": uniform}, args.k, results)
        unit = data / np.linalg.norm(data, axis=1, keepdims=True)
        qunit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        t = time.perf_counter()
        l2tree = build_vptree(unit, "l2")
        results["vptree_l2"] = {"build_s": time.perf_counter() - t}
        bench_config("l2 (cosine, unit vectors)", unit, qunit, None, "l2", l2tree, args.k, n_numpy, results, table)
        duplicates_section(data, queries, real_like, args.k, args.seed, results, table)
        identical_frames_section(data, queries, present, args.k, args.seed, sizes, min(nq, 200), results)
    except Mismatch as e:
        print(f"\nMISMATCH: {e}", file=sys.stderr)
        failed = True
    print_table(table)
    if not failed:
        r, u = results["weighted real-like conf"], results["weighted uniform conf"]
        configs = [c for c in results if isinstance(results[c], dict) and "vptree_p99_over_exact_p99" in results[c]]
        targets = {
            "real-like median >= 2x exact": r["vptree_speedup_median"] >= 2.0,
            "uniform median >= 10x exact": u["vptree_speedup_median"] >= 10.0,
            "p99 never worse than exact": all(results[c]["vptree_p99_over_exact_p99"] <= 1.0 for c in configs),
            "(CPU time) p99 never worse than exact": all(results[c]["vptree_p99_over_exact_p99_cpu"] <= 1.0
                                                         for c in configs),
            "identical frames <= 2x a real corpus": results["identical_frames"]["worst_ratio_to_real"] <= 2.0,
        }
        results["targets"] = targets
        print("\ntargets: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in targets.items()))
        print("all answers identical to knn_exact (ids and float64 distances)")
    if not args.quick:
        results["compile"] = compile_times()
        c = results["compile"]
        print("\nfirst-call times in a fresh process (s): " + ", ".join(
            f"{k} cold {c['cold'][k]:.2f} / cached {c['cached'][k]:.2f}" for k in c["cold"] if k != "process_wall_s"))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
