"""Reader ``sequence``: posesearch pose-sequence files (.json, .npy, .npz), one clip per file.

The files are parsed by :func:`posesearch.sequence.io.read_sequence` (see there for the formats:
``{"fps": 30, "layout": "coco17", "frames": [[[x, y, c], ...], ...]}`` JSON, (T, K, 3) ``.npy``,
``.npz``); this reader only wraps each sequence as a clip. ``fps`` / ``layout`` fill in what a file
does not say (a ``.npy`` has neither). Clip ids ``<prefix>:<file stem>`` (prefix ``seq``), labels
``name`` (file stem); times are the sequence's frame times.
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Iterator

import numpy as np

from ...errors import InvalidArgumentError
from ...registry import option
from ..clip import Clip
from ._paths import expand_unique_stems

FORMAT = "sequence"
DESCRIPTION = "posesearch pose-sequence files (.json {fps, layout, frames}, .npy/.npz (T, K, 3)): one clip per file"
#: the README table of formats (corpus.readers.formats_table): where the data come from, and notes
SOURCE = 'our pose-sequence JSON, `.npy`, `.npz`'
NOTES = ''
PATTERNS = ("*.json", "*.npy", "*.npz")


@dataclass(frozen=True)
class Options:
    """The reader's options (``posesearch ingest`` flags)."""

    fps: float | None = option(None, "frame rate of files that give none")
    layout: str | None = option(None, "keypoint layout of files that do not name one (default: by keypoint count)")
    prefix: str | None = option(None, "clip id prefix (default: per format)")


def read(paths, *, fps: float | None = Options.fps, layout: str | None = Options.layout,
         prefix: str | None = Options.prefix) -> Iterator[Clip]:
    """One clip per sequence file (folders: their .json/.npy/.npz files, not recursive)."""
    from ...sequence.io import read_sequence

    files = expand_unique_stems(paths, PATTERNS, "pose-sequence files")
    pre = "seq" if prefix is None else str(prefix)
    for path in files:
        seq = read_sequence(path, layout=layout, fps=fps)
        lay = seq.layout if isinstance(seq.layout, str) else seq.layout.name
        kp = np.asarray(seq.keypoints, dtype=np.float64)
        cf = np.asarray(seq.confidences, dtype=np.float64)
        kp = np.where((cf > 0)[..., None], kp, np.nan)
        yield Clip(clip_id=f"{pre}:{path.stem}", keypoints=kp, confidences=cf, layout=lay,
                   fps=None if seq.fps is None else float(seq.fps), source=str(path), labels={"name": path.stem},
                   times=None if seq.times is None else np.asarray(seq.times, dtype=np.float64))
