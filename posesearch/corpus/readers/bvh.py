"""Reader ``bvh``: CMU motion capture (BVH) -> 2D clips seen from chosen camera views.

Each file is parsed and run through forward kinematics once (:mod:`.bvh_kinematics`); the 19 body
joints of layout ``cmu19`` are taken from the rig's bones (the CC_Base rig of the iClone
re-exports in ``../shared/data/cmu_mocap``, or the original CMU/cgspeed rig), then projected once per view.

The 3D frame (:func:`load_mocap`): metres (file units × ``scale``, default 0.01 for centimetre files),
Y up, the file's vertical origin kept (the floor is near 0 in the CMU files), horizontally centred on the
clip's mean pelvis position and turned about the vertical axis so that the subject faces **+Z** in its
first motion frame (facing = (person's left) × up, the left direction taken from the left-minus-right hip
and shoulder vectors). So yaw 0 is a camera in front of the subject as it starts moving; yaw 90 is on its
left; see :func:`posesearch.corpus.readers.bvh_kinematics.project` for the camera.

Camera placement (``follow``): ``"mean"`` (default) is a fixed camera aimed at the clip's mean pelvis
position, ``distance`` metres away: the image shows the subject travelling. ``"root"`` moves the camera
with the pelvis (horizontally; its height stays at the mean pelvis height), keeping the subject centred.
Image units are the pixels of a camera of focal length ``focal`` (default 1000): at the default 4 m, a
metre at the target spans 250 px (orthographic = weak perspective at that scale).

T-pose: the BVH files were said to start with a T-pose, but measured, 34 of the 35 files present start
in motion; only 003_02 holds T-pose arms for its first 25 frames (followed by a 0.7 m jump).
``skip_tpose`` drops that *leading run* of T-pose frames (both arms straight, within ~12° of horizontal,
pointing to opposite sides); T-like poses later in a clip are kept.

Mirroring (``mirror=True``): the image of the mirrored scene, i.e. x -> -x about the camera axis, then the
layout's left/right permutation. Per frame this is :func:`posesearch.poses.mirror.mirror` up to a
horizontal shift; unlike that per-pose flip it also mirrors the subject's travel across the image.
"""
from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError, check_finite_positive, check_number
from ...poses.layouts import CMU19
from ...registry import Registry, option
from ..clip import Clip
from ._paths import expand
from .bvh_kinematics import PROJECTIONS, BVH, camera_axes, forward_kinematics, parse_bvh, project

FORMAT = "bvh"
DESCRIPTION = ("BVH motion capture (CMU mocap; CC_Base or CMU rig) projected to 2D from chosen camera "
               "yaws/pitch, layout cmu19")
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'motion capture'
NOTES = 'forward kinematics, then a camera at `--views` yaws, `--pitch`, orthographic or perspective, `--mirror`'
PATTERNS = ("*.bvh", "*.BVH")
LAYOUT = CMU19.name

#: For each known rig, the bone giving each cmu19 joint (in CMU19.joints order). A bone's position is
#: its joint (the head of the bone).
RIGS: dict[str, tuple[str, ...]] = {
    "cc_base": (
        "CC_Base_Hip", "CC_Base_Spine01", "CC_Base_Spine02", "CC_Base_NeckTwist01", "CC_Base_Head",
        "CC_Base_L_Upperarm", "CC_Base_L_Forearm", "CC_Base_L_Hand",
        "CC_Base_R_Upperarm", "CC_Base_R_Forearm", "CC_Base_R_Hand",
        "CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_L_Foot", "CC_Base_L_ToeBase",
        "CC_Base_R_Thigh", "CC_Base_R_Calf", "CC_Base_R_Foot", "CC_Base_R_ToeBase",
    ),
    "cmu": (  # the original CMU BVH conversion (cgspeed): Hips, LeftUpLeg, ...
        "Hips", "Spine", "Spine1", "Neck", "Head",
        "LeftArm", "LeftForeArm", "LeftHand", "RightArm", "RightForeArm", "RightHand",
        "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase",
        "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase",
    ),
}
assert all(len(b) == CMU19.num_keypoints for b in RIGS.values())

