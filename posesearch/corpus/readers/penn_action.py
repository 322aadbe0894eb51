"""Reader ``penn-action``: Penn Action joint annotations (``labels/NNNN.mat``, MATLAB v5) -> one Clip per file.

Fields used: ``x``, ``y`` (T, 13) pixels, ``visibility`` (T, 13) 0/1, ``action``, ``pose`` (the coarse
view: front/back/left/right), ``train`` (1 / -1); checked when present: ``nframes``, ``dimensions``
(H, W, T); ``bbox`` (T, 4) becomes the frame label ``bbox`` ([x1, y1, x2, y2] pixels).

Layout ``penn13``: the joints are kept in file order; that layout reads the documented ``l_*`` joints as
the person's *right* side, as the data show (in front-view clips index 1 is image-left of index 2 in 97% of
frames where both are visible).

Confidence: visibility 1 -> 1.0; visibility 0 -> ``invisible_confidence`` (default 0: missing). Measured
over all 163,841 frames (22% of joints invisible), the coordinates annotated for invisible joints are
mostly placeholders, not estimates: 68% of them are exactly where they were in the previous frame (26% for
visible joints), a limb with an invisible end is outside 0.67–1.5× the clip's visible median length 36% of
the time (5% when both ends are visible), and half of them lie outside the person's box (0.06% of visible
ones). Giving them any weight would bend both the bbox/scale normalization and the distance, so by
default they are missing; their annotated coordinates are kept in ``keypoints`` for display.

Frame rate: the dataset does not give one; 30 fps is used (``fps`` option).

Known data quirk: clips 1154 and 1865 have one ``bbox`` row fewer than frames; which frame lacks its box
is unknown, so those clips get no ``bbox`` frame label (and a ``bbox`` clip label saying why) instead of
failing. Any other length disagreement between fields is a FileFormatError.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ...errors import FileFormatError, InvalidArgumentError, check_finite_positive
from ...registry import option
from ...poses.layouts import PENN13
from ...safeio import regular_file
from ..clip import Clip
from ._paths import expand

FORMAT = "penn-action"
DESCRIPTION = "Penn Action joint annotations (labels/NNNN.mat), 13 joints, layout penn13, 30 fps"
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'Penn Action `labels/*.mat`'
NOTES = 'action, view, split labels; invisible joints missing; 30 fps; left/right as the data show'
PATTERNS = ("*.mat",)
LAYOUT = PENN13.name
DEFAULT_FPS = 30.0
REQUIRED = ("x", "y", "visibility", "action", "pose", "train")


@dataclass(frozen=True)
class Options:
    """The reader's options (flags where declared with :func:`option`, the others -O NAME=VALUE)."""

    invisible_confidence: float = 0.0
    fps: float = option(DEFAULT_FPS, "frame rate (30)")


def expand_paths(paths: "str | Path | Iterable[str | Path]") -> list[Path]:
    """Files to read: each file as given; each folder replaced by its matching files (sorted, not recursive)."""
    return expand(paths, PATTERNS, "Penn Action label files")


def _loadmat(path: Path) -> dict:
    import scipy.io

    try:
        return scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise FileFormatError(path, "MATLAB v7.3 (HDF5) .mat files are not supported; "
                                    "expected a MATLAB v5 Penn Action label file") from None
    except OSError as e:
        raise FileFormatError(path, f"cannot read: {e.strerror or e}") from None
    except Exception as e:  # scipy raises ValueError, TypeError, MatReadError, ... for foreign/truncated data
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise FileFormatError(path, f"not a readable MATLAB .mat file ({msg})") from None


def _string(path, m: dict, key: str) -> str:
    v = np.asarray(m[key])
    if v.dtype.kind in "US":
        s = "".join(str(c) for c in v.ravel())
    elif v.dtype == object and v.size == 1:
        s = str(np.asarray(v.ravel()[0]).ravel()[0]) if np.asarray(v.ravel()[0]).size else ""
    else:
        raise FileFormatError(path, f"field {key!r}: expected a string, got {v.dtype} array of shape {v.shape}")
    s = s.strip()
    if not s:
        raise FileFormatError(path, f"field {key!r}: expected a non-empty string, got ''")
    return s


def _scalar_int(path, m: dict, key: str) -> int:
    v = np.asarray(m[key])
    if v.size != 1 or v.dtype.kind not in "iuf":
        raise FileFormatError(path, f"field {key!r}: expected one number, got {v.dtype} array of shape {v.shape}")
    f = float(v.ravel()[0])
    if not f.is_integer():
        raise FileFormatError(path, f"field {key!r}: expected an integer, got {f!r}")
    return int(f)


def _matrix(path, m: dict, key: str, cols: int) -> np.ndarray:
    v = np.asarray(m[key])
    if v.dtype.kind not in "iuf" or v.ndim != 2 or v.shape[1] != cols:
        raise FileFormatError(path, f"field {key!r}: expected a numeric (T, {cols}) array, got "
                                    f"{v.dtype} array of shape {v.shape}")
    return v.astype(np.float64)


