"""Repetitions: find each rep of a reference movement in a user sequence, score it, and say what to change.

:func:`find_reps` (``posesearch reps REFERENCE USER``, ``ps.find_reps``):

1. both sequences are prepared as for scoring (:func:`~posesearch.sequence.score.prepare_reference` /
   :func:`~posesearch.sequence.score.prepare_user` with ``RepSettings.score``: COCO-17, smoothed, the user
   resampled to the reference's frame rate) and the full (Tu, Tr) frame-distance matrix ``D`` is computed
   (:func:`~posesearch.sequence.framedist.frame_distance_matrix`), as recorded and mirrored;
2. segmentation (``method``):

   * ``"single-pass"`` (default): one open-begin DTW pass over the user (numba,
     :func:`~posesearch.sequence._rep_kernels.subsequence_ends`) gives, for every user frame u, the best
     path through the whole reference ending there: its cost, length and first frame. Candidates
     ``[start(u), u]`` are taken greedily by their mean cost per step, lowest first, skipping any that
     overlaps one taken; a candidate is a rep when its mean cost is at most ``max_distance`` and its
     duration is within ``[Tr / max_speed, Tr / min_speed]`` and it *reaches* the movement: some frame
     of it comes within half the reference's own excursion (the distance from its first frame to its
     farthest one) of that farthest reference frame (so a pause, which matches the start well, is no
     rep). The frames of the reps found are then
     blocked and the pass is repeated on what is left, until a pass finds nothing (usually 2 passes);
   * ``"repeat"``: find the single best open-begin DTW match (:func:`~posesearch.sequence.align.dtw_path`,
     the scorer's own kernel), block its frames, repeat. One full DTW per rep: slower, kept for comparison
     (``benchmarks/bench_reps.py`` measures both on constructed truth);

   the mirror state whose typical frame match (the mean over user frames of ``min_r D[u, r]``) is lower
   is kept, once for the whole sequence (as the scorer does);
3. a rep whose aligned pairs match (distance <= ``max_distance``, and not skipped: beyond the first
   ``ceil(max_speed) + 1`` reference frames aligned to one user frame) fewer than ``min_coverage`` of the
   reference frames, and any run of frames left between reps that each match some reference frame
   (distance <= ``max_distance``) and whose nearest reference frames cover at least ``min_partial`` of
   the reference, is reported as a
   *partial* rep (with that coverage), never as a whole one and never dropped silently;
4. each rep is scored like :func:`~posesearch.sequence.score.score_sequence` scores a sequence (the
   log-logistic curve of the pair distances, mean over the reference frames; per joint likewise) and is
   compared in the coach's units (below).

Angles (:mod:`posesearch.poses.angles`). At every reference frame r of a rep the user's angle (the mean
over the user frames aligned to r) minus the nearest value the reference's angle takes within half an
angle window of r (0 inside that range: a fast joint is not "different" from its own repeat one or two
frames off) is ``delta_r``; a running median over
``angle_window`` seconds (at most 15% of the reference rep, so a brief turning point is kept) of reference
frames removes single-frame alignment jitter; the reported difference for an angle is the ``delta_r`` of
largest magnitude, with the moment it happens, unless the rep's extreme of that angle (its smallest or
largest value, a running median over the same part of the movement) differs from the reference's extreme
by more in the same direction: then that, at the reference's extreme (DTW partly warps time to match a
changed joint, which shrinks ``delta_r``, while the turning points are what a coach compares). An angle
whose ``|delta|`` exceeds its tolerance (``tolerance(angle)``) makes the rep *bad* by its form (flag
``"form"``), a score below ``threshold`` by its score (flag ``"score"``; :attr:`Rep.flags`). Sides: the user's own left and right as recorded (when the user matched the reference
mirrored, the reference's right knee is compared with the user's left knee, and the user's is named).

Timing (seconds): the rep's duration against the reference's; "late"/"early": the user's time from the rep's
start to the reference's key moment (its bottom or top, else its middle) against the reference's time to it;
"held too short": a hold of the reference (a stretch of at least ``min_hold`` s where its faster joints move
less than 1% of its body size per 1/30 s) that the user holds for less than ``hold_fraction`` of its
length. Differences within ``timing_tolerance`` s are not reported.

:func:`count_reps` (``posesearch reps USER``) counts a periodic motion without a reference: the
autocorrelation of the user's normalized pose over time (frames centred, lag-normalized) peaks at the
period P (the first peak within ``0.8`` of the highest, lags ``min_period`` .. ``max_period``); that peak's
height is the *confidence* (1 = every frame repeats exactly one period later). Cycles are then counted on
the first principal component of the pose (smoothed over P/8): one peak per cycle at least 0.6 P apart,
on the side away from the rest pose, with prominence >= half the median cycle's (a smaller one is a
*partial* rep). The pose vectors are each frame's joints centred and scaled, on the joints seen in at least
80% of the frames. Without a repeating pattern of confidence ``min_confidence``, a motion that leaves its
start pose once (its first principal component goes at least 60% of its range away, one peak) and returns
(last pose within half the largest excursion of the first) is *one* rep, with confidence 1 - return gap /
excursion; anything else gets no count: "no periodic motion found" (never a made-up rep).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, PoseSearchError, check_number
from ..poses.angles import ANGLES, BEND_ANGLES, joint_angles, mirror_angles
from ..poses.layouts import COCO17_JOINTS
from ..registry import Registry
from .framedist import Band, DistanceMatrix, frame_distance_matrix, pair_errors, restrict_joints
from .score import ScoreSettings, prepare_reference, prepare_user

REP_METHODS = Registry("rep segmentation method", ("single-pass", "repeat"),
                       aliases={"spring": "single-pass", "single": "single-pass", "repeated": "repeat"})

#: a rep needs this many reference frames at least
MIN_REFERENCE_FRAMES = 3


class NoRepetitionError(PoseSearchError):
    """Raised by :meth:`CountReport.require` when no periodic motion was found."""


@dataclass(frozen=True)
class RepSettings:
    """Settings of :func:`find_reps` and :func:`count_reps` (formulas in the module doc).

    threshold: a rep scoring below it (0-100) is flagged bad.
    max_distance: most mean frame distance (Procrustes units, :mod:`.framedist`) of a stretch that is a rep;
        also the distance under which a pair "matches" (coverage).
    min_speed, max_speed: a rep lasts between Tr / max_speed and Tr / min_speed (reference frames Tr).
    min_coverage: a rep whose aligned pairs match fewer than this fraction of the reference frames is partial.
    min_partial: a stretch between reps matching at least this fraction of the reference frames is a partial rep.
    angle_tolerance: degrees; an angle differing more (at some moment) makes the rep bad.
    angle_tolerances: per-angle overrides, e.g. ``{"left_knee": 10}`` (names: posesearch.poses.angles.ANGLES).
    angle_window: seconds of running median over reference frames before the largest difference is taken.
    timing_tolerance: seconds; smaller timing differences are not reported.
    min_hold, hold_fraction: a reference hold of at least min_hold s that the user holds less than
        hold_fraction of is "held too short".
    method: "single-pass" | "repeat" (segmentation, module doc).
    min_period, max_period: seconds, the periods count_reps looks for; min_confidence: below it no count.
    exercise: a name for the tolerances (shown in outputs).
    score: the preparation and distance settings (:class:`~.score.ScoreSettings`), band ignored.
    """

    threshold: float = 70.0
    max_distance: float = 0.3
    min_speed: float = 0.5
    max_speed: float = 2.0
    min_coverage: float = 0.9
    min_partial: float = 0.3
    angle_tolerance: float = 20.0
    angle_tolerances: dict = field(default_factory=dict)
    angle_window: float = 0.3
    timing_tolerance: float = 0.3
    min_hold: float = 0.3
    hold_fraction: float = 0.5
    method: str = "single-pass"
    min_period: float = 0.4
    max_period: float = 10.0
    min_confidence: float = 0.4
    exercise: str | None = None
    score: ScoreSettings = field(default_factory=ScoreSettings)

    def __post_init__(self):
        check_number("threshold", self.threshold, low=0, high=100, what="a score in [0, 100]")
        for n in ("max_distance", "angle_tolerance", "timing_tolerance", "min_hold", "min_period"):
            check_number(n, getattr(self, n), low=0, low_open=True)
        for n in ("angle_window",):
            check_number(n, getattr(self, n), low=0)
        for n in ("min_coverage", "min_partial", "hold_fraction", "min_confidence"):
            check_number(n, getattr(self, n), low=0, high=1, what="a fraction in [0, 1]")
        check_number("min_speed", self.min_speed, low=0, low_open=True)
        check_number("max_speed", self.max_speed, low=self.min_speed, what=f"a number >= min_speed {self.min_speed}")
        check_number("max_period", self.max_period, low=self.min_period,
                     what=f"seconds >= min_period {self.min_period}")
        object.__setattr__(self, "method", REP_METHODS.canonical(self.method))
        if not isinstance(self.angle_tolerances, dict):
            raise InvalidArgumentError(f"angle_tolerances: expected an object angle -> degrees, got "
                                       f"{type(self.angle_tolerances).__name__}")
        tol = {}
        for k, v in self.angle_tolerances.items():
            if k not in ANGLES:
                from ..errors import UnknownNameError

                raise UnknownNameError("angle in angle_tolerances", k, ANGLES)
            tol[k] = check_number(f"angle_tolerances.{k}", v, low=0, low_open=True)
        object.__setattr__(self, "angle_tolerances", tol)
        if not isinstance(self.score, ScoreSettings):
            raise InvalidArgumentError(f"score: expected ScoreSettings, got {type(self.score).__name__}")

    def tolerance(self, angle: str) -> float:
        """Degrees allowed for ``angle`` (its override, else ``angle_tolerance``)."""
        return float(self.angle_tolerances.get(angle, self.angle_tolerance))

    def replace(self, **changes) -> "RepSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["angle_tolerances"] = dict(self.angle_tolerances)
        d["score"] = self.score.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict, *, source: str = "settings") -> "RepSettings":
        """From a dict like :meth:`to_dict`'s (any subset; ``score`` may hold ScoreSettings' plain fields)."""
        if not isinstance(d, dict):
            raise InvalidArgumentError(f"{source}: expected a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in d if k not in names]
        if unknown:
            raise InvalidArgumentError(f"{source}: unknown field {unknown[0]!r}; valid: {', '.join(names)}")
        d = dict(d)
        if "score" in d:
            sc = d["score"]
            plain = {f.name for f in fields(ScoreSettings)} - {"kalman", "one_euro", "calibration"}
            if not isinstance(sc, dict) or any(k not in plain for k in sc):
                bad = next((k for k in sc if k not in plain), None) if isinstance(sc, dict) else type(sc).__name__
                raise InvalidArgumentError(f"{source}: score: expected an object of {', '.join(sorted(plain))}, "
                                           f"got {bad!r}")
            d["score"] = ScoreSettings(**sc)
        return cls(**d)

    @classmethod
    def from_json(cls, path) -> "RepSettings":
        """Read settings (tolerances) from a JSON file, e.g. ``{"exercise": "squat", "angle_tolerances":
        {"left_knee": 10, "right_knee": 10}, "threshold": 75}``."""
        from ..safeio import load_json

        p = Path(path)
        return cls.from_dict(load_json(p, what="tolerances file"), source=str(p))


# ------------------------------------------------------------------------------------------- results
@dataclass
class AngleDifference:
    """The largest difference of one angle over a rep: ``degrees`` = user - reference (signed) at
    ``moment`` (its place in the rep: "at the bottom", "midway through", ...; ``ref_time`` in the reference)."""

    angle: str
    degrees: float
    ref_time: float
    moment: str                      # "at the bottom", "at the top", "at the start", "at the end", "early",
    tolerance: float                 # "midway" or "late" (see moment_phrase)

    @property
    def exceeds(self) -> bool:
        return abs(self.degrees) > self.tolerance

    def words(self, rep: int | None = None) -> str:
        side = "your " + self.angle.replace("_", " ") if self.angle not in ("trunk_lean", "head_tilt") else \
            {"trunk_lean": "trunk", "head_tilt": "head"}[self.angle]
        v = abs(self.degrees)
        if self.angle in BEND_ANGLES:
            what = f"{v:.0f}° {'less' if self.degrees > 0 else 'more'} bend than the reference"
        elif self.angle.endswith("shoulder"):
            what = f"arm {v:.0f}° {'higher' if self.degrees > 0 else 'lower'} than the reference"
        elif self.angle == "trunk_lean":
            what = f"leaning {v:.0f}° {'more' if self.degrees > 0 else 'less'} than the reference"
        else:
            what = f"tilted {v:.0f}° {'more' if self.degrees > 0 else 'less'} than the reference"
        return f"{side}: {what} {moment_phrase(self.moment, rep)}"

    def to_dict(self) -> dict:
        return {"angle": self.angle, "degrees": round(float(self.degrees), 2), "ref_time": round(self.ref_time, 4),
                "moment": self.moment, "tolerance": self.tolerance, "exceeds": self.exceeds}


@dataclass
class TimingNote:
    """A timing difference in seconds: kind "duration" (+ = slower), "late" (+ = later than the reference,
    - = early) or "held too short"."""

    kind: str
    seconds: float
    text: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "seconds": round(float(self.seconds), 3), "text": self.text}


@dataclass
class Rep:
    """One repetition found in the user sequence (times in the user's seconds)."""

    index: int                       # 1-based, in time order
    start: float
    end: float
    start_frame: int                 # user frames (as resampled to the reference's rate)
    end_frame: int
    score: float | None              # None for a partial rep
    distance: float                  # mean aligned frame distance
    coverage: float                  # fraction of reference frames matched
    partial: bool
    bad: bool
    reasons: list[str]
    worst_joints: list[tuple[str, float]]
    angles: list[AngleDifference]    # every angle with data, largest |difference| beyond tolerance first
    timing: list[TimingNote]
    feedback: list[str]              # short sentences

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def flags(self) -> list[str]:
        """Why a whole rep is bad: ``"score"`` (its score is below the threshold: it moves unlike the
        reference) and/or ``"form"`` (an angle beyond its tolerance: the movement matches, one joint does
        not, e.g. a rep scoring 90 with the knee 30° short of the reference's bend). Empty for a good or a
        partial rep."""
        if self.partial:
            return []
        return [n for n, on in (("score", any(x.startswith("score ") for x in self.reasons)),
                                ("form", any(a.exceeds for a in self.angles))) if on]

    @property
    def tag(self) -> str:
        """``ok`` / ``partial`` / ``BAD (score)`` / ``BAD (form)`` / ``BAD (score, form)``."""
        if self.partial:
            return "partial"
        return f"BAD ({', '.join(self.flags)})" if self.bad else "ok"

    def to_dict(self) -> dict:
        f = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 4)  # noqa: E731
        return {"index": self.index, "start": f(self.start), "end": f(self.end), "duration": f(self.duration),
                "score": f(self.score), "distance": f(self.distance), "coverage": f(self.coverage),
                "partial": self.partial, "bad": self.bad, "flags": self.flags, "reasons": self.reasons,
                "worst_joints": [{"joint": j, "score": f(s)} for j, s in self.worst_joints],
                "angles": [a.to_dict() for a in self.angles], "timing": [t.to_dict() for t in self.timing],
                "feedback": self.feedback}


