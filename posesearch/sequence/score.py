"""Scoring a user's pose sequence against a reference: 0-100, per joint and per moment.

Pipeline of :func:`score_sequence` (each step configured in :class:`ScoreSettings`):

1. both sequences are converted to COCO-17 (joints a layout lacks are missing);
2. noise: the user (and, with ``process_reference``, the reference) is smoothed
   (:mod:`~posesearch.sequence.smooth`: ``kalman`` + RTS, ``one-euro`` or ``none``);
3. missing frames and frame rate: the user is resampled onto a regular grid at the reference's frame
   rate over its own time span (:mod:`~posesearch.sequence.resample`, ``interp``, ``max_gap``); with
   ``process_reference`` the reference's short gaps are filled the same way, on its own frame times;
4. angle: the frame distance (:mod:`~posesearch.sequence.framedist`) is a proper-rotation + scale
   Procrustes distance (``distance="procrustes"``, rotation limited to ``max_rotation`` degrees) or
   Move Mirror's distance with pair weights and a missing-joint penalty (``"pair-weighted"``; the old
   name ``"weighted"`` still works);
5. delay and speed: the user is aligned to the reference in time (:mod:`~posesearch.sequence.align`,
   ``align`` = dtw | nw | diagonal, inside a Sakoe-Chiba band);
6. mirroring: with ``mirror="auto"`` steps 4-5 run with the user as recorded and mirrored
   (x -> -x in the user's unit coordinates: one axis for the whole sequence, through the centre of its first
   pose, as :class:`~.stream.ScoreSession` can mirror live) and the lower alignment cost wins (once per
   sequence); ``"on"`` / ``"off"`` force it;
7. the score (below).

The 0-100 scale. A frame distance ``d`` becomes a score by the log-logistic curve

    s(d) = 100 / (1 + (d / d50) ** slope)

(100 at d = 0, 50 at d = d50, falling smoothly; no clipping). Per reference frame r ("moment"),
``s_r`` is the mean of ``s(d)`` over the user frames aligned to it that were recorded (the resampled
frame nearest each recorded one; ``moments_from="samples"``, the default) — a reference frame aligned
only to frames that resampling invented takes ``s_r`` (and its distance and joint errors) by linear
interpolation between the nearest judged reference frames, so a sparse user is judged on what was
seen, not on straight lines between samples (``"grid"``: every aligned frame counts). A reference
frame the user never reached (outside the aligned span) or a pair without a distance (fewer than 3
usable joints) scores 0; a reference frame without a usable pose is not scored. Holding still is not
following: DTW (``align="dtw"``) lets one user frame stand for at most ``MAX_HOLD`` (2) consecutive
reference frames at its distance (local speed up to 2x); further along such a run a pair costs like one
without a distance in the alignment and scores 0 (:func:`held_pairs`), so a 5 s user cannot "cover" a
15 s reference by holding its last pose (that scored 82.8 at an apparent speed x6.3; now 50.8). The score is the
mean of ``s_r`` over the reference frames, so the per-moment curve averages to it. Per joint k the
same curve is applied to the joint's own error (``e_k``: the Procrustes residual in units of the
reference's RMS radius, or ``|dx| + |dy|`` for the weighted distance; ``d`` is their RMS resp. mean)
and averaged over the moments where the joint is seen in both sequences.

Why this shape: it is 100 only for a perfect match, flat near 0 (tiny tracking noise costs almost
nothing), steepest around d50 (where "following" turns into "doing something else") and it never
saturates at a hard 0, so a poor performance can still improve visibly.

Calibration (``d50``, ``slope`` per distance, :data:`CALIBRATION`) was chosen on Penn Action with
``python benchmarks/bench_scoring_quality.py --calibrate`` (``benchmarks/posesearch_bench/scoring_quality.py``;
150 random test clips, seed 0, against all 1,257 usable train clips, default settings) in two steps:

1. anchors on the mean aligned frame distance ``D`` of a pair: a test clip against a simulated
   recording of itself (10 fps, 2% body-height jitter, 0.3 s late, 20% slower, mirrored) should
   score about 90 at the 95th percentile of ``D`` (recording noise alone costs at most ~10 points),
   and test clips against train clips of a *different* action should score 20 at their median ``D``:
   d50 = 0.223, slope = 1.91;
2. because a score averages ``s(d)`` over moments (and ``s`` is convex there), that left 5% of the
   degraded self-copies below 90; re-scoring them, d50 = 0.25 and slope = 2.2 make the worst of the
   150 score 90.2 (median 96.7) while the median different-action pair scores about 25.

Same-action pairs (different people, often other camera views) fall in between (median 43; different-
action median 22).
Those figures judged every aligned frame (``moments_from="grid"``). Judging moments by the recorded
frames (``"samples"``, now the default) leaves every 30 fps pair as it was (accuracy and AUC identical)
and lifts the 10 fps degraded self-copies: worst 90.2 -> 92.1, 5th percentile 93.1 -> 93.9 (same run,
seed 0; with :meth:`Sequence.mirrored` flipping about one axis for the whole sequence, 92.8 and 94.1); perfect copies of four fast Penn Action clips recorded at 10 fps score 97.6-99.8 instead of
95.7-99.7, and at 5 fps 97.4-99.4 instead of 91.8-98.6 (what is left: joints the 30 fps reference
bridges over a short occlusion that the sparser copy cannot).
On that run, nearest-neighbour action accuracy was 89.3% and the same- vs different-action ROC AUC 0.790.
"""
from __future__ import annotations

import math
from pathlib import Path
from dataclasses import asdict, dataclass, field, fields, replace
from functools import partial
from typing import Any

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, check_finite_positive, check_number
from ..registry import Registry
from ..text import offset_text
from ..poses.layouts import COCO17, COCO17_JOINTS
from .align import MAX_HOLD, Alignment, align, check_aligner, check_open_ends, make_band
from .framedist import (MIN_COMMON, FrameFeatures, ProcrustesRows, check_distance, frame_distance_matrix,
                        frame_features, pair_distances, pair_errors, reference_args, restrict_joints,
                        uniform_frames)
from .resample import (DEFAULT_MAX_GAP, MAX_FRAMES, check_interp, check_max_frames, grid_length, resample,
                       resample_to_fps, too_many_frames)
from .io import as_sequence
from .sequence import Sequence
from .smooth import KalmanSettings, OneEuroSettings, check_smoother, normalized, smooth

MIRROR_MODES = Registry("mirror mode", ("auto", "on", "off"),
                        aliases={"true": "on", "false": "off", "yes": "on", "no": "off"})

