"""Joint angles a coach uses, in degrees, from keypoints of any registered layout (vectorised numpy).

Every input is first mapped into COCO-17 (:meth:`Layout.convert_to_coco`); an angle whose joints the
layout lacks or did not detect is NaN, never guessed. Angles (``ANGLES``, in this order):

* ``left_elbow`` / ``right_elbow``: the inner angle at the elbow between the upper arm (elbow ->
  shoulder) and the forearm (elbow -> wrist); 180 = straight arm, smaller = more bend.
* ``left_shoulder`` / ``right_shoulder``: the angle at the shoulder between the trunk side (shoulder ->
  hip) and the upper arm (shoulder -> elbow); 0 = arm down along the body, 90 = raised sideways or
  forwards, 180 = overhead.
* ``left_hip`` / ``right_hip``: the inner angle at the hip between the trunk side (hip -> shoulder) and
  the thigh (hip -> knee); 180 = standing straight, smaller = more flexion.
* ``left_knee`` / ``right_knee``: the inner angle at the knee between thigh (knee -> hip) and shank
  (knee -> ankle); 180 = straight leg, smaller = more bend.
* ``trunk_lean``: the angle between the trunk (mid-hip -> mid-shoulder) and the image's up direction
  (-y, image y grows downwards); 0 = upright, 90 = horizontal. Unsigned, so a mirror image leans as much.
* ``head_tilt``: the angle between the eye line (else the ear line) and the shoulder line, folded into
  [0, 90]; 0 = head level with the shoulders. Only where the face is present (a layout with eyes or ears;
  Penn Action's single "head" point gives NaN).

Angles at a joint are the angle between two 2D vectors, ``atan2(|a x b|, a . b)``, in [0, 180]: they do
not change when the pose is moved, scaled or rotated in the image, and a mirror image has the same
angles with left and right swapped. Trunk lean is measured against the image's vertical, so it does
change with an image rotation (on purpose: leaning is relative to gravity, which the camera's "up"
stands for). Bend, as said to a person, is ``180 - angle`` for elbows, hips and knees.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidPoseError
from .layouts import COCO17_JOINTS, Layout, get_layout

_J = {n: i for i, n in enumerate(COCO17_JOINTS)}

#: (name, vertex joint, first arm joint, second arm joint) for the angles measured at a joint
_AT_JOINT = (
    ("left_elbow", "left_elbow", "left_shoulder", "left_wrist"),
    ("right_elbow", "right_elbow", "right_shoulder", "right_wrist"),
    ("left_shoulder", "left_shoulder", "left_hip", "left_elbow"),
    ("right_shoulder", "right_shoulder", "right_hip", "right_elbow"),
    ("left_hip", "left_hip", "left_shoulder", "left_knee"),
    ("right_hip", "right_hip", "right_shoulder", "right_knee"),
    ("left_knee", "left_knee", "left_hip", "left_ankle"),
    ("right_knee", "right_knee", "right_hip", "right_ankle"),
)
#: Every angle's name, in the order of the last axis of :func:`joint_angles`.
ANGLES: tuple[str, ...] = tuple(a[0] for a in _AT_JOINT) + ("trunk_lean", "head_tilt")
#: Angles where less than the reference means "less bend" (the angle opens as the joint straightens).
BEND_ANGLES = frozenset({"left_elbow", "right_elbow", "left_hip", "right_hip", "left_knee", "right_knee"})
#: The COCO joints each angle is made of (an angle is worth reporting only if its joints are seen).
ANGLE_JOINTS: dict[str, tuple[str, ...]] = {
    **{a[0]: a[1:] for a in _AT_JOINT},
    "trunk_lean": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "head_tilt": ("left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder"),
}
#: angle -> the angle of the other side (mirroring swaps them); trunk and head map to themselves
MIRROR_ANGLE = tuple(ANGLES.index(n.replace("left_", "@").replace("right_", "left_").replace("@", "right_"))
                     for n in ANGLES)


def _between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in degrees between 2D vectors a and b (..., 2); NaN where either has zero length."""
    cross = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    dot = (a * b).sum(axis=-1)
    na = np.hypot(a[..., 0], a[..., 1])
    nb = np.hypot(b[..., 0], b[..., 1])
    out = np.degrees(np.arctan2(np.abs(cross), dot))
    return np.where((na > 0) & (nb > 0), out, np.nan)


def joint_angles(keypoints, confidences=None, layout: "str | Layout" = "coco17") -> np.ndarray:
    """Joint angles (degrees) of (..., K, 2|3) keypoints of ``layout``: an array (..., len(ANGLES)).

    A (..., K, 3) array carries confidences in its last column; a keypoint with confidence 0 or a NaN
    coordinate is missing, and every angle using it is NaN.
    """
    lay = get_layout(layout)
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim < 2 or kp.shape[-1] not in (2, 3):
        raise InvalidPoseError(f"joint angles: expected (..., K, 2) or (..., K, 3) keypoints, got shape {kp.shape}")
    if confidences is None:
        confidences = kp[..., 2] if kp.shape[-1] == 3 else np.ones(kp.shape[:-1])
    kp = kp[..., :2]
    cf = np.asarray(confidences, dtype=np.float64)
    if kp.shape[-2] != lay.num_keypoints:
        raise InvalidPoseError(f"joint angles: layout {lay.name} expects {lay.num_keypoints} keypoints, "
                               f"got {kp.shape[-2]}")
    kp, cf = lay.convert_to_coco(kp, cf)
    present = (cf > 0) & ~np.isnan(kp).any(axis=-1)
    pts = np.where(present[..., None], kp, np.nan)           # NaN propagates into every angle using it
    out = np.empty(kp.shape[:-2] + (len(ANGLES),))

    def p(name):
        return pts[..., _J[name], :]

    for i, (_, v, a, b) in enumerate(_AT_JOINT):
        out[..., i] = _between(p(a) - p(v), p(b) - p(v))
    mid_hip = 0.5 * (p("left_hip") + p("right_hip"))
    mid_sh = 0.5 * (p("left_shoulder") + p("right_shoulder"))
    up = np.zeros_like(mid_hip)
    up[..., 1] = -1.0
    out[..., len(_AT_JOINT)] = _between(mid_sh - mid_hip, up)
    eyes = p("right_eye") - p("left_eye")
    ears = p("right_ear") - p("left_ear")
    face = np.where(np.isnan(eyes).any(axis=-1, keepdims=True), ears, eyes)
    tilt = _between(face, p("right_shoulder") - p("left_shoulder"))
    out[..., len(_AT_JOINT) + 1] = np.where(tilt > 90, 180 - tilt, tilt)
    return out


def mirror_angles(angles: np.ndarray) -> np.ndarray:
    """The angles of the mirror image: left and right swapped (values unchanged)."""
    return np.asarray(angles)[..., list(MIRROR_ANGLE)]


def side_words(angle: str) -> str:
    """``right_knee`` -> ``right knee`` (the person's own side, as COCO names it)."""
    return angle.replace("_", " ")
