"""What the service's routes share (no FastAPI here): the :class:`Service` state and its work for each route
(parse the request, call the library, return the library's own ``to_dict()`` / records), the :class:`Limits`,
and the errors the service adds (:class:`RequestBodyError` 400, :class:`TooLargeError` 413; :data:`STATUS`)."""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..errors import (FileFormatError, InvalidArgumentError, PoseSearchError, UnknownClipError, UnknownNameError,
                      check_number)
from ..index.index import Index
from ..poses.layouts import get_layout, infer_layout
from ..safeio import parse_json
from ..sequence.score import ScoreSettings

try:                    # the serve extra brings orjson (about 10x faster both ways); json does the same otherwise
    import orjson

    def dumps(obj: Any) -> bytes:
        """``obj`` as compact UTF-8 JSON: the bytes Starlette's JSONResponse writes (orjson when installed)."""
        return orjson.dumps(obj)

    loads = orjson.loads
except ImportError:     # pragma: no cover - the serve extra installs orjson
    import json

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()

    loads = json.loads

#: the ScoreSettings fields a request may set (strings: the names the CLI's options take)
SCORE_SETTINGS = ("smooth", "interp", "align", "mirror", "distance", "moments_from")


class RequestBodyError(FileFormatError):
    """A request body or WebSocket message that is not JSON, or not a JSON object of the expected kind (400)."""


class TooLargeError(InvalidArgumentError):
    """A body, batch or sequence over the service's limits (answered 413)."""


#: exception class -> HTTP status, first match wins
STATUS: tuple[tuple[type, int], ...] = ((UnknownClipError, 404), (TooLargeError, 413), (RequestBodyError, 400),
                                        (PoseSearchError, 422))


