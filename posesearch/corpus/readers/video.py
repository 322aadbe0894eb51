"""Reader ``video``: video and image files, poses found by the pose model (the ``video`` extra).

Each file is one clip (:func:`posesearch.video.extract`): a video's frames with the container's time stamps
(frames without a person kept, every keypoint missing), an image as one frame. Keypoints are pixels of the
frame, the landmark visibility their confidence, in the BlazePose-33 layout (the corpus maps it to COCO-17)
unless ``layout="coco17"``. Folders: their video and image files (not recursive). Clip ids
``<prefix>:<file stem>`` (prefix ``video``), labels ``name`` (file stem) and ``kind`` (video or image).
Extractions are cached by file content, so ingesting the same files again does not run the model again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ...registry import option
from ...video.extract import MAX_VIDEO_FRAMES
from ..clip import Clip
from ._paths import expand_unique_stems

FORMAT = "video"
DESCRIPTION = "video and image files (.mp4, .avi, .mov, .jpg, .png, ...): poses found by MediaPipe BlazePose, one clip per file"
SOURCE = "video and image files (the `video` extra)"
NOTES = (f"MediaPipe BlazePose full, offline; pixels, visibility as confidence, container time stamps; frames "
         f"without a person kept as missing; cached by file hash; `--max-frames` for videos over {MAX_VIDEO_FRAMES:,} frames")


@dataclass(frozen=True)
class Options:
    """The reader's options (``posesearch ingest`` flags)."""

    layout: str | None = option(None, "blazepose33 (default) or coco17: the layout poses found in a video are "
                                      "stored in")
    max_frames: int | None = option(None, "read at most the first N frames of each video (and allow videos over "
                                          "the length limit)")
    prefix: str | None = option(None, "clip id prefix (default: per format)")


def read(paths, *, layout: str | None = Options.layout, max_frames: int | None = Options.max_frames,
         prefix: str | None = Options.prefix) -> Iterator[Clip]:
    """One clip per video or image file (folders: their media files, not recursive)."""
    from ...video.decode import MEDIA_PATTERNS
    from ...video.extract import extract

    files = expand_unique_stems(paths, MEDIA_PATTERNS, "video or image files")
    pre = "video" if prefix is None else str(prefix)
    for path in files:
        ex = extract(path, layout=layout or "blazepose33", max_frames=max_frames)
        seq = ex.sequence
        kp = np.where((seq.confidences > 0)[..., None], seq.keypoints, np.nan)
        yield Clip(clip_id=f"{pre}:{path.stem}", keypoints=kp, confidences=seq.confidences, layout=seq.layout.name,
                   fps=seq.fps, source=str(path.resolve()), labels={"name": path.stem, "kind": ex.kind},
                   times=None if ex.kind == "image" else np.asarray(seq.times, dtype=np.float64))
