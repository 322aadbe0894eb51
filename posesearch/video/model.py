"""The pose model: MediaPipe BlazePose "full" (``model_complexity=1``), offline, one person a frame.

mediapipe 0.10.21 ships this model and its person detector inside its wheel, so it runs without network
access. Its other complexities (0 "lite", 2 "heavy") are downloaded at run time, and newer mediapipe
releases ship no model at all. posesearch therefore uses complexity 1 only (:data:`MODEL_COMPLEXITY`, not a
parameter), checks that the bundled model files exist before it builds the model, and builds it with
mediapipe's downloader replaced by one that refuses (:func:`_no_downloads`): no code path downloads a model.

:meth:`PoseModel.detect` returns the 33 BlazePose landmarks of an RGB frame in pixels (x right, y down,
origin at the top-left corner of the frame) with the landmark's visibility as its confidence, or None when
no person is found.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np

from ..errors import PoseSearchError
from .deps import mediapipe_module

#: The only BlazePose complexity whose model ships inside the mediapipe wheel (0 and 2 download theirs).
MODEL_COMPLEXITY = 1
#: The model files complexity 1 needs, relative to the mediapipe package.
BUNDLED_MODELS = ("modules/pose_landmark/pose_landmark_full.tflite", "modules/pose_detection/pose_detection.tflite")
#: What output files and caches record as the model.
MODEL_NAME = "mediapipe BlazePose full (model_complexity=1)"
NUM_LANDMARKS = 33


class ModelUnavailableError(PoseSearchError):
    """The offline pose model is not installed (posesearch never downloads one)."""


def mediapipe_version() -> str:
    return str(getattr(mediapipe_module(), "__version__", "unknown"))


def bundled_model_paths(package_dir: Path | None = None) -> list[Path]:
    """The model files of :data:`BUNDLED_MODELS` inside the mediapipe package (``package_dir``: its folder)."""
    root = Path(package_dir) if package_dir is not None else Path(mediapipe_module().__file__).resolve().parent
    return [root / rel for rel in BUNDLED_MODELS]


def check_offline_model(package_dir: Path | None = None) -> None:
    """Raise ModelUnavailableError unless every bundled model file exists (then nothing is downloaded)."""
    missing = [p for p in bundled_model_paths(package_dir) if not p.is_file()]
    if missing:
        raise ModelUnavailableError(
            f"the pose model {missing[0]} is not installed; posesearch never downloads models: install the "
            f"'video' extra (mediapipe 0.10.21 ships it: pip install \"posesearch[video]\")")


@contextlib.contextmanager
def _no_downloads():
    """While building the model, mediapipe's model downloader refuses instead of fetching anything."""
    from mediapipe.python.solutions import download_utils

    def refuse(model_path: str):
        raise ModelUnavailableError(f"mediapipe asked to download {model_path}; posesearch never downloads "
                                    f"models (only model_complexity={MODEL_COMPLEXITY} is bundled)")

    saved = download_utils.download_oss_model
    download_utils.download_oss_model = refuse
    try:
        yield
    finally:
        download_utils.download_oss_model = saved


@contextlib.contextmanager
def _native_stderr_hidden():
    """Hide what native code writes to file descriptor 2 (mediapipe's C++ start-up warnings: feedback
    tensors, XNNPACK, the square-ROI note, printed on every run) while the model starts; Python's own
    errors are exceptions and unaffected."""
    import os
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):   # no real stderr (embedded, captured): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class PoseModel:
    """BlazePose full; ``still=True`` for unrelated images (detects every frame), False for video frames
    (tracks the person from frame to frame, as MediaPipe intends for video). A context manager."""

    def __init__(self, *, still: bool):
        mp = mediapipe_module()
        check_offline_model()
        with _no_downloads(), _native_stderr_hidden():
            self._pose = mp.solutions.pose.Pose(static_image_mode=still, model_complexity=MODEL_COMPLEXITY,
                                                smooth_landmarks=not still, enable_segmentation=False)
        self._started = False

    def __enter__(self) -> "PoseModel":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
            self._pose = None

    def detect(self, rgb: np.ndarray) -> np.ndarray | None:
        """(33, 3) float32 [x px, y px, visibility] of the person in an RGB uint8 (H, W, 3) frame, or None."""
        h, w = rgb.shape[:2]
        if self._started:
            res = self._pose.process(rgb)
        else:   # the first frame starts the graph (and its warnings)
            with _native_stderr_hidden():
                res = self._pose.process(rgb)
            self._started = True
        if res.pose_landmarks is None:
            return None
        out = np.array([[lm.x * w, lm.y * h, lm.visibility] for lm in res.pose_landmarks.landmark],
                       dtype=np.float32)
        out[:, 2] = np.clip(np.nan_to_num(out[:, 2], nan=0.0), 0.0, 1.0)
        return out
