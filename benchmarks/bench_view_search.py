"""View-invariant pose search (issue 20, route 2: lifting): ``python benchmarks/bench_view_search.py``.

Data: CMU subject 5 (20 clips: a walk and ballet; held out from the lifter's training, which saw subjects
1, 2, 3 only), 3D COCO-17 joints (posesearch.corpus.readers.bvh_coco3d), every 4th frame.

* **Search across views.** The corpus is every frame filmed at yaw 0 (orthographic, pitch 0, confidences
  1). Queries: 300 frames drawn with a fixed seed, filmed at yaw 0, 30, 60 and 90 (the same camera
  otherwise), clean and with 2D noise (Gaussian, 2% of the pose's RMS radius, confidences uniform
  0.5-1). A returned frame is a **hit** when its 3D pose is within PA-MPJPE (mean joint distance after
  Procrustes alignment) **< 10 cm** of the query's 3D pose (also reported: < 7.5 cm). hit@k = share of
  queries with a hit among the first k. Metrics: ``view`` (lifted, canonical facing) against the 2D
  ``weighted`` and ``cosine`` metrics, all on the exact backend.
* **Lifting error.** PA-MPJPE (mm) of the lifted poses on every subject-5 frame, by yaw, orthographic at
  pitch 0 and perspective (3 m) at pitch 15.
* **Cost.** Lifting + embedding per frame (a batch of 2000 and one pose at a time) against the 2D query
  preparation of the other metrics.

Writes ``benchmarks/results/view_search.json`` and ``view_search.md`` (``--out DIR`` elsewhere).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posesearch.corpus.clip import Clip  # noqa: E402
from posesearch.corpus.readers.bvh_coco3d import load_coco3d  # noqa: E402
from posesearch.corpus.readers.bvh_kinematics import project  # noqa: E402
from posesearch.corpus.store import Corpus  # noqa: E402
from posesearch.index.index import Index  # noqa: E402
from posesearch.index.query import prepare_raw  # noqa: E402
from posesearch.view import lift as L  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "cmu_mocap" / "bvh"
SUBJECT = 5
EVERY = 4
SEED = 20
N_QUERIES = 300
YAWS = (0, 30, 60, 90)
TAUS = (0.10, 0.075)
METRICS = ("view", "weighted", "cosine")


def views(p3d: np.ndarray, yaw: float, pitch: float = 0.0, projection: str = "orthographic",
          distance: float = 4.0) -> np.ndarray:
    """(N, 17, 2) image keypoints of (N, 17, 3) poses, each camera aimed at its own pose's mean."""
    return project(p3d, yaw, pitch, distance, projection=projection, target=p3d.mean(axis=1))


