"""BVH parsing, forward kinematics, camera projection and the ``bvh`` corpus reader."""
from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import read_refused, shared_path
from posesearch.corpus.readers import bvh as reader
from posesearch.errors import FileFormatError, InvalidArgumentError
from posesearch.corpus.readers.bvh_kinematics import (
    camera_axes, euler_to_matrix, forward_kinematics, parse_bvh, project)
from posesearch.poses.layouts import CMU19
from posesearch.poses.mirror import mirror

J = {n: i for i, n in enumerate(CMU19.joints)}


# ---------------------------------------------------------------------------------------------- helpers

def Rx(d):
    a = math.radians(d)
    return np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])


def Ry(d):
    a = math.radians(d)
    return np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])


def Rz(d):
    a = math.radians(d)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])


ELEM = {"X": Rx, "Y": Ry, "Z": Rz}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


TINY = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.5
1 2 3 0 0 0 0 0 0
0 0 0 90 0 0 0 90 0
"""


def tiny(tmp_path) -> Path:
    return write(tmp_path / "tiny.bvh", TINY)


def reference_fk(sk, motion):
    """Brute force: per frame, recursive 4x4 homogeneous transforms M_j = M_parent T(offset + pos) R."""
    T, n = motion.shape[0], len(sk.names)
    out = np.zeros((T, n, 3))
    for t in range(T):
        Ms = {}
        for j in range(n):
            M = np.eye(4)
            trans = np.array(sk.offsets[j], dtype=float)
            R = np.eye(3)
            for k, c in enumerate(sk.channels[j]):
                v = motion[t, sk.channel_start[j] + k]
                if c.endswith("position"):
                    trans["XYZ".index(c[0])] += v
                else:
                    R = R @ ELEM[c[0]](v)
            M[:3, :3] = R
            M[:3, 3] = trans
            p = sk.parents[j]
            Ms[j] = M if p < 0 else Ms[p] @ M
            out[t, j] = Ms[j][:3, 3]
    return out


# Synthetic CMU-rig (cgspeed names) T-pose skeleton, Y up, facing +Z, left = +X, centimetres.
def _cmu_rig_text(rows: np.ndarray) -> str:
    def joint(name, off, children, kw="JOINT", chans="CHANNELS 3 Zrotation Xrotation Yrotation", ind=1):
        pad = "  " * ind
        s = f"{pad}{kw} {name}\n{pad}{{\n{pad}  OFFSET {off[0]} {off[1]} {off[2]}\n{pad}  {chans}\n"
        for c in children:
            s += c(ind + 1)
        return s + f"{pad}}}\n"

    def end(off):
        return lambda ind: ("  " * ind + "End Site\n" + "  " * ind + "{\n" + "  " * ind
                            + f"  OFFSET {off[0]} {off[1]} {off[2]}\n" + "  " * ind + "}\n")

    def J_(name, off, *children):
        return lambda ind: joint(name, off, children, ind=ind)

    def side(s, sign):
        arm = J_(f"{s}Arm", (sign * 15, -3, 0), J_(f"{s}ForeArm", (sign * 28, 0, 0),
                 J_(f"{s}Hand", (sign * 25, 0, 0), end((sign * 8, 0, 0)))))
        leg = J_(f"{s}UpLeg", (sign * 9, -5, 0), J_(f"{s}Leg", (0, -45, 0), J_(f"{s}Foot", (0, -42, 0),
                 J_(f"{s}ToeBase", (0, -5, 12), end((0, 0, 5))))))
        return arm, leg

    la, ll = side("Left", 1)
    ra, rl = side("Right", -1)
    neck = J_("Neck", (0, 20, 0), J_("Head", (0, 10, 0), end((0, 10, 0))), la, ra)
    spine = J_("Spine", (0, 10, 0), J_("Spine1", (0, 15, 0), neck))
    text = "HIERARCHY\n" + joint("Hips", (0, 0, 0), (spine, ll, rl), kw="ROOT",
                                 chans="CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation", ind=0)
    text += f"MOTION\nFrames: {len(rows)}\nFrame Time: 0.0333333\n"
    text += "\n".join(" ".join(f"{v:.6f}" for v in r) for r in rows) + "\n"
    return text


CMU_RIG_ORDER = ["Hips", "Spine", "Spine1", "Neck", "Head", "HeadEnd", "LeftArm", "LeftForeArm", "LeftHand",
                 "LHEnd", "RightArm", "RightForeArm", "RightHand", "RHEnd", "LeftUpLeg", "LeftLeg", "LeftFoot",
                 "LeftToeBase", "LTEnd", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "RTEnd"]


def cmu_rig_bvh(path: Path, n_frames: int = 12, tpose_frames: int = 2, root_yaw: float = 0.0, seed: int = 0) -> Path:
    """Frames: ``tpose_frames`` T-poses, then arms lowered (±80° about Z) plus random joint angles."""
    rng = np.random.default_rng(seed)
    # channel columns: Hips 6, then 3 per JOINT in file order (End Sites have none)
    joints = [n for n in CMU_RIG_ORDER if not n.endswith("End")]
    cols = 6 + 3 * (len(joints) - 1)
    rows = np.zeros((n_frames, cols))
    walk = np.linspace(0, 50, n_frames)  # walk forward (+Z when root_yaw is 0)
    rows[:, 0] = walk * math.sin(math.radians(root_yaw))
    rows[:, 1] = 100.0  # pelvis height
    rows[:, 2] = walk * math.cos(math.radians(root_yaw))
    rows[:, 5] = root_yaw  # Yrotation of the root (channel order Z X Y)
    col = {n: 6 + 3 * (i - 1) for i, n in enumerate(joints) if i > 0}
    for t in range(tpose_frames, n_frames):
        for n in joints[1:]:
            rows[t, col[n]:col[n] + 3] = rng.uniform(-15, 15, 3)
        rows[t, col["LeftArm"]] = -80.0
        rows[t, col["RightArm"]] = 80.0
    return write(path, _cmu_rig_text(rows))


def tpose19(width: float = 0.36) -> np.ndarray:
    """A hand-made (1, 19, 3) Y-up T-pose facing +Z (person's left = +X), metres."""
    P = np.zeros((19, 3))
    P[J["pelvis"]] = (0, 1.0, 0)
    P[J["spine"]] = (0, 1.1, 0)
    P[J["chest"]] = (0, 1.25, 0)
    P[J["neck"]] = (0, 1.45, 0)
    P[J["head"]] = (0, 1.6, 0.02)
    for side, s in (("left", 1), ("right", -1)):
        P[J[f"{side}_shoulder"]] = (s * width / 2, 1.42, 0)
        P[J[f"{side}_elbow"]] = (s * (width / 2 + 0.28), 1.42, 0)
        P[J[f"{side}_wrist"]] = (s * (width / 2 + 0.53), 1.42, 0)
        P[J[f"{side}_hip"]] = (s * 0.09, 0.95, 0)
        P[J[f"{side}_knee"]] = (s * 0.09, 0.5, 0)
        P[J[f"{side}_ankle"]] = (s * 0.09, 0.08, 0)
        P[J[f"{side}_toe"]] = (s * 0.09, 0.03, 0.12)
    return P[None]


# ---------------------------------------------------------------------------------------- parse + FK

def test_tiny_bvh_hand_computed(tmp_path):
    b = parse_bvh(tiny(tmp_path))
    assert b.skeleton.names == ("hips", "spine", "spine/End")
    assert b.skeleton.parents.tolist() == [-1, 0, 1]
    assert b.skeleton.channel_start.tolist() == [0, 6, 9]
    assert b.num_frames == 2 and b.fps == 2.0
    P = forward_kinematics(b)
    # frame 1: pure translation (1, 2, 3)
    np.testing.assert_allclose(P[0], [[1, 2, 3], [1, 12, 3], [1, 17, 3]], atol=1e-12)
    # frame 2: root Z 90 sends the spine offset (0,10,0) to (-10,0,0); spine X 90 sends (0,5,0) to (0,0,5)
    np.testing.assert_allclose(P[1], [[0, 0, 0], [-10, 0, 0], [-10, 0, 5]], atol=1e-12)
    # subset of joints by name and index
    np.testing.assert_allclose(forward_kinematics(b, ["spine/End", 0]), P[:, [2, 0]])


def _one_joint(tmp_path, order: str, values) -> np.ndarray:
    chans = " ".join(f"{a}rotation" for a in order)
    text = (f"HIERARCHY\nROOT r\n{{\n OFFSET 0 0 0\n CHANNELS 3 {chans}\n End Site\n {{\n  OFFSET 1 2 3\n }}\n}}\n"
            f"MOTION\nFrames: 1\nFrame Time: 0.1\n{' '.join(map(str, values))}\n")
    return forward_kinematics(parse_bvh(write(tmp_path / f"{order}.bvh", text)))[0, 1]


def test_channel_order_zxy_vs_xyz(tmp_path):
    ax, ay, az = 30.0, 45.0, 60.0
    off = np.array([1.0, 2.0, 3.0])
    zxy = _one_joint(tmp_path, "ZXY", [az, ax, ay])
    xyz = _one_joint(tmp_path, "XYZ", [ax, ay, az])
    np.testing.assert_allclose(zxy, Rz(az) @ Rx(ax) @ Ry(ay) @ off, atol=1e-12)
    np.testing.assert_allclose(xyz, Rx(ax) @ Ry(ay) @ Rz(az) @ off, atol=1e-12)
    assert np.linalg.norm(zxy - xyz) > 0.1  # the order matters
    # a single non-zero angle gives the same result whatever the order
    np.testing.assert_allclose(_one_joint(tmp_path, "ZXY", [0, 25, 0]), _one_joint(tmp_path, "XYZ", [25, 0, 0]),
                               atol=1e-12)


def test_position_channels_any_order_and_on_non_root(tmp_path):
    text = """HIERARCHY
ROOT a
{
  OFFSET 1 1 1
  CHANNELS 3 Zposition Xposition Yposition
  JOINT b
  {
    OFFSET 0 10 0
    CHANNELS 4 Yposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 1 0
    }
  }
}
MOTION
Frames: 1
Frame Time: 0.1
3 1 2 5 90 0 0
"""
    P = forward_kinematics(parse_bvh(write(tmp_path / "p.bvh", text)))[0]
    # positions are added to OFFSET: a = (1,1,1) + (1,2,3); b = a + (0, 10 + 5, 0); end = b + Rz90 (0,1,0)
    np.testing.assert_allclose(P, [[2, 3, 4], [2, 18, 4], [1, 18, 4]], atol=1e-12)


@st.composite
def random_bvh(draw):
    n = draw(st.integers(1, 6))
    parents = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    axes = st.permutations(["X", "Y", "Z"])
    chans = []
    for j in range(n):
        rot = [a + "rotation" for a in draw(axes)][: draw(st.integers(0, 3))]
        pos = [a + "position" for a in draw(axes)][: draw(st.integers(0, 3))] if (j == 0 or draw(st.booleans())) else []
        ch = rot + pos
        chans.append(draw(st.permutations(ch)) if ch else [])
    frames = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31))
    return parents, chans, frames, seed


