"""Sequence search: which corpus clips did a user's sequence perform, where in them, and how well?

Move Mirror matched every webcam frame on its own. For a whole sequence the per-frame nearest
neighbours are aligned over time instead, so that a clip wins by matching the user *in order*, not by
containing a few similar poses. :func:`search_sequence` (also :meth:`posesearch.Index.search_sequence`)
runs these steps (options in :class:`SequenceSearchSettings`):

1. **Per-frame hits.** Every user frame with at least ``min_joints`` present COCO-17 joints queries the
   index for its ``k`` nearest frames (``mirror``: best of the pose and its mirror image). Frames of
   clips with fewer than two frames (still images) are ignored from here on.
2. **Aligning the hits in time.** For each clip, the hits ``(t_user, t_clip)`` vote for a line
   ``t_clip = offset + speed * t_user`` with ``1 / max_speed <= speed <= max_speed`` (the user may be
   up to ``max_speed`` times slower or faster). Candidate lines come from pairs of hits and, for speed 1,
   from single hits (``hypotheses`` of them, fixed seed); a hit is an *inlier* when it lies within
   ``tolerance`` seconds of the line, and a line's support is the number of distinct user frames with
   an inlier (each frame counts once, so a clip full of near-identical frames gains nothing). The best
   line's support divided by the queried frames is the clip's ``coverage``.
3. **Scoring.** The ``candidates`` clips with the highest coverage (at least ``min_coverage``) are
   scored, in falling coverage, until no later one could enter the ``top`` even with a perfect score
   (``100 * coverage`` below the ``top``-th best ``match`` so far; the result is the same as scoring
   them all): the clip frames between the first and the last inlier hit are the reference segment, and
   :func:`posesearch.sequence.score.score_sequence` (smoothing, resampling, DTW, mirroring, the 0-100
   curve, all per ``score`` settings) scores the user against it. Because the user's extra frames are
   free in that alignment, a short segment matching a small part of the user could score high; so the
   clips are ranked by ``match = score * coverage``: how well the segment was performed times how much
   of the sequence follows the clip in order.
   The segment (``segment``): ``hits`` spans the first to the last inlier hit; ``vote`` (default) spans the
   clip times of the nearest frames of the user frames that *voted* for the clip (below), leaving out those
   more than 3 ``tolerance`` off its line (``hits`` when fewer than ``min_coverage`` of the frames voted for
   it). The inlier span overshoots: with ``k`` = 50 hits per frame and 0.4 s of tolerance, some hit of the
   first and last frames lies up to 0.4 s outside the performed part (0.23-0.27 s median error on degraded
   Penn Action copies, against 0.03-0.10 s for the voters' span, which also ranks better: benchmarks/README.md).
3b. **The vote and when to refine** (``refine``). Each queried frame votes for the clip of its nearest
   frame (Move Mirror's per-frame vote; the hits of step 1 already hold it). ``always`` scores
   the candidates as above and ranks them by ``match``. ``auto`` (default) does so only when the vote is ambiguous:
   it is *decisive* when the winner has at least ``vote_margin`` (2) times the runner-up's votes and at
   least ``min_coverage`` of the frames. Then only the clips to return are scored: the winner, the
   *challenger* (the best-covered other candidate, the clip ``always`` would most likely rank first) and the
   next clips by votes, up to ``top`` (at ``top`` 1 the challenger only when a perfect score would lift it
   above the winner's match, as in step 3's early stop); if any of them matches better than the winner the
   score-based rank differs from the vote's, and auto refines after all (reusing those scorings). Else the
   winner comes first, the others by ``match``. ``never`` always lets the vote rank (no challenger) and
   scores only what it returns. The result says which path was taken (``refined``, ``vote``,
   ``refine_note``). On Penn Action auto kept always's top-1 / top-3 (benchmarks/README.md).
4. The clips are returned best ``match`` first (ties: higher coverage), at most ``top`` of them. When
   none is found, the result is empty and its ``reason`` says why (e.g. every hit was in a one-frame
   clip, as in COCO, whose persons are still images); ``best`` then raises :class:`NoClipMatchedError`
   with that reason instead of returning None.

Costs: step 1 is ``T`` (x2 with mirror) index queries in one batch; step 2 is vectorized numpy over
each clip's hits; step 3 runs at most ``candidates`` scorings (a few ms each for clips of a few seconds),
fewer when the best are clear (30 Penn Action users at ``top=3``: about half as many).

Place in the package: this module sits above both :mod:`posesearch.index` (per-frame hits, through the
public ``Index.search_ids`` / ``Index.frame_columns``) and :mod:`posesearch.sequence` (scoring); neither
imports it at module level (``Index.search_sequence`` delegates here with a lazy import).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import InvalidArgumentError, InvalidPoseError, PoseSearchError, UnknownNameError, check_number
from .registry import Registry
from .index.index import Index
from .sequence.score import VIEWS, ScoreSettings, score_sequence
from .sequence.io import as_sequence
from .sequence import view as _view
from .sequence.sequence import sequence_from_clip
from .text import plural

if TYPE_CHECKING:  # pragma: no cover
    from .sequence.score import ScoreReport

__all__ = ["SequenceSearchSettings", "ClipMatch", "SequenceMatches", "NoClipMatchedError", "search_sequence",
           "fit_time_line", "REFINE", "SEGMENTS"]


#: the highest score :func:`~posesearch.sequence.score.score_sequence` gives (its 0-100 scale)
SCORE_MAX = 100.0


#: when step 3 scores the candidates to rank them (``SequenceSearchSettings.refine``)
REFINE = Registry(
    "refine mode", ("auto", "always", "never"),
    descriptions={"auto": "rank by the per-frame vote when it is decisive (the winner has at least vote_margin "
                          "times the runner-up's votes, and no clip scored matches better), else as always",
                  "always": "score the candidates and rank them by match, whatever the vote",
                  "never": "rank by the per-frame vote; score only the clips returned"})

#: which clip times bound the segment a candidate is scored against (``SequenceSearchSettings.segment``)
SEGMENTS = Registry(
    "segment mode", ("hits", "vote"),
    descriptions={"vote": "the clip times of the nearest frames of the user frames that voted for the clip, when "
                          "at least min_coverage of the frames did (else as hits)",
                  "hits": "the first and last hit on the clip's time line"})


#: segment "vote": a voter bounds the segment when its nearest frame lies within this many ``tolerance`` of
#: the clip's time line (3 x 0.4 s: the voters' span measured best on Penn Action; it drops a voter whose
#: nearest frame is a repeat of the pose seconds away)
VOTE_SEGMENT_SLACK = 3.0


class NoClipMatchedError(PoseSearchError):
    """:attr:`SequenceMatches.best` of a search that found no clip; the message says why."""


@dataclass(frozen=True)
class SequenceSearchSettings:
    """Options of :func:`search_sequence` (the steps and formulas are in the module doc).

    top: clips returned; candidates: clips scored (the best by coverage); k: nearest frames per user
    frame; mirror: also match every frame's mirror image (default on: webcam apps often show and
    record the user mirrored); min_joints: present joints a user frame needs
    to be queried; tolerance: seconds a hit may lie off a clip's time line; max_speed: largest speed
    ratio either way; hypotheses: time lines tried per clip; min_coverage: fraction of queried frames a
    clip's line must explain to be scored; score: the :class:`~posesearch.sequence.score.ScoreSettings`
    (None = defaults); view: the camera-angle mode of that scoring (``ScoreSettings.view``: auto | 2d |
    3d-fit | lifted; None = the score settings' own, auto by default). It applies to step 3 only: the
    candidates are still found by the index's 2D nearest frames, then each is scored in the user's view
    (a clip ingested from BVH carries 3D joints, so auto fits the user's camera to it). Under auto, 2D-only
    candidates are scored as filmed, and only when none scores ``AUTO_LIFT_BELOW`` (90) are the top ones
    scored again with the lift and the user's camera fitted (:mod:`posesearch.sequence.view`).
    refine: :data:`REFINE` (always | auto | never), whether the candidates are scored to rank them, or the
    per-frame vote ranks them (module doc, step 3b); vote_margin: under auto, the vote is decisive when its
    winner has at least this many times the runner-up's votes; segment: :data:`SEGMENTS` (hits | vote),
    the clip times that bound the scored segment (vote: closer ends, module doc).
    """

    top: int = 5
    candidates: int = 20
    k: int = 50
    mirror: bool = True
    min_joints: int = 5
    tolerance: float = 0.4
    max_speed: float = 2.0
    hypotheses: int = 256
    min_coverage: float = 0.1
    score: "ScoreSettings | None" = None
    view: str | None = None
    refine: str = "auto"
    vote_margin: float = 2.0
    segment: str = "vote"

    def __post_init__(self):
        for name in ("top", "candidates", "k", "hypotheses"):
            check_number(name, getattr(self, name), integer=True, low=1)
        mj = self.min_joints
        if isinstance(mj, bool) or not isinstance(mj, (int, np.integer)) or not 2 <= mj <= 17:
            raise InvalidArgumentError(f"min_joints: expected an integer in [2, 17], got {mj!r}")
        if not (isinstance(self.tolerance, (int, float)) and math.isfinite(self.tolerance) and self.tolerance > 0):
            raise InvalidArgumentError(f"tolerance: expected seconds > 0, got {self.tolerance!r}")
        if not (isinstance(self.max_speed, (int, float)) and math.isfinite(self.max_speed) and self.max_speed >= 1):
            raise InvalidArgumentError(f"max_speed: expected a ratio >= 1, got {self.max_speed!r}")
        if not (isinstance(self.min_coverage, (int, float)) and 0 <= self.min_coverage <= 1):
            raise InvalidArgumentError(f"min_coverage: expected a fraction in [0, 1], got {self.min_coverage!r}")
        if not isinstance(self.mirror, (bool, np.bool_)):
            raise InvalidArgumentError(f"mirror: expected True or False, got {self.mirror!r}")
        if self.candidates < self.top:
            object.__setattr__(self, "candidates", int(self.top))
        if self.view is not None:
            object.__setattr__(self, "view", VIEWS.canonical(self.view))
        if not (isinstance(self.vote_margin, (int, float)) and not isinstance(self.vote_margin, bool)
                and math.isfinite(self.vote_margin) and self.vote_margin >= 1):
            raise InvalidArgumentError(f"vote_margin: expected a ratio >= 1, got {self.vote_margin!r}")
        object.__setattr__(self, "refine", REFINE.canonical(self.refine))
        object.__setattr__(self, "segment", SEGMENTS.canonical(self.segment))

    @property
    def score_settings(self) -> ScoreSettings:
        """The ScoreSettings each candidate is scored with (``score`` with ``view`` applied)."""
        st = self.score or ScoreSettings()
        return st if self.view is None else st.replace(view=self.view)

    def replace(self, **changes) -> "SequenceSearchSettings":
        return dataclasses.replace(self, **changes)


@dataclass
class ClipMatch:
    """One corpus clip the user's sequence matched, with the matched segment and its score.

    start_frame / end_frame: source frame numbers of the segment (inclusive); start_time / end_time: its
    clip times (s). score, time_offset (s), speed_ratio, mirrored: from scoring the user against the
    segment (``report``). match: score * coverage (the ranking). coverage: fraction of the queried user frames whose hits lie on the
    clip's time line; hits: those frames; line_offset / line_speed: the line
    ``t_clip = offset + speed * t_user``.
    """

    clip_id: str
    clip_index: int
    labels: dict[str, str]
    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    score: float
    time_offset: float
    speed_ratio: float
    mirrored: bool
    match: float
    coverage: float
    hits: int
    line_offset: float
    line_speed: float
    report: "ScoreReport" = field(repr=False)

    def to_dict(self, *, report: bool = False) -> dict[str, Any]:
        f = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 6)  # noqa: E731
        d = {"clip": self.clip_id, "clip_index": self.clip_index, "labels": dict(self.labels),
             "start_frame": self.start_frame, "end_frame": self.end_frame, "start_time": f(self.start_time),
             "end_time": f(self.end_time), "score": f(self.score), "time_offset": f(self.time_offset),
             "speed_ratio": f(self.speed_ratio), "mirrored": bool(self.mirrored), "match": f(self.match), "coverage": f(self.coverage),
             "hits": self.hits, "line": {"offset": f(self.line_offset), "speed": f(self.line_speed)}}
        if report:
            d["report"] = self.report.to_dict(path=False)
        return d


@dataclass
class SequenceMatches:
    """Result of :func:`search_sequence`: the matched clips (best first) and what was queried.

    An empty result is falsy and its ``reason`` says why no clip was found; ``best`` is the first clip,
    and raises :class:`NoClipMatchedError` (with the reason) when there is none."""

    clips: list[ClipMatch]
    frames: int               # user frames
    frames_queried: int       # with enough joints
    settings: SequenceSearchSettings
    reason: str = ""          # why no clip was found (empty when clips were found)
    #: why fewer clips than ``settings.top`` were returned, when at least one was (empty otherwise):
    #: how many clips the nearest frames reached and how many had a time line covering min_coverage
    why_fewer: str = ""
    #: whether step 3 scored the candidates to rank them (False: the per-frame vote ranked them)
    refined: bool = True
    #: the per-frame vote: ``winner`` / ``runner_up`` clip ids and their ``votes`` / ``runner_up_votes``,
    #: ``frames`` that voted (empty when no frame's nearest frames reached a clip of 2 or more frames)
    vote: dict = field(default_factory=dict)
    #: one line: which path was taken and why (e.g. "vote decisive: 14 vs 3 frames (>= 2x): ...")
    refine_note: str = ""

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> ClipMatch:
        return self.clips[i]

    def __bool__(self) -> bool:
        return bool(self.clips)

    @property
    def best(self) -> ClipMatch:
        """The best-matching clip; raises :class:`NoClipMatchedError` saying why when none was found."""
        if not self.clips:
            raise NoClipMatchedError(f"no clip matched the sequence: {self.reason or 'no reason recorded'}")
        return self.clips[0]

    def to_dict(self, *, reports: bool = False) -> dict[str, Any]:
        s = self.settings
        return {"frames": self.frames, "frames_queried": self.frames_queried,
                "settings": {"top": s.top, "candidates": s.candidates, "k": s.k, "mirror": bool(s.mirror),
                             "min_joints": s.min_joints, "tolerance": s.tolerance, "max_speed": s.max_speed,
                             "hypotheses": s.hypotheses, "min_coverage": s.min_coverage,
                             "view": s.score_settings.view, "refine": s.refine, "vote_margin": s.vote_margin,
                             "segment": s.segment},
                "refine": {"refined": bool(self.refined), "note": self.refine_note, "vote": dict(self.vote)},
                "clips": [c.to_dict(report=reports) for c in self.clips],
                **({} if self.clips else {"reason": self.reason}),
                **({"why_fewer": self.why_fewer} if self.why_fewer else {})}


# ----------------------------------------------------------------------------- step 2: time lines

def fit_time_line(user_frame: np.ndarray, t_user: np.ndarray, t_clip: np.ndarray, *, tolerance: float,
                  max_speed: float, hypotheses: int, seed: int = 0) -> tuple[int, float, float, np.ndarray]:
    """Best line ``t_clip = offset + speed * t_user`` through hits (see the module doc, step 2).

    ``user_frame`` (n,) int: the user frame of each hit (a frame counts once); ``t_user``, ``t_clip``
    (n,) seconds. Returns (support, offset, speed, inlier mask). Deterministic for a seed.
    """
    n = len(t_user)
    if n == 0:
        return 0, 0.0, 1.0, np.zeros(0, bool)
    rng = np.random.default_rng(seed)
    # speed-1 lines through single hits, then lines through random pairs of hits of different user times
    singles = rng.choice(n, size=min(n, max(1, hypotheses // 4)), replace=False)
    off = [t_clip[singles] - t_user[singles]]
    spd = [np.ones(len(singles))]
    m = hypotheses - len(singles)
    if m > 0 and n > 1:
        i = rng.integers(0, n, size=4 * m)
        j = rng.integers(0, n, size=4 * m)
        du = t_user[j] - t_user[i]
        ok = np.abs(du) > 1e-9
        s = np.where(ok, (t_clip[j] - t_clip[i]) / np.where(ok, du, 1.0), 0.0)
        ok &= (s >= 1.0 / max_speed) & (s <= max_speed)
        i, s = i[ok][:m], s[ok][:m]
        off.append(t_clip[i] - s * t_user[i])
        spd.append(s)
    off = np.concatenate(off)
    spd = np.concatenate(spd)
    inl = np.abs(t_clip[None, :] - (off[:, None] + spd[:, None] * t_user[None, :])) <= tolerance   # (H, n)
    # support = distinct user frames with an inlier
    uf, uinv = np.unique(user_frame, return_inverse=True)
    seen = np.zeros((len(off), len(uf)), bool)
    h, e = np.nonzero(inl)
    seen[h, uinv[e]] = True
    support = seen.sum(axis=1)
    # best support; ties: the smaller total residual of inliers
    resid = np.where(inl, np.abs(t_clip[None, :] - (off[:, None] + spd[:, None] * t_user[None, :])), 0.0).sum(1)
    best = int(np.lexsort((resid, -support))[0])
    return int(support[best]), float(off[best]), float(spd[best]), inl[best]


# ----------------------------------------------------------------------------- the search

def _rescore_with_view(top: list, rest: list, user, settings: ScoreSettings, corpus) -> list:
    """Sequence search under view auto when no candidate scored AUTO_LIFT_BELOW as filmed: the top candidates
    scored again with view auto (which lifts a 2D reference and fits the user's camera to it), then re-ranked
    with the rest."""
    out = []
    for c in top:
        clip = corpus.clip(c.clip_index)
        times = np.asarray(clip.times, dtype=np.float64)
        a = int(np.searchsorted(times, c.start_time, side="left"))
        b = int(np.searchsorted(times, c.end_time, side="right"))
        try:
            rep = score_sequence(sequence_from_clip(clip).slice(a, b), user, settings=settings)
        except InvalidPoseError:
            out.append(c)
            continue
        out.append(dataclasses.replace(c, score=float(rep.score), time_offset=float(rep.time_offset),
                                       speed_ratio=float(rep.speed_ratio), mirrored=bool(rep.mirrored),
                                       match=float(rep.score) * c.coverage, report=rep))
    out += rest
    out.sort(key=lambda c: (-c.match, -c.coverage, c.clip_index))
    return out


def search_sequence(index: Index, sequence, settings: SequenceSearchSettings | None = None, *,
                    layout: str | None = None, fps: float | None = None, **options) -> SequenceMatches:
    """Clips of ``index``'s corpus that ``sequence`` performed, best score first (module doc).

    ``sequence``: a :class:`~posesearch.sequence.Sequence`, a sequence file path, a corpus Clip or a
    (T, K, 3) array (``layout`` / ``fps`` as for :func:`~posesearch.sequence.as_sequence`). Keyword
    ``options`` override fields of ``settings`` (``top=3, mirror=True, ...``). The index needs its
    corpus (clip ids, times and the reference frames to score against).
    """
    st = settings if settings is not None else SequenceSearchSettings()
    if not isinstance(st, SequenceSearchSettings):
        raise InvalidArgumentError(f"settings: expected SequenceSearchSettings, got {type(st).__name__}")
    if options:
        try:
            st = st.replace(**options)
        except TypeError:
            valid = [f.name for f in dataclasses.fields(SequenceSearchSettings)]
            bad = next(n for n in options if n not in valid)
            raise UnknownNameError("sequence search option", bad, valid) from None
    corpus = index.corpus
    if corpus is None:
        raise InvalidArgumentError("sequence search needs the index's corpus (clip ids, times and reference "
                                   "frames): load the index with corpus=PATH or call attach_corpus(PATH)")
    seq = as_sequence(sequence, layout=layout, fps=fps, name="sequence")
    if len(seq) < 2:
        raise InvalidPoseError(f"sequence: expected at least 2 frames, got {len(seq)}")
    user = seq.to_coco()
    t_user_all = np.asarray(user.times, dtype=np.float64)
    conf = np.asarray(user.confidences, dtype=np.float64)
    queried = np.flatnonzero((conf > 0).sum(axis=1) >= st.min_joints)
    if len(queried) < 2:
        raise InvalidPoseError(f"sequence: {len(queried)} of {len(user)} frames have at least {st.min_joints} "
                               "present joints; at least 2 are needed to search")
    k = min(int(st.k), len(index))
    poses = np.concatenate([user.keypoints[queried], conf[queried][..., None]], axis=2)
    rows = index.search_ids(poses, k, mirror=bool(st.mirror))[0]     # (Q, k) corpus frame ids
    cols = index.frame_columns()
    clip_of = cols["clip_index"][rows]                     # (Q, k)
    t_clip = cols["time"][rows]
    multi = cols["clip_len"][clip_of] >= 2                 # ignore still images
    qi = np.broadcast_to(np.arange(len(queried))[:, None], rows.shape)
    clip_f, qi_f, tc_f = clip_of[multi], qi[multi], t_clip[multi]
    if len(clip_f) == 0:
        if int((cols["clip_len"] >= 2).sum()) == 0:
            why = (f"every clip of the corpus is a single frame (a still image, as in COCO), and sequence search "
                   f"matches clips of 2 or more frames")
        else:
            why = (f"the {k} nearest frames of each of the {plural(len(queried), 'queried frame')} are all in "
                   f"single-frame clips (still images), which sequence search ignores")
        return SequenceMatches([], len(user), len(queried), st, why)
    order = np.argsort(clip_f, kind="stable")
    clip_f, qi_f, tc_f = clip_f[order], qi_f[order], tc_f[order]
    bounds = np.flatnonzero(np.diff(clip_f)) + 1
    groups = np.split(np.arange(len(clip_f)), bounds)
    # cheap upper bound first: distinct user frames hit per clip; fit lines for the most promising only
    distinct = np.array([len(np.unique(qi_f[g])) for g in groups])
    need = max(1, int(math.ceil(st.min_coverage * len(queried))))
    cand_groups = [groups[i] for i in np.argsort(-distinct, kind="stable") if distinct[i] >= need]
    t_q = t_user_all[queried]
    group_of = {int(clip_f[g[0]]): g for g in cand_groups[: 4 * st.candidates]}

    def fit(ci: int):
        g = group_of[ci]
        sup, off, spd, inl = fit_time_line(qi_f[g], t_q[qi_f[g]], tc_f[g], tolerance=float(st.tolerance),
                                           max_speed=float(st.max_speed), hypotheses=int(st.hypotheses))
        return (sup, ci, off, spd, tc_f[g][inl]) if sup >= need else None

    # the per-frame vote (Move Mirror's way): each queried frame votes for the clip of its nearest frame among
    # clips of 2 or more frames. The hits are already here: a few array operations
    vq = np.flatnonzero(multi.any(axis=1))
    first = multi.argmax(axis=1)[vq]
    v_clip, v_time = clip_of[vq, first], t_clip[vq, first]
    vc, vn = np.unique(v_clip, return_counts=True)
    vorder = np.lexsort((vc, -vn))
    vc, vn = vc[vorder], vn[vorder]
    vote = {"frames": int(len(vq)), "winner": str(cols["clip_ids"][vc[0]]), "votes": int(vn[0]),
            "runner_up": str(cols["clip_ids"][vc[1]]) if len(vc) > 1 else None,
            "runner_up_votes": int(vn[1]) if len(vn) > 1 else 0}
    ratio = vote["votes"] / vote["runner_up_votes"] if vote["runner_up_votes"] else math.inf
    tally = (f"{vote['winner']} {plural(vote['votes'], 'frame')} vs "
             + (f"{vote['runner_up_votes']} ({vote['runner_up']})" if vote["runner_up"] else "no other clip"))
    decisive = vote["votes"] >= need and ratio >= st.vote_margin
    seg_votes = max(2, need)             # votes a clip needs for its voters' span to bound its segment

    v_user = t_q[vq]

    def seg_bounds(ci: int, off: float, spd: float, tin: np.ndarray) -> tuple[float, float]:
        if st.segment == "vote":      # the clip's voters, but not those far off its line (a repeated pose)
            near = (v_clip == ci) & (np.abs(v_time - (off + spd * v_user)) <= VOTE_SEGMENT_SLACK * st.tolerance)
            if near.sum() >= seg_votes:
                return float(v_time[near].min()), float(v_time[near].max())
        return float(tin.min()), float(tin.max())

    score_settings = st.score_settings
    # view auto: 2D candidates are scored as filmed here (a candidate with 3D joints still gets its camera
    # fitted); only when none of them scores AUTO_LIFT_BELOW are the top ones re-scored with the lift (below)
    defer_lift = score_settings.view == "auto" and _view.AUTO_USES_LIFT

    def score_one(sup: int, ci: int, off: float, spd: float, tin: np.ndarray) -> ClipMatch | None:
        clip = corpus.clip(ci)
        times = np.asarray(clip.times, dtype=np.float64)
        lo, hi = seg_bounds(ci, off, spd, tin)
        a = int(np.searchsorted(times, lo, side="left"))
        b = int(np.searchsorted(times, hi, side="right"))
        if b - a < 2:
            return None
        ref = sequence_from_clip(clip).slice(a, b)
        as_filmed = defer_lift and ref.points3d is None
        try:
            rep = score_sequence(ref, user, settings=score_settings.replace(view="2d") if as_filmed else score_settings)
        except InvalidPoseError:
            return None                                   # a segment without usable reference frames
        if as_filmed:
            rep.view = {"mode": "2d", "chosen_by": "auto", "why": "view auto in sequence search: the candidate is "
                        f"2D only and scored as filmed (lifted only if no candidate scores {_view.AUTO_LIFT_BELOW:g})"}
        frames = clip.frame_labels["frame"]
        return ClipMatch(clip.clip_id, ci, dict(clip.labels), int(frames[a]), int(frames[b - 1]),
                         float(times[a]), float(times[b - 1]), float(rep.score), float(rep.time_offset),
                         float(rep.speed_ratio), bool(rep.mirrored), float(rep.score) * sup / len(queried),
                         sup / len(queried), sup, off, spd, rep)

    scored: dict[int, ClipMatch | None] = {}        # clip index -> its scoring (each clip scored at most once)

    def score_fit(f) -> ClipMatch | None:
        if f[1] not in scored:
            scored[f[1]] = score_one(*f)
        return scored[f[1]]

    out: list[ClipMatch] = []
    fitted = []
    refined = st.refine == "always" or (st.refine == "auto" and not decisive)
    if st.refine == "always":
        note = f"refine always: the candidates scored and ranked by match (vote: {tally})"
    elif st.refine == "auto" and not decisive:
        note = (f"vote ambiguous: {tally} (< {st.vote_margin:g}x" if vote["votes"] >= need else
                f"vote too thin: {tally} (< min_coverage, {plural(need, 'frame')}") + "): the candidates scored and ranked by match"
    else:
        # the vote ranks: the winner first, then its other clips in falling votes (then the rest in falling
        # hits), each fitted and scored until ``top`` are found; after the winner they are ranked by match.
        # auto also scores the challenger (the best-covered other candidate: the clip ``always`` would most
        # likely rank first) and refines when any clip scored matches better than the winner
        winner, auto = int(vc[0]), st.refine == "auto"
        voted = [int(c) for c in vc if int(c) in group_of]
        if auto:
            fitted = sorted((f for f in map(fit, group_of) if f is not None), key=lambda f: (-f[0], f[1]))
            fits = {f[1]: f for f in fitted}
            challenger = [f[1] for f in fitted if f[1] != winner][:1]
            order = list(dict.fromkeys([winner] + challenger + [c for c in voted if c in fits] + list(fits)))
        else:
            order = voted + [c for c in group_of if c not in set(voted)]
        want = max(st.top, 2) if auto else st.top
        for ci in order:
            if len(out) >= want or len(scored) >= st.candidates:
                break
            if auto:
                f = fits.get(ci)
                if st.top == 1 and out and f is not None and SCORE_MAX * f[0] / len(queried) < out[0].match:
                    break                                 # not returned, and even a perfect score would not win
            else:
                f = fit(ci)
                if f is not None:
                    fitted.append(f)
            m = None if f is None else score_fit(f)
            if m is None and auto and ci == winner:
                break                                     # the winner has no usable line or segment: refine
            if m is not None:
                out.append(m)
        better = [c for c in out[1:] if c.match > out[0].match] if auto and out else []
        if auto and (not out or out[0].clip_index != winner):
            refined, out = True, []                       # (fitted: every line, kept for the refinement)
            note = (f"vote decisive ({tally}) but its winner gave no time line covering min_coverage or no "
                    f"segment to score: the candidates scored and ranked by match")
        elif better:
            refined, out = True, []
            b = max(better, key=lambda c: c.match)
            note = (f"vote decisive ({tally}) but {b.clip_id} matched better than its winner ({b.match:.1f} > "
                    f"{scored[winner].match:.1f}): the candidates scored and ranked by match")
        else:
            out = out[:1] + sorted(out[1:], key=lambda c: (-c.match, -c.coverage, c.clip_index))[: st.top - 1]
            note = (f"vote decisive: {tally} (>= {st.vote_margin:g}x); {plural(len(scored), 'clip')} scored, no "
                    f"candidate can match better than the winner" if auto else
                    f"refine never: ranked by the vote ({tally}); only the {plural(len(out), 'clip')} returned scored")
    if refined:
        if not fitted:
            fitted = sorted((f for f in map(fit, group_of) if f is not None), key=lambda f: (-f[0], f[1]))
        best: list[float] = []                            # the top ``st.top`` matches so far, descending
        for f in fitted[: st.candidates]:
            # candidates come in falling coverage and a score is at most 100, so once even a perfect score
            # could not lift this one (or any later one) into the top, the rest are not scored: the same
            # clips come back, with the same scores, as when every candidate is scored
            if len(best) >= st.top and SCORE_MAX * f[0] / len(queried) < best[st.top - 1]:
                break
            m = score_fit(f)
            if m is None:
                continue
            out.append(m)
            best = sorted(best + [m.match], reverse=True)[: st.top]
        out.sort(key=lambda c: (-c.match, -c.coverage, c.clip_index))
    if defer_lift and out and max(c.score for c in out) < _view.AUTO_LIFT_BELOW:
        lead = out[0].clip_index
        out = _rescore_with_view(out[: st.top], out[st.top:], user, score_settings, corpus)
        if not refined:                                   # the vote's first stays first
            out = [c for c in out if c.clip_index == lead] + [c for c in out if c.clip_index != lead]
    why = ""
    if not out:
        most = int(distinct.max())
        why = (f"no clip had at least {st.min_coverage:.0%} of the {plural(len(queried), 'queried frame')} "
               f"({need}) on one time line (the most any clip was hit by, in any order: {plural(most, 'frame')})"
               if not fitted else
               f"the {plural(len(fitted), 'clip')} whose time lines covered enough frames gave no segment of "
               f"2 or more usable frames to score")
    fewer = ""
    if 0 < len(out) < st.top:
        fewer = (f"only {plural(len(out), 'clip')} of the {st.top} asked for (top): "
                 f"{plural(len(groups), 'clip')} of 2 or more frames held any of the {k} nearest frames of the "
                 f"{plural(len(queried), 'queried frame')}, and {len(fitted)} of them had a time line covering "
                 f"at least {st.min_coverage:.0%} of those frames (min_coverage: {plural(need, 'frame')})")
        if len(fitted) > st.candidates:
            fewer += f"; only the best {st.candidates} (candidates) were scored"
        if len(out) < min(len(fitted), st.candidates):
            fewer += f"; {min(len(fitted), st.candidates) - len(out)} gave no segment of 2 or more usable frames"
    return SequenceMatches(out[: st.top], len(user), len(queried), st, why, fewer, refined, vote, note)
