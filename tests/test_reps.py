"""Repetitions (posesearch.sequence.reps): hand-made reps, constructed truth from real Penn Action reps,
reference-free counts against counts made by eye, settings, bad input and the live session."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st

import posesearch as ps
from posesearch.errors import InvalidArgumentError, InvalidPoseError, PoseSearchError, UnknownNameError
from posesearch.poses.layouts import COCO17_JOINTS
from posesearch.sequence.reps import (NoRepetitionError, RepSettings, count_reps, find_reps, moment_phrase,
                                      slice_seconds)
from posesearch.sequence.sequence import Sequence
from tests.conftest import shared_path
from tests.reps_testdata import PENN_REPS, alter_bend, construct, penn_clip

J = {n: i for i, n in enumerate(COCO17_JOINTS)}


# ------------------------------------------------------------------------------------ hand-made reps
def _pose(elbow_bend: float, knee_bend: float) -> np.ndarray:
    """A COCO pose (y down) standing side-on; the left elbow and both knees bent by the given degrees."""
    p = np.zeros((17, 2))
    base = {"nose": (0, -72), "left_eye": (3, -75), "right_eye": (-3, -75), "left_ear": (6, -73),
            "right_ear": (-6, -73), "left_shoulder": (12, -50), "right_shoulder": (-12, -50),
            "right_elbow": (-12, -22), "right_wrist": (-12, 4), "left_hip": (10, 0), "right_hip": (-10, 0)}
    for n, xy in base.items():
        p[J[n]] = xy
    a = np.radians(elbow_bend)
    p[J["left_elbow"]] = (12, -22)
    p[J["left_wrist"]] = (12 + 26 * np.sin(a), -22 + 26 * np.cos(a))
    k = np.radians(knee_bend)
    for side, x in (("left", 10), ("right", -10)):
        p[J[f"{side}_knee"]] = (x + 40 * np.sin(k / 2), 40 * np.cos(k / 2))
        kn = p[J[f"{side}_knee"]]
        p[J[f"{side}_ankle"]] = (kn[0] - 40 * np.sin(k / 2), kn[1] + 40 * np.cos(k / 2))
    return p


def hand_rep(n: int = 30, elbow: float = 90, knee: float = 80) -> np.ndarray:
    """One rep: elbow and knees bend and come back (a raised cosine), (n, 17, 2)."""
    s = 0.5 - 0.5 * np.cos(np.linspace(0, 2 * np.pi, n))
    return np.stack([_pose(elbow * v, knee * v) for v in s])


def as_seq(kp: np.ndarray, fps: float = 30.0, name: str = "user") -> Sequence:
    return Sequence.from_arrays(kp, np.ones(kp.shape[:2]), layout="coco17", fps=fps, name=name)


def test_three_hand_made_reps_with_pauses_are_found_where_they_are():
    rep = hand_rep()
    rest = np.repeat(rep[:1], 15, axis=0)
    user = np.concatenate([rest, rep, rest, rep, rest, hand_rep(30, elbow=60), rest])   # rep 3: 30 deg less bend
    r = find_reps(as_seq(rep, name="reference"), as_seq(user))
    assert r.count == 3 and r.partial_count == 0
    starts = [x.start for x in r.reps]
    assert starts == pytest.approx([0.5, 2.0, 3.5], abs=0.1)          # 15 rest frames, 30 frame reps, at 30 fps
    assert [x.bad for x in r.reps] == [False, False, True]
    elbow = next(a for a in r.reps[2].angles if a.angle == "left_elbow")
    assert elbow.degrees == pytest.approx(30, abs=3)                  # less bend: the angle is larger
    assert elbow.moment == "midway"
    assert r.reps[2].feedback[0] == (f"your left elbow: {elbow.degrees:.0f}° less bend than the reference "
                                     f"midway through rep 3")
    assert r.reps[0].score > 95 and r.reps[0].reasons == []


def test_rep_faster_and_slower_keeps_its_angles_and_reports_the_timing():
    rep = hand_rep(30)
    slow = hand_rep(48)               # 1.6 s instead of 1.0 s
    user = np.concatenate([np.repeat(rep[:1], 10, 0), slow, np.repeat(rep[:1], 10, 0)])
    r = find_reps(as_seq(rep, name="reference"), as_seq(user))
    assert r.count == 1
    (x,) = r.reps
    assert x.duration == pytest.approx(1.57, abs=0.1)
    assert not x.bad
    dur = [t for t in x.timing if t.kind == "duration"]
    assert dur and dur[0].seconds == pytest.approx(0.6, abs=0.1)
    assert "longer than the reference" in dur[0].text


def test_a_hold_cut_short_is_reported_in_seconds():
    r30 = hand_rep(30)
    ref = np.concatenate([r30[:15], np.repeat(r30[15:16], 15, 0), r30[16:]])     # holds the bend 0.5 s
    quick = np.concatenate([r30[:15], np.repeat(r30[15:16], 2, 0), r30[16:]])     # holds it 2 frames
    rest = np.repeat(r30[:1], 10, 0)
    r = find_reps(as_seq(ref, name="reference"), as_seq(np.concatenate([rest, quick, rest, ref, rest])))
    assert r.count == 2 and r.partial_count == 0          # passing a hold quickly skips no movement
    held = [t for t in r.reps[0].timing if t.kind == "held too short"]
    assert held and held[0].seconds == pytest.approx(-0.43, abs=0.1)
    assert "held midway through rep 1 0.1 s, the reference 0.6 s" in r.reps[0].feedback
    assert not [t for t in r.reps[1].timing if t.kind == "held too short"]


def test_moment_phrases():
    assert moment_phrase("at the bottom", 3) == "at the bottom of rep 3"
    assert moment_phrase("midway", 2) == "midway through rep 2"
    assert moment_phrase("early") == "early in the rep"


# ------------------------------------------------------------------------- constructed truth, Penn Action
def _accuracy(clip: str, joint: str, trials: int, settings: RepSettings, seed0: int = 0):
    root = shared_path("penn_action")
    cid, a, b = PENN_REPS[clip]
    rep = penn_clip(cid, root).slice(a, b)
    out = dict(trials=0, count=0, bounds=0, n_bounds=0, flags=0, angle=0, n_angle=0, named=0)
    for s in range(trials):
        tr = construct(rep, 6, 2, np.random.default_rng(seed0 + s), joint=joint)
        r = find_reps(rep, tr.user, settings)
        whole = [x for x in r.reps if not x.partial]
        out["trials"] += 1
        if len(whole) != len(tr.starts):
            continue
        out["count"] += 1
        st_ = np.array([x.start for x in whole])
        en = np.array([x.end for x in whole])
        ok = (np.abs(st_ - tr.starts) <= 0.2) & (np.abs(en - tr.ends) <= 0.2)
        out["bounds"] += int(ok.sum())
        out["n_bounds"] += len(ok)
        out["flags"] += bool((np.array([x.bad for x in whole]) == tr.altered).all())
        for x, alt in zip(whole, tr.altered):
            if alt:
                out["n_angle"] += 1
                d = [y for y in x.angles if y.angle == tr.joint]
                out["angle"] += bool(d) and abs(d[0].degrees - tr.degrees) <= 5
                out["named"] += any(tr.joint.replace("_", " ") in f for f in x.feedback)
    return out


#: per exercise: the altered joint and the tolerances (a push-up's knees and hips are seen side-on and
#: jitter in Penn Action's labels, so they get 30 degrees)
CASES = {
    "squat": ("knee", RepSettings()),
    "pushup": ("elbow", RepSettings(angle_tolerances={"left_knee": 30, "right_knee": 30, "left_hip": 30,
                                                      "right_hip": 30})),
}


@pytest.mark.parametrize("exercise", list(CASES))
def test_constructed_truth_meets_the_targets(exercise):
    """6 copies of a real Penn Action rep at random speed 0.6-1.6x, pauses 0-1 s, jitter 1% of body size,
    mirrored half the time, 2 with a knee (elbow) bend reduced by 30 degrees; 10 trials each (a larger run:
    benchmarks/bench_reps.py)."""
    joint, settings = CASES[exercise]
    a = _accuracy(exercise, joint, 10, settings)
    assert a["count"] / a["trials"] >= 0.95, a
    assert a["bounds"] / a["n_bounds"] >= 0.90, a
    assert a["flags"] / a["trials"] >= 0.95, a
    assert a["angle"] / a["n_angle"] >= 0.95, a
    assert a["named"] == a["n_angle"], a           # the sentence names the joint changed, on the user's side


def test_constructed_truth_on_cmu_walking():
    """The same on CMU motion capture (02_01, walking, side view, from the bundled sample built from the
    shared CMU data): one gait cycle (0.7-1.75 s) as the rep, a knee's bend reduced by 30 degrees in 2 of 6.
    Measured over 20 trials: count 20/20, bounds 120/120, flags 20/20, angle within 5 degrees 39/40."""
    from posesearch.corpus import sample_corpus_path

    walk = ps.read_input(f"{sample_corpus_path()}:cmu:002_01:yaw90").sequence
    rep = walk.slice(21, 54)
    count = bounds = flags = angle = n_angle = 0
    for s in range(10):
        tr = construct(rep, 6, 2, np.random.default_rng(s), joint="knee")
        whole = [x for x in find_reps(rep, tr.user).reps if not x.partial]
        if len(whole) != 6:
            continue
        count += 1
        bounds += sum(abs(x.start - a) <= 0.2 and abs(x.end - b) <= 0.2 for x, a, b in zip(whole, tr.starts, tr.ends))
        flags += all(x.bad == alt for x, alt in zip(whole, tr.altered))
        for x in (x for x, alt in zip(whole, tr.altered) if alt):
            n_angle += 1
            angle += any(y.angle == tr.joint and abs(y.degrees - 30) <= 5 for y in x.angles)
    assert count >= 10 and bounds >= 0.9 * 60 and flags >= 10 and angle >= 0.95 * n_angle


def test_repeat_method_finds_the_same_reps():
    root = shared_path("penn_action")
    cid, a, b = PENN_REPS["squat"]
    rep = penn_clip(cid, root).slice(a, b)
    for s in range(3):
        tr = construct(rep, 5, 1, np.random.default_rng(50 + s))
        one = find_reps(rep, tr.user)
        rep_ = find_reps(rep, tr.user, RepSettings(method="repeat"))
        assert one.count == rep_.count == 5
        np.testing.assert_allclose([x.start for x in one.reps], [x.start for x in rep_.reps], atol=0.25)


def test_a_rep_cut_short_is_reported_as_partial():
    root = shared_path("penn_action")
    cid, a, b = PENN_REPS["squat"]
    rep = penn_clip(cid, root).slice(a, b)
    good = 0
    for s in range(8):
        tr = construct(rep, 5, 1, np.random.default_rng(100 + s), partial_end=0.5)
        r = find_reps(rep, tr.user)
        part = [x for x in r.reps if x.partial]
        good += r.count == 5 and len(part) == 1 and part[0].start > tr.ends[-1] - 0.2 and part[0].score is None
    assert good >= 7


@hsettings(max_examples=8, deadline=None)
@given(st.floats(0.01, 100), st.floats(-1000, 1000), st.integers(0, 1000))
def test_reps_do_not_depend_on_the_units_or_position(scale, shift, seed):
    rep = hand_rep()
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(3):
        parts += [np.repeat(rep[:1], int(rng.integers(0, 20)), 0), hand_rep(int(rng.integers(20, 45)))]
    user = np.concatenate(parts)
    a = find_reps(as_seq(rep, name="reference"), as_seq(user))
    b = find_reps(as_seq(rep * scale + shift, name="reference"), as_seq(user * scale - shift))
    assert a.count == b.count == 3
    assert [x.start for x in a.reps] == pytest.approx([x.start for x in b.reps], abs=1e-6)


# ------------------------------------------------------------------------------------ reference-free count
def test_count_of_constructed_periodic_motion():
    rep = hand_rep(30)
    rng = np.random.default_rng(1)
    for n in (3, 5, 8):
        parts = [hand_rep(int(rng.integers(26, 36))) for _ in range(n)]
        user = np.concatenate(parts) + rng.normal(0, 0.5, (sum(map(len, parts)), 17, 2))
        c = count_reps(as_seq(user))
        assert c.count == n, c.summary()
        assert c.confidence > 0.7
        assert c.period == pytest.approx(1.0, abs=0.2)
    assert count_reps(as_seq(rep)).count == 1            # one rep, no repetition: one cycle


#: Counted by eye (issue 19): for each clip the vertical trajectories of the head, wrists, left hip, knee and
#: elbow were plotted against the frame number (a PNG per six clips) and the cycles away from the start
#: pose and back counted. Penn Action clips each hold one repetition. The first 16 (the longest clips of
#: each action) were looked at while count_reps was tuned; the last 12 are a random sample (numpy
#: default_rng(19), 12 of the 5 actions' clips) counted before count_reps was run on them.
PENN_BY_EYE = {
    "1173": 1, "1237": 1, "1172": 1, "1467": 1, "1450": 1, "1495": 1, "1645": 1, "1608": 1, "1602": 1,
    "1566": 1, "1858": 1, "1754": 1, "1725": 1, "1808": 1, "1101": 1, "1124": 1,
    # fresh sample
    "1062": 1, "1087": 1, "1268": 1, "1301": 1, "1338": 1, "1357": 1, "1391": 1, "1412": 1, "1532": 1,
    "1649": 1, "1780": 1, "1819": 1,
}


@pytest.mark.slow
def test_reference_free_count_agrees_with_counts_made_by_eye():
    root = shared_path("penn_action")
    agree = {cid: count_reps(penn_clip(cid, root)).count == n for cid, n in PENN_BY_EYE.items()}
    fresh = list(PENN_BY_EYE)[16:]
    # measured: 27 of 28 (1237, a pull-up whose hip and knees come and go, gets no count), 12 of 12 fresh
    assert sum(agree.values()) >= 27, [c for c, ok in agree.items() if not ok]
    assert all(agree[c] for c in fresh)


def test_walking_counts_its_gait_cycles():
    """CMU 02_01 (sample corpus, side view): the ankles' trajectories show two whole gait cycles (by eye)."""
    from posesearch.corpus import sample_corpus_path

    c = count_reps(f"{sample_corpus_path()}:cmu:002_01:yaw90")
    assert c.count == 2 and c.period == pytest.approx(1.1, abs=0.15)


