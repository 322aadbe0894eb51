"""Repetition segmentation (issue 19): speed on a 5-minute user against a 3 s reference, and accuracy on
constructed truth from real Penn Action reps, for both segmentation methods.

    python benchmarks/bench_reps.py [--trials 30] [--only speed|accuracy] [--out benchmarks/results/reps.json]

Constructed truth (tests/reps_testdata.construct): 6 copies of one real rep at random speed 0.6-1.6x,
pauses 0-1 s, jitter 1% of body size, the whole user mirrored half the time, 2 copies with the knee (squat)
or elbow (push-up) bend reduced by 30 degrees at the deepest point. Targets (issue 19): count exact in
>= 95% of trials, boundaries within 0.2 s in >= 90% of reps, the altered reps exactly the flagged ones in
>= 95% of trials, the altered joint's reported difference within 5 degrees of 30 in >= 95%.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]    # measure this checkout's code (and its tests' data helpers)

from posesearch.sequence.reps import (RepSettings, SEGMENTERS, _distance_matrices, _farthest,  # noqa: E402
                                      _find_prepared, find_reps)
from posesearch.sequence.score import prepare_reference, prepare_user  # noqa: E402
from tests.reps_testdata import PENN_REPS, construct, penn_clip  # noqa: E402

DATA = HERE.parent.parent / "shared" / "data" / "penn_action"
CASES = {
    "squat": ("knee", RepSettings()),
    "pushup": ("elbow", RepSettings(angle_tolerances={"left_knee": 30, "right_knee": 30, "left_hip": 30,
                                                      "right_hip": 30})),
}


def rep_of(name):
    cid, a, b = PENN_REPS[name]
    return penn_clip(cid, DATA).slice(a, b)


def speed(repeats: int = 3) -> dict:
    rep = penn_clip(PENN_REPS["squat"][0], DATA)   # the whole squat clip: 88 frames at 30 fps, 2.9 s
    n = 1
    while True:                                  # as many reps as make 5 minutes
        tr = construct(rep, n, 0, np.random.default_rng(0), speed=(0.8, 1.25), pause=(0.2, 1.0), mirror=False)
        if tr.user.duration >= 300:
            break
        n += 10
    user = tr.user
    out = {"reference_s": round(rep.duration, 2), "user_s": round(user.duration, 1), "user_frames": len(user),
           "reps": n}
    st = RepSettings()
    ref = prepare_reference(rep, st.score)
    t = {k: [] for k in ("prepare", "distances", "single-pass", "repeat", "judge_and_feedback", "find_reps_total")}
    for _ in range(repeats):
        t0 = time.perf_counter()
        usr = prepare_user(user, ref.fps, st.score)
        t1 = time.perf_counter()
        mats = _distance_matrices(ref, usr, st.score)
        t2 = time.perf_counter()
        D = mats[False][0]
        far = _farthest(mats[False][2], st.score)
        lo, hi = int(len(ref.seq) / st.max_speed), int(np.ceil(len(ref.seq) / st.min_speed))
        segs = SEGMENTERS["single-pass"](D, st.score.missing, lo, hi, st.max_distance, far)
        t3 = time.perf_counter()
        if not t["repeat"]:        # one full DTW per rep: slow, timed once
            segs_r = SEGMENTERS["repeat"](D, st.score.missing, lo, hi, st.max_distance, far)
        t4 = time.perf_counter()
        rep_report = _find_prepared(ref, usr, st, {})
        t5 = time.perf_counter()
        total = find_reps(rep, user, st)
        t6 = time.perf_counter()
        for k, v in zip(t, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5)):
            if k != "repeat" or not t["repeat"]:
                t[k].append(v)
    out["seconds_median"] = {k: round(float(np.median(v)), 4) for k, v in t.items()}
    out["found"] = {"single-pass": len(segs), "repeat": len(segs_r), "find_reps": total.count, "true": n}
    out["note"] = ("prepare = smoothing + resampling the user; distances = the (Tu x Tr) Procrustes matrix, "
                   "both mirror states; single-pass / repeat = segmentation alone; judge = _find_prepared "
                   "(segmentation, partial stretches, per-rep path, score, angles, timing) after the matrix; "
                   "find_reps_total = the whole call")
    del rep_report
    return out


def accuracy(trials: int, method: str) -> dict:
    res = {}
    for name, (joint, st) in CASES.items():
        st = st.replace(method=method)
        rep = rep_of(name)
        a = dict(trials=0, count=0, bounds=0, n_bounds=0, flags=0, angle=0, n_angle=0, seconds=0.0)
        errs = []
        for s in range(trials):
            tr = construct(rep, 6, 2, np.random.default_rng(1000 + s), joint=joint)
            t0 = time.perf_counter()
            r = find_reps(rep, tr.user, st)
            a["seconds"] += time.perf_counter() - t0
            whole = [x for x in r.reps if not x.partial]
            a["trials"] += 1
            if len(whole) != len(tr.starts):
                continue
            a["count"] += 1
            b = np.abs(np.array([x.start for x in whole]) - tr.starts)
            e = np.abs(np.array([x.end for x in whole]) - tr.ends)
            a["bounds"] += int(((b <= 0.2) & (e <= 0.2)).sum())
            a["n_bounds"] += len(b)
            a["flags"] += bool((np.array([x.bad for x in whole]) == tr.altered).all())
            for x, alt in zip(whole, tr.altered):
                if alt:
                    a["n_angle"] += 1
                    d = [y.degrees for y in x.angles if y.angle == tr.joint]
                    if d:
                        errs.append(d[0] - tr.degrees)
                    a["angle"] += bool(d) and abs(d[0] - tr.degrees) <= 5
        a["rates"] = {"count_exact": a["count"] / a["trials"],
                      "bounds_within_0.2s": a["bounds"] / max(a["n_bounds"], 1),
                      "flags_exact": a["flags"] / a["trials"], "angle_within_5deg": a["angle"] / max(a["n_angle"], 1)}
        a["angle_error_deg"] = {"median": float(np.median(errs)) if errs else None,
                                "max_abs": float(np.max(np.abs(errs))) if errs else None}
        a["seconds"] = round(a["seconds"] / a["trials"], 4)
        res[name] = a
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "reps.json")
    ap.add_argument("--only", choices=("speed", "accuracy"), help="run one part, keep the other's results in --out")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"needs Penn Action at {DATA}", file=sys.stderr)
        return 2
    out = json.loads(args.out.read_text()) if args.only and args.out.exists() else {}
    out["machine"] = {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()}
    if args.only in (None, "speed"):
        out["speed_5min_user_3s_reference"] = speed()
    if args.only in (None, "accuracy"):
        for m in ("single-pass", "repeat"):
            out[f"accuracy_{m}"] = accuracy(args.trials, m)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
