"""The corpus file: every frame of every clip in COCO-17, its normalized vector, and its metadata (HDF5).

Layout of a corpus file (format ``posesearch-corpus``, version 1)::

    /                       attributes: format, format_version, layout ("coco17"), joints, normalization
                            (JSON), num_frames, num_clips, num_valid, source_layouts (JSON {layout: clips}),
                            created, updated (UTC ISO 8601), created_by, updated_by, checksum,
                            checksum_algorithm
    /frames/keypoints       (N, 17, 2) float32  coordinates as the source gave them, mapped to COCO-17;
                                                NaN wherever the keypoint is missing (confidence 0)
    /frames/confidences     (N, 17)    float32  in [0, 1]; 0 = missing
    /frames/vectors         (N, 34)    float32  normalize_batch(keypoints, confidences), zero if invalid
    /frames/valid           (N,)       uint8    1 if the frame could be normalized (only those are indexed)
    /frames/clip_index      (N,)       int64    row of the frame's clip in /clips
    /frames/frame           (N,)       int64    frame number in the source (0.. unless the reader says)
    /frames/time            (N,)       float64  seconds from the clip's start
    /frames/labels/<key>               per-frame labels: float64 (N, ...) dataset (NaN = none; e.g. a
                                       bounding box per frame is (N, 4)) or a string column
    /clips/start, stop      (M,)       int64    frame rows [start, stop) of each clip
    /clips/fps              (M,)       float64  NaN = unknown
    /clips/clip_id, layout, source     string columns (see columns.py): id, source layout, source file
    /clips/labels/<key>                string columns; "" = the clip has no such label
    /blocks/rows            (B, 4)     int64    [frame start, frame stop, clip start, clip stop] per append
    /blocks/checksum                   string column: checksum chain value after each append

Arrays are chunked (1024 frame rows) and gzip-1 compressed, so a slice or a clip reads only the chunks
it touches. Every write goes to a temporary file that replaces the corpus atomically (appends start
from a byte copy, so existing data are not re-encoded); see :mod:`.atomic` and :mod:`.checksum`.
"""
from __future__ import annotations

import functools
import json
import math
import os
import time as _time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..errors import (ChecksumError, FileFormatError, InvalidArgumentError, InvalidPoseError, PoseSearchError,
                      UnknownNameError)
from ..poses.layouts import COCO17_JOINTS, get_layout
from ..poses.normalize import DEFAULT_NORMALIZATION, normalize_batch
from . import checksum as _ck
from . import columns as _col
from .atomic import AtomicFile
from .batch import ClipBatch
from .clip import Clip

FORMAT_NAME = "posesearch-corpus"
FORMAT_VERSION = 1
LAYOUT = "coco17"
NUM_KEYPOINTS = 17
#: frames buffered by a writer before they are normalized and written in one go
FLUSH_FRAMES = 65536

_FRAME_ARRAYS = ("keypoints", "confidences", "vectors", "valid", "clip_index", "frame", "time")
_CLIP_ARRAYS = ("start", "stop", "fps")
_CLIP_STRINGS = ("clip_id", "layout", "source")


# --- small utilities ---------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def posesearch_version() -> str:
    """posesearch.__version__ if the package defines it, else the installed distribution's version."""
    try:
        import posesearch

        v = getattr(posesearch, "__version__", None)
        if v:
            return str(v)
    except ImportError:  # pragma: no cover
        pass
    try:
        from importlib.metadata import version

        return version("posesearch")
    except Exception:  # pragma: no cover - running from a source tree that is not installed
        return "unknown"


def _h5py():
    import h5py

    return h5py