@dataclass
class RepReport:
    """Result of :func:`find_reps`: the reps in time order (partial ones included, marked)."""

    reps: list[Rep]
    reference_duration: float
    user_duration: float
    mirrored: bool
    threshold: float
    settings: RepSettings
    user_times: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    match: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))   # (Tu,) best frame distance
    assumed: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Whole reps (partial ones not counted)."""
        return sum(not r.partial for r in self.reps)

    @property
    def partial_count(self) -> int:
        return sum(r.partial for r in self.reps)

    @property
    def bad(self) -> list[Rep]:
        return [r for r in self.reps if r.bad]

    def summary(self) -> str:
        if not self.reps:
            return (f"no rep found: no stretch of the user ({self.user_duration:.1f} s) matches the reference "
                    f"({self.reference_duration:.2f} s) within max_distance {self.settings.max_distance:g}")
        head = (f"{self.count} rep(s)" + (f" + {self.partial_count} partial" if self.partial_count else "")
                + f", {len([r for r in self.bad if not r.partial])} bad (score: below {self.threshold:g}; form: an "
                  f"angle beyond tolerance)" + (" (user mirrored)" if self.mirrored else ""))
        lines = [head]
        for r in self.reps:
            sc = "" if r.score is None else f" score {r.score:.0f}"
            lines.append(f"rep {r.index}: {r.start:.2f}-{r.end:.2f} s ({r.duration:.2f} s){sc} {r.tag}")
            for s in r.feedback:
                lines.append(f"  - {s}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"count": self.count, "partial": self.partial_count, "bad": [r.index for r in self.bad],
                "threshold": self.threshold, "mirrored": self.mirrored,
                "reference_duration": round(self.reference_duration, 4), "user_duration": round(self.user_duration, 4),
                "reps": [r.to_dict() for r in self.reps], "settings": self.settings.to_dict(), "assumed": self.assumed}


# ------------------------------------------------------------------------------------------- helpers
def _as_input(item, fps, layout, name, assumed):
    import os

    if isinstance(item, (str, os.PathLike)):
        from ..inputs import prefixed, read_input

        got = read_input(item, layout=layout, fps=fps, name=name, prefer="sequence")
        assumed.update(prefixed(got.assumed, name))
        return got.sequence
    from .io import as_sequence

    return as_sequence(item, layout=layout, fps=fps, name=name)


def slice_seconds(seq, start: float | None, end: float | None, name: str = "reference"):
    """The frames of ``seq`` with ``start <= t - t0 <= end`` (seconds from its first frame)."""
    if start is None and end is None:
        return seq
    t = seq.times - seq.times[0]
    a = 0.0 if start is None else check_number(f"{name} start", start, low=0)
    b = float(t[-1]) if end is None else check_number(f"{name} end", end, low=0)
    if not b > a:
        raise InvalidArgumentError(f"{name} segment: end {b:g} s must be after start {a:g} s")
    keep = np.flatnonzero((t >= a - 1e-9) & (t <= b + 1e-9))
    if len(keep) < 2:
        raise InvalidPoseError(f"{name} segment {a:g}-{b:g} s: expected at least 2 frames, got {len(keep)} "
                               f"(the {name} lasts {t[-1]:.3g} s)")
    return seq.slice(int(keep[0]), int(keep[-1]) + 1)


def _running_median(x: np.ndarray, w: int) -> np.ndarray:
    """Running median over windows of w (odd) rows along axis 0, NaN-aware, edges shrink (numba)."""
    if w <= 1 or len(x) < 3:
        return x
    from ._rep_kernels import running_median

    return running_median(np.ascontiguousarray(x, dtype=np.float64), int(w))


def _reference_landmarks(ref_kp: np.ndarray, ref_cf: np.ndarray, fps: float) -> dict:
    """Where the reference is lowest / highest (body centre in the image, y down), when it moves enough,
    and its holds: frames where its faster joints (90th percentile over joints) move less than 1% of its
    body size per 1/30 s, and their runs."""
    pres = ref_cf > 0
    w = pres.astype(float)
    cy = (np.where(pres, ref_kp[..., 1], 0.0) * w).sum(1) / np.maximum(w.sum(1), 1)
    ys = np.where(pres, ref_kp[..., 1], np.nan)
    two = pres.sum(axis=1) >= 2
    size = float(np.median(np.nanmax(ys[two], axis=1) - np.nanmin(ys[two], axis=1))) if two.any() else 1.0
    if not np.isfinite(size) or size <= 0:
        size = 1.0
    out: dict = {"size": size}
    if np.ptp(cy) > 0.1 * size:
        out["bottom"] = int(np.argmax(cy))
        out["top"] = int(np.argmin(cy))
    step = np.zeros(len(ref_kp))
    if len(ref_kp) > 1:
        both = pres[1:] & pres[:-1]
        d = np.where(both, np.linalg.norm(ref_kp[1:] - ref_kp[:-1], axis=-1), np.nan)
        with np.errstate(all="ignore"):
            fast = np.where(both.any(1), np.nanpercentile(np.where(both.any(1)[:, None], d, 0.0), 90, axis=1), 0.0)
        step[1:] = fast / size
    still = step < 0.01 * 30.0 / fps
    out["still"] = still
    holds = []
    i = 0
    while i < len(still):
        if still[i]:
            j = i
            while j + 1 < len(still) and still[j + 1]:
                j += 1
            holds.append((i, j))
            i = j + 1
        else:
            i += 1
    out["holds"] = holds
    return out


def _moment_words(r: int, tr: int, marks: dict) -> str:
    near = max(1, int(round(0.1 * tr)))
    for key in ("bottom", "top"):
        if key in marks and abs(r - marks[key]) <= near:
            return f"at the {key}"
    f = r / max(tr - 1, 1)
    if f < 0.15:
        return "at the start"
    if f > 0.85:
        return "at the end"
    return "early" if f < 0.4 else ("midway" if f <= 0.6 else "late")


_PHRASE = {"early": "early in", "midway": "midway through", "late": "late in"}


def moment_phrase(moment: str, rep: "int | str | None" = None) -> str:
    """``("at the bottom", 3)`` -> "at the bottom of rep 3"; ``("midway", 3)`` -> "midway through rep 3"."""
    what = "the rep" if rep is None else f"rep {rep}"
    if moment in _PHRASE:
        return f"{_PHRASE[moment]} {what}"
    return f"{moment} of {what}"


# ------------------------------------------------------------------------------------- segmentation
def _reaches(D: np.ndarray, far: "tuple[int, float] | None", start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(n,) bool: the user frames start..end come within half the reference's own excursion of its farthest
    pose (``far``: that reference frame and its distance from the reference's first frame)."""
    if far is None:
        return np.ones(len(start), bool)
    r, excursion = far
    col = np.where(np.isfinite(D[:, r]), D[:, r], np.inf)
    a = np.append(col, np.inf)
    idx = np.ravel(np.column_stack([np.clip(start, 0, len(col) - 1), np.clip(end, 0, len(col) - 1) + 1]))
    lowest = np.minimum.reduceat(a, idx)[::2]
    return lowest <= 0.5 * excursion


