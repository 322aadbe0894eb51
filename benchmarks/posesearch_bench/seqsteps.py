"""Sequence benchmarks: smoothing quality (jitter removed, lag added) and timings of every step.

1. Smoothing on real motion: CMU mocap clips (``<data>/cmu_mocap/bvh``, the data root of
   :func:`posesearch_bench.data.default_data_dir`, or ``--data``; clips of :data:`CMU_CLIPS` missing
   there are left out) projected to 2-D at
   30 fps (camera 30 degrees off the front), Gaussian noise of ``--noise`` (default 2%) of the body
   height added to every coordinate. For each filter: RMS error against the clean motion (in % of
   body height; "none" is the raw noise), and the lag it adds: the shift (ms, parabolic sub-frame
   refinement) maximising the cross-correlation between the filtered and the clean velocity.
   ``--tune`` also grid-searches the Kalman process noise and the One Euro (min_cutoff, beta).
2. Timings for 10 s, 60 s and 300 s references at 30 fps (``synthetic_motion``) with a user made
   from it by :func:`~posesearch.sequence.simulate.degrade` (10 fps, 2% jitter, 0.3 s late, 20%
   slower, mirrored): smoothing, resampling, the banded frame-distance matrix, each aligner, and the
   full :func:`score_sequence` (mirror auto, so two matrices and two alignments), median of repeats;
   and the live :class:`~posesearch.sequence.stream.ScoreSession` (ms per pushed 10 fps frame, each
   making three 30 fps grid frames, two mirror states).
3. The 60 s row also holds the issue-21 / issue-18 targets (:func:`whole_pipeline`, :func:`live_push`):
   ``whole_pipeline``: ``score_sequence`` of the 60 s reference (30 fps) and its degraded 10 fps user,
   target <= :data:`WHOLE_PIPELINE_TARGET_MS`, with the first call (numba kernels loaded from the cache
   or compiled) apart and a profile of one call (CPU ms per step); ``live``: per-push wall and CPU
   time (median / p99 us) of a ScoreSession on it, target <= :data:`LIVE_PUSH_TARGET_US` (CPU), the
   sessions 2 cores could hold at 10 fps from it, and its answer checked (the session's report() must
   equal score_sequence of the same frames, and the degraded copy must score >= 90).

    cd benchmarks && python -m posesearch_bench.seqsteps [--quick] [--tune] [--data DIR] [--out results.json]
    python benchmarks/bench_sequence.py ...      # same, from the checkout root

``posesearch bench`` (section ``sequence``) runs it and keeps its JSON under ``helper``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .data import default_data_dir

#: issue 21: whole-pipeline scoring of a 60 s user (10 fps) against a 60 s reference (30 fps), ms
WHOLE_PIPELINE_TARGET_MS = 30.0
#: issue 18: CPU time of one ScoreSession.push on a 60 s reference (10 fps user), microseconds
LIVE_PUSH_TARGET_US = 1000.0

CMU_CLIPS = ["002_01.bvh", "002_05.bvh", "002_07.bvh", "005_02.bvh", "002_06.bvh"]


def _timeit(fn, repeat):
    fn()                                    # warm-up (numba compile / cache load, allocations)
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def lag_ms(filtered: np.ndarray, clean: np.ndarray, fps: float, max_lag: int = 15) -> float:
    """Delay of ``filtered`` behind ``clean`` (T, C): argmax of the velocity cross-correlation, refined."""
    f = np.diff(filtered, axis=0)
    c = np.diff(clean, axis=0)
    f = f - f.mean(0)
    c = c - c.mean(0)
    T = len(f)
    lags = np.arange(-max_lag, max_lag + 1)
    cc = np.array([(f[max(0, k):T + min(0, k)] * c[max(0, -k):T - max(0, k)]).sum() /
                   (T - abs(k)) for k in lags])
    i = int(np.argmax(cc))
    shift = float(lags[i])
    if 0 < i < len(cc) - 1:
        a, b, d = cc[i - 1], cc[i], cc[i + 1]
        den = a - 2 * b + d
        if den != 0:
            shift += 0.5 * (a - d) / den
    return 1000.0 * shift / fps


def load_cmu(folder: Path, n_clips: int, seconds: float):
    """The first ``n_clips`` of :data:`CMU_CLIPS` found in ``folder``, 30 fps, yaw 30, first ``seconds`` s."""
    from posesearch.corpus.readers import bvh
    from posesearch.sequence import sequence_from_clip

    out = []
    for f in [c for c in CMU_CLIPS if (folder / c).exists()][:n_clips]:
        clip = next(bvh.read(folder / f, views=[30.0], every=2))     # 60 -> 30 fps
        s = sequence_from_clip(clip).to_coco()
        out.append((f, s.slice(0, int(seconds * 30))))
    return out


def smoothing_quality(clips, noise: float, seed: int, filters: dict) -> dict:
    from posesearch.sequence.simulate import body_height
    from posesearch.sequence.smooth import smooth

    rng = np.random.default_rng(seed)
    rows = {name: {"rms": [], "lag": []} for name in filters}
    for name_clip, clean in clips:
        H = body_height(clean)
        pres = clean.present
        noisy = clean.replace(keypoints=np.where(pres[..., None],
                                                 clean.keypoints + rng.normal(0, noise * H, clean.keypoints.shape), 0))
        for name, (method, kw) in filters.items():
            out = smooth(noisy, method, **kw)
            err = (out.keypoints - clean.keypoints)[pres]
            rows[name]["rms"].append(100 * np.sqrt((err ** 2).mean()) / H)
            k = pres.all(axis=0)
            T = len(clean)
            rows[name]["lag"].append(lag_ms(out.keypoints[:, k].reshape(T, -1), clean.keypoints[:, k].reshape(T, -1),
                                            30.0))
    return {name: {"rms_error_pct_height": round(float(np.mean(v["rms"])), 3),
                   "lag_ms": round(float(np.mean(v["lag"])), 1)} for name, v in rows.items()}


def tune(clips, noise, seed):
    from posesearch.sequence.smooth import KalmanSettings, OneEuroSettings

    kal = {}
    for q in (0.5, 1, 2, 5, 10, 20, 50, 100):
        r = smoothing_quality(clips, noise, seed, {
            "rts": ("kalman", {"kalman": KalmanSettings(process_noise=q)}),
            "causal": ("kalman", {"kalman": KalmanSettings(process_noise=q, rts=False)})})
        kal[q] = {"rts": r["rts"], "causal": r["causal"]}
    oe = {}
    for mc in (0.25, 0.5, 1.0, 2.0):
        for beta in (2.0, 4.0, 8.0, 16.0, 32.0):
            r = smoothing_quality(clips, noise, seed,
                                  {"o": ("one-euro", {"one_euro": OneEuroSettings(min_cutoff=mc, beta=beta)})})
            oe[f"min_cutoff={mc},beta={beta}"] = r["o"]
    best_k = min(kal, key=lambda q: kal[q]["rts"]["rms_error_pct_height"])
    best_o = min(oe, key=lambda k: oe[k]["rms_error_pct_height"])
    return {"kalman_process_noise": {str(k): v for k, v in kal.items()}, "kalman_best": best_k,
            "one_euro": oe, "one_euro_best": best_o}


#: profile steps of :func:`whole_pipeline`: label -> (module suffix, function name); CPU time of the whole call
#: under each (nested steps are inside their parents: the matrix and dtw inside score_prepared; the reference's
#: preparation is prepare_reference's, which score_sequence runs beside the user's)
PROFILE_STEPS = {
    "view auto-detection": ("sequence/view.py", "view_reference"),
    "prepare reference (normalize, smooth, fill, features)": ("sequence/score.py", "_prepare_checked_reference"),
    "prepare user (normalize, smooth, resample, mirror, features)": ("sequence/score.py", "prepare_user"),
    "  of which smoothing": ("sequence/smooth.py", "smooth"),
    "  of which resampling": ("sequence/resample.py", "resample"),
    "  of which frame features": ("sequence/framedist.py", "features_from_arrays"),
    "  of which Sequence validation": ("sequence/sequence.py", "__post_init__"),
    "score_prepared (both mirror states, moments, report)": ("sequence/score.py", "score_prepared"),
    "  frame-distance matrices (Procrustes, banded)": ("sequence/framedist.py", "frame_distance_matrix"),
    "  DTW alignment": ("sequence/_align_kernels.py", "dtw"),
    "  distance rows + DTW in one pass (ProcrustesRows, both states)": ("sequence/framedist.py", "dtw"),
    "  per-pair joint errors": ("sequence/framedist.py", "pair_errors"),
    "  moments (per-moment / per-joint scores)": ("sequence/score.py", "_moments"),
    "  user motion ratio": ("sequence/score.py", "_motion_ratio"),
}


def profile_steps(fn, calls: int = 3) -> dict:
    """CPU ms per call of each :data:`PROFILE_STEPS` step (cProfile cumulative time, process-time clock), with numba
    on one thread: scoring then runs every step on this thread (cProfile sees this thread's calls only, and the
    process-time clock would charge the worker thread's CPU to whichever step this thread is in)."""
    import cProfile
    import pstats

    import numba

    threads = numba.get_num_threads()
    pr = cProfile.Profile(time.process_time)
    numba.set_num_threads(1)
    try:
        pr.enable()
        for _ in range(calls):
            fn()
        pr.disable()
    finally:
        numba.set_num_threads(threads)
    st = pstats.Stats(pr).stats
    total = 0.0
    out = {}
    for (path, _line, name), (_cc, _nc, _tt, ct, _callers) in st.items():
        if name == "score_sequence" and path.endswith("sequence/score.py"):
            total = max(total, ct)
        for label, (suffix, func) in PROFILE_STEPS.items():
            if name == func and path.endswith(suffix):
                out[label] = out.get(label, 0.0) + ct
    res = {"whole call": round(1000 * total / calls, 2)}
    res.update({k: round(1000 * out.get(k, 0.0) / calls, 2) for k in PROFILE_STEPS})
    return res


def whole_pipeline(ref, user, repeat: int) -> dict:
    """``score_sequence(ref, user)`` with default settings: first call, median of ``repeat`` warm calls, profile."""
    from posesearch.sequence import score_sequence

    t0 = time.perf_counter()
    rep = score_sequence(ref, user)
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        score_sequence(ref, user)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = 1000 * float(np.median(wall))
    return {"what": f"{user.duration:.0f} s user @{user.fps:g} fps vs {ref.duration:.0f} s reference @{ref.fps:g} fps, "
                    f"whole pipeline (score_sequence, default settings, mirror auto)",
            "median_ms": round(med, 2), "cpu_median_ms": round(1000 * float(np.median(cpu)), 2),
            "first_call_ms": round(1000 * first, 1), "target_ms": WHOLE_PIPELINE_TARGET_MS,
            "met": med <= WHOLE_PIPELINE_TARGET_MS, "score": round(rep.score, 6),
            "profile_cpu_ms": profile_steps(lambda: score_sequence(ref, user))}


def live_push(ref, user) -> dict:
    """Per-push time of a :class:`~posesearch.sequence.stream.ScoreSession` fed ``user`` frame by frame."""
    from posesearch.sequence import score_sequence
    from posesearch.sequence.stream import ScoreSession

    arr = np.nan_to_num(user.as_array())
    t0 = time.perf_counter()
    sess = ScoreSession(ref)
    sess.push(arr[0], user.times[0])
    cold = time.perf_counter() - t0
    sess = ScoreSession(ref)
    wall, cpu = [], []
    for i in range(len(user)):
        t0, c0 = time.perf_counter(), time.thread_time()
        sess.push(arr[i], user.times[i])
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
    wall, cpu = 1e6 * np.array(wall), 1e6 * np.array(cpu)
    offline = score_sequence(ref, sess.user_sequence())
    report = sess.report()
    problems = []
    if report.score != offline.score:
        problems.append(f"report() {report.score!r} != score_sequence {offline.score!r}")
    if not sess.final_score >= 90.0:
        problems.append(f"final_score of a degraded copy {sess.final_score:.2f}, expected >= 90")
    med_cpu = float(np.median(cpu))
    return {"what": f"ScoreSession.push, {ref.duration:.0f} s reference @{ref.fps:g} fps, user @{user.fps:g} fps "
                    f"(about {ref.fps / user.fps:.0f} grid frames per push, mirror auto: two states)",
            "pushes": len(user), "median_us": round(float(np.median(wall)), 1),
            "p99_us": round(float(np.percentile(wall, 99)), 1), "cpu_median_us": round(med_cpu, 1),
            "cpu_p99_us": round(float(np.percentile(cpu, 99)), 1), "first_push_ms": round(1000 * cold, 1),
            "target_cpu_us": LIVE_PUSH_TARGET_US, "met": med_cpu <= LIVE_PUSH_TARGET_US,
            "sessions_on_2_cores_at_10fps": int(2 * 1e6 / (med_cpu * 10.0)),
            "final_score": round(sess.final_score, 6), "report_score": round(report.score, 6),
            "state_bytes": sess.state_nbytes(), "problems": problems}


def timings(seconds_list, repeat):
    from posesearch.sequence import ScoreSettings, score_sequence
    from posesearch.sequence.align import align, make_band
    from posesearch.sequence.framedist import frame_distance_matrix, frame_features
    from posesearch.sequence.resample import resample_to_fps
    from posesearch.sequence.simulate import degrade, synthetic_motion
    from posesearch.sequence.smooth import smooth

    out = {}
    for secs in seconds_list:
        ref = synthetic_motion(secs, 30, seed=1)
        user = degrade(ref, seed=2)
        usr30 = resample_to_fps(smooth(user), 30.0)
        fr, fu = frame_features(ref), frame_features(usr30.mirrored())
        band = make_band(len(usr30), len(ref), fps=30.0, band=0.25)
        D = frame_distance_matrix(fu, fr, band=band)
        r = {"reference_frames": len(ref), "user_frames": len(user), "band_cells": band.cells,
             "matrix_cells_full": len(usr30) * len(ref)}
        rep = max(1, repeat if secs <= 60 else repeat // 3)
        r["smooth_kalman_rts_ms"] = 1000 * _timeit(lambda: smooth(ref, "kalman"), rep)
        r["smooth_one_euro_ms"] = 1000 * _timeit(lambda: smooth(ref, "one-euro"), rep)
        r["resample_linear_10_to_30fps_ms"] = 1000 * _timeit(lambda: resample_to_fps(user, 30.0), rep)
        r["resample_cubic_10_to_30fps_ms"] = 1000 * _timeit(lambda: resample_to_fps(user, 30.0, method="cubic"), rep)
        r["distance_matrix_banded_ms"] = 1000 * _timeit(lambda: frame_distance_matrix(fu, fr, band=band), rep)
        for m in ("dtw", "nw", "diagonal"):
            r[f"align_{m}_ms"] = 1000 * _timeit(lambda: align(D, ref.times, usr30.times, method=m), rep)
        res = score_sequence(ref, user)
        r["score_sequence_ms"] = 1000 * _timeit(lambda: score_sequence(ref, user), rep)
        r["score_sequence_score"] = round(res.score, 2)
        r["score_sequence_mirrored"] = res.mirrored
        r["score_sequence_speed_ratio"] = round(res.speed_ratio, 3)
        r["score_sequence_time_offset_s"] = round(res.time_offset, 3)
        if secs == 60:
            r["whole_pipeline"] = whole_pipeline(ref, user, repeat)
            r["live"] = live_push(ref, user)
        if secs <= 60:
            from posesearch.sequence.stream import ScoreSession

            sess = ScoreSession(ref)
            arr = np.nan_to_num(user.as_array())
            t0 = time.perf_counter()
            for i in range(len(user)):
                sess.push(arr[i], user.times[i])
            r["stream_push_ms_per_frame"] = 1000 * (time.perf_counter() - t0) / len(user)
            r["stream_final_score"] = round(sess.final_score, 2)
            r["stream_state_bytes"] = sess.state_nbytes()
        ss = ScoreSettings(band=None)
        if secs <= 60:
            r["score_sequence_no_band_ms"] = 1000 * _timeit(lambda: score_sequence(ref, user, settings=ss), rep)
        out[f"{secs:g}s"] = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()}
        if r.get("live", {}).get("problems"):
            raise RuntimeError("live scoring answer wrong: " + "; ".join(r["live"]["problems"]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 s and 60 s only, fewer repeats, 2 CMU clips")
    ap.add_argument("--tune", action="store_true", help="grid-search the filter settings on the CMU clips")
    ap.add_argument("--noise", type=float, default=0.02, help="jitter, fraction of body height (default 0.02)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, help="data root holding cmu_mocap/bvh (default: $POSESEARCH_DATA, "
                                              "else ../shared/data beside the repository)")
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    a = ap.parse_args(argv)
    from posesearch.sequence.smooth import KalmanSettings

    cmu = (a.data if a.data is not None else default_data_dir()) / "cmu_mocap" / "bvh"
    res: dict = {"noise_fraction_of_height": a.noise}
    clips = load_cmu(cmu, 2 if a.quick else len(CMU_CLIPS), 20.0) if cmu.is_dir() else []
    if clips:
        res["smoothing_clips"] = [f for f, _ in clips]
        res["smoothing"] = smoothing_quality(clips, a.noise, a.seed, {
            "none": ("none", {}),
            "kalman_rts": ("kalman", {}),
            "kalman_causal": ("kalman", {"kalman": KalmanSettings(rts=False)}),
            "one_euro": ("one-euro", {}),
        })
        if a.tune:
            res["tuning"] = tune(clips, a.noise, a.seed)
    else:
        res["smoothing"] = f"skipped: none of {', '.join(CMU_CLIPS)} found in {cmu}"
    res["timings"] = timings([10, 60] if a.quick else [10, 60, 300], 3 if a.quick else 7)
    print(json.dumps(res, indent=2))
    if a.out:
        a.out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