class _either:
    """Method callable on the class with a path (``Corpus.info(path)``) or on an instance (``c.info()``)."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return functools.partial(self.fn, objtype)
        return functools.partial(self.fn, objtype, obj)


def _check_label_key(key: object, what: str, where: str) -> str:
    k = str(key)
    if not k or "/" in k or "\x00" in k or k in (".", ".."):
        raise InvalidArgumentError(f"{where}: {what} name {key!r} is not allowed (empty, '.', or contains '/')")
    return k


# --- open / check ------------------------------------------------------------------------------------

def _open_h5(path: Path, mode: str = "r"):
    h5py = _h5py()
    if not path.exists():
        raise FileFormatError(path, "no such file")
    if path.is_dir():
        raise FileFormatError(path, "is a folder, expected a corpus file")
    try:
        # a 4 MB chunk cache per dataset keeps recently read chunks for repeated random access
        return h5py.File(path, mode, rdcc_nbytes=4 << 20, rdcc_nslots=4099)
    except OSError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise FileFormatError(path, f"not a readable HDF5 file (truncated, corrupted or another format: {first})") from None


def _attr_str(f, name: str, default=None):
    v = f.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return v


def check_format(f, path: Path, *, allow_older: bool = False) -> int:
    """Check that an open HDF5 file is a posesearch corpus this version can read; returns its version."""
    fmt = _attr_str(f, "format")
    if fmt is None:
        raise FileFormatError(path, f"not a posesearch corpus (HDF5 file without a 'format' attribute; "
                                    f"expected format {FORMAT_NAME!r})")
    if fmt != FORMAT_NAME:
        raise FileFormatError(path, f"not a posesearch corpus (its format is {fmt!r}, expected {FORMAT_NAME!r})")
    try:
        version = int(f.attrs.get("format_version"))
    except (TypeError, ValueError):
        raise FileFormatError(path, "corpus has no valid 'format_version' attribute") from None
    if version > FORMAT_VERSION:
        raise FileFormatError(path, f"written by a newer posesearch (format {version}); upgrade posesearch "
                                    f"(this one reads format {FORMAT_VERSION})")
    if version < FORMAT_VERSION and not allow_older:
        raise FileFormatError(path, f"written by an older posesearch (format {version}); convert it with "
                                    f"posesearch.corpus.upgrade({str(path)!r}) (this version reads format "
                                    f"{FORMAT_VERSION})")
    return version


def _check_structure(f, path: Path) -> None:
    """Cheap consistency checks on open: datasets present, lengths agree with each other and the attributes."""
    try:
        fr, cl = f["frames"], f["clips"]
        n = int(f.attrs["num_frames"])
        m = int(f.attrs["num_clips"])
        for name in _FRAME_ARRAYS:
            if fr[name].shape[0] != n:
                raise FileFormatError(path, f"damaged corpus: /frames/{name} has {fr[name].shape[0]} rows, "
                                            f"the file says {n} frames")
        if fr["keypoints"].shape[1:] != (NUM_KEYPOINTS, 2) or fr["vectors"].shape[1:] != (2 * NUM_KEYPOINTS,):
            raise FileFormatError(path, "damaged corpus: keypoint arrays are not COCO-17 shaped")
        for name in _CLIP_ARRAYS:
            if cl[name].shape[0] != m:
                raise FileFormatError(path, f"damaged corpus: /clips/{name} has {cl[name].shape[0]} rows, "
                                            f"the file says {m} clips")
        for name in _CLIP_STRINGS:
            if _col.string_count(cl[name]) != m:
                raise FileFormatError(path, f"damaged corpus: /clips/{name} has {_col.string_count(cl[name])} "
                                            f"values, the file says {m} clips")
        f["blocks/rows"]
        f["blocks/checksum"]
    except KeyError as e:
        raise FileFormatError(path, f"damaged corpus: missing {e.args[0] if e.args else 'a dataset'}") from None


# --- upgrades ---------------------------------------------------------------------------------------

#: In-place upgrade steps: ``_UPGRADES[v](h5file)`` turns format v into v + 1. Version 1 is the first
#: released format, so there are none yet; a future format 2 adds ``_UPGRADES[1]`` here.
_UPGRADES: dict[int, Callable[[Any], None]] = {}


def upgrade(path: str | os.PathLike) -> bool:
    """Convert a corpus written in an older format to the current one, atomically, in place.

    Returns True if the file was converted, False if it already was current. Raises FileFormatError
    for newer files, foreign files, or versions without an upgrade path.
    """
    path = Path(path)
    with _open_h5(path) as f:
        version = check_format(f, path, allow_older=True)
    if version == FORMAT_VERSION:
        return False
    missing = [v for v in range(version, FORMAT_VERSION) if v not in _UPGRADES]
    if missing:
        raise FileFormatError(path, f"no upgrade path from corpus format {version} to {FORMAT_VERSION} (format "
                                    f"{missing[0]} was never released); re-ingest the sources")
    target = AtomicFile(path, copy_existing=True)
    try:
        with _h5py().File(target.tmp, "r+") as f:
            for v in range(version, FORMAT_VERSION):
                _UPGRADES[v](f)
                f.attrs["format_version"] = v + 1
            f.attrs["updated"] = _now()
            f.attrs["updated_by"] = f"posesearch {posesearch_version()}"
    except BaseException:
        target.abort()
        raise
    target.commit()
    return True


# --- results ----------------------------------------------------------------------------------------

@dataclass
class IngestSummary:
    """What a write did: frames/clips added (and how many added frames are invalid), clips skipped."""

    path: str
    frames_added: int = 0
    clips_added: int = 0
    invalid_frames: int = 0
    skipped_clips: int = 0
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    total_frames: int = 0
    total_clips: int = 0
    total_valid: int = 0
    created: bool = False
    seconds: float = 0.0
    size_bytes: int = 0
    checksum: str = ""

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


@dataclass(frozen=True)
class ClipInfo:
    """One clip's row in the corpus: frame rows [start, stop), fps (None = unknown), source layout and file."""

    clip_id: str
    index: int
    start: int
    stop: int
    fps: float | None
    layout: str
    source: str
    labels: dict[str, str]

    def __len__(self) -> int:
        return self.stop - self.start


def _label_value(v):
    """A stored per-frame label value as a plain Python value (integral floats become int, NaN None)."""
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return None
        if float(v).is_integer() and abs(v) < 2 ** 53:
            return int(v)
        return float(v)
    if isinstance(v, str):
        return v if v != "" else None
    if isinstance(v, list):  # a multi-value frame label, e.g. a bounding box
        vals = [_label_value(x) for x in v]
        return None if all(x is None for x in vals) else vals
    return v


@dataclass
class FrameBatch:
    """Frames fetched by row number, with everything needed to print them (see :meth:`records`).

    Arrays are per frame: keypoints (n, 17, 2) COCO-17 with NaN where missing, confidences (n, 17),
    vectors (n, 34) or None, valid, clip_index, clip_id, frame (source frame number), time (s), fps
    (NaN = unknown), layout (source layout), source (file). ``labels[i]`` merges the clip's labels and
    the frame's own labels (frame labels win).
    """

    ids: np.ndarray
    keypoints: np.ndarray
    confidences: np.ndarray
    vectors: np.ndarray | None
    valid: np.ndarray
    clip_index: np.ndarray
    clip_id: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    fps: np.ndarray
    layout: np.ndarray
    source: np.ndarray
    labels: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        return self.record(i)

    def record(self, i: int) -> dict:
        """Frame ``i`` of the batch as a plain dict (JSON-friendly, keypoints as [[x, y, c], ...])."""
        kp = self.keypoints[i]
        cf = self.confidences[i]
        pts = [[None if not np.isfinite(kp[k, 0]) else float(kp[k, 0]),
                None if not np.isfinite(kp[k, 1]) else float(kp[k, 1]), float(cf[k])] for k in range(len(cf))]
        fps = float(self.fps[i])
        return {
            "id": int(self.ids[i]), "clip_id": str(self.clip_id[i]), "clip_index": int(self.clip_index[i]),
            "frame": int(self.frame[i]), "time": float(self.time[i]), "fps": fps if math.isfinite(fps) else None,
            "valid": bool(self.valid[i]), "layout": str(self.layout[i]), "source": str(self.source[i]),
            "labels": dict(self.labels[i]), "keypoints": pts,
        }

    def records(self) -> list[dict]:
        return [self.record(i) for i in range(len(self))]


# --- writer -----------------------------------------------------------------------------------------

@dataclass
class _Part:
    """A validated piece waiting to be written: frames already in COCO-17 float32, NaN where missing."""

    kp: np.ndarray
    cf: np.ndarray
    frame: np.ndarray
    time: np.ndarray
    ids: list
    lengths: np.ndarray
    fps: np.ndarray
    layout: str
    sources: np.ndarray
    labels: dict[str, np.ndarray]
    flabels: dict[str, np.ndarray]


def _frame_label_kind(arr: np.ndarray) -> str:
    if arr.dtype.kind in "biuf":
        return "num"
    if arr.dtype.kind in "US":
        return "str"
    if arr.dtype.kind == "O":
        if all(isinstance(v, str) for v in arr.tolist()):
            return "str"
        try:
            arr.astype(np.float64)
            return "num"
        except (TypeError, ValueError):
            return "str"
    return "str"


def _describe_clip(cid: object, source: object) -> str:
    return f"clip {str(cid)!r}" + (f" ({source})" if source else "")


