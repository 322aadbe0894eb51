"""Scoring across camera angles on CMU motion capture (issue 20): ``python benchmarks/bench_view.py``.

The experiment of :func:`posesearch_bench.quality.view_angles` (the suite's "view-angle robustness"),
extended to every view mode and to the issue's criteria:

* every CMU clip (first ``--seconds`` s, 30 fps) filmed at yaw 0 is the **reference** (with its 3D joints,
  as the BVH reader gives them); **positives**: the same clip filmed at yaw θ (2D only, no 3D joints: a
  user's recording); **negatives**: every other clip with another description, filmed at yaw 0 (2D only);
* ``pairs θ``: over every reference, the share of (positive at θ, negative) pairs of that reference
  in which the positive scores higher (ties count half) — the issue's "a same-motion clip filmed at yaw θ
  must outscore a different-motion clip filmed at 0° in ≥ 95% of pairs at 60°, ≥ 90% at 90°";
  ``AUC θ``: the same over all positives against all negatives (the suite's figure);
* **nothing lost at 0°**: self (the yaw-0 clip against itself) ≥ 99, degraded self (the yaw-0 clip
  as a webcam user: 10 fps, 2% jitter, 0.3 s late, 20% slower, mirrored) ≥ 90;
* **cost**: a 60 s reference (a CMU clip looped) against a degraded user filmed at yaw 60: the median
  of ``--repeat`` timings of ``score_sequence`` with the camera fit over the 2D scoring (target ≤ 3×).

Modes: ``2d``, ``3d-fit``, and ``lifted`` when ``posesearch.view.lift`` is installed (the reference's
3D joints are then dropped and its 2D view lifted). Writes ``benchmarks/results/view.json`` and
``view.md`` (tables per θ and mode).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

from .scoring_quality import roc_auc

YAWS = (0.0, 30.0, 60.0, 90.0, 135.0, 180.0)
TARGETS = {"pairs60": 0.95, "pairs90": 0.90, "self": 99.0, "degraded_self": 90.0, "cost_ratio": 3.0}


def load_clips(folder: Path, yaws, seconds: float, limit: int = 0):
    """{(stem, yaw): Sequence (cmu19, 30 fps, first ``seconds`` s, 3D joints)} and {stem: description}."""
    from posesearch.corpus.readers import bvh
    from posesearch.sequence.sequence import sequence_from_clip

    files = sorted(folder.glob("*.bvh"))
    if limit:
        files = files[:limit]
    clips, desc = {}, {}
    for c in bvh.read(files, views=yaws, every=2):
        stem = c.clip_id.split(":")[1]
        s = sequence_from_clip(c)
        clips[(stem, float(c.labels["view"]))] = s.slice(0, int(round(seconds * s.fps)))
        desc[stem] = c.labels.get("description", stem).strip().lower()
    return clips, desc


def user_of(seq):
    """The 2D recording a user would send: no 3D joints."""
    return seq.replace(points3d=None, name="user")


#: modes measured on 2D-only references of the held-out subject(s) (--lifted-references); "auto" there is
#: the choice between 2d and lifted (a reference with 3D joints always gets 3d-fit)
TWO_D_REFERENCE_MODES = ("lifted", "auto")


def reference_for(seq, mode: str):
    """The reference as the mode sees it: lifted (and auto, here) works from 2D only."""
    return seq.replace(points3d=None) if mode in TWO_D_REFERENCE_MODES else seq


def run_mode(mode: str, clips, desc, yaws, say, references=None, degraded_positives: bool = False) -> dict:
    from posesearch.errors import PoseSearchError
    from posesearch.sequence.score import ScoreSettings, score_sequence
    from posesearch.sequence.simulate import degrade

    st = ScoreSettings(view=mode)
    stems = sorted({s for s, _ in clips})
    refs = [s for s in stems if references is None or s in references]
    pos = {y: {} for y in yaws}
    pos_deg = {y: {} for y in yaws}         # the positive as a webcam user (degrade: 10 fps, jitter, late, ...)
    neg: dict[str, list[float]] = {s: [] for s in refs}
    selfs, degraded, fitted, t0 = [], [], {y: [] for y in yaws}, time.perf_counter()
    chosen = {y: [] for y in yaws}          # the mode each positive was scored in (what auto chose)
    chosen_neg: list[str] = []
    fails = 0
    for i, s in enumerate(refs):
        ref = reference_for(clips[(s, 0.0)], mode)
        for y in yaws:
            try:
                r = score_sequence(ref, user_of(clips[(s, y)]), settings=st)
            except PoseSearchError:
                fails += 1
                continue
            pos[y][s] = r.score
            chosen[y].append(r.view["mode"])
            if "camera" in r.view:
                fitted[y].append(r.view["camera"]["yaw"])
            if degraded_positives:
                pos_deg[y][s] = score_sequence(ref, degrade(user_of(clips[(s, y)]), seed=i), settings=st).score
        selfs.append(pos[0.0].get(s, np.nan))
        degraded.append(score_sequence(ref, degrade(user_of(clips[(s, 0.0)]), seed=i), settings=st).score)
        for o in stems:
            if o == s or desc[o] == desc[s]:
                continue
            try:
                r = score_sequence(ref, user_of(clips[(o, 0.0)]), settings=st)
                neg[s].append(r.score)
                chosen_neg.append(r.view["mode"])
            except PoseSearchError:
                fails += 1
        say(f"  {mode}: {i + 1}/{len(refs)} references, {time.perf_counter() - t0:.0f} s")
    all_neg = np.concatenate([np.asarray(v, float) for v in neg.values()]) if neg else np.zeros(0)
    out = {"mode": mode, "references": len(refs), "reference_clips": "all" if references is None else refs,
           "negatives": int(all_neg.size), "failed_pairs": fails,
           "self_min": float(np.nanmin(selfs)), "self_median": float(np.nanmedian(selfs)),
           "degraded_self_min": float(np.min(degraded)), "degraded_self_median": float(np.median(degraded)),
           "score_other_median": float(np.median(all_neg)), "seconds": round(time.perf_counter() - t0, 1),
           "negatives_scored_as": {m: chosen_neg.count(m) for m in sorted(set(chosen_neg))},
           "per_yaw": {}}
    def won(scores):
        wins, n = 0.0, 0
        for s, p in scores.items():
            nv = np.asarray(neg[s], float)
            wins += float((p > nv).sum() + 0.5 * (p == nv).sum())
            n += nv.size
        return wins / n if n else None

    for y in yaws:
        vals = np.array(list(pos[y].values()), float)
        err = np.abs((np.asarray(fitted[y]) - y + 180.0) % 360.0 - 180.0) if fitted[y] else None
        out["per_yaw"][str(int(y))] = {
            "positives": int(vals.size), "score_same_median": float(np.median(vals)) if vals.size else None,
            "score_same_p10": float(np.percentile(vals, 10)) if vals.size else None,
            "pairs_won": won(pos[y]), "auc": roc_auc(vals, all_neg),
            "degraded_same_median": float(np.median(list(pos_deg[y].values()))) if pos_deg[y] else None,
            "degraded_pairs_won": won(pos_deg[y]) if pos_deg[y] else None,
            "fitted_yaw_error_median": float(np.median(err)) if err is not None else None,
            "fitted_yaw_error_max": float(np.max(err)) if err is not None else None,
            "scored_as": {m: chosen[y].count(m) for m in sorted(set(chosen[y]))}}
    return out


def cost(folder: Path, repeat: int, say) -> dict:
    """Median seconds of score_sequence, 2d vs 3d-fit, for a 60 s reference and a degraded yaw-60 user."""
    from posesearch.corpus.readers import bvh
    from posesearch.sequence.score import ScoreSettings, score_sequence
    from posesearch.sequence.sequence import Sequence, sequence_from_clip
    from posesearch.sequence.simulate import degrade

    c0, c60 = bvh.read(folder / "005_01.bvh", views=(0.0, 60.0), every=2)   # a walk, looped to 60 s
    a, b = sequence_from_clip(c0), sequence_from_clip(c60)
    n = int(np.ceil(60.0 * a.fps / len(a)))

    def loop(s, with3d):
        kp = np.concatenate([s.keypoints] * n)[:int(60 * s.fps)]
        p3 = np.concatenate([s.points3d] * n)[:len(kp)] if with3d else None
        return Sequence(kp, np.ones(kp.shape[:2]), s.layout, fps=s.fps, name="reference", points3d=p3)

    ref = loop(a, True)
    user = degrade(loop(b, False), seed=0)
    times, scores = {}, {}
    from posesearch.sequence.view import lift_available

    for mode in ("2d", "3d-fit") + (("lifted", "auto") if lift_available() else ()):
        st = ScoreSettings(view=mode)
        r_in = reference_for(ref, mode)
        score_sequence(r_in, user, settings=st)           # warm (compiled kernels)
        ts = []
        for _ in range(repeat):
            t = time.perf_counter()
            r = score_sequence(r_in, user, settings=st)
            ts.append(time.perf_counter() - t)
        times[mode], scores[mode] = float(np.median(ts)), r.score
        say(f"  cost {mode}: {times[mode] * 1000:.0f} ms (score {r.score:.1f})")
    return {"reference_seconds": 60.0, "user": "the reference filmed at yaw 60, degraded (10 fps, 2% jitter, "
                                               "0.3 s late, 20% slower, mirrored)",
            "repeat": repeat, "seconds": times, "scores": scores,
            "ratio": {m: times[m] / times["2d"] for m in times if m != "2d"}}


def markdown(res: dict) -> str:
    f = lambda v, d=1: "n/a" if v is None else f"{v:.{d}f}"      # noqa: E731
    lines = [f"# Scoring across camera angles (CMU mocap, {res['references']} clips x {res['seconds']:g} s, "
             f"{res['negatives_per_mode']} negative pairs per mode)", "",
             "Reference: the clip filmed at yaw 0 (with its 3D joints for 3d-fit). Positive: the same clip filmed "
             "at yaw θ (2D). Negative: another motion (another description) filmed at yaw 0 (2D). "
             "`pairs won`: share of (positive, negative) pairs of the same reference where the positive scores "
             "higher (target ≥ 0.95 at 60°, ≥ 0.90 at 90°).", ""]
    for m in res["modes"]:
        held = m.get("reference_clips", "all")
        lines += [f"## view = {m.get('label', m['mode'])}", ""] + ([] if held == "all" else [
                  f"References: the {len(held)} clips of CMU subject(s) {m.get('subjects', '')}"
                  f"{' (held out from the lifting model training), 2D only' if m['mode'] in ('lifted', 'auto') else ''} "
                  f"({', '.join(held[:3])}, ...); users and negatives: every clip.", ""]) + [
                  f"self min {f(m['self_min'])} (median {f(m['self_median'])}), degraded self min "
                  f"{f(m['degraded_self_min'])} (median {f(m['degraded_self_median'])}), other motions median "
                  f"{f(m['score_other_median'])}; {m['seconds']:.0f} s", ""] + ([
                  "Negatives scored as: " + ", ".join(f"{k} {v}" for k, v in m["negatives_scored_as"].items()), ""]
                  if m["mode"] == "auto" and m.get("negatives_scored_as") else []) + [
                  "| yaw θ | same motion median | p10 | pairs won | AUC | fitted yaw error median / max | "
                  "degraded user: median / pairs won | scored as |",
                  "|---|---|---|---|---|---|---|---|"]
        for y, v in m["per_yaw"].items():
            fe = ("—" if v["fitted_yaw_error_median"] is None
                  else f"{v['fitted_yaw_error_median']:.1f}° / {v['fitted_yaw_error_max']:.1f}°")
            dg = ("—" if v.get("degraded_pairs_won") is None
                  else f"{f(v['degraded_same_median'])} / {f(v['degraded_pairs_won'], 4)}")
            lines.append(f"| {y}° | {f(v['score_same_median'])} | {f(v['score_same_p10'])} | "
                         f"{f(v['pairs_won'], 4)} | {f(v['auc'], 4)} | {fe} | {dg} | "
                         f"{', '.join(f'{k} {n}' for k, n in v.get('scored_as', {}).items()) or '—'} |")
        lines.append("")
    c = res.get("cost")
    if c:
        lines += ["## cost", "", f"60 s reference, degraded user filmed at yaw 60, median of {c['repeat']} runs:", "",
                  "| view | ms | × 2d | score |", "|---|---|---|---|"]
        lines += [f"| {m} | {c['seconds'][m] * 1000:.0f} | {c['ratio'].get(m, 1.0):.2f} | {c['scores'][m]:.1f} |"
                  for m in c["seconds"]] + [""]
    lines += ["## targets", ""] + [f"- {k}: {v}" for k, v in res["targets"].items()] + [""]
    return "\n".join(lines)


def targets(res: dict) -> dict:
    out = {}
    for m in res["modes"]:
        py = m["per_yaw"]
        name = m.get("label", m["mode"])
        for y, key in (("60", "pairs60"), ("90", "pairs90")):
            if y in py and py[y]["pairs_won"] is not None:
                out[f"{name}: pairs won at {y}° >= {TARGETS[key]}"] = (
                    f"{py[y]['pairs_won']:.4f} {'met' if py[y]['pairs_won'] >= TARGETS[key] else 'NOT met'}")
        out[f"{name}: self >= 99"] = f"{m['self_min']:.1f} {'met' if m['self_min'] >= 99 else 'NOT met'}"
        out[f"{name}: degraded self >= 90"] = (f"{m['degraded_self_min']:.1f} "
                                                   f"{'met' if m['degraded_self_min'] >= 90 else 'NOT met'}")
    full = {m["mode"]: m for m in res["modes"] if m.get("reference_clips", "all") == "all"}
    if "2d" in full and "3d-fit" in full:
        a = {k: m["per_yaw"].get("30", {}).get("auc") for k, m in full.items()}
        out["3d-fit AUC at 30° not lower than 2d"] = f"{a['3d-fit']:.4f} vs {a['2d']:.4f} " + (
            "met" if a["3d-fit"] >= a["2d"] else "NOT met")
    c = res.get("cost")
    for m, v in (c or {}).get("ratio", {}).items():
        out[f"cost {m} / 2d <= 3 (60 s clip)"] = f"{v:.2f} {'met' if v <= 3 else 'NOT met'}"
    return out


def main(argv=None) -> int:
    from posesearch.sequence.view import lift_available

    from .data import default_data_dir

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None, help="datasets folder (default ../shared/data)")
    p.add_argument("--clips", type=int, default=0, help="first N CMU clips (0 = all)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds of each clip")
    p.add_argument("--modes", default="", help="comma-separated view modes (default 2d,3d-fit[,lifted])")
    p.add_argument("--repeat", type=int, default=5, help="timings of the cost experiment")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "results")
    p.add_argument("--lifted-references", default="5",
                   help="CMU subjects whose clips are the references of view lifted (held out from the lifting "
                        "model's training; default 5)")
    p.add_argument("--degraded-positives", action="store_true",
                   help="also score each positive as a webcam user (10 fps, 2%% jitter, 0.3 s late, 20%% slower, "
                        "mirrored)")
    p.add_argument("--references", default="",
                   help="CMU subjects whose clips are the references of every mode (default: all; lifted: "
                        "--lifted-references)")
    p.add_argument("--update", action="store_true",
                   help="keep the other modes (and the cost, with --repeat 0) of an existing view.json")
    p.add_argument("--auto-lifts", action="store_true",
                   help="view auto lifts 2D references (posesearch.sequence.view.AUTO_USES_LIFT on; off by default)")
    a = p.parse_args(argv)
    if a.auto_lifts:
        import posesearch.sequence.view as V

        V.AUTO_USES_LIFT = True
    folder = (a.data or default_data_dir()) / "cmu_mocap" / "bvh"
    if not folder.exists():
        print(f"CMU mocap not found at {folder}", file=sys.stderr)
        return 2
    say = lambda m: print(m, file=sys.stderr, flush=True)      # noqa: E731
    modes = [m for m in a.modes.split(",") if m] or (["2d", "3d-fit"] + (["lifted"] if lift_available() else []))
    clips, desc = load_clips(folder, YAWS, a.seconds, a.clips)
    res = {"machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
           "data": str(folder), "references": len({s for s, _ in clips}), "seconds": a.seconds, "yaws": list(YAWS),
           "modes": []}
    held = {int(v) for v in a.lifted_references.split(",") if v.strip()}
    for m in modes:
        say(f"view {m}")
        subjects = held if m in TWO_D_REFERENCE_MODES else {int(v) for v in a.references.split(",") if v.strip()}
        refs = {s for s, _ in clips if int(s.split("_")[0]) in subjects} if subjects else None
        entry = run_mode(m, clips, desc, YAWS, say, refs, a.degraded_positives)
        if subjects:
            entry["subjects"] = ",".join(map(str, sorted(subjects)))
        entry["label"] = m + (" (lifting on)" if m == "auto" and a.auto_lifts else "") + (
            f", references of subject {entry['subjects']}" if subjects else "")
        res["modes"].append(entry)
    old = a.out / "view.json"
    if a.update and old.exists():
        prev = json.loads(old.read_text())
        labels = {m["label"] for m in res["modes"]}
        res["modes"] = [m for m in prev.get("modes", []) if m.get("label", m["mode"]) not in labels] + res["modes"]
        if not a.repeat and "cost" in prev:
            res["cost"] = prev["cost"]
    res["negatives_per_mode"] = res["modes"][0]["negatives"] if res["modes"] else 0
    if a.repeat:
        res["cost"] = cost(folder, a.repeat, say)
    try:
        from posesearch.view.lift import WEIGHTS_PATH, model_info

        import hashlib
        res["lift_model"] = {"weights_sha256": hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest(),
                             "info": model_info()}
    except ImportError:
        res["lift_model"] = None
    res["targets"] = targets(res)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "view.json").write_text(json.dumps(res, indent=1))
    (a.out / "view.md").write_text(markdown(res))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