def test_non_periodic_motion_gets_no_count():
    from posesearch.corpus import sample_corpus_path

    c = count_reps(f"{sample_corpus_path()}:cmu:005_02:yaw90")     # a dance: no repetition
    assert c.count is None and "no periodic motion found" in c.note
    with pytest.raises(NoRepetitionError, match="no periodic motion found"):
        c.require()
    rng = np.random.default_rng(3)
    walk = np.cumsum(rng.normal(0, 3, (120, 17, 2)), axis=0) + hand_rep(1)[0]
    assert count_reps(as_seq(walk)).count is None
    still = np.repeat(hand_rep(1), 60, axis=0)
    assert count_reps(as_seq(still)).count is None


# -------------------------------------------------------------------------------------------- bad input
def test_bad_input_gives_clear_answers():
    rep = as_seq(hand_rep(), name="reference")
    user = as_seq(np.concatenate([hand_rep()] * 3))
    with pytest.raises(InvalidArgumentError, match=r"reference \(0.97 s\) is longer than the user \(0.47 s\)"):
        find_reps(rep, as_seq(hand_rep(15)))
    with pytest.raises(InvalidPoseError, match="reference segment 0.5-0.51 s: expected at least 2 frames, got 1"):
        find_reps(rep, user, ref_start=0.5, ref_end=0.51)
    with pytest.raises(InvalidArgumentError, match="reference segment: end 0.2 s must be after start 0.5 s"):
        find_reps(rep, user, ref_start=0.5, ref_end=0.2)
    with pytest.raises(PoseSearchError, match="reference: expected one rep of at least 3 frames, got 1"):
        find_reps(as_seq(hand_rep()[:1], name="reference"), user)
    # no rep: the user does something else (arms overhead, legs wide) -> an empty report, not a made-up rep
    other = hand_rep(40) * np.array([1.0, -1.0]) + np.array([0, 100.0])
    r = find_reps(rep, as_seq(other))
    assert r.reps == [] and r.count == 0
    assert r.summary().startswith("no rep found")


