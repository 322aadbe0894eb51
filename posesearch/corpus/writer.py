"""CorpusWriter: validates clips, maps them to COCO-17, normalizes them and appends them atomically."""
from __future__ import annotations

import json
import os
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..text import plural
from ..errors import FileFormatError, InvalidArgumentError, InvalidPoseError, PoseSearchError, UnknownNameError
from ..poses.layouts import COCO17_JOINTS, Layout, get_layout
from ..poses.pose import first_bad_value
from ..poses.normalize import DEFAULT_NORMALIZATION, normalize_batch
from ..files import AtomicFile, attr_str, h5py_module, made_by, now_iso
from . import checksum as _ck
from . import columns as _col
from .batch import ClipBatch
from .clip import Clip
from .fileformat import (CLIP_STRINGS, FORMAT_NAME, FORMAT_VERSION, LAYOUT, NUM_KEYPOINTS, add_optional_arrays,
                         block_digest, open_corpus_file, upgrade_open)
from .records import IngestSummary
from ..registry import Registry

#: frames buffered by a writer before they are normalized and written in one go
FLUSH_FRAMES = 65536
#: what a writer does with a clip id the corpus already holds
ON_DUPLICATE: Registry[str] = Registry("on_duplicate", ("error", "skip"))


def _check_label_key(key: object, what: str, where: str) -> str:
    k = str(key)
    if not k or "/" in k or "\x00" in k or k in (".", ".."):
        raise InvalidArgumentError(f"{where}: {what} name {key!r} is not allowed (empty, '.', or contains '/')")
    return k


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
    p3: np.ndarray | None = None       # (frames, 17, 3) float32 3D joints in COCO-17, or None (all NaN)


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
        on_duplicate = ON_DUPLICATE.canonical(on_duplicate)
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
            h5py = h5py_module()
            if self._appending:
                try:
                    with open_corpus_file(self._atomic.tmp) as old:     # checked like Corpus.open
                        self._ids = set(_col.read_strings(old["clips/clip_id"]).tolist())
                        self._old_ids = frozenset(self._ids)
                except FileFormatError as e:
                    raise type(e)(self.path, e.problem) from None
                self._f = h5py.File(self._atomic.tmp, "r+")
                upgrade_open(self._f)          # a version-1 copy gains the 3D column (NaN) before rows are added
            else:
                self._f = h5py.File(self._atomic.tmp, "w")
                self._init_file(self._f)
        except BaseException:
            self._atomic.abort()
            raise
        f = self._f
        try:
            self._n0 = self._n = int(f.attrs["num_frames"])
            self._m0 = self._m = int(f.attrs["num_clips"])
            self._valid_total = int(f.attrs["num_valid"])
            self._layouts = json.loads(attr_str(f, "source_layouts", "{}"))
            if not isinstance(self._layouts, dict):
                raise ValueError("source_layouts is not a JSON object")
        except Exception as e:   # damaged attributes of the corpus appended to: nothing was written
            self._f.close()
            self._atomic.abort()
            raise FileFormatError(self.path, f"damaged corpus: its num_valid / source_layouts attributes cannot be "
                                             f"read ({type(e).__name__}); re-ingest the sources") from None
        self._pending: list[_Part] = []
        self._pending_frames = 0
        self.summary = IngestSummary(path=str(self.path), created=not self._appending)
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
        add_optional_arrays(f)
        fr.create_group("labels")
        cl = f.create_group("clips")
        for name, dt in (("start", np.int64), ("stop", np.int64), ("fps", np.float64)):
            _col.create_array(cl, name, dt)
        for name in CLIP_STRINGS:
            _col.create_strings(cl, name)
        cl.create_group("labels")
        bl = f.create_group("blocks")
        _col.create_array(bl, "rows", np.int64, (4,), 1024)
        _col.create_strings(bl, "checksum")
        now = now_iso()
        by = made_by()
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
                                 batch=False, points3d=item.points3d)
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
                 times, *, batch: bool, points3d=None) -> _Part | None:
        """One clip or batch as a part to write: validate (:func:`_validate_frames`, :func:`_clip_fps`), read
        the labels (:func:`_clip_labels`, :func:`_frame_fields`), drop empty and duplicate clips, map to COCO-17."""
        ids = [str(c) for c in ids]
        if not ids:
            return None
        fr = _validate_frames(ids, sources, keypoints, confidences, layout_name, lengths)
        fps = _clip_fps(ids, sources, fps)
        lab = _clip_labels(labels, len(ids), fr.who)
        frame, flab, t = _frame_fields(fr, frame_labels, times, fps)
        keep = self._keep(ids, fr.lengths, sources)
        if not keep.any():
            return None
        kp32, cf32, lengths = fr.kp, fr.cf, fr.lengths
        if not keep.all():
            rows = np.repeat(keep, lengths)
            kp32, cf32, frame, t = kp32[rows], cf32[rows], frame[rows], t[rows]
            flab = {k: v[rows] for k, v in flab.items()}
            ids = [cid for cid, k in zip(ids, keep) if k]
            lengths, fps, sources = lengths[keep], fps[keep], np.asarray(sources, dtype=object)[keep]
            lab = {k: v[keep] for k, v in lab.items()}
        p3 = None if points3d is None else _points3d_coco(points3d, fr, ids)
        if p3 is not None and not keep.all():
            p3 = p3[np.repeat(keep, fr.lengths)]
        self._ids.update(ids)
        kpc, cfc = fr.layout.convert_to_coco(kp32, cf32)
        return _Part(kp=np.ascontiguousarray(kpc, dtype=np.float32), cf=np.ascontiguousarray(cfc, dtype=np.float32),
                     frame=frame, time=t, ids=ids, lengths=lengths, fps=fps, layout=fr.layout.name,
                     sources=np.asarray(sources, dtype=object), labels=lab, flabels=flab, p3=p3)

    def _keep(self, ids: list, lengths: np.ndarray, sources) -> np.ndarray:
        """Which clips to write: empty clips and duplicate ids are skipped (or, duplicates, an error)."""
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
        return keep

    # -- writing --
    def _write_error(self, e: BaseException) -> FileFormatError:
        """A failed HDF5 write or read as a one-line error (the corpus file itself is untouched)."""
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        if self._appending:
            return FileFormatError(self.path, f"cannot append: the corpus's existing data are damaged or unreadable "
                                              f"({first}); check it with `posesearch info --verify`")
        return FileFormatError(self.path, f"cannot write the corpus ({first})")

    def _flush(self) -> None:
        try:
            self._flush_rows()
        except (OSError, RuntimeError, KeyError) as e:
            raise self._write_error(e) from None

    def _flush_rows(self) -> None:
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
        _col.append_rows(fr["points3d"], np.concatenate([p.p3 if p.p3 is not None else
                                                         np.full((len(p.kp), NUM_KEYPOINTS, 3), np.nan, np.float32)
                                                         for p in parts]))
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
        h5py = h5py_module()
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
                digest = block_digest(f, self._n0, self._n, self._m0, self._m)
                prev = attr_str(f, "checksum")
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
                with open_corpus_file(self.path) as c:
                    self.summary.checksum = attr_str(c, "checksum")
                return self.summary
            f.attrs.update({
                "num_frames": self._n, "num_clips": self._m, "num_valid": self._valid_total,
                "source_layouts": json.dumps(dict(sorted(self._layouts.items()))),
                "updated": now_iso(), "updated_by": made_by(),
            })
            self.summary.checksum = attr_str(f, "checksum")
            f.close()
            self._atomic.commit()
        except PoseSearchError:
            self.abort()
            raise
        except (OSError, RuntimeError, KeyError) as e:
            self.abort()
            raise self._write_error(e) from None
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