def _bvh_text(parents, chans, offsets, motion) -> str:
    children = {j: [k for k in range(len(parents)) if parents[k] == j] for j in range(len(parents))}

    def node(j, ind):
        pad = "  " * ind
        kw = "ROOT" if parents[j] < 0 else "JOINT"
        s = f"{pad}{kw} j{j}\n{pad}{{\n{pad}  OFFSET {' '.join(repr(float(v)) for v in offsets[j])}\n"
        s += f"{pad}  CHANNELS {len(chans[j])} {' '.join(chans[j])}\n"
        for k in children[j]:
            s += node(k, ind + 1)
        if not children[j]:
            s += f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET 0 1 0\n{pad}  }}\n"
        return s + f"{pad}}}\n"

    text = "HIERARCHY\n" + node(0, 0)
    text += f"MOTION\nFrames: {len(motion)}\nFrame Time: 0.01\n"
    text += "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in motion)
    return text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(random_bvh())
def test_fk_matches_brute_force_and_is_rigid(tmp_path, spec):
    parents, chans, frames, seed = spec
    rng = np.random.default_rng(seed)
    # reorder to DFS file order so indices in the written file match
    offsets = rng.uniform(-20, 20, (len(parents), 3))
    ncols = sum(len(c) for c in chans)
    motion = rng.uniform(-180, 180, (frames, ncols))
    text = _bvh_text(parents, chans, offsets, motion)
    b = parse_bvh(write(tmp_path / "r.bvh", text))
    P = forward_kinematics(b)
    np.testing.assert_allclose(P, reference_fk(b.skeleton, b.motion), atol=1e-9)
    # rigid: a joint without position channels stays |OFFSET| from its parent in every frame
    sk = b.skeleton
    for j in range(1, len(sk.names)):
        if not any(c.endswith("position") for c in sk.channels[j]):
            d = np.linalg.norm(P[:, j] - P[:, sk.parents[j]], axis=-1)
            np.testing.assert_allclose(d, np.linalg.norm(sk.offsets[j]), rtol=1e-9, atol=1e-9)


