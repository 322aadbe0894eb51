"""A sharded index: a corpus's valid frames split into N contiguous frame ranges, each an ordinary index
file (any backend), tied together by a manifest; searched like one index.

``posesearch build CORPUS --shards N`` (or :func:`build_sharded`) writes ``NAME.h5`` (the manifest) and
``NAME.shard000-of-00N.h5`` ... beside it. :meth:`Index.load` on the manifest returns a
:class:`ShardedIndex`: ``search`` / ``search_vectors`` / ``search_ids`` fan out to every shard and merge the
k-best lists (:func:`merge_knn`, vectorised), so the answer has the same shape, the same ids (corpus frame
ids: each shard stores its frames' corpus ids, so no mapping is lost) and, for exact shards, the same
distances as one index over the whole corpus.

The manifest's file format and the checks of a shard against it are :mod:`posesearch.index.manifest`.

Loading verifies, before answering any query: the manifest's header and checksum; that the ranges tile the
corpus's frames in order; and per shard that its file exists, holds the metric, normalization, backend and
corpus the manifest names, carries the checksum the manifest recorded, and that its data match that
checksum (:meth:`Index.load`). Each failure is a one-line error naming the manifest and the shard.

Execution (``execution=``): ``"local"`` (embedded: this process, one thread per shard; the kernels release
the GIL), ``"ray"`` (one Ray actor per shard, on whatever nodes the Ray cluster has:
:mod:`posesearch.index.ray_shards`, needs the ``cluster`` extra), or ``"auto"`` (the default: Ray when it
is installed and a Ray cluster is running or named by ``RAY_ADDRESS``, else local).

Faults: a shard that does not answer (its actor died mid-query, or its thread raised) makes the search
raise :class:`ShardUnavailableError`, unless the index was loaded with ``allow_partial=True``: then the
answer is the best among the shards that answered and :attr:`Matches.partial` says which are missing;
never a silently incomplete answer. (:meth:`search_ids`, used by clip search, always needs every shard.)
"""
from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError, PoseSearchError, UnknownNameError, check_number
from ..files import made_by, now_iso, output_path
from ..poses.distances import get_metric
from ..poses.normalize import DEFAULT_NORMALIZATION
from ..text import plural
from .fileformat import CHECKSUM_ATTR, read_index_attrs
from .index import Index
from .manifest import (CLUSTER_HINT, EXECUTIONS, ShardInfo, ShardUnavailableError, check_shard, read_manifest,
                       shard_file_name, write_manifest)
from .matches import Matches
from .query import DIM
from .registry import DEFAULT_BACKEND, get_backend_spec

__all__ = ["ShardedIndex", "ShardUnavailableError", "build_sharded", "merge_knn", "shard_ranges", "describe"]

# ----------------------------------------------------------------------------- splitting and merging