FOLLOW: Registry[str] = Registry("follow", ("mean", "root"))
_J = {n: i for i, n in enumerate(CMU19.joints)}
_INDEX_CSV = "cmu_index.csv"


@dataclass(frozen=True)
class Options:
    """The reader's options (flags where declared with :func:`option`, the others -O NAME=VALUE); see :func:`read`."""

    views: tuple[float, ...] = option((0.0,), "camera yaws in degrees, e.g. 0,45,90")
    pitch: float = option(0.0, "camera pitch in degrees")
    distance: float = option(4.0, "camera distance in metres")
    projection: str = option("orthographic", "orthographic | perspective")
    focal: float = 1000.0
    mirror: bool = option(False, "also add a left/right mirrored copy of every clip")
    skip_tpose: bool = True
    every: int = 1
    follow: str = "mean"
    scale: float = 0.01


@dataclass
class Mocap:
    """3D joints of one BVH file in the subject frame described in the module doc.

    Attributes:
        name: file stem, e.g. ``002_01``.
        joints: (T, 19, 3) float64 metres, layout ``cmu19``, Y up, subject facing +Z at the first frame.
        fps: frames per second (after ``every``).
        source: the file.
        frames: (T,) index of each frame in the file.
        labels: subject, trial, description (when known), rig.
    """

    name: str
    joints: np.ndarray
    fps: float
    source: str
    frames: np.ndarray
    labels: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.joints)


# ------------------------------------------------------------------------------------------------ paths

def expand_paths(paths: "str | Path | Iterable[str | Path]") -> list[Path]:
    """Files to read: each file as given; each folder replaced by its matching files (sorted, not recursive)."""
    return expand(paths, PATTERNS, "BVH files")


# ------------------------------------------------------------------------------------------------- index

_index_cache: dict[Path, dict[tuple[int, int], str]] = {}


def _load_index(csv_path: Path) -> dict[tuple[int, int], str]:
    csv_path = csv_path.resolve()
    if csv_path not in _index_cache:
        rows: dict[tuple[int, int], str] = {}
        try:
            with open(csv_path, newline="", encoding="utf-8", errors="replace") as f:
                for r in csv.DictReader(f):
                    try:
                        rows[(int(r["Subject"]), int(r["Trial #"]))] = (r.get("Motion Description") or "").strip()
                    except (KeyError, TypeError, ValueError):
                        continue
        except OSError:
            pass
        _index_cache[csv_path] = rows
    return _index_cache[csv_path]


def trial_description(path: "str | Path", subject: int, trial: int) -> str | None:
    """The trial's description from a ``cmu_index.csv`` in the file's folder or its parent, if any."""
    p = Path(path).resolve()
    for folder in (p.parent, p.parent.parent):
        c = folder / _INDEX_CSV
        if c.is_file():
            d = _load_index(c).get((subject, trial))
            if d is not None:
                return d
    return None


def _subject_trial(stem: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"0*(\d+)_0*(\d+)", stem)
    return (int(m.group(1)), int(m.group(2))) if m else None


# ------------------------------------------------------------------------------------------------- 3D

