"""Live scoring: push the user's frames one at a time, get a running score.

:class:`ScoreSession` does online what :func:`~posesearch.sequence.score.score_sequence` does offline,
with memory and per-frame work bounded by the reference length (never by how long the stream runs):

* each pushed frame (K, 3 array at time t) is converted to COCO-17 and smoothed causally
  (:class:`~posesearch.sequence.smooth.OnlineSmoother`: the Kalman filter without the RTS pass, or
  One Euro);
* it is resampled onto the reference-rate grid ``t_0 + i / fps_ref`` between the previous frame and
  this one (``hold`` or ``linear``; ``cubic`` falls back to linear, which needs no future frame;
  a keypoint missing in the new frame stays missing on the grid points before it, where the
  offline resampler could still bridge the gap once it reappears);
* every grid frame advances an open-begin DTW by one column over all reference frames (the same
  recursion and tie-breaking as the offline DTW, without a band, since the stream's length is
  unknown): O(Tr K) work and O(Tr) memory per mirror state. Each cell carries the statistics of its
  best path, so the score of the best path ending at any reference frame is known without keeping
  the path;
* the current position is the reference frame whose best path has the lowest mean cost per step;
  the running score is the mean moment score of that path over the reference frames covered so far
  (moments judged by the recorded frames as offline: the grid frame nearest each pushed frame with a
  pose; see ``ScoreSettings.moments_from``; a cell carries what the interpolation needs: the last
  judged moment and the count and index sum of the unjudged ones since),
  and :attr:`ScoreSession.final_score` is the offline definition (the best path that reached the last
  reference frame, over all reference frames; unreached frames score 0);
* a push that would emit more than ``settings.max_frames`` grid frames at once (a frame 10^6 s after
  the last, a reference at 1e9 fps) is refused with a one-line error before any work, and the session
  stays usable; pushed coordinates are moved into the unit coordinates of the first frame with a pose (as
  offline, so coordinates of 1e-300 or 1e200 score as any others; offline's origin is the same, its unit a
  power of two apart, an exact factor);
* with ``mirror="auto"`` the plain and mirrored user (x -> -x, as offline) run side by side and the lower mean
  cost wins;
* joints are compared as offline (joints either layout lacks are left out); the smoothing scale is
  the first frame's size (offline: the median over the sequence);
* a grid frame counts as recorded as offline (the one nearest a pushed frame with a pose), except when
  it was already emitted: a user faster than the reference whose frame without any pose is followed,
  within half a grid step, by one with a pose leaves that grid frame unjudged live, judged offline.

The per-joint information of an update is that of the current pair (user frame, matched reference
frame): the joint errors and their scores.

Live against offline: :meth:`ScoreSession.report` is the final report, computed at the end by the
offline scorer from every frame pushed (as pushed), so it equals ``score_sequence`` of the same frames with the
same settings exactly, whatever the settings (with a 3D reference and ``view`` auto / 3d-fit, report() fits
the camera on the frames pushed, as score_sequence does; the running score compares the reference's own 2D
view, since no camera can be fitted before the user has moved). The running score is causal; its end value
:attr:`ScoreSession.final_score` equals ``score_sequence(reference, user,
settings).score`` to 1e-9 when both see the same inputs: ``smooth="none"``, ``band=None``, ``interp``
"linear" or "hold", and every pushed frame has every joint of its layout. The DTW then gets the offline
frame features bit for bit (tests/test_sequence_stream.py), which it needs: two optimal paths can cost the
same up to rounding (a user frame without a pose against a held one, both at the missing cost) and score
a point apart, and only equal bits make live and offline break such a tie alike. Otherwise the live score is
lower: the causal Kalman filter against Kalman + RTS offline (and the offline band), and joints missing in a
pushed frame are not bridged (above). Measured on six 5 s CMU segments degraded as a webcam user: default
settings 2.2-2.8 points lower live; 10% of the user's joints missing 7.3-9.6 lower
(tests/test_live_vs_offline.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidArgumentError, InvalidPoseError
from ..poses.layouts import COCO17_JOINTS, Layout, get_layout
from ..poses.pose import first_bad_value
from .align import MAX_HOLD
from .framedist import (MIN_COMMON, NO_REFERENCE_SHORTCUT, NO_SHORTCUT, FrameFeatures, features_from_arrays, restrict_joints,
                        shortcut_inputs)
from .score import ScoreSettings, nearest_grid_index, prepare_reference
from .smooth import OnlineSmoother, to_unit, unit_frame
from .resample import TIME_TOLERANCE, grid_length, too_many_frames


@dataclass
class StreamUpdate:
    """What :meth:`ScoreSession.push` returns.

    score: running score (mean moment score over the reference frames covered so far), or None
        before any grid frame was scored.
    position: index of the reference frame the user is at; ref_time: its time (s).
    progress: fraction of the reference covered (position + 1) / Tr.
    moment_score: score of the current pair; joint_scores: COCO joint -> score of the current pair
        (None = not seen in both); mirrored: the mirror state currently preferred.
    frames: user frames pushed; grid_frames: reference-rate frames scored.
    reps: with ``ScoreSession(reps=RepSettings(...))``, the reps completed so far (None without);
    new_reps: those this push completed, each a :class:`~posesearch.sequence.reps.Rep` (score, worst
    joints, angle and timing feedback; ``.to_dict()``).
    """

    score: float | None
    position: int
    ref_time: float
    progress: float
    moment_score: float | None
    joint_scores: dict[str, float | None]
    mirrored: bool
    frames: int
    grid_frames: int
    reps: int | None = None
    new_reps: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["new_reps"] = [r.to_dict() for r in self.new_reps]
        return d


def _mean_cost(end: np.ndarray) -> float:
    """Alignment cost per step of a path's statistics column (NSTAT, 1)."""
    from ._align_kernels import ST_C, ST_L

    return float(end[ST_C, 0] / end[ST_L, 0])