def shard_ranges(valid: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Split a corpus's frames 0..len(valid) into ``n`` contiguous ranges holding as equal numbers of valid
    frames as can be (they differ by at most one); together they tile the corpus in order."""
    valid = np.asarray(valid, dtype=bool)
    ids = np.flatnonzero(valid)
    n = check_number("--shards", n, integer=True, low=1)
    if n > len(ids):
        raise InvalidArgumentError(f"--shards: expected at most {len(ids)} (the corpus's valid frames), got {n}")
    starts = [0] + [int(part[0]) for part in np.array_split(ids, n)[1:]]
    stops = starts[1:] + [len(valid)]
    return list(zip(starts, stops))


#: above this many candidates per wanted result, :func:`merge_knn` partitions before sorting
MERGE_PARTITION_AFTER = 8


def merge_knn(ids: Sequence[np.ndarray], dists: Sequence[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard k-best lists, each (B, k_s) sorted, into the overall (B, k) best, ordered by distance
    and then by smaller frame id (as one index orders them). Vectorised over queries and shards: one
    lexsort of the (B, sum k_s) candidates. Shards hold disjoint frames, so no id appears twice."""
    all_ids = np.concatenate(ids, axis=1).astype(np.int64, copy=False)
    all_d = np.concatenate(dists, axis=1).astype(np.float64, copy=False)
    n = all_ids.shape[1]
    if n < k:
        raise InvalidArgumentError(f"k: expected at most {n} (the frames the answering shards hold), got {k}")
    if n <= MERGE_PARTITION_AFTER * k:
        order = np.lexsort((all_ids, all_d), axis=-1)[:, :k]
        return np.take_along_axis(all_ids, order, axis=1), np.take_along_axis(all_d, order, axis=1)
    # many shards: keep the candidates up to the k-th smallest distance (every tie included: ties go to the
    # smaller id), found by one partition, and sort only those
    kth = np.partition(all_d, k - 1, axis=1)[:, k - 1]
    out_i = np.empty((all_ids.shape[0], k), dtype=np.int64)
    out_d = np.empty((all_ids.shape[0], k), dtype=np.float64)
    for r in range(all_ids.shape[0]):
        cols = np.flatnonzero(all_d[r] <= kth[r])
        order = cols[np.lexsort((all_ids[r, cols], all_d[r, cols]))[:k]]
        out_i[r], out_d[r] = all_ids[r, order], all_d[r, order]
    return out_i, out_d


def check_loaded_shard(manifest: Path, i: int, shard: ShardInfo, index: Index) -> None:
    """A loaded shard's frames lie in the frame range the manifest gives it."""
    ids = index.frame_ids
    if len(ids) != shard.count or (len(ids) and (ids[0] < shard.frame_start or ids[-1] >= shard.frame_stop)):
        raise FileFormatError(f"{manifest}: shard {i} ({shard.file})",
                              f"its frames {int(ids[0]) if len(ids) else '-'}..{int(ids[-1]) if len(ids) else '-'} "
                              f"lie outside the manifest's range {shard.frame_start}:{shard.frame_stop}")


def load_shard(manifest: Path, attrs: dict[str, Any], i: int, shard: ShardInfo) -> Index:
    """Check and load shard ``i`` (the content verified against its checksum); errors name the shard."""
    path = check_shard(manifest, attrs, i, shard)
    try:
        index = Index.load(path)
    except FileFormatError as e:   # (ChecksumError included: the same class, naming the shard)
        raise type(e)(f"{manifest}: shard {i} ({shard.file})", e.problem) from None
    check_loaded_shard(manifest, i, shard, index)
    return index


def _check_ranges(path: Path, attrs: dict[str, Any], shards: list[ShardInfo]) -> None:
    end = 0
    for i, s in enumerate(shards):
        if s.frame_start != end or s.frame_stop <= s.frame_start:
            raise FileFormatError(path, f"damaged manifest: shard {i} covers frames {s.frame_start}:{s.frame_stop}, "
                                        f"expected a range starting at {end} (the shards tile the corpus in order)")
        end = s.frame_stop
    if int(attrs.get("corpus_frames", end)) != end or sum(s.count for s in shards) != int(attrs["count"]):
        raise FileFormatError(path, f"damaged manifest: shards cover {end} frames / {sum(s.count for s in shards)} "
                                    f"indexed, the manifest says {attrs.get('corpus_frames')} / {attrs['count']}")


# ----------------------------------------------------------------------------- executors

class LocalShards:
    """Embedded execution: every shard loaded in this process, searched by one thread per shard."""

    name = "local"

    def __init__(self, manifest: Path, attrs: dict[str, Any], shards: list[ShardInfo]):
        self.indexes = [load_shard(manifest, attrs, i, s) for i, s in enumerate(shards)]
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=len(self.indexes), thread_name_prefix="posesearch-shard")
            return self._pool

    def knn(self, vectors: np.ndarray, weights: np.ndarray | None, k: int) -> list[Any]:
        """Per shard ``(ids, distances)``, or the exception that shard raised."""
        def one(ix: Index):
            return ix._knn(vectors, weights, min(k, len(ix)))

        if len(self.indexes) == 1:
            waits = [lambda: one(self.indexes[0])]
        else:
            pool = self._executor()
            waits = [pool.submit(one, ix).result for ix in self.indexes]
        out: list[Any] = []
        for wait in waits:
            try:
                out.append(wait())
            except Exception as e:   # noqa: BLE001 - the caller reports it as this shard's failure
                out.append(e)
        return out

    def set_search_params(self, params: dict[str, Any]) -> None:
        for ix in self.indexes:
            ix.set_search_params(**params)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None


