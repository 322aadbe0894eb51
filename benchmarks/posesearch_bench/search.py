"""Query latency, throughput and recall of every backend and peer on the full real corpus, one process.

For each metric (``weighted`` with the three query-confidence variants; ``cosine``, which ignores
confidences) every contender of :mod:`.contenders` is built once over the same indexed frames and
answers the same held-out queries: single-query latency (median, p99), batch throughput, recall@k
against ``exact``, answers checked (:mod:`.checks`). Ratios are ``exact median / contender median``
(> 1: faster than exact). Two query sets, each against its own index: the held-out-clip queries (top-level
keys) and the cross-dataset queries (``cross``: BODY25 + CMU poses from random cameras against Penn Action
+ COCO only, :mod:`.crossdata`), where users live. Sweeps: recall@k vs median latency of FAISS HNSW (the graph
walked with the exact distance, beam ef_search), FAISS IVF (nprobe), raw hnswlib (ef) and FAISS's own HNSW search
(efSearch); under ``weighted`` also the L2 peers with over-fetch + exact re-rank (``RERANK_SWEEP`` x k
candidates). BLAS is limited to one thread for single queries and to every core for batches, for every
contender alike (``blas_threads``). vptree-pypi is measured on a subset in
:mod:`.exactness` (pure Python: too slow for the full corpus).
"""
from __future__ import annotations

import numpy as np

from . import contenders as C
from .checks import check_answers, true_distances
from .context import Context
from .timing import latency, summarize, timed, timed_median

SEARCH_CONTENDERS = ("exact", "vptree", "faiss-flat", "faiss-hnsw", "faiss-ivf", "numpy", "faiss-IndexFlatL2",
                     "faiss-IndexHNSWFlat", "hnswlib")


def measure(ctx: Context, where: str, con: C.Contender, obj, data: np.ndarray, q: np.ndarray,
            w: np.ndarray | None, metric: str, ref_d: np.ndarray, n_single: int, k: int) -> dict:
    """Single-query latencies, batch throughput and checks of one built contender."""
    n_single = min(n_single, len(q))
    ids = np.empty((n_single, k), np.int64)
    dists = np.empty((n_single, k))
    have_d = [True]

    def one(i):
        r_i, r_d = con.knn(obj, q[i:i + 1], None if w is None else w[i:i + 1], k, True)
        ids[i] = r_i[0]
        if r_d is None:
            have_d[0] = False
        else:
            dists[i] = r_d[0]

    with C.blas_threads(1):
        lat = latency(one, n_single)
    with C.blas_threads(C.CORES):
        con.knn(obj, q[:2], None if w is None else w[:2], k, False)     # warm the batch path (parallel kernels)
        (b_ids, b_d), t_batch, n_calls = timed_median(lambda: con.knn(obj, q[:n_single],
                                                                      None if w is None else w[:n_single], k, False))
    chk = check_answers(f"{con.name} ({metric})", con.claim, con.min_recall, data, q[:n_single],
                        None if w is None else w[:n_single], metric, k, ids, dists if (have_d[0] and con.exact_distances) else None,
                        ref_d[:n_single])
    chk_b = check_answers(f"{con.name} batch ({metric})", con.claim, con.min_recall, data, q[:n_single],
                          None if w is None else w[:n_single], metric, k, b_ids, b_d if con.exact_distances else None, ref_d[:n_single])
    problems = chk.problems + chk_b.problems
    if problems:
        ctx.failures.add(where, problems)
    row = {"name": con.name, "family": con.family, "claim": con.claim, "params": con.params, "note": con.note,
           **summarize(lat), "batch_qps": float(n_single / t_batch), "batch_queries": n_single, "batch_calls": n_calls,
           f"recall@{k}": chk.recall, "max_rel_distance_error": chk.max_rel_error,
           "check_ok": not problems, "problems": problems[:3]}
    if k > 1:
        from .checks import recall_at_k, true_distances

        got = true_distances(data, q[:n_single, :], None if w is None else w[:n_single], ids[:, :1], metric)
        row["recall@1"] = recall_at_k(ref_d[:n_single, :1], ids[:, :1], got, 1)
    return row


def _add_ratios(rows: list[dict], base: str = "exact") -> None:
    ref = next((r for r in rows if r["name"] == base), None)
    if ref is None:
        return
    for r in rows:
        r["speedup_median_vs_exact"] = ref["median_ms"] / r["median_ms"] if r["median_ms"] > 0 else None
        r["speedup_p99_vs_exact"] = ref["p99_ms"] / r["p99_ms"] if r["p99_ms"] > 0 else None
        r["batch_speedup_vs_exact"] = r["batch_qps"] / ref["batch_qps"] if ref["batch_qps"] > 0 else None