class CorpusWriter:
    """Adds clips to a corpus; nothing is visible until :meth:`commit`, which replaces the file atomically.

    Use as a context manager (commits on normal exit, discards everything on an exception)::

        with Corpus.writer("corpus.h5", append=True) as w:
            for clip in clips:
                w.add(clip)
        print(w.summary)
    """

    def __init__(self, path: str | os.PathLike, *, append: bool = False, overwrite: bool = False,
                 on_duplicate: str = "error", progress: Callable[[IngestSummary], None] | None = None):
        if on_duplicate not in ("error", "skip"):
            raise InvalidArgumentError(f"on_duplicate: expected 'error' or 'skip', got {on_duplicate!r}")
        self.path = Path(path)
        self.on_duplicate = on_duplicate
        self.progress = progress
        self._t0 = _time.perf_counter()
        if self.path.is_dir():
            raise FileFormatError(self.path, "is a folder, expected a corpus file path")
        exists = self.path.exists()
        if exists and not append and not overwrite:
            raise FileFormatError(self.path, "already exists; append to it (--append / append=True) or "
                                             "replace it (--overwrite / overwrite=True)")
        self._appending = bool(append and exists)
        self._ids: set[str] = set()
        self._old_ids: frozenset[str] = frozenset()
        # lock and copy first, then check and read the copy: no other writer can slip in between
        self._atomic = AtomicFile(self.path, copy_existing=self._appending)
        try:
            h5py = _h5py()
            if self._appending:
                try:
                    with Corpus.open(self._atomic.tmp) as old:
                        self._ids = set(old.clip_ids().tolist())
                        self._old_ids = frozenset(self._ids)
                except FileFormatError as e:
                    raise type(e)(self.path, e.problem) from None
                self._f = h5py.File(self._atomic.tmp, "r+")
            else:
                self._f = h5py.File(self._atomic.tmp, "w")
                self._init_file(self._f)
        except BaseException:
            self._atomic.abort()
            raise
        f = self._f
        self._n0 = self._n = int(f.attrs["num_frames"])
        self._m0 = self._m = int(f.attrs["num_clips"])
        self._valid_total = int(f.attrs["num_valid"])
        self._layouts = json.loads(_attr_str(f, "source_layouts", "{}"))
        self._pending: list[_Part] = []
        self._pending_frames = 0
        self.summary = IngestSummary(path=str(self.path), created=not exists)
        self._closed = False

    # -- file structure --
    @staticmethod
    def _init_file(f) -> None:
        fr = f.create_group("frames")
        _col.create_array(fr, "keypoints", np.float32, (NUM_KEYPOINTS, 2), _col.FRAME_CHUNK)
        _col.create_array(fr, "confidences", np.float32, (NUM_KEYPOINTS,), _col.FRAME_CHUNK)
        _col.create_array(fr, "vectors", np.float32, (2 * NUM_KEYPOINTS,), _col.FRAME_CHUNK)
        _col.create_array(fr, "valid", np.uint8)
        _col.create_array(fr, "clip_index", np.int64)
        _col.create_array(fr, "frame", np.int64)
        _col.create_array(fr, "time", np.float64)
        fr.create_group("labels")
        cl = f.create_group("clips")
        for name, dt in (("start", np.int64), ("stop", np.int64), ("fps", np.float64)):
            _col.create_array(cl, name, dt)
        for name in _CLIP_STRINGS:
            _col.create_strings(cl, name)
        cl.create_group("labels")
        bl = f.create_group("blocks")
        _col.create_array(bl, "rows", np.int64, (4,), 1024)
        _col.create_strings(bl, "checksum")
        now = _now()
        by = f"posesearch {posesearch_version()}"
        f.attrs.update({
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "layout": LAYOUT,
            "joints": json.dumps(list(COCO17_JOINTS)),
            "normalization": json.dumps(DEFAULT_NORMALIZATION.to_dict(), sort_keys=True),
            "num_frames": 0, "num_clips": 0, "num_valid": 0, "source_layouts": "{}",
            "created": now, "updated": now, "created_by": by, "updated_by": by,
            "checksum": _ck.SEED, "checksum_algorithm": _ck.ALGORITHM,
        })

    # -- adding --
    def add(self, item: Clip | ClipBatch) -> None:
        """Validate one clip (or a ClipBatch) and queue it; errors name the clip and its file."""
        if self._closed:
            raise InvalidArgumentError("CorpusWriter.add: the writer is already committed or aborted")
        if isinstance(item, ClipBatch):
            part = self._prepare(item.clip_ids, item.keypoints, item.confidences, item.layout,
                                 item.clip_lengths(), item.fps_array(), item.source_array(), item.labels,
                                 item.frame_labels, item.times, batch=True)
        elif isinstance(item, Clip):
            fps = np.array([np.nan if item.fps is None else _fps_value(item.fps, item)], dtype=np.float64)
            src = np.empty(1, dtype=object)
            src[0] = str(item.source or "")
            kp = np.asarray(item.keypoints)
            part = self._prepare([item.clip_id], kp, item.confidences, item.layout,
                                 np.array([kp.shape[0] if kp.ndim >= 1 else 0], dtype=np.int64), fps, src,
                                 {k: [v] for k, v in item.labels.items()}, item.frame_labels, item.times,
                                 batch=False)
        else:
            raise InvalidArgumentError(f"CorpusWriter.add: expected a Clip or ClipBatch, got {type(item).__name__}")
        if part is not None:
            self._pending.append(part)
            self._pending_frames += len(part.kp)
            self.summary.frames_added += len(part.kp)
            self.summary.clips_added += len(part.ids)
            if self._pending_frames >= FLUSH_FRAMES:
                self._flush()
        if self.progress is not None:
            self.progress(self.summary)

    def add_many(self, items: Iterable[Clip | ClipBatch]) -> None:
        for item in items:
            self.add(item)

    def _skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.summary.skipped_clips += count
            self.summary.skipped_reasons[reason] = self.summary.skipped_reasons.get(reason, 0) + count

    def _prepare(self, ids, keypoints, confidences, layout_name, lengths, fps, sources, labels, frame_labels,
                 times, *, batch: bool) -> _Part | None:
        ids = [str(c) for c in ids]
        m = len(ids)
        first_src = sources[0] if len(sources) else ""
        who = _describe_clip(ids[0], first_src) if m == 1 else f"clip batch {ids[0]!r}.. ({first_src})" if m else "clip batch"
        if m == 0:
            return None
        try:
            layout = get_layout(layout_name)
        except UnknownNameError as e:
            raise UnknownNameError(f"layout ({who})", e.name, e.valid) from None
        try:
            kp = np.asarray(keypoints, dtype=np.float64)
            cf = np.asarray(confidences, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidPoseError(f"{who}: keypoints and confidences must be numeric arrays") from None
        K = layout.num_keypoints
        if kp.ndim != 3 or kp.shape[-1] != 2:
            raise InvalidPoseError(f"{who}: expected keypoints of shape (frames, {K}, 2) for layout {layout.name}, "
                                   f"got {kp.shape}")
        if kp.shape[1] != K:
            raise InvalidPoseError(f"{who}: layout {layout.name} expects {K} keypoints, got {kp.shape[1]}")
        if cf.shape != kp.shape[:2]:
            raise InvalidPoseError(f"{who}: confidences shape {cf.shape} does not match keypoints {kp.shape[:2]}")
        lengths = np.asarray(lengths, dtype=np.int64)
        if len(lengths) != m or (lengths < 0).any() or int(lengths.sum()) != len(kp):
            raise InvalidPoseError(f"{who}: clip lengths (sum {int(lengths.sum())}) do not add up to the "
                                   f"{len(kp)} frames given")
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])

        def name_row(row: int, k: int | None = None) -> str:
            c = int(np.searchsorted(offsets, row, side="right") - 1)
            s = f"{_describe_clip(ids[c], sources[c])}: frame {row - offsets[c]}"
            if k is not None:
                s += f", keypoint {k} ({layout.joints[k]})"
            return s

        # values
        bad = np.isinf(kp).any(axis=-1)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise InvalidPoseError(f"{name_row(r, k)}: infinite coordinate")
        bad = np.isnan(cf)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise InvalidPoseError(f"{name_row(r, k)}: NaN confidence")
        bad = (cf < 0) | (cf > 1)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise InvalidPoseError(f"{name_row(r, k)}: confidence must be in [0, 1], got {cf[r, k]:g}")
        kp32 = kp.astype(np.float32)
        bad = np.isinf(kp32).any(axis=-1)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise InvalidPoseError(f"{name_row(r, k)}: coordinate {kp[r, k]} is too large for float32")
        cf32 = cf.astype(np.float32)
        missing = (cf32 <= 0) | np.isnan(kp32).any(axis=-1)
        cf32[missing] = 0.0
        kp32[missing] = np.nan

        # per-clip fields
        fps = np.asarray(fps, dtype=np.float64)
        badf = ~np.isnan(fps) & ~((fps > 0) & np.isfinite(fps))
        if badf.any():
            c = int(np.argmax(badf))
            raise InvalidArgumentError(f"{_describe_clip(ids[c], sources[c])}: fps must be positive, got {fps[c]:g}")
        for c, cid in enumerate(ids):
            if not cid:
                raise InvalidArgumentError(f"{_describe_clip(cid, sources[c])}: empty clip id")
        lab = {}
        for key, vals in (labels or {}).items():
            k = _check_label_key(key, "label", who)
            vals = vals.tolist() if isinstance(vals, np.ndarray) else list(vals)
            if len(vals) != m:
                raise InvalidArgumentError(f"{who}: label {k!r} has {len(vals)} values for {m} clips")
            col = np.empty(m, dtype=object)
            col[:] = ["" if v is None else str(v) for v in vals]
            lab[k] = col
        # per-frame fields
        n = len(kp)
        local = np.arange(n, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
        flab = {}
        frame = local
        for key, vals in (frame_labels or {}).items():
            k = _check_label_key(key, "frame label", who)
            arr = np.asarray(vals)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InvalidArgumentError(f"{who}: frame label {k!r} has shape {arr.shape}, expected ({n}, ...) "
                                           f"(one value per frame)")
            if k == "frame":
                try:
                    fr = arr.astype(np.float64)
                except (TypeError, ValueError):
                    raise InvalidArgumentError(f"{who}: frame numbers must be integers") from None
                if not (np.isfinite(fr).all() and (fr == np.round(fr)).all()):
                    raise InvalidArgumentError(f"{who}: frame numbers must be finite integers")
                frame = fr.astype(np.int64)
                continue
            if _frame_label_kind(arr) == "num":
                flab[k] = arr.astype(np.float64)
            elif arr.ndim != 1:
                raise InvalidArgumentError(f"{who}: frame label {k!r}: text labels must be one string per frame, "
                                           f"got shape {arr.shape}")
            else:
                col = np.empty(n, dtype=object)
                col[:] = ["" if v is None else str(v) for v in arr.tolist()]
                flab[k] = col
        if times is not None:
            t = np.asarray(times, dtype=np.float64)
            if t.shape != (n,):
                raise InvalidArgumentError(f"{who}: times has shape {t.shape}, expected ({n},)")
            if not np.isfinite(t).all():
                raise InvalidArgumentError(f"{name_row(int(np.argmin(np.isfinite(t))))}: time is not finite")
        else:
            fpsr = np.repeat(fps, lengths)
            ok = np.isfinite(fpsr)
            t = np.where(ok, frame / np.where(ok, fpsr, 1.0), 0.0)

        # empty clips and duplicates are skipped (or an error)
        keep = lengths > 0
        self._skip("empty clip (no frames)", int((~keep).sum()))
        seen_here: set[str] = set()
        for c, cid in enumerate(ids):
            if not keep[c]:
                continue
            if cid in self._ids or cid in seen_here:
                if self.on_duplicate == "error":
                    where = "already in the corpus" if cid in self._old_ids else "given twice"
                    raise InvalidArgumentError(f"{_describe_clip(cid, sources[c])}: clip id {where} "
                                               f"(skip duplicates with --skip-duplicates / on_duplicate='skip')")
                keep[c] = False
                self._skip("duplicate clip id")
            seen_here.add(cid)
        if not keep.any():
            return None
        if not keep.all():
            rows = np.repeat(keep, lengths)
            kp32, cf32, frame, t = kp32[rows], cf32[rows], frame[rows], t[rows]
            flab = {k: v[rows] for k, v in flab.items()}
            ids = [cid for cid, k in zip(ids, keep) if k]
            lengths, fps, sources = lengths[keep], fps[keep], np.asarray(sources, dtype=object)[keep]
            lab = {k: v[keep] for k, v in lab.items()}
        self._ids.update(ids)
        kpc, cfc = layout.convert_to_coco(kp32, cf32)
        return _Part(kp=np.ascontiguousarray(kpc, dtype=np.float32), cf=np.ascontiguousarray(cfc, dtype=np.float32),
                     frame=frame, time=t, ids=ids, lengths=lengths, fps=fps, layout=layout.name,
                     sources=np.asarray(sources, dtype=object), labels=lab, flabels=flab)

    # -- writing --
    def _flush(self) -> None:
        if not self._pending:
            return
        parts, self._pending, self._pending_frames = self._pending, [], 0
        f = self._f
        fr, cl = f["frames"], f["clips"]
        kp = np.concatenate([p.kp for p in parts])
        cf = np.concatenate([p.cf for p in parts])
        vec, valid = normalize_batch(kp, cf, on_invalid="mask", dtype=np.float64)
        lengths = np.concatenate([p.lengths for p in parts])
        m = len(lengths)
        n = len(kp)
        clip_rows = self._m + np.arange(m, dtype=np.int64)
        starts = self._n + np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        _col.append_rows(fr["keypoints"], kp)
        _col.append_rows(fr["confidences"], cf)
        _col.append_rows(fr["vectors"], vec.astype(np.float32))
        _col.append_rows(fr["valid"], valid.astype(np.uint8))
        _col.append_rows(fr["clip_index"], np.repeat(clip_rows, lengths))
        _col.append_rows(fr["frame"], np.concatenate([p.frame for p in parts]))
        _col.append_rows(fr["time"], np.concatenate([p.time for p in parts]))
        _col.append_rows(cl["start"], starts)
        _col.append_rows(cl["stop"], starts + lengths)
        _col.append_rows(cl["fps"], np.concatenate([p.fps for p in parts]))
        _col.append_strings(cl["clip_id"], [cid for p in parts for cid in p.ids])
        layouts = np.concatenate([np.full(len(p.ids), p.layout, dtype=object) for p in parts])
        _col.append_strings(cl["layout"], layouts)
        _col.append_strings(cl["source"], np.concatenate([p.sources for p in parts]))
        # clip labels
        g = cl["labels"]
        keys = sorted({k for p in parts for k in p.labels} | set(g.keys()))
        for k in keys:
            if k not in g:
                _col.create_strings(g, k, self._m)
            col = np.concatenate([p.labels[k] if k in p.labels else np.full(len(p.ids), "", dtype=object)
                                  for p in parts])
            _col.append_strings(g[k], col)
        # frame labels
        g = fr["labels"]
        h5py = _h5py()
        keys = sorted({k for p in parts for k in p.flabels} | set(g.keys()))
        for k in keys:
            given = [p.flabels[k] for p in parts if k in p.flabels]
            if k in g:
                kind = "str" if isinstance(g[k], h5py.Group) else "num"
                inner = () if kind == "str" else tuple(g[k].shape[1:])
            else:
                kind = "str" if any(v.dtype == object for v in given) else "num"
                inner = () if kind == "str" else tuple(given[0].shape[1:])
            for p in parts:
                if k in p.flabels:
                    v = p.flabels[k]
                    got = "str" if v.dtype == object else "num"
                    if got != kind:
                        raise InvalidArgumentError(
                            f"{_describe_clip(p.ids[0], p.sources[0])}: frame label {k!r} holds "
                            f"{'strings' if got == 'str' else 'numbers'}, but the corpus stores "
                            f"{'strings' if kind == 'str' else 'numbers'} under that name")
                    if kind == "num" and tuple(v.shape[1:]) != inner:
                        raise InvalidArgumentError(
                            f"{_describe_clip(p.ids[0], p.sources[0])}: frame label {k!r} has {v.shape[1:]} "
                            f"values per frame, but the corpus stores {inner} under that name")
            if kind == "str":
                col = np.concatenate([p.flabels[k] if k in p.flabels else np.full(len(p.kp), "", dtype=object)
                                      for p in parts])
                if k not in g:
                    _col.create_strings(g, k, self._n)
                _col.append_strings(g[k], col)
            else:
                col = np.concatenate([p.flabels[k] if k in p.flabels else np.full((len(p.kp),) + inner, np.nan)
                                      for p in parts])
                if k not in g:
                    ds = _col.create_array(g, k, np.float64, inner)
                    _col.append_rows(ds, np.full((self._n,) + inner, np.nan))
                _col.append_rows(g[k], col)
        for p in parts:
            self._layouts[p.layout] = self._layouts.get(p.layout, 0) + len(p.ids)
        nvalid = int(valid.sum())
        self._valid_total += nvalid
        self.summary.invalid_frames += n - nvalid
        self._n += n
        self._m += m

    def commit(self) -> IngestSummary:
        """Write what is queued, seal the block into the checksum chain and replace the corpus file."""
        if self._closed:
            return self.summary
        try:
            self._flush()
            f = self._f
            if self._n > self._n0 or self._m > self._m0:
                digest = _block_digest(f, self._n0, self._n, self._m0, self._m)
                prev = _attr_str(f, "checksum")
                new = _ck.chain(prev, digest)
                _col.append_rows(f["blocks/rows"], np.array([[self._n0, self._n, self._m0, self._m]], dtype=np.int64))
                _col.append_strings(f["blocks/checksum"], [new])
                f.attrs["checksum"] = new
            elif self._appending:  # nothing added: leave the file exactly as it was
                self.abort()
                self.summary.total_frames, self.summary.total_clips = self._n, self._m
                self.summary.total_valid = self._valid_total
                self.summary.size_bytes = self.path.stat().st_size
                self.summary.seconds = _time.perf_counter() - self._t0
                with Corpus.open(self.path) as c:
                    self.summary.checksum = c.checksum
                return self.summary
            f.attrs.update({
                "num_frames": self._n, "num_clips": self._m, "num_valid": self._valid_total,
                "source_layouts": json.dumps(dict(sorted(self._layouts.items()))),
                "updated": _now(), "updated_by": f"posesearch {posesearch_version()}",
            })
            self.summary.checksum = _attr_str(f, "checksum")
            f.close()
            self._atomic.commit()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        s = self.summary
        s.total_frames, s.total_clips, s.total_valid = self._n, self._m, self._valid_total
        s.size_bytes = self.path.stat().st_size
        s.seconds = _time.perf_counter() - self._t0
        return s

    def abort(self) -> None:
        """Discard everything added; the corpus file is left as it was."""
        if self._closed:
            return
        self._closed = True
        try:
            self._f.close()
        except Exception:
            pass
        self._atomic.abort()

    def __enter__(self) -> "CorpusWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def _fps_value(fps, clip: Clip) -> float:
    try:
        v = float(fps)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{_describe_clip(clip.clip_id, clip.source)}: fps must be a number, "
                                   f"got {fps!r}") from None
    return v


