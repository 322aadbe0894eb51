"""Exact search on cross-dataset queries, side by side in one process: the compiled scan (``exact``
backend), the VP-tree (``vptree`` backend, default settings) and the VP-tree searched with the previous
default block size (1,024 rows), over every Penn Action + COCO train pose (~310k rows, as
benchmarks/bench_kernels.py).

Query sets: ``cross`` = poses of datasets that are not indexed (BODY25 + CMU from random cameras,
:mod:`posesearch_bench.crossdata`), with estimator-like and real confidences; ``held-out`` = 300 corpus
rows left out of the index, estimator-like confidences on their present joints. Every answer is checked
against ``exact`` (ids and distances, bit for bit).

Per query the contenders run one after the other (interleaved, so a change in the machine's load hits
them alike; the order rotates, so none always runs on caches the scan just flushed). Reported: single-query median / p99 in wall-clock and thread CPU time (robust to a shared
machine; on a quiet one they agree), ratios exact / contender, rows the tree scanned, batch throughput
(all queries in one call, every core).

    python benchmarks/bench_cross.py [--queries 300] [--k 10] [--out FILE.json] [--cache FILE.npz]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from bench_kernels import DATA, check_equal, load_poses  # noqa: E402
from posesearch.index.kernels.vptree import knn_vptree, rows_with_weight  # noqa: E402
from posesearch.poses.normalize import normalize_batch  # noqa: E402
from posesearch_bench import contenders as C  # noqa: E402
from posesearch_bench.crossdata import cross_queries  # noqa: E402

OLD_BLOCK_ROWS = 1024


def corpus(cache: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(vectors float32 (N, 34), present (N, 17) bool) of every valid Penn Action + COCO train pose."""
    if cache is not None and cache.exists():
        z = np.load(cache)
        return z["vec"], z["present"]
    kp, cf, _ = load_poses()
    vec, valid = normalize_batch(kp, cf, on_invalid="mask")
    out = np.ascontiguousarray(vec[valid], dtype=np.float32), cf[valid] > 0
    if cache is not None:
        np.savez(cache, vec=out[0], present=out[1])
    return out


class OldBlocks:
    """The vptree backend's trees searched with the previous default block size (same tree choice)."""

    def __init__(self, be):
        self.be = be

    def knn(self, q, w, k):
        be = self.be
        face = rows_with_weight(w, 0, 5)
        if face.all() or not face.any():
            tree = be.tree if face.any() else be.face_free
            return knn_vptree(tree, q, w, k, block_rows=OLD_BLOCK_ROWS)
        raise ValueError("one query at a time, or a batch of one kind")


def _summary(wall, cpu) -> dict:
    wall, cpu = np.asarray(wall) * 1e3, np.asarray(cpu) * 1e3
    return {"median_ms": float(np.median(wall)), "p99_ms": float(np.percentile(wall, 99)),
            "cpu_median_ms": float(np.median(cpu)), "cpu_p99_ms": float(np.percentile(cpu, 99))}


