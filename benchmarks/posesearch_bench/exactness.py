"""Weighted-distance exactness: Move Mirror's way (a VP-tree over a non-metric distance) against ours.

Move Mirror built a VP-tree (vptree.js) whose distance is the confidence-weighted Manhattan distance
with the weights of its *first* argument: the tree is partitioned with each vantage point's own
confidences and searched with the query's, so the triangle inequality its pruning relies on does not
hold and true neighbours are missed. ``vptree-pypi`` reproduces that with the PyPI ``vptree`` package
(see :mod:`posesearch.index.vptree_pypi`). On a random subset of the real indexed frames (pure Python
is slow: ``pypi_frames``), with the held-out queries and their real confidences (and the estimator-like
and uniform variants), we report its recall@1 / recall@10 against ``exact`` and the latency of it, our
exact VP-tree and brute force on the same subset. Under ``cosine`` (a true metric) the package is exact.
"""
from __future__ import annotations

import numpy as np

from . import contenders as C
from .checks import true_distances
from .context import Context
from .search import _add_ratios, measure
from .timing import timed


def run(ctx: Context) -> dict:
    st, d = ctx.settings, ctx.data
    k = st.k
    size = min(st.pypi_frames, len(d.vectors))
    rows = np.sort(np.random.default_rng(st.seed).permutation(len(d.vectors))[:size])
    nq = min(st.pypi_queries, len(d.queries))
    out: dict = {"frames": int(size), "queries": int(nq), "k": k, "metrics": {},
                 "subset": "random subset of the indexed real frames (seeded)"}
    for metric in ("weighted", "cosine"):
        data = C.prepare_data(d.vectors[rows], metric)
        q = C.prepare_queries(d.queries[:nq], metric)
        built, builds = {}, {}
        for name in ("exact", "vptree", "vptree-pypi"):
            con = C.make(name, metric)
            ctx.say(f"exactness/{metric}: building {name} over {size:,} frames")
            bw = d.confidences[rows] if name == "vptree-pypi" else None
            obj, secs = timed(lambda: con.build(data, metric, bw))
            built[name], builds[name] = (con, obj), secs
        variants = ("real", "estimator", "uniform") if metric == "weighted" else ("any",)
        mres: dict = {"build_seconds": builds, "variants": {}}
        for var in variants:
            w = d.weights[var][:nq] if metric == "weighted" else None
            ex_con, ex = built["exact"]
            ref_d = true_distances(data, q, w, ex_con.knn(ex, q, w, k, False)[0], metric)
            rws = []
            for name in ("exact", "vptree", "vptree-pypi"):
                con, obj = built[name]
                ctx.say(f"exactness/{metric}/{var}: {name}")
                r = measure(ctx, f"exactness/{metric}/{var}", con, obj, data, q, w, metric, ref_d, nq, k)
                r["build_seconds"] = builds[name]
                rws.append(r)
            _add_ratios(rws)
            pypi = next(r for r in rws if r["name"] == "vptree-pypi")
            for r in rws:
                r["speedup_median_vs_pypi"] = pypi["median_ms"] / r["median_ms"] if r["median_ms"] > 0 else None
            mres["variants"][var] = {"rows": rws}
        out["metrics"][metric] = mres
    return out
