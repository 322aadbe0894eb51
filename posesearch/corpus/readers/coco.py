"""Reader ``coco``: COCO keypoint annotation JSON (``person_keypoints_*.json``).

Every annotation with a ``keypoints`` list and at least one labelled keypoint becomes a one-frame clip
in layout ``coco17``, pixel coordinates as annotated (y down).

Confidences: COCO's visibility flag v is turned into a confidence: v = 2 (labelled and visible) ->
``visible`` (default 1.0); v = 1 (labelled but occluded: the annotator's estimate of a hidden joint)
-> ``occluded`` (default 0.5, so it counts half in confidence-weighted distances); v = 0 (not
labelled; x = y = 0 in the file) -> 0, missing.

Clip ids ``<prefix>:ann:<annotation id>`` where the prefix defaults to ``coco-<split>`` (``split`` from
the file name ``person_keypoints_<split>.json``, e.g. ``coco-val2017``; else ``coco-<file stem>``).
Labels: ``split``, ``image_id``, ``annotation_id``, ``category`` (the category name), ``file_name``
(the image's, when the file lists images), ``iscrowd`` when set.
"""
from __future__ import annotations

from dataclasses import dataclass

import json
import re
from itertools import chain
from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError
from ...registry import option
from ...poses.layouts import COCO17_JOINTS
from ..batch import ClipBatch
from ..clip import Clip
from ...safeio import all_numbers, is_number
from ._paths import expand, load_json

FORMAT = "coco"
DESCRIPTION = "COCO keypoint annotations JSON (person_keypoints_*.json): one single-frame clip per person"
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'COCO keypoint JSON'
NOTES = 'one clip per person; v=2 → confidence 1.0, v=1 (occluded) → 0.5, v=0 → missing'
PATTERNS = ("person_keypoints_*.json", "*.json")


@dataclass(frozen=True)
class Options:
    """The reader's options (``posesearch ingest`` flags where declared with :func:`option`, the others
    -O NAME=VALUE): confidence given to visible / occluded keypoints, clip id prefix."""

    visible: float = 1.0
    occluded: float = 0.5
    prefix: str | None = option(None, "clip id prefix (default: per format)")


def _confidence_value(name: str, v) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        f = float("nan")
    if not 0.0 < f <= 1.0:
        raise InvalidArgumentError(f"{name}: expected a confidence in (0, 1], got {v!r}")
    return f


def _is_id(v) -> bool:
    return (type(v) is int) or isinstance(v, str)


def _list_field(path, data: dict, key: str) -> list:
    v = data.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise FileFormatError(path, f"{key!r}: expected a list, got {type(v).__name__}")
    return v


def split_name(path: Path) -> str:
    m = re.match(r"person_keypoints_(.+)\.json$", path.name)
    return m.group(1) if m else path.stem


def _expand(paths) -> list[Path]:
    # in a folder prefer person_keypoints_*.json; fall back to every .json
    out = []
    from ._paths import as_path_list

    for p in as_path_list(paths):
        if p.is_dir():
            found = sorted(p.glob("person_keypoints_*.json")) or sorted(p.glob("*.json"))
            if not found:
                raise FileFormatError(p, "folder has no COCO keypoint files (person_keypoints_*.json or *.json)")
            out.extend(found)
        else:
            out.extend(expand([p], PATTERNS, "COCO keypoint files"))
    return out