#: How the camera angle between reference and user is handled (ScoreSettings.view; see :mod:`.view`).
VIEWS = Registry(
    "view", ("auto", "2d", "3d-fit", "lifted"),
    aliases={"3d": "3d-fit", "fit": "3d-fit", "camera-fit": "3d-fit", "lift": "lifted", "none": "2d"},
    descriptions={"auto": "3d-fit when the reference has 3D joints, else 2d",
                  "2d": "compare the 2D poses as filmed: in-image rotation up to max_rotation, mirroring",
                  "3d-fit": "fit the user's camera to the reference's 3D joints, score the reference seen "
                            "from there",
                  "lifted": "lift the 2D reference to 3D with the learned model, then as 3d-fit"})


@dataclass(frozen=True)
class Calibration:
    """s(d) = 100 / (1 + (d / d50) ** slope)."""

    d50: float
    slope: float

    def __post_init__(self):
        check_finite_positive("calibration.d50", self.d50)
        check_finite_positive("calibration.slope", self.slope)

    def score(self, d):
        """Vectorised s(d); NaN in -> NaN out."""
        d = np.asarray(d, dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            return 100.0 / (1.0 + (np.maximum(d, 0.0) / self.d50) ** self.slope)

    def distance(self, score: float) -> float:
        """Inverse: the distance that scores ``score`` (0 < score < 100)."""
        return self.d50 * (100.0 / score - 1.0) ** (1.0 / self.slope)


#: Default calibration per frame distance (see the module doc for how they were chosen).
#: procrustes (150 Penn Action test clips x 1,257 train clips, seed 0): the D anchors gave d50 0.223,
#: slope 1.91, which left 5% of degraded self-copies below 90 (worst 85.9); d50 0.25, slope 2.2 puts
#: the worst at 90.2 (median 96.7) with the median different-action pair at 24.7.
#: weighted (100 test clips): D anchors 0.077 / 1.75 (worst degraded 85.3); 0.09 / 2.1: worst
#: degraded 90.1, median different-action pair 29.0.
CALIBRATION: dict[str, Calibration] = {
    "procrustes": Calibration(d50=0.25, slope=2.2),
    "pair-weighted": Calibration(d50=0.09, slope=2.1),
}

#: A "worst moment" scores at least this many points below the overall score (ScoreReport.worst_moments):
#: a stretch at or just under the average is ordinary, and a good performance may have no worst moment.
WORST_MOMENT_MARGIN = 5.0

#: The speed is reported only when its confidence (ScoreReport.speed_confidence) is at least this.
MIN_SPEED_CONFIDENCE = 0.5

#: With mirror="auto", the user is reported mirrored (or as recorded) only when that fit's alignment
#: cost is at least this fraction lower than the other's; closer fits (a left/right symmetric motion)
#: are reported as undecided (ScoreReport.mirror_decided). The score uses the lower cost either way.
MIRROR_MARGIN = 0.05

#: Which aligned user frames judge a moment (see ScoreSettings.moments_from).
MOMENTS_FROM = Registry("moments_from", ("samples", "grid"))

#: Error charged for a joint seen in only one of the two frames (see :mod:`.framedist`), per distance.
MISSING_PENALTY = {"procrustes": 0.3, "pair-weighted": 0.15}

#: Cost of a pair without a distance, per frame distance (about the distance scoring ~5).
MISSING_COST = {"procrustes": 1.0, "pair-weighted": 0.35}

#: Bytes the alignment allocates per cell of the banded (Tu x band width) frame-distance matrix: the
#: matrix (8) plus, for dtw, its cost (8) and step (1) tables; for nw the three Gotoh cost tables (24)
#: and their step tables (3); diagonal only the matrix.
ALIGN_BYTES_PER_CELL = {"dtw": 17, "nw": 35, "diagonal": 8}

#: Default memory bound of one alignment (ScoreSettings.max_alignment_bytes): 1 GiB. A 5-minute
#: 30 fps reference against a 20% slower user with the default band (dtw) needs about 0.83 GB.
MAX_ALIGNMENT_BYTES = 1 << 30


@dataclass(frozen=True)
class ScoreSettings:
    """Everything :func:`score_sequence` does, with defaults (the formulas live in the modules named).

    layout: layout of array inputs (None: inferred from K).
    smooth: "kalman" | "one-euro" | "none" (:mod:`.smooth`); kalman / one_euro: their settings.
    process_reference: smooth the reference with the same filter and fill its short gaps (resampled
        onto its own frame times, same interp / max_gap), so that identical inputs stay identical.
    interp: "hold" | "linear" | "cubic" resampling of the user onto the reference frame rate
        (:mod:`.resample`); max_gap: seconds, longer gaps stay missing.
    distance: "procrustes" | "pair-weighted" (old name "weighted") frame distance (:mod:`.framedist`);
        max_rotation: degrees,
        limit of the per-frame Procrustes rotation (180 = any rotation); missing_penalty: error
        charged for a joint seen in only one of the two frames ("auto" = MISSING_PENALTY[distance],
        None = such joints are ignored; formula in :mod:`.framedist`).
    align: "dtw" | "nw" | "diagonal" (:mod:`.align`); open_ends: "user" (extra user frames at the
        ends are free) | "none".
    band: Sakoe-Chiba band radius as a fraction of the longer sequence (None = no band), at least
        band_seconds; gap_open / gap_extend: NW gap cost (distance units) = open + extend * length,
        floors: both are scaled up so that extending a gap costs at least NW_GAP_TYPICAL (2) times the
        user's typical frame distance (the median over user frames of its best in-band match), so a
        uniformly noisy user is not read as skipping moves (:func:`nw_gap_costs`);
        min_overlap: diagonal method, fraction of the shorter sequence that must overlap.
    mirror: "auto" (decide once per sequence by the lower alignment cost) | "on" | "off".
    calibration: the distance -> score curve (None = CALIBRATION[distance]);
    missing_cost: alignment cost of a pair without a distance (None = MISSING_COST[distance]).
    max_frames: most frames either sequence may have, as given and after the user is resampled to the
        reference's frame rate (default :data:`~.resample.MAX_FRAMES`: one hour at 30 fps). Checked
        before anything is allocated, so a frame rate of 1e9 or frame times 10^6 s apart are refused
        with a one-line error instead of exhausting memory.
    max_alignment_bytes: most bytes one alignment may allocate (the banded distance matrix and the
        aligner's tables: ``ALIGN_BYTES_PER_CELL[align]`` per cell of Tu x band width; default 1 GiB).
        A longer pair is refused before allocating; narrow ``band`` or lower the reference's frame rate.
    moments_from: "samples" (default) — a moment is judged by the user frames that were recorded, not
        by the ones resampling invented between them: the grid frame nearest each recorded user frame
        is *observed*; a reference frame aligned to at least one observed frame takes its score,
        distance and joint errors from those alone, and one aligned only to invented frames takes
        them by linear interpolation (over reference frames) between its nearest judged neighbours.
        So a user recorded at 10 fps who moves exactly like a 30 fps reference is not marked down
        because straight lines between samples cut the corners of fast moves. "grid": every aligned
        pair counts (the user's interpolated frames are judged like recorded ones).
    view: the camera angle (:data:`VIEWS`, module :mod:`.view`): "2d" compares the poses as filmed;
        "3d-fit" fits the user's camera (yaw, pitch, scale) to the reference's 3D joints
        (:class:`Sequence` ``points3d``: BVH, corpus clips ingested from BVH, sequence files with
        ``points3d``) and scores the reference seen from there; "lifted" lifts a 2D reference to 3D
        first (the lifting model); "auto" (default) is 3d-fit when the reference has 3D joints, else 2d,
        and the report says which it chose (``report.view``, ``assumed["view"]``).
    """

    layout: str | None = None
    smooth: str = "kalman"
    kalman: KalmanSettings = field(default_factory=KalmanSettings)
    one_euro: OneEuroSettings = field(default_factory=OneEuroSettings)
    process_reference: bool = True
    interp: str = "linear"
    max_gap: float = DEFAULT_MAX_GAP
    distance: str = "procrustes"
    max_rotation: float = 20.0
    missing_penalty: float | str | None = "auto"
    align: str = "dtw"
    open_ends: str = "user"
    band: float | None = 0.25
    band_seconds: float = 1.0
    gap_open: float = 0.3
    gap_extend: float = 0.15
    min_overlap: float = 0.5
    mirror: str = "auto"
    calibration: Calibration | None = None
    missing_cost: float | None = None
    moments_from: str = "samples"
    max_frames: int = MAX_FRAMES
    max_alignment_bytes: int = MAX_ALIGNMENT_BYTES
    view: str = "auto"

    def __post_init__(self):
        for n in ("max_gap", "band_seconds", "max_rotation", "gap_open", "gap_extend", "min_overlap", "band",
                  "missing_cost"):
            v = getattr(self, n)
            if v is None and n in ("band", "missing_cost"):
                continue
            if isinstance(v, (bool, np.bool_, str, bytes)) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise InvalidArgumentError(f"{n}: expected a number, got {v!r}")
        object.__setattr__(self, "smooth", check_smoother(self.smooth))
        object.__setattr__(self, "interp", check_interp(self.interp))
        object.__setattr__(self, "distance", check_distance(self.distance))
        object.__setattr__(self, "align", check_aligner(self.align))
        object.__setattr__(self, "open_ends", check_open_ends(self.open_ends))
        object.__setattr__(self, "mirror", MIRROR_MODES.canonical(self.mirror))
        object.__setattr__(self, "moments_from", MOMENTS_FROM.canonical(self.moments_from))
        object.__setattr__(self, "view", VIEWS.canonical(self.view))
        check_finite_positive("max_gap", self.max_gap)
        check_finite_positive("band_seconds", self.band_seconds)
        if self.max_frames is None:
            raise InvalidArgumentError("max_frames: expected a positive whole number of frames, got None")
        object.__setattr__(self, "max_frames", check_max_frames(self.max_frames))
        object.__setattr__(self, "max_alignment_bytes", check_number(
            "max_alignment_bytes", self.max_alignment_bytes, integer=True, low=1,
            what="a positive whole number of bytes"))
        check_number("max_rotation", self.max_rotation, low=0, high=180, what="degrees in [0, 180]")
        check_number("band", self.band, low=0, low_open=True, allow_none=True, allow_inf=True,
                     what="a positive fraction or None")
        for n in ("gap_open", "gap_extend"):
            check_number(n, getattr(self, n), low=0)
        check_number("min_overlap", self.min_overlap, low=0, low_open=True, high=1, what="a fraction in (0, 1]")
        if self.missing_cost is not None:
            check_finite_positive("missing_cost", self.missing_cost)
        mp = self.missing_penalty
        if mp != "auto" and mp is not None:
            try:
                ok = math.isfinite(float(mp)) and float(mp) >= 0
            except (TypeError, ValueError):
                ok = False
            if not ok:
                raise InvalidArgumentError(f"missing_penalty: expected 'auto', None or a number >= 0, got {mp!r}")
        if self.layout is not None:
            from ..poses.layouts import get_layout

            object.__setattr__(self, "layout", get_layout(self.layout).name)

    @property
    def curve(self) -> Calibration:
        return self.calibration or CALIBRATION[self.distance]

    @property
    def penalty(self) -> float | None:
        """The one-sided-joint penalty in use (None = ignore such joints)."""
        if self.missing_penalty == "auto":
            return MISSING_PENALTY[self.distance]
        return self.missing_penalty

    @property
    def missing(self) -> float:
        return self.missing_cost if self.missing_cost is not None else MISSING_COST[self.distance]

    def replace(self, **changes) -> "ScoreSettings":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["kalman"] = self.kalman.to_dict()
        d["one_euro"] = self.one_euro.to_dict()
        d["calibration"] = asdict(self.curve)
        d["missing_cost"] = self.missing
        d["missing_penalty"] = self.penalty
        return d


@dataclass
class ScoreReport:
    """Result of :func:`score_sequence`.

    score: 0-100 (mean of the moment scores).
    joint_scores: COCO joint name -> 0-100, or None when the joint was never seen in both sequences.
    moment_times: (Tr,) reference frame times (s); moment_scores: (Tr,) 0-100 per reference frame;
        moment_distances: (Tr,) the frame distance behind each (NaN where the user was not there).
    alignment: the chosen alignment; its path pairs (reference index, user index) index the
        reference frames and ``user_times`` (the user resampled to the reference rate).
    time_offset (s): from the alignment. speed_ratio (user speed / reference speed): the alignment's,
        NaN when speed_confidence < MIN_SPEED_CONFIDENCE (the estimate would be made up: a user who
        hardly moves, or one whose path mostly holds a frame while the reference moves on).
    speed_confidence: 0-1, min(1, user_motion) x (1 - held_share); NaN without a dtw/nw path.
    user_motion: the user's pose change along its matched frames over the reference's along the
        frames it covers (sums of consecutive frame distances; ~1 for a follower at any speed, ~0 for
        a user standing still). held_share: share of the path's pairs beyond the hold limit
        (:func:`held_pairs`).
    mirrored: the mirror state whose alignment scored (the lower cost); mirror_decided: whether the
        other state's cost was at least MIRROR_MARGIN higher (or the state was forced).
    mirror_costs: alignment cost without / with mirroring (None where not computed).
    settings: the settings used.
    """

    score: float
    joint_scores: dict[str, float | None]
    moment_times: np.ndarray
    moment_scores: np.ndarray
    moment_distances: np.ndarray
    alignment: Alignment
    user_times: np.ndarray
    mirrored: bool
    mirror_costs: dict[str, float | None]
    settings: ScoreSettings
    joint_coverage: dict[str, float] = field(default_factory=dict)
    #: what was assumed, not given: ``{"reference layout": {"value": "penn13", "why": ...}}`` (see
    #: :mod:`posesearch.inputs`); filled by :func:`score_sequence` for path inputs and by the CLI
    assumed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the poses as scored, for pictures: the reference (COCO-17, unit coordinates, smoothed) and the user
    #: on the reference's time base (indexed by the alignment path's user column; not yet mirrored)
    reference_poses: Sequence | None = field(default=None, compare=False, repr=False)
    user_poses: Sequence | None = field(default=None, compare=False, repr=False)
    #: how the camera angle was handled (:func:`.view.view_reference`): mode ("2d" | "3d-fit" | "lifted"),
    #: chosen_by ("auto" | "settings"), why, and for a fit the camera (yaw, pitch, scale, tx, ty, residual)
    view: dict[str, Any] = field(default_factory=dict)
    user_motion: float = float("nan")
    held_share: float = 0.0

    @property
    def time_offset(self) -> float:
        return self.alignment.time_offset

    @property
    def speed_confidence(self) -> float:
        if self.alignment.method == "diagonal" or not np.isfinite(self.user_motion):
            return float("nan")
        return float(min(1.0, self.user_motion) * (1.0 - self.held_share))

    @property
    def speed_ratio(self) -> float:
        if self.alignment.method != "diagonal" and not self.speed_confidence >= MIN_SPEED_CONFIDENCE:
            return float("nan")
        return self.alignment.speed_ratio

    @property
    def mirror_decided(self) -> bool:
        costs = [c for c in self.mirror_costs.values() if c is not None and np.isfinite(c)]
        if len(costs) < 2:
            return True
        low, high = min(costs), max(costs)
        return bool(low <= (1.0 - MIRROR_MARGIN) * high)

    @property
    def mean_distance(self) -> float:
        d = self.moment_distances
        return float(np.nanmean(d)) if np.isfinite(d).any() else float("nan")

    def path_times(self) -> np.ndarray:
        """(P, 2) alignment path in seconds: (reference time, user time)."""
        p = self.alignment.path
        return np.stack([self.moment_times[p[:, 0]], self.user_times[p[:, 1]]], axis=1)

    def worst_joints(self, n: int = 3) -> list[tuple[str, float]]:
        items = [(k, v) for k, v in self.joint_scores.items() if v is not None]
        return sorted(items, key=lambda kv: kv[1])[:n]

    def worst_moments(self, n: int = 3, window: float = 0.5,
                      margin: float | None = None) -> list[tuple[float, float, float]]:
        """Up to n (start s, end s, mean score) stretches of about ``window`` seconds, lowest first,
        not overlapping, each scoring at least ``margin`` points (default :data:`WORST_MOMENT_MARGIN`)
        below the overall score. Empty when no stretch stands out that far (see
        :meth:`worst_moments_note`): a stretch at or above the average is never a "worst moment"."""
        margin = WORST_MOMENT_MARGIN if margin is None else float(margin)
        t = self.moment_times
        s = self.moment_scores
        if len(t) == 0 or not np.isfinite(self.score):
            return []
        dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
        w = max(1, int(round(window / dt)))
        w = min(w, len(s))
        csum = np.concatenate([[0.0], np.cumsum(s)])
        means = (csum[w:] - csum[:-w]) / w          # window starting at i (NaN if it holds an unscored frame)
        bar = self.score - margin
        taken = np.zeros(len(means), bool)
        out = []
        for i in np.argsort(means, kind="stable"):
            if not np.isfinite(means[i]) or means[i] > bar:
                break                               # ascending order: nothing further qualifies
            if taken[i]:
                continue
            out.append((float(t[i]), float(t[min(i + w - 1, len(t) - 1)]), float(means[i])))
            taken[max(0, i - w + 1):i + w] = True
            if len(out) == n:
                break
        return out

    def worst_moments_note(self, window: float = 0.5, margin: float | None = None) -> str:
        """The rule behind :meth:`worst_moments` in words, e.g. for when none qualifies."""
        margin = WORST_MOMENT_MARGIN if margin is None else float(margin)
        if self.worst_moments(1, window, margin):
            return (f"stretches of about {window:g} s scoring at least {margin:g} points below the overall "
                    f"{self.score:.1f}")
        return (f"no moment stands out: no stretch of about {window:g} s scores {margin:g} or more points below "
                f"the overall {self.score:.1f}")

    def to_dict(self, *, path: bool = True) -> dict[str, Any]:
        f = lambda v: None if v is None or not np.isfinite(v) else round(float(v), 6)  # noqa: E731
        d = {
            "score": f(self.score),
            "mirrored": bool(self.mirrored),
            "mirror_decided": self.mirror_decided,
            "time_offset": f(self.time_offset),
            "speed_ratio": f(self.speed_ratio),
            "speed_confidence": f(self.speed_confidence),
            "user_motion": f(self.user_motion),
            "held_share": f(self.held_share),
            "mean_distance": f(self.mean_distance),
            "joint_scores": {k: f(v) for k, v in self.joint_scores.items()},
            "joint_coverage": {k: f(v) for k, v in self.joint_coverage.items()},
            "worst_joints": [{"joint": k, "score": f(v)} for k, v in self.worst_joints()],
            "worst_moments": [{"start": f(a), "end": f(b), "score": f(s)} for a, b, s in self.worst_moments()],
            "worst_moments_rule": {"window_s": 0.5, "below_score_by": WORST_MOMENT_MARGIN,
                                   "note": self.worst_moments_note()},
            "moments": {"times": [f(v) for v in self.moment_times], "scores": [f(v) for v in self.moment_scores]},
            "mirror_costs": {k: f(v) for k, v in self.mirror_costs.items()},
            "alignment": {"method": self.alignment.method, "cost": f(self.alignment.cost),
                          "total_cost": f(self.alignment.total_cost)},
            "settings": self.settings.to_dict(),
            "assumed": self.assumed,
            "view": self.view,
        }
        if path:
            d["alignment"]["path"] = self.alignment.path.tolist()
            d["alignment"]["path_times"] = [[f(a), f(b)] for a, b in self.path_times()]
        return d

    def plot(self, path, *, title: str | None = None) -> Path:
        """Write the report as a PNG: score over time with the worst moments, the user's and the reference's
        skeletons at those moments, and the alignment (:func:`posesearch.sequence.plot.plot_report`)."""
        from .plot import plot_report

        return plot_report(self, path, title=title)

    def summary(self) -> str:
        lines = [f"score {self.score:.1f}/100"
                 + (" (user mirrored)" if self.mirrored and self.mirror_decided else "")
                 + ("" if self.mirror_decided else " (mirroring undecided)")
                 + (f", user {offset_text(self.time_offset)}" if np.isfinite(self.time_offset) else "")
                 + (f", speed x{self.speed_ratio:.2f}" if np.isfinite(self.speed_ratio) else "")]
        wj = self.worst_joints()
        if wj:
            lines.append("worst joints: " + ", ".join(f"{k} {v:.0f}" for k, v in wj))
        wm = self.worst_moments()
        if wm:
            lines.append("worst moments: " + ", ".join(f"{a:.2f}-{b:.2f} s ({s:.0f})" for a, b, s in wm))
        else:
            lines.append(self.worst_moments_note())
        return "\n".join(lines)


def held_pairs(path: np.ndarray) -> np.ndarray:
    """(P,) bool: the path's pairs (reference, user), sorted, that lie more than ``MAX_HOLD`` - 1 reference
    frames into a run of consecutive reference frames matched to the same user frame: the user stood
    still (or was more than ``MAX_HOLD`` times faster) while the reference moved on. Such a pair scores
    0: DTW may otherwise let one user pose stand for most of the reference (a 5 s user "covering" a
    15 s reference at an apparent 6x speed). The live DTW (:func:`._align_kernels.dtw_column_step`)
    counts the same runs."""
    from ._score_kernels import held_runs

    return held_runs(path[:, 0], path[:, 1], MAX_HOLD)


def _moments(path, dist, err, w, tr, curve, observed, valid, held=None):
    """Per reference frame: mean distance (finite pairs), mean pair score (a pair without a distance
    scores 0) and per-joint weighted mean error, from the values of the path's pairs.

    ``observed`` (P,) bool: only those pairs judge a frame (``valid`` (Tr,) bool: reference frames with a
    pose; only those are judged); the path's other frames take their values by linear interpolation
    over reference frames between the nearest judged ones, clamped at the ends (see
    ScoreSettings.moments_from). ``observed`` None, or no judged frame at all: every pair counts.
    ``held`` (P,) bool: pairs that score 0 whatever their distance (:func:`held_pairs`), and judge
    their moment like an observed pair (so a hold is not interpolated away)."""
    r = path[:, 0]
    if observed is not None and held is not None:
        observed = observed | held       # a held pair judges its moment (0) even where nothing was recorded
    use = observed if observed is not None and (observed & valid[r]).any() else np.ones(len(r), bool)
    bad = ~np.isfinite(dist)
    pair_score = np.where(bad, 0.0, curve.score(np.where(bad, 0.0, dist)))
    if held is not None:
        pair_score = np.where(held, 0.0, pair_score)
    from ._score_kernels import moment_values

    return moment_values(r, use, dist, pair_score, np.ascontiguousarray(err), np.ascontiguousarray(w), valid, tr)


NW_GAP_TYPICAL = 2.0


def nw_gap_costs(D, gap_open: float, gap_extend: float) -> tuple[float, float]:
    """NW gap costs for this distance matrix: the configured ones, scaled up by the same factor when
    extending a gap would cost less than NW_GAP_TYPICAL times the typical match (the median over user
    frames of their best in-band distance).

    A skipped move is a stretch the user matches much worse than the rest. With fixed costs a noisy
    user whose every match costs about ``gap_extend`` sits on a knife edge: a slightly different jitter
    (another smoother, the mirrored recording) makes NW skip half the reference, and the score falls
    from ~76 to ~39 (a case hypothesis found: noise 6% of body height, One-Euro smoothing).
    """
    v = np.asarray(D.values, dtype=np.float64)
    v = np.where(np.isfinite(v), v, np.inf)
    best = v.min(axis=1) if v.size else np.zeros(0)
    best = best[np.isfinite(best)]
    if best.size == 0:
        return gap_open, gap_extend
    typical = float(np.median(best))
    f = max(1.0, NW_GAP_TYPICAL * typical / gap_extend)
    return gap_open * f, gap_extend * f


def _fill_gaps(path: np.ndarray, tr: int) -> np.ndarray:
    """Give reference frames that the path skips (NW gaps) inside its span the interpolated user frame."""
    r = path[:, 0]
    have = np.zeros(tr, bool)
    have[r] = True
    lo, hi = r.min(), r.max()
    miss = np.flatnonzero(~have[lo:hi + 1]) + lo
    if miss.size == 0:
        return path
    u = np.rint(np.interp(miss, r, path[:, 1])).astype(np.int64)
    out = np.concatenate([path, np.stack([miss, u], 1)])
    return out[np.lexsort((out[:, 1], out[:, 0]))]


@dataclass
class PreparedReference:
    """A reference ready for scoring: COCO-17, smoothed (if configured), with its frame features."""

    seq: Sequence
    features: FrameFeatures
    fps: float
    settings: ScoreSettings
    available: np.ndarray          # (17,) COCO joints the source layout has


@dataclass
class PreparedUser:
    """A user ready for scoring: COCO-17, smoothed, resampled to the reference rate; features per mirror state."""

    seq: Sequence
    features: dict[bool, FrameFeatures]
    settings: ScoreSettings
    available: dict[bool, np.ndarray]   # per mirror state: (17,) COCO joints the source layout has
    observed: np.ndarray | None = None  # (T,) bool: grid frame nearest a recorded frame with a pose


def prepare_reference(reference, settings: ScoreSettings = ScoreSettings(), *, fps: float | None = None,
                      layout: str | None = None) -> PreparedReference:
    """Steps 1-2 (and the features of step 4) for the reference; see :func:`score_sequence`."""
    return _prepare_checked_reference(*_checked_reference(reference, settings, fps=fps, layout=layout), settings)


def _checked_reference(reference, settings: ScoreSettings, *, fps: float | None = None,
                       layout: str | None = None) -> tuple[Sequence, float]:
    """The reference as a Sequence and its frame rate, refused here (before any work) as
    :func:`prepare_reference` refuses it: the user's preparation needs only that rate."""
    ref = as_sequence(reference, layout=layout if layout is not None else settings.layout, fps=fps, name="reference")
    ref.require_frames(2)
    _check_length(ref, settings.max_frames)
    rate = 1.0 / ref.frame_interval
    if not math.isfinite(rate):
        raise InvalidArgumentError(f"reference: frame rate is not finite (frames {ref.frame_interval:g} s apart); "
                                   f"expected frame times or an fps that a float can hold")
    return ref, rate


def _prepare_checked_reference(ref: Sequence, rate: float, settings: ScoreSettings) -> PreparedReference:
    """:func:`prepare_reference` of a reference :func:`_checked_reference` accepted."""
    st = settings
    available = coco_available(ref.layout)
    ref = normalized(ref)[0].to_coco()     # every step is invariant to the units (see _check_length)
    if st.process_reference:
        ref = smooth(ref, st.smooth, kalman=st.kalman, one_euro=st.one_euro)
        ref = resample(ref, ref.times, method=st.interp, max_gap=st.max_gap, fps=ref.fps, max_frames=st.max_frames)
    feats = frame_features(ref, st.distance)
    if not feats.valid.any():
        raise InvalidPoseError(f"reference: no frame has {MIN_COMMON} or more present keypoints")
    if st.distance == "procrustes":     # here (beside the user's preparation) rather than before the alignment
        reference_args(feats)
    return PreparedReference(ref, feats, rate, st, available)


def _check_length(seq: Sequence, max_frames: int) -> None:
    """Refuse a sequence longer than ``max_frames`` before any step allocates per frame.

    (Both sequences are then moved into unit coordinates, :func:`~.smooth.normalized`: smoothing,
    resampling, mirroring and both frame distances are invariant to moving and scaling a sequence, so
    the score is the same for coordinates of 1e-300 or 1e300, where squares would underflow or overflow.)"""
    if len(seq) > max_frames:
        raise too_many_frames(seq.name, len(seq), max_frames, "the sequence has ")


def prepare_user(user, reference_fps: float, settings: ScoreSettings = ScoreSettings(), *,
                 fps: float | None = None, layout: str | None = None) -> PreparedUser:
    """Steps 1-3 (and the features of step 4, for the mirror states ``settings.mirror`` needs)."""
    st = settings
    usr = as_sequence(user, layout=layout if layout is not None else st.layout, fps=fps, name="user")
    usr.require_frames(2)
    _check_length(usr, st.max_frames)
    reference_fps = check_finite_positive("reference_fps", reference_fps)
    n = grid_length(usr.times[0], usr.times[-1], reference_fps)
    if n > st.max_frames:
        raise too_many_frames("user", n, st.max_frames, f"resampling its {usr.duration:.6g} s to the reference's "
                                                        f"{reference_fps:.6g} fps would make ")
    if n < 2:
        raise InvalidPoseError(f"user: its frames span {usr.duration:.6g} s, less than one frame interval at the "
                               f"reference's {reference_fps:.6g} fps; expected at least 2 frames after resampling "
                               f"(check the frame rates)")
    available = coco_available(usr.layout)
    # origin at the first pose (and the mirror axis below at x = 0) as a live session can know them, so that
    # ScoreSession sees the same bits (see normalized)
    usr = normalized(usr, first_origin=True)[0].to_coco()
    usr = smooth(usr, st.smooth, kalman=st.kalman, one_euro=st.one_euro)
    recorded = usr.times[usr.confidences.max(axis=1) > 0]
    try:
        usr = resample_to_fps(usr, reference_fps, method=st.interp, max_gap=st.max_gap, max_frames=st.max_frames)
    except InvalidPoseError as e:
        raise InvalidPoseError(f"user: no keypoint survives resampling to {reference_fps:g} fps "
                               f"(gaps longer than max_gap {st.max_gap:g} s?): {e}") from None
    states = {"off": [False], "on": [True], "auto": [False, True]}[st.mirror]
    feats = {m: frame_features(usr.mirrored(axis_sum=0.0) if m else usr, st.distance) for m in states}
    if not feats[states[0]].valid.any():
        raise InvalidPoseError(f"user: no frame has {MIN_COMMON} or more present keypoints")
    if st.distance == "procrustes":     # the Procrustes shortcut's per-frame sums, kept on the features
        for f in feats.values():
            uniform_frames(f)
    flip = np.asarray(COCO17.flip)
    return PreparedUser(usr, feats, st, {m: available[flip] if m else available for m in states},
                        observed_frames(usr.times, reference_fps, recorded))


def nearest_grid_index(t, t0: float, fps: float):
    """Index of the grid time ``t0 + i / fps`` nearest to ``t`` (ties: the earlier one)."""
    x = (np.asarray(t, dtype=np.float64) - t0) * fps
    lo = np.floor(x + 1e-9)
    return (lo + (x - lo > 0.5 + 1e-9)).astype(np.int64)


def observed_frames(grid: np.ndarray, fps: float, recorded: np.ndarray) -> np.ndarray:
    """(len(grid),) bool: on the regular grid ``grid[0] + i / fps`` (as made by
    :func:`~.resample.resample_to_fps`), the frames nearest to each recorded time."""
    out = np.zeros(len(grid), bool)
    if len(grid) == 0 or len(recorded) == 0:
        return out
    i = nearest_grid_index(recorded, float(grid[0]), fps)
    out[i[(i >= 0) & (i < len(grid))]] = True
    return out


def coco_available(layout) -> np.ndarray:
    """(17,) bool: the COCO-17 joints a layout can provide."""
    return np.asarray(layout.to_coco) >= 0


_STATE_POOL: dict = {}      # process id -> the one worker thread of _run_states (a forked child makes its own)


def _worker():
    """The one worker thread of this process (:func:`_run_states`, :func:`score_prepared`), or None when numba may
    use only one thread."""
    import numba

    if numba.get_num_threads() < 2:
        return None
    import os

    pool = _STATE_POOL.get(os.getpid())
    if pool is None:            # first use here (a pool inherited through fork has no thread: never use it)
        from concurrent.futures import ThreadPoolExecutor

        _STATE_POOL.clear()
        pool = _STATE_POOL[os.getpid()] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="posesearch-mirror")
    return pool


