"""Pose files: one pose per file.

Accepted forms:

* JSON ``{"layout": "coco17", "keypoints": [[x, y, c], ...]}`` — ``layout`` optional (inferred from the
  keypoint count), a missing keypoint is ``null`` or has ``c = 0``;
* a PoseNet-style JSON object ``{"keypoints": [{"position": {"x": .., "y": ..}, "score": .., "part": ..}]}``
  (parts in PoseNet's camelCase or our snake_case names; order by part name when all are known);
* ``.npy`` holding a (K, 3) array of [x, y, confidence] (layout inferred from K, or given).

This is also one frame of the pose-sequence format (see :mod:`posesearch.sequence.io`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, PoseSearchError
from .layouts import Layout, get_layout, layout_for_count
from .pose import Poses, validate_pose
from .similarity import parse_pose


def _rows_from_json_keypoints(kps, path) -> list:
    rows = []
    for i, k in enumerate(kps):
        if k is None:
            rows.append([np.nan, np.nan, 0.0])
        elif isinstance(k, list) and len(k) in (2, 3):
            rows.append([np.nan if v is None else v for v in k] + ([1.0] if len(k) == 2 else []))
        else:
            raise FileFormatError(path, f"keypoints[{i}]: expected [x, y, confidence] or null, got {json.dumps(k)[:60]}")
    return rows


def pose_from_obj(obj, *, layout: "str | Layout | None" = None, source: str = "pose") -> Poses:
    """A single pose (as a Poses batch of one) from a parsed JSON object."""
    if not isinstance(obj, dict):
        raise FileFormatError(source, f"expected a JSON object with 'keypoints', got {type(obj).__name__}")
    if "frames" in obj:
        raise FileFormatError(source, "this is a pose-sequence file ('frames'), expected a single pose ('keypoints')")
    kps = obj.get("keypoints")
    if not isinstance(kps, list) or not kps:
        raise FileFormatError(source, "'keypoints' must be a non-empty list")
    lay_name = layout or obj.get("layout")
    try:
        if isinstance(kps[0], dict):  # PoseNet style
            p = parse_pose(obj, name=source)
            kp, cf = p.keypoints, p.confidences
            lay = get_layout(lay_name) if lay_name else layout_for_count(len(cf))
            if p.parts and lay_name is None:
                order = [lay.index(part) for part in p.parts] if all(
                    part in lay.joints or part in lay.source_names for part in p.parts) else None
                if order is not None and len(set(order)) == len(order) == lay.num_keypoints:
                    inv = np.argsort(order)
                    kp, cf = kp[inv], cf[inv]
        else:
            kp, cf = validate_pose(_rows_from_json_keypoints(kps, source), name=source)
            lay = get_layout(lay_name) if lay_name else layout_for_count(len(cf))
    except FileFormatError:
        raise
    except PoseSearchError as e:
        msg = str(e)
        raise FileFormatError(source, msg[len(source) + 2:] if msg.startswith(source + ": ") else msg) from None
    if len(cf) != lay.num_keypoints:
        raise FileFormatError(source, f"layout {lay.name}: expected {lay.num_keypoints} keypoints, got {len(cf)}")
    return Poses(kp[None], cf[None], lay)


def read_pose_file(path, *, layout: "str | Layout | None" = None) -> Poses:
    """Read a pose file (JSON or .npy, see module doc). Returns a Poses batch of one, in the file's layout."""
    p = Path(path)
    if not p.exists():
        raise FileFormatError(p, "no such file")
    if p.is_dir():
        raise FileFormatError(p, "is a directory, expected a pose file")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except Exception as e:  # numpy raises several types for bad files
            raise FileFormatError(p, f"not a readable .npy array ({type(e).__name__}: {e})") from None
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise FileFormatError(p, f"expected a (K, 3) array of [x, y, confidence], got shape {arr.shape}")
        try:
            kp, cf = validate_pose(arr, name=str(p))
            lay = get_layout(layout) if layout else layout_for_count(len(cf))
        except PoseSearchError as e:
            raise FileFormatError(p, str(e).removeprefix(f"{p}: ")) from None
        if len(cf) != lay.num_keypoints:
            raise FileFormatError(p, f"layout {lay.name}: expected {lay.num_keypoints} keypoints, got {len(cf)}")
        return Poses(kp[None], cf[None], lay)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FileFormatError(p, "not a text file; expected JSON or .npy") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise FileFormatError(p, f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    return pose_from_obj(obj, layout=layout, source=str(p))


def write_pose_file(path, keypoints, confidences, layout: "str | Layout" = "coco17") -> None:
    """Write one pose as JSON ``{"layout", "keypoints": [[x, y, c] | null, ...]}``."""
    lay = get_layout(layout)
    kps = [None if c <= 0 or np.isnan(k).any() else [float(k[0]), float(k[1]), float(c)]
           for k, c in zip(np.asarray(keypoints), np.asarray(confidences))]
    Path(path).write_text(json.dumps({"layout": lay.name, "keypoints": kps}))
