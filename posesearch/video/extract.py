"""From a video or image file to a pose sequence (``posesearch extract``; every command reading a video).

Each decoded frame goes through :class:`~posesearch.video.model.PoseModel` (BlazePose full, offline). The
result is a :class:`~posesearch.sequence.sequence.Sequence`:

* **layout**: the 33 BlazePose landmarks mapped to COCO-17 by name (the default: every COCO joint has a
  BlazePose landmark), or all 33 (``layout="blazepose33"``);
* **coordinates**: pixels of the source frame (x right, y down, origin at the top-left corner; a landmark the
  model places outside the frame keeps its outside coordinates);
* **confidence**: the landmark's visibility (0-1);
* **times**: the container's time stamps (:mod:`.decode`); an image is one frame at time 0;
* **frames without a person** are kept, every keypoint missing (confidence 0), so times stay true.

A video of more than :data:`MAX_VIDEO_FRAMES` frames is refused unless ``max_frames`` is given (then the
first ``max_frames`` frames are read). Results are cached by the file's SHA-256 (:mod:`.cache`): extracting
the same file again, under any name, does not run the model again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError, check_number
from ..poses.layouts import BLAZEPOSE33, Layout, get_layout
from ..sequence.sequence import Sequence
from . import cache as _cache
from .decode import VideoReader, frame_times, media_kind, read_image
from .deps import cv2_module, mediapipe_module
from .model import MODEL_COMPLEXITY, MODEL_NAME, NUM_LANDMARKS, PoseModel, mediapipe_version

#: The longest video read without ``max_frames`` (10 minutes at 30 fps; about 8 minutes of extraction on
#: 2 cores). Longer ones need ``--max-frames N``, which reads the first N frames.
MAX_VIDEO_FRAMES = 18_000
#: The layouts a video can be read into: mapped to COCO-17 (default) or the model's own 33 landmarks.
OUTPUT_LAYOUTS = ("coco17", "blazepose33")
COORDINATES = "pixels of the source frame: x to the right, y down, origin at the frame's top-left corner"

Progress = Callable[[int, "int | None"], None]


def extraction_layout(layout) -> tuple[Layout, dict[str, dict[str, Any]]]:
    """The layout to extract into, and what was assumed (the default, coco17, is reported)."""
    if layout is None:
        return get_layout("coco17"), {"layout": {
            "value": "coco17", "why": "no layout given; the video's 33 BlazePose landmarks mapped to COCO-17 "
                                      "(--layout blazepose33 keeps all 33)"}}
    lay = get_layout(layout)
    if lay.name not in OUTPUT_LAYOUTS:
        raise InvalidArgumentError(f"layout: poses found in a video or image come as {' or '.join(OUTPUT_LAYOUTS)}, "
                                   f"not {lay.name}")
    return lay, {}


@dataclass
class Extraction:
    """The poses of one video or image file, and how they were found."""

    sequence: Sequence           #: the poses (pixels, visibility as confidence, container times)
    source: str                  #: the file
    kind: str                    #: "video" or "image"
    width: int
    height: int
    frames: int                  #: frames read
    frames_with_person: int
    timing: str                  #: "container", "nominal fps" or "image"
    container_fps: float | None
    container_frames: int | None
    sha256: str
    seconds: float               #: decoding + model time of the run that produced the poses (cached: that run's)
    cached: bool                 #: read from the extraction cache (no model ran now)
    truncated: bool              #: ``max_frames`` stopped the reading before the end of the video
    assumed: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def frames_per_second(self) -> float | None:
        """Frames decoded and run through the model per second of wall time (that of the cached run too)."""
        return self.frames / self.seconds if self.seconds > 0 else None

    def metadata(self) -> dict[str, Any]:
        """What an extracted sequence file says about itself, besides its poses."""
        return {"coordinates": "pixels", "coordinates_note": COORDINATES, "confidence": "landmark visibility (0-1)",
                "source": {"file": self.source, "sha256": self.sha256, "kind": self.kind, "width": self.width,
                           "height": self.height, "frames": self.frames,
                           "frames_with_person": self.frames_with_person, "timing": self.timing,
                           "container_fps": self.container_fps, "container_frames": self.container_frames,
                           "truncated": self.truncated},
                "extractor": {"model": MODEL_NAME, "mediapipe": mediapipe_version(),
                              "landmarks": f"{NUM_LANDMARKS} BlazePose landmarks"
                                           + (" mapped to COCO-17 by name" if self.sequence.layout.name == "coco17"
                                              else "")}}

    def to_dict(self) -> dict[str, Any]:
        """A summary for ``--json`` (without the poses)."""
        return {"source": self.source, "kind": self.kind, "layout": self.sequence.layout.name,
                "width": self.width, "height": self.height, "frames": self.frames,
                "frames_with_person": self.frames_with_person, "duration": float(self.sequence.times[-1]
                                                                                 - self.sequence.times[0]),
                "timing": self.timing, "container_fps": self.container_fps, "sha256": self.sha256,
                "cached": self.cached, "seconds": round(self.seconds, 4),
                "frames_per_second": None if self.frames_per_second is None else round(self.frames_per_second, 2),
                "truncated": self.truncated, "coordinates": "pixels", "assumed": self.assumed}

    def write(self, out) -> Path:
        """The poses as a pose-sequence file (.json with :meth:`metadata`, .npz, .npy), atomically."""
        from ..sequence.io import write_sequence

        write_sequence(out, self.sequence, meta=self.metadata())
        return Path(out)


def _too_long(path: Path, frames: int, fps: float | None, limit: int) -> FileFormatError:
    dur = f" ({frames / fps / 60:.1f} min)" if fps else ""
    return FileFormatError(path, f"video of {frames:,} frames{dur} is longer than the {limit:,}-frame limit for "
                                 f"extraction; pass --max-frames N to read its first N frames")


def _run_video(path: Path, max_frames: int | None, frame_limit: int, progress: Progress | None):
    """(landmarks (T, 33, 3) NaN where no person, container times, info dict) of a video."""
    cv2 = cv2_module()
    with VideoReader(path) as reader:
        info = reader.info
        if max_frames is None and info.frame_count is not None and info.frame_count > frame_limit:
            raise _too_long(path, info.frame_count, info.fps, frame_limit)
        total = info.frame_count if max_frames is None else min(max_frames, info.frame_count or max_frames)
        marks, stamps = [], []
        t0 = time.perf_counter()
        with PoseModel(still=False) as model:
            t_run = time.perf_counter()
            for stamp, bgr in reader.frames(max_frames if max_frames is not None else frame_limit + 1):
                if max_frames is None and len(marks) >= frame_limit:   # a container that did not count its frames
                    raise _too_long(path, len(marks) + 1, info.fps, frame_limit)
                found = model.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                marks.append(np.full((NUM_LANDMARKS, 3), np.nan, np.float32) if found is None else found)
                stamps.append(stamp)
                if progress is not None:
                    progress(len(marks), total)
        t1 = time.perf_counter()
    if not marks:
        raise FileFormatError(path, "no frame could be decoded (an empty, corrupt or truncated video)")
    times, timing = frame_times(stamps, info.fps)
    if times is None and len(marks) > 1:
        raise FileFormatError(path, "the container gives neither frame times nor a frame rate")
    complete = max_frames is None or len(marks) < max_frames
    return np.stack(marks), times, {
        "kind": "video", "width": info.width, "height": info.height, "container_frames": info.frame_count,
        "container_fps": info.fps, "timing": timing, "complete": complete, "seconds": t1 - t_run,
        "load_seconds": t_run - t0}


def _run_image(path: Path, progress: Progress | None):
    cv2 = cv2_module()
    bgr, info = read_image(path)
    t0 = time.perf_counter()
    with PoseModel(still=True) as model:
        t_run = time.perf_counter()
        found = model.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        t1 = time.perf_counter()
    if progress is not None:
        progress(1, 1)
    marks = np.full((1, NUM_LANDMARKS, 3), np.nan, np.float32) if found is None else found[None]
    return marks, None, {"kind": "image", "width": info.width, "height": info.height, "container_frames": 1,
                         "container_fps": None, "timing": "image", "complete": True, "seconds": t1 - t_run,
                         "load_seconds": t_run - t0}


def extract(path, *, layout: "str | Layout | None" = None, max_frames: int | None = None,
            frame_limit: int = MAX_VIDEO_FRAMES, kind: str | None = None, cache: bool = True,
            refresh: bool = False, progress: Progress | None = None) -> Extraction:
    """The poses of a video or image file (see the module doc).

    ``layout``: ``coco17`` (default, reported as assumed) or ``blazepose33``; ``max_frames``: read at most the
    first N frames (and allow a video longer than ``frame_limit``); ``kind``: ``"video"`` or ``"image"`` for a
    file whose suffix does not say; ``cache``: use and fill the extraction cache (``refresh``: run the model
    anyway and replace the entry); ``progress(done, total)``
    is called after each frame (``total`` None when the container does not count its frames)."""
    p = Path(path)
    lay, assumed = extraction_layout(layout)
    max_frames = check_number("max_frames", max_frames, integer=True, low=1, allow_none=True)
    frame_limit = check_number("frame_limit", frame_limit, integer=True, low=1)
    kind = kind or media_kind(p) or "video"
    if kind not in ("video", "image"):
        raise InvalidArgumentError(f"kind: expected 'video' or 'image', got {kind!r}")
    if not p.exists():
        raise FileFormatError(p, "no such file")
    from ..safeio import regular_file
    from .decode import MAX_MEDIA_BYTES

    regular_file(p, what=f"{kind} file", max_bytes=MAX_MEDIA_BYTES)
    cv2_module(f"{p}: reading {kind}s")
    mediapipe_module(f"{p}: finding poses in {kind}s")
    sha = _cache.file_sha256(p)
    key = {"model": MODEL_NAME, "complexity": MODEL_COMPLEXITY, "mediapipe": mediapipe_version(), "kind": kind}
    entry_path = _cache.entry_path(sha, key)
    hit = _cache.load(entry_path, sha) if cache and not refresh else None
    if hit is not None:
        marks, times, info = hit
        n_count = info.get("container_frames")
        if max_frames is None and n_count is not None and n_count > frame_limit:
            raise _too_long(p, n_count, info.get("container_fps"), frame_limit)
        if not (info.get("complete") or (max_frames is not None and len(marks) >= max_frames)):
            hit = None   # a shorter extraction than asked for now: run the model again
    cached = hit is not None
    if hit is None:
        marks, times, info = (_run_image(p, progress) if kind == "image"
                              else _run_video(p, max_frames, frame_limit, progress))
        info["sha256"] = sha
        if cache:
            _cache.store(entry_path, marks, times, info)
    elif progress is not None:
        progress(len(marks) if max_frames is None else min(max_frames, len(marks)), None)
    truncated = max_frames is not None and (len(marks) > max_frames or not info.get("complete"))
    if max_frames is not None and len(marks) > max_frames:
        marks = marks[:max_frames]
        times = None if times is None else times[:max_frames]
    seconds = float(info["seconds"]) * (len(marks) / max(1, len(hit[0]))) if cached else float(info["seconds"])
    present = np.isfinite(marks[..., 0]).all(axis=1)
    if not present.any():
        where = "this image" if kind == "image" else f"any of the {len(marks):,} frames"
        raise FileFormatError(p, f"no person found in {where} (the pose model, {MODEL_NAME}, found no one)")
    if info.get("timing") == "nominal fps":
        assumed["times"] = {"value": f"frame / {info['container_fps']:g} fps",
                            "why": "the container gives no increasing frame times; its nominal frame rate spaces them"}
    seq = _sequence(marks, times, info.get("container_fps"), lay, str(p))
    return Extraction(seq, str(p), kind, int(info["width"]), int(info["height"]), len(marks), int(present.sum()),
                      str(info["timing"]), info.get("container_fps"), info.get("container_frames"), sha, seconds,
                      cached, bool(truncated), assumed)


def _sequence(marks: np.ndarray, times, fps, layout: Layout, name: str) -> Sequence:
    """(T, 33, 3) landmarks (NaN rows: no person) as a Sequence in ``layout``."""
    kp = marks[..., :2].astype(np.float64)
    cf = np.where(np.isfinite(kp).all(axis=-1), np.nan_to_num(marks[..., 2].astype(np.float64)), 0.0)
    if layout.name != BLAZEPOSE33.name:
        kp, cf = BLAZEPOSE33.convert_to_coco(kp, cf)
    return Sequence(kp, cf, layout, times, fps if len(kp) > 1 else None, name)