def _candidates(D: np.ndarray, missing: float, blocked: np.ndarray, lo_len: int, hi_len: int, max_distance: float,
                far=None):
    from ._rep_kernels import subsequence_ends

    cost, length, start = subsequence_ends(D, float(missing), blocked)
    u = np.arange(len(cost))
    dur = u - start + 1
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(np.isfinite(cost) & (length > 0), cost / np.maximum(length, 1), np.inf)
    ok = (mean <= max_distance) & (dur >= lo_len) & (dur <= hi_len) & (start >= 0)
    ok[ok] = _reaches(D, far, start[ok], u[ok])
    # ranked by total cost: among overlapping candidates of one rep, the one not stretched into the
    # frames around it (a pause adds a little cost per frame, and lowers the mean per step)
    return [(float(cost[i]), int(start[i]), int(i)) for i in np.flatnonzero(ok)]


def _segment_single_pass(D, missing, lo_len, hi_len, max_distance, far=None):
    tu = D.shape[0]
    blocked = np.zeros(tu, bool)
    found: list[tuple[int, int]] = []
    while True:
        cands = sorted(_candidates(D, missing, blocked, lo_len, hi_len, max_distance, far))
        taken = blocked.copy()
        new = []
        for m, s, e in cands:
            if taken[s:e + 1].any():
                continue
            taken[s:e + 1] = True
            new.append((s, e))
        if not new:
            break
        found += new
        blocked = taken
    return sorted(found)


