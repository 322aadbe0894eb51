"""The whole pipeline of bench_live.py (60 s reference @30 fps, its degraded 10 fps user, score_sequence with default
settings) split into the two mirror states' rows + DTW (ProcrustesRows.dtw: from the first call's start to the last
one's end, on whichever thread) and everything outside them (the serial part: preparing both sequences and the report).
Run with a checkout's root as argument, in that checkout's or any venv:

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python measure_serial.py CHECKOUT [--calls 25]   (prints one JSON line)"""
import argparse, json, os, sys, threading, time

a = argparse.ArgumentParser()
a.add_argument("checkout")
a.add_argument("--calls", type=int, default=25)
a = a.parse_args()
sys.path.insert(0, a.checkout)
import numpy as np
import posesearch
from posesearch.sequence import framedist as fd, score_sequence
from posesearch.sequence.simulate import degrade, synthetic_motion

ref = synthetic_motion(60, 30, seed=1)
user = degrade(ref, seed=2)
spans, lock = [], threading.Lock()
orig = fd.ProcrustesRows.dtw


def dtw(self, *args):
    t0 = time.perf_counter()
    out = orig(self, *args)
    with lock:
        spans.append((t0, time.perf_counter()))
    return out


fd.ProcrustesRows.dtw = dtw
score = score_sequence(ref, user).score
total, dtw_span = [], []
for _ in range(a.calls):
    spans.clear()
    t0 = time.perf_counter()
    score_sequence(ref, user)
    total.append(time.perf_counter() - t0)
    dtw_span.append(max(e for _, e in spans) - min(s for s, _ in spans))
total, dtw_span = 1e3 * np.array(total), 1e3 * np.array(dtw_span)
serial = total - dtw_span
print(json.dumps({"checkout": a.checkout, "code": os.path.dirname(posesearch.__file__),
                  "numba_threads": os.environ.get("NUMBA_NUM_THREADS", "default"), "calls": a.calls,
                  "load_1min": round(os.getloadavg()[0], 2), "score": score,
                  "total_ms": {"min": round(total.min(), 2), "median": round(float(np.median(total)), 2)},
                  "rows_dtw_ms": {"min": round(dtw_span.min(), 2), "median": round(float(np.median(dtw_span)), 2)},
                  "serial_ms": {"min": round(serial.min(), 2), "median": round(float(np.median(serial)), 2)}}))
