"""Reader ``openpose``: OpenPose BODY_25 JSON, as frame-by-frame output or as a labelled pose set.

Each JSON file is recognised by its content:

* **OpenPose frame output** (``{"people": [{"pose_keypoints_2d": [75 numbers], ...}, ...]}``, one file
  per video frame, named ``<video>_<frame number>_keypoints.json``). Files are grouped by folder;
  the frame number comes from the file name (the last run of digits; files without one are numbered
  in name order). OpenPose does not track people unless run with tracking, so identity is taken as:
  ``person_id`` when the file gives one (>= 0), else the position in ``people``. One clip per
  identity per folder; with ``person=<int>`` only that identity is read (e.g. ``person=0`` for a
  single-person video). A clip holds the frames where its person appears; gaps stay visible in the
  ``frame`` numbers and times. OpenPose does not record the frame rate: ``fps`` (default 30).
  Clip ids ``<prefix>:<folder>:p<identity>`` (prefix ``openpose``); labels ``folder``, ``person``.
  A confidence of 0 marks a keypoint OpenPose did not detect (missing).
* **Labelled BODY_25 set** of pose-classification-kit (``{"info": {"label": ...}, "data": [{"x": [25],
  "y": [25], "a": [25]}, ...]}``): every entry is a one-frame clip. Coordinates are centred, scaled
  and *y up*; they are stored with y flipped (``-y``) to the image convention (y down) every other
  source uses. ``a`` is the confidence (0 = not detected). Clip ids ``<prefix>:<label>:<i>``
  (prefix ``pck``); labels ``label``, ``set`` (file stem); frame label ``detection_accuracy`` when
  present.

Layout ``body25`` in both cases (the corpus maps it to COCO-17; mid-hip, neck and feet are dropped).
"""
from __future__ import annotations

from dataclasses import dataclass

import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError, check_finite_positive
from ...registry import option
from ...poses.layouts import BODY25
from ..batch import ClipBatch
from ..clip import Clip
from ...safeio import all_numbers, is_number
from ._paths import expand, load_json

FORMAT = "openpose"
DESCRIPTION = ("OpenPose BODY_25 JSON: per-frame *_keypoints.json output (one clip per person per folder), or a "
               "labelled pose set {info: {label}, data: [{x, y, a}]} (y up, flipped)")
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'OpenPose per-frame JSON, and the labelled BODY25 set'
NOTES = 'one clip per person id per folder; class label kept; y flipped to point down'
K = BODY25.num_keypoints


@dataclass(frozen=True)
class Options:
    """The reader's options (``posesearch ingest`` flags)."""

    fps: float = option(30.0, "frame rate (30)")
    person: int | None = option(None, "read only this person index")
    prefix: str | None = option(None, "clip id prefix (default: per format)")


def _frame_number(path: Path) -> int | None:
    m = re.search(r"(\d+)_keypoints\.json$", path.name) or re.search(r"(\d+)(?!.*\d)", path.stem)
    return int(m.group(1)) if m else None


def _person_keypoints(path: Path, i: int, person) -> np.ndarray | None:
    if not isinstance(person, dict):
        raise FileFormatError(path, f"people[{i}]: expected an object, got {type(person).__name__}")
    raw = person.get("pose_keypoints_2d")
    if raw is None:
        raise FileFormatError(path, f"people[{i}]: no 'pose_keypoints_2d' (OpenPose run without the body model?)")
    if not isinstance(raw, list):
        raise FileFormatError(path, f"people[{i}].pose_keypoints_2d: expected a list of numbers")
    if len(raw) == 0:
        return None
    if not all_numbers(raw):   # "0.5", true, null: refused, never coerced
        j = next(j for j, v in enumerate(raw) if not is_number(v))
        raise FileFormatError(path, f"people[{i}].pose_keypoints_2d: expected numbers; item {j} is {str(raw[j])[:20]!r}")
    if len(raw) != 3 * K:
        hint = " (the COCO-18 model, not supported: use BODY_25)" if len(raw) == 54 else ""
        raise FileFormatError(path, f"people[{i}].pose_keypoints_2d: expected {3 * K} numbers ({K} BODY_25 "
                                    f"keypoints x, y, c), got {len(raw)}{hint}")
    try:
        a = np.asarray(raw, dtype=np.float64).reshape(K, 3)
    except (TypeError, ValueError):
        raise FileFormatError(path, f"people[{i}].pose_keypoints_2d: expected numbers") from None
    c = a[:, 2]
    if not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
        k = int(np.argmax(~np.isfinite(c) | (c < 0) | (c > 1)))
        raise FileFormatError(path, f"people[{i}] keypoint {k} ({BODY25.joints[k]}): confidence {c[k]:g} is not in [0, 1]")
    bad = (c > 0) & ~np.isfinite(a[:, :2]).all(axis=1)
    if bad.any():
        k = int(np.argmax(bad))
        raise FileFormatError(path, f"people[{i}] keypoint {k} ({BODY25.joints[k]}): non-finite coordinate")
    return a


