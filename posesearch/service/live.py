"""The live scoring WebSocket, ``/v1/live?reference_clip=ID`` (optional ``start`` / ``end``: seconds of clip
time; ``smooth``, ``interp``, ``align``, ``mirror``, ``distance``, ``moments_from``: the score settings;
``nearest=false``: no nearest corpus pose per frame; ``reps=true``: also find repetitions of the reference
as they complete, with ``rep_threshold``: the score below which a rep is bad, default 70).

The client sends one text message a frame, ``{"t": seconds, "keypoints": [[x, y, c], ...]}`` (c = 0: missing),
and gets one answer each:

* ``{"type": "update", ...}``: :class:`~posesearch.sequence.stream.StreamUpdate`'s fields (``score``: the
  running score; ``position`` / ``ref_time``: the aligned reference frame and its time; ``joint_scores``...),
  plus ``worst_joints``: the three joints doing worst right now, and ``nearest``: the nearest corpus frame of
  this pose (a ``query --json`` record), when an index search is wanted; with ``reps=true``, ``reps``: the
  number of reps completed so far and ``new_reps``: those this frame completed (each a
  :meth:`~posesearch.sequence.reps.Rep.to_dict`: index, start / end, score, bad, worst joints, angles,
  timing and ``feedback`` sentences), as :class:`~posesearch.sequence.reps.RepTracker` reports them (a rep is
  complete a quarter of the reference's duration after its end; partial reps are not reported live);
* ``{"type": "error", "detail", "frame"}`` for a frame the session refuses (late or out of order, NaN, wrong
  keypoint count, ...): it is skipped, as :class:`~posesearch.sequence.stream.ScoreSession` skips it, and the
  session goes on.

``{"type": "end"}`` gets ``{"type": "report", ...}``: :meth:`ScoreSession.report`'s ``to_dict()``, the offline
score of every accepted frame with the same settings (equal to ``POST /v1/score`` of those frames), then a
normal close; with ``reps=true`` it also carries ``reps``: every rep completed (the list of rep dicts, the
last ones completed by the end itself: :meth:`ScoreSession.finish_reps`).

A message that is not a JSON object of one of these kinds gets ``{"type": "error"}`` and the connection is
closed with code 4000 + the HTTP status of the error (4400 garbage, 4404 unknown clip, 4413 too big or too
long, 4422 bad settings); a client that goes away just ends its session.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from ..errors import InvalidArgumentError, InvalidPoseError, PoseSearchError, check_number
from ..sequence.reps import RepSettings
from ..sequence.stream import ScoreSession, rows_with_missing
from .core import (SCORE_SETTINGS, RequestBodyError, Service, TooLargeError, dumps, loads, parse_flag,
                   parse_json_body, score_settings, status_for)

WORST_NOW = 3


class LiveSession:
    """One client's session: a :class:`ScoreSession` against a corpus clip, and the nearest corpus frame of
    each pushed pose (when ``nearest``)."""

    def __init__(self, svc: Service, params: dict[str, str]):
        unknown = set(params) - {"reference_clip", "start", "end", "nearest", "reps", "rep_threshold", "token",
                                 *SCORE_SETTINGS}
        if unknown:
            raise InvalidArgumentError(f"unknown query parameter {sorted(unknown)[0]!r}; expected reference_clip, "
                                       f"start, end, nearest, reps, rep_threshold, {', '.join(SCORE_SETTINGS)}")
        if "reference_clip" not in params:
            raise InvalidArgumentError("reference_clip: missing; connect to /v1/live?reference_clip=CLIP_ID")
        self.svc = svc
        self.reference_clip = params["reference_clip"]
        reference = svc.clip(self.reference_clip, *(_number(params, n) for n in ("start", "end")))
        settings = score_settings({k: v for k, v in params.items() if k in SCORE_SETTINGS}, svc.limits.max_frames)
        self.reps = parse_flag("reps", params.get("reps", "false"))
        if "rep_threshold" in params and not self.reps:
            raise InvalidArgumentError("rep_threshold: given without reps=true")
        reps = None
        if self.reps:
            threshold = _number(params, "rep_threshold", RepSettings.threshold)
            reps = RepSettings(score=settings, threshold=check_number("rep_threshold", threshold, low=0, high=100))
        self.session = ScoreSession(reference, settings, reps=reps)
        self.nearest = parse_flag("nearest", params.get("nearest", "true"))

    def frame(self, message: dict) -> dict:
        """The answer to one frame message (the session raises a PoseSearchError for a refused frame)."""
        if self.session.frames >= self.svc.limits.max_frames:
            raise TooLargeError(f"this session has {self.session.frames:,} frames, the most this service scores "
                                f"({self.svc.limits.max_frames:,}); send {{\"type\": \"end\"}}")
        update = self.session.push(message.get("keypoints"), message.get("t"))
        out: dict[str, Any] = {"type": "update", **update.to_dict()}
        if not self.reps:
            del out["reps"], out["new_reps"]
        seen = [(v, k) for k, v in update.joint_scores.items() if v is not None]
        out["worst_joints"] = [{"joint": k, "score": v} for v, k in sorted(seen)[:WORST_NOW]]
        if self.nearest:
            out["nearest"] = self._nearest(message["keypoints"])
        return out

    def _nearest(self, keypoints) -> dict | None:
        try:
            m = self.svc.index.search(np.asarray(rows_with_missing(keypoints), dtype=np.float64), 1,
                                      layout=self.session.layout.name, mirror=True)
        except InvalidPoseError:          # too few joints to compare: no nearest pose for this frame
            return None
        return m.to_records()[0][0]

    def end(self) -> dict:
        out = {"type": "report", "reference": self.reference_clip, **self.session.report().to_dict(path=False)}
        if self.reps:
            self.session.finish_reps()
            out["reps"] = [r.to_dict() for r in self.session.completed_reps]
        return out


def _number(params: dict, name: str, default: Any = None) -> Any:
    """A query parameter as a float when it reads as one, else as given (``check_number`` names it)."""
    if name not in params:
        return default
    try:
        return float(params[name])
    except ValueError:
        return params[name]


def parse_message(text: Any, limit: int) -> dict:
    """A client message as a dict with a ``type`` of "frame" or "end", or a RequestBodyError / TooLargeError."""
    if not isinstance(text, str):
        raise RequestBodyError("message", "expected a text message of JSON, got a binary one")
    if len(text) > limit:
        raise TooLargeError(f"message: {len(text):,} characters, more than this service takes ({limit:,})")
    try:
        msg = loads(text)            # orjson: a plain frame message; anything it refuses is read as a body is
    except ValueError:
        try:
            msg = parse_json_body(text.encode("utf-8", "surrogatepass"))
        except RequestBodyError as e:
            raise RequestBodyError("message", e.problem) from None
    if not isinstance(msg, dict):
        raise RequestBodyError("message", f"expected a JSON object, got a JSON {type(msg).__name__}")
    kind = msg.get("type", "frame")
    if kind not in ("frame", "end"):
        raise RequestBodyError("message", f"type: expected 'frame' or 'end', got {kind!r}")
    if kind == "frame" and not ("t" in msg and "keypoints" in msg):
        raise RequestBodyError("message", "a frame needs 't' (seconds) and 'keypoints' ([[x, y, c], ...]); "
                                          "{\"type\": \"end\"} ends the session")
    msg["type"] = kind
    return msg


async def _close_with(ws: WebSocket, e: PoseSearchError) -> None:
    await ws.send_json({"type": "error", "detail": str(e)})
    await ws.close(code=4000 + status_for(e))


async def live_endpoint(ws: WebSocket, svc: Service) -> None:
    """Serve one live session (module doc); the session's state is dropped however the connection ends."""
    await ws.accept()
    if svc.live_sessions >= svc.limits.max_sessions:
        await ws.send_json({"type": "error", "detail": f"the service has {svc.live_sessions} live sessions, its "
                                                       "limit; try again later"})
        await ws.close(code=1013)
        return
    svc.live_sessions += 1
    try:
        try:
            live = LiveSession(svc, dict(ws.query_params))
        except PoseSearchError as e:
            await _close_with(ws, e)
            return
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            try:
                msg = parse_message(message.get("text"), svc.limits.max_body_bytes)
            except PoseSearchError as e:
                await _close_with(ws, e)
                return
            if msg["type"] == "end":
                try:
                    report = await run_in_threadpool(live.end)
                except PoseSearchError as e:
                    await _close_with(ws, e)
                    return
                await ws.send_json(report)
                await ws.close(code=1000)
                return
            try:        # with reps, a frame may run find_reps (~0.1 s): off the event loop, not to stall others
                answer = await run_in_threadpool(live.frame, msg) if live.reps else live.frame(msg)
            except TooLargeError as e:
                await _close_with(ws, e)
                return
            except PoseSearchError as e:      # this frame is refused; the session goes on
                answer = {"type": "error", "detail": str(e), "frame": live.session.frames}
            await ws.send_text(dumps(answer).decode())
    except WebSocketDisconnect:
        return
    finally:
        svc.live_sessions -= 1
