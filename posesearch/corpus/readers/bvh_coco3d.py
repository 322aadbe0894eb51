"""3D COCO-17 joints of a CMU BVH file (the training and test data of the 2D->3D lifter, issue 20).

:mod:`.bvh` gives the 19 body joints of layout ``cmu19``, which has no face; COCO-17 detectors report a nose,
eyes and ears, which tell a person's facing. This module adds them from the CC_Base rig's head bones:

* eyes: the ``CC_Base_L_Eye`` / ``CC_Base_R_Eye`` bones;
* nose: 2 cm in front of the eyes' midpoint and 4 cm below it;
* ears: 7 cm to each side of the eyes' midpoint, 9 cm behind it and 1 cm below;

where "forward" is the direction from the ``CC_Base_Head`` bone (top of the neck; measured in the files at
the eyes' height, 12 cm behind them) to the eyes' midpoint, made perpendicular to the eye line, and "up" is
forward x left. The frame is
that of :func:`.bvh.load_mocap` (metres, Y up, subject facing +Z at its first motion frame, centred on the
mean pelvis). Files of the original CMU rig (no eye bones) are refused with a one-line error.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...errors import FileFormatError
from ...poses.layouts import COCO17
from .bvh import RIGS, _facing_rotation, _J, tpose_frames
from .bvh_kinematics import forward_kinematics, parse_bvh

FACE_BONES = ("CC_Base_L_Eye", "CC_Base_R_Eye", "CC_Base_Head")
_C = {n: i for i, n in enumerate(COCO17.joints)}
_BODY = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def coco3d_from_joints(body: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(T, 17, 3) COCO-17 joints from cmu19 joints (T, 19, 3) and the face bones (T, 3, 3) (module doc)."""
    out = np.empty(body.shape[:-2] + (17, 3))
    for side in ("left", "right"):
        for part in _BODY:
            out[..., _C[f"{side}_{part}"], :] = body[..., _J[f"{side}_{part}"], :]
    le, re, head = face[..., 0, :], face[..., 1, :], face[..., 2, :]
    mid = 0.5 * (le + re)
    lat = _unit(le - re)
    d = mid - head
    fwd = _unit(d - (d * lat).sum(axis=-1, keepdims=True) * lat)
    up = np.cross(fwd, lat)
    out[..., _C["nose"], :] = mid + 0.02 * fwd - 0.04 * up
    out[..., _C["left_eye"], :] = le
    out[..., _C["right_eye"], :] = re
    out[..., _C["left_ear"], :] = mid + 0.07 * lat - 0.09 * fwd - 0.01 * up
    out[..., _C["right_ear"], :] = mid - 0.07 * lat - 0.09 * fwd - 0.01 * up
    return out


def load_coco3d(path: "str | Path", *, every: int = 1, scale: float = 0.01) -> np.ndarray:
    """(T, 17, 3) COCO-17 joints in metres of a CC_Base BVH file, every ``every``-th frame after the leading
    T-pose run (the frames and frame of :func:`.bvh.load_mocap`)."""
    bvh = parse_bvh(path)
    names = bvh.skeleton.names
    missing = [b for b in RIGS["cc_base"] + FACE_BONES if b not in names]
    if missing:
        raise FileFormatError(str(path), f"3D COCO-17 joints need the CC_Base rig with eye bones; missing "
                                         f"{', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    if bvh.num_frames == 0:
        raise FileFormatError(str(path), "MOTION section has no frames")
    allj = forward_kinematics(bvh, list(RIGS["cc_base"]) + list(FACE_BONES)) * scale
    body, face = allj[:, :19], allj[:, 19:]   # face: the FACE_BONES
    tp = tpose_frames(body)
    lead = int(np.argmin(tp)) if not tp.all() else len(tp)
    if lead == len(tp):
        raise FileFormatError(str(path), "every frame is a T-pose: no motion")
    frames = np.arange(lead, len(body), int(every))
    R = _facing_rotation(body[lead])
    out = coco3d_from_joints(body[frames], face[frames]) @ R.T
    centre = (body[frames, _J["pelvis"]] @ R.T).mean(axis=0)
    out[..., 0] -= centre[0]
    out[..., 2] -= centre[2]
    return out
