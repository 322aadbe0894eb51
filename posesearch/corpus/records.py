"""What the corpus returns: ingest summaries, clip metadata, batches of frames."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

@dataclass
class IngestSummary:
    """What a write did: frames/clips added (and how many added frames are invalid: kept, never indexed),
    clips skipped (empty, or duplicate ids with on_duplicate="skip") and why, the corpus totals after it,
    ``created`` (a new file was written rather than appended to), seconds, size on disk, checksum."""

    path: str
    frames_added: int = 0
    clips_added: int = 0
    invalid_frames: int = 0
    skipped_clips: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    total_frames: int = 0
    total_clips: int = 0
    total_valid: int = 0
    created: bool = False
    seconds: float = 0.0
    size_bytes: int = 0
    checksum: str = ""

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class ClipInfo:
    """One clip's row in the corpus: frame rows [start, stop), fps (None = unknown), source layout and file."""

    clip_id: str
    index: int
    start: int
    stop: int
    fps: float | None
    layout: str
    source: str
    labels: dict[str, str]

    def __len__(self) -> int:
        return self.stop - self.start


def _label_value(v):
    """A stored per-frame label value as a plain Python value (integral floats become int, NaN None)."""
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return None
        if float(v).is_integer() and abs(v) < 2 ** 53:
            return int(v)
        return float(v)
    if isinstance(v, str):
        return v if v != "" else None
    if isinstance(v, list):  # a multi-value frame label, e.g. a bounding box
        vals = [_label_value(x) for x in v]
        return None if all(x is None for x in vals) else vals
    return v


@dataclass
class FrameBatch:
    """Frames fetched by row number, with everything needed to print them (see :meth:`records`).

    Arrays are per frame: keypoints (n, 17, 2) COCO-17 with NaN where missing, confidences (n, 17),
    vectors (n, 34) or None, valid, clip_index, clip_id, frame (source frame number), time (s), fps
    (NaN = unknown), layout (source layout), source (file). ``labels[i]`` merges the clip's labels and
    the frame's own labels (frame labels win).
    """

    ids: np.ndarray
    keypoints: np.ndarray
    confidences: np.ndarray
    vectors: np.ndarray | None
    valid: np.ndarray
    clip_index: np.ndarray
    clip_id: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    fps: np.ndarray
    layout: np.ndarray
    source: np.ndarray
    labels: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return self.record(i)

    def record(self, i: int) -> dict:
        """Frame ``i`` of the batch as a plain dict (JSON-friendly, keypoints as [[x, y, c], ...])."""
        kp = self.keypoints[i]
        cf = self.confidences[i]
        pts = [[None if not np.isfinite(kp[k, 0]) else float(kp[k, 0]),
                None if not np.isfinite(kp[k, 1]) else float(kp[k, 1]), float(cf[k])] for k in range(len(cf))]
        fps = float(self.fps[i])
        return {
            "id": int(self.ids[i]), "clip_id": str(self.clip_id[i]), "clip_index": int(self.clip_index[i]),
            "frame": int(self.frame[i]), "time": float(self.time[i]), "fps": fps if math.isfinite(fps) else None,
            "valid": bool(self.valid[i]), "layout": str(self.layout[i]), "source": str(self.source[i]),
            "labels": dict(self.labels[i]), "keypoints": pts,
        }

    def records(self) -> list[dict]:
        return [self.record(i) for i in range(len(self))]