def test_euler_to_matrix_is_a_rotation(rng):
    R = euler_to_matrix(rng.uniform(-360, 360, (50, 3)), "ZYX")
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)


# ------------------------------------------------------------------------------------- malformed files

GOOD_HEAD = TINY.split("MOTION")[0]


@pytest.mark.parametrize("name,text,expect", [
    ("empty", "", "empty"),
    ("blank", "\n  \n", "empty"),
    ("json", '{"keypoints": [1, 2, 3]}', "not a BVH file: expected 'HIERARCHY'"),
    ("no_motion", GOOD_HEAD, "no MOTION section"),
    ("cut_hierarchy", GOOD_HEAD[:GOOD_HEAD.index("End Site")], "truncated HIERARCHY"),
    ("channels_abc", GOOD_HEAD.replace("CHANNELS 3", "CHANNELS abc"), "line 9: expected CHANNELS count, got 'abc'"),
    ("channels_too_many", GOOD_HEAD.replace("CHANNELS 3", "CHANNELS 4") + "MOTION\nFrames: 0\nFrame Time: 1\n",
     "expected a channel name"),
    ("bad_channel", GOOD_HEAD.replace("Xrotation Yrotation\n    End", "Xrotation Wrotation\n    End"),
     "got 'Wrotation'"),
    ("offset_nan", GOOD_HEAD.replace("OFFSET 0 10 0", "OFFSET 0 ten 0"), "line 8: expected an OFFSET number, got 'ten'"),
    ("extra_brace", GOOD_HEAD + "}\nMOTION\nFrames: 0\nFrame Time: 1\n", "unbalanced '}'"),
    ("missing_brace", GOOD_HEAD.rstrip()[:-1] + "\nMOTION\nFrames: 0\nFrame Time: 1\n", "unclosed"),
    ("frames_word", TINY.replace("Frames: 2", "Frames: two"), "expected a frame count after 'Frames:', got 'two'"),
    ("no_frame_time", TINY.replace("Frame Time: 0.5", "Speed: 0.5"), "expected 'Frame Time:'"),
    ("neg_frame_time", TINY.replace("Frame Time: 0.5", "Frame Time: -0.5"), "positive frame time"),
    ("fewer_frames", TINY.replace("Frames: 2", "Frames: 3"), "MOTION section has 2 frames, header says 3"),
    ("more_frames", TINY.replace("Frames: 2", "Frames: 1"), "MOTION section has 2 frames, header says 1"),
    ("cut_mid_row", TINY[:TINY.rindex(" 90 0")], "MOTION frame 2 has 7 values, expected 9 (truncated?)"),
    ("short_rows", TINY.replace("1 2 3 0 0 0 0 0 0", "1 2 3 0 0 0 0 0").replace("0 0 0 90 0 0 0 90 0", "0 0 0 90 0 0 0 90"),
     "MOTION section has 2 frames of 8 values, expected 9"),
    ("non_number", TINY.replace("0 0 0 90 0 0 0 90 0", "0 0 0 90 x 0 0 90 0"),
     "line 20: expected a number in MOTION data, got 'x'"),
    ("inf_value", TINY.replace("0 0 0 90 0 0 0 90 0", "0 0 0 90 inf 0 0 90 0"), "line 20: non-finite value inf in MOTION data"),
    ("dup_name", GOOD_HEAD.replace("JOINT spine", "JOINT hips"), "duplicate joint name 'hips'"),
])
def test_malformed_bvh(tmp_path, name, text, expect):
    p = write(tmp_path / f"{name}.bvh", text)
    with pytest.raises(FileFormatError) as ei:
        parse_bvh(p)
    msg = str(ei.value)
    assert str(p) in msg and expect in msg, msg
    assert "\n" not in msg


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "bin.bvh"
    p.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(FileFormatError, match="bin.bvh: not a BVH file"):
        parse_bvh(p)
    with pytest.raises(FileFormatError, match="nope.bvh: cannot read"):
        parse_bvh(tmp_path / "nope.bvh")


