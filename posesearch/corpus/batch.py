"""ClipBatch: many clips of one layout as stacked arrays (the fast path into a corpus).

Readers of big sets of single frames (150k COCO persons) should not build one Python :class:`Clip`
per person: a :class:`ClipBatch` carries the same information column-wise and the corpus writer
ingests it without a per-clip Python loop. A batch is also iterable as ordinary clips.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np

from ..errors import InvalidPoseError
from .clip import Clip


@dataclass
class ClipBatch:
    """``M`` clips of one source layout, ``N`` frames in total, stored back to back.

    Attributes:
        clip_ids: (M,) clip ids, unique.
        keypoints: (N, K, 2) in the source layout (frames of clip 0, then clip 1, ...).
        confidences: (N, K) in [0, 1]; 0 = missing.
        layout: source layout registry name.
        lengths: (M,) frames per clip; None means every clip has one frame (M == N).
        fps: one value for all clips, or (M,) values (NaN = unknown); None = unknown.
        source: the file all clips came from, or (M,) files.
        labels: clip labels, column-wise: {key: (M,) strings}; "" means "no such label for this clip".
        frame_labels: per-frame columns {key: (N,) strings, or (N, ...) numbers}; ``frame`` holds
            source frame numbers when they are not 0..T-1.
        times: optional (N,) seconds; default frame / fps within each clip (0 when fps is unknown).
    """

    clip_ids: Sequence[str]
    keypoints: np.ndarray
    confidences: np.ndarray
    layout: str
    lengths: np.ndarray | None = None
    fps: float | np.ndarray | None = None
    source: str | Sequence[str] = ""
    labels: dict[str, Sequence[str]] = field(default_factory=dict)
    frame_labels: dict[str, np.ndarray] = field(default_factory=dict)
    times: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def clip_lengths(self) -> np.ndarray:
        """(M,) int64 frames per clip."""
        if self.lengths is None:
            return np.ones(len(self.clip_ids), dtype=np.int64)
        return np.asarray(self.lengths, dtype=np.int64)

    def offsets(self) -> np.ndarray:
        """(M + 1,) int64 first frame of each clip, then N."""
        out = np.zeros(len(self.clip_ids) + 1, dtype=np.int64)
        np.cumsum(self.clip_lengths(), out=out[1:])
        return out

    def fps_array(self) -> np.ndarray:
        """(M,) float64 frames per second, NaN where unknown."""
        m = len(self.clip_ids)
        if self.fps is None:
            return np.full(m, np.nan)
        fps = np.asarray(self.fps, dtype=np.float64)
        return np.full(m, float(fps)) if fps.ndim == 0 else fps

    def source_array(self) -> np.ndarray:
        """(M,) object array of source files."""
        if isinstance(self.source, (str, bytes)) or self.source is None:
            out = np.empty(len(self.clip_ids), dtype=object)
            out[:] = str(self.source or "")
            return out
        return np.asarray([str(s) for s in self.source], dtype=object)

    def frame_times(self) -> np.ndarray:
        """(N,) float64 seconds: ``times`` if given, else position within the clip / fps (0 if unknown),
        as :meth:`Clip.frame_times`."""
        if self.times is not None:
            return np.asarray(self.times, dtype=np.float64)
        n = self.num_frames
        if self.lengths is None:
            return np.zeros(n)
        offs = self.offsets()
        lengths = np.diff(offs)
        local = np.arange(n, dtype=np.float64) - np.repeat(offs[:-1], lengths)
        fps = np.repeat(self.fps_array(), lengths)
        ok = np.isfinite(fps) & (fps > 0)
        return np.where(ok, local / np.where(ok, fps, 1.0), 0.0)

    def clips(self) -> Iterator[Clip]:
        """The batch as ordinary :class:`Clip` objects (slow for big batches; for inspection and tests)."""
        offs = self.offsets()
        fps = self.fps_array()
        sources = self.source_array()
        times = None if self.times is None else np.asarray(self.times, dtype=np.float64)
        for i, cid in enumerate(self.clip_ids):
            a, b = int(offs[i]), int(offs[i + 1])
            labels = {k: str(v[i]) for k, v in self.labels.items() if str(v[i]) != ""}
            yield Clip(
                clip_id=str(cid), keypoints=self.keypoints[a:b], confidences=self.confidences[a:b],
                layout=self.layout, fps=None if not np.isfinite(fps[i]) else float(fps[i]),
                source=str(sources[i]), labels=labels,
                frame_labels={k: np.asarray(v)[a:b] for k, v in self.frame_labels.items()},
                times=None if times is None else times[a:b])

    __iter__ = clips

    @classmethod
    def from_clips(cls, clips: Iterable[Clip]) -> "ClipBatch":
        """Stack clips that share one layout into a batch (labels become columns, "" where absent)."""
        clips = list(clips)
        if not clips:
            raise InvalidPoseError("ClipBatch.from_clips: no clips")
        layout = clips[0].layout
        for c in clips:
            if c.layout != layout:
                raise InvalidPoseError(f"ClipBatch.from_clips: clip {c.clip_id!r} has layout {c.layout!r}, "
                                       f"the batch has {layout!r}")
        keys = sorted({k for c in clips for k in c.labels})
        fkeys = sorted({k for c in clips for k in c.frame_labels})
        lengths = np.array([len(c) for c in clips], dtype=np.int64)
        frame_labels = {}
        for k in fkeys:
            given = [np.asarray(c.frame_labels[k]) for c in clips if k in c.frame_labels]
            text = any(g.dtype.kind in "USO" for g in given)
            cols = []
            for c in clips:
                if k in c.frame_labels:
                    col = np.asarray(c.frame_labels[k])
                    cols.append(col.astype(object) if text else col.astype(np.float64))
                else:
                    cols.append(np.full(len(c), "", dtype=object) if text
                                else np.full((len(c),) + given[0].shape[1:], np.nan))
            frame_labels[k] = np.concatenate(cols)
        have_times = any(c.times is not None for c in clips)
        return cls(
            clip_ids=[c.clip_id for c in clips],
            keypoints=np.concatenate([np.asarray(c.keypoints) for c in clips]),
            confidences=np.concatenate([np.asarray(c.confidences) for c in clips]),
            layout=layout, lengths=lengths,
            fps=np.array([np.nan if c.fps is None else float(c.fps) for c in clips]),
            source=[c.source for c in clips],
            labels={k: [str(c.labels.get(k, "")) for c in clips] for k in keys},
            frame_labels=frame_labels,
            times=np.concatenate([c.frame_times() for c in clips]) if have_times else None)