def _segment_repeat(D, missing, lo_len, hi_len, max_distance, far=None):
    from .align import dtw_path

    tu, tr = D.shape
    Dm = D.copy()
    found: list[tuple[int, int]] = []
    band = Band.full(tu, tr)
    refused = np.zeros(tu, bool)
    while True:
        try:
            total, path = dtw_path(DistanceMatrix(Dm, band), open_ends="user", missing_cost=missing)
        except InvalidPoseError:
            break
        if not np.isfinite(total):
            break
        s, e = int(path[0, 1]), int(path[-1, 1])
        mean = total / len(path)
        if mean > max_distance:
            break
        dur = e - s + 1
        if lo_len <= dur <= hi_len and not refused[s:e + 1].any() and _reaches(D, far, np.array([s]), np.array([e]))[0]:
            found.append((s, e))
        else:
            refused[s:e + 1] = True
        Dm[s:e + 1] = np.inf
    return sorted(found)


SEGMENTERS = {"single-pass": _segment_single_pass, "repeat": _segment_repeat}


def _partial_stretches(best: np.ndarray, nearest: np.ndarray, free: np.ndarray, tr: int, max_distance: float,
                       min_partial: float, min_len: int):
    """Runs of ``free`` user frames each within ``max_distance`` of some reference frame, whose nearest
    reference frames cover >= min_partial of the reference (and the run is at least min_len frames)."""
    out = []
    u = 0
    use = free & (best <= max_distance)     # runs of free frames that each look like some reference frame
    tu = len(free)
    while u < tu:
        if not use[u]:
            u += 1
            continue
        v = u
        while v + 1 < tu and use[v + 1]:
            v += 1
        if v - u + 1 >= min_len:
            cov = len(np.unique(nearest[u:v + 1])) / tr
            if cov >= min_partial:
                out.append((u, v, cov))
        u = v + 1
    return out