def test_real_file_cut_mid_motion(tmp_path):
    src = shared_path("cmu_mocap", "bvh", "002_03.bvh")
    data = src.read_bytes()
    p = tmp_path / "cut.bvh"
    p.write_bytes(data[: int(len(data) * 0.8)])
    with pytest.raises(FileFormatError, match=r"cut.bvh: line \d+: MOTION frame \d+ has \d+ values, expected \d+ \(truncated\?\)"):
        parse_bvh(p)


# ------------------------------------------------------------------------------------------- projection

def test_camera_axes_orthonormal_right_handed():
    for yaw in (-170, 0, 33, 90, 180, 271):
        for pitch in (-60, 0, 20, 89):
            r, u, f = camera_axes(yaw, pitch)
            M = np.stack([r, u, f])
            np.testing.assert_allclose(M @ M.T, np.eye(3), atol=1e-12)
            np.testing.assert_allclose(np.cross(r, u), -f, atol=1e-12)  # looks along -(r x u), as OpenGL


def test_yaw0_front_view_of_tpose():
    P = tpose19()
    xy = project(P, 0.0)
    lw, rw = xy[0, J["left_wrist"]], xy[0, J["right_wrist"]]
    assert lw[0] > 0 > rw[0]  # the person's left hand on the image right
    assert xy[0, J["head"], 1] < xy[0, J["pelvis"], 1] < xy[0, J["left_ankle"], 1]  # y down
    # orthographic scale focal / distance: the 1.42 m arm span spans 1000/4 * 1.42 px
    assert lw[0] - rw[0] == pytest.approx(1000 / 4 * (0.36 + 2 * 0.53))
    assert lw[1] == pytest.approx(rw[1])  # arms horizontal and symmetric


