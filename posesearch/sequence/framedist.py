"""Frame-to-frame pose distances between a user sequence and a reference: the (Tu, Tr) matrix.

Two distances (``FRAME_DISTANCES``), both per pair of frames (user frame u, reference frame r), with
pair weights ``w_k = c^user_k * c^ref_k`` (a joint counts as much as both poses are sure of it; a
joint missing in either pose does not count):

* ``"procrustes"`` — proper-rotation Procrustes with scale (no reflection; the mirror is decided once
  per sequence), exactly :func:`posesearch.poses.procrustes.procrustes_distance` with target = the
  reference pose, source = the user pose and ``weights = w``: both poses are centred on their
  w-weighted centroids, scaled to unit w-weighted size, the user pose is rotated onto the reference
  and ``d = sqrt(1 - rho^2)`` where ``rho = |sum_k w_k conj(y_k) x_k|`` (points as complex numbers,
  y = user, x = reference). ``d`` is in [0, 1] and equals the w-weighted RMS of the per-joint residuals
  in units of the reference pose's w-weighted RMS radius. With ``max_rotation < 180`` degrees the
  rotation is limited to ``|theta| <= max_rotation`` (closed form: the fit ``rho cos(theta* - theta)``
  is unimodal in theta, so the clamped angle is optimal; a negative fit means scale 0, ``d = 1``).
  That keeps a lying pose from matching a standing one while tolerating camera roll.
* ``"pair-weighted"`` (old name ``"weighted"``, still accepted) — Move Mirror's distance with the *pair*
  weights above (not the index's ``weighted`` metric, which weighs by the query's confidences only
  and knows no missing-joint penalty): each pose normalized on its own
  (:func:`posesearch.poses.normalize.normalize_batch`: bounding-box translate + unit L2), then
  ``d = sum_k w_k (|dx_k| + |dy_k|) / sum_k w_k`` (:func:`posesearch.poses.distances.weighted_distance`
  with the pair weights).

Joints seen in only one of the two poses (``missing_penalty``): with ``None`` they are ignored and
the distances are exactly as above. With a number ``m`` each such joint joins the average with its
confidence as weight and error ``m`` ("could not be compared"): procrustes
``d' = sqrt((W d^2 + U m^2) / (W + U))``, weighted ``d' = (W d + U m) / (W + U)``, where
``W = sum_k w_k`` over the common joints and ``U`` = the summed confidence of the one-sided joints.
Without it, two frames sharing only a few joints (occlusion) look alike merely because few points
are easy to fit; on Penn Action it raised nearest-neighbour accuracy markedly (see
:mod:`posesearch_bench.scoring_quality`).

A pair with fewer than ``MIN_COMMON`` joints present in both poses (or a degenerate pose) has no
distance: NaN in the matrix (the aligner charges its ``missing cost`` there).

The matrix is computed in numba (``cache=True``, ``parallel``) row by row, vectorised over the
reference frames, and only inside a :class:`Band` (Sakoe-Chiba window) when one is given: cells
outside the band are ``inf`` and never computed. Storage is banded: row u holds columns
``lo[u] .. hi[u]-1``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidArgumentError
from ..registry import Registry
from .sequence import Sequence

FRAME_DISTANCES = Registry(
    "frame distance", ("procrustes", "pair-weighted"),
    aliases={"weighted": "pair-weighted", "move-mirror": "pair-weighted", "weighted_distance": "pair-weighted"},
    descriptions={"procrustes": "rotation + scale Procrustes with pair weights",
                  "pair-weighted": "Move Mirror distance with pair weights c_user*c_ref and the missing-joint "
                                   "penalty (old name: weighted)"})
MIN_COMMON = 3
#: confidences below this count as missing in the frame distances: pair weights are products of two
#: confidences, and products of ~1e-160 underflow (the sums lose every digit, then divide by zero)
MIN_CONFIDENCE = 1e-12
PARALLEL_MIN_WORK = 2_000_000   # cells x keypoints above which the matrix kernels use threads


def check_distance(name: str) -> str:
    """The canonical frame distance name (``weighted``, ``move-mirror``: aliases of ``pair-weighted``)."""
    return FRAME_DISTANCES.canonical(name)


# ---------------------------------------------------------------------------------------------- band
@dataclass(frozen=True)
class Band:
    """Allowed cells of a (Tu, Tr) matrix: row u may use columns lo[u] <= r < hi[u] (both non-decreasing)."""

    lo: np.ndarray
    hi: np.ndarray
    num_cols: int

    def __post_init__(self):
        # the DTW kernels walk two rows at once on this shape (row u+1 never starts or ends before row u)
        lo, hi = np.asarray(self.lo), np.asarray(self.hi)
        if lo.shape != hi.shape or lo.ndim != 1:
            raise InvalidArgumentError(f"band: lo and hi must be two 1-D arrays of one length, got shapes "
                                       f"{lo.shape} and {hi.shape}")
        if len(lo) and not ((lo >= 0).all() and (hi > lo).all() and (hi <= self.num_cols).all()
                            and (np.diff(lo) >= 0).all() and (np.diff(hi) >= 0).all()):
            raise InvalidArgumentError(f"band: expected 0 <= lo[u] < hi[u] <= {self.num_cols}, both non-decreasing")

    @property
    def num_rows(self) -> int:
        return len(self.lo)

    @property
    def width(self) -> int:
        return int((self.hi - self.lo).max())

    @property
    def cells(self) -> int:
        return int((self.hi - self.lo).sum())

    def contains(self, u: np.ndarray, r: np.ndarray) -> np.ndarray:
        u = np.asarray(u)
        r = np.asarray(r)
        return (r >= self.lo[u]) & (r < self.hi[u])

    @classmethod
    def full(cls, tu: int, tr: int) -> "Band":
        return cls(np.zeros(tu, np.int64), np.full(tu, tr, np.int64), tr)

    @classmethod
    def sakoe_chiba(cls, tu: int, tr: int, radius: float) -> "Band":
        """Cells within ``radius`` frames (measured along the user axis) of the line from (0, 0) to
        (Tu-1, Tr-1): ``|u - r (Tu-1)/(Tr-1)| <= radius``. A radius below 1 is raised to 1 so that a
        connected path always exists."""
        if not (radius >= 0):
            raise InvalidArgumentError(f"band radius: expected >= 0 frames, got {radius!r}")
        radius = max(float(radius), 1.0)
        u = np.arange(tu, dtype=np.float64)
        if tr == 1 or tu == 1:
            return cls.full(tu, tr)
        slope = (tr - 1) / (tu - 1)            # reference frames per user frame along the line
        lo = np.ceil((u - radius) * slope - 1e-9).astype(np.int64)
        hi = np.floor((u + radius) * slope + 1e-9).astype(np.int64) + 1
        lo = np.clip(lo, 0, tr - 1)
        hi = np.clip(hi, 1, tr)
        # connectivity: consecutive rows must overlap or touch diagonally
        hi = np.maximum(hi, np.concatenate([lo[1:], [lo[-1]]]) + 1)
        hi = np.minimum(hi, tr)
        return cls(lo, hi, tr)


# ------------------------------------------------------------------------------------------ features
@dataclass
class FrameFeatures:
    """What the distance kernels need for one sequence: points (T, K, 2), weights (T, K), valid (T,)."""

    points: np.ndarray
    weights: np.ndarray
    valid: np.ndarray
    distance: str
    #: :func:`uniform_frames` of these features, once computed (the reference's serves both mirror states)
    shortcut: tuple | None = field(default=None, repr=False, compare=False)
    #: the Procrustes kernels' reference-side arrays of these features (:func:`_procrustes_args`), once computed
    #: (both mirror states align against the same reference features)
    reference_args: tuple | None = field(default=None, repr=False, compare=False)


def frame_features(seq: Sequence, distance: str = "procrustes") -> FrameFeatures:
    """Per-frame inputs of the distance: procrustes -> each pose centred on its confidence-weighted
    centroid and scaled to unit RMS radius (the pair distance is invariant to that, it only keeps the
    sums well conditioned); weighted -> Move Mirror normalized vectors (T, K, 2)."""
    return features_from_arrays(seq.keypoints, seq.confidences, distance)


def features_from_arrays(keypoints: np.ndarray, confidences: np.ndarray, distance: str = "procrustes") -> FrameFeatures:
    """:func:`frame_features` of validated (T, K, 2) keypoints and (T, K) confidences (0 = missing)."""
    d = check_distance(distance)
    kp = np.asarray(keypoints, dtype=np.float64)
    cf = np.asarray(confidences, dtype=np.float64)
    if (cf < MIN_CONFIDENCE).any():     # (real confidences never are: the copy is skipped)
        cf = np.where(cf >= MIN_CONFIDENCE, cf, 0.0)
    if d == "pair-weighted":
        from ..poses.normalize import normalize_batch

        pres = cf > 0
        count = pres.sum(axis=1)
        vec, valid = normalize_batch(np.where(pres[..., None], kp, 0.0), cf, on_invalid="mask")
        pts = vec.reshape(len(kp), -1, 2)
        valid &= count >= MIN_COMMON
        return FrameFeatures(np.ascontiguousarray(pts), np.where(valid[:, None], cf, 0.0), valid, d)
    pts, w, valid = _kernels().procrustes_features(np.ascontiguousarray(kp), np.ascontiguousarray(cf), MIN_COMMON)
    return FrameFeatures(pts, w, valid, d)


def restrict_joints(features: FrameFeatures, keep: np.ndarray) -> FrameFeatures:
    """The same features with the joints outside ``keep`` (K,) bool given weight 0 (not compared, not
    charged as missing)."""
    keep = np.asarray(keep, bool)
    if keep.all():
        return features
    w = np.where(keep[None, :], features.weights, 0.0)
    valid = features.valid & ((w > 0).sum(axis=1) >= MIN_COMMON)
    w = np.where(valid[:, None], w, 0.0)
    if np.array_equal(valid, features.valid) and _same_bits(w, features.weights):
        return features         # those joints were never seen: the same numbers, and its caches serve on
    return FrameFeatures(features.points, w, valid, features.distance)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Two float64 arrays hold the same numbers bit for bit (0.0 is not -0.0)."""
    return a.shape == b.shape and np.array_equal(np.ascontiguousarray(a).view(np.int64),
                                                 np.ascontiguousarray(b).view(np.int64))