# ------------------------------------------------------------------------------------------ find_reps
def find_reps(reference, user, settings: RepSettings = RepSettings(), *, threshold: float | None = None,
              ref_fps: float | None = None, user_fps: float | None = None, layout: str | None = None,
              ref_start: float | None = None, ref_end: float | None = None) -> RepReport:
    """Find, score and explain each repetition of ``reference`` (one rep) in ``user``; see the module doc.

    reference, user: a Sequence, path (any input ``posesearch.inputs.read_input`` reads, e.g.
    ``corpus.h5:clip_id``), corpus Clip or (T, K, 3) array. ``ref_start`` / ``ref_end``: seconds from the
    reference's first frame, to take one rep out of a longer clip. ``threshold`` overrides
    ``settings.threshold``. No rep found is an answer (an empty report), not an error.
    """
    st = settings if threshold is None else settings.replace(threshold=threshold)
    sc = st.score
    assumed: dict = {}
    lay = layout if layout is not None else sc.layout
    ref_seq = _as_input(reference, ref_fps, lay, "reference", assumed)
    usr_seq = _as_input(user, user_fps, lay, "user", assumed)
    ref_seq = slice_seconds(ref_seq, ref_start, ref_end)
    if len(ref_seq) < MIN_REFERENCE_FRAMES:
        raise InvalidPoseError(f"reference: expected one rep of at least {MIN_REFERENCE_FRAMES} frames, got "
                               f"{len(ref_seq)}")
    usr_seq.require_frames(2)
    if ref_seq.duration > usr_seq.duration:
        raise InvalidArgumentError(f"reference ({ref_seq.duration:.2f} s) is longer than the user "
                                   f"({usr_seq.duration:.2f} s): no whole rep fits; give one rep as the reference "
                                   f"(--ref-start/--ref-end) or a longer user sequence")
    ref = prepare_reference(ref_seq, sc)
    usr = prepare_user(usr_seq, ref.fps, sc)
    return _find_prepared(ref, usr, st, assumed)


def _distance_matrices(ref, usr, sc: ScoreSettings):
    tu, tr = len(usr.seq), len(ref.seq)
    need = tu * tr * 8 * 2
    if need > sc.max_alignment_bytes:
        raise InvalidArgumentError(f"reps: {tu:,} user x {tr:,} reference frames need {need / 2 ** 20:,.0f} MiB, more "
                                   f"than max_alignment_bytes ({sc.max_alignment_bytes / 2 ** 20:,.0f} MiB); use a "
                                   f"shorter user sequence or a lower reference frame rate")
    out = {}
    for mirror, feats in usr.features.items():
        common = ref.available & usr.available[mirror]
        if common.sum() < 3:
            continue
        uf = restrict_joints(feats, common)
        rf = restrict_joints(ref.features, common)
        D = frame_distance_matrix(uf, rf, distance=sc.distance, max_rotation=sc.max_rotation,
                                  missing_penalty=sc.penalty).values
        out[mirror] = (D, uf, rf)
    if not out:
        raise InvalidPoseError("reference and user share fewer than 3 joints; no rep can be compared")
    return out


def _farthest(rf, sc: ScoreSettings) -> "tuple[int, float] | None":
    """(reference frame farthest from the reference's first frame, that distance), or None."""
    first = int(np.flatnonzero(rf.valid)[0]) if rf.valid.any() else 0
    from .framedist import FrameFeatures

    one = FrameFeatures(rf.points[first:first + 1], rf.weights[first:first + 1], rf.valid[first:first + 1],
                        rf.distance)
    d = frame_distance_matrix(one, rf, distance=sc.distance, max_rotation=sc.max_rotation,
                              missing_penalty=sc.penalty).values[0]
    d = np.where(np.isfinite(d), d, -np.inf)
    r = int(np.argmax(d))
    return (r, float(d[r])) if d[r] > 0 else None


def _find_prepared(ref, usr, st: RepSettings, assumed: dict) -> RepReport:
    sc = st.score
    tr = len(ref.seq)
    fps = ref.fps
    mats = _distance_matrices(ref, usr, sc)

    def typical(D):
        b = np.where(np.isfinite(D), D, np.inf).min(axis=1)
        b = b[np.isfinite(b)]
        return float(b.mean()) if b.size else np.inf

    mirrored = min(mats, key=lambda m: typical(mats[m][0]))
    D, uf, rf = mats[mirrored]
    lo_len = max(2, int(math.floor(tr / st.max_speed)))
    hi_len = int(math.ceil(tr / st.min_speed))
    segs = SEGMENTERS[st.method](D, sc.missing, lo_len, hi_len, st.max_distance, _farthest(rf, sc))
    Dn = np.where(np.isfinite(D), D, np.inf)
    best = Dn.min(axis=1)
    nearest = Dn.argmin(axis=1)
    free = np.ones(len(D), bool)
    for s, e in segs:
        free[s:e + 1] = False
    partials = _partial_stretches(best, nearest, free, tr, st.max_distance, st.min_partial,
                                  max(3, int(st.min_partial * lo_len)))
    # coach's units
    ang_u = joint_angles(usr.seq.keypoints, usr.seq.confidences, "coco17")
    ang_r = joint_angles(ref.seq.keypoints, ref.seq.confidences, "coco17")
    if mirrored:
        ang_r = mirror_angles(ang_r)     # the reference's right knee is compared with the user's left
    # angles whose joints the user's layout and the reference's can both provide
    marks = _reference_landmarks(ref.seq.keypoints, ref.seq.confidences, fps)
    times = usr.seq.times
    reps: list[Rep] = []
    ang_r_smooth = _running_median(ang_r, _angle_window(st, tr, fps))
    for s, e in segs:
        reps.append(_judge(D, uf, rf, s, e, ang_u, ang_r, ang_r_smooth, marks, times, ref, st, mirrored))
    for s, e, cov in partials:
        reps.append(Rep(0, float(times[s]), float(times[e]), s, e, None, float(np.mean(best[s:e + 1])), cov, True,
                        False, [f"partial: matches {100 * cov:.0f}% of the reference"], [], [], [],
                        [f"partial rep: only {100 * cov:.0f}% of the reference's movement"]))
    reps.sort(key=lambda r: r.start_frame)
    for i, r in enumerate(reps, 1):
        r.index = i
        r.feedback = [x.replace("{rep}", str(i)) for x in r.feedback]
    return RepReport(reps, float(ref.seq.duration), float(usr.seq.duration), bool(mirrored), st.threshold, st,
                     times.copy(), best, assumed)


def _angle_window(st: RepSettings, tr: int, fps: float) -> int:
    """Frames (odd) of the running median of angles: ``angle_window`` s, at most 15% of the reference rep
    (a brief turning point, the knee of a 1 s gait cycle, is not flattened)."""
    return int(round(min(st.angle_window, 0.15 * tr / fps) * fps)) | 1