def status_for(e: PoseSearchError) -> int:
    return next(code for cls, code in STATUS if isinstance(e, cls))


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the service.

    max_body_bytes: a request body or WebSocket message (8 MiB: 10 minutes of COCO-17 JSON at 30 fps is about
    5 MB); max_frames: frames of a sequence, and of a live session (10 minutes at 30 fps); max_batch: poses of
    one ``/v1/query``; max_k: nearest frames per pose; max_page: clips per ``/v1/clips`` page; max_sessions:
    live sessions at once."""

    max_body_bytes: int = 8 << 20
    max_frames: int = 18_000
    max_batch: int = 1_000
    max_k: int = 1_000
    max_page: int = 1_000
    max_sessions: int = 500

    def __post_init__(self):
        for name, value in asdict(self).items():
            check_number(name, value, integer=True, low=1)


def _fields(body: Any, allowed: tuple[str, ...]) -> dict:
    if not isinstance(body, dict):
        raise RequestBodyError("request body", f"expected a JSON object, got a JSON {type(body).__name__}")
    for key in body:
        if key not in allowed:
            raise UnknownNameError("field", key, allowed)
    return body


def parse_flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0"):
        return value.lower() in ("true", "on", "1")
    raise InvalidArgumentError(f"{name}: expected true or false, got {value!r}")


def score_settings(given: dict, max_frames: int) -> ScoreSettings:
    """ScoreSettings from a request's ``settings`` (or the live endpoint's query parameters)."""
    if not isinstance(given, dict):
        raise InvalidArgumentError(f"settings: expected an object of {', '.join(SCORE_SETTINGS)}, "
                                   f"got {type(given).__name__}")
    for key, value in given.items():
        if key not in SCORE_SETTINGS:
            raise UnknownNameError("score setting", key, SCORE_SETTINGS)
        if not isinstance(value, str):
            raise InvalidArgumentError(f"settings.{key}: expected a name, got {value!r}")
    return ScoreSettings(**given, max_frames=max_frames)


class Service:
    """The state the routes share: the index (and its corpus), the limits, the live sessions open."""

    def __init__(self, index: Index, limits: Limits, name: str):
        self.index = index
        self.limits = limits
        self.name = name
        self.live_sessions = 0          # open WebSocket sessions (checked by the tests: nothing leaks)
        self._described: dict | None = None
        self._clip = functools.lru_cache(maxsize=64)(self._clip_uncached)

    # --------------------------------------------------------------------------------- inputs
    def corpus(self):
        """The index's corpus; a one-line error when the service has none."""
        c = self.index.corpus
        if c is None:
            raise InvalidArgumentError("this needs the index's corpus (clip ids, frames and labels): start the "
                                       "service with --corpus CORPUS")
        return c

    def sequence(self, body: dict, field: str):
        """An inline pose-sequence object (``{fps or times, layout, frames}``, as in a sequence JSON file), with
        what its reading assumed; errors name ``field`` as the CLI names the file."""
        from ..sequence.io import read_sequence

        doc = body.get(field)
        if not isinstance(doc, dict):
            raise InvalidArgumentError(f"{field}: expected a pose-sequence object {{\"fps\", \"layout\", "
                                       f"\"frames\"}}, got {'nothing' if doc is None else type(doc).__name__}")
        frames = doc.get("frames")
        if isinstance(frames, list) and len(frames) > self.limits.max_frames:
            raise TooLargeError(f"{field}: {len(frames):,} frames, more than this service takes "
                                f"({self.limits.max_frames:,})")
        assumed: dict = {}
        try:
            seq = read_sequence(Path(f"{field}.json"), doc=doc, assumed=assumed)
        except FileFormatError as e:
            raise type(e)(field, e.problem) from None
        seq.name = field
        return seq, assumed

    def _clip_uncached(self, clip_id: str, start: float | None, end: float | None):
        from ..corpus.listing import clip_sequence

        seq = clip_sequence(self.corpus(), clip_id)
        if start is None and end is None:
            return seq
        t = np.asarray(seq.times)
        a = 0 if start is None else int(np.searchsorted(t, start, side="left"))
        b = len(t) if end is None else int(np.searchsorted(t, end, side="left"))
        if b - a < 2:
            raise InvalidArgumentError(f"reference_clip {clip_id}: start {start} / end {end} s keep {max(b - a, 0)} "
                                       f"of its frames (times {t[0]:.3f}-{t[-1]:.3f} s); at least 2 are needed")
        return seq.slice(a, b)

    def clip(self, clip_id: Any, start: Any = None, end: Any = None):
        """Corpus clip ``clip_id`` as a Sequence, cut to clip times [start, end) seconds when given (cached)."""
        if not isinstance(clip_id, str) or not clip_id:
            raise InvalidArgumentError(f"reference_clip: expected a clip id, got {clip_id!r}")
        s = check_number("start", start, allow_none=True)
        e = check_number("end", end, allow_none=True)
        return self._clip(clip_id, s, e)

    def reference(self, body: dict):
        """(sequence, name) of a request's reference: inline ``reference`` or corpus ``reference_clip``."""
        if ("reference" in body) == ("reference_clip" in body):
            raise InvalidArgumentError("expected one of 'reference' (a pose-sequence object) and 'reference_clip' "
                                       "(a corpus clip id), got " + ("both" if "reference" in body else "neither"))
        if "reference_clip" in body:
            return self.clip(body["reference_clip"], body.get("start"), body.get("end")), body["reference_clip"], {}
        seq, assumed = self.sequence(body, "reference")
        return seq, "reference", assumed

    # ------------------------------------------------------------------------------- routes' work
    def describe(self) -> dict:
        """What every answer says about the index (read once: the index and its corpus do not change)."""
        if self._described is None:
            idx = self.index
            c = idx.corpus
            self._described = {"index": self.name, "frames": len(idx), "metric": idx.metric,
                               "backend": idx.backend_name, "exact": idx.exact,
                               "corpus": None if c is None else {"path": str(c.path), "clips": c.num_clips,
                                                                 "frames": len(c)}}
        return {**self._described}

    def health(self) -> dict:
        return {"status": "ok", "version": __version__, **self.describe(), "live_sessions": self.live_sessions,
                "limits": asdict(self.limits)}

    def query(self, body: Any) -> dict:
        from ..poses.io import pose_from_obj

        body = _fields(body, ("keypoints", "poses", "layout", "k", "mirror"))
        if ("keypoints" in body) == ("poses" in body):
            raise InvalidArgumentError("expected 'keypoints' (one pose) or 'poses' (a batch), got "
                                       + ("both" if "poses" in body else "neither"))
        k = check_number("k", body.get("k", 10), integer=True, low=1, high=min(len(self.index), self.limits.max_k))
        mirror = parse_flag("mirror", body.get("mirror", False))
        batch = "poses" in body
        items = body["poses"] if batch else [{"keypoints": body["keypoints"]}]
        if batch and (not isinstance(items, list) or not items):
            raise InvalidArgumentError(f"poses: expected a non-empty list of poses, got {items!r:.40}")
        if len(items) > self.limits.max_batch:
            raise TooLargeError(f"poses: {len(items):,} poses, more than this service takes in one request "
                                f"({self.limits.max_batch:,})")
        assumed: dict = {}
        poses = [pose_from_obj(p if isinstance(p, dict) else {"keypoints": p}, layout=body.get("layout"),
                               source=f"poses[{i}]" if batch else "keypoints", assumed=assumed)
                 for i, p in enumerate(items)]
        lay = poses[0].layout
        for i, p in enumerate(poses):
            if p.layout.name != lay.name:
                raise InvalidArgumentError(f"poses[{i}]: layout {p.layout.name}, but poses[0] is {lay.name}; "
                                           "one request holds one layout")
        kp = np.concatenate([p.keypoints for p in poses])
        cf = np.concatenate([p.confidences for p in poses])
        records = self.index.search(kp, k, layout=lay.name, confidences=cf, mirror=mirror).to_records()
        out = {**self.describe(), "k": k, "mirror": mirror, "layout": lay.name, "assumed": assumed}
        if batch:
            out["results"] = [{"query": b, "matches": r} for b, r in enumerate(records)]
        else:
            out["matches"] = records[0]
        return out

    def query_fast(self, raw: bytes) -> bytes | None:
        """The JSON answer of ``POST /v1/query`` for a body of one plainly well-formed pose (``keypoints`` of
        ``[x, y, c]`` numbers or nulls, optional ``layout`` name, integer ``k`` up to :data:`FAST_MAX_K`,
        boolean ``mirror``), without the general path's per-value Python checks; None for anything else (a
        batch, [x, y] rows, a value out of range, bad JSON...), which :meth:`query` then answers, or refuses
        with its one-line message. The answer is the same bytes :meth:`query`'s dict gives
        (tests/test_serve_fast.py checks it)."""
        try:
            body = loads(raw)
        except ValueError:
            return None
        if type(body) is not dict or "keypoints" not in body or not body.keys() <= _QUERY_FAST_FIELDS:
            return None
        k, mirror, name = body.get("k", 10), body.get("mirror", False), body.get("layout")
        if type(k) is not int or not 1 <= k <= min(len(self.index), self.limits.max_k, FAST_MAX_K) \
                or type(mirror) is not bool:
            return None
        pose = plain_pose(body["keypoints"])
        if pose is None:
            return None
        kp, cf = pose
        assumed: dict = {}
        try:
            if name is None:
                lay, why = infer_layout(len(cf))
                assumed["layout"] = {"value": lay.name, "why": why}
            elif type(name) is str:
                lay = get_layout(name)
            else:
                return None
            if len(cf) != lay.num_keypoints:
                return None
            records = self.index.search(kp[None], k, layout=lay.name, confidences=cf[None],
                                        mirror=mirror).to_records()
        except PoseSearchError:
            return None
        return dumps({**self.describe(), "k": k, "mirror": mirror, "layout": lay.name, "assumed": assumed,
                      "matches": records[0]})

    def score(self, body: Any) -> dict:
        from ..inputs import prefixed
        from ..sequence.score import default_assumptions, score_sequence

        body = _fields(body, ("reference", "reference_clip", "start", "end", "user", "settings", "reps"))
        given = body.get("settings", {})
        reps = parse_flag("reps", body.get("reps", False))
        settings = score_settings(given, self.limits.max_frames)
        ref, ref_name, ref_assumed = self.reference(body)
        user, user_assumed = self.sequence(body, "user")
        ref.require_frames(2, source=ref_name)
        user.require_frames(2, source="user")
        report = score_sequence(ref, user, settings=settings)
        report.assumed.update({**prefixed(ref_assumed, "reference"), **prefixed(user_assumed, "user"),
                               **default_assumptions(report, mirror_given="mirror" in given,
                                                     distance_given="distance" in given,
                                                     how='settings.mirror "on" / "off"',
                                                     how_distance='settings.distance "pair-weighted"')})
        d = report.to_dict()
        d.update(reference=ref_name, user="user")
        if reps:                        # "reps": true adds find_reps' report of the same sequences and settings
            from ..sequence.reps import RepSettings, find_reps

            d["reps"] = find_reps(ref, user, RepSettings(score=settings)).to_dict()
        return d

    def search(self, body: Any) -> dict:
        body = _fields(body, ("sequence", "top", "k", "mirror", "refine", "segment"))
        seq, assumed = self.sequence(body, "sequence")
        seq.require_frames(2, source="sequence", single_pose_hint="a single pose: POST it to /v1/query")
        self.corpus()                   # a clear error without a corpus
        opts = {n: body[n] for n in ("top", "k", "refine", "segment") if n in body}
        if "mirror" in body:
            opts["mirror"] = parse_flag("mirror", body["mirror"])
        res = self.index.search_sequence(seq, **opts)
        return {**self.describe(), "layout": seq.layout.name, "assumed": assumed, **res.to_dict()}

    def clips(self, labels: list[str], limit: Any, offset: Any) -> dict:
        limit = check_number("limit", limit, integer=True, low=1, high=self.limits.max_page)
        offset = check_number("offset", offset, integer=True, low=0)
        return self.corpus().list_clips(labels or None, limit=limit, offset=offset).to_dict()

    def clip_frames(self, clip_id: str) -> dict:
        from ..sequence.io import sequence_doc

        seq = self.clip(clip_id)
        info = self.corpus().clip_info(clip_id)
        return {"clip_id": clip_id, "labels": dict(info.labels), "source_layout": info.layout,
                **sequence_doc(seq)}