def uniform_frames(features: FrameFeatures) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-frame quantities of the Procrustes matrix's shortcut for frames whose present joints all have
    one confidence (mocap, synthetic motion, 0/1 visibilities): two such frames with the same joint set
    have constant pair weights, so their weighted centroids and sizes are the frames' own and only
    ``sum_k conj(y_k) x_k`` is per pair (same formula, fewer sums).

    Returns ``(points with absent joints zeroed, K padded with zero joints to a multiple of 4, at least 20 (T, K', 2), code (T,): the present-joint bit mask, -1 when
    the frame does not qualify (invalid, fewer than MIN_COMMON joints, unequal confidences), joint count
    (T,), summed points (T, 2), centred sum of squares (T,))``."""
    if features.shortcut is None:
        features.shortcut = _kernels().uniform_stats(features.points, features.weights, features.valid, MIN_COMMON)
    return features.shortcut


#: the shortcut's inputs for the weighted distance, which has none (the kernels take the same argument types):
#: the user's side and the reference's
NO_SHORTCUT = (np.zeros((0, 4, 2)), np.zeros(0, np.int64), np.zeros((2, 0)), np.zeros(0))
NO_REFERENCE_SHORTCUT = NO_SHORTCUT + (np.zeros(0, np.int64),)


def shortcut_inputs(features: FrameFeatures, side: str) -> tuple:
    """The Procrustes shortcut's inputs (:func:`._align_kernels._procrustes_rows_fast`) of the frames of one
    side, ``"user"`` or ``"reference"``: ``(points with absent joints zeroed, code, summed points (2, T),
    1 / centred sum of squares (T,), NaN for a degenerate frame)``; the user's points are (T, K', 2) and its
    summed points divided by the joint count, the reference's points (K', 2, T), and the reference's have a
    fifth array: where each frame's run of frames with its code ends (:func:`._align_kernels.code_run_ends`).
    The offline matrix and the live session both take them from here (so their distances are the same, bit
    for bit)."""
    z, code, n, sums, q = uniform_frames(features)
    with np.errstate(divide="ignore", invalid="ignore"):
        invq = np.where(q > 0, 1.0 / q, np.nan)
    if side == "user":
        return z, code, np.ascontiguousarray((sums / np.maximum(n, 1.0)[:, None]).T), invq
    return (np.ascontiguousarray(z.transpose(1, 2, 0)), code, np.ascontiguousarray(sums.T), invq,
            _kernels().code_run_ends(code))


# --------------------------------------------------------------------------------------------- matrix
@dataclass
class DistanceMatrix:
    """Banded (Tu, Tr) frame distances: ``values[u, j]`` is the distance of user frame u to reference
    frame ``band.lo[u] + j``; NaN = no distance (too few common joints); cells past ``hi[u]`` are inf."""

    values: np.ndarray
    band: Band

    def __post_init__(self):
        # the aligners' kernels read values[u, 0 .. hi[u] - lo[u] - 1] unchecked (numba checks no bounds)
        v = self.values
        rows, width = self.band.num_rows, (self.band.width if self.band.num_rows else 0)
        if not (isinstance(v, np.ndarray) and v.dtype == np.float64 and v.ndim == 2 and v.shape[0] == rows
                and v.shape[1] >= width and rows >= 1 and self.band.num_cols >= 1):
            got = f"{v.dtype} array of shape {v.shape}" if isinstance(v, np.ndarray) else type(v).__name__
            raise InvalidArgumentError(f"distance matrix: expected a float64 array of shape ({rows}, >= {width}) "
                                       f"for a band of {rows} rows and {self.band.num_cols} columns, got {got}")

    @property
    def shape(self) -> tuple[int, int]:
        return self.band.num_rows, self.band.num_cols

    def dense(self) -> np.ndarray:
        """The full (Tu, Tr) matrix, inf outside the band (for tests, plots and small inputs)."""
        tu, tr = self.shape
        out = np.full((tu, tr), np.inf)
        for u in range(tu):
            n = self.band.hi[u] - self.band.lo[u]
            out[u, self.band.lo[u]:self.band.hi[u]] = self.values[u, :n]
        return out

    def at(self, u: np.ndarray, r: np.ndarray) -> np.ndarray:
        u = np.asarray(u)
        r = np.asarray(r)
        inside = self.band.contains(u, r)
        j = np.where(inside, r - self.band.lo[u], 0)
        return np.where(inside, self.values[u, j], np.inf)


def _check_penalty(p) -> float:
    if p is None:
        return -1.0
    v = float(p)
    if not (math.isfinite(v) and v >= 0):
        raise InvalidArgumentError(f"missing_penalty: expected a finite number >= 0 or None, got {p!r}")
    return v


def _kernels():
    from . import _align_kernels

    return _align_kernels


def _matrix_inputs(user, reference, distance: str, band: Band | None):
    """Checked features (user, reference), distance name and band of :func:`frame_distance_matrix`."""
    d = check_distance(distance)
    fu = user if isinstance(user, FrameFeatures) else frame_features(user, d)
    fr = reference if isinstance(reference, FrameFeatures) else frame_features(reference, d)
    if fu.distance != d or fr.distance != d:
        raise InvalidArgumentError(f"frame features were prepared for {fu.distance}/{fr.distance}, not {d}")
    if fu.points.shape[1] != fr.points.shape[1]:
        raise InvalidArgumentError(f"user and reference have different keypoint counts "
                                   f"({fu.points.shape[1]} and {fr.points.shape[1]}); convert both to one layout")
    tu, tr = len(fu.points), len(fr.points)
    band = Band.full(tu, tr) if band is None else band
    if band.num_rows != tu or band.num_cols != tr:
        raise InvalidArgumentError(f"band is for a {band.num_rows}x{band.num_cols} matrix, not {tu}x{tr}")
    return fu, fr, d, band


def reference_args(fr: FrameFeatures) -> tuple:
    """The Procrustes kernels' arrays of reference features: points (K, 2, Tr), weights (K, Tr) and
    :func:`shortcut_inputs`; computed once and kept on them (both mirror states align against them)."""
    if fr.reference_args is None:
        fr.reference_args = (np.ascontiguousarray(fr.points.transpose(1, 2, 0)),    # (K, 2, Tr)
                             np.ascontiguousarray(fr.weights.T),                    # (K, Tr)
                             shortcut_inputs(fr, "reference"))
    return fr.reference_args


def _procrustes_args(fu: FrameFeatures, fr: FrameFeatures, band: Band, max_rotation: float, pen: float) -> tuple:
    """The Procrustes matrix kernels' arguments (``procrustes_fast_*``, ``procrustes_dtw``)."""
    mr = float(max_rotation)
    if not (0.0 <= mr <= 180.0):
        raise InvalidArgumentError(f"max_rotation: expected degrees in [0, 180], got {max_rotation!r}")
    rt, wt, ref_shortcut = reference_args(fr)
    return (fu.points, fu.weights, rt, wt, band.lo, band.hi, band.width, math.radians(mr), MIN_COMMON, pen,
            shortcut_inputs(fu, "user"), ref_shortcut)