def tpose_frames(joints: np.ndarray, max_slope: float = 0.2, min_straight: float = 0.9) -> np.ndarray:
    """(T,) bool: both arms straight (wrist–shoulder distance >= ``min_straight`` × arm length), within
    asin(``max_slope``) ≈ 12° of horizontal, and pointing to opposite sides. ``joints`` (T, 19, 3) Y-up."""
    ok = np.ones(len(joints), dtype=bool)
    dirs = []
    for side in ("left", "right"):
        s, e, w = (joints[:, _J[f"{side}_{n}"]] for n in ("shoulder", "elbow", "wrist"))
        v = w - s
        span = np.linalg.norm(v, axis=-1)
        length = np.linalg.norm(e - s, axis=-1) + np.linalg.norm(w - e, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ok &= (np.abs(v[:, 1]) <= max_slope * span) & (span >= min_straight * length) & (span > 0)
        dirs.append(v / np.maximum(span, 1e-12)[:, None])
    ok &= np.einsum("ti,ti->t", dirs[0], dirs[1]) < -0.8
    return ok


def _facing_rotation(frame: np.ndarray) -> np.ndarray:
    """Rotation about Y turning a (19, 3) Y-up frame so that the person faces +Z."""
    left = (frame[_J["left_hip"]] - frame[_J["right_hip"]]) + (frame[_J["left_shoulder"]] - frame[_J["right_shoulder"]])
    fwd = np.cross(left, [0.0, 1.0, 0.0])  # forward = left × up
    fx, fz = fwd[0], fwd[2]
    if math.hypot(fx, fz) < 1e-9:
        return np.eye(3)
    a = math.atan2(fx, fz)  # angle of forward from +Z towards +X; rotate by -a about Y
    c, s = math.cos(-a), math.sin(-a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def mocap_from_bvh(bvh: BVH, *, skip_tpose: bool = True, every: int = 1, scale: float = 0.01,
                   name: str | None = None) -> Mocap:
    """The 19 body joints of a parsed BVH in the subject frame (see module doc)."""
    every = _check_every(every)
    scale = check_finite_positive("scale", scale)
    path = bvh.source or "<bvh>"
    sk = bvh.skeleton
    rig = next((r for r, bones in RIGS.items() if all(b in sk.names for b in bones)), None)
    if rig is None:
        best = min(RIGS, key=lambda r: sum(b not in sk.names for b in RIGS[r]))
        missing = [b for b in RIGS[best] if b not in sk.names]
        raise FileFormatError(path, f"unknown rig: no {best} bone(s) {', '.join(missing[:4])}"
                                    f"{' ...' if len(missing) > 4 else ''} (known rigs: {', '.join(RIGS)})")
    if bvh.num_frames == 0:
        raise FileFormatError(path, "MOTION section has no frames")
    joints = forward_kinematics(bvh, list(RIGS[rig])) * scale
    tp = tpose_frames(joints)
    lead = int(np.argmin(tp)) if not tp.all() else len(tp)  # length of the leading T-pose run
    if lead == len(tp):
        raise FileFormatError(path, "every frame is a T-pose: no motion")
    start = lead if skip_tpose else 0
    frames = np.arange(start, len(joints), every)
    R = _facing_rotation(joints[lead])
    sel = joints[frames] @ R.T
    centre = sel[:, _J["pelvis"]].mean(axis=0)
    sel[..., 0] -= centre[0]
    sel[..., 2] -= centre[2]
    stem = name if name is not None else Path(path).stem
    labels = {"rig": rig}
    st = _subject_trial(stem)
    if st is not None:
        labels["subject"], labels["trial"] = str(st[0]), str(st[1])
        if bvh.source:
            d = trial_description(bvh.source, *st)
            if d is not None:
                labels["description"] = d
    fps = bvh.fps
    if abs(fps - round(fps)) <= 1e-4 * fps:  # Frame Time 0.016667 -> 59.9988 -> 60
        fps = float(round(fps))
    return Mocap(stem, sel, fps / every, str(path), frames, labels)


def load_mocap(path: "str | Path", *, skip_tpose: bool = True, every: int = 1, scale: float = 0.01) -> Mocap:
    """Parse one BVH file and return its 3D body joints (T, 19, 3) in metres (see :class:`Mocap`)."""
    return mocap_from_bvh(parse_bvh(path), skip_tpose=skip_tpose, every=every, scale=scale)


# ------------------------------------------------------------------------------------------------- 2D

def _fmt(v: float) -> str:
    return f"{float(v):g}"


def project_mocap(mocap: Mocap, yaw: float = 0.0, *, pitch: float = 0.0, distance: float = 4.0,
                  projection: str = "orthographic", focal: float = 1000.0, mirror: bool = False,
                  follow: str = "mean") -> Clip:
    """The 2D clip of ``mocap`` seen from camera yaw/pitch (degrees), ``distance`` metres away."""
    follow = FOLLOW.canonical(follow)
    J = mocap.joints
    pelvis = J[:, _J["pelvis"]]
    if follow == "mean":
        target = pelvis.mean(axis=0)
    else:
        target = pelvis.copy()
        target[:, 1] = pelvis[:, 1].mean()
    xy = project(J, yaw, pitch, distance, projection=projection, focal=focal, target=target)
    p3 = J
    if mirror:
        xy = xy[:, np.asarray(CMU19.flip)]
        xy[..., 0] = -xy[..., 0]
        right = camera_axes(yaw, pitch)[0]     # the mirrored scene: reflected along the camera's x axis
        p3 = (J - 2.0 * (J @ right)[..., None] * right)[:, np.asarray(CMU19.flip)]
    labels = dict(mocap.labels)
    labels.update(view=_fmt(yaw), pitch=_fmt(pitch), projection=projection, mirrored=str(bool(mirror)).lower(),
                  distance=_fmt(distance))
    clip_id = f"cmu:{mocap.name}:yaw{_fmt(yaw)}"
    if float(pitch) != 0.0:
        clip_id += f":pitch{_fmt(pitch)}"
    if mirror:
        clip_id += ":mirror"
    return Clip(
        clip_id=clip_id,
        keypoints=xy.astype(np.float32),
        confidences=np.ones(xy.shape[:2], dtype=np.float32),
        layout=LAYOUT,
        fps=mocap.fps,
        source=mocap.source,
        labels=labels,
        frame_labels={"frame": mocap.frames.astype(np.int64)},
        points3d=p3.astype(np.float32),
    )


def _check_every(every) -> int:
    check_number("every", every, integer=True, low=1)
    return int(every)


def read(paths: "str | Path | Iterable[str | Path]", *, views: Iterable[float] = Options.views,
         pitch: float = Options.pitch, distance: float = Options.distance, projection: str = Options.projection,
         focal: float = Options.focal, mirror: bool = Options.mirror, skip_tpose: bool = Options.skip_tpose,
         every: int = Options.every, follow: str = Options.follow, scale: float = Options.scale) -> Iterator[Clip]:
    """Yield one Clip per file per view yaw (and a mirrored copy after each when ``mirror``).

    Clip ids ``cmu:<stem>:yaw<yaw>[:pitch<pitch>][:mirror]``; labels subject, trial, description (from a
    ``cmu_index.csv`` beside the file or in its parent folder), view, pitch, projection, mirrored,
    distance, rig; frame label ``frame`` (row in the file). Confidences are 1. ``points3d``: the 3D joints
    (metres, Y up, the subject facing +Z at its first motion frame; mirrored with the clip).
    """
    if isinstance(views, (int, float)):
        views = [views]
    views = list(views)
    if not views:
        raise InvalidArgumentError("views: expected at least one yaw angle, got none")
    for v in views:
        try:
            ok = math.isfinite(float(v))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise InvalidArgumentError(f"views: expected finite yaw angles in degrees, got {v!r}")
    projection, follow = PROJECTIONS.canonical(projection), FOLLOW.canonical(follow)
    check_finite_positive("distance", distance)
    check_finite_positive("focal", focal)
    check_finite_positive("scale", scale)
    _check_every(every)
    try:
        p_ok = math.isfinite(float(pitch)) and -90.0 < float(pitch) < 90.0
    except (TypeError, ValueError):
        p_ok = False
    if not p_ok:
        raise InvalidArgumentError(f"pitch: expected an angle strictly between -90 and 90 degrees, got {pitch!r}")
    for path in expand_paths(paths):
        mocap = load_mocap(path, skip_tpose=skip_tpose, every=every, scale=scale)
        for yaw in views:
            for m in ((False, True) if mirror else (False,)):
                try:
                    yield project_mocap(mocap, float(yaw), pitch=pitch, distance=distance, projection=projection,
                                        focal=focal, mirror=m, follow=follow)
                except InvalidArgumentError as e:
                    raise InvalidArgumentError(f"{path}: {e}") from None
