"""Quality: do the distances and the scores tell poses and motions apart?

1. **Leave-one-out nearest-neighbour accuracy** on the labelled BODY25 set (pose_classification_kit,
   read through the benchmark corpus, COCO-17 joints): every pose's nearest other pose, under
   ``cosine``, ``weighted`` (weights = the query's OpenPose confidences) and ``procrustes`` (proper
   rotation + scale, joints present in both, :mod:`posesearch.poses.procrustes`), each plain and
   mirror-invariant (min over the query and its mirror image, :func:`posesearch.poses.mirror.mirror`).
   The set has left/right variants of some classes (Yoga_Tree_left/right, Stand_Left/RightArmRaised,
   Traffic_Left/RightTurn), which mirror invariance must confuse: accuracy is reported per class label
   and with each left/right pair merged into one class.
2. **Sequence scoring on Penn Action** (accuracy and AUC of :func:`posesearch.sequence.score_sequence`):
   :mod:`posesearch_bench.scoring_quality` (also ``python benchmarks/bench_scoring_quality.py``), run in a
   fresh interpreter on ``penn_queries`` test clips against every train clip.
3. **View-angle robustness on CMU mocap**: every clip (first ``view_seconds`` s, 30 fps) projected at
   yaw 0 is the reference; the same motion seen at yaw 30 and 60 should score high / lie close, other
   motions (a different description) at yaw 0 low / far. Measured with ``score_sequence`` (score) and
   with the mean per-frame Procrustes distance of time-matched frames; separation = ROC AUC
   (probability a same-motion pair beats a different-motion pair).
"""
from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
from numba import njit, prange

from .context import Context
from .data import default_data_dir
from .paths import child_env
from .scoring_quality import roc_auc


# ------------------------------------------------------------------ helpers -----------------------------


def merge_sides(label: str) -> str:
    """Class name with left/right merged: Yoga_Tree_left -> Yoga_Tree_*, Stand_LeftArmRaised -> Stand_*ArmRaised."""
    return re.sub(r"(?i)left|right", "*", label)


@njit(cache=True, inline="always")
def _pair_procrustes(q, qp, x, p):
    """sqrt(max(0, 1 - s^2)) of proper-rotation Procrustes between q and x (K, 2) on the joints present
    in both (qp, p), each shape centred and scaled to unit size; inf with fewer than 2 common joints or a
    shape of zero size."""
    n = sq0 = sq1 = sx0 = sx1 = 0.0
    for t in range(len(qp)):
        if qp[t] and p[t]:
            n += 1.0
            sq0 += q[t, 0]
            sq1 += q[t, 1]
            sx0 += x[t, 0]
            sx1 += x[t, 1]
    if n < 2.0:
        return np.inf
    mq0, mq1, mx0, mx1 = sq0 / n, sq1 / n, sx0 / n, sx1 / n
    qq = xx = a = c = 0.0
    for t in range(len(qp)):
        if qp[t] and p[t]:
            u0, u1 = q[t, 0] - mq0, q[t, 1] - mq1
            v0, v1 = x[t, 0] - mx0, x[t, 1] - mx1
            qq += u0 * u0 + u1 * u1
            xx += v0 * v0 + v1 * v1
            a += u0 * v0 + u1 * v1
            c += u1 * v0 - u0 * v1
    if qq <= 0.0 or xx <= 0.0:
        return np.inf
    return np.sqrt(max(0.0, 1.0 - (a * a + c * c) / (qq * xx)))