def frame_distance_matrix(user: "Sequence | FrameFeatures", reference: "Sequence | FrameFeatures", *,
                          distance: str = "procrustes", max_rotation: float = 180.0,
                          band: Band | None = None, missing_penalty: float | None = None) -> DistanceMatrix:
    """The (Tu, Tr) matrix of frame distances (banded if ``band`` is given; see the module formulas)."""
    fu, fr, d, band = _matrix_inputs(user, reference, distance, band)
    kern = _kernels()
    parallel = band.cells * fu.points.shape[1] >= PARALLEL_MIN_WORK
    pen = _check_penalty(missing_penalty)
    if d == "procrustes":
        fn = kern.procrustes_fast_parallel if parallel else kern.procrustes_fast_serial
        vals = fn(*_procrustes_args(fu, fr, band, max_rotation, pen))
    else:
        rt = np.ascontiguousarray(fr.points.transpose(1, 2, 0))   # (K, 2, Tr)
        wt = np.ascontiguousarray(fr.weights.T)                   # (K, Tr)
        fn = kern.weighted_matrix_parallel if parallel else kern.weighted_matrix_serial
        vals = fn(fu.points, fu.weights, rt, wt, band.lo, band.hi, band.width, MIN_COMMON, pen)
    return DistanceMatrix(vals, band)