def test_reference_segment():
    seq = as_seq(np.concatenate([hand_rep(), hand_rep()]))
    seg = slice_seconds(seq, 1.0, 1.9)
    assert len(seg) == 28 and seg.times[0] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- settings
def test_settings_from_json(tmp_path):
    p = tmp_path / "squat.json"
    p.write_text(json.dumps({"exercise": "squat", "threshold": 80, "angle_tolerances": {"left_knee": 10},
                             "score": {"smooth": "none"}}))
    s = RepSettings.from_json(p)
    assert s.threshold == 80 and s.tolerance("left_knee") == 10 and s.tolerance("right_knee") == 20
    assert s.score.smooth == "none" and s.exercise == "squat"
    assert RepSettings.from_dict(s.to_dict() | {"score": {"smooth": "none"}}) == s
    p.write_text(json.dumps({"angle_tolerance": 5, "treshold": 3}))
    with pytest.raises(InvalidArgumentError, match="unknown field 'treshold'; valid: threshold"):
        RepSettings.from_json(p)
    p.write_text(json.dumps({"angle_tolerances": {"left_kne": 10}}))
    with pytest.raises(UnknownNameError, match="left_kne"):
        RepSettings.from_json(p)
    p.write_text("{")
    with pytest.raises(PoseSearchError, match="squat.json"):
        RepSettings.from_json(p)
    with pytest.raises(InvalidArgumentError, match="threshold"):
        RepSettings(threshold=120)
    with pytest.raises(PoseSearchError, match="max_speed"):
        RepSettings(min_speed=2.0, max_speed=1.0)


