"""Cold start: what the first search in a fresh process costs (imports + numba kernels), apart from warm latency.

Measured in subprocesses, twice: with numba's on-disk cache as installed (``cache=True`` kernels loaded
from ``__pycache__``: the normal case after the first run) and with ``NUMBA_CACHE_DIR`` pointing to an
empty folder (every kernel compiled: the very first run after install). Each step is timed in the child:
importing the kernels, the first exact query, the first VP-tree build (2,000 rows) and query, for the
weighted and the l2 (cosine) metric, then a second (warm) query for comparison.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from .paths import child_env

CHILD = r"""
import json, time
t = time.perf_counter
out = {}
t0 = t()
import numpy as np
from posesearch.index.kernels.exact import knn_exact
from posesearch.index.kernels.vptree import build_vptree, knn_vptree
out["import_s"] = t() - t0
rng = np.random.default_rng(0)
x = rng.random((2000, 34)).astype(np.float32)
q = rng.random((1, 34))
for metric in ("weighted", "l2"):
    w = np.ones((1, 17)) if metric == "weighted" else None
    a = t(); knn_exact(x, q, w, 10, metric); out[f"exact_first_query_{metric}_s"] = t() - a
    a = t(); knn_exact(x, q, w, 10, metric); out[f"exact_warm_query_{metric}_s"] = t() - a
    a = t(); tree = build_vptree(x, metric); out[f"vptree_first_build_{metric}_s"] = t() - a
    a = t(); knn_vptree(tree, q, w, 10); out[f"vptree_first_query_{metric}_s"] = t() - a
    a = t(); knn_vptree(tree, q, w, 10); out[f"vptree_warm_query_{metric}_s"] = t() - a
out["total_s"] = t() - t0
print(json.dumps(out))
"""


def _child(env_extra: dict) -> dict:
    env = child_env(**env_extra)
    p = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=900)
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1][:200]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def run(ctx=None, mode: str = "full") -> dict:
    """mode: "full" (cached and compiled from scratch), "cached", or "off"."""
    if mode == "off":
        return {"skipped": "coldstart off"}
    _child({})  # make sure the installed cache is populated, then measure
    out = {"cached_kernels": _child({}),
           "how": "fresh subprocess each; 'compiled_from_scratch' uses an empty NUMBA_CACHE_DIR"}
    if mode == "full":
        with tempfile.TemporaryDirectory() as tmp:
            out["compiled_from_scratch"] = _child({"NUMBA_CACHE_DIR": tmp})
    return out