@dataclass
class ProcrustesRows:
    """The banded Procrustes :func:`frame_distance_matrix` of ``user`` x ``reference``, not computed: DTW
    (:meth:`dtw`) computes each row as it aligns it (:func:`._align_kernels.procrustes_dtw`: the same bits as
    the matrix, without writing, reading back and freeing 8 bytes a cell); :meth:`matrix` computes it.
    :func:`posesearch.sequence.align.align` takes either."""

    user: FrameFeatures
    reference: FrameFeatures
    band: Band
    max_rotation: float = 180.0
    missing_penalty: float | None = None

    def __post_init__(self):
        self.user, self.reference, _, self.band = _matrix_inputs(self.user, self.reference, "procrustes", self.band)
        self._args = _procrustes_args(self.user, self.reference, self.band, self.max_rotation,
                                      _check_penalty(self.missing_penalty))

    @property
    def shape(self) -> tuple[int, int]:
        return self.band.num_rows, self.band.num_cols

    def matrix(self) -> DistanceMatrix:
        return frame_distance_matrix(self.user, self.reference, max_rotation=self.max_rotation, band=self.band,
                                     missing_penalty=self.missing_penalty)

    def dtw(self, missing_cost: float, open_user: bool, max_hold: int) -> tuple[float, np.ndarray]:
        """:func:`._align_kernels.dtw` of :meth:`matrix`: (total cost, path (P, 2) as (u, r) pairs; empty when
        no path fits in the band). Releases the GIL while it runs."""
        return _kernels().procrustes_dtw(*self._args, self.band.num_cols, float(missing_cost), bool(open_user),
                                         int(max_hold))