def _identity(path: Path, person: dict, i: int) -> int:
    """``person_id`` (OpenPose writes [-1] without tracking: then the position in ``people``)."""
    raw = pid = person.get("person_id")
    if isinstance(pid, list):
        pid = pid[0] if len(pid) == 1 else (None if not pid else raw)
    if pid is None:
        return i
    if not is_number(pid) or not math.isfinite(pid) or pid != int(pid) or abs(pid) > 2 ** 53:
        raise FileFormatError(path, f"people[{i}].person_id: expected an integer, got {str(raw)[:30]}")
    pid = int(pid)
    return pid if pid >= 0 else i


def _read_frames(folder: Path, files: list[tuple[Path, dict]], *, fps: float, person, prefix: str) -> Iterator[Clip]:
    numbered = [(_frame_number(p), p, d) for p, d in files]
    if any(n is None for n, _, _ in numbered) or len({n for n, _, _ in numbered}) != len(numbered):
        numbered = [(i, p, d) for i, (_, p, d) in enumerate(sorted(numbered, key=lambda t: t[1].name))]
    numbered.sort(key=lambda t: t[0])
    tracks: dict[int, list[tuple[int, np.ndarray]]] = defaultdict(list)
    for n, path, data in numbered:
        people = data.get("people")
        if not isinstance(people, list):
            raise FileFormatError(path, "'people': expected a list")
        for i, p in enumerate(people):
            a = _person_keypoints(path, i, p)
            if a is None:
                continue
            ident = _identity(path, p, i)
            if person is not None and ident != person:
                continue
            if tracks[ident] and tracks[ident][-1][0] == n:
                raise FileFormatError(path, f"people[{i}]: person {ident} appears twice in this frame "
                                            "(repeated person_id)")
            tracks[ident].append((n, a))
    if not tracks:
        who = "" if person is None else f" for person {person}"
        raise FileFormatError(folder, f"no people with pose keypoints{who} in its {len(numbered)} OpenPose frame file(s)")
    source = str(folder)
    for ident in sorted(tracks):
        rows = tracks[ident]
        frames = np.array([n for n, _ in rows], dtype=np.int64)
        a = np.stack([r for _, r in rows])
        conf = a[..., 2]
        xy = np.where((conf > 0)[..., None], a[..., :2], np.nan)
        yield Clip(clip_id=f"{prefix}:{folder.name}:p{ident}", keypoints=xy, confidences=conf, layout="body25",
                   fps=fps, source=source, labels={"folder": folder.name, "person": str(ident)},
                   frame_labels={"frame": frames}, times=(frames - frames[0]) / fps)


