#!/usr/bin/env python
"""Write the example files in examples/ that the README's commands use, from the bundled sample corpus.

All come from CMU motion capture (free for all uses; see posesearch/corpus/sample/ATTRIBUTION.md):

* ``pose.json``: frame 400 (6.67 s) of ``cmu:002_05:yaw45`` (punch/strike, 45-degree view), jittered by 1%
  of the body height, with pose-estimator-like confidences (0.5-1); the five face joints are missing
  (``null``), as in every CMU clip of the sample;
* ``pose_b.json``: frame 400 of ``cmu:005_02:yaw0`` (dance), as stored;
* ``reference.json``: the first 5 s of ``cmu:002_05:yaw0`` (punch/strike, front view) at 30 fps;
* ``user.json`` / ``user.npy``: that reference as a webcam user would record it
  (:func:`posesearch.sequence.simulate.degrade`: 10 fps, jitter of 2% of body height, 0.3 s late, 20%
  slower, mirrored; seed 0). ``user.npy`` is the same (T, 17, 3) array without frame times (pass
  ``--user-fps 10``).

Coordinates are rounded to 0.01, confidences to 0.01. Deterministic: running it again gives the same
files (tests/test_readme.py checks that).

    python scripts/make_examples.py [--out examples]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ("cmu:002_05:yaw0", 0, 150)       # clip, first row, rows
POSE = ("cmu:002_05:yaw45", 200)              # clip, row
POSE_B = ("cmu:005_02:yaw0", 200)
USER = {"fps": 10.0, "noise": 0.02, "delay": 0.3, "slower": 1.2, "mirror": True, "seed": 0}


def _frame(kp: np.ndarray, cf: np.ndarray) -> list:
    return [[round(float(x), 2), round(float(y), 2), round(float(c), 2)] if c > 0 else None
            for (x, y), c in zip(kp, cf)]


def _sequence_doc(seq, *, with_times: bool) -> dict:
    doc: dict = {"layout": seq.layout.name}
    if seq.fps is not None:
        doc["fps"] = seq.fps
    if with_times:
        doc["times"] = [round(float(t), 4) for t in seq.times]
    doc["frames"] = [_frame(k, c) for k, c in zip(seq.keypoints, seq.confidences)]
    return doc


def _dump(doc: dict) -> str:
    """Compact JSON, one frame per line (diff-friendly)."""
    if "frames" not in doc:
        return json.dumps(doc, separators=(",", ":")) + "\n"
    head = {k: v for k, v in doc.items() if k != "frames"}
    lines = [json.dumps(f, separators=(",", ":")) for f in doc["frames"]]
    return json.dumps(head, separators=(",", ":"))[:-1] + ',\n"frames":[\n' + ",\n".join(lines) + "\n]}\n"


def make(out: Path) -> list[Path]:
    from posesearch.corpus import Corpus, sample_corpus_path
    from posesearch.sequence.sequence import Sequence, sequence_from_clip
    from posesearch.sequence.simulate import degrade

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    written = []
    with Corpus.open(sample_corpus_path()) as corpus:
        clip = corpus.clip(POSE[0])
        kp = clip.keypoints[POSE[1]].astype(np.float64)
        cf = np.where(clip.confidences[POSE[1]] > 0, rng.uniform(0.5, 1.0, 17), 0.0)
        height = np.nanmax(kp[:, 1]) - np.nanmin(kp[:, 1])
        kp = kp + rng.normal(0, 0.01 * height, kp.shape)
        written.append(out / "pose.json")
        written[-1].write_text(json.dumps({"layout": "coco17", "keypoints": _frame(kp, cf)}) + "\n")
        clip = corpus.clip(POSE_B[0])
        written.append(out / "pose_b.json")
        written[-1].write_text(json.dumps({"layout": "coco17", "keypoints": _frame(
            clip.keypoints[POSE_B[1]], clip.confidences[POSE_B[1]])}) + "\n")
        cid, a, n = REFERENCE
        ref = sequence_from_clip(corpus.clip(cid)).slice(a, a + n)
    ref = Sequence.from_arrays(np.round(np.nan_to_num(ref.as_array()), 2), layout=ref.layout, fps=ref.fps)
    written.append(out / "reference.json")
    written[-1].write_text(_dump(_sequence_doc(ref, with_times=False)))
    opts = dict(USER)
    seed = opts.pop("seed")
    user = degrade(ref, **opts, seed=seed)
    arr = np.round(np.nan_to_num(user.as_array()), 2)
    user = Sequence.from_arrays(arr, layout=user.layout, times=np.round(user.times, 4))
    written.append(out / "user.json")
    written[-1].write_text(_dump(_sequence_doc(user, with_times=True)))
    written.append(out / "user.npy")
    np.save(written[-1], arr.astype(np.float64))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "examples")
    args = ap.parse_args(argv)
    for p in make(args.out):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