# ------------------------------------------------------------------------------------ per-pair detail
def pair_errors(user: FrameFeatures, reference: FrameFeatures, user_idx: np.ndarray, ref_idx: np.ndarray, *,
                max_rotation: float = 180.0, missing_penalty: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-joint errors of aligned frame pairs (numba, one pair at a time: :func:`._align_kernels.pair_details`).

    Returns ``(distance (P,), joint_error (P, K), weight (P, K))`` where the distance is the matrix
    value (same ``missing_penalty``), joint errors are NaN for joints not present in both, and, for procrustes, ``joint_error`` is |fitted user joint - reference joint| in units of the
    reference's RMS radius (``distance = sqrt(sum w e^2 / sum w)``); for weighted it is
    ``|dx| + |dy|`` (``distance = sum w e / sum w``). Pairs without a distance give NaN.
    """
    return _pair_details(user, reference, user_idx, ref_idx, max_rotation, missing_penalty, True)


def pair_distances(user: FrameFeatures, reference: FrameFeatures, user_idx: np.ndarray, ref_idx: np.ndarray, *,
                   max_rotation: float = 180.0, missing_penalty: float | None = None) -> np.ndarray:
    """The distances of :func:`pair_errors` alone, (P,), without its per-joint arrays."""
    return _pair_details(user, reference, user_idx, ref_idx, max_rotation, missing_penalty, False)[0]


def _pair_details(user: FrameFeatures, reference: FrameFeatures, user_idx, ref_idx, max_rotation: float,
                  missing_penalty: float | None, details: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`._align_kernels.pair_details` of the pairs (user_idx, ref_idx), indexed by numpy's rules."""
    pen = _check_penalty(missing_penalty)
    ui = np.arange(len(user.points))[user_idx]         # numpy's index rules (negative, out of range) first
    ri = np.arange(len(reference.points))[ref_idx]
    return _kernels().pair_details(user.points, user.weights, reference.points, reference.weights, ui, ri,
                                   math.radians(float(max_rotation)), MIN_COMMON, pen,
                                   user.distance != "pair-weighted", details)