class _DPState:
    """One mirror state's DTW column and path statistics (all O(Tr))."""

    def __init__(self, tr: int):
        from ._align_kernels import NSTAT, ST_C

        self.cols = np.zeros((NSTAT, tr))     # the last column's path statistics (rows ST_*)
        self.new = np.zeros((NSTAT, tr))
        self.cols[ST_C] = np.inf
        self.first = True
        self.last_u = None         # features of the last grid frame
        self.keep = None           # joints compared (the reference has them and the user's layout can)
        self.ref_features = None
        self.ref_t = self.ref_wt = None   # ref_features transposed for the kernel: (K, 2, Tr) points, (K, Tr) weights
        self.ref_shortcut = None          # framedist.shortcut_inputs of ref_features (procrustes)
        self.end_stats = np.zeros((NSTAT, 1))   # the best path ending at the last reference frame (the kernel's)
        self.end_stats[ST_C] = np.inf

    @property
    def end(self) -> np.ndarray | None:
        """Statistics (NSTAT, 1) of the best path ending at the last reference frame; None before one does."""
        from ._align_kernels import ST_C

        return self.end_stats if np.isfinite(self.end_stats[ST_C, 0]) else None

    def nbytes(self) -> int:
        return self.cols.nbytes + self.new.nbytes


class _LiveBuffers:
    """Scratch arrays of :func:`._align_kernels.live_columns`, made once per session (O(Tr))."""

    def __init__(self, tr: int, settings: ScoreSettings):
        from ._align_kernels import ACC_SIZE, NCHUNK

        self.tr = tr
        self.ps = np.zeros(tr)
        self.acc = np.zeros(ACC_SIZE)
        self.lo = np.zeros(NCHUNK, np.int64)
        self.hi = np.full(NCHUNK, tr, np.int64)
        self._rows = np.empty((0, tr))
        self.max_rot = math.radians(float(settings.max_rotation))
        pen = settings.penalty
        self.penalty = -1.0 if pen is None else float(pen)
        self.d50, self.slope = float(settings.curve.d50), float(settings.curve.slope)

    def rows(self, n: int) -> np.ndarray:
        """(n, Tr) scratch distance rows, reused from push to push (grown when a push brings more frames)."""
        if n > len(self.lo):
            self.lo = np.zeros(n, np.int64)
            self.hi = np.full(n, self.tr, np.int64)
        if n > len(self._rows):
            self._rows = np.empty((n, self.tr))
        return self._rows[:n]


