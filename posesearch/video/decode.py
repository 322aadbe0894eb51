"""Decoding video and image files with OpenCV (its bundled FFmpeg): frames, their times, the file's size.

Time stamps come from the container: each decoded frame's presentation time (OpenCV's ``CAP_PROP_POS_MSEC``
after the frame is read). When a container gives none that increase (some raw streams), the frames are
spaced by the container's nominal frame rate and :attr:`VideoInfo.timing` says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import FileFormatError
from ..safeio import MAX_INPUT_BYTES, regular_file
from .deps import cv2_module

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: file-name patterns of every file posesearch reads as a video or an image (folders are expanded with them)
MEDIA_PATTERNS = tuple(f"*{s}" for s in VIDEO_SUFFIXES + IMAGE_SUFFIXES)
#: the largest video or image file read
MAX_MEDIA_BYTES = MAX_INPUT_BYTES


def media_kind(path) -> str | None:
    """``"video"`` or ``"image"`` by the file's suffix (case-insensitive), else None."""
    suffix = Path(path).suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video (or an image: one frame, no frame rate)."""

    kind: str                    #: "video" or "image"
    width: int
    height: int
    frame_count: int | None      #: the container's frame count; None when it gives none
    fps: float | None            #: the nominal frame rate; None for an image or when the container gives none


def _check_file(path: Path) -> Path:
    return regular_file(path, what="video or image file", max_bytes=MAX_MEDIA_BYTES)


def _not_decodable(path: Path, kind: str) -> FileFormatError:
    return FileFormatError(path, f"cannot decode this file as {'a video' if kind == 'video' else 'an image'} "
                                 "(corrupt, truncated, or not a video/image file; OpenCV with FFmpeg reads "
                                 f"{', '.join(VIDEO_SUFFIXES[:6])}, ... and {', '.join(IMAGE_SUFFIXES[:3])}, ...)")


def read_image(path) -> tuple[np.ndarray, VideoInfo]:
    """(BGR uint8 (H, W, 3) array, info) of an image file; a file OpenCV cannot decode is a FileFormatError."""
    cv2 = cv2_module()
    p = _check_file(Path(path))
    raw = np.fromfile(p, dtype=np.uint8)          # (cv2.imread cannot say why it failed, nor read every path)
    img = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if img is None or img.ndim != 3 or img.size == 0:
        raise _not_decodable(p, "image")
    return img, VideoInfo("image", int(img.shape[1]), int(img.shape[0]), 1, None)


class VideoReader:
    """An open video file: :attr:`info` from the container, :meth:`frames` to decode (a context manager)."""

    def __init__(self, path):
        cv2 = cv2_module()
        self.path = _check_file(Path(path))
        self._cv2 = cv2
        self._cap = cv2.VideoCapture(str(self.path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            self._cap.release()
            raise _not_decodable(self.path, "video")
        w = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        n = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        if w <= 0 or h <= 0:
            self.close()
            raise _not_decodable(self.path, "video")
        self.info = VideoInfo("video", w, h, int(n) if np.isfinite(n) and n > 0 else None,
                              float(fps) if np.isfinite(fps) and 0 < fps < 10_000 else None)
        #: how the frame times were found, once frames were read: "container" or "nominal fps"
        self.timing = "container"

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def frames(self, limit: int | None = None) -> Iterator[tuple[float | None, np.ndarray]]:
        """(time in seconds from the container or None, BGR frame) for each decoded frame, at most ``limit``."""
        cv2 = self._cv2
        n = 0
        while limit is None or n < limit:
            ok, frame = self._cap.read()
            if not ok or frame is None:
                break
            ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
            n += 1
            yield (float(ms) / 1000.0 if np.isfinite(ms) else None), frame


def frame_times(container: list[float | None], fps: float | None) -> tuple[np.ndarray | None, str]:
    """The frame times to use and where they came from: the container's when every frame has one and they
    strictly increase (``"container"``); else ``arange(T) / fps`` (``"nominal fps"``); else None (unknown)."""
    t = np.array([np.nan if v is None else v for v in container], dtype=np.float64)
    if len(t) and np.isfinite(t).all() and (len(t) == 1 or (np.diff(t) > 0).all()):
        return t, "container"
    if fps:
        return np.arange(len(t), dtype=np.float64) / fps, "nominal fps"
    return None, "unknown"


def read_frame_rgb(path, frame: int) -> np.ndarray | None:
    """Frame ``frame`` (0 = the first) of a video file as (H, W, 3) uint8 RGB (OpenCV seeks, then decodes
    one frame); None when the file does not open or has no such frame."""
    cv2 = cv2_module("drawing over a video frame")
    if frame < 0:
        return None
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            return None
        if frame:
            cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame))
        ok, img = cap.read()
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if ok and img is not None else None
    finally:
        cap.release()


def use_for_pictures() -> bool:
    """Let match and clip pictures draw over video frames (:func:`posesearch.pictures.set_video_frame_reader`)
    when OpenCV is importable (checked without importing it); True when installed."""
    import importlib.util

    from ..pictures.draw import set_video_frame_reader

    if importlib.util.find_spec("cv2") is None:
        return False
    set_video_frame_reader(read_frame_rgb)
    return True
