"""Joint angles (posesearch.poses.angles): hand-checkable poses, every layout, and invariance properties."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from posesearch.errors import InvalidPoseError
from posesearch.poses.angles import ANGLES, joint_angles, mirror_angles
from posesearch.poses.layouts import COCO17_JOINTS, LAYOUTS, get_layout
from posesearch.poses.mirror import mirror

J = {n: i for i, n in enumerate(COCO17_JOINTS)}
A = {n: i for i, n in enumerate(ANGLES)}


def standing() -> np.ndarray:
    """A hand-made COCO pose (image y down): upright trunk, right arm straight out sideways, left elbow
    bent at a right angle, right knee bent at a right angle, level eyes."""
    p = np.zeros((17, 2))
    pts = {
        "nose": (0, -70), "left_eye": (5, -75), "right_eye": (-5, -75), "left_ear": (10, -73), "right_ear": (-10, -73),
        "left_shoulder": (20, -50), "right_shoulder": (-20, -50),
        "left_elbow": (20, -20), "left_wrist": (50, -20),            # upper arm down, forearm sideways: 90
        "right_elbow": (-50, -50), "right_wrist": (-80, -50),        # arm straight out sideways: elbow 180
        "left_hip": (15, 0), "right_hip": (-15, 0),
        "left_knee": (15, 40), "left_ankle": (15, 80),              # straight leg
        "right_knee": (-15, 40), "right_ankle": (-55, 40),          # shank horizontal: knee 90
    }
    for n, xy in pts.items():
        p[J[n]] = xy
    return p


def test_hand_checked_angles():
    a = joint_angles(standing())
    assert a[A["left_elbow"]] == pytest.approx(90)
    assert a[A["right_elbow"]] == pytest.approx(180)
    assert a[A["right_knee"]] == pytest.approx(90)
    assert a[A["left_knee"]] == pytest.approx(180)
    # right shoulder: trunk side (shoulder -> hip) (5, 50) against the arm (-30, 0): about 95.7 degrees
    assert a[A["right_shoulder"]] == pytest.approx(np.degrees(np.arccos((5 * -30) / (np.hypot(5, 50) * 30))))
    assert a[A["left_shoulder"]] == pytest.approx(np.degrees(np.arctan2(5, 50)))   # arm nearly along the trunk
    assert a[A["trunk_lean"]] == pytest.approx(0)
    assert a[A["head_tilt"]] == pytest.approx(0)


def test_trunk_lean_and_head_tilt():
    p = standing()
    # lean the upper body 45 degrees: shoulders moved sideways by their height above the hips
    for n in ("left_shoulder", "right_shoulder"):
        p[J[n], 0] += 50
    assert joint_angles(p)[A["trunk_lean"]] == pytest.approx(45)
    q = standing()
    q[J["right_eye"]] = (-5, -75)
    q[J["left_eye"]] = (10, -75 - 15 * np.tan(np.radians(20)))     # eye line 20 degrees off the shoulders
    assert joint_angles(q)[A["head_tilt"]] == pytest.approx(20)
    q[J["left_eye"]] = q[J["right_eye"]] = np.nan                   # no eyes: the ears' line (level) is used
    assert joint_angles(q)[A["head_tilt"]] == pytest.approx(0)


def test_missing_joints_give_nan_and_never_a_guess():
    cf = np.ones(17)
    cf[J["right_ankle"]] = 0
    a = joint_angles(standing(), cf)
    assert np.isnan(a[A["right_knee"]])
    assert np.isfinite(a[A["left_knee"]])
    # Penn Action has no eyes or ears: no head tilt
    penn = get_layout("penn13")
    kp = np.random.default_rng(0).normal(size=(4, 13, 2))
    a = joint_angles(kp, np.ones((4, 13)), penn)
    assert np.isnan(a[:, A["head_tilt"]]).all()
    assert np.isfinite(a[:, A["left_knee"]]).all()


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_every_layout_gives_the_same_angles_as_coco(name):
    """A COCO pose written into each layout (joints the layout has) gives the same angles."""
    lay = get_layout(name)
    coco = standing()
    kp = np.zeros((lay.num_keypoints, 2))
    cf = np.zeros(lay.num_keypoints)
    for i, j in enumerate(lay.to_coco):
        if j >= 0:
            kp[j] = coco[i]
            cf[j] = 1
    got = joint_angles(kp, cf, lay)
    want = joint_angles(coco)
    body = [A[n] for n in ANGLES if n != "head_tilt"]
    np.testing.assert_allclose(got[body], want[body], atol=1e-9)


def test_shape_errors():
    with pytest.raises(InvalidPoseError, match="expects 17 keypoints, got 13"):
        joint_angles(np.zeros((13, 2)))
    with pytest.raises(InvalidPoseError, match="expected"):
        joint_angles(np.zeros(5))


poses = st.builds(lambda seed: standing() + np.random.default_rng(seed).normal(0, 8, (17, 2)),
                  st.integers(0, 2 ** 31 - 1))


@settings(max_examples=60, deadline=None)
@given(poses, st.floats(-np.pi, np.pi), st.floats(0.05, 20), st.floats(-500, 500), st.floats(-500, 500))
def test_angles_at_joints_are_invariant_to_rotation_scale_translation(p, theta, scale, dx, dy):
    c, s = np.cos(theta), np.sin(theta)
    q = scale * p @ np.array([[c, s], [-s, c]]) + (dx, dy)
    at_joint = [A[n] for n in ANGLES if n not in ("trunk_lean",)]
    np.testing.assert_allclose(joint_angles(q)[at_joint], joint_angles(p)[at_joint], atol=1e-6)
    # trunk lean is against the image's up: unchanged by scale and translation only
    r = scale * p + (dx, dy)
    assert joint_angles(r)[A["trunk_lean"]] == pytest.approx(joint_angles(p)[A["trunk_lean"]], abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(poses)
def test_mirror_swaps_left_and_right_angles(p):
    m = mirror(p, layout="coco17")
    np.testing.assert_allclose(joint_angles(m), mirror_angles(joint_angles(p)), atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(poses)
def test_angles_are_in_range(p):
    a = joint_angles(p)
    assert ((a >= 0) & (a <= 180)).all()
    assert a[A["head_tilt"]] <= 90
