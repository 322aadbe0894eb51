#!/usr/bin/env python
"""Build the sample corpus shipped in posesearch/corpus/sample/ (see ATTRIBUTION.md there).

Contents: every person of COCO 2017 val keypoints (6,352 single frames, CC BY 4.0) and eight CMU
motion-capture clips (walk, run, jump, punch, swordplay, dance, uneven-terrain walk, playground jumps)
projected to 2D from three camera yaws (0, 45, 90 degrees), at 30 fps. Each clip gets a ``dataset``
label (``coco`` or ``cmu-mocap``).

    python scripts/make_sample_corpus.py [--data ../shared/data] [--out posesearch/corpus/sample/sample_corpus.h5]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CMU_TRIALS = ("002_01", "002_03", "002_04", "002_05", "002_07", "005_02", "003_01", "001_01")
CMU_VIEWS = (0.0, 45.0, 90.0)
CMU_EVERY = 2  # 60 fps -> 30 fps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    ap.add_argument("--out", type=Path, default=ROOT / "posesearch" / "corpus" / "sample" / "sample_corpus.h5")
    ap.add_argument("--no-cmu", action="store_true", help="COCO persons only")
    args = ap.parse_args(argv)

    from posesearch.corpus import Corpus
    from posesearch.corpus.readers import get_reader

    def coco():
        for batch in get_reader("coco").read_batches([args.data / "coco" / "person_keypoints_val2017.json"]):
            batch.labels["dataset"] = ["coco"] * len(batch)
            yield batch

    def cmu():
        paths = [args.data / "cmu_mocap" / "bvh" / f"{t}.bvh" for t in CMU_TRIALS]
        for clip in get_reader("bvh").read(paths, views=CMU_VIEWS, every=CMU_EVERY):
            clip.labels["dataset"] = "cmu-mocap"
            yield clip

    with Corpus.writer(args.out, overwrite=True) as w:
        w.add_many(coco())
        if not args.no_cmu:
            w.add_many(cmu())
    s = w.summary
    print(f"{args.out}: {s.total_frames} frames ({s.total_valid} valid) in {s.total_clips} clips, "
          f"{s.size_bytes / 1e6:.2f} MB, checksum {s.checksum[:16]}...")
    with Corpus.open(args.out) as c:
        c.verify()
    return 0


if __name__ == "__main__":
    sys.exit(main())
