"""Sequence scoring is safe for any Sequence built in Python: one absurd number (a frame rate of 1e9,
frame times 10^6 s apart, coordinates of 1e-300 or 1e200) gives a one-line error before anything large
is allocated, or the same score as in sensible units; never a traceback, a hang or a wrong number.

Memory-bound tests run under an address-space limit (the current size + 2 GiB), so that without the
bound the allocation fails with MemoryError (and the test fails) instead of exhausting the machine.
"""
from __future__ import annotations

import resource
import time

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as hst
from typer.testing import CliRunner

from posesearch.cli.app import app
from posesearch.errors import InvalidArgumentError, InvalidPoseError
from posesearch.sequence import ScoreSession, ScoreSettings, Sequence, score_sequence, write_sequence
from posesearch.sequence.resample import MAX_FRAMES, regular_times, resample, resample_to_fps
from posesearch.sequence.score import ALIGN_BYTES_PER_CELL
from posesearch.sequence.simulate import degrade, synthetic_motion
from posesearch.sequence.smooth import KalmanSettings, OnlineSmoother, kalman_smooth, one_euro_smooth

runner = CliRunner()


@pytest.fixture(scope="module")
def pair():
    ref = synthetic_motion(4, 30, seed=1)
    return ref, degrade(ref, seed=4)


@pytest.fixture
def memory_limit():
    """Cap this process's address space at its current size + 2 GiB for the test."""
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = vm + (2 << 30)
    if hard != resource.RLIM_INFINITY and hard < cap:
        pytest.skip("the hard address-space limit is already below the test's cap")
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _one_line(e: BaseException) -> str:
    msg = str(e)
    assert "\n" not in msg and msg
    return msg


# ------------------------------------------------------------------------------- frame-count bounds
def test_regular_times_refuses_a_huge_grid_before_allocating(memory_limit):
    with pytest.raises(InvalidArgumentError) as e:
        regular_times(0.0, 4.0, 1e9)                           # 4e9 frames: 32 GB of times alone
    msg = _one_line(e.value)
    assert "4,000,000,001 frames" in msg and f"{MAX_FRAMES:,}" in msg and "max_frames" in msg
    with pytest.raises(InvalidArgumentError, match="more than 10"):
        regular_times(0.0, 1e300, 1e300)                       # (stop - start) * fps overflows
    assert len(regular_times(0.0, 1.0, 30.0, max_frames=31)) == 31
    with pytest.raises(InvalidArgumentError, match="31 frames, more than the maximum of 30"):
        regular_times(0.0, 1.0, 30.0, max_frames=30)
    with pytest.raises(InvalidArgumentError, match="max_frames"):
        regular_times(0.0, 1.0, 30.0, max_frames=0)


def test_resample_refuses_too_many_targets(pair, memory_limit):
    ref, _ = pair
    far = ref.replace(times=np.arange(len(ref)) * 1e6, fps=None)     # frames 10^6 s apart
    with pytest.raises(InvalidArgumentError) as e:
        resample_to_fps(far, 30.0)
    assert "resampling its 1.2e+08 s to 30 fps would make 3,600,000,001 frames" in _one_line(e.value)
    with pytest.raises(InvalidArgumentError, match="target times are 5 frames, more than the maximum of 4"):
        resample(ref, np.arange(5) / 30, max_frames=4)


@pytest.mark.parametrize("case", ["user fps 1e-3", "reference fps 1e9", "user times 1e6 s apart"])
@pytest.mark.parametrize("align", ["dtw", "nw"])
def test_score_refuses_absurd_frame_rates_and_times(pair, case, align, memory_limit):
    ref, usr = pair
    if case == "user fps 1e-3":
        usr = usr.replace(fps=1e-3, times=None)
    elif case == "reference fps 1e9":
        ref = ref.replace(fps=1e9, times=None)
    else:
        usr = usr.replace(times=np.arange(len(usr)) * 1e6, fps=None)
    t0 = time.perf_counter()
    with pytest.raises(InvalidArgumentError) as e:
        score_sequence(ref, usr, settings=ScoreSettings(align=align))
    msg = _one_line(e.value)
    assert msg.startswith("user: resampling its") and "max_frames" in msg
    assert time.perf_counter() - t0 < 5.0


