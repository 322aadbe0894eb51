"""Scoring quality on Penn Action: test clips scored against train clips.

For each test ("user") clip in the query set, every train ("reference") clip scores it with
:func:`posesearch.sequence.score_sequence` (default settings unless ``--set`` changes them). Reported:

* nearest-neighbour accuracy: how often the best-scoring train clip has the query's action;
* ROC AUC of the scores of same-action pairs vs different-action pairs (the probability that a
  random same-action pair outscores a random different-action pair; ties count half);
* the same two figures computed from the mean aligned frame distance ``D`` (lower = closer);
* self and degraded-self scores of the query clips: each query against itself, and against a
  simulated user recording of itself (:func:`posesearch.sequence.simulate.degrade`: 10 fps, 2% of
  body height jitter, 0.3 s late, 20% slower, mirrored; seed = clip index);
* with ``--calibrate``, the calibration constants the data suggest (the rule of
  :mod:`posesearch.sequence.score`): the 95th percentile of degraded-self D scores 90 and the median
  different-action D scores 20.

All 1,068 x 1,258 pairs take long on 2 cores, so by default a random subset of ``--queries`` test
clips (fixed ``--seed``) is scored against all train clips; ``--queries 0`` scores every test clip.
Preparation (smoothing, resampling, features) is done once per clip; only alignment and scoring
run per pair. ``--workers`` splits the queries over processes.

Penn Action is read from ``--data`` (default ``<data>/penn_action/labels``, the data root of
:func:`posesearch_bench.data.default_data_dir`).

    cd benchmarks && python -m posesearch_bench.scoring_quality --queries 150 --out quality.json
    python benchmarks/bench_scoring_quality.py ...     # same, from the checkout root

``posesearch bench`` (section ``quality``, part ``penn_scoring``) runs it in a fresh interpreter.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .data import default_data_dir


def roc_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(pos > neg) + 0.5 P(pos == neg), by ranks (Mann-Whitney U); NaN if either side is empty."""
    from scipy.stats import rankdata

    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    u = r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2
    return float(u / (len(pos) * len(neg)))


def equal_error_threshold(same: np.ndarray, diff: np.ndarray) -> float:
    """Distance t where P(same > t) == P(diff < t) (the equal-error point)."""
    grid = np.unique(np.concatenate([same, diff]))
    s = np.sort(same)
    d = np.sort(diff)
    miss = 1.0 - np.searchsorted(s, grid, side="right") / len(s)      # same pairs above t
    false = np.searchsorted(d, grid, side="left") / len(d)             # different pairs below t
    i = int(np.argmin(np.abs(miss - false)))
    return float(grid[i])


def parse_sets(items):
    out = {}
    for it in items or []:
        k, _, v = it.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def load_clips(data: Path):
    from posesearch.corpus.readers import penn_action

    return list(penn_action.read(data))


def _score_block(args):
    q_idx, settings_kw = args
    return _run(q_idx, settings_kw)


_STATE = {}


def _init(data, settings_kw):
    from posesearch.errors import PoseSearchError
    from posesearch.sequence.score import ScoreSettings, prepare_reference, prepare_user

    clips = load_clips(Path(data))
    st = ScoreSettings(**settings_kw)
    skipped = []
    train, refs = [], []
    for c in clips:
        if c.labels["split"] != "train":
            continue
        try:
            refs.append(prepare_reference(c, st))
            train.append(c)
        except PoseSearchError as e:   # e.g. a clip whose joints are all marked invisible
            skipped.append(f"{c.clip_id}: {e}")
    test = []
    for c in clips:
        if c.labels["split"] != "test":
            continue
        try:
            prepare_user(c, 30.0, st)
            test.append(c)
        except PoseSearchError as e:
            skipped.append(f"{c.clip_id}: {e}")
    _STATE.update(train=train, test=test, refs=refs, st=st, skipped=skipped)


