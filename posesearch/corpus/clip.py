"""A clip: the unit readers produce and corpora store (one or more frames of one person)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Clip:
    """Frames of one person, as a reader produced them.

    Attributes:
        clip_id: unique within a corpus, e.g. ``penn:0001``, ``coco-val2017:ann:123``, ``cmu:002_01:yaw45``.
        keypoints: (T, K, 2) float32 in the *source* layout (pixels or whatever unit the source uses,
            y pointing down as in images); missing keypoints may hold anything (NaN allowed).
        confidences: (T, K) float32 in [0, 1]; 0 = missing.
        layout: the source layout's registry name (``penn13``, ``body25``, ...); the corpus maps it to COCO-17.
        fps: frames per second, or None for single frames / unknown.
        source: the file it came from.
        labels: free clip labels (action, view, split, subject, ...) as strings.
        frame_labels: optional per-frame arrays of length T (e.g. ``image_id``), numbers or strings.
        times: optional (T,) seconds; default frame / fps (or 0 for single frames).
        points3d: optional (T, K, 3) 3D joints in the source layout (world: Y up, the subject facing +Z
            at yaw 0, metres for motion capture; NaN = missing), when the source has them (BVH).
    """

    clip_id: str
    keypoints: np.ndarray
    confidences: np.ndarray
    layout: str
    fps: float | None = None
    source: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    frame_labels: dict[str, np.ndarray] = field(default_factory=dict)
    times: np.ndarray | None = None
    points3d: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)

    def frame_times(self) -> np.ndarray:
        if self.times is not None:
            return np.asarray(self.times, dtype=np.float64)
        if self.fps:
            return np.arange(len(self), dtype=np.float64) / float(self.fps)
        return np.zeros(len(self), dtype=np.float64)

    def plot(self, path, *, frames: int = 12, title: str | None = None):
        """Write a contact sheet of this clip's poses as a PNG (:func:`posesearch.pictures.plot_clip`)."""
        from ..pictures.sheets import plot_clip
        from ..video.decode import use_for_pictures

        use_for_pictures()          # a clip from a video still on disk is drawn over its frames
        return plot_clip(self, path, frames=frames, title=title)
