"""Sequence search on Penn Action: which clip did this person perform? Ours against Move Mirror's way.

Penn Action's official split: the train clips are ingested into a corpus and indexed (``vptree``,
weighted). Two tasks:

* **action retrieval**: a random test clip (another person, whole clip) is the user; correct when the
  best clip found has the test clip's action (top-3: any of the best three);
* **self retrieval**: half of a random train clip (from 20% in), recorded the way a webcam app would
  (:func:`posesearch.sequence.simulate.degrade`: 10 fps, 2% jitter, 0.3 s late, 20% slower, mirrored;
  seed = clip index), is the user; correct when the best clip found is that clip.

Answered two ways on the same index:

* ours: :meth:`posesearch.Index.search_sequence` with its defaults (per-frame hits aligned over time
  per clip, the matched segment scored, ranked by score x coverage);
* Move Mirror's way (peer): every frame matched on its own (its nearest frame, mirror images too), and
  the sequence given the clip (self retrieval) or the action (action retrieval) most frames voted for.

Each user is also searched with the ``SequenceSearchSettings`` of :data:`REFINE_MODES` side by side
(refine always / auto / never, top 3 and 1, segment vote / hits), in rotating order: top-1, top-3, the share
of searches that scored the candidates, segment-end error and median time per setting.

Latency is per sequence (ours: the whole search_sequence; peer: one batch query of all frames plus the
vote). The answers are checked: ours must reach action top-1 >= 0.85 and self retrieval >= 0.9, else
the run fails (checked from 30 queries up; a quick run's handful is reported only).
"""
from __future__ import annotations

import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .context import Context

MIN_ACTION_TOP1 = 0.85
MIN_SELF_TOP1 = 0.9
MIN_CHECKED = 30          # fewer queries: a rate too noisy to check


def _frame_votes(index, seq, min_joints: int = 5, times: bool = False):
    """Move Mirror's way: each frame with >= min_joints present joints matched on its own (k = 1, mirror
    images too). Returns the matched frames' clip ids and labels, one per queried frame (``times``: and
    the matched frames' clip times)."""
    user = seq.to_coco()
    conf = np.asarray(user.confidences, dtype=np.float64)
    keep = (conf > 0).sum(axis=1) >= min_joints
    poses = np.concatenate([np.asarray(user.keypoints)[keep], conf[keep][..., None]], axis=2)
    m = index.search(poses, k=1, mirror=True)
    out = [c[0] for c in m.clip_ids], [lab[0] for lab in m.labels]
    return out + (np.asarray(m.times)[:, 0],) if times else out


def _vote_segment(cids, times, winner):
    """The vote's best guess of the matched segment: the first and last clip time among the frames that
    voted for the winning clip (it has nothing better: no time line)."""
    t = np.asarray([tt for c, tt in zip(cids, times) if c == winner])
    return (float(t.min()), float(t.max())) if len(t) else (np.nan, np.nan)


def _vote_margin(items) -> float:
    """Votes of the winner over votes of the runner-up (inf when unopposed): small = ambiguous."""
    c = Counter(items).most_common(2)
    return float("inf") if len(c) < 2 else c[0][1] / c[1][1]


def _mode(items):
    """Most common item; ties go to the one seen first (Counter keeps insertion order)."""
    return Counter(items).most_common(1)[0][0] if items else None


def run_search(ctx: Context) -> dict:
    from posesearch.corpus.readers import penn_action
    from posesearch.corpus.store import Corpus
    from .data import default_data_dir

    s = ctx.settings
    if s.seqsearch_queries <= 0:
        return {"skipped": "seqsearch_queries = 0"}
    folder = (ctx.data_dir or default_data_dir()) / "penn_action" / "labels"
    if not folder.exists():
        return {"skipped": f"Penn Action labels not found at {folder}"}
    clips = list(penn_action.read(folder))
    train = [c for c in clips if c.labels.get("split") == "train"]
    test = [c for c in clips if c.labels.get("split") == "test"]
    if s.quick:
        train = train[::10]
        test = [c for c in test if c.labels.get("action") in {t.labels.get("action") for t in train}]
    rng = np.random.default_rng(s.seed)
    out: dict = {"source": "posesearch_bench.seqsearch", "train_clips": len(train),
                 "settings": "SequenceSearchSettings() defaults; peer: per-frame nearest frame (mirror) + vote"}
    with tempfile.TemporaryDirectory() as tmp:
        cpath = Path(tmp) / "penn_train.h5"
        ctx.say(f"sequence search: ingesting {len(train):,} Penn Action train clips")
        Corpus.ingest(cpath, train)
        corpus = Corpus.open(cpath)
        try:
            _measure(ctx, corpus, test, rng, out)
        finally:
            corpus.close()
    problems = []
    for task, floor in (("action", MIN_ACTION_TOP1), ("self", MIN_SELF_TOP1)):
        r = out[task]
        if r["queries"] >= MIN_CHECKED and r["ours_top1"] < floor:
            problems.append(f"{task} retrieval top-1 {r['ours_top1']:.3f} over {r['queries']} queries, "
                            f"expected >= {floor}")
        r["checked"] = r["queries"] >= MIN_CHECKED
    ctx.failures.add("sequence/search", problems)
    return out


