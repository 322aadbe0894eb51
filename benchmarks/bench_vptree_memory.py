"""Where the vptree backend's memory goes, stage by stage (issue 21's peak-memory target).

Builds the default ``vptree`` backend (weighted metric, face-free second tree) over N frames of the
scaling corpus (:func:`posesearch_bench.data.corpus_of_size`: Penn Action + COCO frames, augmented
poses beyond them) in a fresh subprocess, the way :mod:`posesearch_bench._worker` does (vectors
loaded, kernels warmed up on 2,000 rows, VmHWM reset; the vectors handed over to the backend as
``Index.build`` does, or kept beside it with ``--copy``), then answers one query (which derives the
search layouts). A sampling thread reads VmRSS every few milliseconds (the numba kernels release the
GIL) and the main steps of the build are wrapped to mark when they start, so each step gets the peak
resident set seen while it ran. Figures are in bytes per row and as multiples of the raw vectors
(N x 34 float32), counting the vectors themselves (the whole footprint, reading (b) of the target).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/bench_vptree_memory.py --size 1000000 \
        [--out benchmarks/results/runs/DIR] [--data ../shared/data]

Writes ``vptree_memory-<size>.json`` in ``--out`` (default: print only).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class Sampler:
    """VmRSS sampled every ``dt`` seconds in a thread; ``mark(label)`` starts a stage."""

    def __init__(self, dt: float = 0.002):
        self.dt, self.samples, self.marks = dt, [], []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.perf_counter(), _rss()))
            time.sleep(self.dt)

    def start(self):
        self._t.start()
        return self

    def mark(self, label: str):
        self.marks.append((time.perf_counter(), label, _rss()))

    def stop(self):
        self.mark("end")
        self._stop.set()
        self._t.join()

    def stages(self) -> list[dict]:
        t = np.array([s[0] for s in self.samples])
        r = np.array([s[1] for s in self.samples])
        out = []
        for (t0, label, r0), (t1, _, r1) in zip(self.marks, self.marks[1:]):
            sel = (t >= t0) & (t <= t1)
            peak = max([r0, r1] + ([int(r[sel].max())] if sel.any() else []))
            out.append({"stage": label, "seconds": round(t1 - t0, 2), "rss_start": r0, "rss_end": r1, "peak": peak})
        return out


def _wrap(obj, name: str, label: str, sampler: Sampler):
    f = getattr(obj, name)

    def wrapped(*a, **kw):
        sampler.mark(label)
        try:
            return f(*a, **kw)
        finally:
            sampler.mark(f"after {label}")
    setattr(obj, name, wrapped)


def worker(data_path: str, q_path: str, w_path: str, own: str) -> dict:
    from posesearch.index import vptree as vpb
    from posesearch.index.backend import parse_params
    from posesearch.index.kernels import vptree as kv
    from posesearch.index.groups import RowGroups
    from posesearch.index.kernels import _vpbuild as vb

    data = np.load(data_path)
    q, w = np.load(q_path), np.load(w_path)      # both query sets (as the scaling worker answers them)
    p = parse_params(vpb.VPTreeBackend.Params, "vptree", {})
    tiny = vpb.VPTreeBackend.build(data[:2000].copy(), "weighted", p)
    tiny.knn(q[:1], w[:1], 10)
    del tiny
    import gc
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    s = Sampler().start()
    s.mark("vectors loaded")
    orig_of = RowGroups.of.__func__

    def groups_of(cls, d):
        s.mark("RowGroups.of")
        try:
            return orig_of(cls, d)
        finally:
            s.mark("split levels (tree rows, perm, keys, idx, nodes)")
    RowGroups.of = classmethod(groups_of)
    _wrap(vb, "expand_groups", "expand_groups", s)
    _wrap(vpb, "_without_face", "face-free rows (_without_face)", s)
    orig_build = kv.build_vptree
    which = iter(("main", "face-free"))

    def build_vptree(*a, **kw):
        s.mark(f"build_vptree {next(which)}")
        try:
            return orig_build(*a, **kw)
        finally:
            s.mark("after build_vptree")
    kv.build_vptree = build_vptree
    t0 = time.perf_counter()
    be = vpb.VPTreeBackend.build(data, "weighted", p, **({"own_data": True} if own == "own" else {}))
    build_s = time.perf_counter() - t0
    gc.collect()
    s.mark("built")
    t1 = time.perf_counter()
    s.mark("first query (search layouts)")
    be.knn(q[:1], w[:1], 10)
    first_s = time.perf_counter() - t1
    s.mark("single queries (both trees)")
    for i in range(len(q)):
        be.knn(q[i:i + 1], w[i:i + 1], 10)
    s.mark("batch")
    ids, _ = be.knn(q, w, 10)
    s.mark("rows of the answers (data[ids])")
    rows = data if not isinstance(be.data, vpb.TreeRows) else be.data
    np.asarray(rows[ids.reshape(-1)])
    s.stop()
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    tree_bytes = {}
    for which, t in (("main", be.tree), ("face_free", be.face_free)):
        if t is None:
            continue
        tree_bytes[which] = {k: int(v.nbytes) for k, v in t.to_arrays().items() if v.ndim}
        for key, val in t._derived.items():
            kt = val[0]
            tree_bytes[which]["layout"] = {f: int(getattr(kt, f).nbytes) for f in kt._fields
                                           if isinstance(getattr(kt, f), np.ndarray)
                                           and f not in ("data", "perm", "gstart", "sw")}
    return {"own_data": own == "own", "n": int(len(data)), "raw_bytes": int(data.nbytes), "build_seconds": round(build_s, 1),
            "first_query_seconds": round(first_s, 2), "vm_hwm": hwm, "stages": s.stages(),
            "distinct_rows": be.tree.n_unique,
            "face_free_distinct_rows": None if be.face_free is None else be.face_free.n_unique,
            "tree_bytes": tree_bytes}


def report(res: dict) -> str:
    raw, n = res["raw_bytes"], res["n"]
    base = res["stages"][0]["rss_start"]
    lines = [f"{'vectors kept beside the index (own_data=False)' if not res['own_data'] else 'vectors handed over (own_data=True)'}: "
             f"{n:,} frames (raw {raw / 1e6:,.0f} MB; distinct rows {res['distinct_rows']:,}, face-free "
             f"{res['face_free_distinct_rows']:,}); build {res['build_seconds']} s, first query "
             f"{res['first_query_seconds']} s; x = footprint counted from the loaded vectors: "
             "(RSS - RSS before them) / raw, the vectors counted once",
             f"{'stage':52s} {'s':>7s} {'peak B/row':>11s} {'end B/row':>10s} {'peak x':>7s}"]
    pre = base - raw      # the process without the vectors
    for st in res["stages"]:
        lines.append(f"{st['stage']:52s} {st['seconds']:7.2f} {(st['peak'] - base) / n:11.1f} "
                     f"{(st['rss_end'] - base) / n:10.1f} {(st['peak'] - pre) / raw:7.2f}")
    lines.append(f"VmHWM over the run: {(res['vm_hwm'] - pre) / raw:.2f}x raw (vectors included)")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / "results",
                    help="folder whose cache/ holds (or gets) the benchmark corpus")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--copy", action="store_true",
                    help="build without handing the vectors over (own_data=False: the backend keeps its own "
                         "tree-order copy beside them, as before Index.build handed them over)")
    ap.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.worker:
        print(json.dumps(worker(*a.worker)))
        return 0
    import tempfile

    from bench_scaling import load_sets
    from posesearch_bench.data import corpus_of_size

    loaded = load_sets(a.cache, a.data, 200, 20240, False, lambda m: print(m, file=sys.stderr))
    if loaded is None:
        print("bench_vptree_memory: no benchmark data", file=sys.stderr)
        return 1
    base, sets, _ = loaded
    qs = np.concatenate([qq for qq, _ in sets.values()])
    ws = np.concatenate([ww for _, ww in sets.values()])
    vec, _origin = corpus_of_size(base, a.size, 20240)
    with tempfile.TemporaryDirectory() as tmp:
        paths = [os.path.join(tmp, x) for x in ("data.npy", "q.npy", "w.npy")]
        np.save(paths[0], np.ascontiguousarray(vec, np.float32))
        np.save(paths[1], np.ascontiguousarray(qs, np.float64))
        np.save(paths[2], np.ascontiguousarray(ws, np.float64))
        del vec, base
        out = subprocess.run([sys.executable, __file__, "--worker", *paths,
                              "copy" if a.copy else "own"], capture_output=True, text=True)
    if out.returncode != 0:
        print(out.stderr, file=sys.stderr)
        return 1
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["load_1min"] = float(open("/proc/loadavg").read().split()[0])
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    res["commit"] = commit
    text = report(res)
    print(text)
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / f"vptree_memory-{a.size}{'-copy' if a.copy else ''}.json").write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
