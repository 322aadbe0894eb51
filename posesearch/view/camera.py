"""An orthographic camera around a person, and fitting it to what a user filmed.

Conventions (the same as the BVH reader, :func:`posesearch.corpus.readers.bvh_kinematics.camera_axes`):

* **world**: Y up, any unit; a subject at yaw 0 faces +Z (towards a camera at yaw 0);
* **camera**: at yaw ``θ`` (degrees, turning from +Z towards +X: yaw 90 films the subject's left side)
  and pitch ``φ`` (degrees, positive = looking down from above), looking at the subject, no roll;
  its image axes are ``right = (cos θ, 0, -sin θ)`` and ``up = right × forward``;
* **image**: x right, y **down** (as pixels): ``x = s (P · right) + tx``, ``y = -s (P · up) + ty``.

So ``project(points, yaw, pitch)`` is a (2, 3) matrix :func:`camera_matrix` applied to every joint;
orthographic (= weak perspective: one scale for the whole body), which is what a phone a few metres
away sees up to a few percent.

**Fitting** (:func:`fit_camera`). For matched pairs of frames (a 3D reference frame, a 2D user frame) and
per-joint weights, the camera minimises the sum over pairs of the *normalised* residual

    r(M) = 1 - (tr(M A))^2 / (tr(M C M^T) S)       (0: the user frame is exactly the projected pose)

where, with both frames centred on their weighted centroids, ``A = Σ w X x^T`` (3×2), ``C = Σ w X X^T``
(3×3), ``S = Σ w |x|^2`` — each pair keeps its own scale and translation (users walk towards the camera),
and ``r`` is the squared Procrustes distance without rotation in the image. These sufficient statistics
make a candidate camera cost a few multiplications per pair whatever the number of joints, so the fit
is a dense grid (every 10° of yaw, 7 pitches), then two finer grids around the best (0.5° and 0.05°
steps): no local minimum is missed and the answer is deterministic.

**Unmatched sequences** (:func:`fit_sequence_camera`): a user and a reference filmed at different
times and speeds. Both are sampled at the same step in seconds (at most ``max_frames`` frames each),
the per-pair residual is computed for every coarse camera, and a DTW (open begin and end on the user's
side, as the scorer's ``open_ends="user"``) aligns them under each camera; the camera of the cheapest
alignment wins, and the frames it pairs are refined with :func:`fit_camera`. Everything is vectorised
over the cameras (numpy; about 20-60 ms for 80 × 80 frames).

Limits: one camera per sequence (a user who turns while the reference does not is fitted at the mean
angle); no roll (the scorer's Procrustes tolerates ±20° of roll); pitch searched within
``pitch_range`` (default -30..60°): a person filmed from straight above (pitch 90) cannot be
told from a person lying down, and is not fitted.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError

#: default range of pitch angles searched (degrees): a camera from 30° below to 60° above the subject
PITCH_RANGE = (-30.0, 60.0)
#: coarse grid steps (degrees)
YAW_STEP, PITCH_STEP = 15.0, 20.0
#: the finer grids around the best coarse camera: (half width, step) in degrees
REFINE = ((8.0, 1.0), (1.0, 0.1))
#: frames per sequence for the unmatched fit
MAX_FIT_FRAMES = 48
#: longest sampling step (s): longer sequences are fitted on a central window of MAX_FIT_FRAMES samples
MAX_FIT_STEP = 0.2
#: ... against the reference's stretch that the proportional time map puts in it, shrunk by this factor
WINDOW_SHRINK = 0.7
#: rounds of re-pairing samples with nearby reference frames at full frame rate
REPAIR_ROUNDS = 3
#: ... and at least this many seconds either side of the sample's partner
REPAIR_SECONDS = 0.25
#: fewest joints a pair needs to say anything about the camera
MIN_JOINTS = 4


@dataclass(frozen=True)
class Camera:
    """An orthographic camera: yaw and pitch (degrees), scale, translation (image units).

    residual: the fit's mean normalised residual over the pairs it used (0 = exact, 1 = nothing in
    common; see the module doc); pairs: how many frame pairs it was fitted on.
    """

    yaw: float = 0.0
    pitch: float = 0.0
    scale: float = 1.0
    tx: float = 0.0
    ty: float = 0.0
    residual: float = float("nan")
    pairs: int = 0

    def project(self, points3d) -> np.ndarray:
        return project(points3d, self.yaw, self.pitch, self.scale, (self.tx, self.ty))

    def to_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def wrap_degrees(a):
    """Angles in (-180, 180]."""
    a = np.asarray(a, dtype=np.float64)
    out = -((-a + 180.0) % 360.0 - 180.0)
    return float(out) if out.ndim == 0 else out


def camera_axes(yaw, pitch):
    """(right, up, forward) unit vectors, each (..., 3), of cameras at ``yaw``/``pitch`` degrees."""
    th, ph = np.radians(np.asarray(yaw, dtype=np.float64)), np.radians(np.asarray(pitch, dtype=np.float64))
    th, ph = np.broadcast_arrays(th, ph)
    zero = np.zeros_like(th)
    d = np.stack([np.cos(ph) * np.sin(th), np.sin(ph), np.cos(ph) * np.cos(th)], -1)   # target -> camera
    right = np.stack([np.cos(th), zero, -np.sin(th)], -1)
    fwd = -d
    up = np.cross(right, fwd)
    return right, up, fwd


def camera_matrix(yaw, pitch=0.0) -> np.ndarray:
    """(..., 2, 3): image (x, y-down) of a world point, before scale and translation."""
    right, up, _ = camera_axes(yaw, pitch)
    return np.stack([right, -up], -2)


def _points(points3d, name: str = "points3d") -> np.ndarray:
    p = np.asarray(points3d, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] != 3:
        raise InvalidArgumentError(f"{name}: expected (..., J, 3) 3D joints, got shape {p.shape}")
    return p


def project(points3d, yaw=0.0, pitch=0.0, scale: float = 1.0, translation=(0.0, 0.0)) -> np.ndarray:
    """(..., J, 2) image coordinates (y down) of (..., J, 3) world points seen by an orthographic camera
    at ``yaw``/``pitch`` degrees; NaN joints stay NaN."""
    p = _points(points3d)
    for n, v in (("yaw", yaw), ("pitch", pitch), ("scale", scale)):
        if not np.all(np.isfinite(np.asarray(v, dtype=np.float64))):
            raise InvalidArgumentError(f"{n}: expected a finite number, got {v!r}")
    M = camera_matrix(yaw, pitch)
    return scale * (p @ np.swapaxes(M, -1, -2)) + np.asarray(translation, dtype=np.float64)


def rotate_yaw(points3d, yaw) -> np.ndarray:
    """Points turned by ``yaw`` degrees about the vertical (Y) axis, from +Z towards +X. Seeing the turned
    points from yaw 0 is seeing the original from yaw ``-yaw``: ``project(rotate_yaw(P, a)) ==
    project(P, -a)``."""
    p = _points(points3d)
    th = np.radians(np.asarray(yaw, dtype=np.float64))[..., None, None]
    c, s = np.cos(th), np.sin(th)
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    return np.stack([c[..., 0] * x + s[..., 0] * z, y, -s[..., 0] * x + c[..., 0] * z], -1)


def facing_yaw(points3d, left=(5, 11), right=(6, 12)) -> np.ndarray:
    """(...,) the direction each pose faces, in degrees of yaw (0 = +Z), from its left-minus-right
    shoulder and hip vectors (COCO-17 indices by default): facing = left × up. NaN when undefined."""
    p = _points(points3d)
    lr = sum(p[..., a, :] - p[..., b, :] for a, b in zip(left, right))
    fwd = np.cross(lr, [0.0, 1.0, 0.0])
    return np.degrees(np.arctan2(fwd[..., 0], fwd[..., 2]))


def canonical_yaw(points3d, left=(5, 11), right=(6, 12)) -> np.ndarray:
    """Each pose turned about the vertical axis to face +Z (a view-independent form for comparing 3D poses)."""
    return rotate_yaw(points3d, -np.nan_to_num(facing_yaw(points3d, left, right)))


# ---------------------------------------------------------------------------------------------- fitting

def pair_stats(points3d, keypoints2d, weights):
    """Sufficient statistics of matched frames: (A (P, 3, 2), C (P, 3, 3), S (P,), W (P,)).

    points3d (P, J, 3) and keypoints2d (P, J, 2) (NaN = missing), weights (P, J) >= 0 (0 = ignore);
    each frame centred on its weighted centroid; W = the weight sum (pairs with fewer than MIN_JOINTS
    weighted joints get W = 0 and are ignored by the fits)."""
    X = _points(points3d)
    x = np.asarray(keypoints2d, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    ok = np.isfinite(X).all(-1) & np.isfinite(x).all(-1) & (w > 0)
    w = np.where(ok, w, 0.0)
    X = np.where(ok[..., None], X, 0.0)
    x = np.where(ok[..., None], x, 0.0)
    W = w.sum(-1)
    Wd = np.maximum(W, 1e-300)[..., None, None]
    X = X - (w[..., None] * X).sum(-2, keepdims=True) / Wd
    x = x - (w[..., None] * x).sum(-2, keepdims=True) / Wd
    wX = w[..., None] * X
    A = np.einsum("...ja,...jb->...ab", wX, x)
    C = np.einsum("...ja,...jb->...ab", wX, X)
    S = (w * (x ** 2).sum(-1)).sum(-1)
    W = np.where(ok.sum(-1) >= MIN_JOINTS, W, 0.0)
    return A, C, S, W


def residuals(mats, A, C, S) -> np.ndarray:
    """(K, ...) normalised residual r of each camera matrix (K, 2, 3) on each pair's statistics (...)."""
    M = np.asarray(mats, dtype=np.float64)
    K = M.shape[0]
    A, C, S = np.asarray(A), np.asarray(C), np.asarray(S)
    shape = S.shape
    num = M.reshape(K, 6) @ np.swapaxes(A, -1, -2).reshape(-1, 6).T          # tr(M A)
    G = np.einsum("kab,kac->kbc", M, M).reshape(K, 9)                       # M^T M
    den = G @ C.reshape(-1, 9).T                                             # tr(M C M^T)
    Sf = S.reshape(1, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = 1.0 - num ** 2 / (den * Sf)
    r = np.where((num > 0) & (den > 0) & (Sf > 0), r, 1.0)
    return np.clip(r, 0.0, 1.0).reshape((K,) + shape)


def _grid(yaws, pitches):
    yy, pp = np.meshgrid(np.asarray(yaws, float), np.asarray(pitches, float), indexing="ij")
    return yy.ravel(), pp.ravel()


def coarse_grid(pitch_range=PITCH_RANGE):
    lo, hi = _check_pitch_range(pitch_range)
    pitches = np.unique(np.clip(np.append(np.arange(lo, hi + 1e-9, PITCH_STEP), [0.0, hi]), lo, hi))
    return _grid(np.arange(-180.0 + YAW_STEP, 180.0 + 1e-9, YAW_STEP), pitches)


def _check_pitch_range(pitch_range):
    try:
        lo, hi = (float(v) for v in pitch_range)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"pitch_range: expected (low, high) degrees, got {pitch_range!r}") from None
    if not (-90.0 < lo <= hi < 90.0):
        raise InvalidArgumentError(f"pitch_range: expected -90 < low <= high < 90 degrees, got {pitch_range!r}")
    return lo, hi


