"""Timing, memory and machine facts.

* Single-query latency: each query alone (batch of one), timed with ``perf_counter_ns`` around the
  ``knn`` call, after ``WARMUP`` untimed queries; median and 99th percentile over the queries.
* Batch throughput: all queries in one call (every core), queries per second = B / the median wall time
  of up to ``BATCH_CALLS`` such calls (fewer once they have taken ``BATCH_BUDGET_S`` in all: a slow
  peer's batch is timed once), after an untimed 2-query batch (so that compiling the parallel kernels
  is not counted). One call of a fast backend lasts ~20 ms, at the mercy of a shared machine's minute.
* Peak memory of a build: measured in a fresh subprocess (:mod:`posesearch_bench._worker`) as
  ``VmHWM`` (peak resident set, /proc/self/status) after the build minus ``VmHWM`` just before it (data
  loaded, libraries imported, kernels compiled on a tiny input) — the extra memory the build needed
  at its peak. Where /proc is missing, ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is used.
"""
from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Callable

import numpy as np

WARMUP = 3
BATCH_CALLS = 5
BATCH_BUDGET_S = 10.0


def latency(fn: Callable[[int], object], n: int, warmup: int = WARMUP) -> np.ndarray:
    """Seconds per call of ``fn(i)`` for i in range(n) (after ``warmup`` untimed calls)."""
    for i in range(min(warmup, n)):
        fn(i)
    out = np.empty(n)
    pc = time.perf_counter_ns
    for i in range(n):
        t0 = pc()
        fn(i)
        out[i] = (pc() - t0) * 1e-9
    return out


def timed_median(fn: Callable[[], object], calls: int = BATCH_CALLS,
                 budget_s: float = BATCH_BUDGET_S) -> tuple[object, float, int]:
    """(the first call's result, the median seconds of the calls made, their number): ``fn`` is called
    up to ``calls`` times, and no more once the calls have taken ``budget_s`` seconds in all."""
    first, t = timed(fn)
    times = [t]
    while len(times) < calls and sum(times) < budget_s:
        times.append(timed(fn)[1])
    return first, float(np.median(times)), len(times)


def summarize(seconds: np.ndarray) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"median_ms": float(np.median(ms)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_ms": float(ms.mean()), "min_ms": float(ms.min()), "max_ms": float(ms.max()), "n": int(len(ms))}


def timed(fn: Callable[[], object]) -> tuple[object, float]:
    t0 = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t0


def _proc_line(path: str, prefix: str) -> str | None:
    """The first line of a /proc file that starts with ``prefix`` (case aside); None if none or unreadable."""
    try:
        with open(path) as f:
            for line in f:
                if line.lower().startswith(prefix.lower()):
                    return line
    except OSError:
        pass
    return None


def _proc_bytes(path: str, key: str) -> int | None:
    """A ``key: N kB`` field of a /proc file in bytes; None if absent or unreadable."""
    line = _proc_line(path, key + ":")
    return None if line is None else int(line.split()[1]) * 1024


def rss_bytes() -> int:
    """Resident set size of this process now (bytes; 0 where /proc is missing)."""
    return _proc_bytes("/proc/self/status", "VmRSS") or 0


def vm_hwm_bytes() -> int:
    """Peak resident set size of this process so far (bytes)."""
    hwm = _proc_bytes("/proc/self/status", "VmHWM")
    if hwm is not None:
        return hwm
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(r if sys.platform == "darwin" else r * 1024)


def reset_hwm() -> bool:
    """Reset VmHWM to the current RSS (Linux: write 5 to /proc/self/clear_refs); True if it worked."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu_model() -> str:
    line = _proc_line("/proc/cpuinfo", "model name")
    if line is not None:
        return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _ram_bytes() -> int | None:
    return _proc_bytes("/proc/meminfo", "MemTotal")


def _version(mod: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(mod)
    except Exception:
        return None


def other_load() -> dict:
    """Load average and other busy processes at this moment (benchmarks share the machine)."""
    out: dict = {}
    try:
        out["loadavg"] = [float(x) for x in open("/proc/loadavg").read().split()[:3]]
    except OSError:
        pass
    try:
        ps = subprocess.run(["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                            timeout=5).stdout.splitlines()[1:]
        me = os.getpid()
        busy = []
        for line in ps:
            parts = line.split(None, 2)
            if len(parts) < 3:
                continue
            pid, cpu, args = int(parts[0]), float(parts[1]), parts[2]
            if pid != me and cpu >= 20.0:
                busy.append({"pid": pid, "cpu_percent": cpu, "command": args[:120]})
        out["busy_processes"] = busy[:10]
    except Exception:
        pass
    return out


def machine() -> dict:
    """CPU, cores, RAM, OS and library versions."""
    import numpy

    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_bytes": _ram_bytes(),
            "ram_gib": round((_ram_bytes() or 0) / 2 ** 30, 1), "os": platform.platform(),
            "python": platform.python_version(),
            "versions": {"numpy": numpy.__version__, "numba": _version("numba"), "faiss-cpu": _version("faiss-cpu"),
                         "hnswlib": _version("hnswlib"), "vptree": _version("vptree"), "scipy": _version("scipy"),
                         "h5py": _version("h5py"), "posesearch": _version("posesearch")},
            "numba_threads": _numba_threads()}


def _numba_threads():
    try:
        import numba

        return int(numba.config.NUMBA_NUM_THREADS)
    except Exception:
        return None