def noisy(xy: np.ndarray, rng: np.random.Generator, sigma: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    c = xy - xy.mean(axis=1, keepdims=True)
    rms = np.sqrt((c * c).sum(axis=(1, 2)) / xy.shape[1])
    return (xy + rng.normal(0, 1, xy.shape) * (sigma * rms)[:, None, None],
            rng.uniform(0.5, 1.0, xy.shape[:2]))


def search_quality(p3d: np.ndarray, corpus_path: Path, rng: np.random.Generator) -> dict:
    qrows = np.sort(rng.choice(len(p3d), N_QUERIES, replace=False))
    indexes = {m: Index.build(corpus_path, metric=m, backend="exact") for m in METRICS}
    out: dict = {}
    for variant in ("clean", "noisy"):
        for yaw in YAWS:
            xy = views(p3d[qrows], yaw)
            cf = np.ones(xy.shape[:2])
            if variant == "noisy":
                xy, cf = noisy(xy, rng)
            q = np.concatenate([xy, cf[..., None]], axis=-1)
            for m, idx in indexes.items():
                ids = idx.search(q, k=10).ids
                err = L.procrustes_mpjpe(np.repeat(p3d[qrows], 10, axis=0), p3d[ids.reshape(-1)]).reshape(-1, 10)
                row = {}
                for tau in TAUS:
                    hit = err < tau
                    row[f"hit@1<{tau * 100:g}cm"] = round(float(hit[:, 0].mean()), 3)
                    row[f"hit@10<{tau * 100:g}cm"] = round(float(hit.any(axis=1).mean()), 3)
                row["top1_pa_mpjpe_mm_median"] = round(float(np.median(err[:, 0]) * 1000), 1)
                out.setdefault(variant, {}).setdefault(f"yaw{yaw}", {})[m] = row
    out["view_index_unliftable"] = int(indexes["view"].attrs.get("view_unliftable", 0))
    return out


def lifting_error(p3d: np.ndarray) -> dict:
    out = {}
    for name, kw in (("orthographic_pitch0", {}), ("perspective_3m_pitch15",
                                                    {"pitch": 15.0, "projection": "perspective", "distance": 3.0})):
        row = {}
        for yaw in (0, 45, 90, 135, 180, 270):
            xy = views(p3d, yaw, **kw)
            q = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
            row[f"yaw{yaw}"] = round(float(L.procrustes_mpjpe(p3d, L.lift(q)).mean() * 1000), 1)
        out[name] = row
    return out


def cost(p3d: np.ndarray) -> dict:
    xy = views(p3d[:2000], 30)
    q = np.concatenate([xy, np.ones(xy.shape[:2] + (1,))], axis=-1)
    L.embed(q[:10])
    prepare_raw(q[:10])

    def best(fn, reps=5):
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return min(ts)

    n = len(q)
    lift_batch = best(lambda: L.embed(q)) / n
    prep_batch = best(lambda: prepare_raw(q)) / n
    lift_one = best(lambda: [L.embed(q[i]) for i in range(100)]) / 100
    prep_one = best(lambda: [prepare_raw(q[i]) for i in range(100)]) / 100
    return {"lift_embed_us_per_frame_batch2000": round(lift_batch * 1e6, 2),
            "prepare_2d_us_per_frame_batch2000": round(prep_batch * 1e6, 2),
            "lift_embed_us_per_single_pose": round(lift_one * 1e6, 1),
            "prepare_2d_us_per_single_pose": round(prep_one * 1e6, 1),
            "lift_seconds_per_60s_clip_at_30fps": round(lift_batch * 1800, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    a = ap.parse_args(argv)
    files = sorted(DATA.glob(f"{SUBJECT:03d}_*.bvh"))
    if not files:
        print(f"bench_view_search: needs the CMU motion capture in {DATA}; not found", file=sys.stderr)
        return 2
    t0 = time.time()
    clips = [(f.stem, load_coco3d(f, every=EVERY)) for f in files]
    p3d = np.concatenate([c for _, c in clips])
    rng = np.random.default_rng(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        corpus_path = Path(tmp) / "cmu5-yaw0.h5"
        Corpus.ingest(corpus_path, [Clip(f"cmu:{name}:yaw0", views(c, 0).astype(np.float32),
                                         np.ones(c.shape[:2], np.float32), "coco17", fps=30.0)
                                    for name, c in clips])
        quality = search_quality(p3d, corpus_path, rng)
    res = {"data": {"subject": SUBJECT, "files": len(files), "every": EVERY, "frames": int(len(p3d)),
                    "queries": N_QUERIES, "seed": SEED},
           "model": L.model_info(), "search": quality, "lifting_pa_mpjpe_mm": lifting_error(p3d), "cost": cost(p3d),
           "seconds": None}
    res["seconds"] = round(time.time() - t0, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "view_search.json").write_text(json.dumps(res, indent=1) + "\n")
    (out / "view_search.md").write_text(summary(res))
    print(summary(res))
    return 0


def summary(res: dict) -> str:
    d = res["data"]
    lines = [f"# View-invariant search (metric view): CMU subject {d['subject']} (held out), {d['frames']} frames "
             f"(every {d['every']}th), {d['queries']} queries, seed {d['seed']}", "",
             "Corpus filmed at yaw 0; queries filmed at the yaw below. Hit: a returned frame within PA-MPJPE "
             "< 10 cm (< 7.5 cm) of the query's 3D pose.", ""]
    for variant in ("clean", "noisy"):
        lines += [f"## {variant} queries", "", "| yaw | metric | hit@1 <10cm | hit@10 <10cm | hit@1 <7.5cm | "
                  "hit@10 <7.5cm | top-1 PA-MPJPE median (mm) |", "|---|---|---|---|---|---|---|"]
        for yaw, per in res["search"][variant].items():
            for m, r in per.items():
                lines.append(f"| {yaw[3:]} | {m} | {r['hit@1<10cm']} | {r['hit@10<10cm']} | {r['hit@1<7.5cm']} | "
                             f"{r['hit@10<7.5cm']} | {r['top1_pa_mpjpe_mm_median']} |")
        lines.append("")
    lines += ["## Lifting error, PA-MPJPE (mm), every held-out frame", "", "| camera | " +
              " | ".join(next(iter(res["lifting_pa_mpjpe_mm"].values()))) + " |",
              "|---|" + "---|" * len(next(iter(res["lifting_pa_mpjpe_mm"].values())))]
    for cam, row in res["lifting_pa_mpjpe_mm"].items():
        lines.append(f"| {cam} | " + " | ".join(str(v) for v in row.values()) + " |")
    lines += ["", "## Cost", ""] + [f"- {k}: {v}" for k, v in res["cost"].items()]
    lines += ["", f"Run time {res['seconds']} s.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