def _view_of(reference, settings: ScoreSettings, ref_fps):
    """(the reference Sequence when ``settings.view`` needs the whole user to fit a camera, else None;
    the report's view record for the 2D case)."""
    from .io import as_sequence
    from .view import resolve_view, view_reference

    seq = as_sequence(reference, layout=settings.layout, fps=ref_fps, name="reference")
    mode, _ = resolve_view(settings.view, seq)
    if mode != "2d":
        return seq, None
    return None, view_reference(seq, None, settings.view, settings.mirror)[1]


def rows_with_missing(keypoints):
    """A JSON-like pose's rows with each ``None`` (null: a missing joint, as in pose files) made ``[0, 0, 0]``
    (confidence 0: missing); anything else unchanged."""
    if isinstance(keypoints, (list, tuple)) and any(r is None for r in keypoints):
        return [(0.0, 0.0, 0.0) if r is None else r for r in keypoints]
    return keypoints


class ScoreSession:
    """Score a live user stream against ``reference`` (see the module doc).

    reference: Sequence, path, corpus Clip or (T, K, 3) array (as :func:`score_sequence`).
    layout: layout of the pushed frames (default: ``settings.layout``, else inferred from K at the
        first push).
    reps: a :class:`~posesearch.sequence.reps.RepSettings` to also find repetitions of the reference as they
        complete (each update's ``reps`` / ``new_reps``, and :attr:`completed_reps`; see
        :class:`~posesearch.sequence.reps.RepTracker`); report() is unaffected.
    keep_frames: keep every pushed frame (about 500 bytes each, at most ``settings.max_frames`` of them) so
        that :meth:`report` can score them offline at the end; with False the memory is the DTW state
        alone, whatever the stream's length, and only the causal :attr:`final_score` is available.
    """

    def __init__(self, reference, settings: ScoreSettings = ScoreSettings(), *, ref_fps: float | None = None,
                 layout: "str | Layout | None" = None, keep_frames: bool = True, reps=None):
        self.settings = st = settings
        self.ref = prepare_reference(reference, st, fps=ref_fps)
        self._view_reference, self._view_info = _view_of(reference, st, ref_fps)
        self.fps = self.ref.fps
        self.tr = len(self.ref.seq)
        lay = layout if layout is not None else st.layout
        self.layout: Layout | None = get_layout(lay) if lay is not None else None
        self._ref_valid = self.ref.features.valid.copy()
        self._n_valid = int(self._ref_valid.sum())
        self._states = {m: _DPState(self.tr) for m in {"off": [False], "on": [True], "auto": [False, True]}[st.mirror]}
        self._smoother: OnlineSmoother | None = None
        self._t_last: float | None = None
        self._t0: float | None = None
        self._grid_next = 0                 # index of the next grid time to emit
        self._recorded: set[int] = set()    # grid indices nearest a pushed frame with a pose, not yet emitted
                                            # (at most one: the next grid frame)
        self._last_kp: np.ndarray | None = None   # (K, 2) last present value per keypoint (COCO)
        self._last_cf: np.ndarray | None = None
        self._last_t: np.ndarray | None = None    # (K,) time of that value (NaN = never)
        self._origin, self._unit = np.zeros(2), 1.0   # unit coordinates, fixed at the first frame with a pose
        self._unit_fixed = False                      # (as offline: every step is invariant to moving and scaling)
        self.frames = 0
        self.grid_frames = 0
        self._update: StreamUpdate | None = None
        self._live: _LiveBuffers | None = None     # scratch of the live kernel, made at the first grid frame
        # every accepted frame as pushed (its layout, [x, y, c]) and its time: report() scores them offline
        self.keep_frames = bool(keep_frames)
        self._pushed: list[np.ndarray] = []
        self._pushed_t: list[float] = []
        self._reps_settings = reps
        self._rep_tracker = None
        if reps is not None:
            from .reps import RepSettings

            if not isinstance(reps, RepSettings):
                raise InvalidArgumentError(f"reps: expected RepSettings or None, got {type(reps).__name__}")
            if reps.score != st:
                raise InvalidArgumentError("reps: its score settings must be the session's (RepSettings(score="
                                           "settings))")

    # ------------------------------------------------------------------------------------ input
    def _coco_frame(self, keypoints, t) -> tuple[np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
        """``(COCO keypoints, confidences, t, the frame's own keypoints and confidences)``, checked;
        ``keypoints``: as push gives them (null rows already made missing by :func:`rows_with_missing`)."""
        try:
            raw = np.asarray(keypoints)
        except (TypeError, ValueError):
            raise InvalidPoseError(f"frame {self.frames}: expected a (K, 3) array of [x, y, confidence] rows (null: "
                                   f"missing), got a {type(keypoints).__name__} of uneven rows") from None
        if raw.dtype.kind not in "fiu":   # complex would lose its imaginary part, bool / str are not numbers
            raise InvalidPoseError(f"frame {self.frames}: keypoints: expected real numbers, got dtype {raw.dtype}")
        a = np.array(raw, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 3:
            raise InvalidPoseError(f"frame {self.frames}: expected a (K, 3) array of [x, y, confidence], got shape {a.shape}")
        if self.layout is None:
            from ..poses.layouts import layout_for_count

            self.layout = layout_for_count(a.shape[0])
        if a.shape[0] != self.layout.num_keypoints:
            raise InvalidPoseError(f"frame {self.frames}: expected {self.layout.num_keypoints} keypoints "
                                   f"({self.layout.name}), got {a.shape[0]}")
        if isinstance(t, (bool, np.bool_, str, bytes)):
            raise InvalidArgumentError(f"frame {self.frames}: t: expected seconds (a number), got {t!r}")
        try:
            t = float(t)
        except (TypeError, ValueError, OverflowError):
            raise InvalidArgumentError(f"frame {self.frames}: t: expected seconds, got {str(t)[:40]}") from None
        if not math.isfinite(t):
            raise InvalidArgumentError(f"frame {self.frames}: t: expected a finite time, got {t}")
        if self._t_last is not None and not t > self._t_last:
            raise InvalidArgumentError(f"frame {self.frames}: times must increase; t = {t:g} after {self._t_last:g}")
        kp, cf = a[:, :2], a[:, 2]
        bad = first_bad_value(kp, cf)
        if bad is not None:
            raise InvalidPoseError(f"frame {self.frames}: {bad[1]} at keypoint {bad[0][0]}")
        cf = np.where(np.isnan(kp).any(axis=1), 0.0, cf)
        own_kp = kp = np.where(cf[:, None] > 0, kp, 0.0)
        own_cf = cf
        kp, cf = self.layout.convert_to_coco(kp, cf)
        kp = np.where(cf[:, None] > 0, np.nan_to_num(kp), 0.0)
        return kp, np.asarray(cf, dtype=np.float64), t, own_kp, own_cf

    def _grid_frames(self, kp, cf, t):
        """Grid frames in (previous frame, t] interpolated between the last samples and this frame, each
        with whether it is the grid frame nearest a recorded one (see ScoreSettings.moments_from)."""
        st = self.settings
        i = int(nearest_grid_index(t, self._t0, self.fps))
        if (cf > 0).any() and i >= self._grid_next:   # an earlier index was emitted with the previous frame
            self._recorded.add(i)
        out = []
        # at most the grid frames up to t (checked against max_frames in push), also counted from t0: for a
        # huge t0 (1e200 s, or nanoseconds given as seconds) t0 + i / fps == t0 never exceeds t
        todo = grid_length(self._t0, t + TIME_TOLERANCE, self.fps) - self._grid_next + 1
        for _ in range(int(min(todo, st.max_frames + 1))):
            g = self._t0 + self._grid_next / self.fps
            if g > t + TIME_TOLERANCE or self._grid_next / self.fps > (t - self._t0) + TIME_TOLERANCE:
                break
            self._grid_next += 1
            gk = np.zeros_like(kp)
            gc = np.zeros_like(cf)
            exact = abs(g - t) <= TIME_TOLERANCE
            for_now = cf > 0
            if exact:
                gk[for_now] = kp[for_now]
                gc[for_now] = cf[for_now]
            else:
                ta = self._last_t
                ok = for_now & np.isfinite(ta) & ((t - ta) <= st.max_gap) & (ta <= g + TIME_TOLERANCE)
                if st.interp == "hold":
                    gk[ok] = self._last_kp[ok]
                    gc[ok] = self._last_cf[ok]
                else:
                    w = np.where(ok, (g - ta) / np.where(ok, t - ta, 1.0), 0.0)
                    gk[ok] = (1 - w[ok, None]) * self._last_kp[ok] + w[ok, None] * kp[ok]
                    gc[ok] = (1 - w[ok]) * self._last_cf[ok] + w[ok] * cf[ok]
            i = self._grid_next - 1
            seen = st.moments_from == "grid" or i in self._recorded
            self._recorded.discard(i)
            out.append((gk, gc, seen))
        pres = cf > 0
        self._last_kp[pres] = kp[pres]
        self._last_cf[pres] = cf[pres]
        self._last_t[pres] = t
        return out

    # ------------------------------------------------------------------------------------- core
    def push(self, keypoints, t: float) -> StreamUpdate:
        """Add one user frame ((K, 3) [x, y, confidence] at time ``t`` seconds); returns the update."""
        keypoints = rows_with_missing(keypoints)
        kp, cf, t, own_kp, own_cf = self._coco_frame(keypoints, t)
        raw = np.array(keypoints, dtype=np.float64)      # validated by _coco_frame: real (K, 3) numbers
        st = self.settings
        if self._t0 is not None:
            # one frame far after the last (or a reference at 1e9 fps) would emit billions of grid frames
            n = grid_length(self._t0, t, self.fps) - self._grid_next
            if n > st.max_frames:
                raise too_many_frames(f"frame {self.frames}", n, st.max_frames,
                                      f"t = {t:g} s is {t - self._t_last:.6g} s after the previous frame; at the "
                                      f"reference's {self.fps:.6g} fps that is ")
        if not self._unit_fixed and (own_cf > 0).any():
            # the unit frame of the first frame with a pose, in the pushed layout (offline: normalized with
            # first_origin, whose unit differs from this one by an exact power of two)
            self._origin, self._unit = unit_frame(own_kp, own_cf > 0)
            self._unit_fixed = True
        kp = np.where(cf[:, None] > 0, to_unit(kp, self._origin, self._unit), 0.0)
        if self._smoother is None:
            pres = cf > 0
            if pres.sum() >= 2:
                span = np.hypot(np.ptp(kp[pres, 0]), np.ptp(kp[pres, 1]))
            else:
                span = 0.0
            scale = span if span > 0 else 1.0
            self._smoother = OnlineSmoother(17, scale, st.smooth, kalman=st.kalman, one_euro=st.one_euro)
            # joints the user's layout cannot provide are left out on both sides (as offline)
            from ..poses.layouts import COCO17

            avail = np.asarray(self.layout.to_coco) >= 0
            for m, state in self._states.items():
                keep = self.ref.available & (avail[np.asarray(COCO17.flip)] if m else avail)
                state.keep = keep
                state.ref_features = restrict_joints(self.ref.features, keep)
                state.ref_t = np.ascontiguousarray(state.ref_features.points.transpose(1, 2, 0))  # (K, 2, Tr)
                state.ref_wt = np.ascontiguousarray(state.ref_features.weights.T)                 # (K, Tr)
                state.ref_shortcut = (shortcut_inputs(state.ref_features, "reference")
                                      if st.distance == "procrustes" else NO_REFERENCE_SHORTCUT)
            self._t0 = t
            self._last_kp = np.zeros((17, 2))
            self._last_cf = np.zeros(17)
            self._last_t = np.full(17, np.nan)
        kp = self._smoother.step(kp, cf, t)
        self.frames += 1
        self._t_last = t
        if self.keep_frames and len(self._pushed) <= st.max_frames:   # one more than the scorer takes (report)
            self._pushed.append(raw)
            self._pushed_t.append(t)
        self._advance(self._grid_frames(kp, cf, t))
        new_reps = []
        if self._reps_settings is not None:
            if self._rep_tracker is None:
                from .reps import RepTracker

                self._rep_tracker = RepTracker(self.ref, self._reps_settings, self.layout)
            new_reps = self._rep_tracker.push(raw, t)
        n_reps = None if self._rep_tracker is None else len(self._rep_tracker.done)
        if self._update is None:
            return StreamUpdate(None, 0, float(self.ref.seq.times[0]), 0.0, None, {}, False, self.frames, 0,
                                n_reps, new_reps)
        self._update.frames = self.frames
        self._update.reps = n_reps
        self._update.new_reps = new_reps
        return self._update

    def finish_reps(self) -> list:
        """At the end of the stream: the reps completed by its last frames (not reported by a push, since no
        frame followed them); afterwards :attr:`completed_reps` holds every rep."""
        return [] if self._rep_tracker is None else self._rep_tracker.flush()

    @property
    def completed_reps(self) -> list:
        """The reps completed so far (``reps=RepSettings(...)`` sessions; else an empty list)."""
        return [] if self._rep_tracker is None else list(self._rep_tracker.done)

    def _advance(self, frames: list) -> None:
        """Score the grid frames ``frames`` ((keypoints, confidences, seen) each, in order): per mirror state
        one kernel call (:func:`._align_kernels.live_columns`: every frame's distances to all reference
        frames, its pair scores and its DTW column); the update is that of the last frame (what it
        reports only depends on that frame and the columns)."""
        from . import _align_kernels as kern

        if not frames:
            return
        st = self.settings
        n = len(frames)
        gk = np.stack([f[0] for f in frames])
        gc = np.stack([f[1] for f in frames])
        seen = np.array([f[2] for f in frames], dtype=np.bool_)
        if self._live is None:
            self._live = _LiveBuffers(self.tr, st)
        buf = self._live
        states = list(self._states)
        if True in states:
            from ..poses.mirror import mirror

            mk, mc = mirror(gk, gc, "coco17", axis_sum=0.0)   # x -> -x: as offline (prepare_user)
            mk = np.where(mc[..., None] > 0, mk, 0.0)
        # the features of every state's frames in one call: [as recorded; mirrored] as the states need them
        ks = np.concatenate([mk if m else gk for m in states])
        cs = np.concatenate([mc if m else gc for m in states])
        feats = features_from_arrays(ks, cs, st.distance)
        best = None
        for i, (m, s) in enumerate(self._states.items()):
            part = slice(i * n, (i + 1) * n)
            fu = restrict_joints(FrameFeatures(feats.points[part], feats.weights[part], feats.valid[part],
                                               feats.distance), s.keep)
            d = buf.rows(n)
            swapped, r, cost = kern.live_columns(
                fu.points, fu.weights, s.ref_t, s.ref_wt, buf.lo[:n], buf.hi[:n], buf.max_rot, MIN_COMMON,
                buf.penalty, st.distance == "procrustes", buf.d50, buf.slope, seen, self._ref_valid,
                float(st.missing), s.first, s.cols, s.new, MAX_HOLD, s.end_stats, d, buf.ps, buf.acc,
                shortcut_inputs(fu, "user") if st.distance == "procrustes" else NO_SHORTCUT, s.ref_shortcut)
            if swapped:
                s.cols, s.new = s.new, s.cols
            s.first = False
            s.last_u = FrameFeatures(fu.points[n - 1:], fu.weights[n - 1:], fu.valid[n - 1:], fu.distance)
            if best is None or cost < best[0]:
                best = (cost, m, r)
        self.grid_frames += n
        _, m, r = best
        s = self._states[m]
        curve = st.curve
        num, den = self._path_totals(s.cols, r)
        score = float(num / den) if den > 0 else None
        err = np.empty(17)
        dist = kern.pair_detail(s.last_u.points[0], s.last_u.weights[0], s.ref_features.points[r],
                                s.ref_features.weights[r], buf.max_rot, MIN_COMMON, buf.penalty,
                                st.distance == "procrustes", err)
        js = curve.score(err)
        joints = {name: (None if not np.isfinite(js[k]) else float(js[k])) for k, name in enumerate(COCO17_JOINTS)}
        ms = float(curve.score(dist)) if np.isfinite(dist) else 0.0
        self._update = StreamUpdate(score, r, float(self.ref.seq.times[r]), (r + 1) / self.tr, ms, joints,
                                    bool(m), self.frames, self.grid_frames)

    # ----------------------------------------------------------------------------------- results
    @property
    def score(self) -> float | None:
        """The running score (None before the first scored frame)."""
        return None if self._update is None else self._update.score

    @property
    def final_score(self) -> float:
        """The offline definition: best path that reached the last reference frame, mean moment score
        over all valid reference frames (unreached frames 0); if the end was never reached, the
        current best path with the rest counted as 0. Equal to the offline score only under the
        conditions in the module doc (no smoothing, no band, no missing joints); lower otherwise."""
        if self._update is None:
            raise InvalidPoseError("no user frame has been scored yet")
        cands = []
        for m, s in self._states.items():
            if s.end is not None:
                total, _ = self._path_totals(s.end, self.tr - 1, column=0)
                cands.append((_mean_cost(s.end), total / max(self._n_valid, 1)))
        if cands:
            return float(min(cands)[1])
        u = self._update
        s = self._states[u.mirrored]
        total, _ = self._path_totals(s.cols, u.position)
        return float(total / max(self._n_valid, 1))

    def _path_totals(self, stats: np.ndarray, r: int, column: int | None = None) -> tuple[float, float]:
        """(sum, count) of the moment scores of the path whose statistics are column ``column`` (default
        r) of ``stats`` (NSTAT, M), ending at reference frame r, whose moment is finished here: judged by
        the recorded frames, frames after the last judged one taking its score (as offline, where
        interpolation clamps at the ends); by every aligned frame when none of the path's frames was
        judged (as offline)."""
        from . import _align_kernels as kern

        out = np.empty((kern.NSTAT, 1))
        kern.finish_moment(stats, r if column is None else column, r, bool(self._ref_valid[r]), out, 0)
        o = out[:, 0]
        if np.isnan(o[kern.ST_VA]):
            return float(o[kern.ST_S]), float(o[kern.ST_N])
        return (float(o[kern.ST_SO] + o[kern.ST_PC] * o[kern.ST_VA]), float(o[kern.ST_NO] + o[kern.ST_PC]))

    def user_sequence(self):
        """The frames pushed so far, as pushed (their layout, their times), as a :class:`Sequence`."""
        from .sequence import Sequence

        if not self.keep_frames:
            raise InvalidArgumentError("report: this session was made with keep_frames=False, so it kept no frames "
                                       "to score offline; use final_score, or keep_frames=True")
        if not self._pushed:
            raise InvalidPoseError("no user frame has been pushed yet")
        if len(self._pushed) > self.settings.max_frames:
            raise InvalidArgumentError(f"user: {len(self._pushed):,}+ frames pushed, more than "
                                       f"settings.max_frames = {self.settings.max_frames:,} can be scored")
        return Sequence.from_arrays(np.stack(self._pushed), layout=self.layout, times=np.asarray(self._pushed_t),
                                    name="user")

    def report(self):
        """The final :class:`~posesearch.sequence.score.ScoreReport` of every frame pushed so far: the offline
        scorer run on those frames with this session's settings and reference, so it equals
        ``score_sequence(reference, those frames, settings)`` exactly (the running score during the stream is
        causal; see the module doc for how its end value, :attr:`final_score`, can differ). Costs one offline
        scoring (a 60 s pair: ``python benchmarks/bench_live.py``); frames are kept as pushed, 408 bytes each for
        COCO-17."""
        from .score import prepare_user, score_in_view, score_prepared

        if self._view_reference is not None:      # the camera is fitted on the whole performance
            return score_in_view(self._view_reference, self.user_sequence(), self.settings)
        report = score_prepared(self.ref, prepare_user(self.user_sequence(), self.fps, self.settings))
        report.view = dict(self._view_info)
        return report

    @property
    def mirrored(self) -> bool:
        """The mirror state of the final score (or the current one before the end is reached)."""
        ends = [(_mean_cost(s.end), m) for m, s in self._states.items() if s.end is not None]
        if ends:
            return bool(min(ends)[1])
        return bool(self._update.mirrored) if self._update else False

    def state_nbytes(self) -> int:
        """Bytes held by the DTW state (constant for a given reference)."""
        return sum(s.nbytes() for s in self._states.values())