def _refine(A, C, S, W, yaw: float, pitch: float, pitch_range) -> tuple[float, float, float]:
    """Best (yaw, pitch, weighted mean residual) on the finer grids around (yaw, pitch)."""
    lo, hi = _check_pitch_range(pitch_range)
    wn = W / W.sum()
    best = None
    for half, step in REFINE:
        offs = np.arange(-half, half + step / 2, step)
        ys, ps = _grid(yaw + offs, np.clip(pitch + offs, lo, hi))
        cost = residuals(camera_matrix(ys, ps), A, C, S) @ wn
        i = int(np.argmin(cost))
        yaw, pitch, best = float(ys[i]), float(ps[i]), float(cost[i])
    return wrap_degrees(yaw), pitch, best


def fit_camera(points3d, keypoints2d, weights=None, *, pitch_range=PITCH_RANGE, yaw=None, pitch=None) -> Camera:
    """The orthographic camera that best shows ``points3d`` (T, J, 3) as ``keypoints2d`` (T, J, 2) frame by
    frame (matched pairs; NaN = missing; ``weights`` (T, J), default 1 where both are present).

    ``yaw``/``pitch``: a starting camera (then only the fine grids around it are searched). Scale and
    translation are the least-squares ones over all pairs at the fitted angles."""
    X = _points(points3d)
    x = np.asarray(keypoints2d, dtype=np.float64)
    if x.shape != X.shape[:-1] + (2,):
        raise InvalidArgumentError(f"keypoints2d: expected shape {X.shape[:-1] + (2,)} to match points3d, "
                                   f"got {x.shape}")
    if X.ndim == 2:
        X, x = X[None], x[None]
    w = np.ones(X.shape[:-1]) if weights is None else np.asarray(weights, dtype=np.float64).reshape(X.shape[:-1])
    A, C, S, W = pair_stats(X, x, w)
    use = W > 0
    if not use.any():
        raise InvalidPoseError(f"camera fit: no frame pair has {MIN_JOINTS} or more joints present in both")
    A, C, S, W = A[use], C[use], S[use], W[use]
    if yaw is None or pitch is None:
        ys, ps = coarse_grid(pitch_range)
        cost = residuals(camera_matrix(ys, ps), A, C, S) @ (W / W.sum())
        i = int(np.argmin(cost))
        yaw, pitch = ys[i], ps[i]
    yaw, pitch, res = _refine(A, C, S, W, float(yaw), float(pitch), pitch_range)
    return _with_scale(X[use], x[use], w[use], yaw, pitch, res, int(use.sum()))


