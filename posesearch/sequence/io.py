"""Reading and writing pose-sequence files.

Formats (chosen by the file suffix):

* ``.json`` — our pose-sequence JSON::

      {"fps": 30, "layout": "coco17",
       "frames": [[[x, y, c], [x, y, c], ...], ...],      # T frames of K keypoints
       "times": [0.0, 0.033, ...]}                        # optional, seconds (irregular frame times)

  A missing keypoint is ``null`` or has confidence 0 (``[x, y]`` without a confidence counts as
  present, confidence 1). ``layout`` defaults to the layout with K keypoints; ``fps`` may be
  omitted when ``times`` is given.
* ``.npy`` — a (T, K, 3) float array of [x, y, confidence] (no fps: pass ``fps=``).
* ``.npz`` — ``keypoints`` (T, K, 3), or ``keypoints`` (T, K, 2) + ``confidences`` (T, K); optional
  ``fps`` (scalar), ``layout`` (string), ``times`` (T,).

JSON and ``.npz`` may also carry the 3D joints (``points3d``: T frames of K ``[X, Y, Z]`` or ``null`` in JSON,
a (T, K, 3) array with NaN for missing joints in ``.npz``; world frame Y up, the subject facing +Z at yaw 0,
any unit), e.g. exported from motion capture: scoring then fits the user's camera to them
(``ScoreSettings.view``).

A single-pose file (``{"layout", "keypoints"}``, see :mod:`posesearch.poses.io`) is not a sequence
and is rejected with a clear error. Problems raise :class:`~posesearch.errors.FileFormatError`
naming the file and the field, e.g. ``frames[12]: expected 17 keypoints, got 13``.

:func:`as_sequence` turns any sequence input (a Sequence, such a file, a corpus Clip, an array) into a
:class:`~posesearch.sequence.sequence.Sequence`. ``fps=`` / ``layout=`` arguments fill in what the file
does not say; an ``fps`` argument overrides the file's nominal fps (frame times given in the file always
win), a ``layout`` argument that contradicts the file's is an error.
"""
from __future__ import annotations

import json
import math
from itertools import chain
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, FrameRateUnknownError, InvalidArgumentError, PoseSearchError
from ..files import atomic_write
from ..poses.layouts import Layout, get_layout, infer_layout
from ..safeio import (MAX_POSE_FILE_BYTES, all_numbers, check_real_array, is_number, load_npy, load_npz, parse_json, read_bytes,
                      regular_file)
from .sequence import Sequence, _check_fps, sequence_from_clip

SUFFIXES = (".json", ".npy", ".npz")

#: Frame rates and time spans a sequence file may declare (refused at read time, before any resampling
#: could allocate memory in proportion to them): fps in [MIN_FPS, MAX_FPS], frames at most
#: MAX_DURATION seconds from first to last, median frame interval within 1/MAX_FPS .. 1/MIN_FPS.
MIN_FPS = 0.5
MAX_FPS = 1000.0
MAX_DURATION = 6 * 3600.0


def check_timing(source, fps: float | None, times, num_frames: int, *, fps_name: str = "fps") -> None:
    """Refuse an absurd frame rate or time span (see MIN_FPS, MAX_FPS, MAX_DURATION) with a one-line
    FileFormatError naming ``source``; ``times`` may be None (then ``fps`` spaces the frames)."""
    if fps is not None and not (MIN_FPS <= fps <= MAX_FPS):
        raise _fail(source, f"{fps_name}: expected a frame rate between {MIN_FPS:g} and {MAX_FPS:g}, got {fps:g}")
    if times is not None and num_frames > 1:
        t = np.asarray(times, dtype=np.float64)
        if not np.isfinite(t).all():
            return   # Sequence reports the bad time
        span = float(t[-1] - t[0])
        if span > MAX_DURATION:
            raise _fail(source, f"times: the frames span {span:.6g} s, more than the {MAX_DURATION:g} s a "
                                f"sequence may last")
        step = float(np.median(np.diff(t)))
        if step > 0 and not (1.0 / MAX_FPS <= step <= 1.0 / MIN_FPS):
            raise _fail(source, f"times: median frame interval {step:.6g} s, expected {1.0 / MAX_FPS:g} to "
                                f"{1.0 / MIN_FPS:g} s (a frame rate between {MIN_FPS:g} and {MAX_FPS:g})")
    elif fps is not None and (num_frames - 1) / fps > MAX_DURATION:
        raise _fail(source, f"{num_frames} frames at {fps:g} fps last {(num_frames - 1) / fps:.6g} s, more than "
                            f"the {MAX_DURATION:g} s a sequence may last")


