"""Do two checkouts score alike? Penn Action pairs scored by this checkout and by ``--other`` (~1 min each):

    python benchmarks/bench_score_equal.py --other /path/to/other/checkout [--clips 300] [--pairs 60] [--out r.json]

Reads the first ``--clips`` Penn Action clips (``<data>/penn_action/labels``, the data root of
:func:`posesearch_bench.data.default_data_dir`), draws ``--pairs`` random (reference, user) pairs (seed 0) and
scores each three ways with default settings otherwise: the pair as is, the reference against a degraded copy of
itself (:func:`~posesearch.sequence.simulate.degrade`: 10 fps, jitter, late, slower, mirrored) and the pair with
``distance="pair-weighted"``. Each checkout runs in its own interpreter (its own code on ``sys.path``); the
report gives the largest score and alignment-cost differences, and how many scores, mirror decisions and path
lengths differ. Exit status 1 when a score differs at the printed precision (6 decimals) or a decision differs.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORKER = r"""
import itertools, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/benchmarks"]
import numpy as np
from pathlib import Path
from posesearch.corpus.readers import penn_action
from posesearch.errors import PoseSearchError
from posesearch.sequence.io import as_sequence
from posesearch.sequence.score import ScoreSettings, score_sequence
from posesearch.sequence.simulate import degrade
clips = list(itertools.islice(penn_action.read(Path(sys.argv[2])), int(sys.argv[3])))
rng = np.random.default_rng(0)
out = []
for _ in range(int(sys.argv[4])):
    i, j = (int(v) for v in rng.choice(len(clips), 2, replace=False))
    for kind in ("pair", "degraded", "pair-weighted"):
        try:
            if kind == "degraded":
                r = score_sequence(clips[i], degrade(as_sequence(clips[i], name="user"), seed=j))
            else:
                st = ScoreSettings(distance="pair-weighted") if kind == "pair-weighted" else ScoreSettings()
                r = score_sequence(clips[i], clips[j], settings=st)
            out.append([i, j, kind, r.score, r.mirror_costs, r.mirrored, len(r.alignment.path)])
        except PoseSearchError as e:
            out.append([i, j, kind, str(e)])
print(json.dumps(out))
"""


def _scores(root: Path, data: Path, clips: int, pairs: int) -> list:
    got = subprocess.run([sys.executable, "-c", WORKER, str(root), str(data), str(clips), str(pairs)],
                         capture_output=True, text=True, check=True)
    return json.loads(got.stdout)


def compare(a: list, b: list) -> dict:
    """Differences between two result lists of the worker (same pairs, same order)."""
    score_d, cost_d, printed, decisions, paths, errors = [], [], 0, 0, 0, 0
    for x, y in zip(a, b, strict=True):
        if len(x) == 4 or len(y) == 4:       # refused with a message
            errors += x != y
            continue
        score_d.append(abs(x[3] - y[3]))
        printed += round(x[3], 6) != round(y[3], 6)
        for k in ("plain", "mirrored"):
            if x[4][k] is not None or y[4][k] is not None:
                cost_d.append(abs(x[4][k] - y[4][k]))
        decisions += x[5] != y[5]
        paths += x[6] != y[6]
    return {"scorings": len(a), "max_score_difference": max(score_d, default=0.0),
            "max_cost_difference": max(cost_d, default=0.0), "scores_differing_at_6_decimals": printed,
            "mirror_decisions_differing": decisions, "path_lengths_differing": paths,
            "refusals_differing": errors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--other", type=Path, required=True, help="the other checkout (its root folder)")
    ap.add_argument("--data", type=Path, help="Penn Action labels folder (default <data root>/penn_action/labels)")
    ap.add_argument("--clips", type=int, default=300, help="clips read (default 300)")
    ap.add_argument("--pairs", type=int, default=60, help="random pairs, 3 scorings each (default 60)")
    ap.add_argument("--out", type=Path, help="write the report as JSON")
    a = ap.parse_args(argv)
    if a.data is None:
        sys.path[:0] = [str(HERE)]
        from posesearch_bench.data import default_data_dir

        a.data = default_data_dir() / "penn_action" / "labels"
    if not a.data.exists():
        print(f"bench_score_equal: Penn Action labels not found at {a.data}; give --data", file=sys.stderr)
        return 2
    res = {"this": str(HERE.parent), "other": str(a.other), "clips": a.clips, "pairs": a.pairs,
           **compare(_scores(HERE.parent, a.data, a.clips, a.pairs), _scores(a.other, a.data, a.clips, a.pairs))}
    print(json.dumps(res, indent=2))
    if a.out:
        a.out.write_text(json.dumps(res, indent=2) + "\n")
    bad = res["scores_differing_at_6_decimals"] or res["mirror_decisions_differing"] or res["refusals_differing"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