def _with_scale(X, x, w, yaw, pitch, res, pairs) -> Camera:
    """The camera with its least-squares scale and translation (one for all pairs) at ``yaw``/``pitch``."""
    P = project(X, yaw, pitch)
    ok = np.isfinite(P).all(-1) & np.isfinite(x).all(-1) & (w > 0)
    ww = np.where(ok, w, 0.0)
    P, x = np.where(ok[..., None], P, 0.0), np.where(ok[..., None], x, 0.0)
    sw = ww.sum()
    mp = (ww[..., None] * P).sum((0, 1)) / sw
    mx = (ww[..., None] * x).sum((0, 1)) / sw
    num = (ww[..., None] * (P - mp) * (x - mx)).sum()
    den = (ww[..., None] * (P - mp) ** 2).sum()
    s = float(num / den) if den > 0 else 1.0
    t = mx - s * mp
    return Camera(float(yaw), float(pitch), s, float(t[0]), float(t[1]), float(res), pairs)


def sample_times(times, step: float, t0: float, n: int) -> np.ndarray:
    """Indices of the frames nearest to ``t0 + k * step`` (k < n) within ``times``."""
    times = np.asarray(times, dtype=np.float64)
    want = t0 + step * np.arange(n)
    want = want[want <= times[-1] + step / 2]
    i = np.clip(np.searchsorted(times, want), 1, len(times) - 1)
    i = np.where(np.abs(times[i - 1] - want) <= np.abs(times[i] - want), i - 1, i)
    return np.unique(i)