def _fail(path, problem: str):
    return FileFormatError(path, problem)


def _resolve_layout(path, file_layout, arg_layout, k: int, assumed: dict | None = None) -> Layout:
    lay_file = None
    if file_layout is not None:
        if not isinstance(file_layout, str):
            raise _fail(path, f"layout: expected a layout name, got {file_layout!r}")
        try:
            lay_file = get_layout(file_layout)
        except PoseSearchError as e:
            raise _fail(path, f"layout: {e}") from None
    lay_arg = get_layout(arg_layout) if arg_layout is not None else None
    if lay_file is not None and lay_arg is not None and lay_file.name != lay_arg.name:
        raise _fail(path, f"layout: the file says {lay_file.name} but {lay_arg.name} was asked for")
    lay = lay_file or lay_arg
    if lay is None:
        try:
            lay, why = infer_layout(k)
        except PoseSearchError as e:
            raise _fail(path, f"no layout given and {e}") from None
        if assumed is not None:
            assumed["layout"] = {"value": lay.name, "why": why}
    if lay.num_keypoints != k:
        raise _fail(path, f"layout {lay.name} expects {lay.num_keypoints} keypoints per frame, the frames have {k}")
    return lay


def _number(path, where: str, v, *, allow_none=False):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _fail(path, f"{where}: expected a number, got {json.dumps(v)[:40]}")
    return float(v)


def _parse_frames_fast(frames: list, expected: int | None) -> "np.ndarray | None":
    """The common case in numpy: every keypoint a list of three real numbers, confidences in [0, 1],
    finite coordinates or NaN (missing). None when anything else occurs (nulls, [x, y] pairs, errors):
    the per-keypoint loop then reads the frames and words any error."""
    if set(map(type, frames)) != {list}:
        return None
    counts = set(map(len, frames))
    if len(counts) != 1 or (expected is not None and counts != {expected}) or counts == {0}:
        return None
    pts = list(chain.from_iterable(frames))
    if set(map(type, pts)) != {list} or set(map(len, pts)) != {3} or not all_numbers(chain.from_iterable(pts)):
        return None
    try:
        arr = np.array(pts, dtype=np.float64).reshape(len(frames), -1, 3)
    except (ValueError, OverflowError):
        return None
    c = arr[..., 2]
    xy = arr[..., :2]
    if np.isnan(c).any() or np.isinf(xy).any() or ((c < 0) | (c > 1)).any():
        return None
    nan = np.isnan(xy).any(axis=-1)
    if nan.any():   # NaN = missing, as for single poses
        arr[nan] = (np.nan, np.nan, 0.0)
    return arr


def _parse_frames(path, frames, expected: int | None = None) -> np.ndarray:
    """JSON frames -> (T, K, 3) float64 with NaN coordinates / 0 confidence for missing keypoints.

    ``expected``: keypoints per frame (from the declared layout), else that of frames[0]."""
    if not isinstance(frames, list):
        raise _fail(path, f"frames: expected a list of frames, got {type(frames).__name__}")
    if not frames:
        raise _fail(path, "frames: empty (a pose-sequence file needs at least one frame)")
    fast = _parse_frames_fast(frames, expected)
    if fast is not None:
        return fast
    k = expected
    out = None if k is None else np.empty((len(frames), k, 3))
    for t, fr in enumerate(frames):
        if not isinstance(fr, list):
            raise _fail(path, f"frames[{t}]: expected a list of keypoints, got {type(fr).__name__}")
        if k is None:
            k = len(fr)
            if k == 0:
                raise _fail(path, "frames[0]: a frame has no keypoints")
            out = np.empty((len(frames), k, 3))
        if len(fr) != k:
            raise _fail(path, f"frames[{t}]: expected {k} keypoints, got {len(fr)}")
        for j, p in enumerate(fr):
            if p is None:
                out[t, j] = (np.nan, np.nan, 0.0)
                continue
            if not isinstance(p, list) or len(p) not in (2, 3):
                raise _fail(path, f"frames[{t}][{j}]: expected [x, y, confidence] or null, got "
                                  f"{json.dumps(p)[:40]}")
            x = _number(path, f"frames[{t}][{j}][0]", p[0], allow_none=True)
            y = _number(path, f"frames[{t}][{j}][1]", p[1], allow_none=True)
            c = _number(path, f"frames[{t}][{j}][2]", p[2]) if len(p) == 3 else 1.0
            if c != c:
                raise _fail(path, f"frames[{t}][{j}][2]: confidence is NaN")
            if x is None or y is None:
                if c != 0:
                    raise _fail(path, f"frames[{t}][{j}]: null coordinate with confidence {c:g} (use null or confidence 0)")
                x = y = np.nan
            elif math.isinf(x) or math.isinf(y):
                raise _fail(path, f"frames[{t}][{j}]: expected finite coordinates, got [{x}, {y}]")
            elif x != x or y != y:     # NaN = missing, as for single poses (posesearch.poses.pose)
                x = y = np.nan
                c = 0.0
            if not (0.0 <= c <= 1.0):
                raise _fail(path, f"frames[{t}][{j}][2]: confidence must be in [0, 1], got {c:g}")
            out[t, j] = (x, y, c)
    return out


