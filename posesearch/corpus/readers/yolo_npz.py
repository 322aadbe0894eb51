"""Reader ``yolo-npz``: COCO persons as YOLO-pose normalized arrays in an ``.npz``.

Arrays: ``kpts_norm`` (N, 17, 2) keypoints as fractions of the image width (x) and height (y), y
down; ``vis`` (N, 17) COCO visibility 0/1/2; ``image_id`` (N,); optionally ``bbox_cxcywh_norm``
(N, 4), not stored. One person = one single-frame clip in layout ``coco17``.

**Distortion**: the image sizes are not in the file, so x and y are in different units (width vs
height fractions) and a pose from a 640x427 image is squeezed horizontally by 2/3 relative to its
true shape. ``aspect`` (image width / height, default 1: leave as stored) multiplies x when one
aspect is known to fit; per-image aspects cannot be recovered. Use these poses for scale and speed
tests, and exact-pixel sources (the ``coco`` reader) where geometry matters.

Confidences as in the ``coco`` reader: v = 2 -> ``visible`` (1.0), v = 1 -> ``occluded`` (0.5),
v = 0 -> missing. Persons without any labelled keypoint are dropped.

Clip ids ``<prefix>:p:<row>`` (row in the file; prefix defaults to ``coco-<split>``, split being the
file stem before ``_yolo``, e.g. ``coco-train2017``); labels ``split``, ``image_id``, ``row``.
Built column-wise (no Python object per person) and yielded as ClipBatches of ``batch_size``.
"""
from __future__ import annotations

from dataclasses import dataclass

from pathlib import Path
from typing import Iterator

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError, check_finite_positive, check_number
from ...registry import option
from ...poses.layouts import COCO17_JOINTS
from ...safeio import check_real_array, load_npz
from ..batch import ClipBatch
from ..clip import Clip
from ._paths import expand
from .coco import _confidence_value

FORMAT = "yolo-npz"
DESCRIPTION = ("COCO persons as YOLO-pose arrays in .npz (kpts_norm, vis, image_id); x, y are fractions of "
               "the unknown image width/height")
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'COCO train array (`train2017_yolo_kpts.npz`)'
NOTES = '149,813 persons; coordinates divided by unknown image sizes (aspect distorted)'
REQUIRED = ("kpts_norm", "vis", "image_id")


@dataclass(frozen=True)
class Options:
    """The reader's options (flags where declared with :func:`option`, the others -O NAME=VALUE):
    confidence of visible / occluded keypoints, image aspect (width / height), clip id prefix, rows per batch."""

    visible: float = 1.0
    occluded: float = 0.5
    aspect: float = 1.0
    prefix: str | None = option(None, "clip id prefix (default: per format)")
    batch_size: int = 32768


def split_name(path: Path) -> str:
    stem = path.stem
    return stem.split("_yolo")[0] if "_yolo" in stem else stem


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(kpts (N,17,2) float64, vis (N,17) int, image_id (N,)) of one file, checked."""
    z = load_npz(path)
    missing = [k for k in REQUIRED if k not in z]
    if missing:
        raise FileFormatError(path, f"not a YOLO keypoint npz: missing array(s) {', '.join(missing)} "
                                    f"(found {', '.join(z) or 'none'})")
    kp = check_real_array(path, "kpts_norm", z["kpts_norm"]).astype(np.float64)   # no bool/complex/str coercion
    vis = check_real_array(path, "vis", z["vis"])
    image_id = z["image_id"]
    n = kp.shape[0] if kp.ndim else 0
    if kp.ndim != 3 or kp.shape[1:] != (17, 2):
        got = f"{kp.shape[1]} keypoints" if kp.ndim == 3 else f"shape {kp.shape}"
        raise FileFormatError(path, f"kpts_norm: expected (N, 17, 2) COCO keypoints, got {got}")
    if vis.shape != (n, 17):
        raise FileFormatError(path, f"vis: expected shape ({n}, 17), got {vis.shape}")
    if image_id.shape != (n,):
        raise FileFormatError(path, f"image_id: expected shape ({n},), got {image_id.shape}")
    if n == 0:
        raise FileFormatError(path, "no persons (empty arrays)")
    bad = ~np.isin(vis, (0, 1, 2))
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"vis[{i}, {k}] ({COCO17_JOINTS[k]}) is {vis[i, k]}, expected 0, 1 or 2")
    bad = (vis > 0) & ~np.isfinite(kp).all(axis=-1)
    if bad.any():
        i, k = np.argwhere(bad)[0]
        raise FileFormatError(path, f"kpts_norm[{i}, {k}] ({COCO17_JOINTS[k]}) is not finite: {kp[i, k].tolist()}")
    return kp, vis.astype(np.int8), image_id


def read_batches(paths, *, visible: float = Options.visible, occluded: float = Options.occluded,
                 aspect: float = Options.aspect, prefix: str | None = Options.prefix,
                 batch_size: int = Options.batch_size) -> Iterator[ClipBatch]:
    """ClipBatches of up to ``batch_size`` persons (the fast path used by ``posesearch ingest``)."""
    visible = _confidence_value("visible", visible)
    occluded = _confidence_value("occluded", occluded)
    aspect = check_finite_positive("aspect", aspect)
    check_number("batch_size", batch_size, integer=True, low=1)
    files = expand(paths, ("*.npz",), ".npz files")
    if prefix is not None and len(files) > 1:
        raise InvalidArgumentError("prefix: give it for one file at a time (clip ids would collide)")
    for path in files:
        kp, vis, image_id = load(path)
        split = split_name(path)
        pre = prefix if prefix is not None else f"coco-{split}"
        rows = np.flatnonzero((vis > 0).any(axis=1))
        for a in range(0, len(rows), batch_size):
            r = rows[a:a + batch_size]
            v = vis[r]
            xy = kp[r].copy()
            if aspect != 1.0:
                xy[..., 0] *= aspect
            xy[v == 0] = np.nan
            conf = np.where(v == 2, visible, np.where(v == 1, occluded, 0.0))
            rs = r.tolist()
            yield ClipBatch(
                clip_ids=[f"{pre}:p:{i}" for i in rs], keypoints=xy, confidences=conf, layout="coco17",
                source=str(path),
                labels={"split": [split] * len(rs), "image_id": [str(i) for i in image_id[r].tolist()],
                        "row": [str(i) for i in rs]})


def read(paths, *, visible: float = Options.visible, occluded: float = Options.occluded,
         aspect: float = Options.aspect, prefix: str | None = Options.prefix) -> Iterator[Clip]:
    """One single-frame clip per person (slow for 150k persons: ingestion uses :func:`read_batches`)."""
    for batch in read_batches(paths, visible=visible, occluded=occluded, aspect=aspect, prefix=prefix):
        yield from batch.clips()
