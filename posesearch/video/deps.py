"""The ``video`` extra: OpenCV (decoding, drawing, writing) and mediapipe (the pose model), imported on use.

posesearch never imports them at start-up: without the extra, only the commands that read a video or an
image fail, with one line saying what to install (:class:`MissingExtraError`).
"""
from __future__ import annotations

import importlib.util

from ..errors import PoseSearchError

#: what to install, as the error says it (the extra pins mediapipe 0.10.21, which pins numpy < 2)
INSTALL = ('pip install "posesearch[video]" (from a checkout: pip install -e ".[video]"), in an '
           'environment of its own: mediapipe pins numpy < 2')


class MissingExtraError(PoseSearchError):
    """An optional extra needed for this input or command is not installed."""


def video_extra_installed() -> bool:
    """True when both OpenCV and mediapipe can be imported (checked without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("cv2", "mediapipe"))


def _missing(what: str) -> MissingExtraError:
    return MissingExtraError(f"{what} needs the 'video' extra: {INSTALL} (mediapipe 0.10.21 needs numpy < 2: "
                             "install it in its own environment)")


def cv2_module(what: str = "reading a video or image"):
    """OpenCV, or a one-line MissingExtraError naming ``what`` needed it."""
    try:
        import cv2
    except ImportError:
        raise _missing(what) from None
    return cv2


def mediapipe_module(what: str = "finding poses in a video or image"):
    """mediapipe, or a one-line MissingExtraError naming ``what`` needed it."""
    try:
        import mediapipe
    except ImportError:
        raise _missing(what) from None
    return mediapipe
