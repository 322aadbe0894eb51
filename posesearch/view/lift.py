"""2D -> 3D lifting of poses, canonical facing, and the view-invariant vector of index metric ``view`` (issue 20).

A small residual MLP in the style of Martinez et al. (2017), trained on the CMU motion capture seen by random
virtual cameras (``scripts/train_lift.py``, fixed seed; CMU subjects 1, 2, 3 for training, 5 held out),
runs here in numpy: no torch at run time. Its weights ship in the package (``lift_weights.npz``, 1.1
MB) with a SHA-256 of their arrays, checked when they are first loaded.

Conventions (COCO-17 joints, 3D Y up as in :mod:`posesearch.corpus.readers.bvh`):

* :func:`lift` input: 2D keypoints in any registered layout, image coordinates (y down) with confidences;
  joints the layout lacks or with confidence 0 are missing. The network sees each pose centred on its hip
  midpoint (or on its present joints' mean without both hips) and scaled to unit RMS radius.
* :func:`lift` output (N, 17, 3): the pose in the camera's *yaw* frame: X right in the image, Y up
  (vertical, the camera's pitch removed), Z towards the camera; root (hip midpoint) at the origin, RMS
  distance of the 17 joints from the root = 1 (:func:`normalize3d`). The scale of the person is not
  recovered, only the shape.
* :func:`canonicalize`: the same pose turned about the vertical axis so that it faces +Z (facing = left x up,
  left from the hips' and shoulders' left-minus-right vectors, as in :mod:`~posesearch.corpus.readers.bvh`).
  The camera's yaw no longer matters: two cameras around one person give (nearly) one canonical pose.
* :func:`embed` (N, 34): the canonical pose, scaled to unit length, projected on the 34 principal
  directions of the training poses' canonical forms and scaled to unit length again. The L2 distance of
  two vectors is close to the RMS joint distance of the two canonical poses (in units of the RMS radius);
  34 numbers so that every index backend stores them like Move Mirror vectors.
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import ChecksumError, FileFormatError, InvalidPoseError
from ..poses.layouts import COCO17, Layout, get_layout
from ..poses.pose import validate_batch

WEIGHTS_PATH = Path(__file__).with_name("lift_weights.npz")
FORMAT = "posesearch-lift"
FORMAT_VERSION = 1
NUM_JOINTS = COCO17.num_keypoints
EMBED_DIM = 34
#: fewer present joints than this: the pose is refused (4 points barely fix a body's 3D shape)
MIN_PRESENT = 4
_C = {n: i for i, n in enumerate(COCO17.joints)}
LHIP, RHIP, LSHO, RSHO = _C["left_hip"], _C["right_hip"], _C["left_shoulder"], _C["right_shoulder"]


# ------------------------------------------------------------------------------------------ weights

def arrays_checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over every array (sorted by name: name, dtype, shape, bytes) except ``checksum`` itself."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        if name == "checksum":
            continue
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def load_weights(path: "str | Path" = WEIGHTS_PATH) -> dict[str, np.ndarray]:
    """The lifter's arrays, checked: a readable npz of format ``posesearch-lift`` version 1 whose stored
    checksum matches its arrays; anything else raises a one-line FileFormatError / ChecksumError."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise FileFormatError(str(path), "lifting weights not found (reinstall posesearch)") from None
    except Exception as e:  # zip / npy header errors of a damaged file: one line, never a traceback
        raise FileFormatError(str(path), f"not a readable weights file ({type(e).__name__}: {str(e)[:80]})") from None
    if "meta" not in arrays or "checksum" not in arrays:
        raise FileFormatError(str(path), "not a posesearch lifting weights file (no meta / checksum)")
    stored, actual = str(arrays["checksum"]), arrays_checksum(arrays)
    if stored != actual:
        raise ChecksumError(str(path), f"lifting weights checksum {actual[:12]}... does not match the stored "
                                       f"{stored[:12]}...: the file is damaged; reinstall posesearch")
    meta = json.loads(str(arrays["meta"]))
    if meta.get("format") != FORMAT or meta.get("version") != FORMAT_VERSION:
        raise FileFormatError(str(path), f"expected {FORMAT} version {FORMAT_VERSION}, got "
                                         f"{meta.get('format')!r} version {meta.get('version')!r}")
    return arrays


@lru_cache(maxsize=1)
def _model() -> dict[str, np.ndarray]:
    return load_weights(WEIGHTS_PATH)


def available() -> bool:
    """Whether the shipped weights are present and verify (no torch needed); the reason otherwise comes from
    :func:`load_weights` (a one-line FileFormatError)."""
    try:
        _model()
    except (FileFormatError, OSError):
        return False
    return True