def run(ctx: Context) -> dict:
    """The held-out-clip queries (top-level keys, as before) and the cross-dataset ones (``cross``)."""
    st, d = ctx.settings, ctx.data
    vectors = d.vectors
    if st.search_frames and st.search_frames < len(vectors):
        rows = np.sort(np.random.default_rng(st.seed).permutation(len(vectors))[:st.search_frames])
        vectors = vectors[rows]
    out = _run_set(ctx, "search", vectors, d.queries, d.weights, end_to_end=True)
    cross = getattr(d, "cross", None)
    if cross is not None:
        cv = cross.vectors
        if st.search_frames and st.search_frames < len(cv):
            cv = cv[np.sort(np.random.default_rng(st.seed).permutation(len(cv))[:st.search_frames])]
        out["cross"] = {"what": "cross-dataset queries (BODY25 + CMU from random cameras) against Penn Action + "
                                "COCO only (see crossdata.py)",
                        "query_sources": cross.queries.describe()["query_sources"],
                        **_run_set(ctx, "search-cross", cv, cross.queries.vectors, cross.queries.weights)}
    return out


def _run_set(ctx: Context, where: str, vectors: np.ndarray, queries: np.ndarray, weights: dict,
             end_to_end: bool = False) -> dict:
    """Every contender over ``vectors``, answering ``queries`` under each metric and confidence variant."""
    st = ctx.settings
    k = st.k
    missing = C.available_peers()
    names = [n for n in SEARCH_CONTENDERS if n not in missing]
    out: dict = {"indexed_frames": int(len(vectors)), "queries": int(len(queries)), "k": k,
                 "skipped_contenders": missing, "blas_threads": C.blas_threads_how(), "metrics": {}, "sweeps": {}}
    for metric in ("weighted", "cosine"):
        data = C.prepare_data(vectors, metric)
        q = C.prepare_queries(queries, metric)
        variants = ("real", "estimator", "uniform") if metric == "weighted" else ("any",)
        built, builds, sizes = {}, {}, {}
        for name in names:
            con = C.make(name, metric)
            ctx.say(f"{where}/{metric}: building {name} over {len(data):,} frames")
            obj, secs = timed(lambda: con.build(data, metric, None))
            built[name] = (con, obj)
            builds[name] = round(secs, 3)
            sizes[name] = C.index_bytes(obj, data)
        order = list(names)
        if metric == "weighted":     # the L2 peers as a capable user runs them: over-fetch + exact re-rank
            for base in C.RERANK_PEERS:
                if base in built:
                    con = C.with_rerank(built[base][0], data, C.RERANK_FACTOR)
                    built[con.name] = (con, built[base][1])
                    builds[con.name], sizes[con.name] = builds[base], sizes[base]
                    order.insert(order.index(base) + 1, con.name)
        mres: dict = {"build_seconds": builds, "index_bytes": sizes, "variants": {}}
        for var in variants:
            w = weights[var] if metric == "weighted" else None
            (ref_i, _), t_ref = timed(lambda: built["exact"][0].knn(built["exact"][1], q, w, k, False))
            ref_d = true_distances(data, q, w, ref_i, metric)   # reference values from numpy, not the kernel
            rows = []
            for name in order:
                con, obj = built[name]
                n_single = st.numpy_queries if name == "numpy" else len(q)
                ctx.say(f"{where}/{metric}/{var}: {name} ({n_single} queries)")
                row = measure(ctx, f"{where}/{metric}/{var}", con, obj, data, q, w, metric, ref_d, n_single, k)
                row["build_seconds"] = builds[name]
                row["index_bytes"] = sizes[name]
                rows.append(row)
            _add_ratios(rows)
            mres["variants"][var] = {"rows": rows, "reference_batch_seconds": t_ref}
        if end_to_end and "vptree" in built and metric == "weighted":
            mres["end_to_end"] = _end_to_end(ctx, built["vptree"][1], data, metric, k)
        out["metrics"][metric] = mres
        out["sweeps"][metric] = sweeps(ctx, built, data, q, weights["estimator"] if metric == "weighted" else None,
                                       metric, k, all_weights=weights)
        del built
    return out


def _end_to_end(ctx: Context, be, data, metric, k) -> dict:
    """Index.search on raw COCO-17 poses (validate, normalize, search, ids): the user-facing call."""
    from posesearch.index.index import Index

    d = ctx.data
    idx = Index(be, data, np.arange(len(data), dtype=np.int64), metric, {})
    kp = np.nan_to_num(d.query_keypoints.astype(np.float64))
    conf = d.weights["real"]
    poses = np.concatenate([kp, conf[..., None]], axis=-1)
    n = min(len(poses), 300 if not ctx.settings.quick else 20)
    lat = latency(lambda i: idx.search(poses[i], k=k), n)
    lat_m = latency(lambda i: idx.search(poses[i], k=k, mirror=True), n)
    return {"backend": "vptree", "what": "Index.search(raw pose (17, 3), k) incl. validation + normalization",
            "plain": summarize(lat), "mirror": summarize(lat_m)}


