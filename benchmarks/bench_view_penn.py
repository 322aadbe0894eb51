"""Penn Action with view auto against view 2d: is anything lost at 0° (issue 20's "nothing lost")?

The scoring-quality benchmark (``bench_scoring_quality.py``) scores prepared references, which never fit a
camera, so it cannot see what ``view="auto"`` does to 2D references: since auto lifts a 2D reference and fits
the user's camera whenever the poses as filmed score below 90, a different-action pair may be scored in a
fitted view. This benchmark scores the same Penn Action pairs through :func:`score_sequence` with
``view="auto"`` and with ``view="2d"``, side by side: test clips (users) against a stratified sample of train
clips (references, the same number per action), and reports for each view the nearest-neighbour action
accuracy, the same-vs-different ROC AUC, how many pairs auto lifted, and the time.

    python benchmarks/bench_view_penn.py [--queries 20] [--per-action 4] [--seed 0] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from posesearch_bench.data import default_data_dir  # noqa: E402
from posesearch_bench.scoring_quality import roc_auc  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=20, help="test clips (users), drawn with --seed")
    ap.add_argument("--per-action", type=int, default=4, help="train clips (references) per action")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args(argv)
    from posesearch.corpus.readers import penn_action
    from posesearch.errors import PoseSearchError
    from posesearch.sequence import ScoreSettings, score_sequence
    from posesearch.sequence.io import as_sequence

    data = (a.data or default_data_dir()) / "penn_action" / "labels"
    mats = sorted(data.glob("*.mat"))
    if not mats:
        print(f"no Penn Action under {data}", file=sys.stderr)
        return 2
    rng = np.random.default_rng(a.seed)
    clips = [penn_action.read_clip(m) for m in mats]
    train = [c for c in clips if c.labels.get("split") == "train"]
    test = [c for c in clips if c.labels.get("split") == "test"]
    refs = []
    for action in sorted({c.labels["action"] for c in train}):
        pool = [c for c in train if c.labels["action"] == action]
        refs += [pool[i] for i in rng.choice(len(pool), min(a.per_action, len(pool)), replace=False)]
    users = [test[i] for i in rng.choice(len(test), a.queries, replace=False)]
    ref_seqs = [as_sequence(c) for c in refs]
    user_seqs = [as_sequence(c) for c in users]
    out = {"what": __doc__.split("\n\n")[0], "queries": len(users), "references": len(refs),
           "per_action": a.per_action, "seed": a.seed, "views": {}}
    for view in ("2d", "auto"):
        st = ScoreSettings(view=view)
        scores = np.full((len(users), len(refs)), np.nan)
        lifted = 0
        t0 = time.perf_counter()
        for i, u in enumerate(user_seqs):
            for j, r in enumerate(ref_seqs):
                try:
                    rep = score_sequence(r, u, settings=st)
                except PoseSearchError:
                    continue
                scores[i, j] = rep.score
                lifted += rep.view.get("mode") == "lifted"
        secs = time.perf_counter() - t0
        same = np.array([[u.labels["action"] == r.labels["action"] for r in refs] for u in users])
        ok = np.isfinite(scores)
        best = np.where(ok, scores, -np.inf).argmax(axis=1)
        acc = float(np.mean([same[i, best[i]] for i in range(len(users)) if ok[i].any()]))
        auc = roc_auc(scores[ok & same], scores[ok & ~same])
        out["views"][view] = {"nn_accuracy": round(acc, 4), "auc": round(auc, 4), "pairs": int(ok.sum()),
                              "lifted_pairs": int(lifted), "seconds": round(secs, 1),
                              "ms_per_pair": round(1000 * secs / max(int(ok.sum()), 1), 2)}
        print(view, out["views"][view], flush=True)
    text = json.dumps(out, indent=2)
    if a.out:
        a.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
