#!/usr/bin/env python
"""Write the pictures the README shows (docs/), from the example files and the bundled sample corpus.

* ``score_report.png``: ``examples/user.json`` (a webcam-like user: 10 fps, jittered, 0.3 s late, 20%
  slower, mirrored) scored against ``examples/reference.json``; the same picture as
  ``posesearch score examples/reference.json examples/user.json --plot score_report.png``;
* ``matches.png``: ``examples/pose.json`` beside its 5 nearest frames of the sample (exact VP-tree, weighted
  distance, mirror images too); as ``posesearch query INDEX examples/pose.json -k 5 --mirror --plot``;
* ``reps.png``: the repetitions of ``examples/squats.json`` against ``examples/squat_reference.json``
  (scripts/make_rep_examples.py); as ``posesearch reps examples/squat_reference.json examples/squats.json
  --plot reps.png``.

    python scripts/make_pictures.py [--out docs]

tests/test_pictures.py runs it into a temporary folder and compares the sizes with the committed PNGs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def make(out: Path, *, matches: bool = True) -> list[Path]:
    """Write the pictures into ``out`` (created); ``matches=False`` skips the one that needs an index build."""
    import posesearch as ps

    out.mkdir(parents=True, exist_ok=True)
    report = ps.score_sequence(str(EXAMPLES / "reference.json"), str(EXAMPLES / "user.json"))
    written = [report.plot(out / "score_report.png", title="user.json")]
    from posesearch.sequence.reps_plot import plot_reps

    reps = ps.find_reps(str(EXAMPLES / "squat_reference.json"), str(EXAMPLES / "squats.json"))
    written.append(plot_reps(reps, out / "reps.png"))
    if matches:
        from posesearch.corpus import Corpus, sample_corpus_path

        with Corpus.open(sample_corpus_path()) as corpus:
            index = ps.Index.build(corpus, metric="weighted", backend="vptree")
            pose = ps.read_pose_file(str(EXAMPLES / "pose.json")).as_array()[0]
            m = index.search(pose, k=5, mirror=True)
            written.append(m.plot(out / "matches.png", pose, corpus, query_name="pose.json"))
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs", help="folder to write into (default: docs/)")
    args = ap.parse_args()
    for p in make(args.out):
        print(f"wrote {p} ({p.stat().st_size / 1000:.0f} kB)")


if __name__ == "__main__":
    main()