def clip_from_mat(path: "str | Path", m: dict, *, invisible_confidence: float = 0.0,
                  fps: float = DEFAULT_FPS) -> Clip:
    """Build the Clip of one loaded label file (``m`` as returned by scipy.io.loadmat)."""
    path = Path(path)
    missing = [k for k in REQUIRED if k not in m]
    if missing:
        fields = ", ".join(repr(k) for k in missing)
        raise FileFormatError(path, f"not a Penn Action label file: missing field{'s' if len(missing) > 1 else ''} {fields}")
    x = _matrix(path, m, "x", PENN13.num_keypoints)
    y = _matrix(path, m, "y", PENN13.num_keypoints)
    vis = _matrix(path, m, "visibility", PENN13.num_keypoints)
    T = x.shape[0]
    if T == 0:
        raise FileFormatError(path, "field 'x' has no frames")
    for key, arr in (("y", y), ("visibility", vis)):
        if arr.shape[0] != T:
            raise FileFormatError(path, f"field {key!r} has {arr.shape[0]} frames, field 'x' has {T}")
    if "nframes" in m:
        n = _scalar_int(path, m, "nframes")
        if n != T:
            raise FileFormatError(path, f"field 'nframes' says {n} frames, field 'x' has {T}")
    labels: dict[str, str] = {}
    if "dimensions" in m:
        d = np.asarray(m["dimensions"]).ravel()
        if d.size != 3 or d.dtype.kind not in "iuf":
            raise FileFormatError(path, f"field 'dimensions': expected (H, W, T), got {d.dtype} array of size {d.size}")
        if not (np.isfinite(d).all() and (d == np.round(d)).all() and (d >= 0).all() and (d < 2 ** 31).all()):
            raise FileFormatError(path, f"field 'dimensions': expected three whole numbers (H, W, T), got {d.tolist()}")
        if int(d[2]) != T:
            raise FileFormatError(path, f"field 'dimensions' says {int(d[2])} frames, field 'x' has {T}")
        labels["height"], labels["width"] = str(int(d[0])), str(int(d[1]))
    bad_vis = ~np.isin(vis, (0.0, 1.0))
    if bad_vis.any():
        r, c = np.argwhere(bad_vis)[0]
        raise FileFormatError(path, f"field 'visibility': expected 0 or 1, got {vis[r, c]:g} (frame {r + 1}, joint {c + 1})")
    kp = np.stack([x, y], axis=-1)
    if np.isinf(kp).any():
        r, c = np.argwhere(np.isinf(kp).any(axis=-1))[0]
        raise FileFormatError(path, f"fields 'x'/'y': infinite coordinate at frame {r + 1}, joint {c + 1}")
    conf = np.where(vis > 0, 1.0, float(invisible_confidence))
    conf[np.isnan(kp).any(axis=-1)] = 0.0
    train = _scalar_int(path, m, "train")
    if train not in (1, -1):
        raise FileFormatError(path, f"field 'train': expected 1 or -1, got {train}")
    labels.update(action=_string(path, m, "action"), view=_string(path, m, "pose"),
                  split="train" if train == 1 else "test", clip=path.stem)
    frame_labels: dict[str, np.ndarray] = {}
    if "bbox" in m:
        bb = _matrix(path, m, "bbox", 4)
        if bb.shape[0] == T:
            frame_labels["bbox"] = bb.astype(np.float32)
        else:
            labels["bbox"] = f"dropped: {bb.shape[0]} rows for {T} frames"
    return Clip(
        clip_id=f"penn:{path.stem}",
        keypoints=kp.astype(np.float32),
        confidences=conf.astype(np.float32),
        layout=LAYOUT,
        fps=fps,
        source=str(path),
        labels=labels,
        frame_labels=frame_labels,
    )


def read_clip(path: "str | Path", *, invisible_confidence: float = 0.0, fps: float = DEFAULT_FPS) -> Clip:
    """Read one label file (e.g. ``.../labels/0001.mat``) into a Clip."""
    path = regular_file(path, what="Penn Action label file")
    return clip_from_mat(path, _loadmat(path), invisible_confidence=invisible_confidence, fps=fps)


def read(paths: "str | Path | Iterable[str | Path]", *,
         invisible_confidence: float = Options.invisible_confidence, fps: float = Options.fps) -> Iterator[Clip]:
    """Yield one Clip per label file (folders: every ``*.mat`` inside, sorted).

    Clip id ``penn:<stem>``; labels action, view, split (train/test), clip, height, width; frame label bbox.
    """
    try:
        ic = float(invisible_confidence)
    except (TypeError, ValueError):
        ic = math.nan
    if not 0.0 <= ic <= 1.0:
        raise InvalidArgumentError(f"invisible_confidence: expected a number in [0, 1], got {invisible_confidence!r}")
    fps = check_finite_positive("fps", fps)
    for path in expand_paths(paths):
        yield read_clip(path, invisible_confidence=ic, fps=fps)