def run_set(cons: dict, q: np.ndarray, w: np.ndarray, k: int) -> dict:
    nq = len(q)
    for c in cons.values():
        for n in (1, 2) if not isinstance(c, OldBlocks) else (1,):
            c.knn(q[:n], w[:n], k)
    wall = {n: [] for n in cons}
    cpu = {n: [] for n in cons}
    got = {n: [] for n in cons}
    names = list(cons)
    for i in range(nq):
        for j in range(len(names)):          # the order rotates: no contender always runs after the scan
            name = names[(i + j) % len(names)]
            c = cons[name]
            t, tc = time.perf_counter(), time.thread_time()
            r = c.knn(q[i:i + 1], w[i:i + 1], k)
            cpu[name].append(time.thread_time() - tc)
            wall[name].append(time.perf_counter() - t)
            got[name].append(r)
    ref = (np.concatenate([r[0] for r in got["exact"]]), np.concatenate([r[1] for r in got["exact"]]))
    out: dict = {}
    for name in cons:
        check_equal(f"{name} single", ref, (np.concatenate([r[0] for r in got[name]]),
                                            np.concatenate([r[1] for r in got[name]])))
        out[name] = _summary(wall[name], cpu[name])
        out[name]["recall"] = 1.0
    for name in ("exact", "vptree"):
        t = time.perf_counter()
        b = cons[name].knn(q, w, k)
        out[name]["batch_qps"] = nq / (time.perf_counter() - t)
        check_equal(f"{name} batch", ref, b)
    pts = cons["vptree"].knn_stats(q, w, k)[2]["points"]
    out["vptree"]["mean_rows_scanned"] = float(pts.mean())
    ex = out["exact"]
    for name in cons:
        if name != "exact":
            r = out[name]
            r["speedup_median"] = ex["median_ms"] / r["median_ms"]
            r["speedup_median_cpu"] = ex["cpu_median_ms"] / r["cpu_median_ms"]
            r["p99_over_exact_cpu"] = r["cpu_p99_ms"] / ex["cpu_p99_ms"]
            r["p99_over_exact"] = r["p99_ms"] / ex["p99_ms"]
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=20240)
    ap.add_argument("--cache", type=Path, default=None, help="an .npz file caching the corpus vectors")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    t_all = time.perf_counter()
    vec, present = corpus(a.cache)
    rng = np.random.default_rng(a.seed)
    hold = np.sort(rng.permutation(len(vec))[:a.queries])
    keep = np.ones(len(vec), bool)
    keep[hold] = False
    data = np.ascontiguousarray(vec[keep])
    cq = cross_queries(DATA, a.queries, a.seed)
    hq, hp = vec[hold].astype(np.float64), present[hold]
    sets = {"cross/estimator": (cq.vectors, cq.weights["estimator"]), "cross/real": (cq.vectors, cq.weights["real"]),
            "held-out/estimator": (hq, np.where(hp, rng.uniform(0.3, 1.0, size=hp.shape), 0.0))}
    exact = C.make("exact", "weighted").build(data, "weighted", None)
    t = time.perf_counter()
    tree = C.make("vptree", "weighted").build(data, "weighted", None)
    build = time.perf_counter() - t
    res = {"rows": int(len(data)), "queries": cq.describe(), "k": a.k, "vptree_build_seconds": build, "sets": {}}
    for label, (q, w) in sets.items():
        face = rows_with_weight(w, 0, 5)
        parts = {}
        for kind, m in (("face", face), ("no-face", ~face)):      # OldBlocks takes one kind per batch
            if m.any():
                parts[kind] = run_set({"exact": exact, "vptree": tree, f"vptree-block{OLD_BLOCK_ROWS}": OldBlocks(tree)},
                                      q[m], w[m], a.k)
        r = run_set({"exact": exact, "vptree": tree}, q, w, a.k)
        r["by_tree"] = parts
        res["sets"][label] = r
        old = {kind: p[f"vptree-block{OLD_BLOCK_ROWS}"]["cpu_median_ms"] for kind, p in parts.items()}
        new = {kind: p["vptree"]["cpu_median_ms"] for kind, p in parts.items()}
        print(f"{label:19s} exact {r['exact']['median_ms']:.3f}/{r['exact']['p99_ms']:.3f} ms "
              f"(cpu {r['exact']['cpu_median_ms']:.3f}/{r['exact']['cpu_p99_ms']:.3f})  vptree "
              f"{r['vptree']['median_ms']:.3f}/{r['vptree']['p99_ms']:.3f} ms (cpu {r['vptree']['cpu_median_ms']:.3f}/"
              f"{r['vptree']['cpu_p99_ms']:.3f})  x{r['vptree']['speedup_median']:.2f} wall, "
              f"x{r['vptree']['speedup_median_cpu']:.2f} cpu, p99/exact {r['vptree']['p99_over_exact_cpu']:.2f} cpu; "
              f"rows {r['vptree']['mean_rows_scanned']:.0f}; batch q/s exact {r['exact']['batch_qps']:.0f} "
              f"vptree {r['vptree']['batch_qps']:.0f}; cpu median by tree, block 1024 -> default: "
              + ", ".join(f"{kd} {old[kd]:.3f} -> {new[kd]:.3f}" for kd in old), flush=True)
    res["loadavg_start_end"] = [load0, os.getloadavg()[0]]
    res["seconds"] = time.perf_counter() - t_all
    print(f"rows {len(data):,}, vptree build {build:.1f} s, load {load0:.1f} -> {os.getloadavg()[0]:.1f}, "
          f"{res['seconds']:.0f} s")
    if a.out:
        a.out.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
