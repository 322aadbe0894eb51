"""Sequence work: smoothing, resampling, alignment and full scoring of 10 s, 60 s and 300 s clips.

:mod:`posesearch_bench.seqsteps` (smoothing quality on CMU motion, every step and aligner on synthetic
motion; also ``python benchmarks/bench_sequence.py``) is run and its JSON kept under ``helper``. This
module also times the public API itself: a reference built from real CMU mocap (COCO-17, 30 fps; clips
concatenated until the length is reached) and a simulated user
(:func:`posesearch.sequence.simulate.degrade`: 20% slower, 0.3 s late, 2% noise, 30 fps); timed are
``smooth`` (kalman, one-euro) of the user, ``resample_to_fps``, ``score_prepared`` (frame distances +
alignment + scoring of prepared inputs) and the whole ``score_sequence``. Each figure is the median of
``repeats`` warm runs; the first call (numba kernels loaded from cache or compiled) is reported apart.
The answers are checked (:func:`check_recovery`): the degraded copy must score >= 90 with its speed
change and delay recovered, else the run fails.
"""
from __future__ import annotations

import time

import numpy as np

from .context import Context


def _clip_sequence(ctx: Context, seconds: float):
    from posesearch.corpus.readers import bvh
    from posesearch.sequence import Sequence
    from .data import default_data_dir

    folder = (ctx.data_dir or default_data_dir()) / "cmu_mocap" / "bvh"
    files = sorted(folder.glob("*.bvh")) if folder.exists() else []
    if not files:
        from posesearch.corpus import sample_corpus_path
        from posesearch.corpus.store import Corpus

        with Corpus.open(sample_corpus_path()) as c:
            clips = [c.clip(i) for i in range(c.num_clips) if len(c.clip_info(i)) > 30]
    else:
        clips = []
        total = 0
        for c in bvh.read(files, views=(0.0,), every=2):
            clips.append(c)
            total += len(c) / (c.fps or 30.0)
            if total >= seconds:
                break
    kps, cfs = [], []
    need = int(round(seconds * 30))
    n = 0
    while n < need:
        for c in clips:
            from posesearch.poses.layouts import get_layout

            kp, cf = get_layout(c.layout).convert_to_coco(np.asarray(c.keypoints, np.float64),
                                                          np.asarray(c.confidences, np.float64))
            kps.append(np.nan_to_num(kp))
            cfs.append(cf)
            n += len(kp)
            if n >= need:
                break
    kp = np.concatenate(kps)[:need]
    cf = np.concatenate(cfs)[:need]
    return Sequence(kp, cf, "coco17", fps=30.0, name=f"reference {seconds:g} s")


def _median_time(fn, repeats: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return first, float(np.median(ts))


def check_recovery(report, *, slower: float, delay: float) -> list[str]:
    """What the timed scoring must get right about a degraded copy of its reference: a high score, the
    speed change (user time = slower x reference time, so ratio ~ 1 / slower) and the delay."""
    problems = []
    if not report.score >= 90.0:
        problems.append(f"score of a degraded copy {report.score:.1f}, expected >= 90")
    if not abs(report.speed_ratio * slower - 1.0) <= 0.05:
        problems.append(f"speed ratio {report.speed_ratio:.3f}, expected {1 / slower:.3f} +- 5%")
    if not abs(report.time_offset - delay) <= 0.1:
        problems.append(f"time offset {report.time_offset:.3f} s, expected {delay:g} +- 0.1 s")
    return problems


def own_timings(ctx: Context) -> dict:
    from posesearch.sequence import ScoreSettings, score_sequence
    from posesearch.sequence.resample import resample_to_fps
    from posesearch.sequence.score import prepare_reference, prepare_user, score_prepared
    from posesearch.sequence.simulate import degrade
    from posesearch.sequence.smooth import smooth

    rows = []
    st = ScoreSettings()
    for seconds in ctx.settings.sequence_lengths:
        ref = _clip_sequence(ctx, seconds)
        usr = degrade(ref, fps=30.0, noise=0.02, delay=0.3, slower=1.2, mirror=False, seed=ctx.settings.seed)
        reps = 3 if seconds <= 60 else 1
        ctx.say(f"sequence: {seconds:g} s clips ({len(ref)} / {len(usr)} frames)")
        row = {"seconds": seconds, "reference_frames": len(ref), "user_frames": len(usr)}
        for label, fn in (
                ("smooth_kalman", lambda: smooth(usr, "kalman")),
                ("smooth_one_euro", lambda: smooth(usr, "one-euro")),
                ("resample_to_30fps", lambda: resample_to_fps(usr, 30.0)),
        ):
            first, med = _median_time(fn, reps)
            row[f"{label}_s"] = med
            row[f"{label}_first_call_s"] = first
        pr, pu = prepare_reference(ref, st), prepare_user(usr, 30.0, st)
        first, med = _median_time(lambda: score_prepared(pr, pu), reps)
        row["align_and_score_prepared_s"], row["align_and_score_prepared_first_call_s"] = med, first
        rep = [None]

        def full():
            rep[0] = score_sequence(ref, usr)
        first, med = _median_time(full, reps)
        row["score_sequence_s"], row["score_sequence_first_call_s"] = med, first
        r = rep[0]
        row.update(score=float(r.score), speed_ratio=float(r.speed_ratio), time_offset_s=float(r.time_offset))
        ctx.failures.add(f"sequence/{seconds:g}s", check_recovery(r, slower=1.2, delay=0.3))
        rows.append(row)
    return {"source": "posesearch_bench.sequence (public API timings)", "settings": "ScoreSettings() defaults",
            "rows": rows}


def helper_results(ctx: Context) -> dict:
    """:mod:`posesearch_bench.seqsteps` (smoothing quality + per-step timings) on the run's data folder."""
    import contextlib
    import io
    import json
    import tempfile
    from pathlib import Path

    from . import seqsteps
    from .data import default_data_dir

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "seq.json"
        argv = ["--out", str(out), "--seed", str(ctx.settings.seed),
                "--data", str(ctx.data_dir or default_data_dir())] + (["--quick"] if ctx.settings.quick else [])
        ctx.say("sequence: posesearch_bench.seqsteps " + " ".join(argv[2:]))
        with contextlib.redirect_stdout(io.StringIO()):
            rc = seqsteps.main(argv)
        if rc != 0 or not out.exists():
            raise RuntimeError(f"posesearch_bench.seqsteps exited with status {rc}")
        res = json.loads(out.read_text())
    res["source"] = "posesearch_bench.seqsteps, also python -m posesearch_bench.seqsteps"
    return res


def run(ctx: Context) -> dict:
    """The per-step benchmark (:mod:`.seqsteps`), the public-API timings on real CMU motion and sequence
    search on Penn Action against Move Mirror's per-frame vote (:mod:`.seqsearch`)."""
    out = own_timings(ctx)
    out["helper"] = helper_results(ctx)
    from .seqsearch import run_search

    out["search"] = run_search(ctx)
    return out