def _string_rows_digest(g, c0: int, c1: int) -> bytes | None:
    """Digest of values c0:c1 of a string column, None if they are all empty."""
    off = g["offsets"][c0:c1 + 1]
    if len(off) == 0 or off[-1] == off[0]:
        return None
    import hashlib

    h = hashlib.sha256()
    h.update(_ck.hash_array(np.diff(off).astype(np.int64)))
    h.update(_ck.hash_rows(g["data"], int(off[0]), int(off[-1])))
    return h.digest()


def _block_digest(f, f0: int, f1: int, c0: int, c1: int) -> bytes:
    """Digest of one append block (see :mod:`.checksum` for the definition)."""
    h5py = _h5py()
    parts: list[tuple[str, bytes]] = []
    for name in _FRAME_ARRAYS:
        parts.append((f"frames/{name}", _ck.hash_rows(f["frames"][name], f0, f1)))
    for name in _CLIP_ARRAYS:
        parts.append((f"clips/{name}", _ck.hash_rows(f["clips"][name], c0, c1)))
    for name in _CLIP_STRINGS:
        d = _string_rows_digest(f["clips"][name], c0, c1)
        parts.append((f"clips/{name}", d if d is not None else _ck.hash_array(np.zeros(0))))
    g = f["clips/labels"]
    for k in sorted(g.keys()):
        d = _string_rows_digest(g[k], c0, c1)
        if d is not None:
            parts.append((f"clips/labels/{k}", d))
    g = f["frames/labels"]
    for k in sorted(g.keys()):
        obj = g[k]
        if isinstance(obj, h5py.Group):
            d = _string_rows_digest(obj, f0, f1)
        else:
            vals = obj[f0:f1]
            d = None if np.isnan(vals).all() else _ck.hash_array(vals)
        if d is not None:
            parts.append((f"frames/labels/{k}", d))
    return _ck.combine(parts)