#: the largest k the fast path answers (on the event loop: well under a millisecond); larger ones take the
#: general route, which runs in the threadpool
FAST_MAX_K = 100
_QUERY_FAST_FIELDS = frozenset(("keypoints", "layout", "k", "mirror"))
_MISSING = (np.nan, np.nan, 0.0)
_NUMBER_TYPES = frozenset((int, float))


def plain_pose(keypoints: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """(keypoints (K, 2), confidences (K,)) of a JSON pose whose every row is ``[x, y, c]`` (int or float, c in
    [0, 1], no infinite coordinate) or null (missing), as :func:`~posesearch.poses.io.pose_from_obj` makes them
    (missing joints: confidence 0 and coordinates 0); None for anything else, which pose_from_obj then reads
    or refuses with its message."""
    if type(keypoints) is not list or not keypoints:
        return None
    rows = [_MISSING if row is None else row for row in keypoints]
    try:
        kinds = {type(v) for row in rows for v in row}      # (a row that is a number: TypeError)
    except TypeError:
        return None
    if not kinds <= _NUMBER_TYPES or any(type(row) is not list and row is not _MISSING or len(row) != 3
                                         for row in rows):
        return None
    try:
        a = np.array(rows, dtype=np.float64)
    except OverflowError:           # an integer too large for a float: pose_from_obj says so
        return None
    kp, cf = a[:, :2].copy(), a[:, 2].copy()
    if np.isinf(kp).any() or not ((cf >= 0) & (cf <= 1)).all():       # (NaN confidences fail the second)
        return None
    cf[np.isnan(kp).any(axis=1)] = 0.0
    kp[cf == 0] = 0.0
    return kp, cf


def parse_json_body(raw: bytes) -> Any:
    try:
        return parse_json(raw, "request body")
    except FileFormatError as e:
        raise RequestBodyError("request body", e.problem) from None


def load_index(index, corpus=None) -> Index:
    """``index`` (an Index or its file) with its corpus attached: ``corpus`` when given, else the one the index
    remembers when it is found (as ``posesearch query`` does)."""
    idx = index if isinstance(index, Index) else Index.load(index)
    if corpus is not None:
        idx.attach_corpus(corpus)
    elif idx.corpus is None and idx.corpus_checksum:
        where = idx.resolve_corpus_path()
        if where is not None:
            idx.attach_corpus(where)
    if idx.corpus is not None:
        idx.frame_columns()     # read once now, not by the first requests at the same time
    return idx
