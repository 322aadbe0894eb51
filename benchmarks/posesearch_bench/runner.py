"""Run the benchmark sections, check every answer, write JSON + PNG + markdown, return the exit status.

Outputs in the ``out`` folder (full run / ``--quick``): ``results.json`` / ``results-quick.json`` (every
figure, machine, versions, settings, load), ``summary.md`` / ``summary-quick.md`` (tables the README
includes), ``latency_vs_size*.png``, ``build_vs_size*.png``, ``recall_vs_latency*.png``. Exit status 0
when every check passed, 1 when any failed (a wrong answer from a backend that claims exactness, an
approximate backend below its stated recall, a section that crashed).
"""
from __future__ import annotations

import json
import os
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from .context import SECTIONS, BenchSettings, Context

DATA_SECTIONS = ("search", "scaling", "exactness")
FORMAT = "posesearch-bench"
FORMAT_VERSION = 1


def parse_only(text: str | None) -> tuple[str, ...]:
    """'search,quality' -> ('search', 'quality'); None/'' -> every section. Unknown names are errors."""
    from posesearch.errors import UnknownNameError

    if not text:
        return SECTIONS
    names = tuple(s.strip().lower() for s in text.split(",") if s.strip())
    for n in names:
        if n not in SECTIONS:
            raise UnknownNameError("benchmark section", n, SECTIONS)
    return tuple(s for s in SECTIONS if s in names)


def _atomic_write(path: Path, text: str) -> None:
    """Text written through the library's one atomic writer (posesearch.files.atomic_write)."""
    from posesearch.files import atomic_write

    data = text.encode()
    atomic_write(path, lambda f: f.write(data))


def _json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, Path):
        return str(o)
    return str(o)


def _clean(obj):
    """NaN / inf -> None so the JSON is standard."""
    import math

    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


class _LoadSampler:
    """Samples the 1-minute load average every ``every`` seconds in a daemon thread (the machine is shared)."""

    def __init__(self, every: float = 15.0):
        import threading

        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(float(open("/proc/loadavg").read().split()[0]))
            except (OSError, ValueError):
                return
            self._stop.wait(self.every)

    def start(self) -> None:
        self._t.start()

    def stop(self) -> None:
        self._stop.set()
        self._t.join(timeout=2)

    def summary(self) -> dict:
        s = self.samples
        if not s:
            return {}
        return {"every_seconds": self.every, "samples": len(s), "mean_loadavg_1min": round(sum(s) / len(s), 2),
                "max_loadavg_1min": max(s), "min_loadavg_1min": min(s),
                "cores": os.cpu_count(), "note": "load above the core count means the run shared the CPU"}


def _load_previous(path: Path, quick: bool) -> dict | None:
    """A complete earlier results file of the same kind (full / quick), or None."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if old.get("format") != FORMAT or old.get("quick") != quick or old.get("partial"):
        return None
    return old


def _merge_previous(old: dict, new: dict, only: tuple, ctx: Context) -> dict:
    """The earlier results with the sections in ``only`` replaced by this run's (see run_benchmarks)."""
    rerun = set(only) | ({"coldstart"} if "search" in only else set())
    merged = dict(old)
    merged["sections"] = {k: v for k, v in old.get("sections", {}).items() if k not in rerun}
    merged["sections"].update(new["sections"])
    merged["seconds"] = {**{k: v for k, v in old.get("seconds", {}).items() if k not in rerun}, **new["seconds"]}
    merged["skipped"] = {**{k: v for k, v in old.get("skipped", {}).items() if k not in rerun}, **new["skipped"]}
    merged["skipped_peers"] = new.get("skipped_peers", {})
    keep = [f for f in old.get("failures", []) if f[1:].split("/")[0].split("]")[0] not in rerun]
    ctx.failures.items[:0] = keep
    merged["failures"] = list(ctx.failures.items)
    merged["sections_updated"] = old.get("sections_updated", []) + [
        {"sections": sorted(rerun), "started": new["started"], "finished": new["finished"],
         "load_during": new.get("load_during"), "source": new.get("source")}]
    merged["sections_run"] = sorted(set(old.get("sections_run", [])) | set(only))
    return merged