def read_file(path: Path, *, visible: float = 1.0, occluded: float = 0.5, prefix: str | None = None) -> ClipBatch | None:
    """All persons of one COCO keypoint file as a ClipBatch (None if it annotates no one)."""
    data = load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise FileFormatError(path, "not a COCO annotation file (expected a JSON object with an 'annotations' list)")
    cats = {}
    for i, c in enumerate(_list_field(path, data, "categories")):
        if not isinstance(c, dict):
            raise FileFormatError(path, f"categories[{i}]: expected an object, got {type(c).__name__}")
        if "id" in c:
            if not _is_id(c["id"]):
                raise FileFormatError(path, f"categories[{i}].id: expected an integer or a string, got {str(c['id'])[:30]}")
            names = c.get("keypoints")
            if names is not None and (not isinstance(names, list) or names != list(COCO17_JOINTS)):
                shown = names[:4] if isinstance(names, list) else names
                n = len(names) if isinstance(names, list) else type(names).__name__
                raise FileFormatError(path, f"category {str(c.get('name', c['id']))!r} has keypoints {str(shown)[:60]}... "
                                            f"({n}), expected the 17 COCO keypoints in COCO order")
            cats[c["id"]] = str(c.get("name", c["id"]))
    image_list = _list_field(path, data, "images")
    for i, im in enumerate(image_list):
        if not isinstance(im, dict):
            raise FileFormatError(path, f"images[{i}]: expected an object, got {type(im).__name__}")
    images = {im.get("id"): im.get("file_name") for im in image_list if _is_id(im.get("id"))}
    anns = [a for a in data["annotations"] if isinstance(a, dict) and "keypoints" in a]
    if not anns:
        raise FileFormatError(path, "no annotation has 'keypoints': not a COCO keypoint file")
    lists = [a["keypoints"] for a in anns]
    numeric = all(isinstance(k, list) for k in lists) and all_numbers(chain.from_iterable(lists))
    try:   # numeric strings and booleans are refused, never coerced
        kps = np.array(lists, dtype=np.float64) if numeric else None
        bad_shape = kps is None or kps.ndim != 2 or kps.shape[1] != 51
    except (TypeError, ValueError):
        bad_shape = True
    if bad_shape:
        for a in anns:
            k = a["keypoints"]
            if not isinstance(k, list) or len(k) != 51:
                n = len(k) if isinstance(k, list) else type(k).__name__
                raise FileFormatError(path, f"annotation id {a.get('id')}: expected 17 keypoints (51 numbers "
                                            f"x, y, v), got {n if isinstance(n, str) else f'{n} numbers'}")
            if not all_numbers(k):
                j = next(j for j, v in enumerate(k) if not is_number(v))
                raise FileFormatError(path, f"annotation id {str(a.get('id'))[:30]}: keypoints must be numbers; "
                                            f"keypoints[{j}] is {json.dumps(k[j])[:30]}")
        raise FileFormatError(path, "keypoints are not all 51 numbers")  # pragma: no cover
    kps = kps.reshape(-1, 17, 3)
    v = kps[..., 2]
    bad = ~np.isin(v, (0, 1, 2))
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"annotation id {anns[i].get('id')}: keypoint {k} ({COCO17_JOINTS[k]}) has "
                                    f"visibility {v[i, k]:g}, expected 0, 1 or 2")
    xy = kps[..., :2]
    bad = (v > 0) & ~np.isfinite(xy).all(axis=-1)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"annotation id {anns[i].get('id')}: keypoint {k} ({COCO17_JOINTS[k]}) has a "
                                    f"non-finite coordinate {xy[i, k].tolist()}")
    keep = (v > 0).any(axis=1)
    if not keep.any():
        return None
    idx = np.flatnonzero(keep)
    conf = np.where(v == 2, visible, np.where(v == 1, occluded, 0.0))[idx]
    xy = np.where((v > 0)[..., None], xy, np.nan)[idx]
    split = split_name(path)
    pre = prefix if prefix is not None else f"coco-{split}"
    sel = [anns[i] for i in idx.tolist()]
    ids = [f"{pre}:ann:{a.get('id', i)}" for i, a in zip(idx.tolist(), sel)]
    if len(set(ids)) != len(ids):   # the id names the person: two with one id cannot both be right
        seen: set = set()
        dup = next(c for c in ids if c in seen or seen.add(c))
        raise FileFormatError(path, f"annotation id {dup.rsplit(':', 1)[-1][:30]} appears more than once")
    labels = {
        "split": [split] * len(sel),
        "image_id": [str(a.get("image_id", "")) for a in sel],
        "annotation_id": [str(a.get("id", "")) for a in sel],
        "category": [cats.get(a.get("category_id"), str(a.get("category_id", "")))
                     if _is_id(a.get("category_id")) else str(a.get("category_id", "")) for a in sel],
    }
    if images:
        labels["file_name"] = [str((images.get(a.get("image_id")) if _is_id(a.get("image_id")) else None) or "")
                               for a in sel]
    crowd = [a.get("iscrowd", 0) for a in sel]
    for a, c in zip(sel, crowd):
        if not (type(c) is int and c in (0, 1)):
            raise FileFormatError(path, f"annotation id {str(a.get('id'))[:30]}: iscrowd must be 0 or 1, got "
                                        f"{json.dumps(c)[:20]}")
    if any(crowd):
        labels["iscrowd"] = [str(c) for c in crowd]
    return ClipBatch(clip_ids=ids, keypoints=xy, confidences=conf, layout="coco17", lengths=None, fps=None,
                     source=str(path), labels=labels)


def read_batches(paths, *, visible: float = Options.visible, occluded: float = Options.occluded,
                 prefix: str | None = Options.prefix) -> Iterator[ClipBatch]:
    """One ClipBatch per file (the fast path used by ``posesearch ingest``)."""
    visible = _confidence_value("visible", visible)
    occluded = _confidence_value("occluded", occluded)
    files = _expand(paths)
    if prefix is not None and len(files) > 1:
        raise InvalidArgumentError("prefix: give it for one file at a time (clip ids would collide)")
    for path in files:
        batch = read_file(path, visible=visible, occluded=occluded, prefix=prefix)
        if batch is not None:
            yield batch


def read(paths, *, visible: float = Options.visible, occluded: float = Options.occluded,
         prefix: str | None = Options.prefix) -> Iterator[Clip]:
    """One single-frame clip per annotated person (see the module doc for ids, labels, confidences)."""
    for batch in read_batches(paths, visible=visible, occluded=occluded, prefix=prefix):
        yield from batch.clips()
