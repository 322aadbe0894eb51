"""The DTW kernels of this checkout against those of an earlier commit, on the 60 s bench pair (issue 21):

    python benchmarks/results/runs/2026-12-07-dtw2/compare.py [--base 25a3cbc] [--repeat 40]

For each mirror state: ``dtw`` of the banded Procrustes matrix (DTW alone) and ``procrustes_dtw`` (distance rows
computed as DTW aligns them), the base commit's kernel and this checkout's alternated in one process, min and
median of ``repeat`` calls each; both must return the same cost and path (asserted). The base kernel module is
read with ``git show BASE:posesearch/sequence/_align_kernels.py`` (it imports only numpy, numba and math).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))


def load_base(commit: str):
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:posesearch/sequence/_align_kernels.py"],
                         check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"base_kernels_{commit}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", default="25a3cbc")
    ap.add_argument("--repeat", type=int, default=40)
    a = ap.parse_args()
    from posesearch.sequence import _align_kernels as new
    from posesearch.sequence import score as S
    from posesearch.sequence.align import MAX_HOLD, make_band
    from posesearch.sequence.framedist import ProcrustesRows, frame_distance_matrix, restrict_joints
    from posesearch.sequence.simulate import degrade, synthetic_motion

    base = load_base(a.base)
    ref = synthetic_motion(60, 30, seed=1)
    user = degrade(ref, seed=2)
    st = S.ScoreSettings()
    pr = S.prepare_reference(ref, st)
    pu = S.prepare_user(user, pr.fps, st)
    band = make_band(len(pu.seq), len(pr.seq), fps=pr.fps, band=st.band, band_seconds=st.band_seconds)
    out = {"base": a.base, "load_1min": os.getloadavg()[0], "cells_per_state": band.cells, "states": {}}
    for mirror, feats in pu.features.items():
        keep = pr.available & pu.available[mirror]
        uf, rf = restrict_joints(feats, keep), restrict_joints(pr.features, keep)
        D = frame_distance_matrix(uf, rf, max_rotation=st.max_rotation, band=band, missing_penalty=st.penalty)
        dargs = (D.values, band.lo, band.hi, len(pr.seq), st.missing, True, MAX_HOLD)
        rargs = ProcrustesRows(uf, rf, band, st.max_rotation, st.penalty)._args
        rargs_base = rargs[:11] + (rargs[11][:4],)   # before code_run_ends the reference's inputs were 4 arrays
        tail = (len(pr.seq), st.missing, True, MAX_HOLD)
        calls = {"dtw": ((base.dtw, dargs), (new.dtw, dargs)),
                 "procrustes_dtw": ((base.procrustes_dtw, rargs_base + tail), (new.procrustes_dtw, rargs + tail))}
        res = {}
        for name, ((fb, ab), (fn, an)) in calls.items():
            x, y = fb(*ab), fn(*an)
            assert x[0] == y[0] and np.array_equal(x[1], y[1]), f"{name}: answers differ"
            ts = {"base": [], "new": []}
            for _ in range(a.repeat):
                for who, f, args in (("base", fb, ab), ("new", fn, an)):
                    t0 = time.perf_counter()
                    f(*args)
                    ts[who].append((time.perf_counter() - t0) * 1e3)
            res[name] = {who: {"min_ms": round(min(v), 2), "median_ms": round(float(np.median(v)), 2)}
                         for who, v in ts.items()}
        out["states"]["mirrored" if mirror else "plain"] = res
    out["load_1min_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