def _run_states(jobs: dict, threaded: bool) -> dict:
    """Each mirror state's alignment (``jobs``: state -> call). With two states, ``threaded`` (their kernels
    release the GIL: :class:`~.framedist.ProcrustesRows`) and numba allowed more than one thread, the second
    state runs on a worker thread while this one runs the first (one state per core)."""
    pool = _worker() if threaded and len(jobs) == 2 else None
    if pool is None:
        return {state: job() for state, job in jobs.items()}
    (first, job1), (second, job2) = jobs.items()
    other = pool.submit(job2)
    return {first: job1(), second: other.result()}


def _prepare_both(reference: Sequence, user: Sequence, settings: ScoreSettings, layout: str | None
                  ) -> tuple[PreparedReference, PreparedUser]:
    """:func:`prepare_reference` and :func:`prepare_user` (at the reference's rate). With the :func:`_worker`
    thread the user is prepared there while this thread prepares the reference: their numba steps release the
    GIL, so the two overlap on two cores. The same results and errors as one after the other (the reference's
    first: it is checked before the user's preparation starts, and its later error wins)."""
    ref_seq, rate = _checked_reference(reference, settings, layout=layout)
    pool = _worker()
    if pool is None:
        return _prepare_checked_reference(ref_seq, rate, settings), prepare_user(user, rate, settings, layout=layout)
    from concurrent.futures import wait

    other = pool.submit(prepare_user, user, rate, settings, layout=layout)
    try:
        ref = _prepare_checked_reference(ref_seq, rate, settings)
    except BaseException:
        wait([other])
        raise
    return ref, other.result()


