"""Benchmark of the sharded index, and the cost model for 1B-10B frames built from its figures.

Measured here (2 cores): per-shard figures of the exact ``vptree`` backend (weighted metric) at two shard
sizes (build time on one core, bytes per frame on disk and in memory, single-query latency median/p99, batch
throughput). Memory is measured in a fresh subprocess that loads the shard file and answers the queries
(single and batch, with and without face joints: both trees derive their search layouts on their first
query), two ways, each as loaded and once queried: the distinct array buffers the index holds (views
counted once; this thread's search workspace included), and the growth of the resident set (VmRSS) over
the process's own after imports and kernel compilation (free heap returned to the system first, so that
it counts only what is held); the cost model uses the larger once-queried figure; the fan-out on this machine: one index against the same frames in 4 shards searched by local
threads and, when Ray is installed, by 4 Ray actors (answers checked equal); and the merge of k-best lists
from 10 to 10,000 shards (:func:`posesearch.index.sharded.merge_knn`).

Simulated: the fan-out latency of S shards = the slowest of S single-shard latencies drawn from the measured
distribution + the measured merge time + a stated network round trip, for S = 10..1,000.

Corpus: the bundled sample corpus's real poses (Penn Action + COCO), augmented to the shard sizes by random
rotations (+-20 degrees), scalings and 2% keypoint jitter, then normalized. Queries: other augmented sample
poses with 15% of the joints dropped and confidences uniform in [0.3, 1] (estimator-like).

    python benchmarks/bench_shards.py [--sizes 50000,200000] [--queries 300] [--out benchmarks/results]

Writes ``shards.json`` and ``shards.md`` in ``--out``. Exits with status 1 if a sharded answer differs from
the one index's.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import threading
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posesearch.corpus import Corpus, sample_corpus_path  # noqa: E402
from posesearch.index import Index  # noqa: E402
from posesearch.index.sharded import ShardedIndex, merge_knn  # noqa: E402
from posesearch.poses.normalize import normalize_batch  # noqa: E402

#: assumptions of the cost model (stated in the output)
NODE_RAM_GB = 64          # usable for shards: 75% of it
NETWORK_RTT_MS = 0.3      # one request/response inside a data centre, serialization included
SHARD_FRAMES = 50_000_000  # frames per shard in the model


def augmented(n: int, seed: int, drop: float = 0.0):
    """(n, 34) normalized vectors and (n, 17) confidences of augmented sample-corpus poses."""
    rng = np.random.default_rng(seed)
    with Corpus.open(sample_corpus_path()) as c:
        ids = np.flatnonzero(c.valid)
        fb = c.frames(ids)
        kp0, cf0 = np.nan_to_num(np.asarray(fb.keypoints, float)), np.asarray(fb.confidences, float)
    out_v, out_c = [], []
    have = 0
    while have < n:
        m = min(n - have, 100_000)
        pick = rng.integers(len(kp0), size=m)
        kp, cf = kp0[pick].copy(), cf0[pick].copy()
        centre = kp.mean(axis=1, keepdims=True)
        a = np.radians(rng.uniform(-20, 20, m))
        rot = np.stack([np.stack([np.cos(a), -np.sin(a)], -1), np.stack([np.sin(a), np.cos(a)], -1)], -2)
        size = np.ptp(kp, axis=1).max(axis=1)[:, None, None]
        kp = np.einsum("nij,nkj->nki", rot, kp - centre) * rng.uniform(0.8, 1.2, (m, 1, 1)) + centre
        kp += rng.normal(0, 0.02, kp.shape) * size
        if drop:
            cf = np.where((cf > 0) & (rng.random(cf.shape) >= drop), rng.uniform(0.3, 1.0, cf.shape), 0.0)
            cf[:, 5:7] = np.maximum(cf[:, 5:7], 0.5)
        v, ok = normalize_batch(kp, cf, on_invalid="mask", dtype=np.float64)
        out_v.append(v[ok].astype(np.float32))
        out_c.append(cf[ok])
        have += int(ok.sum())
    return np.concatenate(out_v)[:n], np.concatenate(out_c)[:n]


def latencies(fn, n: int, *, cpu: bool = False) -> np.ndarray:
    """Milliseconds per call: wall clock, or (``cpu``) this thread's CPU time, which leaves out the time
    spent waiting for a core on a machine other work loads."""
    clock = time.thread_time if cpu else time.perf_counter
    out = np.empty(n)
    for i in range(n):
        t = clock()
        fn(i)
        out[i] = clock() - t
    return out * 1e3


def stats(ms: np.ndarray) -> dict:
    return {"median_ms": round(float(np.median(ms)), 4), "p99_ms": round(float(np.percentile(ms, 99)), 4)}


def held_bytes(obj) -> int:
    """Bytes of the distinct numpy buffers reachable from ``obj`` (an index): views are counted once, at the
    array owning their memory; followed through containers, ``threading.local`` (this thread's values) and
    posesearch objects, so the trees' arrays, their derived search layouts and search workspace count."""
    seen: set[int] = set()
    owners: dict[int, np.ndarray] = {}
    todo = [obj]
    while todo:
        o = todo.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, np.ndarray):
            while isinstance(o.base, np.ndarray):
                o = o.base
            owners[id(o)] = o
        elif isinstance(o, dict):
            todo.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            todo.extend(o)
        elif isinstance(o, threading.local) or type(o).__module__.startswith("posesearch"):
            todo.extend(getattr(o, "__dict__", {}).values())
    return sum(a.nbytes for a in owners.values())


