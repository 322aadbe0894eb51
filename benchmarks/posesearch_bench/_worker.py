"""One scaling measurement in a fresh process: build one contender at one corpus size, query it.

``python -m posesearch_bench._worker spec.json`` reads a spec written by :mod:`.scaling` (paths of the
prepared data, queries, weights, reference distances; contender, metric, k, query count) and writes
its result JSON to ``spec["out"]``; with ``query_sets`` (name -> [first, end) rows of the queries) each set
is timed and checked on its own (latency, batch, recall under ``query_sets``; the first set's also at
the top level). Also recorded: the index's size (:func:`.contenders.index_bytes`), the first query's
time (it derives the lazily made search layouts), the peak with the queries, and the 1-minute load
average at the start, after the build and at the end. A contender that can take the vectors over
(``build_owned``: ``vptree``, as ``Index.build`` hands it the array it made) gets them, and the answers
are then checked against the rows read back from it. Peak build memory = VmHWM after the build minus the resident set
just before it (VmHWM reset with /proc/self/clear_refs once the data are loaded and the contender's
libraries and kernels are warmed up on a 2,000-row build), see :mod:`.timing`.
"""
from __future__ import annotations

import gc
import json
import sys
import time

import numpy as np


def _loadavg() -> float | None:
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError):
        return None


def run(spec: dict) -> dict:
    from . import contenders as C
    from .checks import check_answers
    from .timing import latency, reset_hwm, rss_bytes, summarize, vm_hwm_bytes

    load_start = _loadavg()
    t_point = time.perf_counter()
    data = np.load(spec["data"])
    q = np.load(spec["queries"])
    w = np.load(spec["weights"]) if spec.get("weights") else None
    ref_d = np.load(spec["ref"])
    bw = np.load(spec["build_weights"]) if spec.get("build_weights") else None
    metric, k, name = spec["metric"], int(spec["k"]), spec["contender"]
    con = C.make(name, metric)
    # warm-up: import libraries, compile / load kernels on a small build
    small = data[: min(len(data), 2000)]
    tiny = con.build(small, metric, None if bw is None else bw[: len(small)])
    con.knn(tiny, q[:2], None if w is None else w[:2], min(k, len(small)), False)
    con.knn(tiny, q[:1], None if w is None else w[:1], min(k, len(small)), True)
    del tiny
    gc.collect()
    hwm_reset = reset_hwm()
    base_rss = rss_bytes()
    base_hwm = vm_hwm_bytes()
    t0 = time.perf_counter()
    if con.build_owned is not None:     # the index takes the vectors over, as Index.build does with its own
        obj = con.build_owned(data, metric, bw)
        data = obj.data                 # the rows, read from the index (the array handed over was reordered)
    else:
        obj = con.build(data, metric, bw)
    build_s = time.perf_counter() - t0
    gc.collect()
    peak = vm_hwm_bytes()
    after = rss_bytes()
    load_after_build = _loadavg()
    t1 = time.perf_counter()      # the first query also derives what the index makes lazily (search layouts)
    con.knn(obj, q[:1], None if w is None else w[:1], k, True)
    first_s = time.perf_counter() - t1
    # query sets: name -> [first, end) rows of q / w / ref_d (one set "queries" when the spec names none)
    sets = spec.get("query_sets") or {"queries": [0, len(q)]}
    per_set, problems = {}, []
    for set_name, (a, b) in sets.items():
        qs, ws, rs = q[a:b], None if w is None else w[a:b], ref_d[a:b]
        n = min(int(spec["n_single"]), len(qs))
        ids = np.empty((n, k), np.int64)
        dists = np.empty((n, k))

        def one(i):
            r_i, r_d = con.knn(obj, qs[i:i + 1], None if ws is None else ws[i:i + 1], k, True)
            ids[i] = r_i[0]
            if r_d is not None:
                dists[i] = r_d[0]

        lat = latency(one, n)
        t2 = time.perf_counter()
        con.knn(obj, qs[:n], None if ws is None else ws[:n], k, False)
        t_batch = time.perf_counter() - t2
        chk = check_answers(f"{name} ({metric}, {len(data):,} frames, {set_name} queries)", con.claim,
                            con.min_recall, data, qs[:n], None if ws is None else ws[:n], metric, k, ids,
                            dists if con.exact_distances else None, rs[:n])
        per_set[set_name] = {**summarize(lat), "batch_qps": n / t_batch, f"recall@{k}": chk.recall,
                             "check_ok": chk.ok, "problems": chk.problems[:3]}
        problems += chk.problems[:3]
    peak_all = vm_hwm_bytes()
    first = per_set[next(iter(per_set))]
    base = base_rss if hwm_reset else base_hwm
    return {"name": name, "family": con.family, "claim": con.claim, "size": int(len(data)), "metric": metric,
            "build_seconds": build_s, "first_query_seconds": first_s,
            "build_peak_extra_bytes": int(max(0, peak - base)),
            "peak_extra_with_queries_bytes": int(max(0, peak_all - base)),
            "index_resident_extra_bytes": int(max(0, after - base_rss)),
            "index_bytes": C.index_bytes(obj, data), "raw_vectors_bytes": int(data.nbytes),
            "hwm_reset": hwm_reset, "baseline_rss_bytes": int(base_rss),
            "load_1min": {"start": load_start, "after_build": load_after_build, "end": _loadavg()},
            "point_seconds": time.perf_counter() - t_point,
            **{key: v for key, v in first.items() if key != "problems"},
            "query_sets": per_set, "check_ok": all(r["check_ok"] for r in per_set.values()),
            "problems": problems[:3]}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(open(argv[0]).read())
    try:
        res = run(spec)
    except Exception as e:  # reported to the parent, which records the failure
        res = {"error": f"{type(e).__name__}: {e}"}
    with open(spec["out"], "w") as f:
        json.dump(res, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
