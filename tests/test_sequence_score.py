"""score_sequence: calibration, self and degraded scores, mirror decision, per-joint and per-moment detail."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hst

from posesearch.errors import InvalidArgumentError, InvalidPoseError, UnknownNameError
from posesearch.sequence import Calibration, Sequence, ScoreSettings, score_sequence, write_sequence
from posesearch.sequence.score import CALIBRATION, prepare_reference, prepare_user, score_prepared
from posesearch.sequence.simulate import degrade, synthetic_motion
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def ref():
    return synthetic_motion(4, 30, seed=1)


def test_calibration_curve():
    c = Calibration(d50=0.2, slope=2.0)
    assert c.score(0.0) == 100 and c.score(0.2) == pytest.approx(50)
    assert c.score(0.4) == pytest.approx(100 / 5)
    assert c.distance(90) == pytest.approx(0.2 / 3)
    assert np.isnan(c.score(np.nan))
    with pytest.raises(InvalidArgumentError):
        Calibration(d50=0, slope=1)


def test_self_score_is_100(ref):
    r = score_sequence(ref, ref)
    assert r.score == pytest.approx(100, abs=1e-6) and not r.mirrored
    assert r.time_offset == pytest.approx(0, abs=1e-9) and r.speed_ratio == pytest.approx(1)
    assert np.allclose(r.moment_scores, 100) and all(v == pytest.approx(100) for v in r.joint_scores.values())
    assert r.alignment.path.tolist() == [[i, i] for i in range(len(ref))]


@pytest.mark.parametrize("align", ["dtw", "nw", "diagonal"])
def test_degraded_copy_scores_high_and_is_unmirrored(ref, align):
    slower = 1.2 if align == "dtw" else 1.0
    user = degrade(ref, fps=10, noise=0.02, delay=0.3, slower=slower, mirror=True, seed=4)
    r = score_sequence(ref, user, settings=ScoreSettings(align=align))
    assert r.mirrored and r.score >= 90
    assert r.time_offset == pytest.approx(0.3, abs=0.15)
    assert r.speed_ratio == pytest.approx(1 / slower, abs=0.08)
    off = score_sequence(ref, user, settings=ScoreSettings(align=align, mirror="off"))
    assert not off.mirrored and off.score < r.score - 20
    assert r.mirror_costs["mirrored"] < r.mirror_costs["plain"]


def test_other_motion_scores_lower(ref):
    other = synthetic_motion(4, 30, seed=9)
    assert score_sequence(ref, other).score < score_sequence(ref, degrade(ref, seed=1)).score - 15


def test_bad_joint_and_bad_moment_are_found(ref):
    user = ref.replace()
    kp = user.keypoints.copy()
    kp[:, 9] += [80.0, -60.0]                                  # left wrist always off
    kp[60:75] = kp[60:75, ::-1]                                # 0.5 s of scrambled poses
    user = user.replace(keypoints=kp)
    r = score_sequence(ref, user, settings=ScoreSettings(mirror="off"))
    assert r.worst_joints(1)[0][0] == "left_wrist"
    a, b, s = r.worst_moments(1)[0]
    assert 1.5 <= a and b <= 2.75
    assert r.score < 90
    assert "left_wrist" in r.summary() and "worst moments" in r.summary()


def _fast(seed=1):
    """A motion fast enough that straight lines between 10 fps samples cut its corners."""
    return synthetic_motion(4, 30, seed=seed, tempo=2.0)


def test_sparse_perfect_copy_scores_100():
    """A user recorded at 10 fps who moves exactly like the 30 fps reference is judged by the frames
    recorded, not by the poses interpolation invents between them (which cost it ~2.5 points)."""
    ref = _fast()
    user = degrade(ref, fps=10, noise=0.0, delay=0.0, slower=1.0, mirror=False)
    st = ScoreSettings(smooth="none")
    samples = score_sequence(ref, user, settings=st)
    grid = score_sequence(ref, user, settings=st.replace(moments_from="grid"))
    assert samples.score >= 99.9 and grid.score <= 98.5
    # no moment is judged by an invented pose: the lowest is 97.6 (one frame aligned a step early)
    # where the grid's lowest is 89 and its 5th percentile 93
    assert np.nanmin(samples.moment_scores) >= 97.0 and np.nanpercentile(samples.moment_scores, 5) >= 99.9
    assert np.nanmin(grid.moment_scores) < 92.0
    assert samples.settings.to_dict()["moments_from"] == "samples"


def test_sparse_user_is_still_charged_for_a_wrong_move():
    ref = _fast()
    kp = ref.keypoints.copy()
    kp[60:90, 9] += [120.0, -90.0]                       # left wrist wrong for 1 s (2-3 s)
    user = degrade(ref.replace(keypoints=kp), fps=10, noise=0.0, delay=0.0, slower=1.0, mirror=False)
    r = score_sequence(ref, user, settings=ScoreSettings(smooth="none"))
    a, b, s = r.worst_moments(1)[0]
    assert 1.8 <= a and b <= 3.2 and s < 80
    assert r.worst_joints(1)[0][0] == "left_wrist"
    assert r.score < 93
    # the moments between recorded frames of that second are interpolated from judged ones, not 100
    inside = (r.moment_times > 2.1) & (r.moment_times < 2.9)
    assert r.moment_scores[inside].max() < 80


def test_dense_user_scores_the_same_either_way():
    """At or above the reference rate every grid frame is a recorded one: both settings agree."""
    ref = _fast()
    user = degrade(ref, fps=30, noise=0.01, delay=0.2, slower=1.0, mirror=False, seed=5)
    a = score_sequence(ref, user)
    b = score_sequence(ref, user, settings=ScoreSettings(moments_from="grid"))
    assert a.score == pytest.approx(b.score, abs=1e-9)
    assert np.array_equal(a.moment_scores, b.moment_scores, equal_nan=True)


def test_observed_frames():
    from posesearch.sequence.score import observed_frames

    grid = np.arange(31) / 30.0
    assert np.flatnonzero(observed_frames(grid, 30.0, np.arange(11) / 10.0)).tolist() == list(range(0, 31, 3))
    # irregular recordings mark their nearest grid frame; one beyond half a step of the grid marks none
    got = observed_frames(grid, 30.0, np.array([0.011, 0.52, 0.999, 1.2]))
    assert np.flatnonzero(got).tolist() == [0, 16, 30]
    assert not observed_frames(grid, 30.0, np.zeros(0)).any()
    assert observed_frames(np.array([0.5]), 1.0, np.array([0.4])).tolist() == [True]


def test_report_to_dict_is_json(ref):
    r = score_sequence(ref, degrade(ref, seed=2))
    d = json.loads(json.dumps(r.to_dict()))
    assert d["score"] == pytest.approx(r.score, abs=1e-5) and d["mirrored"] is True
    assert len(d["moments"]["scores"]) == len(ref) and d["settings"]["align"] == "dtw"
    assert len(d["alignment"]["path"]) == len(r.alignment.path)
    assert set(d["joint_scores"]) == set(r.joint_scores)
    assert np.nanmean(r.moment_scores) == pytest.approx(r.score)


def test_inputs_paths_arrays_and_fps(tmp_path, ref):
    user = degrade(ref, seed=3, mirror=False)
    write_sequence(tmp_path / "r.json", ref)
    np.save(tmp_path / "u.npy", user.as_array())
    a = score_sequence(tmp_path / "r.json", tmp_path / "u.npy", user_fps=10)
    b = score_sequence(ref.as_array(), user, ref_fps=30, settings=ScoreSettings(layout="coco17"))
    c = score_sequence(ref, user)
    assert a.score == pytest.approx(c.score) and b.score == pytest.approx(c.score)
    with pytest.raises(InvalidArgumentError, match="give fps or times"):
        score_sequence(ref.as_array(), user)


def test_layouts_are_converted_to_coco(ref):
    """A penn13 user against a coco17 reference: compared on the joints both have."""
    from posesearch.poses.layouts import PENN13

    kp = np.zeros((len(ref), 13, 2))
    cf = np.zeros((len(ref), 13))
    for c, p in enumerate(PENN13.to_coco):
        if p >= 0:
            kp[:, p] = ref.keypoints[:, c]
            cf[:, p] = 1.0
    cf[:, 0] = 0.0          # Penn's head is not a COCO joint anyway
    user = Sequence(kp, cf, PENN13, ref.times, ref.fps)
    r = score_sequence(ref, user)
    assert r.score == pytest.approx(100, abs=1e-6)
    assert "nose" not in r.joint_scores or r.joint_scores["nose"] is None


@pytest.mark.parametrize("make, exc, words", [
    (lambda r: score_sequence(r.slice(0, 1), r), InvalidPoseError, "reference: expected at least 2 frames, got 1"),
    (lambda r: score_sequence(r, r.slice(0, 1)), InvalidPoseError, "user: expected at least 2 frames, got 1"),
    (lambda r: score_sequence(r, r.as_array() * [1, 1, 0], user_fps=30), InvalidPoseError, "all keypoints are missing"),
    (lambda r: score_sequence(r, r, user_fps=0), InvalidArgumentError, "fps"),
    (lambda r: score_sequence(r, r.as_array()[:, :13], user_fps=30, layout="coco17"), InvalidPoseError,
     "expects 17 keypoints, got 13"),
    (lambda r: score_sequence(r, r, settings=ScoreSettings(align="xyz")), UnknownNameError, "alignment method"),
])
def test_errors(ref, make, exc, words):
    with pytest.raises(exc) as e:
        make(ref)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_settings_validation():
    for kw, words in [({"smooth": "median"}, "smoother"), ({"interp": "spline"}, "interpolation"),
                      ({"distance": "l2"}, "frame distance"), ({"mirror": "maybe"}, "mirror mode"),
                      ({"max_rotation": 200}, "max_rotation"), ({"band": -1}, "band"),
                      ({"missing_penalty": -1}, "missing_penalty"), ({"max_gap": 0}, "max_gap"),
                      ({"moments_from": "frames"}, "unknown moments_from 'frames'; expected one of: grid, samples")]:
        with pytest.raises((InvalidArgumentError, UnknownNameError), match=words):
            ScoreSettings(**kw)
    assert ScoreSettings(mirror="false").mirror == "off"
    assert ScoreSettings().curve == CALIBRATION["procrustes"]


def _static(points, frames=6):
    """(T, 17, 3) COCO-17 sequence holding one pose: the given (x, y) joints with confidence 1, others missing."""
    a = np.zeros((frames, 17, 3))
    for j, (x, y) in enumerate(points):
        a[:, j] = [x, y, 1.0]
    return a


@pytest.mark.parametrize("align", ["dtw", "nw", "diagonal"])
def test_prepared_api_hand_computed(align):
    """score_prepared (and score_sequence) on a case worked out by hand, not against each other.

    Reference: nose (0, 0), left eye (1, 0), right eye (0, 1); user: the left eye at (2, 0) instead. Move
    Mirror normalization (translate to the box corner, unit L2): reference (0,0) (1/r2,0) (0,1/r2), user
    (0,0) (2/r5,0) (0,1/r5). Joint errors |dx|+|dy|: e1 = |1/r2 - 2/r5|, e2 = |1/r2 - 1/r5|; weighted
    distance d = (0 + e1 + e2) / 3 for every pair of frames, so every moment scores s(d) = 100/(1+(d/0.2)^2)
    whatever the alignment. (Before the diagonal aligner broke ties by overlap, it matched only half the
    frames of this static pair and scored 32.1, and 50 for the reference against itself.)"""
    r2, r5 = np.sqrt(2), np.sqrt(5)
    e1, e2 = abs(1 / r2 - 2 / r5), abs(1 / r2 - 1 / r5)
    d = (e1 + e2) / 3
    s = lambda x: 100 / (1 + (x / 0.2) ** 2)  # noqa: E731
    assert s(d) == pytest.approx(64.2857, abs=1e-4)     # by hand: d = 0.14907, (d/0.2)^2 = 0.5556
    st = ScoreSettings(distance="weighted", smooth="none", mirror="off", missing_penalty=None, align=align,
                       calibration=Calibration(d50=0.2, slope=2.0))
    ref, user = _static([(0, 0), (1, 0), (0, 1)]), _static([(0, 0), (2, 0), (0, 1)])
    pr = prepare_reference(ref, st, fps=30, layout="coco17")
    r = score_prepared(pr, prepare_user(user, pr.fps, st, fps=30, layout="coco17"))
    assert r.score == pytest.approx(s(d), abs=1e-9)
    np.testing.assert_allclose(r.moment_scores, s(d), atol=1e-9)
    assert r.joint_scores == pytest.approx({"nose": 100.0, "left_eye": s(e1), "right_eye": s(e2)}, abs=1e-9)
    assert score_sequence(ref, user, 30, 30, st, layout="coco17").score == pytest.approx(s(d), abs=1e-9)
    # the reference against itself (moved and scaled: the distance is invariant to both) scores 100
    moved = ref.copy()
    moved[..., :2] = moved[..., :2] * 3.5 + [40, -7]
    assert score_prepared(pr, prepare_user(moved, pr.fps, st, fps=30, layout="coco17")).score == pytest.approx(100)
    with pytest.raises(InvalidArgumentError, match="different settings"):
        score_prepared(pr, prepare_user(user, pr.fps, ScoreSettings(smooth="none"), fps=30, layout="coco17"))


@settings(max_examples=12, deadline=None)
@given(seed=hst.integers(0, 10_000), noise=hst.floats(0.0, 0.1), mirror=hst.booleans(),
       align=hst.sampled_from(["dtw", "nw", "diagonal"]), smooth=hst.sampled_from(["kalman", "one-euro", "none"]))
def test_score_in_range_and_mirror_invariant(ref, seed, noise, mirror, align, smooth):
    """Properties: scores lie in [0, 100]; with mirror=auto, mirroring the user changes nothing, with or
    without smoothing (a sequence is mirrored about one axis, so the filters see the same motion)."""
    user = degrade(ref, noise=noise, mirror=mirror, seed=seed, slower=1.0)
    st = ScoreSettings(align=align, smooth=smooth)
    r = score_sequence(ref, user, settings=st)
    assert 0 <= r.score <= 100 and np.all((r.moment_scores >= 0) & (r.moment_scores <= 100))
    assert all(0 <= v <= 100 for v in r.joint_scores.values() if v is not None)
    r2 = score_sequence(ref, user.mirrored(), settings=st)
    assert r2.score == pytest.approx(r.score, abs=1e-6) and r2.mirrored != r.mirrored


# --------------------------------------------------------------------------------------- real data
PENN = ["0001", "0200", "0400", "0800", "1200", "1400", "1800", "2000"]


@pytest.fixture(scope="module")
def penn_clips():
    from posesearch.corpus.readers import penn_action

    root = shared_path("penn_action", "labels")
    return [penn_action.read_clip(root / f"{i}.mat") for i in PENN]


@pytest.mark.slow
def test_penn_action_self_degraded_and_other_action(penn_clips):
    from posesearch.sequence import sequence_from_clip

    seqs = [sequence_from_clip(c) for c in penn_clips]
    actions = [c.labels["action"] for c in penn_clips]
    assert len(set(actions)) == len(actions)
    for i, (s, act) in enumerate(zip(seqs, actions)):
        assert score_sequence(s, s).score >= 99, act
        deg = score_sequence(s, degrade(s, seed=i))
        assert deg.score >= 90 and deg.mirrored, (act, deg.score)
        others = [score_sequence(s, o).score for j, o in enumerate(seqs) if j != i]
        assert np.median(others) <= deg.score - 40, (act, others)


@pytest.mark.slow
def test_cmu_mocap_self_degraded_and_other_activity():
    from posesearch.corpus.readers import bvh
    from posesearch.sequence import sequence_from_clip

    folder = shared_path("cmu_mocap", "bvh")
    # clearly different activities of subject 2 (walk / jump / run look alike in 2-D: all upright)
    files = {"walk": "002_01.bvh", "bend and lift": "002_06.bvh", "swordplay": "002_07.bvh"}
    seqs = {}
    for name, f in files.items():
        clip = next(bvh.read(folder / f, views=[30.0], every=2))      # 30 fps, camera 30 degrees off front
        seqs[name] = sequence_from_clip(clip).slice(0, 150)           # 5 s
    for i, (name, s) in enumerate(seqs.items()):
        assert score_sequence(s, s).score >= 99
        deg = score_sequence(s, degrade(s, seed=i))
        assert deg.score >= 90 and deg.mirrored, (name, deg.score)
        for other, o in seqs.items():
            if other != name:
                assert score_sequence(s, o).score <= deg.score - 35, (name, other)


def test_nw_does_not_read_noise_as_skipped_moves(ref):
    """Regression (found by hypothesis): a user with heavy jitter (6% of body height) whose every match
    cost about the fixed NW gap cost made NW skip half the reference on the mirrored recording (76 vs 39),
    and score 1 without smoothing. The gap costs now scale with the user's typical match."""
    user = degrade(ref, noise=0.0625, mirror=False, seed=0, slower=1.0)
    for smooth in ("one-euro", "none"):
        st = ScoreSettings(align="nw", smooth=smooth)
        r, r2 = score_sequence(ref, user, settings=st), score_sequence(ref, user.mirrored(), settings=st)
        dtw = score_sequence(ref, user, settings=ScoreSettings(align="dtw", smooth=smooth))
        assert r2.mirrored and not r.mirrored
        assert r2.score == pytest.approx(r.score, abs=1e-6)
        assert r.score == pytest.approx(dtw.score, abs=10)
        assert len(np.unique(r.alignment.path[:, 0])) == len(ref)


def test_nw_still_finds_a_skipped_move(ref):
    """A user who leaves out a second of the move (at low noise): NW matches none of those reference
    frames (they are a gap), while the frames before and after are matched."""
    n = len(ref)
    keep = np.r_[0:40, 70:n]
    user = ref.replace(keypoints=ref.keypoints[keep], confidences=ref.confidences[keep],
                       times=ref.times[0] + np.arange(len(keep)) / ref.fps)
    user = degrade(user, fps=None, noise=0.01, delay=0.0, slower=1.0, mirror=False, seed=2)
    r = score_sequence(ref, user, settings=ScoreSettings(align="nw", mirror="off"))
    matched = set(r.alignment.path[:, 0].tolist())
    assert len(matched & set(range(45, 65))) == 0
    assert len(matched & set(range(0, 35))) >= 30 and len(matched & set(range(75, n))) >= n - 80