def _ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def choose_execution(execution: str | None) -> str:
    """``auto`` -> ``ray`` when ray is installed and a cluster is running or named (``RAY_ADDRESS``), else
    ``local``; ``ray``, or ``auto`` with ``RAY_ADDRESS`` set, without ray installed: one line saying what to
    install (a named cluster is never silently replaced by local threads)."""
    execution = "auto" if execution is None else str(execution).lower()
    if execution not in EXECUTIONS:
        raise UnknownNameError("execution", execution, EXECUTIONS)
    if execution == "ray" and not _ray_available():
        raise InvalidArgumentError(f"Ray execution needs the 'cluster' extra: {CLUSTER_HINT}")
    if execution == "auto":
        if not _ray_available():
            if os.environ.get("RAY_ADDRESS"):
                raise InvalidArgumentError(f"RAY_ADDRESS names a Ray cluster ({os.environ['RAY_ADDRESS']}), but Ray "
                                           f"execution needs the 'cluster' extra: {CLUSTER_HINT}; or unset "
                                           "RAY_ADDRESS, or pass --local, to search the shards in this process")
            return "local"
        import sys

        ray = sys.modules.get("ray")
        running = ray is not None and ray.is_initialized()
        return "ray" if running or os.environ.get("RAY_ADDRESS") else "local"
    return execution


# ----------------------------------------------------------------------------- the sharded index