def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in bytes."""
    with open("/proc/self/status") as f:
        return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f)
                if k in ("VmRSS", "VmHWM")}


def _settle() -> dict[str, int]:
    """Collect garbage and hand the allocator's free memory back to the system, then read VmRSS/VmHWM."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    return _status()


def memory_worker(shard: str, tiny: str, queries: str) -> dict:
    """Run in a fresh subprocess: what the shard at ``shard`` holds in memory as loaded and once queried.

    Imports and kernel compilation first (the tiny index ``tiny``, searched and dropped), then the resident
    set is the baseline; its growth after loading the shard, then after the queries (``queries``: npz of
    ``qv``, ``qw``; single queries and one batch), is the shard's; beside it the exact count of the arrays
    the index holds (:func:`held_bytes`)."""
    q = np.load(queries)
    qv, qw = q["qv"], q["qw"]
    small = Index.load(tiny)
    small.search_vectors(qv[:4], 10, weights=qw[:4])
    for i in range(4):
        small.search_vectors(qv[i], 10, weights=qw[i])
    del small
    base = _settle()["VmRSS"]
    with open("/proc/self/clear_refs", "w") as f:   # VmHWM from here on
        f.write("5")
    idx = Index.load(shard)
    peak_loading = _status()["VmHWM"] - base
    loaded, held_loaded = _settle()["VmRSS"], held_bytes(idx)
    for i in range(len(qv)):
        idx.search_vectors(qv[i], 10, weights=qw[i])
    idx.search_vectors(qv, 10, weights=qw)
    trees = [t for t in (idx.backend.tree, idx.backend.face_free) if t is not None]
    st = _settle()
    return {"baseline_rss": base, "rss_as_loaded": loaded - base, "rss_once_queried": st["VmRSS"] - base,
            "peak_rss_loading": peak_loading, "peak_rss": st["VmHWM"] - base, "held_as_loaded": held_loaded,
            "held_once_queried": held_bytes(idx),
            "trees": len(trees), "trees_with_search_layout": sum(bool(t._derived) for t in trees)}


def shard_memory(path: Path, size: int, qv, qw, tmp: Path, tiny: Path) -> dict:
    """:func:`memory_worker` in a fresh subprocess (``tiny``: a small index file it compiles the kernels
    with); bytes a frame."""
    np.savez(tmp / "queries.npz", qv=qv, qw=qw)
    out = subprocess.run([sys.executable, __file__, "--memory-worker", str(path), str(tiny), str(tmp / "queries.npz")],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"bench_shards: the memory subprocess failed:\n{out.stderr}")
    m = json.loads(out.stdout.strip().splitlines()[-1])
    if m["trees_with_search_layout"] != m["trees"]:
        raise RuntimeError(f"bench_shards: the queries derived the search layout of {m['trees_with_search_layout']} "
                           f"of the {m['trees']} trees")
    per = {k: round(m[k] / size, 1) for k in ("held_as_loaded", "held_once_queried", "rss_as_loaded",
                                              "rss_once_queried", "peak_rss_loading", "peak_rss")}
    return {**per, "raw_vectors": qv.shape[1] * np.dtype(np.float32).itemsize, "trees": m["trees"]}