def _angle_span(ang: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, A) lowest and highest value of each angle within ``h`` frames of each frame (NaN ignored). A fast
    joint (a punching elbow turns 100° in 0.3 s) differs by tens of degrees from its own repeat at a one- or
    two-frame alignment offset; compared with this range, only a value the reference never takes nearby
    counts as a difference."""
    if h <= 0:
        return ang, ang
    pad = np.pad(ang, ((h, h), (0, 0)), mode="edge")
    stack = np.stack([pad[i:i + len(ang)] for i in range(2 * h + 1)])
    return np.fmin.reduce(stack, axis=0), np.fmax.reduce(stack, axis=0)


def _skipped(r_idx: np.ndarray, u_idx: np.ndarray, tr: int, max_speed: float) -> np.ndarray:
    """(Tr,) bool: reference frames the user skipped: beyond the first ``ceil(max_speed) + 1`` of a run of
    reference frames aligned to one user frame (a user at most max_speed times as fast moves on at least
    that often; a longer run is a stretch of the reference the user did not do, e.g. a rep cut short)."""
    out = np.zeros(tr, bool)
    allowed = int(math.ceil(max_speed)) + 1
    cut = np.flatnonzero(np.diff(u_idx)) + 1
    for a, b in zip(np.concatenate([[0], cut]), np.concatenate([cut, [len(u_idx)]])):
        if b - a > allowed:
            out[r_idx[a + allowed:b]] = True
    return out


def _judge(D, uf, rf, s, e, ang_u, ang_r, ang_r_smooth, marks, times, ref, st: RepSettings, mirrored: bool) -> Rep:
    from .align import dtw_path

    sc = st.score
    tr = D.shape[1]
    sub = D[s:e + 1]
    _, path = dtw_path(DistanceMatrix(np.ascontiguousarray(sub), Band.full(len(sub), tr)), open_ends="none",
                       missing_cost=sc.missing)
    r_idx, u_idx = path[:, 0], path[:, 1] + s
    dist, err, w = pair_errors(uf, rf, u_idx, r_idx, max_rotation=sc.max_rotation, missing_penalty=sc.penalty)
    curve = sc.curve
    ps = np.where(np.isfinite(dist), curve.score(np.where(np.isfinite(dist), dist, 0.0)), 0.0)
    cnt = np.bincount(r_idx, minlength=tr)
    s_r = np.bincount(r_idx, weights=ps, minlength=tr) / np.maximum(cnt, 1)
    valid = rf.valid
    score = float(s_r[valid].mean()) if valid.any() else float("nan")
    d_fin = np.where(np.isfinite(dist), dist, np.inf)
    d_r = np.full(tr, np.inf)
    np.minimum.at(d_r, r_idx, d_fin)
    # a hold of the reference passed quickly is not movement skipped (it is judged as timing below)
    covered = (d_r <= st.max_distance) & ~(_skipped(r_idx, u_idx, tr, st.max_speed) & ~marks["still"])
    coverage = float(covered[valid].mean()) if valid.any() else 0.0
    # joints
    js = curve.score(err)
    worst = []
    for k, name in enumerate(COCO17_JOINTS):
        v = js[:, k]
        v = v[np.isfinite(v)]
        if v.size:
            worst.append((name, float(v.mean())))
    worst = sorted(worst, key=lambda x: x[1])[:3]
    # angles at aligned moments
    A = ang_u.shape[1]
    win = _angle_window(st, tr, ref.fps)
    lo, hi = _angle_span(ang_r, win // 2)
    au_p = ang_u[u_idx]
    du = au_p - np.clip(au_p, lo[r_idx], hi[r_idx])          # (P, A): 0 within the reference's nearby range
    fin = np.isfinite(du)
    dsum = np.zeros((tr, A))
    dcnt = np.zeros((tr, A))
    np.add.at(dsum, r_idx, np.where(fin, du, 0.0))
    np.add.at(dcnt, r_idx, fin.astype(float))
    delta = np.where(dcnt > 0, dsum / np.maximum(dcnt, 1), np.nan)
    delta = _running_median(delta, win)
    # the extremes (deepest bend, highest arm) of the rep against the reference's, each smoothed alike: an
    # alignment that warps to half-match a changed joint cannot hide a change at the turning point
    # the user's window covers the same part of the movement as the reference's (scaled by the rep's pace)
    au = _running_median(ang_u[s:e + 1], int(round(win * (e - s + 1) / tr)) | 1)
    ar = ang_r_smooth
    angles = []
    for a, name in enumerate(ANGLES):
        col = delta[:, a]
        if not np.isfinite(col).any():
            continue
        r = int(np.nanargmax(np.abs(col)))
        value = float(col[r])
        if np.isfinite(au[:, a]).any() and np.isfinite(ar[:, a]).any():
            for ext, arg in ((np.nanmin, np.nanargmin), (np.nanmax, np.nanargmax)):
                d_ext = float(ext(au[:, a]) - ext(ar[:, a]))
                if abs(d_ext) > abs(value) and np.sign(d_ext) == np.sign(value):
                    value, r = d_ext, int(arg(ar[:, a]))
        angles.append(AngleDifference(name, value, float(ref.seq.times[r] - ref.seq.times[0]),
                                      _moment_words(r, tr, marks), st.tolerance(name)))
    angles.sort(key=lambda x: -(abs(x.degrees) - x.tolerance))
    # timing
    fps = ref.fps
    timing = []
    dur_u = (e - s + 1) / fps
    dur_r = tr / fps
    if abs(dur_u - dur_r) > st.timing_tolerance:
        timing.append(TimingNote("duration", dur_u - dur_r,
                                 f"rep {{rep}} took {dur_u:.1f} s, {abs(dur_u - dur_r):.1f} s "
                                 f"{'longer' if dur_u > dur_r else 'shorter'} than the reference"))
    key = marks.get("bottom", marks.get("top"))
    key_name = "the bottom" if "bottom" in marks else ("the top" if "top" in marks else "the middle")
    if key is None:
        key = tr // 2
    at = u_idx[r_idx == key]
    if at.size and 0 < key < tr - 1:
        t_u = (at[0] - s) / fps
        t_r = key / fps
        # relative to the user's own pace: the reference's time scaled to the rep's duration
        late = t_u - t_r * dur_u / dur_r
        if abs(late) > st.timing_tolerance:
            timing.append(TimingNote("late", late, f"reached {key_name} of rep {{rep}} {abs(late):.1f} s "
                                                   f"{'late' if late > 0 else 'early'}"))
    for a, b in marks.get("holds", []):
        hold_r = (b - a + 1) / fps
        if hold_r < st.min_hold or a == 0 or b == tr - 1:
            continue
        sel = (r_idx >= a) & (r_idx <= b)
        hold_u = len(np.unique(u_idx[sel])) / fps
        if hold_u < st.hold_fraction * hold_r and hold_r - hold_u > st.timing_tolerance:
            timing.append(TimingNote("held too short", hold_u - hold_r,
                                     f"held {moment_phrase(_moment_words((a + b) // 2, tr, marks), '{rep}')} "
                                     f"{hold_u:.1f} s, "
                                     f"the reference {hold_r:.1f} s"))
    reasons = []
    if not score >= st.threshold:
        reasons.append(f"score {score:.0f} < {st.threshold:g}")
    over = [x for x in angles if x.exceeds]
    for x in over:
        reasons.append(f"{x.angle} {x.degrees:+.0f}° (tolerance {x.tolerance:g}°)")
    partial = coverage < st.min_coverage
    feedback = [x.words(rep="{rep}") for x in over[:3]]
    feedback += [t.text for t in timing]
    if partial:
        # the rest compares with the whole reference, which a cut-short rep never reached: not advice
        feedback = [f"partial rep: only {100 * coverage:.0f}% of the reference's movement"]
        reasons.insert(0, f"partial: matches {100 * coverage:.0f}% of the reference")
    if not feedback:
        feedback.append(f"rep {{rep}}: close to the reference (score {score:.0f})")
    return Rep(0, float(times[s]), float(times[e]), s, e, None if partial else score, float(np.nanmean(dist)),
               coverage, partial, bool(reasons) and not partial, reasons, worst, angles, timing, feedback)


# ------------------------------------------------------------------------------------ count without a ref
@dataclass
class CountReport:
    """Result of :func:`count_reps`: ``count`` whole reps (None when no periodic motion was found),
    ``partial`` smaller cycles, the ``period`` (s), ``confidence`` in [0, 1] and the cycle peaks' times."""

    count: int | None
    partial: int
    period: float | None
    confidence: float
    peak_times: list[float]
    partial_times: list[float]
    duration: float
    note: str
    signal: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    times: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))
    assumed: dict[str, dict[str, Any]] = field(default_factory=dict)

    def require(self) -> "CountReport":
        if self.count is None:
            raise NoRepetitionError(self.note)
        return self

    def summary(self) -> str:
        if self.count is None:
            return self.note
        return (f"{self.count} rep(s)" + (f" + {self.partial} partial" if self.partial else "")
                + (f", period {self.period:.2f} s" if self.period else " (one cycle)")
                + f", confidence {self.confidence:.2f}")

    def to_dict(self) -> dict:
        r = lambda v: None if v is None else round(float(v), 4)  # noqa: E731
        return {"count": self.count, "partial": self.partial, "period": r(self.period),
                "confidence": r(self.confidence), "peak_times": [r(t) for t in self.peak_times],
                "partial_times": [r(t) for t in self.partial_times], "duration": r(self.duration),
                "note": self.note, "assumed": self.assumed}


