"""The demo: both questions answered on the bundled real sample corpus, no other data needed.

1. Which reference pose is this? Build an exact VP-tree (weighted distance) over the sample corpus,
   query it with real frames of three of its CMU clips (the 45-degree views), each jittered by 1% of
   the body height, given pose-estimator-like confidences (0.5-1) and mirrored as a selfie camera shows
   it, and check the answers against the brute-force backend. Each query names its source frame by
   the corpus's frame number and time (not its row within the clip), and the result says where the best
   match lies relative to that source frame.
2. How well did this person follow the reference? Score a CMU clip degraded the way a webcam user
   would be (10 fps, jitter of 2% of body height, 0.3 s late, 20% slower, mirrored) against the
   original, and a different motion against it.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidArgumentError

QUERY_CLIPS = ("cmu:002_05:yaw45", "cmu:005_02:yaw45", "cmu:002_04:yaw45")
QUERY_JITTER = 0.01                      # of the frame's body height
QUERY_CONFIDENCES = (0.5, 1.0)           # present joints; missing stay 0
USER_SETTINGS = {"fps": 10.0, "noise": 0.02, "delay": 0.3, "slower": 1.2, "mirror": True}  # simulate.degrade
REFERENCE_CLIP = "cmu:002_05:yaw0"       # punch/strike, front view
OTHER_CLIP = "cmu:005_02:yaw0"           # dance: a different motion
SAMPLE_INDEX = "sample_vptree.h5"        # the index the demo writes (and `demo --serve` serves)


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
    out_dir: str = ""
    query_settings: dict[str, Any] = field(default_factory=lambda: {
        "jitter_of_body_height": QUERY_JITTER, "confidences": list(QUERY_CONFIDENCES), "mirrored": True})

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def demo_folder(out_dir: str | Path | None) -> Path:
    """The folder the demo writes into: ``out_dir`` (created if missing), or a new temporary folder when
    None. An existing file, or a parent that is a file, is a one-line error."""
    if out_dir is None:
        return Path(tempfile.mkdtemp(prefix="posesearch-demo-"))
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError(f"--out {out}: is a file, expected a folder for the demo's index and plot")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidArgumentError(f"--out {out}: cannot create the folder ({e.strerror or type(e).__name__})") from None
    return out


def run_demo(out_dir: str | Path | None = None, *, plot: bool = True, seed: int = 0) -> DemoResult:
    """Run the demo, writing the index (and the plot) under ``out_dir`` (default: a new temporary folder,
    see :func:`demo_folder`); returns every figure shown."""
    from .corpus import Corpus, sample_corpus_path
    from .index.index import Index
    from .poses.mirror import mirror
    from .sequence.score import score_sequence
    from .sequence.sequence import sequence_from_clip
    from .sequence.simulate import degrade

    out = demo_folder(out_dir)
    rng = np.random.default_rng(seed)
    corpus = Corpus.open(sample_corpus_path())
    t0 = time.perf_counter()
    index = Index.build(corpus, metric="weighted", backend="vptree")
    build_s = time.perf_counter() - t0
    index_path = index.save(out / SAMPLE_INDEX)
    exact = Index.build(corpus, metric="weighted", backend="exact")
    res = DemoResult(corpus={"frames": len(corpus), "clips": corpus.num_clips, "valid": int(corpus.num_valid)},
                     build_seconds=build_s, index_path=str(index_path), out_dir=str(out))

    # --- 1. search: frames of the 45° views, jittered, with pose-estimator-like confidences, mirrored
    queries, truth = [], []
    for cid in QUERY_CLIPS:
        clip = corpus.clip(cid)
        f = int(rng.integers(len(clip)))                 # a row within the clip
        row = corpus.clip_info(cid).start + f            # its corpus row: the source frame number and time
        kp = clip.keypoints[f].astype(np.float64)
        cf = np.where(clip.confidences[f] > 0, rng.uniform(*QUERY_CONFIDENCES, 17), 0.0)
        height = np.nanmax(kp[:, 1]) - np.nanmin(kp[:, 1])
        kp = kp + rng.normal(0, QUERY_JITTER * height, kp.shape)
        kp, cf = mirror(kp, cf)
        queries.append(np.c_[np.nan_to_num(kp), cf])
        truth.append({"clip": cid, "frame": int(corpus.frame_numbers(row, row + 1)[0]),
                      "time": float(corpus.times(row, row + 1)[0]), "id": row})
    batch = np.stack(queries)
    matches = index.search(batch, k=3, mirror=True)
    ref = exact.search(batch, k=3, mirror=True)
    res.exact_agrees = bool(np.array_equal(matches.distances, ref.distances))    # bit for bit
    res.vptree_ms = _median_ms(lambda q: index.search(q, k=3, mirror=True), batch)
    res.exact_ms = _median_ms(lambda q: exact.search(q, k=3, mirror=True), batch)
    for src, recs in zip(truth, matches.to_records()):
        top = recs[0]
        res.queries.append({
            "query": f"{src['clip']} frame {src['frame']} ({src['time']:.2f} s), jittered, mirrored",
            "source": src, "matches": recs,
            # where the best match lies relative to the frame the query was made from
            "best_is_source_clip": top["clip"] == src["clip"],
            "best_is_source_frame": top["id"] == src["id"],
            "best_offset_s": round(top["time"] - src["time"], 3) if top["clip"] == src["clip"] else None,
            "best_mirrored": bool(top["mirrored"])})

    # --- 2. scoring
    ref_seq = sequence_from_clip(corpus.clip(REFERENCE_CLIP))
    user = degrade(ref_seq, **USER_SETTINGS, seed=seed)
    other = sequence_from_clip(corpus.clip(OTHER_CLIP))
    self_report = score_sequence(ref_seq, ref_seq)
    user_report = score_sequence(ref_seq, user)
    other_report = score_sequence(ref_seq, other)
    res.scores = {
        "reference": REFERENCE_CLIP,
        "itself": round(self_report.score, 1),
        "degraded_user": round(user_report.score, 1),
        "degraded_user_settings": dict(USER_SETTINGS),
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


def build_sample_index(out_dir: str | Path | None = None) -> Path:
    """The demo's exact VP-tree (weighted distance) over the bundled sample corpus, written under ``out_dir``
    (see :func:`demo_folder`); ``posesearch demo --serve`` serves it."""
    from .corpus import Corpus, sample_corpus_path
    from .index.index import Index

    out = demo_folder(out_dir)
    with Corpus.open(sample_corpus_path()) as corpus:
        return Index.build(corpus, metric="weighted", backend="vptree").save(out / SAMPLE_INDEX)


def _median_ms(fn, batch) -> float:
    times = []
    for _ in range(5):
        for q in batch:
            t0 = time.perf_counter()
            fn(q)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)