def one_shard(size: int, qv, qw, tmp: Path) -> dict:
    import numba

    tiny = tmp / "tiny.h5"
    if not tiny.exists():   # also compiles the build kernels before the build is timed
        Index.build(augmented(2000, seed=7)[0], backend="vptree").save(tiny)
    data, _ = augmented(size, seed=size)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)     # the build on one core: the cost model builds each shard on its own core
    try:
        t0 = time.perf_counter()
        idx = Index.build(data, backend="vptree")
        build = time.perf_counter() - t0
    finally:
        numba.set_num_threads(threads)
    path = idx.save(tmp / f"shard{size}.h5")
    del idx, data
    mem = shard_memory(path, size, qv, qw, tmp, tiny)
    idx = Index.load(path)
    idx.search_vectors(qv[:2], 10, weights=qw[:2])   # compiled
    lat = latencies(lambda i: idx.search_vectors(qv[i], 10, weights=qw[i]), len(qv))
    cpu = latencies(lambda i: idx.search_vectors(qv[i], 10, weights=qw[i]), len(qv), cpu=True)
    t0 = time.perf_counter()
    idx.search_vectors(qv, 10, weights=qw)
    batch = time.perf_counter() - t0
    return {"frames": size, "build_seconds": round(build, 3), "build_frames_per_s": round(size / build),
            "file_bytes_per_frame": round(path.stat().st_size / size, 1),
            # the cost model's figure: what a served (queried) shard holds, the larger of the two readings
            "memory_bytes_per_frame": max(mem["held_once_queried"], mem["rss_once_queried"]), "memory": mem,
            **stats(lat),
            "cpu": stats(cpu), "batch_queries_per_s": round(len(qv) / batch), "_lat": cpu}


def fan_out(size: int, qv, qw, tmp: Path, n_shards: int = 4) -> dict:
    """One index vs n_shards shards of the same frames (local threads; Ray actors when installed)."""
    from posesearch.index.manifest import ShardInfo, write_manifest
    from posesearch.index.sharded import LocalShards
    from posesearch.poses.normalize import DEFAULT_NORMALIZATION

    data, _ = augmented(size, seed=size)
    one = Index.build(data, backend="vptree")
    # shards over row ranges of the same vectors, saved as ordinary index files with their frame ids
    bounds = np.linspace(0, size, n_shards + 1).astype(int)
    infos = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        ix = Index.build(data[a:b], backend="vptree")
        ix.frame_ids = ix.frame_ids + a
        p = ix.save(tmp / f"fan.shard{i}.h5")
        from posesearch.index.fileformat import read_index_attrs

        infos.append(ShardInfo(p.name, read_index_attrs(p)["checksum"], int(b - a), int(a), int(b),
                               p.stat().st_size).to_dict())
    attrs = {"metric": "weighted", "backend": "vptree", "backend_params": {},
             "normalization": DEFAULT_NORMALIZATION.to_dict(), "layout": "coco17", "dimension": 34, "count": size,
             "corpus_path": "", "corpus_relpath": "", "corpus_checksum": "", "corpus_frames": size, "shards": infos}
    write_manifest(tmp / "fan.h5", attrs)
    want = one.search_vectors(qv, 10, weights=qw)
    out = {"frames": size, "shards": n_shards, "one_index": stats(latencies(
        lambda i: one.search_vectors(qv[i], 10, weights=qw[i]), len(qv)))}
    modes = ["local"]
    try:
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        modes.append("ray")
    except ImportError:
        out["ray"] = "not installed (pip install \"posesearch[cluster]\")"
    ok = True
    for mode in modes:
        sh = Index.load(tmp / "fan.h5", execution=mode)
        assert isinstance(sh, ShardedIndex) and isinstance(sh.executor, LocalShards) == (mode == "local")
        got = sh.search_vectors(qv, 10, weights=qw)
        same = bool(np.array_equal(got.distances, want.distances))
        ok &= same
        lat = latencies(lambda i: sh.search_vectors(qv[i], 10, weights=qw[i]), len(qv))
        t0 = time.perf_counter()
        sh.search_vectors(qv, 10, weights=qw)
        out[mode] = {**stats(lat), "batch_queries_per_s": round(len(qv) / (time.perf_counter() - t0)),
                     "answers_equal_one_index": same}
        sh.close()
    if "ray" in modes:
        import ray

        ray.shutdown()
    out["ok"] = ok
    return out