def test_score_refuses_sequences_longer_than_max_frames(pair):
    ref, usr = pair
    with pytest.raises(InvalidArgumentError, match=r"^reference: the sequence has 121 frames, more than the "
                                                   r"maximum of 100"):
        score_sequence(ref, usr, settings=ScoreSettings(max_frames=100))
    with pytest.raises(InvalidArgumentError, match=r"^user: the sequence has 121 frames, more than the maximum "
                                                   r"of 100"):
        score_sequence(ref.slice(0, 60), ref, settings=ScoreSettings(max_frames=100))
    with pytest.raises(InvalidArgumentError, match=r"^user: resampling its 5.1 s to the reference's 30 fps would "
                                                   r"make 154 frames, more than the maximum of 121"):
        score_sequence(ref, usr, settings=ScoreSettings(max_frames=121))


def test_user_shorter_than_one_reference_frame_is_refused(pair):
    ref, usr = pair
    with pytest.raises(InvalidPoseError, match="less than one frame interval at the reference's 30 fps"):
        score_sequence(ref, usr.replace(fps=1e9, times=None))


def test_reference_frame_rate_must_be_finite(pair):
    ref, usr = pair
    tiny = ref.slice(0, 2).replace(times=[0.0, 5e-324], fps=None)     # 1 / 5e-324 = inf
    with pytest.raises(InvalidArgumentError, match="reference: frame rate is not finite"):
        score_sequence(tiny, usr)


@pytest.mark.parametrize("align", ["dtw", "nw", "diagonal"])
def test_alignment_memory_bound_is_exact_and_checked_before_the_matrix(pair, align, monkeypatch):
    ref, _ = pair
    usr = ref.slice(0, 100)
    # no band: the matrix is Tu x Tr = 100 x 121 cells
    need = 100 * 121 * ALIGN_BYTES_PER_CELL[align]
    ok = ScoreSettings(band=None, align=align, max_alignment_bytes=need)
    assert 0 <= score_sequence(ref, usr, settings=ok).score <= 100
    import posesearch.sequence.score as sc

    def boom(*a, **k):
        raise AssertionError("the distance matrix was allocated")

    monkeypatch.setattr(sc, "frame_distance_matrix", boom)
    with pytest.raises(InvalidArgumentError) as e:
        score_sequence(ref, usr, settings=ok.replace(max_alignment_bytes=need - 1))
    assert "100 user x 121 reference frames (band 121 frames wide)" in _one_line(e.value)


def test_default_alignment_bound_refuses_ten_minutes_against_ten_minutes(monkeypatch):
    """Two 10-minute 30 fps sequences with the default band need 18,000 x ~9,000 cells (2.7 GB for dtw)."""
    one = synthetic_motion(2, 30, seed=3)
    reps = 300
    kp = np.concatenate([one.keypoints] * reps)
    cf = np.concatenate([one.confidences] * reps)
    long = Sequence(kp, cf, "coco17", fps=30.0)
    import posesearch.sequence.score as sc

    monkeypatch.setattr(sc, "frame_distance_matrix", lambda *a, **k: (_ for _ in ()).throw(AssertionError()))
    with pytest.raises(InvalidArgumentError, match="more than max_alignment_bytes"):
        score_sequence(long, long, settings=ScoreSettings(smooth="none"))


def test_settings_bounds_are_validated():
    for bad in (0, -1, 1.5, True, "10"):
        with pytest.raises(InvalidArgumentError, match="max_frames"):
            ScoreSettings(max_frames=bad)
        with pytest.raises(InvalidArgumentError, match="max_alignment_bytes"):
            ScoreSettings(max_alignment_bytes=bad)
    with pytest.raises(InvalidArgumentError, match="max_frames"):
        ScoreSettings(max_frames=None)
    d = ScoreSettings().to_dict()
    assert d["max_frames"] == MAX_FRAMES and d["max_alignment_bytes"] == 1 << 30


