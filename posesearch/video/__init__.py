"""Video and image files to pose sequences, offline: the ``video`` extra (``pip install "posesearch[video]"``).

* :mod:`.decode` — OpenCV decoding: frames with the container's time stamps, images;
* :mod:`.model` — the pose model (MediaPipe BlazePose full, bundled with mediapipe 0.10.21; never downloaded);
* :mod:`.extract` — :func:`extract`: a file to an :class:`Extraction` (its Sequence and how it was found);
* :mod:`.cache` — extractions cached by file content in the per-user cache folder;
* :mod:`.overlay` — a video with the user's and the aligned reference skeletons drawn over it.

Importing this package imports neither OpenCV nor mediapipe; the functions that need them raise a one-line
:class:`~posesearch.video.deps.MissingExtraError` naming what to install when they are absent.
"""
from __future__ import annotations

from .decode import IMAGE_SUFFIXES, MEDIA_PATTERNS, VIDEO_SUFFIXES, media_kind
from .deps import MissingExtraError, video_extra_installed
from .extract import MAX_VIDEO_FRAMES, Extraction, extract

__all__ = ["IMAGE_SUFFIXES", "MEDIA_PATTERNS", "VIDEO_SUFFIXES", "media_kind", "MissingExtraError",
           "video_extra_installed", "MAX_VIDEO_FRAMES", "Extraction", "extract"]