def model_id() -> str:
    """The shipped model's checksum (first 16 hex digits): a ``view`` index records it, and is refused by a
    posesearch whose model differs (its stored vectors would not match the queries')."""
    return str(_model()["checksum"])[:16]


def model_info() -> dict:
    """What the shipped model is: its training settings and validation figures (the npz's ``meta``)."""
    return json.loads(str(_model()["meta"]))


# ------------------------------------------------------------------------------------------ geometry

def _root(points: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, D) hip midpoint where both hips are present, else the mean of the present joints."""
    w = present.astype(np.float64)
    mean = (points * w[..., None]).sum(axis=1) / np.maximum(w.sum(axis=1, keepdims=True), 1.0)
    hips = 0.5 * (points[:, LHIP] + points[:, RHIP])
    both = present[:, LHIP] & present[:, RHIP]
    return np.where(both[:, None], hips, mean)


def normalize2d(keypoints: np.ndarray, confidences: np.ndarray) -> np.ndarray:
    """The network's input (N, 51): per joint x, y (y up) centred on the root, scaled to unit RMS radius of
    the present joints, and the confidence; missing joints are zeros. ``keypoints`` (N, 17, 2) validated."""
    present = confidences > 0
    p = np.where(present[..., None], keypoints, 0.0)
    c = p - _root(p, present)[:, None, :]
    c = np.where(present[..., None], c, 0.0)
    rms = np.sqrt((c * c).sum(axis=(1, 2)) / np.maximum(present.sum(axis=1), 1))
    c = c / np.where(rms > 0, rms, 1.0)[:, None, None]
    c[..., 1] *= -1.0
    out = np.concatenate([c, np.clip(confidences, 0.0, 1.0)[..., None]], axis=-1)
    return out.reshape(len(out), -1)


def normalize3d(pose3d: np.ndarray) -> np.ndarray:
    """(N, 17, 3) root (hip midpoint) at the origin, RMS joint distance from it = 1."""
    p = np.asarray(pose3d, dtype=np.float64)
    c = p - 0.5 * (p[:, LHIP] + p[:, RHIP])[:, None, :]
    rms = np.sqrt((c * c).sum(axis=(1, 2)) / p.shape[1])
    return c / np.where(rms > 0, rms, 1.0)[:, None, None]


def facing_angle(pose3d: np.ndarray) -> np.ndarray:
    """(N,) angle (radians) of each pose's facing about Y, from +Z towards +X (facing = left x up)."""
    p = np.asarray(pose3d, dtype=np.float64)
    left = (p[:, LHIP] - p[:, RHIP]) + (p[:, LSHO] - p[:, RSHO])
    return np.arctan2(-left[:, 2], left[:, 0])   # forward = (-left_z, 0, left_x)