class ShardedIndex(Index):
    """Several index files searched as one (see the module doc). Built by :func:`build_sharded`, opened by
    :meth:`Index.load` on its manifest."""

    def __init__(self, path: Path, attrs: dict[str, Any], shards: list[ShardInfo], executor, corpus=None,
                 allow_partial: bool = False):
        metric = get_metric(attrs["metric"]).name
        super().__init__(None, None, np.zeros(0, dtype=np.int64), metric, attrs, corpus=None, path=path)
        self.shards = shards
        self.executor = executor
        self.allow_partial = bool(allow_partial)
        self._count = int(attrs["count"])
        self._spec = get_backend_spec(attrs["backend"])
        self._params = dict(attrs.get("backend_params") or {})
        self._local = threading.local()
        if corpus is not None:
            self.attach_corpus(corpus)

    @classmethod
    def load(cls, path: str | os.PathLike, corpus=None, *, execution: str | None = None,
             allow_partial: bool = False, **ray_options) -> "ShardedIndex":
        """Read and verify a manifest and its shards; ``execution``: ``local``, ``ray`` or ``auto``;
        ``allow_partial``: answer (marked partial) when a shard fails instead of raising. ``ray_options``
        (``max_restarts``, ``timeout``) go to the Ray executor."""
        path = Path(path)
        attrs, shards = read_manifest(path)
        try:
            get_backend_spec(attrs["backend"])
            get_metric(attrs["metric"])
        except PoseSearchError as e:
            raise FileFormatError(path, f"manifest names {e}") from None
        if attrs.get("normalization") != DEFAULT_NORMALIZATION.to_dict():
            raise FileFormatError(path, f"sharded index uses normalization {attrs.get('normalization')}, this "
                                        f"posesearch uses {DEFAULT_NORMALIZATION.to_dict()}; rebuild it")
        if attrs.get("layout", "coco17") != "coco17" or int(attrs.get("dimension", DIM)) != DIM:
            raise FileFormatError(path, f"sharded index holds {attrs.get('layout')} vectors of dimension "
                                        f"{attrs.get('dimension')}, expected coco17 / {DIM}")
        _check_ranges(path, attrs, shards)
        mode = choose_execution(execution)
        if mode == "ray":
            from .ray_shards import RayShards

            executor = RayShards(path, attrs, shards, load_shard, **ray_options)
        else:
            if ray_options:
                raise InvalidArgumentError(f"option(s) {', '.join(sorted(ray_options))} only apply to Ray execution")
            executor = LocalShards(path, attrs, shards)
        return cls(path, attrs, shards, executor, corpus=corpus, allow_partial=allow_partial)

    # --- what Index reads from its backend ------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __repr__(self) -> str:
        return (f"ShardedIndex(shards={len(self.shards)}, execution={self.execution!r}, backend={self.backend_name!r}, "
                f"metric={self.metric!r}, count={len(self)}, corpus={self.corpus_path or None!r})")

    @property
    def execution(self) -> str:
        return self.executor.name

    @property
    def backend_name(self) -> str:
        return self._spec.name

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    @property
    def exact(self) -> bool:
        """Exact when its shards are (the same backend and parameters in every shard)."""
        return bool(self._spec.load().exact_for(self.metric, self._params))

    def _last_frame_id(self) -> int:
        last = self.shards[-1]
        return last.frame_stop - 1 if self._count else -1

    def set_search_params(self, **params) -> "ShardedIndex":
        """Change search-only parameters (``ef_search``, ``nprobe``, ...) of every shard (checked here first,
        as :meth:`Index.set_search_params` checks them)."""
        from .backend import parse_params

        bcls = self._spec.load()
        for key in params:
            if key not in bcls.SEARCH_PARAMS:
                raise UnknownNameError(f"search parameter of backend {self.backend_name!r}", key,
                                       bcls.SEARCH_PARAMS or ["(none)"])
        parse_params(bcls.Params, self.backend_name, params)
        self.executor.set_search_params(params)
        self._params.update(params)
        return self

    # --- searching ------------------------------------------------------------------------------

    def _knn(self, vectors: np.ndarray, weights: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        answers = self.executor.knn(vectors, weights, k)
        ids, dists, failed = [], [], []
        for i, a in enumerate(answers):
            if isinstance(a, PoseSearchError) and not isinstance(a, ShardUnavailableError):
                raise a                   # the query itself is wrong: every shard would say so
            if isinstance(a, BaseException):
                failed.append((i, a))
            else:
                ids.append(a[0])
                dists.append(a[1])
        if failed:
            allowed = self.allow_partial and getattr(self._local, "matches", False)
            i, err = failed[0]
            reason = f"shard {i} ({self.shards[i].file}) did not answer: {_one_line(err)}"
            if not allowed or len(failed) == len(answers):
                more = f" (and {plural(len(failed) - 1, 'other shard')})" if len(failed) > 1 else ""
                hint = ("" if not self.allow_partial else
                        "; clip search needs every shard" if not getattr(self._local, "matches", False) else "")
                raise ShardUnavailableError(f"{self.path}: {reason}{more}; the answer would be incomplete, so none is "
                                            f"given{hint} (retry: {self._restart_note()}; or allow a partial answer "
                                            "with allow_partial=True / --allow-partial)")
            missing = self._local.missing
            for j, _ in failed:
                missing.setdefault(j, reason if j == i else f"shard {j} ({self.shards[j].file}) did not answer: "
                                                              f"{_one_line(_)}")
        return merge_knn(ids, dists, k)

    def _restart_note(self) -> str:
        return getattr(self.executor, "restart_note", "the shard is searched again on the next query")

    def _with_partial(self, run: Callable[[], Matches]) -> Matches:
        self._local.matches = True
        self._local.missing = {}
        try:
            m = run()
            if self._local.missing:
                miss = sorted(self._local.missing)
                m.partial = {"missing_shards": miss,
                             "missing_frames": int(sum(self.shards[i].count for i in miss)),
                             "total_frames": len(self), "reason": "; ".join(self._local.missing[i] for i in miss)}
            return m
        finally:
            self._local.matches = False
            self._local.missing = {}

    def search(self, poses, k: int = 10, **options) -> Matches:
        """As :meth:`Index.search`; with ``allow_partial`` set at load, a shard that fails gives an answer
        marked :attr:`Matches.partial` instead of an error."""
        return self._with_partial(lambda: super(ShardedIndex, self).search(poses, k, **options))

    def search_vectors(self, vectors, k: int = 10, *, weights=None) -> Matches:
        """As :meth:`Index.search_vectors` (partial answers as in :meth:`search`)."""
        return self._with_partial(lambda: super(ShardedIndex, self).search_vectors(vectors, k, weights=weights))

    # --- persistence / description ----------------------------------------------------------------

    def save(self, path):
        raise InvalidArgumentError("a sharded index is saved when it is built (`posesearch build CORPUS --shards N`); "
                                   "copy its manifest together with its shard files")

    def describe(self) -> dict[str, Any]:
        d = {"backend": self.backend_name, "metric": self.metric, "count": len(self), "params": self.params,
             "exact": self.exact, "corpus_path": self.corpus_path or None,
             "corpus_checksum": self.corpus_checksum or None, "execution": self.execution,
             "shards": [s.to_dict() for s in self.shards]}
        return d

    def close(self) -> None:
        """Stop the shards' threads or Ray actors."""
        self.executor.close()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# ----------------------------------------------------------------------------- building

def _build_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Build one shard and save it (runs in a worker process or a Ray task): returns what the manifest
    records of it."""
    from ..corpus.store import Corpus

    t0 = time.perf_counter()
    with Corpus.open(job["corpus"]) as c:
        index = Index.build(c, metric=job["metric"], backend=job["backend"], verify=False,
                            frame_range=(job["start"], job["stop"]), **job["params"])
        index.save(job["out"])
    out = Path(job["out"])
    info = ShardInfo(file=out.name, checksum=str(read_index_attrs(out)[CHECKSUM_ATTR]), count=len(index),
                     frame_start=job["start"], frame_stop=job["stop"], size_bytes=out.stat().st_size).to_dict()
    recall = {k: v for k, v in index.attrs.items() if k.startswith("build_recall_at_")}
    return {"shard": info, "build_seconds": index.attrs.get("build_seconds"), "recall": recall,
            "seconds": round(time.perf_counter() - t0, 3)}


_WORKER = "import sys; from posesearch.index.sharded import _worker_main; sys.exit(_worker_main())"


def _worker_main() -> int:
    """A shard-building process: one job (JSON) on stdin, its result (JSON) on stdout; a posesearch error
    is reported as ``{"error": message}``."""
    import sys

    job = json.loads(sys.stdin.read())
    try:
        out = _build_shard(job)
    except PoseSearchError as e:
        out = {"error": str(e)}
    sys.stdout.write(json.dumps(out))
    return 0


def _build_in_subprocess(job: dict[str, Any]) -> dict[str, Any]:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _WORKER], input=json.dumps(job), capture_output=True, text=True)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        tail = " ".join(r.stderr.strip().splitlines()[-1:]) or f"exit status {r.returncode}"
        raise InvalidArgumentError(f"building shard {Path(job['out']).name} failed: {tail}") from None
    if "error" in out:
        raise InvalidArgumentError(out["error"])
    return out


def _run_jobs(jobs: list[dict[str, Any]], workers: int, parallel: str,
              progress: Callable[[int, int], None] | None) -> list[dict[str, Any]]:
    done: list[dict[str, Any] | None] = [None] * len(jobs)
    if parallel == "ray":
        from .ray_shards import build_shards_on_ray

        return build_shards_on_ray(_build_shard, jobs, progress)
    if workers <= 1 or len(jobs) == 1:
        for i, job in enumerate(jobs):
            done[i] = _build_shard(job)
            if progress:
                progress(i + 1, len(jobs))
        return done   # type: ignore[return-value]
    # each shard in a fresh interpreter: no forked OpenMP (FAISS) or h5py state, and unlike a spawned
    # multiprocessing worker it never re-runs the caller's script
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(_build_in_subprocess, job): i for i, job in enumerate(jobs)}
        for n, fut in enumerate(as_completed(futures), 1):
            done[futures[fut]] = fut.result()
            if progress:
                progress(n, len(jobs))
    return done   # type: ignore[return-value]


def build_sharded(corpus: str | os.PathLike, out: str | os.PathLike, shards: int, *, metric: str = "weighted",
                  backend: str = DEFAULT_BACKEND, params: dict[str, Any] | None = None, workers: int | None = None,
                  parallel: str = "processes", overwrite: bool = False,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Build a sharded index over a corpus file: ``shards`` index files (``backend`` with ``params``) over
    contiguous frame ranges, built in parallel (``parallel="processes"``: up to ``workers`` processes,
    default one per CPU; ``"ray"``: Ray tasks), then the manifest ``out``. The corpus is verified once
    here. Returns a summary (manifest, shards, timings, per-shard recall of approximate backends)."""
    from ..corpus.store import Corpus
    from .backend import parse_params

    t0 = time.perf_counter()
    corpus, out = Path(corpus), Path(out)
    spec = get_backend_spec(backend)
    metric = get_metric(metric).name
    params = dict(params or {})
    parse_params(spec.load().Params, spec.name, params)
    if parallel not in ("processes", "ray"):
        raise UnknownNameError("build parallelism", parallel, ("processes", "ray"))
    if parallel == "ray" and not _ray_available():
        raise InvalidArgumentError(f"building shards on Ray needs the 'cluster' extra: {CLUSTER_HINT}")
    workers = os.cpu_count() or 1 if workers is None else check_number("--workers", workers, integer=True, low=1)
    with Corpus.open(corpus) as c:
        norm = c.normalization
        if norm != DEFAULT_NORMALIZATION.to_dict():
            raise InvalidArgumentError(f"corpus {corpus}: its vectors use normalization {norm}, this posesearch uses "
                                       f"{DEFAULT_NORMALIZATION.to_dict()}; re-ingest it")
        c.verify()
        ranges = shard_ranges(c.valid, shards)
        n_frames, checksum = len(c), str(c.checksum)
    n = len(ranges)
    paths = [output_path(str(out.parent / shard_file_name(out, i, n)), "", overwrite=overwrite, inputs=[corpus],
                         what=f"shard {i}") for i in range(n)]
    jobs = [{"corpus": str(corpus.resolve()), "metric": metric, "backend": spec.name, "params": params,
             "start": lo, "stop": hi, "out": str(p.resolve())} for (lo, hi), p in zip(ranges, paths)]
    results = _run_jobs(jobs, min(workers, n), parallel, progress)
    infos = [r["shard"] for r in results]
    cpath = corpus.resolve()
    try:
        relpath = os.path.relpath(cpath, out.resolve().parent)
    except ValueError:
        relpath = ""
    attrs = {"metric": metric, "backend": spec.name, "backend_params": dict(params),
             "normalization": DEFAULT_NORMALIZATION.to_dict(), "layout": "coco17", "dimension": DIM,
             "count": int(sum(s["count"] for s in infos)), "corpus_path": str(cpath), "corpus_relpath": relpath,
             "corpus_checksum": checksum, "corpus_frames": int(n_frames), "shards": infos,
             "created": now_iso(), "created_by": made_by()}
    write_manifest(out, attrs)
    exact = bool(spec.load().exact_for(metric, parse_params(spec.load().Params, spec.name, params)))
    if not exact:   # the merged answer's recall, measured as for one index; kept in the manifest
        attrs.update(measure_merged_recall(out, corpus))
        write_manifest(out, attrs)
    recalls = [v for r in results for v in r["recall"].values()]
    summary = {"manifest": str(out), "corpus": str(corpus), "backend": spec.name, "metric": metric,
               "params": params, "shards": n, "parallel": parallel, "workers": min(workers, n),
               "frames_indexed": attrs["count"], "corpus_frames": int(n_frames),
               "shard_build_seconds": [r["build_seconds"] for r in results],
               "shard_files": [s["file"] for s in infos],
               "size_bytes": int(sum(s["size_bytes"] for s in infos) + out.stat().st_size),
               "total_seconds": round(time.perf_counter() - t0, 3), "exact": exact}
    summary.update({k: v for k, v in attrs.items() if k.startswith("build_recall_")})
    if recalls:
        summary["shard_recall_at_10"] = {"min": min(recalls), "mean": round(float(np.mean(recalls)), 4)}
    return summary


class _MergedView:
    """A sharded index loaded locally, seen as one index by :func:`~posesearch.index.index.measure_build_recall`:
    rows are positions in the shards' frame ids laid end to end (ascending, since the shards hold contiguous
    frame ranges), ``data`` the shards' vectors in that order (for the brute-force truth), and ``knn`` the
    sharded search (fan-out and merge) with its frame ids mapped back to rows."""

    def __init__(self, sharded: "ShardedIndex"):
        indexes = sharded.executor.indexes
        self._sharded = sharded
        self.metric, self.backend_name = sharded.metric, sharded.backend_name
        self.frame_ids = np.concatenate([ix.frame_ids for ix in indexes])
        self.data = np.concatenate([np.asarray(ix.data) for ix in indexes])
        self.params = indexes[0].backend.params
        self.backend = self

    def __len__(self) -> int:
        return len(self.frame_ids)

    def knn(self, q: np.ndarray, w: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids, dists = self._sharded._knn(q, w, k)
        return np.where(ids >= 0, np.searchsorted(self.frame_ids, ids), -1), dists


def measure_merged_recall(manifest: str | os.PathLike, corpus: str | os.PathLike) -> dict[str, Any]:
    """recall@10 of a sharded index's merged answer against brute force over all its frames, on the same
    queries and with the same rule as one index's build recall (:func:`measure_build_recall`). Returns the
    attributes kept in the manifest (``build_recall_at_10``, ``build_recall_queries``,
    ``build_recall_seconds``)."""
    from ..corpus.store import Corpus
    from .index import measure_build_recall

    sharded = ShardedIndex.load(manifest, execution="local")
    try:
        with Corpus.open(corpus) as c:
            return measure_build_recall(_MergedView(sharded), c)
    finally:
        sharded.close()


# ----------------------------------------------------------------------------- posesearch info

def describe(path: str | os.PathLike, *, verify: bool = False) -> dict[str, Any]:
    """``posesearch info`` for a manifest: its attributes, shards and what they add up to; ``verify`` also
    checks every shard (attributes against the manifest, then its content against its checksum)."""
    path = Path(path)
    attrs, shards = read_manifest(path, verify=verify)
    out = {k: v for k, v in attrs.items()}
    out["path"] = str(path)
    out["num_shards"] = len(shards)
    out["size_bytes"] = path.stat().st_size
    out["shards_size_bytes"] = int(sum(s.size_bytes for s in shards))
    try:
        spec = get_backend_spec(str(attrs.get("backend")))
        params = attrs.get("backend_params") if isinstance(attrs.get("backend_params"), dict) else {}
        merged = {k: v for k, v in attrs.items() if k.startswith("build_recall_")}
        out["recall"] = ({"exact": True} if spec.load().exact_for(str(attrs.get("metric")), params)
                         else {"exact": False, "measured": True, **merged} if merged
                         else {"exact": False, "measured": False,
                               "note": "approximate shards built before the merged recall was measured: each "
                                       "shard's recall@10 is in its own file (posesearch info SHARD)"})
    except PoseSearchError:
        pass
    if verify:
        t0 = time.perf_counter()
        _check_ranges(path, attrs, shards)
        for i, s in enumerate(shards):
            load_shard(path, attrs, i, s)
        out["verified"] = {"checksum": attrs.get(CHECKSUM_ATTR), "shards": len(shards),
                           "bytes": out["shards_size_bytes"], "seconds": round(time.perf_counter() - t0, 3)}
    return out