def _pose_matrix(seq) -> np.ndarray:
    """(T, 2K) pose vectors: each frame centred and scaled (translation/scale free) on the joints seen in at
    least 80% of the frames (when there are 3), missing values filled by interpolation over time (a joint
    never seen is dropped)."""
    from .framedist import features_from_arrays

    seq = seq.to_coco()
    seen = (seq.confidences > 0).mean(axis=0)
    steady = seen >= 0.8          # joints seen in most frames: one that comes and goes moves the centre
    cf = np.where(steady[None, :], seq.confidences, 0.0) if steady.sum() >= 3 else seq.confidences
    f = features_from_arrays(seq.keypoints, cf, "procrustes")
    X = f.points.reshape(len(f.points), -1).copy()
    seen = np.repeat(f.weights > 0, 2, axis=1)
    keep = seen.any(axis=0)
    X, seen = X[:, keep], seen[:, keep]
    t = np.arange(len(X))
    for j in range(X.shape[1]):
        if not seen[:, j].all():
            X[:, j] = np.interp(t, t[seen[:, j]], X[seen[:, j], j])
    return X


def _smoothed_pc1(Xc: np.ndarray, k: int) -> np.ndarray:
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    y = Xc @ vt[0]
    return np.convolve(np.pad(y, k, mode="edge"), np.ones(2 * k + 1) / (2 * k + 1), mode="valid")


def _single_cycle(X, Xc, rate, times, st: RepSettings) -> "CountReport | None":
    """One rep and no repetition: the pose leaves its start (its main movement goes at least 60% of its
    range away) once and comes back (first and last poses within 50% of the largest excursion from the
    first). Confidence: 1 - (first-to-last distance / largest excursion)."""
    from scipy.signal import find_peaks

    far = np.linalg.norm(X - X[0], axis=1)
    back = float(np.linalg.norm(X[-1] - X[0]))
    if far.max() <= 0 or back > 0.5 * far.max():
        return None
    y = _smoothed_pc1(Xc, max(1, int(round(0.1 * rate))))
    rest = 0.5 * (y[0] + y[-1])
    y = y - rest
    if abs(y.min()) > abs(y.max()):
        y = -y
    rng = float(np.ptp(y))
    pk, props = find_peaks(y, prominence=0.6 * rng)
    if len(pk) != 1 or y[pk[0]] < 0.6 * rng:
        return None
    conf = float(1.0 - back / far.max())
    t = float(times[pk[0]])
    return CountReport(1, 0, None, conf, [t], [], float(times[-1] - times[0]),
                       f"one cycle: the motion leaves its start pose once and returns (confidence {conf:.2f}); no "
                       f"repetition to measure a period on", y, times)