def _source_info() -> dict:
    """Which code ran: where ``posesearch`` was imported from, the git commit of this checkout (and its
    uncommitted files under posesearch/ and benchmarks/posesearch_bench/), or $POSESEARCH_BENCH_SOURCE."""
    import subprocess

    from .paths import REPO_DIR, posesearch_root

    env = os.environ.get("POSESEARCH_BENCH_SOURCE")
    root = REPO_DIR
    out: dict = {"package_path": str(posesearch_root()), "benchmarks_path": str(root / "benchmarks")}
    if env:
        out["description"] = env
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            out["commit"] = head.stdout.strip()
            st = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "posesearch", "benchmarks/posesearch_bench"],
                                capture_output=True, text=True, timeout=10).stdout.splitlines()
            out["uncommitted_package_files"] = [line[3:] for line in st][:50]
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def run_benchmarks(settings: BenchSettings, out: Path, only: Iterable[str] = SECTIONS, *,
                   data_dir: Path | None = None, log: Callable[[str], None] = print,
                   plots: bool = True, update: bool = False) -> tuple[dict, int]:
    """Run the chosen sections; returns (results, exit status). See the module doc.

    ``update``: keep the other sections of an existing results file (same --quick-ness) and replace only
    the ones run now (their failures too); ``sections_updated`` records when.
    """
    from . import coldstart, exactness, quality, scaling, search, sequence
    from .crossdata import load_cross
    from .data import build_corpus, default_data_dir, load_bench_data
    from .timing import machine, other_load

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    only = tuple(only)
    data_dir = Path(data_dir) if data_dir is not None else default_data_dir()
    ctx = Context(settings, out, data_dir=data_dir, log=log)
    suffix = "-quick" if settings.quick else ""
    res: dict = {"format": FORMAT, "format_version": FORMAT_VERSION,
                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                 "quick": settings.quick, "sections_run": list(only), "machine": machine(),
                 "load_at_start": other_load(), "source": _source_info(), "settings": settings.to_dict(),
                 "data_dir": str(data_dir),
                 "sections": {}, "skipped": {}, "seconds": {},
                 "threads": {"single_query": "1 (faiss.omp_set_num_threads(1), hnswlib num_threads=1, numba "
                                             "kernels serial for one query)",
                             "batch": f"{os.cpu_count()} (numba parallel, FAISS OpenMP, hnswlib threads)"}}
    from .contenders import available_peers

    res["skipped_peers"] = available_peers()       # e.g. hnswlib without the bench extra: said, not silent
    for name, why in res["skipped_peers"].items():
        ctx.say(f"skipped {name}: {why}")
    previous = _load_previous(out / f"results{suffix}.json", settings.quick) if update else None
    sampler = _LoadSampler()
    sampler.start()
    if any(s in only for s in DATA_SECTIONS + ("quality",)):
        info = build_corpus(out, data_dir, quick=settings.quick, log=ctx.say)
        if info is not None:
            ctx.data = load_bench_data(info, settings.queries, settings.seed)
            ctx.data.cross = load_cross(info.path, data_dir, settings.cross_queries, settings.seed)
            res["data"] = ctx.data.describe()
    modules = {"search": search, "scaling": scaling, "exactness": exactness, "sequence": sequence,
               "quality": quality}
    for sec in SECTIONS:
        if sec not in only:
            continue
        if sec in DATA_SECTIONS and ctx.data is None:
            res["skipped"][sec] = f"no benchmark data under {data_dir} (see benchmarks/README.md)"
            ctx.say(f"{sec}: skipped ({res['skipped'][sec]})")
            continue
        ctx.say(f"--- {sec} ---")
        t0 = time.perf_counter()
        try:
            res["sections"][sec] = modules[sec].run(ctx)
            if sec == "search":
                ctx.say("search: cold start (subprocesses)")
                res["sections"]["coldstart"] = coldstart.run(ctx, settings.coldstart)
        except Exception as e:  # a crashing section fails the run, with its traceback in the JSON
            tb = traceback.format_exc()
            ctx.failures.add(sec, [f"section crashed: {type(e).__name__}: {e}"])
            res["sections"][sec] = {"crashed": f"{type(e).__name__}: {e}", "traceback": tb[-4000:]}
            ctx.say(f"{sec}: CRASHED: {type(e).__name__}: {e}")
        res["seconds"][sec] = round(time.perf_counter() - t0, 1)
        if previous is None:           # a run stopped midway still leaves the sections done so far
            res["partial"] = True
            res["failures"] = list(ctx.failures.items)
            _atomic_write(out / f"results{suffix}.json",
                          json.dumps(_clean(res), indent=1, default=_json_default) + "\n")
    sampler.stop()
    res["load_during"] = sampler.summary()
    res["load_at_end"] = other_load()
    res.pop("partial", None)
    res["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if previous is not None:
        res = _merge_previous(previous, res, only, ctx)
    res["failures"] = list(ctx.failures.items)
    from .report import targets, write_summary

    res["targets"] = targets(res)
    res["outputs"] = {"json": f"results{suffix}.json", "summary": f"summary{suffix}.md"}
    if plots:
        from .plots import make_plots

        try:
            res["outputs"]["plots"] = make_plots(res, out, suffix)
        except Exception as e:  # plots are a view of the JSON: a plotting error is reported, not fatal
            res["outputs"]["plot_error"] = f"{type(e).__name__}: {e}"
    _atomic_write(out / f"results{suffix}.json", json.dumps(_clean(res), indent=1, default=_json_default) + "\n")
    summary = write_summary(res)
    _atomic_write(out / f"summary{suffix}.md", summary)
    if not settings.quick:          # the committed run's tables also go into benchmarks/README.md
        from .report import sync_readme

        sync_readme(summary, out.parent / "README.md")
    status = 1 if ctx.failures else 0
    return res, status
