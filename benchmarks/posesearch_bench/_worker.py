"""One scaling measurement in a fresh process: build one contender at one corpus size, query it.

``python -m posesearch_bench._worker spec.json`` reads a spec written by :mod:`.scaling` (paths of the
prepared data, queries, weights, reference distances; contender, metric, k, query count) and writes
its result JSON to ``spec["out"]``. Peak build memory = VmHWM after the build minus the resident set
just before it (VmHWM reset with /proc/self/clear_refs once the data are loaded and the contender's
libraries and kernels are warmed up on a 2,000-row build), see :mod:`.timing`.
"""
from __future__ import annotations

import gc
import json
import sys
import time

import numpy as np


def run(spec: dict) -> dict:
    from . import contenders as C
    from .checks import check_answers
    from .timing import latency, reset_hwm, rss_bytes, summarize, vm_hwm_bytes

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
    obj = con.build(data, metric, bw)
    build_s = time.perf_counter() - t0
    gc.collect()
    peak = vm_hwm_bytes()
    after = rss_bytes()
    n = min(int(spec["n_single"]), len(q))
    ids = np.empty((n, k), np.int64)
    dists = np.empty((n, k))

    def one(i):
        r_i, r_d = con.knn(obj, q[i:i + 1], None if w is None else w[i:i + 1], k, True)
        ids[i] = r_i[0]
        if r_d is not None:
            dists[i] = r_d[0]

    lat = latency(one, n)
    t1 = time.perf_counter()
    con.knn(obj, q[:n], None if w is None else w[:n], k, False)
    t_batch = time.perf_counter() - t1
    chk = check_answers(f"{name} ({metric}, {len(data):,} frames)", con.claim, con.min_recall, data, q[:n],
                        None if w is None else w[:n], metric, k, ids, dists if con.exact_distances else None,
                        ref_d[:n])
    return {"name": name, "family": con.family, "claim": con.claim, "size": int(len(data)), "metric": metric,
            "build_seconds": build_s,
            "build_peak_extra_bytes": int(max(0, peak - (base_rss if hwm_reset else base_hwm))),
            "index_resident_extra_bytes": int(max(0, after - base_rss)),
            "hwm_reset": hwm_reset, "baseline_rss_bytes": int(base_rss),
            **summarize(lat), "batch_qps": n / t_batch, f"recall@{k}": chk.recall, "check_ok": chk.ok,
            "problems": chk.problems[:3]}


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