def rotate_y(pose3d: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate (N, J, 3) points about Y by ``angle`` (N,) radians (from +Z towards +X)."""
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    x, y, z = pose3d[..., 0], pose3d[..., 1], pose3d[..., 2]
    return np.stack([c * x + s * z, y, -s * x + c * z], axis=-1)


def _batch3d(pose3d, name: str) -> tuple[np.ndarray, bool]:
    p = np.asarray(pose3d, dtype=np.float64)
    single = p.ndim == 2
    if single:
        p = p[None]
    if p.ndim != 3 or p.shape[1:] != (NUM_JOINTS, 3):
        raise InvalidPoseError(f"{name}: expected a 3D pose (17, 3) or a batch (N, 17, 3) in COCO-17, "
                               f"got shape {np.shape(pose3d)}")
    if not np.isfinite(p).all():
        raise InvalidPoseError(f"{name}: a coordinate is NaN or infinite")
    return p, single


def canonicalize(pose3d) -> np.ndarray:
    """Poses (N, 17, 3) or (17, 3) (Y up) normalised (:func:`normalize3d`) and turned about Y to face +Z."""
    p, single = _batch3d(pose3d, "pose3d")
    n = normalize3d(p)
    out = rotate_y(n, -facing_angle(n))
    return out[0] if single else out


# ------------------------------------------------------------------------------------------ the network

def _coco_batch(keypoints, layout, confidences, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    lay = get_layout(layout)
    try:
        single = np.ndim(keypoints) == 2
    except (TypeError, ValueError):   # ragged nesting: validate_batch names the problem
        single = False
    if single:
        keypoints = np.asarray(keypoints)[None]
        if confidences is not None:
            confidences = np.asarray(confidences)[None]
    kp, cf = validate_batch(keypoints, confidences, num_keypoints=lay.num_keypoints, name=name)
    kp, cf = lay.convert_to_coco(kp, cf)
    cf = np.asarray(cf, dtype=np.float64)
    kp = np.where(cf[..., None] > 0, np.nan_to_num(np.asarray(kp, dtype=np.float64)), 0.0)
    few = (cf > 0).sum(axis=1) < MIN_PRESENT
    if few.any():
        i = int(np.argmax(few))
        where = f" (pose {i})" if len(cf) > 1 else ""
        raise InvalidPoseError(f"{name}{where}: cannot lift: {int((cf[i] > 0).sum())} present COCO-17 keypoint(s), "
                               f"at least {MIN_PRESENT} are needed")
    return kp, cf, single


def forward(x: np.ndarray, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The network on its (N, 51) input: (N, 51) raw output (17 x 3, before :func:`normalize3d`), computed in
    float32 like the training."""
    w = _model() if weights is None else weights
    h = np.maximum(np.asarray(x, dtype=np.float32) @ w["w_in"].T + w["b_in"], 0.0)   # float32, as trained
    for i in range(int(w["blocks"])):
        r = np.maximum(h @ w[f"w{i}a"].T + w[f"b{i}a"], 0.0)
        r = np.maximum(r @ w[f"w{i}b"].T + w[f"b{i}b"], 0.0)
        h = h + r
    return (h @ w["w_out"].T + w["b_out"]).astype(np.float64)


_FLIP = np.asarray(COCO17.flip)


def lift_normalized(x: np.ndarray, weights: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """(N, 17, 3) :func:`normalize3d` poses of the network's (N, 51) input, averaged with the lift of the
    mirrored input (image x -> -x, left <-> right) mirrored back: the two answers' errors are partly
    independent, so their mean is closer to the truth (held-out subject 5: about 1-2 mm PA-MPJPE less)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), NUM_JOINTS, 3)
    m = x[:, _FLIP] * [-1.0, 1.0, 1.0]
    a = forward(x.reshape(len(x), -1), weights).reshape(-1, NUM_JOINTS, 3)
    b = forward(m.reshape(len(m), -1), weights).reshape(-1, NUM_JOINTS, 3)[:, _FLIP] * [-1.0, 1.0, 1.0]
    return normalize3d(0.5 * (normalize3d(a) + normalize3d(b)))


def lift(keypoints, layout: "str | Layout" = "coco17", confidences=None, *, name: str = "poses") -> np.ndarray:
    """3D poses of 2D ones: (N, K, 3) [x, y, confidence] (or (N, K, 2) with ``confidences``; or one (K, 3)
    pose) in ``layout`` -> (N, 17, 3) (or (17, 3)) in the camera's yaw frame (module doc). Raises
    InvalidPoseError naming the pose when it has fewer than 4 present COCO-17 joints or bad values."""
    kp, cf, single = _coco_batch(keypoints, layout, confidences, name)
    out = lift_normalized(normalize2d(kp, cf))
    return out[0] if single else out


def embed_3d(pose3d) -> np.ndarray:
    """(N, 34) unit vectors of lifted 3D poses (N, 17, 3): canonical form projected on the model's basis."""
    p, _ = _batch3d(pose3d, "pose3d")
    can = canonicalize(p).reshape(len(p), -1) / np.sqrt(NUM_JOINTS)
    e = can @ _model()["basis"]
    n = np.sqrt((e * e).sum(axis=1, keepdims=True))
    return e / np.where(n > 0, n, 1.0)


def embed(keypoints, layout: "str | Layout" = "coco17", confidences=None, *, name: str = "poses") -> np.ndarray:
    """The view-invariant vectors (N, 34) (or (34,)) of 2D poses: :func:`lift`, :func:`canonicalize`, then the
    model's 34-direction basis (module doc). Index metric ``view`` is the L2 distance of these."""
    kp, cf, single = _coco_batch(keypoints, layout, confidences, name)
    e = embed_3d(lift_normalized(normalize2d(kp, cf)))
    return e[0] if single else e


def procrustes_mpjpe(target, pred) -> np.ndarray:
    """(N,) mean per-joint distance after aligning ``pred`` onto ``target`` (rotation, scale, translation),
    in ``target``'s units: MPJPE after Procrustes alignment (PA-MPJPE)."""
    from ..poses.procrustes import procrustes_align

    t, _ = _batch3d(target, "target")
    p, _ = _batch3d(pred, "pred")
    al = procrustes_align(t, p).aligned
    return np.sqrt(((al - t) ** 2).sum(axis=-1)).mean(axis=-1)
