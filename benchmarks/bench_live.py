"""The two scoring-speed targets alone (issue 21 whole pipeline, issue 18 live push), ~1 min:

    python benchmarks/bench_live.py [--seconds 60] [--repeat 5] [--out results.json]

A ``seconds`` reference (``synthetic_motion``, 30 fps) and its degraded user (10 fps, 2% jitter, 0.3 s late,
20% slower, mirrored): ``score_sequence`` (first call apart, median of ``repeat``, a CPU profile per step) and
the per-push time of a live ``ScoreSession`` (median / p99, wall and CPU), each against its target, with
the live answer checked (report() == score_sequence of the same frames). Same code as the 60 s row of
``python benchmarks/bench_sequence.py`` (:mod:`posesearch_bench.seqsteps`).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]    # measure this checkout's code


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="reference length (default 60)")
    ap.add_argument("--repeat", type=int, default=5, help="warm whole-pipeline calls timed (default 5)")
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    a = ap.parse_args(argv)
    from posesearch.sequence.simulate import degrade, synthetic_motion
    from posesearch_bench.seqsteps import live_push, whole_pipeline

    ref = synthetic_motion(a.seconds, 30, seed=1)
    user = degrade(ref, seed=2)
    res = {"when": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "load_1min": round(os.getloadavg()[0], 2),
           "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default"),
           "whole_pipeline": whole_pipeline(ref, user, a.repeat), "live": live_push(ref, user)}
    print(json.dumps(res, indent=2))
    if a.out:
        a.out.write_text(json.dumps(res, indent=2) + "\n")
    return 1 if res["live"]["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
