"""``score ... --video overlay.mp4``: the user's video with their skeleton, the aligned reference skeleton
and the running score drawn over it (OpenCV drawing; the ``video`` extra).

For each frame of the user's video:

* **the user's skeleton** (green, wide): the poses found in that frame;
* **the reference skeleton** (orange, thin, on top): the reference frame the score's alignment pairs with this moment of the
  user (mirrored when the user was scored mirrored), moved and scaled onto the user's body (least squares over
  the joints both show: scale and translation, no rotation, so a lean stays visible);
* **the running score** (top-left corner): the mean of the reference moments passed so far, which ends at
  the report's score, and the score of the current moment.

Both skeletons are drawn in COCO-17 (any layout maps into it). The file is written atomically.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InvalidArgumentError
from ..poses.layouts import COCO17, get_layout
from ..poses.mirror import mirror
from .decode import VideoReader
from .deps import cv2_module

USER_BGR = (80, 200, 60)         #: the user's skeleton (green)
REFERENCE_BGR = (0, 140, 255)    #: the aligned reference skeleton (orange)
MIN_CONFIDENCE = 0.3             #: joints drawn (and used to place the reference) from this confidence up
#: output suffix -> OpenCV fourcc
CODECS = {".mp4": "mp4v", ".avi": "MJPG"}


def _coco(seq) -> tuple[np.ndarray, np.ndarray]:
    lay = get_layout(seq.layout)
    return lay.convert_to_coco(np.asarray(seq.keypoints, np.float64), np.asarray(seq.confidences, np.float64))


def reference_frame_for(report, user_time: float, ref_times: np.ndarray) -> tuple[int | None, int | None]:
    """(index into ``ref_times``, index into report.moment_times) of the reference moment the alignment pairs
    with ``user_time`` (the path point nearest in user time), or (None, None) outside the aligned stretch."""
    pt = report.path_times()
    if len(pt) == 0:
        return None, None
    step = float(np.median(np.diff(report.user_times))) if len(report.user_times) > 1 else 0.0
    i = int(np.argmin(np.abs(pt[:, 1] - user_time)))
    if abs(pt[i, 1] - user_time) > max(step, 1e-9) * 1.5:
        return None, None
    moment = int(report.alignment.path[i, 0])
    return int(np.argmin(np.abs(ref_times - pt[i, 0]))), moment


def fit_onto(ref: np.ndarray, ref_c: np.ndarray, user: np.ndarray, user_c: np.ndarray) -> np.ndarray | None:
    """``ref`` (K, 2) scaled and moved onto ``user`` (K, 2) by least squares over the joints both show at
    MIN_CONFIDENCE (no rotation); None with fewer than 3 such joints."""
    both = (ref_c >= MIN_CONFIDENCE) & (user_c >= MIN_CONFIDENCE) & np.isfinite(ref).all(1) & np.isfinite(user).all(1)
    if both.sum() < 3:
        return None
    r, u = ref[both], user[both]
    rc, uc = r.mean(0), u.mean(0)
    spread = ((r - rc) ** 2).sum()
    if spread <= 0:
        return None
    s = float(((r - rc) * (u - uc)).sum() / spread)
    return (ref - rc) * max(s, 0.0) + uc


def draw_skeleton(img: np.ndarray, kp: np.ndarray, conf: np.ndarray, color, *, thickness: int = 3) -> None:
    """COCO-17 keypoints (K, 2) in pixels drawn on a BGR image in place: bones and joints at MIN_CONFIDENCE."""
    cv2 = cv2_module()
    ok = (conf >= MIN_CONFIDENCE) & np.isfinite(kp).all(1)
    pts = np.round(np.nan_to_num(kp)).astype(np.int32)
    for a, b in COCO17.edges:
        if ok[a] and ok[b]:
            cv2.line(img, tuple(map(int, pts[a])), tuple(map(int, pts[b])), color, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(ok):
        cv2.circle(img, tuple(map(int, pts[j])), thickness + 1, color, -1, cv2.LINE_AA)


def _panel(img: np.ndarray, lines: list[tuple[str, tuple]]) -> None:
    """Text lines on a dark box in the top-left corner."""
    cv2 = cv2_module()
    scale = max(0.45, img.shape[0] / 900)
    th = max(1, int(round(scale * 2)))
    sizes = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, th)[0] for t, _ in lines]
    line_h = max(h for _, h in sizes) + int(10 * scale) + 4
    w = max(wd for wd, _ in sizes) + 16
    box = img[0:line_h * len(lines) + 10, 0:w + 10]
    box[:] = (box * 0.35).astype(img.dtype)
    for n, (text, color) in enumerate(lines):
        cv2.putText(img, text, (8, (n + 1) * line_h), cv2.FONT_HERSHEY_SIMPLEX, scale, color, th, cv2.LINE_AA)


def write_overlay(out, user_video, user, reference, report, *,
                  progress: Callable[[int, "int | None"], None] | None = None) -> dict[str, Any]:
    """Write ``out`` (.mp4 or .avi): ``user_video`` with ``user`` (its poses, a Sequence in the video's pixels),
    the aligned ``reference`` (a Sequence) and the running score of ``report`` (a ScoreReport of user against
    reference) drawn over each frame. Returns a summary (path, frames, seconds)."""
    cv2 = cv2_module("writing the overlay video")
    out = Path(out)
    fourcc = CODECS.get(out.suffix.lower())
    if fourcc is None:
        raise InvalidArgumentError(f"--video {out}: expected a .mp4 or .avi file name, got {out.suffix or 'none'!r}")
    ukp, ucf = _coco(user)
    rkp, rcf = _coco(reference)
    if report.mirrored:
        rkp, rcf = mirror(rkp, rcf, "coco17")
    ref_times = np.asarray(reference.times, np.float64)
    scores = np.asarray(report.moment_scores, np.float64)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="posesearch-overlay-") as tmp:
        tmp_file = Path(tmp) / f"overlay{out.suffix.lower()}"
        n = 0
        with VideoReader(user_video) as reader:
            info = reader.info
            fps = info.fps or (1.0 / float(np.median(np.diff(user.times))) if len(user) > 1 else 30.0)
            writer = cv2.VideoWriter(str(tmp_file), cv2.VideoWriter_fourcc(*fourcc), fps, (info.width, info.height))
            if not writer.isOpened():
                raise InvalidArgumentError(f"--video {out}: OpenCV cannot write {fourcc} video here")
            try:
                for i, (_, frame) in enumerate(reader.frames(len(user))):
                    ri, moment = reference_frame_for(report, float(user.times[i]), ref_times)
                    draw_skeleton(frame, ukp[i], ucf[i], USER_BGR, thickness=5)
                    if ri is not None:   # thinner, on top: where the two agree, green edges around orange
                        placed = fit_onto(rkp[ri], rcf[ri], ukp[i], ucf[i])
                        if placed is not None:
                            draw_skeleton(frame, placed, rcf[ri], REFERENCE_BGR, thickness=2)
                    if moment is None:
                        lines = [("score --", (255, 255, 255))]
                    else:
                        so_far = float(np.nanmean(scores[:moment + 1]))
                        lines = [(f"score {so_far:5.1f}", (255, 255, 255)),
                                 (f"now   {scores[moment]:5.1f}", (255, 255, 255))]
                    _panel(frame, lines + [("you", USER_BGR), ("reference", REFERENCE_BGR)])
                    writer.write(frame)
                    n += 1
                    if progress is not None:
                        progress(n, len(user))
            finally:
                writer.release()
        from ..files import atomic_write

        with open(tmp_file, "rb") as src:
            atomic_write(out, lambda f: shutil.copyfileobj(src, f))
    return {"path": str(out), "frames": n, "width": info.width, "height": info.height, "fps": fps,
            "seconds": round(time.perf_counter() - t0, 3)}