def test_yaw180_mirrors_x_and_yaw90_is_side_view(rng):
    P = tpose19() + rng.normal(0, 0.05, (1, 19, 3))
    P = np.concatenate([P, P + [0.3, 0.1, -0.2]])
    a = project(P, 0.0)
    b = project(P, 180.0)
    np.testing.assert_allclose(b[..., 0], -a[..., 0], atol=1e-9)
    np.testing.assert_allclose(b[..., 1], a[..., 1], atol=1e-9)
    side = project(tpose19(), 90.0)
    width0 = abs(a[0, J["left_shoulder"], 0] - a[0, J["right_shoulder"], 0])
    assert abs(side[0, J["left_shoulder"], 0] - side[0, J["right_shoulder"], 0]) < 1e-9 * width0 + 1e-9
    # yaw 90 = camera on the subject's left (+X) looking towards -X, image right = -Z: the toe (z = +0.12,
    # in front of the ankle) appears image-left of the ankle
    assert side[0, J["left_toe"], 0] < side[0, J["left_ankle"], 0]
    # and the left arm points at the camera: nearer than the right arm
    _, depth = project(tpose19(), 90.0, return_depth=True)
    assert depth[0, J["left_wrist"]] < depth[0, J["right_wrist"]]


def test_pitch_looks_down():
    P = tpose19()
    _, depth = project(P, 0.0, 30.0, return_depth=True)
    assert depth[0, J["head"]] < depth[0, J["left_ankle"]]  # camera above: head nearer than the feet
    top = project(P, 0.0, 89.0)
    # from (almost) above, the toes (z = +0.12, towards the camera side) appear below the ankles in the image
    assert top[0, J["left_toe"], 1] > top[0, J["left_ankle"], 1]