def score_prepared(ref: PreparedReference, usr: PreparedUser) -> ScoreReport:
    """Steps 4-7 on prepared inputs (both prepared with the same settings)."""
    settings = ref.settings
    if usr.settings != settings:
        raise InvalidArgumentError("reference and user were prepared with different settings")
    n_user, n_ref = len(usr.seq), len(ref.seq)
    band = make_band(n_user, n_ref, fps=ref.fps, band=settings.band, band_seconds=settings.band_seconds)
    need = n_user * band.width * ALIGN_BYTES_PER_CELL[settings.align]
    if need > settings.max_alignment_bytes:
        raise InvalidArgumentError(
            f"alignment: {n_user:,} user x {n_ref:,} reference frames (band {band.width:,} frames wide) would need "
            f"{need / 2 ** 20:,.1f} MiB for {settings.align}, more than max_alignment_bytes "
            f"({settings.max_alignment_bytes / 2 ** 20:,.1f} MiB); score shorter sequences, narrow the band or lower the reference frame rate")
    jobs = {}                   # mirrored (bool) -> its alignment, to run (the user as given and mirrored)
    ref_has = ref.features.weights.max(axis=0) > 0
    shared = {}
    user_features = {}
    for mirror, user_feats in usr.features.items():
        shared[mirror] = int((ref_has & (user_feats.weights.max(axis=0) > 0)).sum())
        if shared[mirror] < MIN_COMMON:    # e.g. a profile view against its mirror image: no joint in common
            continue
        # joints one layout cannot provide (Penn Action has no eyes) are left out on both sides rather
        # than charged as missing in every frame; joints a layout has but did not detect do count
        common = ref.available & usr.available[mirror]
        user_feats = user_features[mirror] = restrict_joints(user_feats, common)
        ref_feats = restrict_joints(ref.features, common)
        if settings.align == "dtw" and settings.distance == "procrustes":     # rows computed as DTW aligns them
            frame_dist = ProcrustesRows(user_feats, ref_feats, band, settings.max_rotation, settings.penalty)
        else:
            frame_dist = frame_distance_matrix(user_feats, ref_feats, distance=settings.distance,
                                               max_rotation=settings.max_rotation, band=band,
                                               missing_penalty=settings.penalty)
        gap_open, gap_extend = (nw_gap_costs(frame_dist, settings.gap_open, settings.gap_extend)
                                if settings.align == "nw" else (settings.gap_open, settings.gap_extend))
        jobs[mirror] = partial(align, frame_dist, ref.seq.times, usr.seq.times, method=settings.align,
                               open_ends=settings.open_ends, missing_cost=settings.missing, gap_open=gap_open,
                               gap_extend=gap_extend, min_overlap=settings.min_overlap, max_hold=MAX_HOLD)
    alignments = _run_states(jobs, threaded=isinstance(frame_dist, ProcrustesRows)) if jobs else {}
    if not alignments:
        raise InvalidPoseError(f"reference and user share only {max(shared.values())} COCO joint(s) that are "
                               f"ever present{' (either way round)' if len(shared) > 1 else ''}; at least "
                               f"{MIN_COMMON} are needed")
    mirrored = min(alignments, key=lambda mirror: alignments[mirror].cost)
    best = alignments[mirrored]
    user_feats = user_features[mirrored]
    ref_feats = restrict_joints(ref.features, ref.available & usr.available[mirrored])
    path = _fill_gaps(best.path, n_ref)
    # the user's motion (two runs of pair_distances, nogil) on the worker thread while this one does the moments
    pool = _worker() if isinstance(frame_dist, ProcrustesRows) else None
    motion = pool.submit(_motion_ratio, path, user_feats, ref_feats, settings) if pool is not None else None
    held = held_pairs(path) if settings.align == "dtw" else np.zeros(len(path), bool)
    pair_dist, pair_err, pair_weights = pair_errors(user_feats, ref_feats, path[:, 1], path[:, 0],
                                                    max_rotation=settings.max_rotation,
                                                    missing_penalty=settings.penalty)
    observed = (usr.observed[path[:, 1]] if settings.moments_from == "samples" and usr.observed is not None
                else None)
    moment_dist, moment_scores, joint_err = _moments(path, pair_dist, pair_err, pair_weights, n_ref,
                                                     settings.curve, observed, ref_feats.valid,
                                                     held)
    covered = np.zeros(n_ref, bool)
    covered[path[:, 0]] = True
    moment_scores = np.where(covered, moment_scores, 0.0)
    moment_scores = np.where(ref_feats.valid, moment_scores, np.nan)  # reference frames without a pose are not scored
    if not ref_feats.valid.any():
        raise InvalidPoseError(f"reference: no frame has {MIN_COMMON} or more of the joints the user also has")
    score = float(np.nanmean(moment_scores))
    joint_moment_scores = settings.curve.score(joint_err)   # (Tr, K), NaN where the joint is not seen in both
    joint_scores: dict[str, float | None] = {}
    coverage: dict[str, float] = {}
    by_joint = np.ascontiguousarray(joint_moment_scores.T)   # (K, Tr): one joint's moments in a row
    seen_all = np.isfinite(by_joint)
    n_seen = np.count_nonzero(seen_all, axis=1)
    means = _seen_means(by_joint, seen_all)
    for joint, name in enumerate(COCO17_JOINTS):
        if ref_has[joint]:
            coverage[name] = int(n_seen[joint]) / by_joint.shape[1]     # = seen.mean() (a sum of 0s and 1s is exact)
            joint_scores[name] = means[joint]
    costs = {"plain": alignments[False].cost if False in alignments else None,
             "mirrored": alignments[True].cost if True in alignments else None}
    return ScoreReport(score, joint_scores, ref.seq.times.copy(), moment_scores, moment_dist, best,
                       usr.seq.times.copy(), bool(mirrored), costs, settings, coverage,
                       user_motion=motion.result() if motion is not None else _motion_ratio(path, user_feats,
                                                                                             ref_feats, settings),
                       held_share=float(held.mean()) if len(held) else 0.0,
                       reference_poses=ref.seq, user_poses=usr.seq)