def dtw_open_user(cost) -> np.ndarray:
    """(K,) DTW costs of (K, U, R) cost matrices: the path covers every column (reference frame) r = 0..R-1,
    starts and ends at any row (user frame; the user's extra frames at both ends are free), steps
    (1, 0), (0, 1), (1, 1); cost = sum over the path's cells / R. Vectorised over K and over r (each row
    is a cumulative-minimum scan)."""
    c = np.asarray(cost, dtype=np.float64)
    K, U, R = c.shape
    best = np.full(K, np.inf)
    prev = None
    for u in range(U):
        row = c[:, u]
        cs = np.cumsum(row, axis=1)
        m = np.full((K, R), np.inf)
        m[:, 0] = 0.0                      # a path may start at (u, 0)
        if prev is not None:
            m[:, 1:] = np.minimum(prev[:, :-1], prev[:, 1:])     # from (u-1, r-1) or (u-1, r)
            m[:, 0] = np.minimum(0.0, prev[:, 0])
        shifted = np.concatenate([np.zeros((K, 1)), cs[:, :-1]], axis=1)
        cur = cs + np.minimum.accumulate(m - shifted, axis=1)
        best = np.minimum(best, cur[:, -1])
        prev = cur
    return best / R


def dtw_path_open_user(cost) -> np.ndarray:
    """(P, 2) (user row, reference column) pairs of the cheapest path of one (U, R) cost matrix
    under the rules of :func:`dtw_open_user`."""
    c = np.asarray(cost, dtype=np.float64)
    U, R = c.shape
    D = np.full((U, R), np.inf)
    for u in range(U):
        for r in range(R):
            if r == 0:
                prev = 0.0 if u == 0 else min(0.0, D[u - 1, 0])
            else:
                prev = min(D[u, r - 1], D[u - 1, r - 1] if u else np.inf, D[u - 1, r] if u else np.inf)
            D[u, r] = c[u, r] + prev
    u, r = int(np.argmin(D[:, R - 1])), R - 1
    path = [(u, r)]
    while r > 0:
        cands = [(D[u, r - 1], u, r - 1)]
        if u:
            cands += [(D[u - 1, r - 1], u - 1, r - 1), (D[u - 1, r], u - 1, r)]
        _, u, r = min(cands)
        path.append((u, r))
    return np.array(path[::-1], dtype=np.int64)


@dataclass(frozen=True)
class SequenceFit:
    """What :func:`fit_sequence_camera` found: the camera, the DTW cost of the coarse alignment under it
    (mean normalised residual per reference frame) and the (user frame, reference frame) pairs used."""

    camera: Camera
    alignment_cost: float
    pairs: np.ndarray