def test_orthographic_and_perspective_agree_far_away(rng):
    P = tpose19() + rng.normal(0, 0.05, (3, 19, 3))
    for yaw, pitch in ((0, 0), (45, 10), (200, -20)):
        for dist in (10.0, 1000.0):
            o = project(P, yaw, pitch, dist, projection="orthographic")
            p = project(P, yaw, pitch, dist, projection="perspective")
            err = np.abs(o - p).max() / np.ptp(o[..., 1])
            assert err < (0.2 if dist == 10 else 2e-3)
            if dist == 10:
                assert err > 1e-3  # foreshortening is real at 10 m
    # a point at the target projects to the image centre, nearer points appear larger
    q = P.reshape(-1, 3).mean(0)
    c = project(q[None, None], 30, 10, 5.0, projection="perspective", target=q)
    np.testing.assert_allclose(c, 0, atol=1e-9)
    near = project(P, 0, 0, 3.0, projection="perspective")
    far = project(P, 0, 0, 6.0, projection="perspective")
    assert np.ptp(near[..., 1]) > np.ptp(far[..., 1])


def test_project_bad_arguments():
    P = tpose19()
    with pytest.raises(InvalidArgumentError, match="projection"):
        project(P, projection="fisheye")
    with pytest.raises(InvalidArgumentError, match="distance"):
        project(P, distance=0)
    with pytest.raises(InvalidArgumentError, match="pitch"):
        project(P, pitch_deg=90)
    with pytest.raises(InvalidArgumentError, match="yaw"):
        project(P, yaw_deg=float("nan"))
    with pytest.raises(InvalidArgumentError, match="points3d"):
        project(P[0])
    with pytest.raises(InvalidArgumentError, match="behind or too close"):
        project(P, 0, 0, 0.1, projection="perspective", target=P[0, J["pelvis"]])


# -------------------------------------------------------------------------------------- reader (synthetic)

def test_reader_on_synthetic_cmu_rig(tmp_path):
    p = cmu_rig_bvh(tmp_path / "007_03.bvh", n_frames=12, tpose_frames=2)
    m = reader.load_mocap(p)
    assert m.labels["rig"] == "cmu" and m.labels["subject"] == "7" and m.labels["trial"] == "3"
    assert "description" not in m.labels
    assert m.joints.shape == (10, 19, 3) and m.frames.tolist() == list(range(2, 12))
    assert m.fps == 30.0  # 1 / 0.0333333 rounded
    # metres, facing +Z (left hip at +X), horizontally centred on the mean pelvis, floor kept
    assert m.joints[0, J["left_hip"], 0] > m.joints[0, J["right_hip"], 0]
    np.testing.assert_allclose(m.joints[:, J["pelvis"], [0, 2]].mean(0), 0, atol=1e-12)
    assert 0.9 < m.joints[:, J["pelvis"], 1].mean() < 1.1
    full = reader.load_mocap(p, skip_tpose=False)
    assert len(full) == 12 and reader.tpose_frames(full.joints).tolist()[:3] == [True, True, False]
    # a clip turned by a root yaw gives the same subject-frame joints
    turned = reader.load_mocap(cmu_rig_bvh(tmp_path / "007_04.bvh", root_yaw=70.0))
    np.testing.assert_allclose(turned.joints, m.joints, atol=1e-6)  # file values have 6 decimals


