"""Live scoring: ScoreSession against the offline scorer, bounded state, input errors."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as hst

from posesearch.errors import InvalidArgumentError, InvalidPoseError
from posesearch.sequence import ScoreSettings, score_sequence
from posesearch.sequence.simulate import degrade, synthetic_motion
from posesearch.sequence.stream import ScoreSession


@pytest.fixture(scope="module")
def ref():
    return synthetic_motion(3, 30, seed=2)


def _run(session, user):
    arr = np.nan_to_num(user.as_array())
    up = None
    for i in range(len(user)):
        up = session.push(arr[i], user.times[i])
    return up


@pytest.mark.parametrize("moments_from", ["samples", "grid"])
@pytest.mark.parametrize("interp", ["linear", "hold"])
@pytest.mark.parametrize("mirror", [True, False])
def test_final_score_equals_offline_without_smoothing_or_band(ref, interp, mirror, moments_from):
    """Same recursion as the offline DTW: identical final score when the inputs are identical."""
    user = degrade(ref, fps=10, noise=0.02, delay=0.3, slower=1.2, mirror=mirror, seed=5)
    st = ScoreSettings(smooth="none", band=None, interp=interp, moments_from=moments_from)
    off = score_sequence(ref, user, settings=st)
    s = ScoreSession(ref, st)
    up = _run(s, user)
    assert s.final_score == pytest.approx(off.score, abs=1e-9)
    assert s.mirrored == off.mirrored == mirror
    assert up.frames == len(user) and up.grid_frames == len(off.user_times)
    assert up.position >= len(ref) - 3 and up.progress > 0.95


def test_one_push_making_many_grid_frames_scores_as_offline(ref):
    """A user at 2 fps against a 60 fps reference: each push makes 30 grid frames at once (more than the live
    buffers start with), live as offline."""
    fast = synthetic_motion(6, 60, seed=4)
    user = degrade(fast, fps=2, noise=0.01, delay=0.0, slower=1.0, mirror=False, seed=1)
    st = ScoreSettings(smooth="none", band=None, max_gap=1.0, mirror="auto")
    off = score_sequence(fast, user, settings=st)
    s = ScoreSession(fast, st)
    up = _run(s, user)
    assert up.grid_frames == len(off.user_times) and up.grid_frames > 30 * (len(user) - 1)
    assert s.final_score == pytest.approx(off.score, abs=1e-9)


def test_sparse_perfect_copy_scores_100_live_as_offline():
    """A 10 fps user moving exactly like a fast 30 fps reference: judged on its recorded frames, live
    as offline (irregular frame times, so recorded frames fall between grid frames)."""
    fast = synthetic_motion(4, 30, seed=1, tempo=2.0)
    user = degrade(fast, fps=10, noise=0.0, delay=0.0, slower=1.0, mirror=False)
    arr = user.as_array()
    times = user.times + np.random.default_rng(3).uniform(-0.01, 0.01, len(user)) * (np.arange(len(user)) > 0)
    from posesearch.sequence import Sequence

    user = Sequence.from_arrays(arr, layout=user.layout, times=times)
    for mf in ("samples", "grid"):
        st = ScoreSettings(smooth="none", band=None, mirror="off", moments_from=mf)
        off = score_sequence(fast, user, settings=st)
        s = ScoreSession(fast, st)
        _run(s, user)
        assert s.final_score == pytest.approx(off.score, abs=1e-9)
        if mf == "samples":
            assert off.score >= 99.5
        else:
            assert off.score < 98.5


def _property_case(seed, fps, tempo, slower, n_invalid, mirror):
    """(reference, user) of the live-vs-offline properties: a reference with a stretch of n_invalid frames
    without a pose, a user degraded from the same motion with irregular frame times."""
    from posesearch.sequence import Sequence

    rng = np.random.default_rng(seed)
    ref = synthetic_motion(3, 30, seed=seed, tempo=tempo)
    a = np.nan_to_num(ref.as_array())
    start = int(rng.integers(1, len(a) - n_invalid - 1))
    a[start:start + n_invalid, :, 2] = 0.0          # longer than max_gap: these frames stay without a pose
    ref = Sequence.from_arrays(a, layout=ref.layout, fps=30)
    user = degrade(synthetic_motion(3, 30, seed=seed, tempo=tempo), fps=fps, noise=0.03, delay=0.2,
                   slower=slower, mirror=mirror, seed=seed)
    t = user.times + np.concatenate([[0.0], rng.uniform(-0.2, 0.2, len(user) - 1)]) / fps
    return ref, Sequence.from_arrays(user.as_array(), layout=user.layout, times=t)


_CASES = dict(seed=hst.integers(0, 10_000), fps=hst.floats(4.0, 20.0), tempo=hst.floats(0.5, 2.5),
              slower=hst.floats(0.8, 1.25), n_invalid=hst.integers(9, 20), mirror=hst.booleans())


@settings(max_examples=10, deadline=None)
@given(moments_from=hst.sampled_from(["samples", "grid"]), **_CASES)
@example(seed=2372, fps=4.0, tempo=1.0, slower=0.875, n_invalid=9, mirror=False, moments_from="samples")
def test_live_final_score_equals_offline_property(seed, fps, tempo, slower, n_invalid, mirror, moments_from):
    """Any sparse frame rate, irregular frame times, a stretch of reference frames without a pose (longer
    than max_gap, so it stays; moments judged on each side of it are interpolated across it by index),
    faster or slower, mirrored: the live final score is the offline score (no smoothing, no band, so the
    inputs are identical: test_live_features_are_offline_features_bit_for_bit). The example: two optimal
    paths equal to rounding, with different scores (the features must be the same bits)."""
    ref, user = _property_case(seed, fps, tempo, slower, n_invalid, mirror)
    st = ScoreSettings(smooth="none", band=None, moments_from=moments_from)
    off = score_sequence(ref, user, settings=st)
    s = ScoreSession(ref, st)
    _run(s, user)
    assert s.final_score == pytest.approx(off.score, abs=1e-9)


def _as_body25(seq):
    """``seq`` (COCO-17) in BODY_25: neck and mid-hip between the shoulders and the hips, toes and heels
    beyond the ankles (joints COCO lacks that widen each frame's extent)."""
    from posesearch.poses.layouts import BODY25, COCO17_JOINTS
    from posesearch.sequence import Sequence

    a = np.nan_to_num(seq.as_array())
    j = {n: a[:, COCO17_JOINTS.index(n)] for n in COCO17_JOINTS}
    out = np.zeros((len(a), BODY25.num_keypoints, 3))
    for k, name in enumerate(BODY25.joints):
        side = name.split("_")[0]
        if name in j:
            out[:, k] = j[name]
        elif name in ("neck", "mid_hip"):
            pair = ("left_shoulder", "right_shoulder") if name == "neck" else ("left_hip", "right_hip")
            out[:, k] = 0.5 * (j[pair[0]] + j[pair[1]])
        else:                                              # toes and heels: past the ankle, away from the knee
            step = {"big": 0.4, "small": 0.3, "heel": 0.2}[name.split("_")[1]]
            out[:, k] = j[f"{side}_ankle"] + step * (j[f"{side}_ankle"] - j[f"{side}_knee"])
            out[:, k, 2] = np.minimum(j[f"{side}_ankle"][:, 2], j[f"{side}_knee"][:, 2])
    return Sequence.from_arrays(out, layout=BODY25, times=seq.times)


@settings(max_examples=10, deadline=None)
@given(interp=hst.sampled_from(["linear", "hold"]), distance=hst.sampled_from(["procrustes", "pair-weighted"]),
       layout=hst.sampled_from(["coco17", "body25"]), empty_first=hst.integers(0, 2), **_CASES)
@example(seed=2372, fps=4.0, tempo=1.0, slower=0.875, n_invalid=9, mirror=False, interp="linear",
         distance="procrustes", layout="coco17", empty_first=0)
def test_live_features_are_offline_features_bit_for_bit(seed, fps, tempo, slower, n_invalid, mirror, interp,
                                                        distance, layout, empty_first):
    """Under the module doc's conditions (no smoothing, no band, every joint in every frame) the live session
    gives the DTW the offline features, the same bits, per mirror state: same unit coordinates up to an exact
    power of two (origin at the first pose), the same interpolation onto the same grid, the same mirror
    (x -> -x). Equal costs then choose the same path live and offline however close two paths are. Also when
    the first frames have no pose (empty_first: the unit coordinates are fixed at the first one that has)."""
    import posesearch.sequence.stream as stream
    from posesearch.sequence.score import prepare_user

    ref, user = _property_case(seed, fps, tempo, slower, n_invalid, mirror)
    if layout == "body25":
        user = _as_body25(user)
    if empty_first:
        from posesearch.sequence import Sequence

        a = np.nan_to_num(user.as_array())
        a[:empty_first, :, 2] = 0.0
        user = Sequence.from_arrays(a, layout=user.layout, times=user.times)
    st = ScoreSettings(smooth="none", band=None, interp=interp, distance=distance)
    calls = []
    real = stream.features_from_arrays
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream, "features_from_arrays", lambda k, c, d: calls.append(real(k, c, d)) or calls[-1])
        s = ScoreSession(ref, st)
        _run(s, user)
    off = prepare_user(user, s.fps, st)
    states = list(s._states)
    assert states == list(off.features)
    for i, m in enumerate(states):
        parts = [(f.points[i * len(f.valid) // len(states):(i + 1) * len(f.valid) // len(states)],
                  f.weights[i * len(f.valid) // len(states):(i + 1) * len(f.valid) // len(states)]) for f in calls]
        live_p = np.concatenate([p for p, _ in parts])
        live_w = np.concatenate([w for _, w in parts])
        assert live_p.shape == off.features[m].points.shape
        assert np.array_equal(live_w, off.features[m].weights)
        assert np.array_equal(live_p, off.features[m].points)
def test_close_to_offline_with_default_settings(ref):
    user = degrade(ref, fps=15, noise=0.02, delay=0.3, slower=1.2, mirror=True, seed=8)
    off = score_sequence(ref, user)
    s = ScoreSession(ref)
    up = _run(s, user)
    assert abs(s.final_score - off.score) < 3.0
    assert abs(up.score - off.score) < 5.0
    assert up.mirrored and set(up.joint_scores) >= {"left_wrist", "right_ankle"}


def test_running_score_tracks_progress(ref):
    s = ScoreSession(ref, ScoreSettings(mirror="off"))
    arr = ref.as_array()
    positions = []
    for i in range(0, len(ref), 3):
        up = s.push(arr[i], ref.times[i])
        positions.append(up.position)
        assert up.score == pytest.approx(100, abs=0.5)
    assert positions == sorted(positions) and positions[-1] >= len(ref) - 4
    assert abs(up.ref_time - ref.times[positions[-1]]) < 1e-12


@pytest.mark.parametrize("fps", [30, 60, 13])
def test_memory_is_bounded_on_long_input(ref, fps):
    """An hour-long stream would grow nothing: the state is O(reference), checked over 3000 frames, at
    the reference's rate, faster and slower (the recorded-frame marks never pile up). With keep_frames (the
    default, for report()) the frames kept add ~500 bytes a push and nothing else: checked below too."""
    s = ScoreSession(ref, ScoreSettings(smooth="one-euro"), keep_frames=False)
    arr = ref.as_array()
    n0 = s.state_nbytes()
    t = 0.0
    for i in range(300):                              # warm-up: caches, first allocations
        t += 1 / fps
        s.push(arr[i % len(ref)], t)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(3000):
        t += 1 / fps
        s.push(arr[i % len(ref)], t)
        assert len(s._recorded) <= 1
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert s.state_nbytes() == n0
    assert grown < 200_000, grown
    assert s.frames == 3300 and 0 <= s.score <= 100
    with pytest.raises(InvalidArgumentError, match="keep_frames=False"):
        s.report()


def test_frames_kept_for_the_report_cost_their_size_and_stop_at_max_frames(ref):
    s = ScoreSession(ref, ScoreSettings(smooth="one-euro", max_frames=2000))
    arr = ref.as_array()
    t = 0.0
    for i in range(300):
        t += 1 / 30
        s.push(arr[i % len(ref)], t)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(3000):
        t += 1 / 30
        s.push(arr[i % len(ref)], t)
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    kept = 2001 - 300                                  # kept up to max_frames + 1, then no more
    assert len(s._pushed) == 2001
    assert grown < kept * 17 * 3 * 8 * 1.5 + 200_000, grown
    with pytest.raises(InvalidArgumentError, match="max_frames"):
        s.report()


def test_push_errors(ref):
    s = ScoreSession(ref)
    arr = ref.as_array()
    s.push(arr[0], 0.0)
    with pytest.raises(InvalidArgumentError, match="times must increase"):
        s.push(arr[1], 0.0)
    with pytest.raises(InvalidPoseError, match="expected 17 keypoints"):
        s.push(arr[1][:13], 0.1)
    bad = arr[1].copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidPoseError, match="NaN confidence at keypoint 3"):
        s.push(bad, 0.1)
    bad[3, 2], bad[5, 2] = 1.0, 1.5   # the same words as the corpus writer and validate_batch
    with pytest.raises(InvalidPoseError, match=r"^frame 1: confidence must be in \[0, 1\], got 1.5 at keypoint 5$"):
        s.push(bad, 0.1)
    bad[5, 2], bad[6, 0] = 1.0, np.inf
    with pytest.raises(InvalidPoseError, match=r"^frame 1: infinite coordinate at keypoint 6$"):
        s.push(bad, 0.1)
    with pytest.raises(InvalidPoseError, match=r"\(K, 3\)"):
        s.push(np.zeros(17), 0.1)
    with pytest.raises(InvalidPoseError, match="no user frame"):
        ScoreSession(ref).final_score


def test_empty_frames_do_not_break_the_stream(ref):
    s = ScoreSession(ref)
    arr = ref.as_array()
    for i in range(len(ref)):
        frame = arr[i] if not 20 <= i < 30 else np.zeros((17, 3))   # the user left the picture
        up = s.push(frame, ref.times[i])
    assert 0 < s.final_score < 100 and up.score is not None


def test_live_pair_detail_equals_pair_errors():
    """The live per-frame feedback (one numba call per push) gives pair_errors' distance and joint errors, to
    rounding, for both distances, rotation limits, penalties and joints missing on either side (seeded)."""
    import math

    from posesearch.sequence import _align_kernels as kern
    from posesearch.sequence.framedist import features_from_arrays, pair_errors

    rng = np.random.default_rng(0)
    for trial in range(200):
        dist = ("procrustes", "pair-weighted")[trial % 2]
        kp = rng.normal(size=(2, 17, 2))
        cf = rng.uniform(0.05, 1, size=(2, 17))
        cf[rng.random((2, 17)) < rng.uniform(0, 0.9)] = 0      # from none to nearly every joint missing
        f = features_from_arrays(kp, cf, dist)
        rot = float(rng.choice([0.0, 10.0, 20.0, 90.0, 180.0]))
        pen = (None, 0.3)[int(rng.integers(2))]
        d, e, _ = pair_errors(f, f, np.array([0]), np.array([1]), max_rotation=rot, missing_penalty=pen)
        err = np.empty(17)
        got = kern.pair_detail(f.points[0], f.weights[0], f.points[1], f.weights[1], math.radians(rot), 3,
                               -1.0 if pen is None else pen, dist == "procrustes", err)
        np.testing.assert_allclose(got, d[0], rtol=0, atol=1e-12, equal_nan=True)
        np.testing.assert_allclose(err, e[0], rtol=0, atol=1e-12, equal_nan=True)


def test_push_accepts_null_rows_as_missing_joints():
    """None rows (JSON null, as pose files write a missing joint) are missing joints: the same session as with
    [0, 0, 0] rows; a ragged frame is refused in one line naming the frame."""
    from posesearch.sequence.simulate import synthetic_motion
    from posesearch.sequence.stream import ScoreSession

    ref = synthetic_motion(3.0, 30.0, seed=5)
    arr = np.nan_to_num(ref.as_array())
    a, b = ScoreSession(ref), ScoreSession(ref)
    for i in range(0, len(arr), 3):
        rows = [list(map(float, r)) for r in arr[i]]
        rows[1] = rows[2] = None
        zero = [r if r is not None else [0.0, 0.0, 0.0] for r in rows]
        ua, ub = a.push(rows, ref.times[i]), b.push(zero, ref.times[i])
        assert ua.to_dict() == ub.to_dict()
    assert a.report().score == b.report().score
    with pytest.raises(InvalidPoseError, match=r"frame \d+: expected a \(K, 3\) array .* uneven rows"):
        a.push([[1.0, 2.0, 1.0], [1.0, 2.0]] + [[0.0, 0.0, 0.0]] * 15, 10.0)