def face_weight_points(ctx: Context, default: tuple, data, q, weights: dict, k: int) -> list[dict]:
    """Recall@k and median latency of faiss-hnsw (defaults) with its graph built at each face weight of
    ``settings.hnsw_face_weights`` (the built default, face_weight 0.5, is reused; others are built here),
    for estimator-like and uniform confidences: the source of the face-weight figures in
    :mod:`posesearch.index.faiss_backend`."""
    st = ctx.settings
    n = min(st.sweep_queries, len(q))
    con, be = default
    out = []
    for fw in st.hnsw_face_weights:
        if fw == be.params.face_weight:
            obj, secs = be, None
        else:
            ctx.say(f"search/weighted: building faiss-hnsw with face_weight {fw:g}")
            import dataclasses

            from posesearch.index.faiss_backend import FaissBackend

            obj, secs = timed(lambda: FaissBackend.build(data, "weighted", dataclasses.replace(be.params, face_weight=fw)))
        row = {"face_weight": fw, "build_seconds": secs}
        for var in ("estimator", "uniform"):
            ws = weights[var][:n]
            ref_d = true_distances(data, q[:n], ws, _exact_ids(data, q[:n], ws, k), "weighted")
            ids = np.empty((n, k), np.int64)

            def one(i):
                ids[i] = con.knn(obj, q[i:i + 1], ws[i:i + 1], k, True)[0][0]
            with C.blas_threads(1):
                lat = latency(one, n)
            chk = check_answers(f"faiss-hnsw face_weight={fw:g}", "l2-standin", 0.0, data, q[:n], ws, "weighted", k,
                                ids, None, ref_d)
            row[var] = {**summarize(lat), f"recall@{k}": chk.recall}
        out.append(row)
    return out


def _exact_ids(data, q, w, k):
    con = C.make("exact", "weighted")
    return con.knn(con.build(data, "weighted", None), q, w, k, False)[0]


def sweeps(ctx: Context, built: dict, data, q, w, metric: str, k: int, all_weights: dict | None = None) -> dict:
    """Recall@k vs median latency of the approximate settings (single queries, one thread)."""
    st = ctx.settings
    n = min(st.sweep_queries, len(q))
    qs, ws = q[:n], None if w is None else w[:n]
    ex_con, ex = built["exact"]
    ref_d = true_distances(data, qs, ws, ex_con.knn(ex, qs, ws, k, False)[0], metric)
    out: dict = {"queries": n, "confidences": "estimator" if metric == "weighted" else "any"}

    def point(con, obj, label):
        ids = np.empty((n, k), np.int64)

        def one(i):
            ids[i] = con.knn(obj, qs[i:i + 1], None if ws is None else ws[i:i + 1], k, True)[0][0]
        with C.blas_threads(1):
            lat = latency(one, n)
        chk = check_answers(label, "l2-standin", 0.0, data, qs, ws, metric, k, ids, None, ref_d)
        return {"setting": label, **summarize(lat), f"recall@{k}": chk.recall}

    if "faiss-hnsw" in built:
        con, be = built["faiss-hnsw"]
        pts = []
        for ef in st.hnsw_ef:
            if ef < k:
                continue
            pts.append({"ef_search": ef, **point(con, C.rebind_faiss(be, ef_search=ef), f"ef_search={ef}")})
        out["faiss-hnsw"] = pts
    if "faiss-ivf" in built:
        con, be = built["faiss-ivf"]
        out["faiss-ivf"] = [{"nprobe": p, **point(con, C.rebind_faiss(be, nprobe=p), f"nprobe={p}")}
                            for p in st.ivf_nprobe]
        out["faiss-ivf_nlist"] = int(be.index.nlist)
    if "hnswlib" in built:
        _, obj = built["hnswlib"]
        out["hnswlib"] = [{"ef": e, **point(C._hnswlib(metric, e), obj, f"ef={e}")} for e in st.hnswlib_ef]
    if "faiss-IndexHNSWFlat" in built:
        _, obj = built["faiss-IndexHNSWFlat"]
        out["faiss-IndexHNSWFlat"] = [{"ef_search": e, **point(C._faiss_hnsw_raw(metric, e), obj, f"efSearch={e}")}
                                      for e in st.hnswlib_ef]
    if metric == "weighted" and "faiss-hnsw" in built and st.hnsw_face_weights and all_weights:
        out["face_weight"] = face_weight_points(ctx, built["faiss-hnsw"], data, q, all_weights, k)
    if metric == "weighted":
        out["rerank"] = {}
        for base in C.RERANK_PEERS:
            if base in built:
                con, obj = built[base]
                out["rerank"][base] = [{"overfetch": f, **point(C.with_rerank(con, data, f), obj, f"x{f}")}
                                       for f in C.RERANK_SWEEP]
    ctx.say(f"search/{metric}: sweeps done")
    return out