def test_reader_clips_views_mirror_labels(tmp_path):
    p = cmu_rig_bvh(tmp_path / "002_01.bvh")
    with open(tmp_path / "cmu_index.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Subject", "Trial #", "Motion Description", "framerate", "Frames 60fps"])
        w.writerow([2, 1, "walk", 120, 12])
    clips = list(reader.read([tmp_path], views=(0, 45), mirror=True, every=2))
    assert [c.clip_id for c in clips] == ["cmu:002_01:yaw0", "cmu:002_01:yaw0:mirror",
                                          "cmu:002_01:yaw45", "cmu:002_01:yaw45:mirror"]
    c, cm = clips[0], clips[1]
    assert c.layout == "cmu19" and c.keypoints.dtype == np.float32 and c.keypoints.shape == (5, 19, 2)
    assert np.all(c.confidences == 1.0) and c.fps == pytest.approx(15.0, rel=1e-5)
    assert c.frame_labels["frame"].tolist() == [2, 4, 6, 8, 10]
    assert c.labels["description"] == "walk" and c.labels["view"] == "0" and c.labels["mirrored"] == "false"
    assert cm.labels["mirrored"] == "true" and clips[2].labels["view"] == "45"
    # mirrored = x-negated image with left/right labels swapped
    np.testing.assert_allclose(cm.keypoints[..., 0], -c.keypoints[:, CMU19.flip, 0], atol=1e-4)
    np.testing.assert_allclose(cm.keypoints[..., 1], c.keypoints[:, CMU19.flip, 1], atol=1e-4)
    # per frame it is the per-pose mirror of posesearch.poses.mirror up to a horizontal shift
    per_pose = mirror(c.keypoints, layout="cmu19")
    shift = per_pose[..., 0] - cm.keypoints[..., 0]
    np.testing.assert_allclose(shift - shift[:, :1], 0, atol=1e-3)
    np.testing.assert_allclose(per_pose[..., 1], cm.keypoints[..., 1], atol=1e-4)
    # perspective and pitch ids
    [cp] = reader.read(p, views=[30], pitch=15, projection="perspective", follow="root")
    assert cp.clip_id == "cmu:002_01:yaw30:pitch15" and cp.labels["projection"] == "perspective"


def test_mirrored_clip_is_the_image_of_the_mirrored_person(tmp_path):
    # Mirroring the 3D skeleton (x -> -x, left <-> right) and projecting = mirroring the projection.
    m = reader.load_mocap(cmu_rig_bvh(tmp_path / "001_01.bvh"))
    mm = dataclasses.replace(m, joints=(m.joints * [-1, 1, 1])[:, CMU19.flip])
    for projection in ("orthographic", "perspective"):
        a = reader.project_mocap(m, 0.0, projection=projection, mirror=True)
        b = reader.project_mocap(mm, 0.0, projection=projection)
        np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-3)


def test_reader_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    read_refused(reader, empty, "empty: folder has no BVH files")
    read_refused(reader, tmp_path / "missing.bvh", "missing.bvh: no such file")
    read_refused(reader, tiny(tmp_path), "tiny.bvh: unknown rig")
    read_refused(reader, write(tmp_path / "bad.bvh", TINY.replace("Frames: 2", "Frames: 5")), "bad.bvh: truncated")
    good = cmu_rig_bvh(tmp_path / "good.bvh")
    for kw, word in ((dict(views=[float("inf")]), "views"), (dict(views=[]), "views"), (dict(every=0), "every"),
                     (dict(projection="fisheye"), "projection"), (dict(pitch=90), "pitch"),
                     (dict(distance=-1), "distance"), (dict(follow="drone"), "follow")):
        read_refused(reader, good, word, InvalidArgumentError, **kw)
    read_refused(reader, good, "good.bvh: distance", InvalidArgumentError, projection="perspective", distance=0.05)


def test_tpose_frames_detector():
    P = np.repeat(tpose19(), 3, axis=0)
    P[1, J["left_wrist"], 1] -= 0.5  # left arm lowered
    P[2, [J["left_elbow"], J["left_wrist"]]] = P[2, [J["right_elbow"], J["right_wrist"]]]  # both arms one side
    assert reader.tpose_frames(P).tolist() == [True, False, False]


# ------------------------------------------------------------------------------------------- real data

@pytest.fixture(scope="module")
def cmu_dir():
    return shared_path("cmu_mocap", "bvh")


@pytest.fixture(scope="module")
def cmu_index(cmu_dir):
    rows = {}
    with open(cmu_dir.parent / "cmu_index.csv", newline="") as f:
        for r in csv.DictReader(f):
            rows[(int(r["Subject"]), int(r["Trial #"]))] = r
    return rows