def _read_json(path: Path, doc=None):
    if doc is None:   # NaN/Infinity literals are parsed as floats and checked below
        doc = parse_json(read_bytes(path, what="pose-sequence file", max_bytes=MAX_POSE_FILE_BYTES), path)
    if not isinstance(doc, dict):
        raise _fail(path, f"expected a JSON object with 'frames', got a JSON {type(doc).__name__}")
    if "frames" not in doc:
        if "keypoints" in doc:
            raise _fail(path, "this is a single-pose file ('keypoints', no 'frames'), not a pose sequence; "
                              "a sequence file has 'frames': [[[x, y, c], ...], ...]")
        raise _fail(path, "missing field 'frames' (a pose sequence has 'frames': [[[x, y, c], ...], ...])")
    expected = None
    if "layout" in doc and doc["layout"] is not None and not isinstance(doc["layout"], str):
        raise _fail(path, f"layout: expected a layout name, got {json.dumps(doc['layout'])[:40]}")
    if isinstance(doc.get("layout"), str):
        try:
            expected = get_layout(doc["layout"]).num_keypoints
        except PoseSearchError as e:
            raise _fail(path, f"layout: {e}") from None
    arr = _parse_frames(path, doc["frames"], expected)
    fps = doc.get("fps")
    if fps is not None:
        fps = _number(path, "fps", fps)
    times = doc.get("times")
    if times is not None:
        if not isinstance(times, list):
            raise _fail(path, f"times: expected a list of seconds, got {type(times).__name__}")
        times = [_number(path, f"times[{i}]", v) for i, v in enumerate(times)]
    p3 = doc.get("points3d")
    if p3 is not None:
        p3 = _parse_points3d(path, p3, arr.shape[:2])
    return arr, doc.get("layout"), fps, times, p3


def _parse_points3d(path, value, shape) -> np.ndarray:
    """``points3d`` of a JSON file: T frames of K [X, Y, Z] or null, as a (T, K, 3) array (NaN = missing)."""
    if not isinstance(value, list) or len(value) != shape[0]:
        raise _fail(path, f"points3d: expected {shape[0]} frames (one per frame of 'frames'), got "
                          f"{len(value) if isinstance(value, list) else type(value).__name__}")
    out = np.full(tuple(shape) + (3,), np.nan)
    for t, frame in enumerate(value):
        if not isinstance(frame, list) or len(frame) != shape[1]:
            raise _fail(path, f"points3d[{t}]: expected {shape[1]} joints, got "
                              f"{len(frame) if isinstance(frame, list) else type(frame).__name__}")
        for j, v in enumerate(frame):
            if v is None:
                continue
            if not isinstance(v, list) or len(v) != 3:
                raise _fail(path, f"points3d[{t}][{j}]: expected [X, Y, Z] or null, got {json.dumps(v)[:40]}")
            out[t, j] = [_number(path, f"points3d[{t}][{j}]", c) for c in v]
    return out


def _read_npy(path: Path):
    arr = load_npy(path)
    if arr.dtype.kind not in "fiu":
        raise _fail(path, f"expected a numeric (T, K, 3) array, got dtype {arr.dtype}")
    return arr, None, None, None, None