def _measure(ctx: Context, corpus, test, rng, out: dict) -> None:
    from posesearch.errors import InvalidPoseError
    from posesearch.index import Index
    from posesearch.sequence.io import as_sequence
    from posesearch.sequence.sequence import sequence_from_clip
    from posesearch.sequence.simulate import degrade

    s = ctx.settings
    t0 = time.perf_counter()
    index = Index.build(corpus, metric="weighted", backend="vptree")
    out["index_build_s"] = time.perf_counter() - t0
    out["indexed_frames"] = len(index)

    # action retrieval: test clips (other people)
    pick = rng.choice(len(test), min(s.seqsearch_queries, len(test)), replace=False)
    ours1, ours3, peer1, t_ours, t_peer, skipped = [], [], [], [], [], 0
    modes = {m: {"s": [], "top1": [], "top3": [], "refined": []} for m in REFINE_MODES}
    ctx.say(f"sequence search: action retrieval, {len(pick)} test clips")
    for i in pick:
        q = test[int(i)]
        seq = as_sequence(q)
        act = q.labels.get("action")
        try:
            t0 = time.perf_counter()
            r = index.search_sequence(seq, top=3)
            t_ours.append(time.perf_counter() - t0)
        except InvalidPoseError:                # a clip with (almost) no visible joints: cannot search
            skipped += 1
            continue
        ours1.append(bool(r.clips) and r.clips[0].labels.get("action") == act)
        ours3.append(any(c.labels.get("action") == act for c in r.clips))
        for mode in _rotated(REFINE_MODES, len(ours1)):
            refine, segment, top = REFINE_MODES[mode]
            t0 = time.perf_counter()
            rm = index.search_sequence(seq, top=top, refine=refine, segment=segment)
            modes[mode]["s"].append(time.perf_counter() - t0)
            modes[mode]["top1"].append(bool(rm.clips) and rm.clips[0].labels.get("action") == act)
            modes[mode]["top3"].append(any(c.labels.get("action") == act for c in rm.clips))
            modes[mode]["refined"].append(rm.refined)
        t0 = time.perf_counter()
        _, labels = _frame_votes(index, seq)
        vote = _mode([lab.get("action") for lab in labels])
        t_peer.append(time.perf_counter() - t0)
        peer1.append(vote == act)
    out["action"] = {"queries": len(ours1), "skipped_no_visible_joints": skipped,
                     "ours_top1": float(np.mean(ours1)), "ours_top3": float(np.mean(ours3)),
                     "peer_top1": float(np.mean(peer1)),
                     "ours_median_s": float(np.median(t_ours)), "ours_p90_s": float(np.percentile(t_ours, 90)),
                     "peer_median_s": float(np.median(t_peer)), "refine": _mode_summary(modes)}

    # self retrieval: degraded halves of indexed clips (20% slower), then the same at other speeds
    n = corpus.num_clips
    pick = rng.choice(n, min(s.seqsearch_self, n), replace=False)
    out["self"] = _self_retrieval(ctx, index, corpus, pick, 1.2)
    out["speed"] = {}
    for slower in SPEEDS:
        out["speed"][f"{slower:g}"] = _self_retrieval(ctx, index, corpus, pick[:max(1, len(pick) // 2)], slower)


#: user speeds of the speed-change check (``degrade(slower=...)``: 0.6 = 1.67x faster, 1.8 = 1.8x slower)
SPEEDS = (0.6, 1.8)


def _self_retrieval(ctx: Context, index, corpus, pick, slower: float) -> dict:
    """Half of each picked clip recorded as a webcam app would (10 fps, 2% jitter, 0.3 s late, mirrored,
    ``slower``): ours and the vote, right clip, segment ends (ours: the scored segment; the vote: the span
    of the frames voting for its winner), ours' speed estimate, and whether the vote was ambiguous."""
    from posesearch.errors import InvalidPoseError
    from posesearch.sequence.sequence import sequence_from_clip
    from posesearch.sequence.simulate import degrade

    rows, t_ours, t_peer, skipped = [], [], [], 0
    ctx.say(f"sequence search: self retrieval, {len(pick)} degraded train clips, {slower:g}x slower")
    for ci in pick:
        clip = corpus.clip(int(ci))
        seq = sequence_from_clip(clip)
        a = len(seq) // 5
        b = min(len(seq), a + max(20, len(seq) // 2))
        user = degrade(seq.slice(a, b), fps=10, mirror=True, seed=int(ci), slower=slower)
        try:
            t0 = time.perf_counter()
            r = index.search_sequence(user, top=3)
            t_ours.append(time.perf_counter() - t0)
        except InvalidPoseError:
            skipped += 1
            continue
        modes_row = {}
        for mode in _rotated(REFINE_MODES, len(rows)):
            refine, segment, top = REFINE_MODES[mode]
            t0 = time.perf_counter()
            rm = index.search_sequence(user, top=top, refine=refine, segment=segment)
            dt = time.perf_counter() - t0
            hit = bool(rm.clips) and rm.clips[0].clip_id == clip.clip_id
            modes_row[mode] = {"s": dt, "top1": hit, "top3": any(c.clip_id == clip.clip_id for c in rm.clips),
                               "refined": rm.refined,
                               "seg": max(abs(rm.clips[0].start_time - seq.times[a]),
                                          abs(rm.clips[0].end_time - seq.times[b - 1])) if hit else np.nan}
        t0 = time.perf_counter()
        cids, _, ts = _frame_votes(index, user, times=True)
        winner = _mode(cids)
        t_peer.append(time.perf_counter() - t0)
        true = (seq.times[a], seq.times[b - 1])
        row = {"ours": bool(r.clips) and r.clips[0].clip_id == clip.clip_id, "peer": winner == clip.clip_id,
               "margin": _vote_margin(cids), "modes": modes_row}
        if row["ours"]:
            c = r.clips[0]
            row["ours_seg"] = max(abs(c.start_time - true[0]), abs(c.end_time - true[1]))
            row["ours_speed"] = abs(c.speed_ratio - 1 / slower)
        if row["peer"]:
            v = _vote_segment(cids, ts, winner)
            row["peer_seg"] = max(abs(v[0] - true[0]), abs(v[1] - true[1]))
        rows.append(row)

    def med(key):     # over the queries that have the figure (speed_ratio is NaN when the scorer is undecided)
        v = [r[key] for r in rows if key in r and np.isfinite(r[key])]
        return float(np.median(v)) if v else None

    modes = {m: {k: [r["modes"][m][k] for r in rows] for k in ("s", "top1", "top3", "refined", "seg")}
             for m in REFINE_MODES}
    amb = [r for r in rows if r["margin"] < AMBIGUOUS]
    return {"queries": len(rows), "skipped_no_visible_joints": skipped, "user_slower": slower,
            "ours_top1": float(np.mean([r["ours"] for r in rows])), "peer_top1": float(np.mean([r["peer"] for r in rows])),
            "ours_median_s": float(np.median(t_ours)), "peer_median_s": float(np.median(t_peer)),
            "segment_end_error_median_s": med("ours_seg"), "peer_segment_end_error_median_s": med("peer_seg"),
            "speed_ratio_error_median": med("ours_speed"),
            "speed_ratio_decided": sum(1 for r in rows if np.isfinite(r.get("ours_speed", np.nan))),
            "ambiguous_votes": len(amb), "ambiguous_ours_top1": float(np.mean([r["ours"] for r in amb])) if amb else None,
            "ambiguous_peer_top1": float(np.mean([r["peer"] for r in amb])) if amb else None,
            "refine": _mode_summary(modes)}


#: ``SequenceSearchSettings`` (refine, segment, top) measured side by side: the three refine modes at top 3 with
#: segment "vote" (the voters' span; auto + vote are the library's defaults), always and auto at top 1 (one clip
#: wanted: auto scores one when decisive), and the earlier defaults (always, segment "hits": first to last hit on
#: the time line)
REFINE_MODES = {"always": ("always", "vote", 3), "auto": ("auto", "vote", 3), "never": ("never", "vote", 3),
                "always, top 1": ("always", "vote", 1), "auto, top 1": ("auto", "vote", 1),
                "always, segment hits (earlier defaults)": ("always", "hits", 3)}


def _rotated(names, i: int) -> list:
    """``names`` starting at the i-th (mod their number): each setting runs first as often as the others, so
    none gains more from the caches the previous searches of the same user warmed."""
    names = list(names)
    j = i % len(names)
    return names[j:] + names[:j]


def _mode_summary(modes: dict) -> dict:
    """Per refine mode: top-1 / top-3, the share of searches that scored the candidates (refined), the
    median segment-end error of the right clips found first (self retrieval) and the median time."""
    out = {}
    for m, v in modes.items():
        seg = [x for x in v.get("seg", []) if np.isfinite(x)]
        out[m] = {"top1": float(np.mean(v["top1"])), "top3": float(np.mean(v["top3"])),
                  "refined": float(np.mean(v["refined"])), "median_s": float(np.median(v["s"])),
                  **({"segment_end_error_median_s": float(np.median(seg))} if "seg" in v else {})}
    return out


#: a vote is ambiguous when its winner has fewer than this many times the runner-up's votes
AMBIGUOUS = 1.5