def merge_times(k: int = 10) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for s in (10, 100, 1000, 10000):
        for b in (1, 16):
            ids = [np.sort(rng.integers(0, 1 << 40, (b, k)), axis=1) for _ in range(s)]
            d = [np.sort(rng.random((b, k)), axis=1) for _ in range(s)]
            reps = max(3, min(200, 20000 // s))
            t = []
            for _ in range(reps):
                t0 = time.perf_counter()
                merge_knn(ids, d, k)
                t.append(time.perf_counter() - t0)
            rows.append({"shards": s, "batch": b, "k": k, "merge_ms": round(float(np.median(t)) * 1e3, 4)})
    return rows


def simulate(lat_ms: np.ndarray, merge: list[dict], n: int = 2000) -> list[dict]:
    """Fan-out latency of S shards: slowest of S measured single-shard latencies (CPU time: the shards run
    on their own cores) + merge + network."""
    rng = np.random.default_rng(1)
    out = []
    mt = {r["shards"]: r["merge_ms"] for r in merge if r["batch"] == 1}
    for s in (10, 100, 1000):
        worst = rng.choice(lat_ms, size=(n, s)).max(axis=1)
        total = worst + mt[s] + NETWORK_RTT_MS
        out.append({"shards": s, "median_ms": round(float(np.median(total)), 3),
                    "p99_ms": round(float(np.percentile(total, 99)), 3), "merge_ms": mt[s],
                    "shard_median_ms": round(float(np.median(lat_ms)), 3)})
    return out


def cost_model(shards: list[dict]) -> dict:
    """1B-10B frames from the per-shard figures: memory, shards per node, nodes, build, query latency."""
    small, big = shards[0], shards[-1]
    # query time grows like frames^a between the two measured sizes; extrapolated (stated as such)
    a = np.log(big["cpu"]["median_ms"] / small["cpu"]["median_ms"]) / np.log(big["frames"] / small["frames"])
    tail = big["cpu"]["p99_ms"] / big["cpu"]["median_ms"]   # p99 / median at the larger size, kept
    mem = big["memory_bytes_per_frame"]
    shard_gb = SHARD_FRAMES * mem / 1e9
    per_node = max(1, int(NODE_RAM_GB * 0.75 // shard_gb))
    t_med = big["cpu"]["median_ms"] * (SHARD_FRAMES / big["frames"]) ** a
    t_p99 = t_med * tail
    build_s = SHARD_FRAMES / big["build_frames_per_s"]
    rows = []
    for total in (1e9, 2e9, 1e10):
        n_sh = int(np.ceil(total / SHARD_FRAMES))
        rows.append({"frames": int(total), "shards": n_sh, "nodes": int(np.ceil(n_sh / per_node)),
                     "memory_gb": round(total * mem / 1e9)})
    return {"assumptions": {"node_ram_gb": NODE_RAM_GB, "usable": 0.75, "shard_frames": SHARD_FRAMES,
                            "network_rtt_ms": NETWORK_RTT_MS},
            "memory_bytes_per_frame": mem, "shard_gb": round(shard_gb, 1), "shards_per_node": per_node,
            "latency_exponent": round(float(a), 3), "p99_over_median": round(float(tail), 2),
            "shard_query_ms_extrapolated": {"median": round(float(t_med), 2), "p99": round(float(t_p99), 2)},
            "shard_build_minutes_one_core": round(build_s / 60, 1), "clusters": rows}


def write_md(res: dict, path: Path) -> None:
    L = [f"# Sharded index benchmark ({res['machine']['cpu_count']} cores, load average "
         f"{res['machine']['load_average_at_end']} at the end, {res['date']})", "",
         "Generated by `python benchmarks/bench_shards.py`; see its docstring for the corpus and queries.", "",
         "## One shard (vptree, weighted, k=10, single queries)", "",
         "| frames | build s (1 core) | frames/s | file B/frame | memory B/frame | wall median / p99 ms | CPU median / p99 ms "
         "| batch q/s |", "|---|---|---|---|---|---|---|---|"]
    for s in res["per_shard"]:
        L.append(f"| {s['frames']:,} | {s['build_seconds']} | {s['build_frames_per_s']:,} | "
                 f"{s['file_bytes_per_frame']} | {s['memory_bytes_per_frame']} | {s['median_ms']} / {s['p99_ms']} | "
                 f"{s['cpu']['median_ms']} / {s['cpu']['p99_ms']} | {s['batch_queries_per_s']:,} |")
    L += ["", "Memory B/frame above: a served shard's, once queried (the larger reading below). Measured in a fresh "
              "process that loads the shard and answers the queries (both trees then hold their search layouts):",
          "", "| frames | arrays held, as loaded / once queried | RSS growth, as loaded / once queried | peak RSS growth "
              "while loading / load + queries | raw vectors |", "|---|---|---|---|---|"]
    for s in res["per_shard"]:
        m = s.get("memory")
        if m:
            L.append(f"| {s['frames']:,} | {m['held_as_loaded']} / {m['held_once_queried']} | {m['rss_as_loaded']} / "
                     f"{m['rss_once_queried']} | {m.get('peak_rss_loading', '-')} / {m['peak_rss']} | {m['raw_vectors']} |")
    f = res["fan_out"]
    L += ["", f"## Fan-out on this machine: {f['frames']:,} frames, one index vs {f['shards']} shards", "",
          "| execution | median ms | p99 ms | batch q/s | answers equal |", "|---|---|---|---|---|",
          f"| one index | {f['one_index']['median_ms']} | {f['one_index']['p99_ms']} | - | - |"]
    for mode in ("local", "ray"):
        m = f.get(mode)
        if isinstance(m, dict):
            L.append(f"| {mode} ({f['shards']} shards) | {m['median_ms']} | {m['p99_ms']} | {m['batch_queries_per_s']:,} "
                     f"| {m['answers_equal_one_index']} |")
        elif m:
            L.append(f"| {mode} | {m} | | | |")
    L += ["", "## Merge of k-best lists (k=10)", "", "| shards | batch | merge ms |", "|---|---|---|"]
    L += [f"| {r['shards']:,} | {r['batch']} | {r['merge_ms']} |" for r in res["merge"]]
    L += ["", f"## Simulated fan-out latency (slowest shard's CPU time + merge + {NETWORK_RTT_MS} ms network), "
              f"shards of {res['per_shard'][-1]['frames']:,} frames", "",
          "| shards | median ms | p99 ms |", "|---|---|---|"]
    L += [f"| {r['shards']:,} | {r['median_ms']} | {r['p99_ms']} |" for r in res["simulation"]]
    c = res["cost_model"]
    L += ["", f"## Cost model ({c['assumptions']['shard_frames']:,}-frame shards, "
              f"{c['assumptions']['node_ram_gb']} GB nodes, 75% for shards)", "",
          f"memory {c['memory_bytes_per_frame']} B/frame -> {c['shard_gb']} GB a shard, {c['shards_per_node']} shards "
          f"a node; shard query CPU time extrapolated as frames^{c['latency_exponent']} from the two measured sizes "
          f"(p99 = {c['p99_over_median']} x median, as measured): {c['shard_query_ms_extrapolated']['median']} ms "
          f"median, {c['shard_query_ms_extrapolated']['p99']} ms p99; build {c['shard_build_minutes_one_core']} min a "
          "shard on one core", "", "| frames | shards | nodes | memory GB |", "|---|---|---|---|"]
    L += [f"| {r['frames']:,} | {r['shards']} | {r['nodes']} | {r['memory_gb']:,} |" for r in c["clusters"]]
    path.write_text("\n".join(L) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="50000,200000")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--model-only", action="store_true", help="recompute the cost model and shards.md from the "
                                                              "measured figures in --out/shards.json")
    ap.add_argument("--memory-worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_worker:
        print(json.dumps(memory_worker(*args.memory_worker)))
        return 0
    if args.model_only:
        res = json.loads((Path(args.out) / "shards.json").read_text())
        res["cost_model"] = cost_model(res["per_shard"])
        (Path(args.out) / "shards.json").write_text(json.dumps(res, indent=2) + "\n")
        write_md(res, Path(args.out) / "shards.md")
        print((Path(args.out) / "shards.md").read_text())
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    qv, qw = augmented(args.queries, seed=99, drop=0.15)
    qv = qv.astype(np.float64)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        per = [one_shard(s, qv, qw, tmp) for s in sizes]
        fan = fan_out(sizes[0], qv, qw, tmp)
    merge = merge_times()
    sim = simulate(per[-1].pop("_lat"), merge)
    for p in per:
        p.pop("_lat", None)
    res = {"date": time.strftime("%Y-%m-%d"), "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                                                       "load_average_at_end": round(os.getloadavg()[0], 1)},
           "per_shard": per, "fan_out": fan, "merge": merge, "simulation": sim, "cost_model": cost_model(per),
           "seconds": round(time.perf_counter() - t0, 1)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards.json").write_text(json.dumps(res, indent=2) + "\n")
    write_md(res, out / "shards.md")
    print((out / "shards.md").read_text())
    if not fan["ok"]:
        print("FAILED: a sharded answer differs from the one index's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