def _read_npz(path: Path):
    z = load_npz(path, max_bytes=MAX_POSE_FILE_BYTES)
    if "keypoints" not in z:
        raise _fail(path, f"missing array 'keypoints' (has: {', '.join(z) or 'nothing'})")
    kp, conf, fps, layout, times, p3 = (z.get(n) for n in ("keypoints", "confidences", "fps", "layout", "times",
                                                           "points3d"))
    check_real_array(path, "keypoints", kp)
    if conf is not None:
        check_real_array(path, "confidences", conf)
        if kp.ndim != 3 or kp.shape[-1] != 2:
            raise _fail(path, f"keypoints: with 'confidences' expected shape (T, K, 2), got {kp.shape}")
        if conf.shape != kp.shape[:2]:
            raise _fail(path, f"confidences: expected shape {kp.shape[:2]}, got {conf.shape}")
        kp = np.concatenate([kp.astype(np.float64), conf.astype(np.float64)[..., None]], axis=-1)
    if fps is not None:
        if fps.size != 1 or fps.dtype.kind not in "fiu":
            raise _fail(path, f"fps: expected one number, got {fps!r}")
        fps = float(fps.reshape(()))
    if layout is not None:
        if layout.dtype.kind not in "US" or layout.size != 1:
            raise _fail(path, f"layout: expected one string, got {layout.dtype} array of shape {layout.shape}")
        layout = str(layout.reshape(()))
    if times is not None and times.dtype.kind not in "fiu":
        raise _fail(path, f"times: expected numbers, got dtype {times.dtype}")
    if p3 is not None:
        check_real_array(path, "points3d", p3)
        if p3.shape != kp.shape[:2] + (3,):
            raise _fail(path, f"points3d: expected shape {kp.shape[:2] + (3,)} (one [X, Y, Z] per keypoint), "
                              f"got {p3.shape}")
    return kp, layout, fps, times, p3


