"""Cross-dataset queries: poses from datasets that are *not* indexed, against a Penn Action + COCO index.

Held-out clips of the indexed datasets flatter every index (same cameras, people, activities). A user's
pose comes from elsewhere, so this query set comes from the two sources the cross index leaves out:

* ``body25`` — the labelled BODY25 set (``pose_classification_kit``, reader ``openpose``): real OpenPose
  detections of people in other scenes; their real confidences are OpenPose's scores;
* ``cmu-view`` — CMU mocap frames (reader ``bvh``: forward kinematics, then :func:`project`) seen from a
  random camera: yaw U(0°, 360°), pitch U(-10°, 30°), orthographic. Mocap has no confidences: the real
  ones are 1 for the 12 body joints COCO-17 gets from ``cmu19`` (the face joints are missing).

Half the queries come from each source (all from one when the other is missing). Three confidence
variants weight the weighted metric, as for the held-out queries: ``real``; ``estimator`` (each present
joint U(0.3, 1), missing 0); ``uniform`` (every joint 1). Everything is drawn from one fixed ``seed``.

The index (:func:`cross_index`): every valid Penn Action, COCO val and COCO train frame of the combined
corpus cache (:mod:`.data`), i.e. no held-out clips are needed since no query comes from these datasets.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

INDEX_SOURCES = ("penn", "coco-val", "coco-train")
CROSS_SOURCES = ("body25", "cmu-view")
BODY25_DIR = "pose_classification_kit"
CMU_DIR = "cmu_mocap/bvh"
YAW_RANGE = (0.0, 360.0)
PITCH_RANGE = (-10.0, 30.0)
CMU_MAX_FILES = 12            # mocap files parsed (a random choice, fixed by the seed): parsing is the cost


@dataclass
class CrossQueries:
    """Cross-dataset queries (see the module doc).

    Attributes:
        vectors: (n, 34) float64 normalized COCO-17 vectors.
        weights: variant (real / estimator / uniform) -> (n, 17) float64 confidences.
        source: (n,) source name per query (``body25`` / ``cmu-view``).
        keypoints: (n, 17, 2) float64 raw COCO-17 keypoints (NaN missing).
        views: (n, 2) camera yaw, pitch in degrees of the CMU queries (NaN for BODY25).
        origin: (n,) where each pose comes from (file stem and frame).
    """

    vectors: np.ndarray
    weights: dict[str, np.ndarray]
    source: np.ndarray
    keypoints: np.ndarray
    views: np.ndarray
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.vectors)

    def describe(self) -> dict:
        src, cnt = np.unique(self.source, return_counts=True)
        present = (self.weights["real"] > 0).sum(axis=1)
        return {"queries": int(len(self)), "query_sources": {str(s): int(c) for s, c in zip(src, cnt)},
                "present_joints_median": float(np.median(present)) if len(present) else None,
                "yaw_range": list(YAW_RANGE), "pitch_range": list(PITCH_RANGE),
                "confidence_variants": list(self.weights)}


def _normalize(kp: np.ndarray, cf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, valid) of COCO-17 keypoints as the corpus normalizes them."""
    from posesearch.poses.normalize import normalize_batch

    present = (cf > 0) & ~np.isnan(kp).any(axis=-1)
    return normalize_batch(np.where(present[..., None], kp, 0.0), np.where(present, cf, 0.0), on_invalid="mask")