def fit_sequence_camera(points3d, ref_times, keypoints2d, user_weights, user_times, *, ref_weights=None,
                        pitch_range=PITCH_RANGE, max_frames: int = MAX_FIT_FRAMES) -> SequenceFit:
    """Fit one camera for a 3D reference (Tr, J, 3) and a 2D user (Tu, J, 2) that are not matched in time.

    Both are sampled every ``max(durations) / (max_frames - 1)`` seconds (at most MAX_FIT_STEP; a longer
    user is fitted on its central window of max_frames samples, against the reference's stretch that the
    proportional time map puts inside it, shrunk by WINDOW_SHRINK); under each coarse camera the
    samples are aligned by :func:`dtw_open_user` on the per-pair residual; the cheapest alignment's pairs
    are refined by :func:`fit_camera`. See the module doc."""
    X = _points(points3d, "reference 3D joints")
    x = np.asarray(keypoints2d, dtype=np.float64)
    wu = np.asarray(user_weights, dtype=np.float64)
    wr = np.isfinite(X).all(-1).astype(np.float64) if ref_weights is None else np.asarray(ref_weights, float)
    tr, tu = np.asarray(ref_times, float), np.asarray(user_times, float)
    n = max(int(max_frames), 2)
    dur = max(tr[-1] - tr[0], tu[-1] - tu[0], 1e-9)
    step = min(dur / (n - 1), MAX_FIT_STEP)
    u0, r0 = tu[0], tr[0]
    if dur > step * (n - 1):
        # long sequences: a central window of the user, and the reference's central stretch that the
        # proportional time map puts inside it (shrunk, so the user's open ends absorb delay and speed)
        span = step * (n - 1)
        u0 = tu[0] + (tu[-1] - tu[0] - span) / 2
        rate = (tr[-1] - tr[0]) / max(tu[-1] - tu[0], 1e-9)
        r_span = min(span * WINDOW_SHRINK * rate, span)
        r0 = tr[0] + (tr[-1] - tr[0] - r_span) / 2
        ri = sample_times(tr, step, r0, int(r_span / step) + 1)
    else:
        ri = sample_times(tr, step, r0, n)
    ui = sample_times(tu, step, u0, n)
    ri = ri[(wr[ri] > 0).sum(-1) >= MIN_JOINTS]
    ui = ui[(wu[ui] > 0).sum(-1) >= MIN_JOINTS]
    if len(ri) == 0 or len(ui) == 0:
        raise InvalidPoseError(f"camera fit: the {'reference' if len(ri) == 0 else 'user'} has no frame with "
                               f"{MIN_JOINTS} or more joints")
    # every (user sample, reference sample) pair: (U, R, J, ...)
    A, C, S, W = pair_stats(X[ri][None], x[ui][:, None], wu[ui][:, None] * wr[ri][None])
    ys, ps = coarse_grid(pitch_range)
    mats = camera_matrix(ys, ps)
    res = np.where(W > 0, residuals(mats, A, C, S), 1.0)        # (K, U, R)
    costs = dtw_open_user(np.sqrt(res))
    k = int(np.argmin(costs))
    path = dtw_path_open_user(np.sqrt(res[k]))
    pu, pr = ui[path[:, 0]], ri[path[:, 1]]
    cam = fit_camera(X[pr], x[pu], wu[pu] * wr[pr], pitch_range=pitch_range, yaw=ys[k], pitch=ps[k])
    # the samples pair frames up to half a step apart in the motion: re-pair each user sample with the
    # reference frame within a step of its partner that the camera shows best, and refit
    half = int(np.ceil(max(step, REPAIR_SECONDS) / max(float(np.median(np.diff(tr))), 1e-9))) if len(tr) > 1 else 0
    for _ in range(REPAIR_ROUNDS if half else 0):
        cand = np.clip(pr[:, None] + np.arange(-half, half + 1)[None], 0, len(X) - 1)     # (P, 2h+1)
        a, c, s_, w_ = pair_stats(X[cand], x[pu][:, None], wu[pu][:, None] * wr[cand])
        r = np.where(w_ > 0, residuals(camera_matrix(cam.yaw, cam.pitch)[None], a, c, s_)[0], 2.0)
        pr = cand[np.arange(len(cand)), np.argmin(r, axis=1)]
        cam = fit_camera(X[pr], x[pu], wu[pu] * wr[pr], pitch_range=pitch_range, yaw=cam.yaw, pitch=cam.pitch)
    return SequenceFit(cam, float(costs[k]), np.stack([pu, pr], 1))
