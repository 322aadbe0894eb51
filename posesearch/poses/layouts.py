"""Keypoint layouts: joint names, left/right flip permutations and mappings into COCO-17.

COCO-17 is the canonical layout: every corpus and index stores poses in it. Other layouts map into
it joint by joint; a COCO joint a layout does not have is *missing* (confidence 0) after conversion,
never invented. Approximations (e.g. Penn Action's "head" is not a nose) are not made.

Names follow one convention: ``left_*`` / ``right_*`` are the *person's* left and right, as in COCO.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidPoseError, UnknownNameError
from ..registry import Registry

COCO17_JOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)


def _flip_of(joints: tuple[str, ...]) -> tuple[int, ...]:
    """Permutation swapping every ``left_X`` with ``right_X`` (joints without a side map to themselves)."""
    pos = {n: i for i, n in enumerate(joints)}
    out = []
    for n in joints:
        if n.startswith("left_"):
            other = "right_" + n[5:]
        elif n.startswith("right_"):
            other = "left_" + n[6:]
        else:
            other = n
        if other not in pos:
            raise AssertionError(f"layout joint {n!r} has no mirror partner {other!r}")
        out.append(pos[other])
    return tuple(out)


@dataclass(frozen=True)
class Layout:
    """A keypoint layout.

    Attributes:
        name: registry name (``coco17``, ``body25``, ...).
        joints: joint names in the order the keypoints come in.
        edges: skeleton bones as pairs of joint indices (for drawing).
        source_names: optional names as the producing tool spells them (e.g. PoseNet's ``leftEye``).
        flip: permutation ``p`` such that ``mirror(pose)[i] = flipped(pose[p[i]])``.
        to_coco: for each COCO-17 joint, the index of the same joint in this layout, or -1.
    """

    name: str
    joints: tuple[str, ...]
    description: str
    edges: tuple[tuple[int, int], ...] = ()
    source_names: tuple[str, ...] = ()
    flip: tuple[int, ...] = field(init=False)
    to_coco: tuple[int, ...] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "flip", _flip_of(self.joints))
        pos = {n: i for i, n in enumerate(self.joints)}
        object.__setattr__(self, "to_coco", tuple(pos.get(n, -1) for n in COCO17_JOINTS))

    @property
    def num_keypoints(self) -> int:
        return len(self.joints)

    def index(self, joint: str) -> int:
        """Index of a joint by name (our name or the source tool's spelling)."""
        if joint in self.joints:
            return self.joints.index(joint)
        if joint in self.source_names:
            return self.source_names.index(joint)
        raise UnknownNameError(f"joint of layout {self.name}", joint, self.joints)

    def missing_in_coco(self) -> list[str]:
        """COCO-17 joints this layout cannot provide."""
        return [COCO17_JOINTS[i] for i, j in enumerate(self.to_coco) if j < 0]

    def convert_to_coco(self, keypoints: np.ndarray, confidences: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map (..., K, 2) keypoints and (..., K) confidences of this layout into COCO-17.

        COCO joints this layout lacks get coordinates NaN and confidence 0 (missing).
        """
        keypoints = np.asarray(keypoints)
        confidences = np.asarray(confidences)
        if keypoints.shape[-2] != self.num_keypoints or confidences.shape[-1] != self.num_keypoints:
            raise InvalidPoseError(
                f"layout {self.name}: expected {self.num_keypoints} keypoints, got "
                f"{keypoints.shape[-2]} coordinates and {confidences.shape[-1]} confidences")
        if self.name == "coco17":
            return keypoints, confidences
        idx = np.asarray(self.to_coco)
        have = idx >= 0
        kp = np.full(keypoints.shape[:-2] + (17, 2), np.nan, dtype=np.result_type(keypoints, np.float32))
        cf = np.zeros(confidences.shape[:-1] + (17,), dtype=np.result_type(confidences, np.float32))
        kp[..., have, :] = keypoints[..., idx[have], :]
        cf[..., have] = confidences[..., idx[have]]
        return kp, cf


def _edges(joints, pairs):
    pos = {n: i for i, n in enumerate(joints)}
    return tuple((pos[a], pos[b]) for a, b in pairs)


_COCO_EDGES = [
    ("nose", "left_eye"), ("nose", "right_eye"), ("left_eye", "left_ear"), ("right_eye", "right_ear"),
    ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
]

COCO17 = Layout(
    "coco17", COCO17_JOINTS,
    "COCO 2017 person keypoints (PoseNet, MoveNet, YOLO-pose, MMPose): the canonical layout",
    _edges(COCO17_JOINTS, _COCO_EDGES),
    source_names=("nose", "leftEye", "rightEye", "leftEar", "rightEar", "leftShoulder", "rightShoulder",
                  "leftElbow", "rightElbow", "leftWrist", "rightWrist", "leftHip", "rightHip",
                  "leftKnee", "rightKnee", "leftAnkle", "rightAnkle"),
)

_BODY25_JOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
    "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
BODY25 = Layout(
    "body25", _BODY25_JOINTS, "OpenPose BODY_25",
    _edges(_BODY25_JOINTS, [
        ("nose", "neck"), ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"), ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("neck", "mid_hip"), ("mid_hip", "right_hip"), ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"), ("mid_hip", "left_hip"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("nose", "right_eye"), ("right_eye", "right_ear"), ("nose", "left_eye"),
        ("left_eye", "left_ear"), ("left_ankle", "left_big_toe"), ("left_big_toe", "left_small_toe"),
        ("left_ankle", "left_heel"), ("right_ankle", "right_big_toe"), ("right_big_toe", "right_small_toe"),
        ("right_ankle", "right_heel")]),
)

_BLAZE_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "left_mouth", "right_mouth", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)
BLAZEPOSE33 = Layout(
    "blazepose33", _BLAZE_JOINTS, "MediaPipe BlazePose (33 landmarks)",
    _edges(_BLAZE_JOINTS, [
        ("left_shoulder", "right_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_hip"),
        ("right_shoulder", "right_hip"), ("left_hip", "right_hip"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_ankle", "left_heel"), ("left_heel", "left_foot_index"), ("right_ankle", "right_heel"),
        ("right_heel", "right_foot_index"), ("nose", "left_eye"), ("nose", "right_eye"),
        ("left_eye", "left_ear"), ("right_eye", "right_ear")]),
    source_names=("nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
                  "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right") + _BLAZE_JOINTS[11:],
)

# Penn Action: the order as documented is head, l_shoulder, r_shoulder, ... but the data show the
# documented "l_*" joints are the person's RIGHT side (97% of front-view frames put index 1 image-left
# of index 2). We follow the data: index 1 is right_shoulder, index 2 left_shoulder, and so on.
_PENN_JOINTS = (
    "head", "right_shoulder", "left_shoulder", "right_elbow", "left_elbow", "right_wrist", "left_wrist",
    "right_hip", "left_hip", "right_knee", "left_knee", "right_ankle", "left_ankle",
)
PENN13 = Layout(
    "penn13", _PENN_JOINTS,
    "Penn Action (13 joints; documented l_*/r_* read as the person's right/left, as the data show)",
    _edges(_PENN_JOINTS, [
        ("head", "right_shoulder"), ("head", "left_shoulder"), ("right_shoulder", "left_shoulder"),
        ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("right_shoulder", "right_hip"), ("left_shoulder", "left_hip"),
        ("right_hip", "left_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("left_hip", "left_knee"), ("left_knee", "left_ankle")]),
)

_MPII_JOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist",
)
MPII16 = Layout(
    "mpii16", _MPII_JOINTS, "MPII Human Pose (16 joints)",
    _edges(_MPII_JOINTS, [
        ("right_ankle", "right_knee"), ("right_knee", "right_hip"), ("right_hip", "pelvis"),
        ("left_hip", "pelvis"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("pelvis", "thorax"),
        ("thorax", "upper_neck"), ("upper_neck", "head_top"), ("right_wrist", "right_elbow"),
        ("right_elbow", "right_shoulder"), ("right_shoulder", "thorax"), ("left_shoulder", "thorax"),
        ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist")]),
)

# CMU motion capture, as re-exported onto the CC_Base rig (see corpus.readers.bvh for the bones).
_CMU_JOINTS = (
    "pelvis", "spine", "chest", "neck", "head",
    "left_shoulder", "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist",
    "left_hip", "left_knee", "left_ankle", "left_toe", "right_hip", "right_knee", "right_ankle", "right_toe",
)
CMU19 = Layout(
    "cmu19", _CMU_JOINTS, "CMU mocap skeleton (19 body joints of the CC_Base rig)",
    _edges(_CMU_JOINTS, [
        ("pelvis", "spine"), ("spine", "chest"), ("chest", "neck"), ("neck", "head"),
        ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist"),
        ("pelvis", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_toe"),
        ("pelvis", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("right_ankle", "right_toe")]),
)

LAYOUTS: Registry[Layout] = Registry(
    "layout", {lay.name: lay for lay in (COCO17, BODY25, BLAZEPOSE33, PENN13, MPII16, CMU19)},
    aliases={"coco": "coco17", "posenet": "coco17", "movenet": "coco17", "openpose": "body25",
             "blazepose": "blazepose33", "mediapipe": "blazepose33", "penn": "penn13", "pennaction": "penn13",
             "mpii": "mpii16", "cmu": "cmu19"})
_BY_COUNT: dict[int, Layout] = {}
for _lay in LAYOUTS.values():
    _BY_COUNT.setdefault(_lay.num_keypoints, _lay)   # the first registered layout of a count wins


def get_layout(name: "str | Layout") -> Layout:
    """Look up a layout by name; unknown names raise an error listing the valid ones."""
    if isinstance(name, Layout):
        return name
    return LAYOUTS.lookup(name)


def layouts_for_count(num_keypoints: int) -> list[Layout]:
    """Every registered layout with this many keypoints (registry order)."""
    return [lay for lay in LAYOUTS.values() if lay.num_keypoints == num_keypoints]


def infer_layout(num_keypoints: int) -> tuple[Layout, str]:
    """The layout assumed for a file that names none, and why (for the ``assumed`` part of outputs):
    the first registered layout with this many keypoints. Unknown counts raise like :func:`layout_for_count`."""
    lay = layout_for_count(num_keypoints)
    fits = layouts_for_count(num_keypoints)
    if len(fits) > 1:
        return lay, (f"no layout given; {num_keypoints} keypoints fit {', '.join(x.name for x in fits)}: "
                     f"assumed {lay.name}")
    return lay, f"no layout given; {num_keypoints} keypoints fit only {lay.name}"


def layout_for_count(num_keypoints: int) -> Layout:
    """The layout with this many keypoints (used when a file does not name its layout)."""
    if num_keypoints not in _BY_COUNT:
        valid = ", ".join(f"{n} ({lay.name})" for n, lay in sorted(_BY_COUNT.items()))
        raise InvalidPoseError(f"cannot infer a layout from {num_keypoints} keypoints; known counts: {valid}")
    return _BY_COUNT[num_keypoints]