def body25_poses(data_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pose of the BODY25 set in COCO-17: keypoints (N, 17, 2), real confidences (N, 17), origin."""
    from posesearch.corpus.readers import get_reader
    from posesearch.poses.layouts import get_layout

    files = sorted((Path(data_dir) / BODY25_DIR).glob("*.json"))
    if not files:
        return np.empty((0, 17, 2)), np.empty((0, 17)), np.empty(0, dtype=object)
    kps, cfs, origin = [], [], []
    for clip in get_reader("openpose").read(files):
        kp, cf = get_layout(clip.layout).convert_to_coco(clip.keypoints.astype(np.float64),
                                                         clip.confidences.astype(np.float64))
        kps.append(kp)
        cfs.append(cf)
        origin += [f"{clip.clip_id}#{t}" for t in range(len(kp))]
    return np.concatenate(kps), np.concatenate(cfs), np.array(origin, dtype=object)


def cmu_poses(data_dir: Path, n: int, rng: np.random.Generator, max_files: int = CMU_MAX_FILES):
    """``n`` CMU frames from random cameras: keypoints (n, 17, 2), confidences (n, 17), views (n, 2), origin."""
    from posesearch.corpus.readers.bvh import load_mocap
    from posesearch.corpus.readers.bvh_kinematics import project
    from posesearch.poses.layouts import CMU19

    files = sorted((Path(data_dir) / CMU_DIR).glob("*.bvh"))
    if not files or n <= 0:
        return np.empty((0, 17, 2)), np.empty((0, 17)), np.empty((0, 2)), np.empty(0, dtype=object)
    pick = [files[i] for i in sorted(rng.permutation(len(files))[:max_files])]
    mocaps = [load_mocap(f, every=2) for f in pick]
    kps, cfs, views, origin = [], [], [], []
    for _ in range(n):
        m = mocaps[int(rng.integers(len(mocaps)))]
        t = int(rng.integers(len(m)))
        yaw, pitch = rng.uniform(*YAW_RANGE), rng.uniform(*PITCH_RANGE)
        xy = project(m.joints[t:t + 1], yaw, pitch)[0]
        kp, cf = CMU19.convert_to_coco(xy, np.ones(len(xy)))
        kps.append(kp)
        cfs.append(cf)
        views.append((yaw, pitch))
        origin.append(f"cmu:{m.name}#{int(m.frames[t])}")
    return np.stack(kps), np.stack(cfs), np.array(views), np.array(origin, dtype=object)


def cross_queries(data_dir: "str | Path", n: int, seed: int) -> CrossQueries | None:
    """``n`` cross-dataset queries (see the module doc); None when neither source is under ``data_dir``."""
    data_dir = Path(data_dir)
    rng = np.random.default_rng(seed)
    b_kp, b_cf, b_org = body25_poses(data_dir)
    have_cmu = any((data_dir / CMU_DIR).glob("*.bvh"))
    if not len(b_kp) and not have_cmu:
        return None
    n_body = n // 2 if have_cmu else n
    if len(b_kp):
        vec, ok = _normalize(b_kp, b_cf)
        cand = np.flatnonzero(ok)
        rows = np.sort(rng.permutation(cand)[:n_body])
    else:
        rows = np.empty(0, np.int64)
    c_kp, c_cf, c_views, c_org = cmu_poses(data_dir, n - len(rows), rng)
    kp = np.concatenate([b_kp[rows], c_kp])
    cf = np.concatenate([b_cf[rows], c_cf])
    source = np.array(["body25"] * len(rows) + ["cmu-view"] * len(c_kp))
    views = np.concatenate([np.full((len(rows), 2), np.nan), c_views.reshape(-1, 2)])
    origin = np.concatenate([b_org[rows], c_org])
    order = rng.permutation(len(kp))        # sources mixed, so that any prefix of the queries holds both
    kp, cf, source, views, origin = kp[order], cf[order], source[order], views[order], origin[order]
    vec, ok = _normalize(kp, cf)
    assert ok.all(), "a cross-dataset query failed normalization"
    present = cf > 0
    weights = {"real": cf.astype(np.float64),
               "estimator": np.where(present, rng.uniform(0.3, 1.0, size=cf.shape), 0.0),
               "uniform": np.ones_like(cf, dtype=np.float64)}
    return CrossQueries(vec.astype(np.float64), weights, source, np.where(present[..., None], kp, np.nan),
                        views, origin)


def cross_index(corpus_path: "str | Path") -> tuple[np.ndarray, np.ndarray]:
    """The Penn + COCO indexed set of the combined corpus cache: ((M, 34) float32 vectors, corpus rows)."""
    from posesearch.corpus.store import Corpus

    from .data import _source_of

    with Corpus.open(corpus_path) as c:
        valid = np.asarray(c.valid, dtype=bool)
        ci = np.asarray(c.clip_indices(), dtype=np.int64)
        src_of_clip = np.array([_source_of(str(i)) for i in c.clip_ids()])
        rows = np.flatnonzero(valid & np.isin(src_of_clip[ci], INDEX_SOURCES)).astype(np.int64)
        vec = np.asarray(c.vectors(), dtype=np.float32)[rows]
    return np.ascontiguousarray(vec), rows


@dataclass
class CrossData:
    """The cross-dataset benchmark set: the Penn + COCO index and the queries from elsewhere."""

    vectors: np.ndarray          # (M, 34) float32 indexed vectors
    frame_ids: np.ndarray        # (M,) their corpus rows
    queries: CrossQueries

    def describe(self) -> dict:
        return {"indexed_frames": int(len(self.vectors)), "indexed_sources": list(INDEX_SOURCES),
                **self.queries.describe()}


def load_cross(corpus_path: "str | Path", data_dir: "str | Path", n: int, seed: int) -> CrossData | None:
    """The cross index of a combined corpus cache and ``n`` cross-dataset queries; None without query data."""
    q = cross_queries(data_dir, n, seed)
    if q is None:
        return None
    vec, rows = cross_index(corpus_path)
    return CrossData(vec, rows, q)