def test_stream_refuses_a_frame_far_after_the_last_without_hanging(pair):
    ref, usr = pair
    s = ScoreSession(ref)
    a = usr.as_array()
    s.push(a[0], 0.0)
    t0 = time.perf_counter()
    with pytest.raises(InvalidArgumentError) as e:
        s.push(a[1], 1e6)                                       # 30,000,000 grid frames at 30 fps
    assert time.perf_counter() - t0 < 1.0
    assert "frame 1: t = 1e+06 s is 1e+06 s after the previous frame" in _one_line(e.value)
    s.push(a[1], 1 / 30)                                        # the session is still usable
    assert s.frames == 2
    fast = ScoreSession(ref.replace(fps=1e9, times=None))       # a reference at 1e9 fps
    fast.push(a[0], 0.0)
    with pytest.raises(InvalidArgumentError, match="max_frames"):
        fast.push(a[1], 1 / 30)


def test_cli_score_ref_fps_1e9_is_one_line_exit_2(tmp_path, pair, memory_limit):
    ref, usr = pair
    write_sequence(tmp_path / "ref.npy", ref)
    write_sequence(tmp_path / "user.json", usr)
    r = runner.invoke(app, ["score", str(tmp_path / "ref.npy"), str(tmp_path / "user.json"), "--ref-fps", "1e9"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    # refused by the reader's frame-rate range, or else by the scorer's max_frames: either way one line
    assert len(lines) == 1 and lines[0].startswith("error: ") and ("1e+09" in lines[0] or "max_frames" in lines[0])


# ------------------------------------------------------------------------------------------- scale
@pytest.mark.parametrize("factor", [1e-300, 1e-150, 1e150, 1e200, 1e300])
def test_smoothers_work_at_extreme_scales(pair, factor):
    _, usr = pair
    big = usr.replace(keypoints=usr.keypoints * factor)
    pres = usr.present
    for fn in (kalman_smooth, one_euro_smooth):
        want = fn(usr).keypoints
        got = fn(big).keypoints / factor
        assert np.allclose(got[pres], want[pres], rtol=1e-9, atol=1e-9 * np.abs(want).max())
    rts_off = KalmanSettings(rts=False)
    assert np.allclose(kalman_smooth(big, rts_off).keypoints[pres] / factor, kalman_smooth(usr, rts_off).keypoints[pres])


@pytest.mark.parametrize("factor", [1e-300, 1e200])
@pytest.mark.parametrize("method", ["kalman", "one-euro"])
def test_online_smoother_works_at_extreme_scales(pair, factor, method):
    _, usr = pair
    a, b = OnlineSmoother(17, 100.0, method), OnlineSmoother(17, 100.0 * factor, method)
    for kp, cf, t in zip(usr.keypoints, usr.confidences, usr.times):
        want = a.step(kp, cf, t)
        got = b.step(kp * factor, cf, t) / factor
        assert np.allclose(got, want, rtol=1e-9, atol=1e-9)


def test_smoothing_that_overflows_is_refused_not_silently_dropped():
    kp = np.zeros((3, 17, 2))
    kp[..., 0] = np.arange(17) * 10.0
    kp[..., 1] = np.arange(17)[None] * 5.0 + np.array([0.0, 1.0, 2.0])[:, None]
    seq = Sequence(kp, np.ones((3, 17)), "coco17", times=[0.0, 1e200, 2e200])   # dt^3 overflows
    with pytest.raises(InvalidPoseError, match="Kalman smoothing overflowed"):
        kalman_smooth(seq)


def test_huge_coordinates_score_as_sensible_ones(pair):
    """Issue 15, trust 8: coordinates of 1e150 scored 18.8 instead of 95.3 (the Kalman variances overflowed)."""
    ref, usr = pair
    base = score_sequence(ref, usr).score
    for f in (1e150, 1e200, 1e-300):
        r = score_sequence(ref.replace(keypoints=ref.keypoints * f), usr.replace(keypoints=usr.keypoints * f))
        assert r.score == pytest.approx(base, abs=1e-6)


def _affine(seq: Sequence, factor: float, offset: tuple[float, float]) -> Sequence:
    kp = np.where(seq.present[..., None], seq.keypoints * factor + np.asarray(offset) * factor, 0.0)
    return seq.replace(keypoints=kp)


@settings(max_examples=12, deadline=None, derandomize=True)
@given(log_factor=hst.floats(-6, 6), ox=hst.floats(-1000, 1000), oy=hst.floats(-1000, 1000),
       align=hst.sampled_from(["dtw", "nw"]), smooth=hst.sampled_from(["kalman", "one-euro"]))
@example(log_factor=-300, ox=0.0, oy=0.0, align="dtw", smooth="kalman")
@example(log_factor=200, ox=0.0, oy=0.0, align="dtw", smooth="kalman")
@example(log_factor=300, ox=5.0, oy=-7.0, align="nw", smooth="one-euro")
@example(log_factor=-300, ox=1e6, oy=-1e6, align="dtw", smooth="one-euro")
def test_score_is_invariant_to_units_property(pair, log_factor, ox, oy, align, smooth):
    """Scaling and translating both sequences by the same factor and offset (the offset in the scaled
    units) leaves the score unchanged."""
    ref, usr = pair
    st = ScoreSettings(align=align, smooth=smooth)
    base = score_sequence(ref, usr, settings=st)
    f = 10.0 ** log_factor
    moved = score_sequence(_affine(ref, f, (ox, oy)), _affine(usr, f, (ox, oy)), settings=st)
    assert moved.score == pytest.approx(base.score, abs=1e-6)
    assert moved.mirrored == base.mirrored
    assert np.allclose(moved.moment_scores, base.moment_scores, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("factor", [1e-300, 1e200])
def test_live_score_is_invariant_to_units(pair, factor):
    ref, usr = pair

    def run(f):
        s = ScoreSession(ref.replace(keypoints=ref.keypoints * f))
        a = usr.as_array().copy()
        a[..., :2] *= f
        for fr, t in zip(a, usr.times):
            s.push(fr, t)
        return s.final_score

    assert run(factor) == pytest.approx(run(1.0), abs=1e-6)


@pytest.mark.parametrize("t0", [1e200, 1.7e18])
def test_stream_starting_at_a_huge_time_does_not_hang(pair, t0):
    """t0 + i / fps == t0 for every i once t0's spacing exceeds a grid step (1e200 s, or nanoseconds
    given as seconds): the grid loop never passed t and ran until memory ran out."""
    ref, usr = pair
    s = ScoreSession(ref)
    a = usr.as_array()
    t_start = time.perf_counter()
    up = s.push(a[0], t0)
    assert up.grid_frames == 1 and s.frames == 1
    with pytest.raises(InvalidArgumentError, match="max_frames"):
        s.push(a[1], t0 * (1 + 1e-9))
    assert time.perf_counter() - t_start < 2.0


# ------------------------------------------------------------------- nonsense numbers (trust 7, 9)
@pytest.mark.parametrize("fps", [True, "30", 10 ** 400])
@pytest.mark.parametrize("which", ["ref_fps", "user_fps"])
def test_score_refuses_frame_rates_that_are_not_numbers(pair, fps, which):
    """True was read as 1 fps (a score of 22 for a 15 fps user), "30" as 30, and 10**400 raised OverflowError."""
    ref, usr = pair
    with pytest.raises(InvalidArgumentError) as e:
        score_sequence(ref.as_array(), usr.as_array(), layout="coco17", **{which: fps})
    assert "fps" in _one_line(e.value)


@pytest.mark.parametrize("t", [True, 10 ** 400, "0.1"])
def test_stream_refuses_times_that_are_not_numbers(pair, t):
    ref, usr = pair
    s = ScoreSession(ref)
    s.push(usr.as_array()[0], 0.0)
    with pytest.raises(InvalidArgumentError, match="frame 1: t: expected seconds"):
        s.push(usr.as_array()[1], t)


@pytest.mark.parametrize("dtype", ["complex", "bool", "str"])
def test_stream_refuses_non_real_frames(pair, dtype):
    ref, usr = pair
    s = ScoreSession(ref)
    frame = usr.as_array()[0]
    bad = (frame > 0) if dtype == "bool" else frame.astype(dtype)
    with pytest.raises(InvalidPoseError, match="frame 0: keypoints: expected real numbers"):
        s.push(bad, 0.0)


@pytest.mark.parametrize("field,value", [("band", "0.2"), ("max_gap", True), ("gap_open", "1"),
                                         ("missing_cost", "x"), ("band_seconds", 10 ** 400)])
def test_settings_refuse_values_that_are_not_numbers(field, value):
    with pytest.raises(InvalidArgumentError, match=field):
        ScoreSettings(**{field: value})