def read_sequence(path, *, layout: "str | Layout | None" = None, fps: float | None = None,
                  assumed: dict | None = None, doc=None) -> Sequence:
    """Read a pose sequence file (.json, .npy, .npz); see the module docstring for the formats.

    ``assumed``: a dict that receives what was not in the file nor in the arguments and had to be
    assumed (``{"layout": {"value": "penn13", "why": ...}}``). ``doc``: the file's JSON, already parsed."""
    p = Path(path)
    if doc is None:
        regular_file(p, what="pose-sequence file", max_bytes=MAX_POSE_FILE_BYTES)
    suffix = p.suffix.lower()
    if suffix == ".json":
        arr, file_layout, file_fps, times, p3 = _read_json(p, doc)
    elif suffix == ".npy":
        arr, file_layout, file_fps, times, p3 = _read_npy(p)
    elif suffix == ".npz":
        arr, file_layout, file_fps, times, p3 = _read_npz(p)
    else:
        raise _fail(p, f"unsupported file type {p.suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}")
    if arr.dtype.kind not in "fiu":
        raise _fail(p, f"expected real numbers, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise _fail(p, f"expected frames of [x, y, confidence]: shape (T, K, 3), got {arr.shape}")
    if arr.shape[0] == 0:
        raise _fail(p, "empty: no frames")
    lay = _resolve_layout(p, file_layout, layout, arr.shape[1], assumed)
    if np.isnan(arr[..., 2]).any():
        t, j = (int(v) for v in np.argwhere(np.isnan(arr[..., 2]))[0])
        raise _fail(p, f"frames[{t}][{j}]: confidence is NaN")
    if fps is None:
        fps = file_fps
    elif not is_number(fps):   # an argument: "30", True, None-like nonsense is refused, not coerced
        raise InvalidArgumentError(f"fps: expected a positive number, got {fps!r}")
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise _fail(p, f"fps: expected a positive number, got {fps:g}")
    if times is None and fps is None and arr.shape[0] > 1:
        raise FrameRateUnknownError(p, "frame times unknown: the file has no 'fps' or 'times'; give its frame rate")
    check_timing(p, fps, times, arr.shape[0])
    try:
        seq = Sequence.from_arrays(arr, layout=lay, fps=fps, times=times, name=str(p))
        return seq if p3 is None else seq.replace(points3d=p3)
    except FileFormatError:
        raise
    except PoseSearchError as e:  # already names the file (name=str(p))
        raise FileFormatError(p, str(e).removeprefix(f"{p}: ")) from None


def _times_are_regular(seq: Sequence) -> bool:
    return seq.fps is not None and np.allclose(seq.times, np.arange(len(seq)) / seq.fps, rtol=0, atol=1e-9)


def sequence_doc(seq: Sequence, *, meta: dict | None = None) -> dict:
    """``seq`` as the pose-sequence JSON document (what :func:`write_sequence` writes to a .json file): layout,
    fps, times when not ``i / fps``, the ``meta`` fields, frames of [x, y, confidence] with ``None`` for a missing
    keypoint."""
    frames = [[[float(x), float(y), float(c)] if c > 0 else None
               for (x, y), c in zip(kp, cf)] for kp, cf in zip(seq.keypoints, seq.confidences)]
    doc: dict = {"layout": seq.layout.name}
    if seq.fps is not None:
        doc["fps"] = seq.fps
    if not _times_are_regular(seq):
        doc["times"] = [float(t) for t in seq.times]
    doc.update(_clean_meta(meta))
    doc["frames"] = frames
    if seq.points3d is not None:
        doc["points3d"] = [[None if np.isnan(q).any() else [float(v) for v in q] for q in frame]
                           for frame in seq.points3d]
    return doc


def _clean_meta(meta: dict | None) -> dict:
    """``meta`` without the fields a sequence document defines itself."""
    return {k: v for k, v in (meta or {}).items() if k not in ("layout", "fps", "times", "frames", "keypoints")}


def write_sequence(path, seq: Sequence, *, meta: dict | None = None) -> None:
    """Write ``seq`` atomically as .json, .npz or .npy (by suffix; .npy keeps only the (T, K, 3) array).

    ``meta``: more JSON-able fields describing the sequence (where it came from, its units), written as
    top-level fields of the JSON (readers ignore them) or as the JSON text array ``meta`` of an .npz."""
    p = Path(path)
    suffix = p.suffix.lower()
    regular = _times_are_regular(seq)
    meta = _clean_meta(meta)
    if suffix == ".json":
        data = json.dumps(sequence_doc(seq, meta=meta), separators=(",", ":")).encode()
        atomic_write(p, lambda f: f.write(data))
    elif suffix == ".npz":
        arrays = {"keypoints": seq.as_array(), "layout": np.array(seq.layout.name)}
        if seq.fps is not None:
            arrays["fps"] = np.array(seq.fps)
        if not regular:
            arrays["times"] = seq.times
        if meta:
            arrays["meta"] = np.array(json.dumps(meta))
        if seq.points3d is not None:
            arrays["points3d"] = seq.points3d
        atomic_write(p, lambda f: np.savez(f, **arrays))
    elif suffix == ".npy":
        atomic_write(p, lambda f: np.save(f, seq.as_array()))
    else:
        raise _fail(p, f"unsupported file type {p.suffix or '(none)'!r}; expected one of {', '.join(SUFFIXES)}")


def as_sequence(obj, *, layout: "str | Layout | None" = None, fps: float | None = None,
                name: str = "sequence") -> Sequence:
    """Coerce a Sequence, a path (sequence JSON/.npy/.npz), a corpus Clip or a (T, K, 3) array into a Sequence.

    For a Sequence, ``fps`` (if given) overrides its nominal rate and re-times it only if it has no
    irregular times of its own (its times were ``arange(T)/fps``); ``layout`` must match.
    """
    import os

    if isinstance(obj, Sequence):
        seq = obj
        if layout is not None and get_layout(layout).name != seq.layout.name:
            raise InvalidArgumentError(f"{name}: layout {get_layout(layout).name} given but the sequence is "
                                       f"{seq.layout.name}")
        if fps is not None:
            f = _check_fps(fps, name)
            regular = seq.fps is not None and np.allclose(seq.times, np.arange(len(seq)) / seq.fps, atol=1e-9)
            seq = seq.replace(fps=f, times=None if regular else seq.times)
        return seq if seq.name == name else seq.renamed(name)
    if isinstance(obj, (str, os.PathLike)):
        return read_sequence(obj, layout=layout, fps=fps)
    if hasattr(obj, "clip_id") and hasattr(obj, "keypoints"):   # a corpus Clip
        seq = sequence_from_clip(obj, name=name)
        return as_sequence(seq, layout=layout, fps=fps, name=name)
    return Sequence.from_arrays(obj, layout=layout, fps=fps, name=name)
