"""How cost grows with the corpus: build time, peak build memory, latency and recall at 10k ... 1M frames.

Corpora (:func:`.data.corpus_of_size`): nested random subsets of the real indexed frames, and beyond
them the real frames plus augmented real poses (mirror, +-10 deg rotation, 0.9-1.1 x/y scaling, 1%
jitter; see :mod:`.data`). Each (size, metric, contender) runs in its own subprocess
(:mod:`._worker`) so that its peak memory is its own; the exact reference answers are computed here
first. Queries: the first ``scaling_queries`` held-out queries (weighted: estimator-like confidences).
vptree-pypi is built only up to ``pypi_max_scaling`` frames (pure Python), numpy up to
``numpy_max_size``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import contenders as C
from .checks import true_distances
from .context import Context
from .data import corpus_of_size
from .paths import child_env

WORKER_TIMEOUT = 3600


METHOD = ("one subprocess per (size, metric, contender); peak memory = VmHWM after build minus resident set "
          "before it (VmHWM reset via /proc/self/clear_refs after loading data and warming up the kernels)")


def run(ctx: Context) -> dict:
    st, d = ctx.settings, ctx.data
    out: dict = {"sizes": list(st.sizes), "queries": st.scaling_queries, "k": st.k, "metrics": {},
                 "skipped_contenders": dict(C.available_peers()), "method": METHOD}
    nq = min(st.scaling_queries, len(d.queries))
    for metric in st.scaling_metrics:
        w = d.weights["estimator"][:nq] if metric == "weighted" else None
        names = st.scaling_contenders if metric == "weighted" else st.scaling_contenders_cosine
        limits = {"vptree-pypi": st.pypi_max_scaling, "numpy": st.numpy_max_size}
        out["metrics"][metric] = measure(ctx, d, metric, {"held-out": (d.queries[:nq], w)}, names, st.sizes,
                                         limits)
    return out


def measure(ctx: Context, d, metric: str, query_sets: dict, names, sizes, limits: dict | None = None,
            on_point=None) -> list[dict]:
    """One row per (size, contender) that ran: each point in its own worker subprocess (see the module
    doc). ``d``: the BenchData whose vectors (and augmented poses beyond them) make the corpora;
    ``query_sets``: name -> (queries (B, 34), weights (B, 17) or None), all answered by every point and
    checked against exact answers computed here; ``limits``: contender -> largest size it is built at.
    ``on_point(row)`` is called after each point (e.g. to save partial results)."""
    st = ctx.settings
    k = st.k
    limits = limits or {}
    work = ctx.out / "cache" / "scaling"
    work.mkdir(parents=True, exist_ok=True)
    missing = C.available_peers()
    bounds, a = {}, 0
    for set_name, (qq, _) in query_sets.items():
        bounds[set_name] = [a, a + len(qq)]
        a += len(qq)
    q = C.prepare_queries(np.concatenate([qq for qq, _ in query_sets.values()]), metric)
    w = None if metric != "weighted" else np.concatenate([ww for _, ww in query_sets.values()])
    nq = max(len(qq) for qq, _ in query_sets.values())     # each set: all its queries (fewer for slow peers)
    rows: list[dict] = []
    for size in sizes:
        ctx.say(f"scaling/{metric}: corpus of {size:,} frames")
        t0 = time.perf_counter()
        vec, origin = corpus_of_size(d, int(size), st.seed)
        data = C.prepare_data(vec, metric)
        del vec
        ex = C.make("exact", metric)
        ref_d = true_distances(data, q, w, ex.knn(ex.build(data, metric, None), q, w, k, False)[0], metric)
        origin["prepare_seconds"] = round(time.perf_counter() - t0, 1)
        tag = f"{metric}-{size}"
        paths = {"data": work / f"{tag}-data.npy", "queries": work / f"{tag}-q.npy",
                 "ref": work / f"{tag}-ref.npy"}
        np.save(paths["data"], data)
        np.save(paths["queries"], q)
        np.save(paths["ref"], ref_d)
        if w is not None:
            paths["weights"] = work / f"{tag}-w.npy"
            np.save(paths["weights"], w)
        del data
        bw_path = None
        for name in names:
            if name in missing or size > limits.get(name, size):
                continue
            if name == "vptree-pypi" and metric == "weighted" and origin["augmented"] == 0:
                if bw_path is None:
                    bw_path = work / f"{tag}-bw.npy"
                    perm = np.random.default_rng(st.seed).permutation(len(d.vectors))
                    np.save(bw_path, d.confidences[np.sort(perm[:size])])
            n_single = nq if name not in ("vptree-pypi", "numpy") else min(nq, max(10, nq // 4))
            spec = {k_: str(v) for k_, v in paths.items()}
            spec.update(contender=name, metric=metric, k=k, n_single=n_single, query_sets=bounds,
                        out=str(work / f"{tag}-{name}.json"),
                        build_weights=str(bw_path) if (name == "vptree-pypi" and bw_path) else None)
            spec_path = work / f"{tag}-{name}-spec.json"
            spec_path.write_text(json.dumps(spec))
            ctx.say(f"scaling/{metric}: {name} at {size:,} frames")
            res = _run_worker(spec_path, Path(spec["out"]))
            res.update(size=int(size), origin=origin, queries=n_single)
            if "error" in res:
                ctx.failures.add(f"scaling/{metric}/{size}", [f"{name}: {res['error']}"])
            elif res.get("problems"):
                ctx.failures.add(f"scaling/{metric}/{size}", res["problems"])
            rows.append(res)
            if on_point is not None:
                on_point(res)
        for p in list(paths.values()) + ([bw_path] if bw_path else []):
            Path(p).unlink(missing_ok=True)
    return rows


def _run_worker(spec_path: Path, out_path: Path) -> dict:
    out_path.unlink(missing_ok=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "posesearch_bench._worker", str(spec_path)],
                              capture_output=True, text=True, timeout=WORKER_TIMEOUT, env=child_env())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {WORKER_TIMEOUT} s"}
    if not out_path.exists():
        tail = (proc.stderr or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        return {"error": f"worker died: {tail[0][:200]}"}
    res = json.loads(out_path.read_text())
    if proc.returncode != 0 and "error" not in res:
        res["worker_exit_status"] = proc.returncode
    return res
