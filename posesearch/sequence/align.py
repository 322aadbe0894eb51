"""Aligning a user sequence to a reference in time: delay and speed.

All aligners work on a banded frame-distance matrix ``D`` (Tu user frames x Tr reference frames, see
:mod:`posesearch.sequence.framedist`); a NaN cell (no distance: too few common joints) costs
``missing_cost``. ``open_ends`` says which extra frames at the ends are free:

* ``"user"`` (default): the user may have extra frames before and after the move (they started
  recording early, stopped late); every reference frame must be matched;
* ``"none"``: both sequences start and end together.

Methods (``ALIGNERS``):

* ``"dtw"`` — dynamic time warping: a monotone path of steps (1,1), (1,0), (0,1), each cell costing
  its distance, minimising the sum (the symmetric1 step pattern of dtaidistance), inside a
  Sakoe-Chiba band (:class:`~posesearch.sequence.framedist.Band`). Open ends let the path start at
  any (u, 0) and end at any (u, Tr-1). (Open ends on both axes are not offered: a sum objective
  then prefers a one-cell path in a corner.) With ``max_hold`` > 0 (scoring uses 2) a user frame
  matched to more than max_hold consecutive reference frames pays at least ``missing_cost`` for each
  further one: the path cannot let the user stand still while the reference moves on for free.
* ``"nw"`` — Needleman-Wunsch with affine gaps (Gotoh): frames are matched one to one, an unmatched
  run of n frames (in either sequence) costs ``gap_open + n * gap_extend``; minimises the sum of
  match distances plus gap costs. Suits a user at the reference's speed who skips or adds moves.
* ``"diagonal"`` — the simple method: for each constant offset ``o = u - r`` the mean distance along
  that diagonal (in-band cells only), over offsets where at least ``min_overlap`` of the shorter
  sequence's frames overlap; the best offset wins (pure delay, speed 1).

Each returns an :class:`Alignment`: the path as (reference index, user index) pairs, the time offset
and speed ratio from a least-squares line fitted to the path in time
(``t_user - t_user[0] = offset + (t_ref - t_ref[0]) / speed``, using per reference frame the median
time of its matched user frames, leaving out the first and last reference frames, which absorb any
waiting before and after the movement), and the cost (the objective per path step: DTW sum / path length,
NW total / Tr, diagonal mean).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError, check_finite_positive, check_number
from ..registry import Registry
from .framedist import Band, DistanceMatrix, ProcrustesRows

ALIGNERS = Registry("alignment method", ("dtw", "nw", "diagonal"),
                    aliases={"needleman-wunsch": "nw", "gotoh": "nw", "diag": "diagonal", "best-diagonal": "diagonal"})
OPEN_ENDS = Registry("open_ends value", ("user", "none"))

#: Scoring's hold limit (``max_hold`` of :func:`dtw_path`): a user frame stands for at most this many
#: consecutive reference frames (local speed 2x) at its distance; further along such a run the pair is
#: "held" (the user stands still while the reference moves on): it costs like a pair without a distance
#: in the alignment and scores 0 (:func:`posesearch.sequence.score.held_pairs`).
MAX_HOLD = 2


def check_aligner(name: str) -> str:
    return ALIGNERS.canonical(name)


def check_open_ends(name: str) -> str:
    return OPEN_ENDS.canonical(name)


@dataclass
class Alignment:
    """A time alignment of a user sequence to a reference.

    path: (P, 2) int pairs (reference frame index, user frame index), both non-decreasing.
    time_offset: seconds; how late the user's movement starts, measured from the first user frame
        (the fitted user time, minus the user's first frame time, at the reference's first frame).
    speed_ratio: the user's speed relative to the reference (0.8 = the user took 1.25x as long);
        NaN when the path covers a single reference frame.
    cost: the aligner's objective per step (see the module doc); total_cost: the objective itself.
    """

    path: np.ndarray
    time_offset: float
    speed_ratio: float
    cost: float
    method: str
    total_cost: float

    def to_dict(self) -> dict:
        f = lambda v: None if not np.isfinite(v) else float(v)  # noqa: E731
        return {"method": self.method, "time_offset": f(self.time_offset), "speed_ratio": f(self.speed_ratio),
                "cost": f(self.cost), "total_cost": f(self.total_cost), "path": self.path.tolist()}


def make_band(tu: int, tr: int, *, fps: float, band: float | None, band_seconds: float = 1.0) -> Band:
    """Sakoe-Chiba band of radius ``max(band * max(Tu, Tr), band_seconds * fps)`` frames around the
    corner-to-corner line; ``band=None`` (or >= 1) = no band."""
    if band is None or band >= 1.0:
        return Band.full(tu, tr)
    if not (band >= 0):
        raise InvalidArgumentError(f"band: expected a fraction in [0, 1] or None, got {band!r}")
    radius = max(band * max(tu, tr), band_seconds * fps)
    return Band.sakoe_chiba(tu, tr, radius)


def fit_timing(path: np.ndarray, ref_times: np.ndarray, user_times: np.ndarray) -> tuple[float, float]:
    """(time_offset, speed_ratio) of the least-squares line through the path (see :class:`Alignment`)."""
    if len(path) == 0:
        return float("nan"), float("nan")
    return _timing_line(*_run_medians(path, user_times), ref_times)


def _run_medians(path: np.ndarray, user_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The path's reference frames and, for each, the median time (from the first user frame) of the user frames
    matched to it. Every aligner's path is sorted: a reference frame's user times are then a sorted run, and its
    median the middle of the run (one numba pass, :func:`._align_kernels.run_medians`)."""
    ordered = False
    if user_times.dtype == np.float64:
        ordered, refs, med = _kern().run_medians(np.ascontiguousarray(path[:, 0]), np.ascontiguousarray(path[:, 1]),
                                                 user_times)
    if not ordered:
        r = path[:, 0]
        ut = user_times[path[:, 1]] - user_times[0]
        refs, start, count = np.unique(r, return_index=True, return_counts=True)
        med = 0.5 * (ut[start + (count - 1) // 2] + ut[start + count // 2])
    return refs, med


def _timing_line(refs: np.ndarray, med: np.ndarray, ref_times: np.ndarray) -> tuple[float, float]:
    """:func:`fit_timing` of the reference frames and their median user times."""
    rt = ref_times[refs] - ref_times[0]
    if len(refs) < 2:
        return float(med[0] - rt[0]), float("nan")
    if len(refs) >= 6:
        # the first and last reference frames absorb any waiting before / after the movement (open
        # ends): leave them out of the fit
        rt, med = rt[1:-1], med[1:-1]
    rm, um = rt.mean(), med.mean()
    var = ((rt - rm) ** 2).sum()
    slope = ((rt - rm) * (med - um)).sum() / var
    offset = um - slope * rm
    return float(offset), float(1.0 / slope) if slope > 0 else float("nan")


def _kern():
    from . import _align_kernels

    return _align_kernels


def _open_user(open_ends: str) -> bool:
    return check_open_ends(open_ends) == "user"


def dtw_path(D: DistanceMatrix | ProcrustesRows, *, open_ends: str = "user", missing_cost: float = 1.0,
             max_hold: int = 0) -> tuple[float, np.ndarray]:
    """DTW over a banded matrix (or a Procrustes one computed row by row as it is aligned,
    :class:`~.framedist.ProcrustesRows`): (total cost, path (P, 2) as (reference, user) pairs). ``max_hold`` > 0:
    a user frame matched to max_hold or more consecutive reference frames pays ``missing_cost`` (at
    least) from the max_hold-th on (the hold limit; 0 = none, plain symmetric1)."""
    check_number("max_hold", max_hold, integer=True, low=0, high=100)
    if isinstance(D, ProcrustesRows):       # rows computed as they are aligned (same answer)
        total, p = D.dtw(float(missing_cost), _open_user(open_ends), int(max_hold))
    else:
        total, p = _kern().dtw(D.values, D.band.lo, D.band.hi, D.band.num_cols, float(missing_cost),
                               _open_user(open_ends), int(max_hold))
    if len(p) == 0:
        raise InvalidPoseError("alignment: no monotone path fits in the band; widen the band")
    return float(total), p[:, ::-1].copy()


def nw_path(D: DistanceMatrix, *, gap_open: float, gap_extend: float, open_ends: str = "user",
            missing_cost: float = 1.0) -> tuple[float, np.ndarray]:
    """Gotoh/Needleman-Wunsch over a banded matrix: (total cost, matched (reference, user) pairs)."""
    ou = _open_user(open_ends)
    for n, v in (("gap_open", gap_open), ("gap_extend", gap_extend)):
        if not (np.isfinite(v) and v >= 0):
            raise InvalidArgumentError(f"{n}: expected a finite number >= 0, got {v!r}")
    total, p = _kern().gotoh(D.values, D.band.lo, D.band.hi, D.band.num_cols, float(missing_cost),
                             float(gap_open), float(gap_extend), ou)
    if len(p) == 0:
        raise InvalidPoseError("alignment: no path fits in the band; widen the band")
    return float(total), p[:, ::-1].copy()


def diagonal_path(D: DistanceMatrix, *, min_overlap: float = 0.5, missing_cost: float = 1.0
                  ) -> tuple[float, float, np.ndarray]:
    """Best constant offset: (mean distance, total, path (reference, user) pairs along that diagonal)."""
    if not (0 < min_overlap <= 1):
        raise InvalidArgumentError(f"min_overlap: expected a fraction in (0, 1], got {min_overlap!r}")
    tu, tr = D.shape
    s, c = _kern().diagonal_means(D.values, D.band.lo, D.band.hi, tr, float(missing_cost))
    need = max(1, int(np.ceil(min_overlap * min(tu, tr))))
    ok = c >= need
    if not ok.any():
        raise InvalidPoseError(f"alignment: no offset overlaps at least {need} frames "
                               f"(min_overlap {min_overlap:g} of {min(tu, tr)}) inside the band")
    mean = np.where(ok, s / np.maximum(c, 1), np.inf)
    # ties (a static pose: every offset has the same mean) go to the longest overlap, then the smallest
    # delay; the first offset would leave half the reference unmatched and score it 0
    lowest = mean.min()
    tied = np.flatnonzero(mean <= lowest + 1e-12 * abs(lowest) + 1e-15)
    offsets = tied - (tr - 1)
    best = int(tied[np.lexsort((np.abs(offsets), -c[tied]))[0]])
    o = best - (tr - 1)                         # u = r + o
    r = np.arange(max(0, -o), min(tr, tu - o))
    u = r + o
    inside = D.band.contains(u, r)
    path = np.stack([r[inside], u[inside]], axis=1)
    return float(mean[best]), float(s[best]), path


def align(D: DistanceMatrix | ProcrustesRows, ref_times: np.ndarray, user_times: np.ndarray, *, method: str = "dtw",
          open_ends: str = "user", missing_cost: float = 1.0, gap_open: float = 0.5, gap_extend: float = 0.2,
          min_overlap: float = 0.5, max_hold: int = 0) -> Alignment:
    """Align with ``method`` in {"dtw", "nw", "diagonal"} and fit the timing; see the module doc
    (``max_hold``: dtw's hold limit, :func:`dtw_path`). ``D``: the matrix, or (dtw computes its rows as it
    goes) a :class:`~.framedist.ProcrustesRows`."""
    m = check_aligner(method)
    check_finite_positive("missing_cost", missing_cost)
    if m != "dtw" and isinstance(D, ProcrustesRows):
        D = D.matrix()
    tu, tr = D.shape
    if m == "dtw":
        total, path = dtw_path(D, open_ends=open_ends, missing_cost=missing_cost, max_hold=max_hold)
        cost = total / len(path)
    elif m == "nw":
        total, path = nw_path(D, gap_open=gap_open, gap_extend=gap_extend, open_ends=open_ends,
                              missing_cost=missing_cost)
        cost = total / tr
    else:
        cost, total, path = diagonal_path(D, min_overlap=min_overlap, missing_cost=missing_cost)
    offset, speed = fit_timing(path, np.asarray(ref_times), np.asarray(user_times))
    if m == "diagonal":
        speed = 1.0
    return Alignment(path, offset, speed, float(cost), m, float(total))
