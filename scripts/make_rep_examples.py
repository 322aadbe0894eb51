#!/usr/bin/env python
"""Write the repetition example of the README (section "Repetitions and coaching feedback") to examples/.

From one real squat of Penn Action (clip 1670, frames 8-79: one side-view rep, 30 fps; the same rep the
tests and ``benchmarks/bench_reps.py`` use, see ``tests/reps_testdata.py``):

* ``squat_reference.json``: that rep as recorded (30 fps), the coach's reference;
* ``squats.json``: a user doing 5 squats at 15 fps with a 0.4 s pause before each: reps 1, 2 and 4 are the
  reference at 0.9x, 1.1x and 1.0x its speed; rep 3 has the knee bend reduced by 30° at the bottom
  (:func:`tests.reps_testdata.alter_bend` on the knee seen in the clip, the left one); rep 5 stops at 55%
  of the movement (a partial rep). Gaussian jitter of 0.5% of the body height (seed 0).

Source: Penn Action (W. Zhang, M. Zhu, K. Derpanis, "From Actemes to Action", ICCV 2013), the labels in
../shared/data/penn_action (its source repository's licence: LICENSE_source_repo there, Apache-2.0; the
dataset itself is distributed for research use).

So the truth is known: 4 whole reps + 1 partial, rep 3 bad because of its right knee (30° less bend at the
bottom). Coordinates are rounded to 0.1 px. Deterministic: running it again gives the same files
(tests/test_reps.py checks that when ../shared/data/penn_action is present).

    python scripts/make_rep_examples.py [--out examples] [--penn ../shared/data/penn_action]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PENN = ROOT.parent / "shared" / "data" / "penn_action"
CLIP, FIRST, END = "1670", 8, 80
USER_FPS = 15.0
PAUSE = 0.4                        # s before each rep (and after the last)
#: per rep: speed (x the reference's), fraction of the movement done, knee bend change (degrees)
REPS = [(0.9, 1.0, 0.0), (1.1, 1.0, 0.0), (1.0, 1.0, 30.0), (1.0, 1.0, 0.0), (1.0, 0.55, 0.0)]
JITTER, SEED = 0.005, 0


def make(out: Path, penn: Path = PENN) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    from make_examples import _dump, _sequence_doc
    from tests.reps_testdata import alter_bend, penn_clip

    from posesearch.sequence.sequence import Sequence

    out.mkdir(parents=True, exist_ok=True)
    ref = penn_clip(CLIP, penn).slice(FIRST, END)
    kp0, cf0 = ref.keypoints.astype(np.float64), ref.confidences
    lay = ref.layout
    knee = max(("left_knee", "right_knee"), key=lambda j: (cf0[:, lay.index(j)] > 0).sum())
    T, fps = len(kp0), ref.fps or 30.0
    rng = np.random.default_rng(SEED)
    frames, confs = [], []

    def hold(pose, conf):
        n = int(round(PAUSE * USER_FPS))
        frames.append(np.repeat(pose[None], n, axis=0))
        confs.append(np.repeat(conf[None], n, axis=0))

    for speed, frac, degrees in REPS:
        src = alter_bend(kp0, cf0, lay, knee, degrees) if degrees else kp0
        hold(kp0[0], cf0[0])
        n = max(2, int(round((T - 1) / fps / speed * USER_FPS)) + 1)
        x = np.linspace(0, T - 1, n)[: max(2, int(round(frac * n)))]
        i0 = np.floor(x).astype(int)
        i1 = np.minimum(i0 + 1, T - 1)
        w = (x - i0)[:, None, None]
        frames.append((1 - w) * src[i0] + w * src[i1])
        confs.append(np.minimum(cf0[i0], cf0[i1]))
    hold(frames[-1][-1], confs[-1][-1])
    kp = np.concatenate(frames)
    cf = np.concatenate(confs)
    kp = kp + rng.normal(0, JITTER * ref.body_size(), kp.shape)
    written = []
    for name, k, c, f in (("squat_reference.json", kp0, cf0, fps), ("squats.json", kp, cf, USER_FPS)):
        arr = np.concatenate([np.where(c[..., None] > 0, np.round(k, 1), 0.0), np.round(c, 2)[..., None]], -1)
        seq = Sequence.from_arrays(arr, layout=lay, fps=f)
        written.append(out / name)
        written[-1].write_text(_dump(_sequence_doc(seq, with_times=False)))
    return written


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "examples")
    ap.add_argument("--penn", type=Path, default=PENN, help="Penn Action folder (with labels/)")
    args = ap.parse_args(argv)
    for p in make(args.out, args.penn):
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