def _seen_means(values: np.ndarray, seen: np.ndarray) -> list[float | None]:
    """Per row of ``values`` (K, Tr), the mean of its ``seen`` entries (None when there is none), the bits of
    ``values[k][seen[k]].mean()``: rows seen at the same moments (usually all) are averaged together, one row of
    a C-contiguous array each, which numpy sums as it sums that row alone."""
    groups: dict[bytes, list[int]] = {}
    for k, key in enumerate(np.packbits(seen, axis=1)):
        groups.setdefault(key.tobytes(), []).append(k)
    out: list[float | None] = [None] * len(values)
    for rows in groups.values():
        if seen[rows[0]].any():
            for k, mean in zip(rows, np.ascontiguousarray(values[rows][:, seen[rows[0]]]).mean(axis=1)):
                out[k] = float(mean)
    return out


def _motion(feats: FrameFeatures, first: int, last: int, settings: ScoreSettings) -> float:
    """Sum of the frame distances between consecutive frames first..last (pairs without one left out)."""
    idx = np.arange(first, last)
    if len(idx) == 0:
        return 0.0
    d = pair_distances(feats, feats, idx, idx + 1, max_rotation=180.0, missing_penalty=settings.penalty)
    return float(np.nansum(d))


def _motion_ratio(path: np.ndarray, user_feats: FrameFeatures, ref_feats: FrameFeatures,
                  settings: ScoreSettings) -> float:
    """ScoreReport.user_motion: the user's motion over its matched span / the reference's over its
    covered span (NaN when the reference does not move there)."""
    ref_motion = _motion(ref_feats, int(path[:, 0].min()), int(path[:, 0].max()), settings)
    if not ref_motion > 0:
        return float("nan")
    return _motion(user_feats, int(path[:, 1].min()), int(path[:, 1].max()), settings) / ref_motion