def test_api_front_door():
    assert ps.find_reps is find_reps and ps.RepSettings is RepSettings and ps.count_reps is count_reps
    from posesearch.poses.angles import joint_angles

    assert ps.joint_angles is joint_angles


# ------------------------------------------------------------------------------------------ live session
def test_live_session_reports_reps_as_they_complete_and_report_is_unchanged():
    from posesearch.sequence.score import ScoreSettings, score_sequence
    from posesearch.sequence.stream import ScoreSession

    st_ = ScoreSettings(smooth="none")
    rep = hand_rep()
    rest = np.repeat(rep[:1], 15, axis=0)
    user = np.concatenate([rest, rep, rest, hand_rep(30, elbow=60), rest, rep, rest])
    useq = as_seq(user)
    sess = ScoreSession(as_seq(rep, name="reference"), st_, reps=RepSettings(score=st_))
    seen = []
    arr = useq.as_array()
    for f, t in zip(arr, useq.times):
        u = sess.push(f, t)
        seen += [(t, r) for r in u.new_reps]
        assert u.reps == len(seen)
    seen += [(None, r) for r in sess.finish_reps()]
    assert [r.index for _, r in seen] == [1, 2, 3]
    assert [r.bad for _, r in seen] == [False, True, False]
    assert all(t is None or t >= r.end for t, r in seen)          # reported only once complete
    assert "rep 2" in seen[1][1].feedback[0]
    off = find_reps(as_seq(rep, name="reference"), useq, RepSettings(score=st_))
    assert [r.start for _, r in seen] == pytest.approx([r.start for r in off.reps], abs=0.1)
    # the offline report is exactly score_sequence's, reps or not
    assert sess.report().score == score_sequence(as_seq(rep, name="reference"), useq, settings=st_).score
    with pytest.raises(InvalidArgumentError, match="score settings must be the session's"):
        ScoreSession(as_seq(rep, name="reference"), st_, reps=RepSettings())