def _read_labelled(path: Path, data: dict, *, prefix: str) -> ClipBatch | None:
    info = data.get("info")
    entries = data.get("data")
    if not isinstance(info, dict) or not isinstance(entries, list):
        raise FileFormatError(path, "labelled pose set: expected {'info': {...}, 'data': [...]}")
    label = str(info.get("label") or path.stem.replace("_body", ""))
    if not entries:
        return None
    arrs = {}
    for key in ("x", "y", "a"):
        try:
            col = [e[key] for e in entries]
        except (KeyError, TypeError):
            i = next(j for j, e in enumerate(entries) if not isinstance(e, dict) or key not in e)
            raise FileFormatError(path, f"data[{i}]: missing {key!r}") from None
        try:
            ok = all(isinstance(v, list) and all_numbers(v) for v in col)
            arr = np.asarray(col, dtype=np.float64) if ok else None
        except (TypeError, ValueError):
            arr = None
        if arr is None or arr.ndim != 2 or arr.shape[1] != K:
            for i, v in enumerate(col):
                if not isinstance(v, list) or len(v) != K:
                    n = len(v) if isinstance(v, list) else type(v).__name__
                    raise FileFormatError(path, f"data[{i}].{key}: expected {K} BODY_25 values, got {n}")
            raise FileFormatError(path, f"data[*].{key}: expected numbers")
        arrs[key] = arr
    conf = arrs["a"]
    bad = ~np.isfinite(conf) | (conf < 0) | (conf > 1)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"data[{i}].a[{k}] ({BODY25.joints[k]}): confidence {conf[i, k]:g} is not in [0, 1]")
    xy = np.stack([arrs["x"], -arrs["y"]], axis=-1)  # y up -> y down
    bad = (conf > 0) & ~np.isfinite(xy).all(axis=-1)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"data[{i}] keypoint {k} ({BODY25.joints[k]}): non-finite coordinate")
    xy[conf <= 0] = np.nan
    n = len(entries)
    flabels = {}
    acc = [e.get("detection_accuracy") for e in entries]
    if all_numbers(acc):
        flabels["detection_accuracy"] = np.asarray(acc, dtype=np.float64)
    return ClipBatch(clip_ids=[f"{prefix}:{label}:{i}" for i in range(n)], keypoints=xy, confidences=conf,
                     layout="body25", source=str(path), labels={"label": [label] * n, "set": [path.stem] * n},
                     frame_labels=flabels)


def read_batches(paths, *, fps: float = Options.fps, person: int | None = Options.person,
                 prefix: str | None = Options.prefix) -> Iterator[Clip | ClipBatch]:
    """Clips of OpenPose frame folders and ClipBatches of labelled sets (see the module doc)."""
    fps = check_finite_positive("fps", fps)
    if person is not None and person != "all":
        if isinstance(person, bool):
            raise InvalidArgumentError(f"person: expected a person index >= 0 or 'all', got {person!r}")
        try:
            person = int(person)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"person: expected a person index >= 0 or 'all', got {person!r}") from None
        if person < 0:
            raise InvalidArgumentError(f"person: expected a person index >= 0 or 'all', got {person!r}")
    else:
        person = None
    files = expand(paths, ("*.json",), "OpenPose JSON files")
    folders: dict[Path, list[tuple[Path, dict]]] = defaultdict(list)
    order: list[tuple[str, object]] = []
    for path in files:
        data = load_json(path)
        if isinstance(data, dict) and "people" in data:
            if path.parent not in folders:
                order.append(("frames", path.parent))
            folders[path.parent].append((path, data))
        elif isinstance(data, dict) and "data" in data and "info" in data:
            order.append(("set", (path, data)))
        else:
            raise FileFormatError(path, "not OpenPose JSON: expected per-frame output with 'people' or a labelled "
                                        "set with 'info' and 'data'")
    for kind, what in order:
        if kind == "frames":
            yield from _read_frames(what, folders[what], fps=fps, person=person,
                                    prefix=prefix if prefix is not None else "openpose")
        else:
            path, data = what
            batch = _read_labelled(path, data, prefix=prefix if prefix is not None else "pck")
            if batch is not None:
                yield batch


def read(paths, *, fps: float = Options.fps, person: int | None = Options.person,
         prefix: str | None = Options.prefix) -> Iterator[Clip]:
    """Clips of OpenPose frame folders and of labelled BODY_25 sets (see the module doc)."""
    for item in read_batches(paths, fps=fps, person=person, prefix=prefix):
        if isinstance(item, ClipBatch):
            yield from item.clips()
        else:
            yield item