def _run(q_idx, settings_kw):
    from posesearch.errors import PoseSearchError
    from posesearch.sequence import sequence_from_clip
    from posesearch.sequence.score import prepare_user, score_prepared, score_sequence
    from posesearch.sequence.simulate import degrade

    train, test, refs, st = _STATE["train"], _STATE["test"], _STATE["refs"], _STATE["st"]
    scores = np.zeros((len(q_idx), len(train)))
    dists = np.zeros((len(q_idx), len(train)))
    selfs = np.zeros((len(q_idx), 4))      # self score, self D, degraded score, degraded D
    for i, q in enumerate(q_idx):
        seq = sequence_from_clip(test[q])
        r_self = score_sequence(seq, seq, settings=st)
        r_deg = score_sequence(seq, degrade(seq, seed=int(q)), settings=st)
        selfs[i] = r_self.score, r_self.mean_distance, r_deg.score, r_deg.mean_distance
        users = {}
        for j, ref in enumerate(refs):
            key = ref.fps
            if key not in users:
                users[key] = prepare_user(test[q], ref.fps, st)
            try:
                rep = score_prepared(ref, users[key])
            except PoseSearchError:     # too few joints seen in both clips: no comparison possible
                scores[i, j], dists[i, j] = 0.0, np.nan
                continue
            scores[i, j] = rep.score
            dists[i, j] = rep.mean_distance
    return scores, dists, selfs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, help="Penn Action labels folder (default: <data root>/penn_action/labels; "
                                              "data root = $POSESEARCH_DATA, else ../shared/data beside the repository)")
    ap.add_argument("--queries", type=int, default=150, help="random test clips to score (0 = all 1,068)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--set", action="append", metavar="KEY=VALUE", help="ScoreSettings override (JSON value)")
    ap.add_argument("--calibrate", action="store_true", help="print the calibration constants the data suggest")
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    ap.add_argument("--quick", action="store_true", help="30 queries (a smoke run)")
    a = ap.parse_args(argv)
    if a.data is None:
        a.data = default_data_dir() / "penn_action" / "labels"
    if not a.data.exists():
        print(f"error: {a.data}: Penn Action labels not found", file=sys.stderr)
        return 2
    settings_kw = parse_sets(a.set)
    if settings_kw.get("calibration"):
        from posesearch.sequence.score import Calibration

        settings_kw["calibration"] = Calibration(**settings_kw["calibration"])
    t0 = time.perf_counter()
    _init(a.data, settings_kw)
    train, test = _STATE["train"], _STATE["test"]
    t_prep = time.perf_counter() - t0
    n_q = 30 if a.quick else (a.queries if a.queries > 0 else len(test))
    rng = np.random.default_rng(a.seed)
    q_idx = np.sort(rng.choice(len(test), size=min(n_q, len(test)), replace=False))
    t1 = time.perf_counter()
    if a.workers > 1:
        import multiprocessing as mp

        chunks = np.array_split(q_idx, a.workers * 4)
        ctx = mp.get_context("fork")
        with ctx.Pool(a.workers) as pool:
            parts = pool.map(_score_block, [(c, settings_kw) for c in chunks])
        scores = np.concatenate([p[0] for p in parts])
        dists = np.concatenate([p[1] for p in parts])
        selfs = np.concatenate([p[2] for p in parts])
    else:
        scores, dists, selfs = _run(q_idx, settings_kw)
    t_score = time.perf_counter() - t1
    q_act = np.array([test[q].labels["action"] for q in q_idx])
    r_act = np.array([c.labels["action"] for c in train])
    same = q_act[:, None] == r_act[None, :]
    nn = np.argmax(scores, axis=1)
    nn_d = np.argmin(np.where(np.isfinite(dists), dists, np.inf), axis=1)
    fin = np.isfinite(dists)
    res = {
        "queries": int(len(q_idx)), "references": len(train), "test_clips": len(test),
        "skipped_clips": _STATE["skipped"], "pairs": int(scores.size), "seed": a.seed,
        "settings": _STATE["st"].to_dict(),
        "nn_accuracy": float((r_act[nn] == q_act).mean()),
        "auc": roc_auc(scores[same], scores[~same]),
        "nn_accuracy_distance": float((r_act[nn_d] == q_act).mean()),
        "auc_distance": roc_auc(-dists[same & fin], -dists[~same & fin]),
        "score_same_median": float(np.median(scores[same])),
        "score_diff_median": float(np.median(scores[~same])),
        "score_same_quartiles": [float(v) for v in np.percentile(scores[same], [25, 75])],
        "score_diff_quartiles": [float(v) for v in np.percentile(scores[~same], [25, 75])],
        "distance_same_median": float(np.median(dists[same & fin])),
        "distance_diff_median": float(np.median(dists[~same & fin])),
        "self_score_min": float(selfs[:, 0].min()),
        "degraded_score_min": float(selfs[:, 2].min()),
        "degraded_score_median": float(np.median(selfs[:, 2])),
        "degraded_score_p05": float(np.percentile(selfs[:, 2], 5)),
        "degraded_distance_p95": float(np.percentile(selfs[:, 3], 95)),
        "seconds_prepare": round(t_prep, 2), "seconds_score": round(t_score, 2),
        "ms_per_pair": round(1000 * t_score / scores.size, 3),
    }
    per_action = {}
    for act in np.unique(q_act):
        m = q_act == act
        per_action[str(act)] = {"queries": int(m.sum()), "nn_accuracy": float((r_act[nn[m]] == act).mean())}
    res["per_action"] = per_action
    if a.calibrate:
        ds, dd = dists[same & fin], dists[~same & fin]
        d90 = float(np.percentile(selfs[:, 3], 95))
        d20 = float(np.median(dd))
        slope = float(np.log(36.0) / np.log(d20 / d90))
        d50 = d90 * 9.0 ** (1.0 / slope)
        res["calibration_suggested"] = {
            "d50": round(d50, 4), "slope": round(slope, 3),
            "rule": "s(p95 of degraded-self D) = 90 and s(median different-action D) = 20",
            "equal_error_threshold": round(equal_error_threshold(ds, dd), 4)}
    print(json.dumps({k: v for k, v in res.items() if k not in ("settings", "per_action")}, indent=2))
    if a.out:
        a.out.write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