def score_sequence(reference, user, ref_fps: float | None = None, user_fps: float | None = None,
                   settings: ScoreSettings = ScoreSettings(), *, layout: str | None = None) -> ScoreReport:
    """Score how well ``user`` follows ``reference`` (0-100); see the module doc for every step.

    reference, user: :class:`Sequence`, a path (sequence .json/.npy/.npz), a corpus Clip, or a
    (T, K, 3) array of [x, y, confidence]; ``ref_fps`` / ``user_fps`` give (or override) frame rates;
    ``layout`` (or ``settings.layout``) names the layout of array inputs.
    """
    import os

    from ..inputs import prefixed, read_input

    assumed: dict[str, dict[str, Any]] = {}
    inputs = {"reference": [reference, ref_fps], "user": [user, user_fps]}
    for who, item in inputs.items():   # a path: any format read_input reads, with what it assumed
        if isinstance(item[0], (str, os.PathLike)):
            got = read_input(item[0], layout=layout or settings.layout, fps=item[1], name=who, prefer="sequence")
            item[0] = got.sequence
            assumed.update(prefixed(got.assumed, who))
    lay = layout if layout is not None else settings.layout
    ref_seq = as_sequence(inputs["reference"][0], layout=lay, fps=ref_fps, name="reference")
    usr_seq = as_sequence(inputs["user"][0], layout=lay, fps=user_fps, name="user")
    report = score_in_view(ref_seq, usr_seq, settings, layout=lay)
    report.assumed.update(assumed)
    return report


