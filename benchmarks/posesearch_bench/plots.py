"""PNG plots of the results (matplotlib, Agg backend): latency / build vs corpus size, recall vs latency."""
from __future__ import annotations

import os
from pathlib import Path

STYLE = {"exact": ("k", "o"), "vptree": ("tab:red", "s"), "faiss-flat": ("tab:gray", "x"),
         "faiss-hnsw": ("tab:blue", "^"), "faiss-ivf": ("tab:cyan", "v"), "numpy": ("tab:brown", "D"),
         "faiss-IndexFlatL2": ("tab:olive", "P"), "hnswlib": ("tab:purple", "*"), "vptree-pypi": ("tab:orange", "h")}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _log_axis(ax, which: str, fmt: str = "{:g}") -> None:
    """Log scale with plain tick labels (no overlapping 10^x minor labels)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    (ax.set_xscale if which == "x" else ax.set_yscale)("log")
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt.format(v)))
    axis.set_minor_formatter(NullFormatter())


def _style(name):
    return STYLE.get(name, ("tab:green", "."))


def _size_axes(ax, ylabel: str) -> None:
    """Log-log axes over corpus size, with their labels, grid and legend."""
    _log_axis(ax, "x", "{:,.0f}")
    _log_axis(ax, "y")
    ax.set_xlabel("corpus size (frames)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def _save(plt, fig, path: Path, title: str) -> bool:
    """Title the figure, write it to ``path`` and close it."""
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def latency_vs_size(res: dict, path: Path) -> bool:
    sc = res.get("sections", {}).get("scaling", {})
    if not isinstance(sc, dict) or not sc.get("metrics"):
        return False
    plt = _plt()
    metrics = list(sc["metrics"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        rows = [r for r in sc["metrics"][metric] if "median_ms" in r]
        for name in dict.fromkeys(r["name"] for r in rows):
            rr = sorted((r for r in rows if r["name"] == name), key=lambda r: r["size"])
            c, mk = _style(name)
            lab = name + (" (peer)" if rr[0].get("family") == "peer" else "")
            ax.plot([r["size"] for r in rr], [r["median_ms"] for r in rr], marker=mk, color=c, label=lab)
            ax.plot([r["size"] for r in rr], [r["p99_ms"] for r in rr], ls=":", color=c, lw=0.8)
        _size_axes(ax, "single-query latency, ms (solid: median, dotted: p99)")
        ax.set_title(f"{metric} metric, k = {sc.get('k')}")
    return _save(plt, fig, path, "Query latency vs corpus size (one thread)")


def build_vs_size(res: dict, path: Path) -> bool:
    sc = res.get("sections", {}).get("scaling", {})
    if not isinstance(sc, dict) or not sc.get("metrics"):
        return False
    plt = _plt()
    metric = "weighted" if "weighted" in sc["metrics"] else list(sc["metrics"])[0]
    rows = [r for r in sc["metrics"][metric] if "build_seconds" in r]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.4, 4.8))
    for name in dict.fromkeys(r["name"] for r in rows):
        rr = sorted((r for r in rows if r["name"] == name), key=lambda r: r["size"])
        c, mk = _style(name)
        xs = [r["size"] for r in rr]
        a1.plot(xs, [max(r["build_seconds"], 1e-4) for r in rr], marker=mk, color=c, label=name)
        a2.plot(xs, [max(r["build_peak_extra_bytes"] / 2 ** 20, 0.1) for r in rr], marker=mk, color=c, label=name)
    for ax, yl in ((a1, "build time, s"), (a2, "peak extra memory of the build, MiB")):
        _size_axes(ax, yl)
    return _save(plt, fig, path, f"Index build cost vs corpus size ({metric}; each build in its own process)")


def recall_vs_latency(res: dict, path: Path) -> bool:
    s = res.get("sections", {}).get("search", {})
    sw = s.get("sweeps") if isinstance(s, dict) else None
    if not sw:
        return False
    plt = _plt()
    k = s.get("k", 10)
    rk = f"recall@{k}"
    metrics = list(sw)
    fig, axes = plt.subplots(1, len(metrics), figsize=(6.2 * len(metrics), 4.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        d = sw[metric]
        for name, key in (("faiss-hnsw", "ef_search"), ("faiss-ivf", "nprobe"), ("hnswlib", "ef")):
            pts = d.get(name) or []
            if not pts:
                continue
            c, mk = _style(name)
            lab = {"faiss-hnsw": "faiss HNSW graph, exact-distance walk (ef_search)",
                   "faiss-ivf": f"faiss IVF + re-rank (nprobe; nlist {d.get('faiss-ivf_nlist')})",
                   "hnswlib": "hnswlib raw (ef)" + (", plain L2" if metric == "weighted" else "")}[name]
            ax.plot([p["median_ms"] for p in pts], [p[rk] for p in pts], marker=mk, color=c, label=lab)
            for p in pts:
                ax.annotate(str(p[key]), (p["median_ms"], p[rk]), fontsize=7, xytext=(3, -8), textcoords="offset points")
        var = "estimator" if metric == "weighted" else "any"
        rows = s.get("metrics", {}).get(metric, {}).get("variants", {}).get(var, {}).get("rows", [])
        for r in rows:
            if r["name"] in ("exact", "vptree"):
                c, mk = _style(r["name"])
                ax.scatter([r["median_ms"]], [r[rk]], color=c, marker=mk, s=60, zorder=5, label=f"{r['name']} (exact)")
        ax.axhline(0.99, color="gray", ls="--", lw=0.8)
        ax.axvline(0.1, color="gray", ls=":", lw=0.8)
        _log_axis(ax, "x")
        ax.set_xlabel("median single-query latency, ms")
        ax.set_ylabel(f"{rk} against exact")
        ax.set_title(f"{metric}" + (" (estimator-like confidences)" if metric == "weighted" else "") +
                     f", {s.get('indexed_frames', 0):,} frames")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return _save(plt, fig, path, "Recall vs latency of the approximate settings (dashed: recall 0.99; dotted: 0.1 ms)")


def scaling_curves(res: dict, path: Path) -> bool:
    """The issue-21 scaling figure (``benchmarks/bench_scaling.py``'s results): build time, peak extra
    memory of the build (with 1x and 3x the raw float32 vectors), index size, and single-query latency
    (median solid, p99 dotted) of each query set, against corpus size."""
    rows = [r for r in res.get("rows", []) if "error" not in r and "build_seconds" in r]
    if not rows:
        return False
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12.4, 9.0))
    (a_build, a_mem), (a_idx, a_lat) = axes
    sets = list(res.get("data", {}).get("query_sets", [])) or ["queries"]
    dashes = {0: "-", 1: "--"}
    for name in dict.fromkeys(r["name"] for r in rows):
        rr = sorted((r for r in rows if r["name"] == name), key=lambda r: r["size"])
        c, mk = _style(name)
        xs = [r["size"] for r in rr]
        if max(r["build_seconds"] for r in rr) > 1e-3:      # exact builds nothing: left out of these two
            a_build.plot(xs, [r["build_seconds"] for r in rr], marker=mk, color=c, label=name)
            a_mem.plot(xs, [max(r["build_peak_extra_bytes"] / 2 ** 30, 1e-3) for r in rr], marker=mk, color=c,
                       label=name)
        a_idx.plot(xs, [r["index_bytes"] / 2 ** 30 for r in rr], marker=mk, color=c, label=name)
        for i, s in enumerate(sets):
            pts = [(r["size"], r["query_sets"][s]) for r in rr if s in r.get("query_sets", {})]
            if not pts:
                continue
            a_lat.plot([p[0] for p in pts], [p[1]["median_ms"] for p in pts], marker=mk, color=c,
                       ls=dashes.get(i, "-."), label=f"{name}, {s} queries (median)")
            a_lat.plot([p[0] for p in pts], [p[1]["p99_ms"] for p in pts], color=c, ls=":", lw=0.8)
    sizes = sorted({r["size"] for r in rows})
    raw = [34 * 4 * z / 2 ** 30 for z in sizes]
    for ax in (a_mem, a_idx):
        ax.plot(sizes, raw, color="gray", lw=0.8, ls="--", label="raw vectors (N × 34 float32)")
    a_mem.plot(sizes, [3 * v for v in raw], color="gray", lw=0.8, ls=":", label="3 × raw (target)")
    a_build.axhline(300, color="gray", ls=":", lw=0.8, label="5 min (target at 10M)")
    a_lat.axhline(5, color="gray", ls=":", lw=0.8, label="5 ms (cross-dataset target at 10M)")
    for ax, yl in ((a_build, "build time, s"), (a_mem, "peak extra memory of the build, GiB"),
                   (a_idx, "index size (its file), GiB"), (a_lat, "single-query latency, ms (dotted: p99)")):
        _size_axes(ax, yl)
    a_lat.legend(fontsize=7)
    return _save(plt, fig, path, f"Scaling, weighted metric, k = {res.get('k')} (each point in its own process; "
                                 "2 shared cores)")


def make_plots(res: dict, out: Path, suffix: str = "") -> list[str]:
    made = []
    for name, fn in (("latency_vs_size", latency_vs_size), ("build_vs_size", build_vs_size),
                     ("recall_vs_latency", recall_vs_latency)):
        p = Path(out) / f"{name}{suffix}.png"
        tmp = p.with_name(f".{p.stem}.tmp.png")
        if fn(res, tmp):
            os.replace(tmp, p)
            made.append(p.name)
    return made