# --- the corpus (read side) -------------------------------------------------------------------------

def _read_errors(fn):
    """Turn low-level HDF5 read failures into FileFormatError naming the corpus file."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except PoseSearchError:
            raise
        except (OSError, KeyError, RuntimeError) as e:
            if self._f is None or not self._f.id.valid:
                raise FileFormatError(self.path, "corpus is closed") from None
            raise FileFormatError(self.path, f"damaged corpus: cannot read data ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None

    return wrapper


class Corpus:
    """A corpus file opened read-only. Create and extend corpora with :meth:`ingest`, :meth:`writer`,
    :meth:`create`, :meth:`append`.

    ``len(corpus)`` is the number of frames; iterating yields :class:`ClipInfo` per clip.
    """

    FORMAT_NAME = FORMAT_NAME
    FORMAT_VERSION = FORMAT_VERSION

    def __init__(self, path: str | os.PathLike):
        """Open ``path`` read-only (prefer :meth:`open`)."""
        self.path = Path(path)
        self._f = None
        self._f = _open_h5(self.path)
        try:
            check_format(self._f, self.path)
            _check_structure(self._f, self.path)
        except BaseException:
            self._f.close()
            raise
        self._reset_cache()

    def _reset_cache(self) -> None:
        self._handles: dict[str, Any] = {}
        self._table: dict[str, np.ndarray] | None = None
        self._strings: dict[str, np.ndarray] = {}
        self._valid: np.ndarray | None = None
        self._id_index: dict[str, int] | None = None

    # -- construction --
    @classmethod
    def open(cls, path: str | os.PathLike) -> "Corpus":
        """Open a corpus read-only; checks its format, version and structure (:meth:`verify` checks the data)."""
        return cls(path)

    @classmethod
    def create(cls, path: str | os.PathLike, *, overwrite: bool = False) -> "Corpus":
        """Write an empty corpus at ``path`` (atomically) and return it opened."""
        CorpusWriter(path, overwrite=overwrite).commit()
        return cls(path)

    @classmethod
    def writer(cls, path: str | os.PathLike, *, append: bool = False, overwrite: bool = False,
               on_duplicate: str = "error", progress: Callable[[IngestSummary], None] | None = None) -> CorpusWriter:
        """A :class:`CorpusWriter`: ``append`` adds to an existing corpus (created if missing), ``overwrite``
        replaces one; with neither, an existing file is an error. Commit atomically on ``with`` exit."""
        return CorpusWriter(path, append=append, overwrite=overwrite, on_duplicate=on_duplicate, progress=progress)

    @classmethod
    def ingest(cls, path: str | os.PathLike, clips: Iterable[Clip | ClipBatch], *, append: bool = False,
               overwrite: bool = False, on_duplicate: str = "error",
               progress: Callable[[IngestSummary], None] | None = None) -> IngestSummary:
        """Write ``clips`` (Clips and/or ClipBatches) into a new corpus, or into an existing one with
        ``append``, in one atomic step. Returns the :class:`IngestSummary`."""
        with cls.writer(path, append=append, overwrite=overwrite, on_duplicate=on_duplicate,
                        progress=progress) as w:
            w.add_many(clips)
        return w.summary

    @_either
    def append(cls, path_or_self, clips: Iterable[Clip | ClipBatch], *, progress=None,
               on_duplicate: str = "error") -> IngestSummary:
        """Add clips to an existing corpus atomically: ``Corpus.append(path, clips)`` or ``corpus.append(clips)``
        (an open corpus then shows the new data). A missing file is created."""
        if isinstance(path_or_self, Corpus):
            self = path_or_self
            summary = cls.ingest(self.path, clips, append=True, progress=progress, on_duplicate=on_duplicate)
            self._reopen()
            return summary
        return cls.ingest(path_or_self, clips, append=True, progress=progress, on_duplicate=on_duplicate)

    def _reopen(self) -> None:
        if self._f is not None:
            self._f.close()
        self._f = _open_h5(self.path)
        check_format(self._f, self.path)
        _check_structure(self._f, self.path)
        self._reset_cache()

    # -- description --
    @_either
    def info(cls, path_or_self) -> dict:
        """The file's attributes as a dict (reads no arrays): ``Corpus.info(path)`` or ``corpus.info()``."""
        if isinstance(path_or_self, Corpus):
            return path_or_self.attrs
        path = Path(path_or_self)
        with _open_h5(path) as f:
            check_format(f, path)
            out = _parse_attrs(f)
        out["path"] = str(path)
        out["size_bytes"] = path.stat().st_size
        return out

    @property
    def attrs(self) -> dict:
        """The file's attributes (JSON ones parsed), plus ``path`` and ``size_bytes``."""
        out = _parse_attrs(self._f)
        out["path"] = str(self.path)
        out["size_bytes"] = self.path.stat().st_size
        return out

    @property
    def checksum(self) -> str:
        return _attr_str(self._f, "checksum")

    @property
    def num_clips(self) -> int:
        return int(self._f.attrs["num_clips"])

    @property
    def num_valid(self) -> int:
        return int(self._f.attrs["num_valid"])

    def __len__(self) -> int:
        return int(self._f.attrs["num_frames"])

    def __repr__(self) -> str:
        state = "closed" if self._f is None or not self._f.id.valid else f"{len(self)} frames, {self.num_clips} clips"
        return f"Corpus({str(self.path)!r}, {state})"

    def _ds(self, name: str):
        """An open dataset or group, kept open so its chunk cache survives between calls."""
        h = self._handles.get(name)
        if h is None:
            h = self._handles[name] = self._f[name]
        return h

    # -- frame arrays --
    def _slice(self, start: int, stop: int | None) -> tuple[int, int]:
        n = len(self)
        start, stop, _ = slice(start, stop).indices(n)
        return start, max(start, stop)

    @_read_errors
    def vectors(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Normalized vectors of frames ``start:stop`` as (n, 34) float32 (zero rows for invalid frames)."""
        a, b = self._slice(start, stop)
        return self._ds("frames/vectors")[a:b]

    @_read_errors
    def keypoints(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """COCO-17 keypoints of frames ``start:stop``, (n, 17, 2) float32, NaN where missing."""
        a, b = self._slice(start, stop)
        return self._ds("frames/keypoints")[a:b]

    @_read_errors
    def confidences(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        a, b = self._slice(start, stop)
        return self._ds("frames/confidences")[a:b]

    @_read_errors
    def clip_indices(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Clip row of frames ``start:stop`` (int64)."""
        a, b = self._slice(start, stop)
        return self._ds("frames/clip_index")[a:b]

    @property
    @_read_errors
    def valid(self) -> np.ndarray:
        """(N,) bool: frames that could be normalized (the only ones an index holds)."""
        if self._valid is None:
            self._valid = self._ds("frames/valid")[:].astype(bool)
        return self._valid

    @property
    def label_keys(self) -> list[str]:
        """Clip label names present in the corpus."""
        if "label_keys" not in self._handles:
            self._handles["label_keys"] = sorted(self._f["clips/labels"].keys())
        return list(self._handles["label_keys"])

    @property
    def frame_label_keys(self) -> list[str]:
        """Per-frame label names present in the corpus (besides ``frame``)."""
        if "frame_label_keys" not in self._handles:
            self._handles["frame_label_keys"] = sorted(self._f["frames/labels"].keys())
        return list(self._handles["frame_label_keys"])

    # -- clip table --
    @_read_errors
    def _clip_table(self) -> dict[str, np.ndarray]:
        if self._table is None:
            cl = self._f["clips"]
            self._table = {name: cl[name][:] for name in _CLIP_ARRAYS}
        return self._table

    @_read_errors
    def _strings_all(self, key: str) -> np.ndarray:
        if key not in self._strings:
            self._strings[key] = _col.read_strings(self._ds(key))
        return self._strings[key]

    def _strings_at(self, key: str, idx: np.ndarray) -> np.ndarray:
        if key in self._strings:
            return self._strings[key][idx]
        return _col.take_strings(self._ds(key), idx)

    def clip_ids(self) -> np.ndarray:
        """(M,) object array of all clip ids."""
        return self._strings_all("clips/clip_id")

    def clip_labels(self, key: str) -> np.ndarray:
        """(M,) object array of one clip label ("" where a clip has none)."""
        if key not in self.label_keys:
            raise UnknownNameError("clip label", key, self.label_keys)
        return self._strings_all(f"clips/labels/{key}")

    @_read_errors
    def frame_labels(self, key: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """One per-frame label for frames ``start:stop`` (float64 with NaN, or object strings with "")."""
        if key not in self.frame_label_keys:
            raise UnknownNameError("frame label", key, self.frame_label_keys)
        a, b = self._slice(start, stop)
        obj = self._ds(f"frames/labels/{key}")
        if isinstance(obj, _h5py().Group):
            return _col.read_strings(obj, a, b)
        return obj[a:b]

    def _index_of(self, key: int | str) -> int:
        m = self.num_clips
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -m <= i < m:
                raise InvalidArgumentError(f"clip index {i} out of range: {self.path} has {m} clips")
            return i % m
        if isinstance(key, str):
            if self._id_index is None:
                self._id_index = {cid: i for i, cid in enumerate(self.clip_ids().tolist())}
            if key not in self._id_index:
                raise InvalidArgumentError(f"clip {key!r} is not in corpus {self.path}")
            return self._id_index[key]
        raise InvalidArgumentError(f"clip: expected a clip id (str) or index (int), got {type(key).__name__}")

    def _clip_info(self, i: int, labels: dict[str, str]) -> ClipInfo:
        t = self._clip_table()
        fps = float(t["fps"][i])
        return ClipInfo(
            clip_id=str(self._strings_at("clips/clip_id", np.array([i]))[0]), index=i,
            start=int(t["start"][i]), stop=int(t["stop"][i]), fps=fps if math.isfinite(fps) else None,
            layout=str(self._strings_at("clips/layout", np.array([i]))[0]),
            source=str(self._strings_at("clips/source", np.array([i]))[0]), labels=labels)

    def _labels_of(self, idx: np.ndarray) -> list[dict[str, str]]:
        out = [dict() for _ in range(len(idx))]
        for k in self.label_keys:
            vals = self._strings_at(f"clips/labels/{k}", idx)
            for d, v in zip(out, vals.tolist()):
                if v != "":
                    d[k] = v
        return out

    @_read_errors
    def clip_info(self, key: int | str) -> ClipInfo:
        """Metadata of one clip by id or index."""
        i = self._index_of(key)
        return self._clip_info(i, self._labels_of(np.array([i]))[0])

    @_read_errors
    def __iter__(self) -> Iterator[ClipInfo]:
        m = self.num_clips
        t = self._clip_table()
        ids = self.clip_ids()
        layouts = self._strings_all("clips/layout")
        sources = self._strings_all("clips/source")
        cols = {k: self._strings_all(f"clips/labels/{k}") for k in self.label_keys}
        for i in range(m):
            fps = float(t["fps"][i])
            yield ClipInfo(clip_id=ids[i], index=i, start=int(t["start"][i]), stop=int(t["stop"][i]),
                           fps=fps if math.isfinite(fps) else None, layout=layouts[i], source=sources[i],
                           labels={k: v[i] for k, v in cols.items() if v[i] != ""})

    @_read_errors
    def clip(self, key: int | str) -> Clip:
        """One clip by id or index, in COCO-17 (missing keypoints NaN), reading only its rows.

        ``frame_labels`` holds the source frame numbers under ``frame`` plus every per-frame label the
        clip has values for; the source layout is in :meth:`clip_info`.
        """
        info = self.clip_info(key)
        a, b = info.start, info.stop
        D = self._ds
        flabels: dict[str, np.ndarray] = {"frame": D("frames/frame")[a:b]}
        h5py = _h5py()
        for k in self.frame_label_keys:
            obj = D(f"frames/labels/{k}")
            if isinstance(obj, h5py.Group):
                vals = _col.read_strings(obj, a, b)
                if any(v != "" for v in vals.tolist()):
                    flabels[k] = vals
            else:
                vals = obj[a:b]
                if not np.isnan(vals).all():
                    flabels[k] = vals
        return Clip(clip_id=info.clip_id, keypoints=D("frames/keypoints")[a:b],
                    confidences=D("frames/confidences")[a:b], layout=LAYOUT, fps=info.fps, source=info.source,
                    labels=dict(info.labels), frame_labels=flabels, times=D("frames/time")[a:b])

    def iter_clips(self) -> Iterator[Clip]:
        """Every clip as a :class:`Clip` (COCO-17), in corpus order."""
        for i in range(self.num_clips):
            yield self.clip(i)

    @_read_errors
    def frames(self, ids, *, vectors: bool = False) -> FrameBatch:
        """Frames by row number (any order, repeats allowed), reading only the chunks they fall in.

        ``vectors=True`` also fetches the normalized vectors (``FrameBatch.vectors`` is None otherwise).
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        n = len(self)
        if ids.size and (ids.min() < 0 or ids.max() >= n):
            bad = int(ids[(ids < 0) | (ids >= n)][0])
            raise InvalidArgumentError(f"frame id {bad} out of range: {self.path} has {n} frames")
        D = self._ds
        cidx = _col.take(D("frames/clip_index"), ids)
        t = self._clip_table()
        ucl, inv = np.unique(cidx, return_inverse=True)
        per_clip = self._labels_of(ucl)
        clip_labels = [dict(per_clip[i]) for i in inv.tolist()]
        h5py = _h5py()
        for k in self.frame_label_keys:
            obj = D(f"frames/labels/{k}")
            if isinstance(obj, h5py.Group):
                vals = _col.take_strings(obj, ids)
            else:
                vals = _col.take(obj, ids)
            for d, v in zip(clip_labels, vals.tolist()):
                v = _label_value(v)
                if v is not None:
                    d[k] = v
        return FrameBatch(
            ids=ids, keypoints=_col.take(D("frames/keypoints"), ids),
            confidences=_col.take(D("frames/confidences"), ids),
            vectors=_col.take(D("frames/vectors"), ids) if vectors else None, valid=self.valid[ids], clip_index=cidx,
            clip_id=self._strings_at("clips/clip_id", ucl)[inv], frame=_col.take(D("frames/frame"), ids),
            time=_col.take(D("frames/time"), ids), fps=t["fps"][cidx],
            layout=self._strings_at("clips/layout", ucl)[inv], source=self._strings_at("clips/source", ucl)[inv],
            labels=clip_labels)

    # -- integrity --
    @_read_errors
    def verify(self) -> dict:
        """Recompute the checksum chain from the data; raises ChecksumError naming the first bad block.

        Returns a dict: checksum, blocks, frames, clips, valid (recounted), seconds.
        """
        t0 = _time.perf_counter()
        f = self._f
        rows = f["blocks/rows"][:]
        stored = _col.read_strings(f["blocks/checksum"])
        n, m = len(self), self.num_clips
        if len(stored) != len(rows):
            raise ChecksumError(self.path, "damaged corpus: block table and checksum list differ in length")
        value = _ck.SEED
        pos_f = pos_c = 0
        for b, (f0, f1, c0, c1) in enumerate(rows.tolist()):
            if f0 != pos_f or c0 != pos_c or f1 < f0 or c1 < c0 or f1 > n or c1 > m:
                raise ChecksumError(self.path, f"damaged corpus: append block {b} covers rows [{f0}, {f1}) / clips "
                                               f"[{c0}, {c1}) which do not continue the previous block")
            value = _ck.chain(value, _block_digest(f, f0, f1, c0, c1))
            if value != stored[b]:
                raise ChecksumError(self.path, f"checksum mismatch in append block {b} (frames {f0}-{f1 - 1}, "
                                               f"clips {c0}-{c1 - 1}): the data were modified or corrupted")
            pos_f, pos_c = f1, c1
        if pos_f != n or pos_c != m:
            raise ChecksumError(self.path, f"damaged corpus: checksummed blocks cover {pos_f} of {n} frames and "
                                           f"{pos_c} of {m} clips")
        if value != self.checksum:
            raise ChecksumError(self.path, "checksum mismatch: the file's checksum attribute does not match its data")
        nvalid = int(sum(int(f["frames/valid"][a:a + (1 << 20)].astype(bool).sum()) for a in range(0, n, 1 << 20)))
        if nvalid != self.num_valid:
            raise ChecksumError(self.path, f"damaged corpus: {nvalid} valid frames, the file says {self.num_valid}")
        t = self._clip_table()
        if m and (t["start"][0] != 0 or t["stop"][-1] != n or (t["start"][1:] != t["stop"][:-1]).any()):
            raise ChecksumError(self.path, "damaged corpus: clip frame ranges do not tile the frames")
        return {"checksum": value, "blocks": int(len(rows)), "frames": n, "clips": m, "valid": nvalid,
                "seconds": _time.perf_counter() - t0}

    # -- lifetime --
    def close(self) -> None:
        if self._f is not None:
            self._f.close()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _parse_attrs(f) -> dict:
    out: dict[str, Any] = {}
    for k, v in f.attrs.items():
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, np.generic):
            v = v.item()
        if k in ("normalization", "source_layouts", "joints") and isinstance(v, str):
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


def describe(path: str | os.PathLike, *, verify: bool = False) -> dict:
    """``posesearch info`` for a corpus file: its attributes, and with ``verify`` the full data check."""
    if not verify:
        return Corpus.info(path)
    with Corpus.open(path) as c:
        out = c.attrs
        out["verified"] = c.verify()
    return out