# ------------------------------------------------------------------- the README's example (examples/)
ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_rep_examples_are_what_the_script_makes(tmp_path):
    """examples/squat_reference.json and squats.json regenerate byte for byte (scripts/make_rep_examples.py)."""
    import importlib.util

    penn = shared_path("penn_action")
    spec = importlib.util.spec_from_file_location("make_rep_examples", ROOT / "scripts" / "make_rep_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    written = mod.make(tmp_path, penn)
    assert [p.name for p in written] == ["squat_reference.json", "squats.json"]
    for p in written:
        assert p.read_bytes() == (ROOT / "examples" / p.name).read_bytes(), p.name


def test_readme_squat_example_tells_the_constructed_truth():
    """The README's example: 4 whole squats + 1 partial; only rep 3 (knee bend reduced 30° by the script) is
    bad, by its form (its score stays above the threshold), with the knee named and about 30°; the partial
    rep gets no advice measured against a movement it never did."""
    r = find_reps(str(ROOT / "examples" / "squat_reference.json"), str(ROOT / "examples" / "squats.json"))
    assert (r.count, r.partial_count) == (4, 1)
    assert [x.tag for x in r.reps] == ["ok", "ok", "BAD (form)", "ok", "partial"]
    bad = r.reps[2]
    assert bad.score >= r.threshold and bad.flags == ["form"]
    assert bad.angles[0].angle.endswith("knee") and 25 <= bad.angles[0].degrees <= 35
    assert bad.feedback[0].startswith(f"your left knee: {bad.angles[0].degrees:.0f}° less bend than the reference "
                                      f"at the bottom of rep 3")
    assert all(x.score > 95 and x.flags == [] for x in r.reps if x.index in (1, 2, 4))
    assert r.reps[4].feedback == ["partial rep: only 61% of the reference's movement"] and r.reps[4].flags == []
    d = r.to_dict()
    assert d["bad"] == [3] and d["reps"][2]["flags"] == ["form"]


def test_flags_separate_a_low_score_from_a_form_fault():
    """Hand-made: a rep moving unlike the reference is flagged "score"; the same tolerance exceeded on a
    well-matched rep is "form" only."""
    from posesearch.sequence.reps import AngleDifference, Rep

    over = AngleDifference("left_knee", 30.0, 1.0, "bottom", 20.0)
    under = AngleDifference("left_knee", 5.0, 1.0, "bottom", 20.0)
    mk = lambda score, reasons, angles, partial=False: Rep(1, 0, 1, 0, 30, score, 0.1, 1.0, partial,  # noqa: E731
                                                           bool(reasons) and not partial, reasons, [], angles, [], [])
    assert mk(95, ["left_knee +30° (tolerance 20°)"], [over]).tag == "BAD (form)"
    assert mk(50, ["score 50 < 70"], [under]).tag == "BAD (score)"
    assert mk(50, ["score 50 < 70", "left_knee +30°"], [over]).flags == ["score", "form"]
    assert mk(99, [], [under]).tag == "ok" and mk(None, ["partial"], [over], partial=True).tag == "partial"
