"""How fast is this index on this machine: median / p99 milliseconds per single query and queries per
second batched (``posesearch bench --index FILE [--queries FILE]``).

Queries are either the poses of a pose or sequence file (every frame one query, through
:meth:`Index.search`: validation, normalization and search, as an app calls it), or drawn from the index's
own vectors with jitter (through :meth:`Index.search_vectors`): ``count`` rows drawn at random (seeded),
each coordinate moved by N(0, ``jitter``²) and the vector scaled back to unit length (index vectors are
unit vectors, so 0.01 is about 6% of a typical coordinate). Under the weighted metric a drawn query's
per-joint weights are uniform in [0.3, 1], like a pose estimator's confidences (the index stores no
confidences); they change how hard the query is, so the output says which were used.

Single-query latency: one query per call, ``perf_counter_ns`` around the call, after ``warmup`` untimed
calls (numba's first call loads or compiles its kernels). Batched: all queries in one call, after one
untimed batched call. Answers are not checked here: the benchmark suite in the repository's
``benchmarks/`` folder checks every answer of every backend against brute force.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidArgumentError, check_number

DEFAULT_COUNT = 200
MAX_COUNT = 1_000_000           # queries drawn at most (34 float64 each: 272 MB)
DEFAULT_JITTER = 0.01
WEIGHT_RANGE = (0.3, 1.0)


@dataclass(frozen=True)
class IndexTiming:
    """Timings of one index (see the module doc)."""

    backend: str
    metric: str
    indexed_frames: int
    k: int
    queries: int
    query_source: str          # what the queries were, in words
    weights: str | None        # weighted metric: which per-joint weights; None for cosine
    warmup: int
    single_median_ms: float
    single_p99_ms: float
    single_mean_ms: float
    batch_seconds: float
    batch_queries_per_second: float

    def to_dict(self) -> dict:
        return asdict(self)


def drawn_queries(index, count: int = DEFAULT_COUNT, *, jitter: float = DEFAULT_JITTER,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray | None]:
    """``count`` query vectors (count, 34) drawn from the index's rows with jitter, and their weights
    (count, 17) uniform in :data:`WEIGHT_RANGE` for the weighted metric (None for cosine)."""
    count = _positive_int("count", count)
    if count > MAX_COUNT:
        raise InvalidArgumentError(f"count: expected at most {MAX_COUNT:,} queries, got {count:,}")
    jitter = check_number("jitter", jitter, low=0)
    n = len(index)
    if n == 0:
        raise InvalidArgumentError("index: it holds no frames to draw queries from")
    rng = np.random.default_rng(seed)
    rows = rng.choice(n, size=count, replace=count > n)
    v = np.asarray(index.data[rows], dtype=np.float64)
    v = v + rng.normal(0.0, float(jitter), v.shape)
    norms = np.sqrt((v * v).sum(axis=1, keepdims=True))
    v = v / np.where(norms > 0, norms, 1.0)
    w = rng.uniform(*WEIGHT_RANGE, (count, v.shape[1] // 2)) if index.metric == "weighted" else None
    return v, w


def time_index(index, poses=None, *, layout: str = "coco17", confidences=None, k: int = 10,
               count: int = DEFAULT_COUNT, jitter: float = DEFAULT_JITTER, seed: int = 0,
               warmup: int = 3, source: str | None = None) -> IndexTiming:
    """Time ``index`` (a loaded :class:`~posesearch.index.Index`) on ``poses`` ((B, K, 3), or (B, K, 2) with
    ``confidences``, in ``layout``) or, when ``poses`` is None, on ``count`` queries drawn from its own
    vectors (see the module doc). ``source`` names the poses in the result (e.g. their file)."""
    k = _positive_int("k", k)
    if k > len(index):
        raise InvalidArgumentError(f"k: expected 1 <= k <= {len(index)} (the number of indexed frames), got {k}")
    warmup = int(warmup)
    if poses is None:
        vectors, weights = drawn_queries(index, count, jitter=jitter, seed=seed)

        def one(i: int):
            return index.search_vectors(vectors[i], k, weights=None if weights is None else weights[i])

        def batch():
            return index.search_vectors(vectors, k, weights=weights)

        n = len(vectors)
        what = (f"{n} drawn from the index's own vectors (seed {seed}), each coordinate jittered by "
                f"N(0, {jitter:g}^2), scaled back to unit length; timed through Index.search_vectors")
        wdesc = (f"uniform in [{WEIGHT_RANGE[0]:g}, {WEIGHT_RANGE[1]:g}] per joint (like a pose estimator's "
                 "confidences)") if index.metric == "weighted" else None
    else:
        arr = np.asarray(poses)
        if arr.ndim == 2:
            arr = arr[None]
            confidences = None if confidences is None else np.asarray(confidences)[None]
        if arr.ndim != 3 or len(arr) == 0:
            raise InvalidArgumentError(f"poses: expected a batch (B, K, 3) of at least one pose, got shape {arr.shape}")
        conf = None if confidences is None else np.asarray(confidences)

        def one(i: int):
            return index.search(arr[i], k, layout=layout, confidences=None if conf is None else conf[i])

        def batch():
            return index.search(arr, k, layout=layout, confidences=conf)

        n = len(arr)
        what = (f"{n} pose(s) from {source or 'the given poses'} (layout {layout}), each searched as given; "
                "timed through Index.search (validation, normalization and search)")
        wdesc = "the poses' own confidences" if index.metric == "weighted" else None
    batch()                                   # untimed: loads / compiles the kernels, checks the queries
    for i in range(min(warmup, n)):
        one(i)
    times = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter_ns()
        one(i)
        times[i] = (time.perf_counter_ns() - t0) / 1e6
    t0 = time.perf_counter_ns()
    batch()
    secs = (time.perf_counter_ns() - t0) / 1e9
    return IndexTiming(backend=index.backend_name, metric=index.metric, indexed_frames=len(index), k=k,
                       queries=n, query_source=what, weights=wdesc, warmup=warmup,
                       single_median_ms=float(np.median(times)), single_p99_ms=float(np.percentile(times, 99)),
                       single_mean_ms=float(times.mean()), batch_seconds=secs,
                       batch_queries_per_second=float(n / secs) if secs > 0 else float("inf"))


def _positive_int(name: str, value) -> int:
    return check_number(name, value, integer=True, low=1)