def test_real_all_files_parse_and_match_index(cmu_dir, cmu_index):
    files = sorted(cmu_dir.glob("*.bvh"))
    assert len(files) >= 35
    for f in files:
        b = parse_bvh(f)
        s, t = (int(v) for v in f.stem.split("_"))
        row = cmu_index[(s, t)]
        assert b.num_frames == int(row["Frames 60fps"]), f
        assert int(row["framerate"]) == 120 and b.frame_time == pytest.approx(1 / 60, rel=1e-4)
        m = reader.mocap_from_bvh(b)
        assert m.fps == 60.0 and m.labels["description"] == row["Motion Description"]
        assert np.isfinite(m.joints).all()
        # a human in metres: head above pelvis in most frames; head 1.3-2 m above the lowest toe (90th pct)
        up = (m.joints[:, J["head"], 1] > m.joints[:, J["pelvis"], 1]).mean()
        assert up > 0.8, f
        h = m.joints[:, J["head"], 1] - m.joints[:, [J["left_toe"], J["right_toe"]], 1].min(axis=1)
        assert 1.3 < np.percentile(h, 90) < 2.0, f


def test_real_bone_lengths_constant_and_symmetric(cmu_dir):
    m = reader.load_mocap(cmu_dir / "005_01.bvh")
    limbs = [("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"), ("ankle", "toe")]
    for a, b in limbs:
        lens = {}
        for side in ("left", "right"):
            d = np.linalg.norm(m.joints[:, J[f"{side}_{a}"]] - m.joints[:, J[f"{side}_{b}"]], axis=-1)
            assert d.std() < 1e-6 * d.mean(), (side, a, b)  # rigid FK (float64)
            lens[side] = d.mean()
        assert lens["left"] == pytest.approx(lens["right"], rel=0.02)


def test_real_tpose_frame_geometry(cmu_dir):
    # 003_02 is the one file that starts with T-pose arms (25 frames); skip_tpose drops exactly those
    full = reader.load_mocap(cmu_dir / "003_02.bvh", skip_tpose=False)
    kept = reader.load_mocap(cmu_dir / "003_02.bvh")
    lead = int(np.argmin(reader.tpose_frames(full.joints)))
    assert lead == 25 and len(kept) == len(full) - 25 and kept.frames[0] == 25
    f = full.joints[0]
    for side, sign in (("left", 1), ("right", -1)):
        v = f[J[f"{side}_wrist"]] - f[J[f"{side}_shoulder"]]
        assert abs(v[1]) < 0.15 * np.linalg.norm(v)  # horizontal arm
        assert sign * v[0] > 0.8 * np.linalg.norm(v)  # person's left arm towards +X (faces +Z)
    la = np.linalg.norm(f[J["left_wrist"]] - f[J["left_shoulder"]])
    ra = np.linalg.norm(f[J["right_wrist"]] - f[J["right_shoulder"]])
    assert la == pytest.approx(ra, rel=0.02)  # symmetric span
    xy = project(full.joints[:1], 0.0)
    assert xy[0, J["left_wrist"], 0] > xy[0, J["neck"], 0] > xy[0, J["right_wrist"], 0]
    assert abs(xy[0, J["left_wrist"], 1] - xy[0, J["right_wrist"], 1]) < 0.2 * abs(
        xy[0, J["left_wrist"], 0] - xy[0, J["right_wrist"], 0])


def test_real_walk_views(cmu_dir):
    c0, c90, c180 = reader.read(cmu_dir / "005_01.bvh", views=(0, 90, 180))
    assert c0.clip_id == "cmu:005_01:yaw0" and c0.labels["description"] == "walk" and c0.fps == 60.0
    sh = lambda c: c.keypoints[:, J["left_shoulder"], 0] - c.keypoints[:, J["right_shoulder"], 0]
    width = np.abs(sh(c0)).mean()
    assert (sh(c0) > 0).mean() > 0.95  # facing the camera: the left shoulder on the image right
    assert np.abs(sh(c90)).mean() < 0.25 * width  # side view
    np.testing.assert_allclose(c180.keypoints[..., 0], -c0.keypoints[..., 0], atol=1e-3)
    np.testing.assert_allclose(c180.keypoints[..., 1], c0.keypoints[..., 1], atol=1e-3)
    # walking towards the yaw-0 camera: a perspective image grows
    [p] = reader.read(cmu_dir / "005_01.bvh", projection="perspective")
    h = np.ptp(p.keypoints[..., 1], axis=1)
    assert h[-10:].mean() > h[:10].mean()