def mirror_word(report: ScoreReport) -> str:
    """How the user was scored: "mirrored" / "as recorded", or "undecided (...)" when the two fits were within
    :data:`MIRROR_MARGIN` of each other."""
    word = "mirrored" if report.mirrored else "as recorded"
    return word if report.mirror_decided else f"undecided (the two fits within {MIRROR_MARGIN:.0%}), scored {word}"


def default_assumptions(report: ScoreReport, *, mirror_given: bool, distance_given: bool,
                        how: str = "--mirror on/off", how_distance: str = "--distance pair-weighted") -> dict:
    """What a caller assumed by leaving ``mirror`` or ``distance`` at its default (``assumed`` entries, see
    :mod:`posesearch.inputs`): the ``score`` command and the service report them the same way; ``how`` /
    ``how_distance`` say how the caller sets them."""
    out: dict[str, dict[str, Any]] = {}
    if not mirror_given:
        out["mirror"] = {"value": "auto", "why": "the default: the user was scored both as recorded and mirrored "
                                                 "and the better kept, here "
                                                 f"{mirror_word(report)}; {how} to fix it"}
    if not distance_given:
        out["distance"] = {"value": report.settings.distance, "why": f"the default frame distance; {how_distance} "
                                                                     "for the other"}
    return out


def score_in_view(reference: Sequence, user: Sequence, settings: ScoreSettings, *,
                  layout: str | None = None) -> ScoreReport:
    """:func:`score_prepared` after :func:`.view.view_reference` has put the reference in the user's view
    (``settings.view``); the report says which view and camera (``report.view``; also ``assumed["view"]``
    when ``auto`` chose a camera fit)."""
    from .view import AUTO_LIFT_BELOW, resolve_view, view_reference

    reference.require_frames(2)
    user.require_frames(2)
    as_filmed = usr = None
    if settings.view == "auto" and resolve_view("auto", reference)[0] == "lifted":
        # a 2D score this good needs no camera: the lift and the camera fit are only tried below it
        ref, usr = _prepare_both(reference, user, settings, layout)
        as_filmed = score_prepared(ref, usr)
        if as_filmed.score >= AUTO_LIFT_BELOW:
            as_filmed.view = {"mode": "2d", "chosen_by": "auto",
                              "why": f"view auto: the reference is 2D only and the poses as filmed already score "
                                     f"{as_filmed.score:.1f} (>= {AUTO_LIFT_BELOW:g}), so no camera was fitted"}
            return as_filmed
    seen, info = view_reference(reference, user, settings.view, settings.mirror)
    if as_filmed is not None and seen is reference:   # auto fitted a camera near the reference's own: as filmed
        report = as_filmed
    else:       # the user prepared once: the seen reference keeps the reference's times, so its fps
        if usr is None:
            ref, usr = _prepare_both(seen, user, settings, layout)
        else:
            ref = prepare_reference(seen, settings, layout=layout)
        report = score_prepared(ref, usr)
    report.view = info
    if info["chosen_by"] == "auto" and info["mode"] != "2d":
        report.assumed["view"] = {"value": info["mode"], "why": info["why"]}
    return report