def count_reps(user, settings: RepSettings = RepSettings(), *, fps: float | None = None,
               layout: str | None = None) -> CountReport:
    """Count the repetitions of a periodic motion in ``user`` without a reference; see the module doc."""
    from scipy.signal import find_peaks

    st = settings
    assumed: dict = {}
    seq = _as_input(user, fps, layout if layout is not None else st.score.layout, "user", assumed)
    seq.require_frames(2)
    from .resample import resample_to_fps
    from .smooth import normalized, smooth

    rate = 1.0 / seq.frame_interval
    rate = min(rate, 30.0)
    s2 = normalized(seq)[0].to_coco()
    s2 = smooth(s2, st.score.smooth, kalman=st.score.kalman, one_euro=st.score.one_euro)
    s2 = resample_to_fps(s2, rate, method="linear", max_gap=st.score.max_gap, max_frames=st.score.max_frames)
    T = len(s2)
    dur = float(s2.duration)
    none = lambda note, conf=0.0: CountReport(None, 0, None, conf, [], [], dur, note, np.zeros(0), s2.times,  # noqa
                                              assumed)
    lo = max(2, int(round(st.min_period * rate)))
    hi = min(int(round(st.max_period * rate)), T // 2)
    if T < 2 * lo + 1 or hi <= lo:
        return none(f"no periodic motion found: {dur:.2f} s is too short to see a cycle of at least "
                    f"{st.min_period:g} s twice")
    X = _pose_matrix(s2)
    Xc = X - X.mean(axis=0)
    if not np.isfinite(Xc).all() or (Xc ** 2).sum() == 0:
        return none("no periodic motion found: the pose does not change")
    # lag-normalized autocorrelation (Pearson over the overlapping frames, summed over coordinates)
    ac = np.full(hi + 2, -1.0)
    ac[0] = 1.0
    for lag in range(1, hi + 1):
        a, b = Xc[:-lag], Xc[lag:]
        a = a - a.mean(axis=0)
        b = b - b.mean(axis=0)
        den = math.sqrt((a * a).sum() * (b * b).sum())
        ac[lag] = (a * b).sum() / den if den > 0 else -1.0
    pk, _ = find_peaks(ac[:hi + 1])                 # true local maxima (not the ends of the lag range)
    pk = pk[(pk >= lo) & (pk < hi)]
    top = float(ac[pk].max()) if pk.size else -1.0
    if top < st.min_confidence:
        one = _single_cycle(X, Xc, rate, s2.times, st)
        if one is not None:
            one.assumed = assumed
            return one
        if pk.size == 0:
            return none(f"no periodic motion found: no repeating pattern with a period of {st.min_period:g}-"
                        f"{min(st.max_period, dur / 2):.3g} s, and the motion does not return to its start pose")
        return none(f"no periodic motion found: the best repeating pattern ({int(pk[np.argmax(ac[pk])]) / rate:.2f} s)"
                    f" has confidence {max(top, 0.0):.2f} < min_confidence {st.min_confidence:g}, and the motion "
                    f"is not one cycle from a pose back to it", max(top, 0.0))
    period_f = int(pk[np.flatnonzero(ac[pk] >= 0.8 * top)[0]])
    conf = float(max(0.0, min(1.0, ac[period_f])))
    # the first principal component, smoothed over P/8
    y = _smoothed_pc1(Xc, max(1, period_f // 8))
    med = np.median(y)
    if med - y.min() > y.max() - med:       # cycles go away from the rest pose: peaks on the far side
        y = -y
    pk, props = find_peaks(y, distance=max(1, int(0.6 * period_f)), prominence=0.0)
    prom = props["prominences"]
    if pk.size == 0:
        return none("no periodic motion found: no cycle in the main movement", conf)
    ref_prom = float(np.median(prom[prom >= 0.5 * prom.max()]))
    whole = prom >= 0.5 * ref_prom
    small = (prom >= 0.2 * ref_prom) & ~whole
    t = s2.times
    return CountReport(int(whole.sum()), int(small.sum()), period_f / rate, conf,
                       [float(t[i]) for i in pk[whole]], [float(t[i]) for i in pk[small]], dur,
                       f"{int(whole.sum())} cycles of about {period_f / rate:.2f} s (confidence {conf:.2f})",
                       y, t, assumed)


# ------------------------------------------------------------------------------------------ live reps
class RepTracker:
    """Reps of a live stream as they complete (used by :class:`~posesearch.sequence.stream.ScoreSession`
    with ``reps=RepSettings(...)``).

    It keeps the frames pushed in the last ``window`` seconds (2 x the longest rep allowed, Tr / min_speed,
    plus 2 s; bounded whatever the stream's length) and, every quarter of the reference's duration of
    stream, runs :func:`find_reps` on them. A rep found there is *complete* when at least ``guard`` (a
    quarter of the reference's duration) of stream follows its end, and new when it starts after the last
    reported rep ended; it is then reported once, numbered in stream order, with the same fields and
    feedback as offline (the reference prepared once)."""

    def __init__(self, reference_prepared, settings: RepSettings, layout):
        from collections import deque

        self.ref = reference_prepared
        self.settings = settings
        self.layout = layout
        ref_dur = len(self.ref.seq) / self.ref.fps
        self.window = 2.0 * ref_dur / settings.min_speed + 2.0
        self.hop = 0.25 * ref_dur
        self.guard = 0.25 * ref_dur
        self.frames: "deque[tuple[float, np.ndarray]]" = deque()
        self.done: list[Rep] = []
        self._last_end = -np.inf
        self._next_run: float | None = None

    def push(self, raw: np.ndarray, t: float) -> list[Rep]:
        """Add a frame (as pushed: (K, 3) in the session's layout); returns the reps completed by it."""
        self.frames.append((t, raw))
        while self.frames and self.frames[0][0] < t - self.window:
            self.frames.popleft()
        if self._next_run is None:
            self._next_run = t + self.hop
        if t < self._next_run or len(self.frames) < 3:
            return []
        self._next_run = t + self.hop
        return self._run(t)

    def flush(self) -> list[Rep]:
        """At the end of the stream: the reps found in the frames kept that were not reported yet (no
        stream follows them any more)."""
        if not self.frames:
            return []
        return self._run(self.frames[-1][0] + self.guard)

    def _run(self, t_now: float) -> list[Rep]:
        from .sequence import Sequence

        ts = np.array([f[0] for f in self.frames])
        if ts[-1] - ts[0] < len(self.ref.seq) / self.ref.fps:
            return []
        seq = Sequence.from_arrays(np.stack([f[1] for f in self.frames]), layout=self.layout, times=ts, name="user")
        try:
            usr = prepare_user(seq, self.ref.fps, self.settings.score)
            report = _find_prepared(self.ref, usr, self.settings, {})
        except PoseSearchError:
            return []
        new = []
        for r in report.reps:
            if r.partial or r.end > t_now - self.guard or r.start <= self._last_end:
                continue
            r.index = len(self.done) + 1
            r.feedback = [_renumber(x, report_index, r.index) for x in r.feedback
                          for report_index in [report.reps.index(r) + 1]]
            self._last_end = r.end
            self.done.append(r)
            new.append(r)
        return new


def _renumber(text: str, old: int, new: int) -> str:
    return text.replace(f"rep {old} ", f"rep {new} ").replace(f"rep {old}:", f"rep {new}:").replace(
        f"rep {old}", f"rep {new}") if old != new else text