@njit(parallel=True, cache=True)
def procrustes_nn(X, P, Q, QP, exclude_self):
    """Nearest row of X (N, K, 2; P (N, K) present) for each query Q (B, K, 2; QP present).

    Distance: :func:`_pair_procrustes` (same as posesearch.poses.procrustes). Pairs with fewer than 2
    common joints are skipped. exclude_self: query b never matches row b. Returns (index, distance).
    """
    n = X.shape[0]
    b = Q.shape[0]
    best_i = np.full(b, -1, np.int64)
    best_d = np.full(b, np.inf)
    for qi in prange(b):
        bd = np.inf
        bi = -1
        for j in range(n):
            if exclude_self and j == qi:
                continue
            d = _pair_procrustes(Q[qi], QP[qi], X[j], P[j])
            if d < bd or (d == bd and j < bi):
                bd = d
                bi = j
        best_i[qi] = bi
        best_d[qi] = bd
    return best_i, best_d


def _nn_vectors(vectors, queries, weights, metric, exclude_self: bool):
    """Nearest other row under cosine / weighted via the exact kernel (k = 2, self skipped)."""
    from posesearch.index.kernels.exact import knn_exact
    from posesearch.index.query import unit_rows

    if metric == "cosine":
        data, q, w, km = unit_rows(vectors, np.float32), unit_rows(queries), None, "l2"
    else:
        data, q, w, km = np.ascontiguousarray(vectors, np.float32), queries, weights, "weighted"
    ids, d = knn_exact(data, q, w, 2, km)
    if not exclude_self:
        return ids[:, 0], d[:, 0]
    own = np.arange(len(q))
    first_is_self = ids[:, 0] == own
    return np.where(first_is_self, ids[:, 1], ids[:, 0]), np.where(first_is_self, d[:, 1], d[:, 0])


# ------------------------------------------------------------------ 1. BODY25 LOO ------------------------

def loo_body25(ctx: Context) -> dict:
    from posesearch.corpus.store import Corpus
    from posesearch.poses.layouts import COCO17
    from posesearch.poses.mirror import mirror
    from posesearch.poses.normalize import normalize_batch

    path = ctx.data.corpus.path if ctx.data is not None else None
    if path is None:
        return {"skipped": "no benchmark corpus"}
    with Corpus.open(path) as c:
        ids = np.asarray(c.clip_ids())
        ci = np.asarray(c.clip_indices())
        is_b = np.char.startswith(ids.astype(str), "pck:")[ci]
        rows = np.flatnonzero(is_b & np.asarray(c.valid))
        if len(rows) == 0:
            return {"skipped": "the BODY25 pose set (pose_classification_kit) is not in the corpus"}
        labels_all = np.asarray(c.clip_labels("label"), dtype=object)
        a, b = int(rows.min()), int(rows.max()) + 1
        kp = np.asarray(c.keypoints(a, b), np.float64)[rows - a]
        cf = np.asarray(c.confidences(a, b), np.float64)[rows - a]
        vec = np.asarray(c.vectors(a, b), np.float64)[rows - a]
        labels = labels_all[ci[rows]].astype(str)
    n_all = len(rows)
    if ctx.settings.quality_poses and ctx.settings.quality_poses < n_all:
        pick = np.sort(np.random.default_rng(ctx.settings.seed).choice(n_all, ctx.settings.quality_poses, replace=False))
        kp, cf, vec, labels = kp[pick], cf[pick], vec[pick], labels[pick]
    n = len(labels)
    present = (cf > 0) & ~np.isnan(kp).any(-1)
    kp0 = np.where(present[..., None], kp, 0.0)
    mk, mc = mirror(kp0, cf, COCO17)
    mpresent = (mc > 0)
    mk = np.where(mpresent[..., None], mk, 0.0)
    mvec, mok = normalize_batch(mk, mc, on_invalid="mask")
    merged = np.array([merge_sides(s) for s in labels])
    res: dict = {"poses": int(n), "classes": int(len(np.unique(labels))),
                 "merged_classes": int(len(np.unique(merged))),
                 "left_right_pairs": sorted({m for m in merged if "*" in m}), "distances": {}}
    w = np.where(present, cf, 0.0)
    for dist in ("cosine", "weighted", "procrustes"):
        ctx.say(f"quality/body25: leave-one-out {dist}")
        if dist == "procrustes":
            i0, d0 = procrustes_nn(kp0, present, kp0, present, True)
            i1, d1 = procrustes_nn(kp0, present, mk, mpresent, True)
        else:
            i0, d0 = _nn_vectors(vec, vec, w, dist, True)
            i1, d1 = _nn_vectors(vec, np.where(mok[:, None], mvec, vec), np.where(present, mc, 0.0)
                                 if dist == "weighted" else None, dist, True)
            i1 = np.where(mok, i1, i0)
            d1 = np.where(mok, d1, d0)
        im = np.where(d1 < d0, i1, i0)
        for tag, nn in (("plain", i0), ("mirror_invariant", im)):
            ok = nn >= 0
            res["distances"].setdefault(dist, {})[tag] = {
                "accuracy": float((labels[np.where(ok, nn, 0)] == labels)[ok].mean()),
                "accuracy_left_right_merged": float((merged[np.where(ok, nn, 0)] == merged)[ok].mean()),
                "per_class": {str(L): float((labels[nn[labels == L]] == L).mean()) for L in np.unique(labels)},
            }
    return res


