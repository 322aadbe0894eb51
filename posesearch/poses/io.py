"""Pose files: one pose per file.

Accepted forms:

* JSON ``{"layout": "coco17", "keypoints": [[x, y, c], ...]}`` — ``layout`` optional (inferred from the
  keypoint count), a missing keypoint is ``null`` or has ``c = 0``;
* a PoseNet-style JSON object ``{"keypoints": [{"position": {"x": .., "y": ..}, "score": .., "part": ..}]}``
  (parts in PoseNet's camelCase or our snake_case names). Part names are the truth: keypoints are placed
  by name (in any order; absent parts are missing), unknown or repeated names are errors, and without a
  ``layout`` the smallest layout naming every part is assumed (and reported as assumed);
* ``.npy`` holding a (K, 3) array of [x, y, confidence] (layout inferred from K, or given).

This is also one frame of the pose-sequence format (see :mod:`posesearch.sequence.io`).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, PoseSearchError
from ..files import atomic_write
from ..safeio import MAX_POSE_FILE_BYTES, check_real_array, is_number, load_npy, parse_json, read_bytes
from .layouts import LAYOUTS, Layout, get_layout, infer_layout
from .pose import Poses, validate_pose


def _short(v) -> str:
    try:
        return json.dumps(v)[:40]
    except (TypeError, ValueError, RecursionError):
        return type(v).__name__


def _rows_from_json_keypoints(kps, path) -> list:
    rows = []
    for i, k in enumerate(kps):
        if k is None:
            rows.append([np.nan, np.nan, 0.0])
        elif isinstance(k, list) and len(k) in (2, 3):
            for j, v in enumerate(k):
                if v is not None and not is_number(v):
                    raise FileFormatError(path, f"keypoints[{i}][{j}]: expected a numeric value (a number or null), got {_short(v)}")
            if len(k) == 3 and k[2] is None:
                raise FileFormatError(path, f"keypoints[{i}][2]: expected a confidence, got null")
            rows.append([np.nan if v is None else v for v in k] + ([1.0] if len(k) == 2 else []))
        else:
            raise FileFormatError(path, f"keypoints[{i}]: expected [x, y, confidence] or null, got {_short(k)}")
    return rows


def _layout_name(value, source, where: str) -> "Layout | None":
    """A layout given in a file or as an argument: None (not given), a Layout, or a registered name;
    anything else ("", [], false, an unknown name) is an error."""
    if value is None or isinstance(value, Layout):
        return value
    if not isinstance(value, str):
        raise FileFormatError(source, f"{where}: expected a layout name, got {_short(value)}")
    try:
        return get_layout(value)
    except PoseSearchError as e:
        raise FileFormatError(source, f"{where}: {e}") from None


def _names(lay: Layout) -> set:
    return set(lay.joints) | set(lay.source_names)


def _posenet_rows(kps, source):
    """(rows [[x, y, score]], parts or None) of PoseNet-style keypoints, numbers checked strictly."""
    rows, parts = [], []
    for i, k in enumerate(kps):
        if not isinstance(k, dict):
            raise FileFormatError(source, f"keypoints[{i}]: expected an object with position and score, got {_short(k)}")
        pos = k.get("position")
        if not isinstance(pos, dict):
            raise FileFormatError(source, f"keypoints[{i}].position: expected {{\"x\": .., \"y\": ..}}, got {_short(pos)}")
        for what, v in (("position.x", pos.get("x")), ("position.y", pos.get("y")), ("score", k.get("score"))):
            if not is_number(v):
                raise FileFormatError(source, f"keypoints[{i}].{what}: expected a number, got {_short(v)}")
        rows.append([pos["x"], pos["y"], k["score"]])
        part = k.get("part")
        if part is not None and not isinstance(part, str):
            raise FileFormatError(source, f"keypoints[{i}].part: expected a part name, got {_short(part)}")
        parts.append(part)
    named = [p is not None for p in parts]
    if any(named) and not all(named):
        i = named.index(False)
        raise FileFormatError(source, f"keypoints[{i}]: no 'part' name while others have one (name every part or none)")
    return rows, (parts if any(named) else None)


def _map_parts(rows, parts, lay: "Layout | None", source, assumed: dict | None):
    """Rows placed by part name into ``lay`` (or the smallest layout naming every part); missing joints
    become null. Unknown or duplicate names are errors: the names, not the order, say which joint is which."""
    seen: dict[str, int] = {}
    for i, p in enumerate(parts):
        if p in seen:
            raise FileFormatError(source, f"keypoints[{i}].part {p!r} repeats keypoints[{seen[p]}]")
        seen[p] = i
    if lay is None:
        fits = [x for x in LAYOUTS.values() if set(parts) <= _names(x)]
        if not fits:
            best = max(LAYOUTS.values(), key=lambda x: len(set(parts) & _names(x)))
            unknown = [p for p in parts if p not in _names(best)]
            raise FileFormatError(source, f"unknown part name(s) {', '.join(repr(u) for u in unknown[:4])}: no layout "
                                          f"has every part (closest {best.name}: {', '.join(best.joints)})")
        lay = min(fits, key=lambda x: x.num_keypoints)
        if assumed is not None:
            why = (f"no layout given; the part names fit only {lay.name}" if len(fits) == 1 else
                   f"no layout given; the part names fit {', '.join(x.name for x in fits)}: assumed {lay.name}, "
                   f"the smallest")
            assumed["layout"] = {"value": lay.name, "why": why}
    else:
        unknown = [p for p in parts if p not in _names(lay)]
        if unknown:
            i = parts.index(unknown[0])
            raise FileFormatError(source, f"keypoints[{i}].part {unknown[0]!r} is not a joint of layout {lay.name} "
                                          f"(its joints: {', '.join(lay.joints)})")
    out = [[np.nan, np.nan, 0.0] for _ in range(lay.num_keypoints)]
    where: dict[int, int] = {}
    for i, (p, row) in enumerate(zip(parts, rows)):
        j = lay.index(p)
        if j in where:
            raise FileFormatError(source, f"keypoints[{i}].part {p!r} names the same {lay.name} joint "
                                          f"({lay.joints[j]}) as keypoints[{where[j]}].part {parts[where[j]]!r}")
        where[j] = i
        out[j] = row
    return out, lay


def pose_from_obj(obj, *, layout: "str | Layout | None" = None, source: str = "pose",
                  assumed: dict | None = None) -> Poses:
    """A single pose (as a Poses batch of one) from a parsed JSON object.

    ``assumed``: a dict that receives ``{"layout": {"value", "why"}}`` when the layout was neither in the
    object nor given. A ``layout`` argument that contradicts the object's is an error."""
    if not isinstance(obj, dict):
        raise FileFormatError(source, f"expected a JSON object with 'keypoints', got {type(obj).__name__}")
    if "frames" in obj:
        raise FileFormatError(source, "this is a pose-sequence file ('frames'), expected a single pose ('keypoints')")
    kps = obj.get("keypoints")
    if not isinstance(kps, list) or not kps:
        raise FileFormatError(source, "'keypoints' must be a non-empty list")
    lay_file = _layout_name(obj["layout"], source, "layout") if "layout" in obj else None
    lay_arg = _layout_name(layout, source, "layout argument")
    if lay_file is not None and lay_arg is not None and lay_file.name != lay_arg.name:
        raise FileFormatError(source, f"layout: the file says {lay_file.name} but {lay_arg.name} was asked for")
    lay = lay_file or lay_arg
    try:
        if isinstance(kps[0], dict):  # PoseNet style
            rows, parts = _posenet_rows(kps, source)
            if parts is not None:
                rows, lay = _map_parts(rows, parts, lay, source, assumed)
        else:
            rows = _rows_from_json_keypoints(kps, source)
        kp, cf = validate_pose(rows, name=source)
        if lay is None:
            lay, why = infer_layout(len(cf))
            if assumed is not None:
                assumed["layout"] = {"value": lay.name, "why": why}
    except FileFormatError:
        raise
    except PoseSearchError as e:
        msg = str(e)
        raise FileFormatError(source, msg[len(source) + 2:] if msg.startswith(source + ": ") else msg) from None
    if len(cf) != lay.num_keypoints:
        raise FileFormatError(source, f"layout {lay.name}: expected {lay.num_keypoints} keypoints, got {len(cf)}")
    return Poses(kp[None], cf[None], lay)


