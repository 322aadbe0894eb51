"""The serial part of bench_live.py's whole pipeline (60 s reference @30 fps, its degraded 10 fps user, score_sequence
with default settings): the wall time before the two mirror states' alignment (``score._run_states``: preparing both
sequences, setting up the states) and after it (the report), their sum, the whole call and, where the checkout has
it, the span of ``score._prepare_both`` (both sequences prepared at once); min and median of ``--calls`` calls.
Run with a checkout's root as argument (that checkout's code is measured), in any venv with numba:

    python measure_serial.py CHECKOUT [--calls 60]      (prints one JSON line; NUMBA_NUM_THREADS=1: one thread)"""
import argparse, json, os, sys, time

a = argparse.ArgumentParser()
a.add_argument("checkout")
a.add_argument("--calls", type=int, default=60)
a = a.parse_args()
sys.path.insert(0, a.checkout)
import numpy as np
from posesearch.sequence import score as S
from posesearch.sequence.simulate import degrade, synthetic_motion

assert S.__file__.startswith(os.path.abspath(a.checkout)), S.__file__
ref = synthetic_motion(60, 30, seed=1)
user = degrade(ref, seed=2)
marks = {}


def timed(name, fn):
    def run(*args, **kw):
        marks[name + "0"] = time.perf_counter()
        out = fn(*args, **kw)
        marks[name + "1"] = time.perf_counter()
        return out
    return run


S._run_states = timed("align", S._run_states)
if hasattr(S, "_prepare_both"):
    S._prepare_both = timed("prep", S._prepare_both)
S.score_sequence(ref, user)
rows = {k: [] for k in ("before", "after", "serial", "whole", "prep")}
for _ in range(a.calls):
    marks.clear()
    t0 = time.perf_counter()
    S.score_sequence(ref, user)
    t1 = time.perf_counter()
    rows["before"].append(marks["align0"] - t0)
    rows["after"].append(t1 - marks["align1"])
    rows["serial"].append(rows["before"][-1] + rows["after"][-1])
    rows["whole"].append(t1 - t0)
    rows["prep"].append(marks.get("prep1", 0.0) - marks.get("prep0", 0.0))
print(json.dumps({"checkout": os.path.abspath(a.checkout), "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default"),
                  "load_1min": round(os.getloadavg()[0], 2), "calls": a.calls,
                  **{k + "_ms": [round(1000 * min(v), 2), round(1000 * float(np.median(v)), 2)] for k, v in rows.items()}}))
