"""The demo: both questions answered on the bundled real sample corpus, no other data needed.

1. Which reference pose is this? Build an exact VP-tree (weighted distance) over the sample corpus,
   query a few real poses — CMU frames seen from another angle, mirrored, jittered — and check the
   answers against the brute-force backend.
2. How well did this person follow the reference? Score a CMU clip degraded the way a webcam user
   would be (10 fps, jitter of 2% of body height, 0.3 s late, 20% slower, mirrored) against the
   original, and a different motion against it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

QUERY_CLIPS = ("cmu:002_05:yaw45", "cmu:005_02:yaw45", "cmu:002_04:yaw45")
REFERENCE_CLIP = "cmu:002_05:yaw0"       # punch/strike, front view
OTHER_CLIP = "cmu:005_02:yaw0"           # dance: a different motion


@dataclass
class DemoResult:
    corpus: dict[str, Any]
    build_seconds: float
    queries: list[dict[str, Any]] = field(default_factory=list)
    exact_agrees: bool = False
    vptree_ms: float = 0.0
    exact_ms: float = 0.0
    scores: dict[str, Any] = field(default_factory=dict)
    index_path: str = ""
    plot_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def run_demo(out_dir: str | Path, *, plot: bool = True, seed: int = 0) -> DemoResult:
    """Run the demo, writing the index (and the plot) under ``out_dir``; returns every figure shown."""
    from .corpus import Corpus, sample_corpus_path
    from .index.base import Index
    from .poses.mirror import mirror
    from .sequence.score import score_sequence
    from .sequence.sequence import sequence_from_clip
    from .sequence.simulate import degrade

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    corpus = Corpus.open(sample_corpus_path())
    t0 = time.perf_counter()
    index = Index.build(corpus, metric="weighted", backend="vptree")
    build_s = time.perf_counter() - t0
    index_path = index.save(out / "sample_vptree.h5")
    exact = Index.build(corpus, metric="weighted", backend="exact")
    res = DemoResult(corpus={"frames": len(corpus), "clips": corpus.num_clips, "valid": int(corpus.num_valid)},
                     build_seconds=build_s, index_path=str(index_path))

    # --- 1. search: frames from the 45° view, mirrored and jittered, with pose-estimator-like confidences
    queries, truth = [], []
    for cid in QUERY_CLIPS:
        clip = corpus.clip(cid)
        f = int(rng.integers(len(clip)))
        kp = clip.keypoints[f].astype(np.float64)
        cf = np.where(clip.confidences[f] > 0, rng.uniform(0.5, 1.0, 17), 0.0)
        height = np.nanmax(kp[:, 1]) - np.nanmin(kp[:, 1])
        kp = kp + rng.normal(0, 0.01 * height, kp.shape)
        kp, cf = mirror(kp, cf)
        queries.append(np.c_[np.nan_to_num(kp), cf])
        truth.append((cid, f))
    batch = np.stack(queries)
    matches = index.search(batch, k=3, mirror=True)
    ref = exact.search(batch, k=3, mirror=True)
    res.exact_agrees = bool(np.allclose(matches.distances, ref.distances, rtol=0, atol=1e-12))
    res.vptree_ms = _median_ms(lambda q: index.search(q, k=3, mirror=True), batch)
    res.exact_ms = _median_ms(lambda q: exact.search(q, k=3, mirror=True), batch)
    for (cid, f), recs in zip(truth, matches.to_records()):
        res.queries.append({"query": f"{cid} frame {f} (mirrored, jittered)", "matches": recs})

    # --- 2. scoring
    ref_seq = sequence_from_clip(corpus.clip(REFERENCE_CLIP))
    user = degrade(ref_seq, fps=10.0, noise=0.02, delay=0.3, slower=1.2, mirror=True, seed=seed)
    other = sequence_from_clip(corpus.clip(OTHER_CLIP))
    self_report = score_sequence(ref_seq, ref_seq)
    user_report = score_sequence(ref_seq, user)
    other_report = score_sequence(ref_seq, other)
    res.scores = {
        "reference": REFERENCE_CLIP,
        "itself": round(self_report.score, 1),
        "degraded_user": round(user_report.score, 1),
        "degraded_user_detail": {"mirrored": bool(user_report.mirrored),
                                 "time_offset_s": round(float(user_report.time_offset), 2),
                                 "speed_ratio": round(float(user_report.speed_ratio), 2),
                                 "worst_joints": user_report.worst_joints(3)},
        "different_motion": {"clip": OTHER_CLIP, "score": round(other_report.score, 1)},
    }
    if plot:
        from .sequence.plot import plot_report

        res.plot_path = str(plot_report(user_report, out / "demo_score.png",
                                        title=f"degraded user vs {REFERENCE_CLIP}"))
    corpus.close()
    return res


def _median_ms(fn, batch) -> float:
    times = []
    for _ in range(5):
        for q in batch:
            t0 = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)