def read_pose_file(path, *, layout: "str | Layout | None" = None, assumed: dict | None = None, doc=None) -> Poses:
    """Read a pose file (JSON or .npy, see module doc). Returns a Poses batch of one, in the file's layout.

    ``assumed`` receives what had to be assumed (see :func:`pose_from_obj`); ``doc``: the JSON, already parsed."""
    p = Path(path)
    if doc is not None:
        return pose_from_obj(doc, layout=layout, source=str(p), assumed=assumed)
    if p.suffix.lower() == ".npy":
        arr = check_real_array(p, "array", load_npy(p, max_bytes=MAX_POSE_FILE_BYTES))
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise FileFormatError(p, f"expected a (K, 3) array of [x, y, confidence], got shape {arr.shape}")
        lay = _layout_name(layout, p, "layout argument")
        try:
            kp, cf = validate_pose(arr, name=str(p))
            if lay is None:
                lay, why = infer_layout(len(cf))
                if assumed is not None:
                    assumed["layout"] = {"value": lay.name, "why": why}
        except PoseSearchError as e:
            raise FileFormatError(p, str(e).removeprefix(f"{p}: ")) from None
        if len(cf) != lay.num_keypoints:
            raise FileFormatError(p, f"layout {lay.name}: expected {lay.num_keypoints} keypoints, got {len(cf)}")
        return Poses(kp[None], cf[None], lay)
    obj = parse_json(read_bytes(p, what="pose file", max_bytes=MAX_POSE_FILE_BYTES), p)
    return pose_from_obj(obj, layout=layout, source=str(p), assumed=assumed)


def write_pose_file(path, keypoints, confidences, layout: "str | Layout" = "coco17") -> None:
    """Write one pose as JSON ``{"layout", "keypoints": [[x, y, c] | null, ...]}`` (atomically)."""
    lay = get_layout(layout)
    kps = [None if c <= 0 or np.isnan(k).any() else [float(k[0]), float(k[1]), float(c)]
           for k, c in zip(np.asarray(keypoints), np.asarray(confidences))]
    data = json.dumps({"layout": lay.name, "keypoints": kps}).encode()
    atomic_write(path, lambda f: f.write(data))