@dataclass
class _Frames:
    """The frames of one clip or batch after :func:`_validate_frames`: float32 in the source layout, NaN
    coordinates and confidence 0 where a keypoint is missing; ``who`` names the clip or batch in errors."""

    who: str
    ids: list
    sources: object
    layout: Layout
    kp: np.ndarray
    cf: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray

    def name_row(self, row: int, k: int | None = None) -> str:
        """Row ``row`` of the part (and keypoint ``k``) as "clip 'id' (source): frame i, keypoint k (name)"."""
        c = int(np.searchsorted(self.offsets, row, side="right") - 1)
        s = f"{_describe_clip(self.ids[c], self.sources[c])}: frame {row - self.offsets[c]}"
        if k is not None:
            s += f", keypoint {k} ({self.layout.joints[k]})"
        return s


def _points3d_coco(points3d, fr: "_Frames", ids: list) -> np.ndarray | None:
    """A clip's 3D joints (frames, K, 3) in its source layout as (frames, 17, 3) float32 COCO-17 (NaN where
    missing); None when every value is missing. Errors name the clip."""
    who = fr.who
    try:
        p = np.asarray(points3d, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidPoseError(f"{who}: points3d must be a numeric array") from None
    K = fr.layout.num_keypoints
    if p.shape != (int(fr.lengths.sum()), K, 3):
        raise InvalidPoseError(f"{who}: points3d: expected shape ({int(fr.lengths.sum())}, {K}, 3) (one 3D point per "
                               f"keypoint), got {p.shape}")
    if np.isinf(p).any():
        raise InvalidPoseError(f"{who}: points3d: expected finite coordinates or NaN (missing), found infinity")
    idx = np.asarray(fr.layout.to_coco)
    out = np.full((len(p), NUM_KEYPOINTS, 3), np.nan, np.float32)
    out[:, idx >= 0] = p[:, idx[idx >= 0]]
    out[np.isnan(out).any(-1)] = np.nan
    return out if np.isfinite(out).any() else None


def _validate_frames(ids: list, sources, keypoints, confidences, layout_name, lengths) -> _Frames:
    """Check the layout, the array shapes, the clip lengths and every value (:func:`first_bad_value`, and
    coordinates that float32 cannot hold); errors name the clip, frame and keypoint."""
    m = len(ids)
    first_src = sources[0] if len(sources) else ""
    who = _describe_clip(ids[0], first_src) if m == 1 else f"clip batch {ids[0]!r}.. ({first_src})"
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
    fr = _Frames(who, ids, sources, layout, kp, cf, lengths, offsets)
    bad = first_bad_value(kp, cf)
    if bad is not None:
        raise InvalidPoseError(f"{fr.name_row(*bad[0])}: {bad[1]}")
    kp32 = kp.astype(np.float32)
    over = np.isinf(kp32).any(axis=-1)
    if over.any():
        r, k = np.argwhere(over)[0]
        raise InvalidPoseError(f"{fr.name_row(r, k)}: coordinate {kp[r, k]} is too large for float32")
    cf32 = cf.astype(np.float32)
    missing = (cf32 <= 0) | np.isnan(kp32).any(axis=-1)
    cf32[missing] = 0.0
    kp32[missing] = np.nan
    fr.kp, fr.cf = kp32, cf32
    return fr


def _clip_fps(ids: list, sources, fps) -> np.ndarray:
    """The per-clip frame rates (NaN: unknown) after checking them and the clip ids."""
    fps = np.asarray(fps, dtype=np.float64)
    badf = ~np.isnan(fps) & ~((fps > 0) & np.isfinite(fps))
    if badf.any():
        c = int(np.argmax(badf))
        raise InvalidArgumentError(f"{_describe_clip(ids[c], sources[c])}: fps must be positive, got {fps[c]:g}")
    for c, cid in enumerate(ids):
        if not cid:
            raise InvalidArgumentError(f"{_describe_clip(cid, sources[c])}: empty clip id")
    return fps


def _text_column(values: list) -> np.ndarray:
    col = np.empty(len(values), dtype=object)
    col[:] = ["" if v is None else str(v) for v in values]
    return col


def _clip_labels(labels, m: int, who: str) -> dict[str, np.ndarray]:
    """Per-clip labels as text columns of ``m`` values."""
    lab = {}
    for key, vals in (labels or {}).items():
        k = _check_label_key(key, "label", who)
        vals = vals.tolist() if isinstance(vals, np.ndarray) else list(vals)
        if len(vals) != m:
            raise InvalidArgumentError(f"{who}: label {k!r} has {plural(len(vals), 'value')} for {plural(m, 'clip')}")
        lab[k] = _text_column(vals)
    return lab


def _frame_fields(fr: _Frames, frame_labels, times, fps: np.ndarray
                  ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Frame numbers (the ``frame`` label, else the position in the clip), the other per-frame labels
    (numbers or one string per frame) and the times (given, else as Clip.frame_times())."""
    who, lengths = fr.who, fr.lengths
    n = len(fr.kp)
    local = np.arange(n, dtype=np.int64) - np.repeat(fr.offsets[:-1], lengths)
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
                num = arr.astype(np.float64)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"{who}: frame numbers must be integers") from None
            if not (np.isfinite(num).all() and (num == np.round(num)).all()):
                raise InvalidArgumentError(f"{who}: frame numbers must be finite integers")
            frame = num.astype(np.int64)
            continue
        if _frame_label_kind(arr) == "num":
            flab[k] = arr.astype(np.float64)
        elif arr.ndim != 1:
            raise InvalidArgumentError(f"{who}: frame label {k!r}: text labels must be one string per frame, "
                                       f"got shape {arr.shape}")
        else:
            flab[k] = _text_column(arr.tolist())
    if times is not None:
        t = np.asarray(times, dtype=np.float64)
        if t.shape != (n,):
            raise InvalidArgumentError(f"{who}: times has shape {t.shape}, expected ({n},)")
        if not np.isfinite(t).all():
            raise InvalidArgumentError(f"{fr.name_row(int(np.argmin(np.isfinite(t))))}: time is not finite")
    else:  # as Clip.frame_times(): position in the clip / fps, 0 when fps is unknown
        fps_rows = np.repeat(fps, lengths)
        ok = np.isfinite(fps_rows)
        t = np.where(ok, local / np.where(ok, fps_rows, 1.0), 0.0)
    return frame, flab, t


def _fps_value(fps, clip: Clip) -> float:
    try:
        v = float(fps)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{_describe_clip(clip.clip_id, clip.source)}: fps must be a number, "
                                   f"got {fps!r}") from None
    return v

