"""Answer checks: every benchmarked answer is verified before its time is reported.

* **Reference distances** are recomputed here in float64 numpy (:func:`true_distances`), independent of
  the compiled kernels: weighted = ``sum_k w_k (|dx_k| + |dy_k|) / sum_k w_k``, cosine = L2 distance of
  the unit vectors.
* A contender that **claims exactness** (``claim="exact"``: exact, vptree, faiss flat, vptree-pypi under
  cosine, numpy brute force) fails when any returned distance differs from the reference k-NN distance
  of the same rank by more than ``RTOL`` = 1e-9 relative, when a returned id's recomputed distance
  differs from the distance it reported, or when an id repeats.
* ``claim="float32"`` (raw FAISS IndexFlatL2): exact up to float32 rounding; fails below recall 0.999.
* ``claim="approximate"``: may miss neighbours (fails below its stated recall), but the distances it
  reports must still be the exact values of the ids it returns (the backend contract).
* ``claim="l2-standin"``: a peer that cannot evaluate the weighted metric and ranks by plain L2
  instead — what a user of that library would get. Its recall is reported, never failed.

Recall@k is tie-aware: a returned frame counts when its exact distance is at most the true k-th
distance (times 1 + 1e-9); repeated ids count once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

RTOL = 1e-9
FLOAT32_MIN_RECALL = 0.999


def true_distances(data: np.ndarray, queries: np.ndarray, weights: np.ndarray | None, ids: np.ndarray,
                   metric: str) -> np.ndarray:
    """float64 distances (B, k) of query b to rows ids[b] (ids < 0 -> inf), by plain numpy."""
    ids = np.asarray(ids, dtype=np.int64)
    safe = np.where(ids >= 0, ids, 0)
    g = np.asarray(data[safe.reshape(-1)], dtype=np.float64).reshape(ids.shape + (data.shape[1],))
    q = np.asarray(queries, dtype=np.float64)[:, None, :]
    if metric == "weighted":
        d = np.abs(q - g)
        per = d[..., 0::2] + d[..., 1::2]
        w = np.asarray(weights, dtype=np.float64)
        out = (per * w[:, None, :]).sum(-1) / w.sum(-1)[:, None]
    else:
        out = np.sqrt(((q - g) ** 2).sum(-1))
    return np.where(ids >= 0, out, np.inf)


def recall_at_k(ref_dists: np.ndarray, ids: np.ndarray, got_true: np.ndarray, k: int) -> float:
    """Mean tie-aware recall@k (see the module doc); ``got_true`` = true distances of the returned ids."""
    kth = ref_dists[:, k - 1]
    tol = kth * (1 + RTOL) + 1e-15
    hits = np.zeros(len(ids))
    for b in range(len(ids)):
        row = ids[b, :k]
        ok = (row >= 0) & (got_true[b, :k] <= tol[b])
        hits[b] = min(len(np.unique(row[ok])), k)
    return float(hits.mean() / k)


@dataclass
class CheckResult:
    """Outcome of checking one contender's answers."""

    ok: bool
    recall: float
    max_rel_error: float
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "recall": self.recall, "max_rel_error": self.max_rel_error,
                "problems": self.problems[:5]}


def check_answers(name: str, claim: str, min_recall: float, data: np.ndarray, queries: np.ndarray,
                  weights: np.ndarray | None, metric: str, k: int, ids: np.ndarray, dists: np.ndarray | None,
                  ref_dists: np.ndarray) -> CheckResult:
    """Check one contender's (ids, reported distances) against the reference distances (see module doc)."""
    problems: list[str] = []
    ids = np.asarray(ids, dtype=np.int64)
    if ids.shape != (len(queries), k):
        return CheckResult(False, 0.0, float("inf"), [f"{name}: answer shape {ids.shape}, expected {(len(queries), k)}"])
    got = true_distances(data, queries, weights, ids, metric)
    rec = recall_at_k(ref_dists, ids, got, k)
    rel = np.abs(got - ref_dists) / np.maximum(np.abs(ref_dists), 1e-300)
    rel = np.where(np.isfinite(ref_dists) & np.isfinite(got), rel, np.where(got == ref_dists, 0.0, np.inf))
    max_rel = float(rel.max()) if rel.size else 0.0
    if claim in ("exact", "approximate") and dists is not None:
        rep = np.asarray(dists, dtype=np.float64)
        bad = np.abs(rep - got) > RTOL * np.maximum(np.abs(got), 1e-300)
        bad &= ~((rep == got) | (np.isinf(rep) & np.isinf(got)))
        if bad.any():
            b, j = np.argwhere(bad)[0]
            problems.append(f"{name}: query {b} rank {j + 1}: reported distance {rep[b, j]!r} but row {ids[b, j]} "
                            f"is at {got[b, j]!r}")
    if claim == "exact":
        if max_rel > RTOL:
            b, j = np.unravel_index(int(np.argmax(rel)), rel.shape)
            problems.append(f"{name}: claims exact, query {b} rank {j + 1}: distance {got[b, j]!r} vs exact "
                            f"{ref_dists[b, j]!r} (relative error {max_rel:.2e} > {RTOL:g})")
        dup = [b for b in range(len(ids)) if len(np.unique(ids[b])) != k]
        if dup:
            problems.append(f"{name}: query {dup[0]} returns a frame twice")
    elif claim == "float32":
        if rec < FLOAT32_MIN_RECALL:
            problems.append(f"{name}: float32-exact, but recall@{k} {rec:.4f} < {FLOAT32_MIN_RECALL}")
    elif claim == "approximate":
        if rec < min_recall:
            problems.append(f"{name}: recall@{k} {rec:.4f} below its stated {min_recall}")
    return CheckResult(not problems, rec, max_rel, problems)


class Failures:
    """Collects failed checks across a run; the run exits non-zero when any is recorded."""

    def __init__(self):
        self.items: list[str] = []

    def add(self, where: str, problems: list[str]) -> None:
        for p in problems:
            self.items.append(f"[{where}] {p}")

    def __bool__(self) -> bool:
        return bool(self.items)