# ------------------------------------------------------------------ 2. Penn Action scoring ---------------

def penn_scoring(ctx: Context) -> dict:
    """Run :mod:`posesearch_bench.scoring_quality` in a fresh interpreter (its worker pool forks, which is
    unsafe in a process that already used OpenMP threads) and read its JSON."""
    import subprocess

    if ctx.settings.penn_queries <= 0:
        return {"skipped": "penn_queries = 0"}
    data_dir = ctx.data_dir or default_data_dir()
    labels = (data_dir / "penn_action" / "labels").resolve()
    if not labels.exists():
        return {"skipped": f"Penn Action not found at {labels}"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.json"
        argv = ["--data", str(labels), "--queries", str(ctx.settings.penn_queries), "--seed", str(ctx.settings.seed),
                "--out", str(out)]
        if not ctx.settings.quick:
            argv += ["--workers", "2"]
        ctx.say(f"quality/penn: posesearch_bench.scoring_quality {' '.join(argv[2:])}")
        p = subprocess.run([sys.executable, "-m", "posesearch_bench.scoring_quality", *argv], capture_output=True,
                           text=True, timeout=7200, env=child_env())
        if p.returncode != 0 or not out.exists():
            tail = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
            raise RuntimeError(f"posesearch_bench.scoring_quality failed: {tail[:200]}")
        res = json.loads(out.read_text())
    res["source"] = "posesearch_bench.scoring_quality, also python -m posesearch_bench.scoring_quality"
    return res


# ------------------------------------------------------------------ 3. CMU view angles -------------------

def view_angles(ctx: Context) -> dict:
    from posesearch.corpus.readers import bvh
    from posesearch.errors import PoseSearchError
    from posesearch.poses.procrustes import procrustes_distance
    from posesearch.sequence.score import ScoreSettings, prepare_reference, prepare_user, score_prepared
    from .data import default_data_dir

    st = ctx.settings
    folder = (ctx.data_dir or default_data_dir()) / "cmu_mocap" / "bvh"
    files = sorted(folder.glob("*.bvh")) if folder.exists() else []
    if not files:
        return {"skipped": f"CMU mocap not found at {folder}"}
    if st.view_clips:
        files = files[:st.view_clips]
    yaws = (0.0, 30.0, 60.0)
    clips: dict = {}
    for c in bvh.read(files, views=yaws, every=2):
        stem = c.clip_id.split(":")[1]
        t = int(round(st.view_seconds * (c.fps or 30.0)))
        c.keypoints, c.confidences = c.keypoints[:t], c.confidences[:t]
        # this section measures the 2D scorer across views (as before 3D joints were read): without the 3D
        # joints, view="auto" stays 2d; benchmarks/bench_view.py measures the 3d-fit and lifted views
        c.points3d = None
        if c.times is not None:
            c.times = c.times[:t]
        for key in list(c.frame_labels):
            c.frame_labels[key] = c.frame_labels[key][:t]
        clips[(stem, float(c.labels.get("view", 0)))] = c
    stems = sorted({s for s, _ in clips})
    desc = {s: clips[(s, 0.0)].labels.get("description", s).strip().lower() for s in stems}
    settings = ScoreSettings()
    refs = {s: prepare_reference(clips[(s, 0.0)], settings) for s in stems}
    ctx.say(f"quality/views: {len(stems)} CMU clips x yaws {yaws}, {st.view_seconds:g} s each")
    users = {}

    def user(s, yaw):
        if (s, yaw) not in users:
            users[(s, yaw)] = prepare_user(clips[(s, yaw)], refs[s].fps, settings)
        return users[(s, yaw)]

    def frame_proc(a, b):
        n = min(len(a), len(b))
        pa, pb = a.keypoints[:n].astype(np.float64), b.keypoints[:n].astype(np.float64)
        ca, cb = a.confidences[:n], b.confidences[:n]
        from posesearch.poses.layouts import get_layout

        la, lb = get_layout(a.layout), get_layout(b.layout)
        pa, ca = la.convert_to_coco(pa, ca)
        pb, cb = lb.convert_to_coco(pb, cb)
        return float(np.mean(procrustes_distance(pa, pb, conf_target=ca, conf_source=cb)))

    pos = {30.0: [], 60.0: []}
    pos_d = {30.0: [], 60.0: []}
    neg, neg_d = [], []
    for s in stems:
        for yaw in (30.0, 60.0):
            try:
                pos[yaw].append(score_prepared(refs[s], user(s, yaw)).score)
            except PoseSearchError:
                continue
            pos_d[yaw].append(frame_proc(clips[(s, 0.0)], clips[(s, yaw)]))
        for o in stems:
            if o == s or desc[o] == desc[s]:
                continue
            try:
                sc = score_prepared(refs[s], user(o, 0.0)).score
            except PoseSearchError:
                continue
            neg.append(sc)
            neg_d.append(frame_proc(clips[(s, 0.0)], clips[(o, 0.0)]))
    out: dict = {"clips": len(stems), "seconds_per_clip": st.view_seconds, "fps": 30, "yaws": list(yaws),
                 "negatives": len(neg), "negative_rule": "other clips at yaw 0 with a different description",
                 "score_settings": settings.to_dict() if hasattr(settings, "to_dict") else str(settings)}
    for yaw in (30.0, 60.0):
        out[f"yaw{int(yaw)}"] = {
            "positives": len(pos[yaw]),
            "score_same_median": float(np.median(pos[yaw])) if pos[yaw] else None,
            "score_other_median": float(np.median(neg)) if neg else None,
            "auc_score": roc_auc(np.array(pos[yaw]), np.array(neg)),
            "procrustes_same_median": float(np.median(pos_d[yaw])) if pos_d[yaw] else None,
            "procrustes_other_median": float(np.median(neg_d)) if neg_d else None,
            "auc_procrustes": roc_auc(-np.array(pos_d[yaw]), -np.array(neg_d)),
        }
    return out


def run(ctx: Context) -> dict:
    """The three parts; one that crashes is recorded (and fails the run) without losing the others."""
    import traceback

    out = {}
    for name, fn in (("body25_loo", loo_body25), ("penn_scoring", penn_scoring), ("cmu_views", view_angles)):
        try:
            out[name] = fn(ctx)
        except ImportError as e:
            out[name] = {"skipped": f"needs a module not available yet: {e}"}
        except Exception as e:
            ctx.failures.add(f"quality/{name}", [f"crashed: {type(e).__name__}: {e}"])
            out[name] = {"crashed": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
            ctx.say(f"quality/{name}: CRASHED: {type(e).__name__}: {e}")
    return out
