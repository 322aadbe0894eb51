"""Ray execution of a sharded index (the ``cluster`` extra: ``pip install "posesearch[cluster]"``).

Each shard is served by one Ray actor (:class:`ShardServer`), placed by Ray on whatever nodes the cluster
has (``SPREAD``); the actor loads its shard file with every check of :func:`sharded.load_shard`, so the
shard files must be readable at the same path on every node (a shared or replicated folder). A query is
put once in Ray's object store and sent to every actor; their k-best lists come back to the caller, which
merges them (:func:`sharded.merge_knn`).

Faults: an actor that dies mid-query (its process killed, its node lost) makes that shard's answer a
:class:`~posesearch.index.sharded.ShardUnavailableError` (the sharded index then raises it, or answers
marked partial when allowed), and Ray restarts the actor (``max_restarts``, default: always), which
reloads its shard: the next query is answered whole again. Calls are not retried (``max_task_retries=0``),
so a failure is reported, never hidden behind a silent retry of part of the fan-out. A query waits at most
``timeout`` seconds (default :data:`QUERY_TIMEOUT`, one deadline for the whole fan-out) for the shards'
answers: a shard that has not answered by then (a hung actor, a lost node) counts as unavailable, so a query
never hangs.

Ray is imported only here, and only when Ray execution is asked for; this module joins an existing Ray
(``ray.init`` done by the caller, or ``RAY_ADDRESS``) or starts a local one.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ChecksumError, FileFormatError, InvalidArgumentError, PoseSearchError
from .manifest import CLUSTER_HINT, ShardInfo, ShardUnavailableError, check_shard

#: Ray restarts a dead shard actor this many times (-1: without limit)
MAX_RESTARTS = -1
#: seconds to wait for the actors to load their shards
LOAD_TIMEOUT = 600.0
#: seconds a query waits for all the shards' answers (one deadline for the whole fan-out) by default
QUERY_TIMEOUT = 60.0


def ray_module():
    """``ray``, imported on first use; without it, one line saying what to install."""
    try:
        import ray
    except ImportError:
        raise InvalidArgumentError(f"Ray execution needs the 'cluster' extra: {CLUSTER_HINT}") from None
    return ray


def ensure_ray():
    """Ray, joined or started: the caller's ``ray.init`` if done, else ``RAY_ADDRESS``'s cluster, else a
    local Ray on this machine."""
    ray = ray_module()
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=False)
    return ray


class ShardServer:
    """A Ray actor serving one shard (made a Ray actor class by :class:`RayShards`)."""

    def __init__(self, load: Callable, manifest: str, attrs: dict[str, Any], i: int, shard: ShardInfo):
        """``load``: :func:`posesearch.index.sharded.load_shard` (passed in, so that this module does not
        import the sharded index, which imports it)."""
        self.error: tuple[str, str, str] | None = None
        self.index = None
        try:
            self.index = load(Path(manifest), attrs, i, shard)
        except FileFormatError as e:   # reported by ready(): one line, not an actor traceback
            self.error = (type(e).__name__, e.path, e.problem)
        self.search_params: dict[str, Any] = {}
        if self.index is not None:     # compile / load the search kernels now, within LOAD_TIMEOUT, so that
            dim = int(attrs.get("dimension", 34))    # the first query's QUERY_TIMEOUT is not spent on them:
            for n in (1, 2):                         # one query and a batch run different kernels, and the
                for writable in (True, False):       # arrays Ray delivers are read-only (another numba type)
                    v = np.full((n, dim), 0.1)
                    w = np.ones((n, dim // 2)) if self.index.metric == "weighted" else None
                    for a in (v, w):
                        if a is not None:
                            a.setflags(write=writable)
                    self.index._knn(v, w, 1)

    def ready(self) -> tuple[str, str, str] | int:
        """The load error (kind, where, problem), or the number of frames the shard holds."""
        return self.error if self.error is not None else len(self.index)

    def knn(self, query: tuple[np.ndarray, np.ndarray | None], k: int, search_params: dict[str, Any]):
        if search_params != self.search_params:
            self.index.set_search_params(**search_params)
            self.search_params = dict(search_params)
        vectors, weights = query
        return self.index._knn(vectors, weights, min(k, len(self.index)))


class RayShards:
    """Ray execution: one :class:`ShardServer` actor per shard."""

    name = "ray"

    def __init__(self, manifest: Path, attrs: dict[str, Any], shards: list[ShardInfo], load: Callable, *,
                 max_restarts: int = MAX_RESTARTS, timeout: float = QUERY_TIMEOUT, num_cpus: float = 0):
        ray = ensure_ray()
        for i, s in enumerate(shards):   # the cheap checks here first: clear errors before any actor starts
            check_shard(manifest, attrs, i, s)
        self.max_restarts = int(max_restarts)
        if timeout is None or not timeout > 0 or not np.isfinite(timeout):
            raise InvalidArgumentError(f"timeout: expected a positive number of seconds, got {timeout!r}")
        self.timeout = float(timeout)
        self.search_params: dict[str, Any] = {}
        server = ray.remote(ShardServer).options(max_restarts=self.max_restarts, max_task_retries=0,
                                                 num_cpus=num_cpus, scheduling_strategy="SPREAD")
        self.actors = [server.remote(load, str(manifest), attrs, i, s) for i, s in enumerate(shards)]
        try:
            states = ray.get([a.ready.remote() for a in self.actors], timeout=LOAD_TIMEOUT)
        except ray.exceptions.RayError as e:
            self.close()
            raise FileFormatError(manifest, f"a shard actor failed to start: {_ray_line(e)}") from None
        for state in states:
            if isinstance(state, tuple):
                self.close()
                kind, where, problem = state
                raise (ChecksumError if kind == "ChecksumError" else FileFormatError)(where, problem)
        self.restart_note = ("Ray restarts the shard's actor, which reloads its shard" +
                             (f" (at most {self.max_restarts} times)" if self.max_restarts >= 0 else ""))

    def knn(self, vectors: np.ndarray, weights: np.ndarray | None, k: int) -> list[Any]:
        """Per shard ``(ids, distances)``, or the error standing for that shard's answer."""
        ray = ray_module()
        query = ray.put((vectors, weights))
        refs = [a.knn.remote(query, k, self.search_params) for a in self.actors]
        out: list[Any] = []
        deadline = time.monotonic() + self.timeout
        for i, ref in enumerate(refs):
            try:
                out.append(ray.get(ref, timeout=max(deadline - time.monotonic(), 0.0)))
            except ray.exceptions.GetTimeoutError:
                try:
                    ray.cancel(ref)
                except Exception:   # noqa: BLE001 - finished or gone meanwhile
                    pass
                out.append(ShardUnavailableError(f"its Ray actor did not answer within {self.timeout:g} s"))
            except ray.exceptions.RayTaskError as e:   # the search raised inside the actor
                cause = getattr(e, "cause", None)
                out.append(cause if isinstance(cause, PoseSearchError) else
                           ShardUnavailableError(f"its search failed: {_ray_line(e)}"))
            except ray.exceptions.RayError as e:       # the actor died, is restarting, or timed out
                out.append(ShardUnavailableError(f"its Ray actor died mid-query ({type(e).__name__})"))
        return out

    def set_search_params(self, params: dict[str, Any]) -> None:
        self.search_params = {**self.search_params, **params}   # sent with every query (survives restarts)

    def close(self) -> None:
        ray = ray_module()
        for a in getattr(self, "actors", []):
            try:
                ray.kill(a, no_restart=True)
            except Exception:   # noqa: BLE001 - already gone
                pass
        self.actors = []


def build_shards_on_ray(fn: Callable[[dict[str, Any]], dict[str, Any]], jobs: list[dict[str, Any]],
                        progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run ``fn(job)`` for every job as a Ray task (one CPU each); results in job order. A posesearch error in
    a task is raised as itself (one line)."""
    ray = ensure_ray()
    task = ray.remote(num_cpus=1, max_retries=0)(fn)
    refs = {task.remote(job): i for i, job in enumerate(jobs)}
    out: list[Any] = [None] * len(jobs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            out[refs[done[0]]] = ray.get(done[0])
        except ray.exceptions.RayTaskError as e:
            cause = getattr(e, "cause", None)
            if isinstance(cause, PoseSearchError):
                raise cause from None
            raise InvalidArgumentError(f"building shard {refs[done[0]]} on Ray failed: {_ray_line(e)}") from None
        if progress:
            progress(len(jobs) - len(pending), len(jobs))
    return out


def _ray_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return (lines[-1] if lines else type(e).__name__)[:300]
