"""The corpus (read side): a corpus file opened read-only, plus the entry points that create and extend one.

See :mod:`.fileformat` for the file layout, :mod:`.writer` for how clips get in, :mod:`.records` for
what comes out.
"""
from __future__ import annotations

import functools
import math
import os
import time as _time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

from ..text import plural
from ..errors import ChecksumError, FileFormatError, InvalidArgumentError, PoseSearchError, UnknownNameError
from ..files import attr_str, h5py_module
from . import checksum as _ck
from . import columns as _col
from .batch import ClipBatch
from .clip import Clip
from .fileformat import (CLIP_ARRAYS, FORMAT_NAME, FORMAT_VERSION, LAYOUT, block_digest, open_corpus_file,
                         parse_attrs, upgrade)
from .records import ClipInfo, FrameBatch, IngestSummary, _label_value
from .writer import CorpusWriter

__all__ = ["Corpus", "CorpusWriter", "ClipInfo", "FrameBatch", "IngestSummary", "describe", "upgrade",
           "FORMAT_NAME", "FORMAT_VERSION"]


class _either:
    """Method callable on the class with a path (``Corpus.info(path)``) or on an instance (``c.info()``)."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)

    def __get__(self, obj, objtype=None):
        if obj is None:
            return functools.partial(self.fn, objtype)
        return functools.partial(self.fn, objtype, obj)


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


def _frame_column(name: str, doc: str):
    """A Corpus method ``(start=0, stop=None) -> array`` reading frames start:stop of ``frames/<name>``."""

    @_read_errors
    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        a, b = self._slice(start, stop)
        return self._ds(f"frames/{name}")[a:b]

    read.__doc__ = doc
    return read


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
        self._f = open_corpus_file(self.path)
        self._reset_cache()

    def _fh(self):
        """The open HDF5 file (FileFormatError once the corpus is closed)."""
        if self._f is None or not self._f.id.valid:
            raise FileFormatError(self.path, "corpus is closed")
        return self._f

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
        self._f = None
        self._f = open_corpus_file(self.path)
        self._reset_cache()

    # -- description --
    @_either
    def info(cls, path_or_self) -> dict:
        """The file's attributes as a dict (reads no arrays): ``Corpus.info(path)`` or ``corpus.info()``."""
        if isinstance(path_or_self, Corpus):
            return path_or_self.attrs
        path = Path(path_or_self)
        with open_corpus_file(path) as f:
            out = parse_attrs(f, path)
        out["path"] = str(path)
        out["size_bytes"] = path.stat().st_size
        return out

    @property
    def attrs(self) -> dict:
        """The file's attributes (JSON ones parsed), plus ``path`` and ``size_bytes``."""
        out = parse_attrs(self._fh(), self.path)
        out["path"] = str(self.path)
        out["size_bytes"] = self.path.stat().st_size
        return out

    @property
    def checksum(self) -> str:
        return attr_str(self._fh(), "checksum")

    @property
    def num_clips(self) -> int:
        return int(self._fh().attrs["num_clips"])

    @property
    def num_valid(self) -> int:
        return int(self._fh().attrs["num_valid"])

    def __len__(self) -> int:
        return int(self._fh().attrs["num_frames"])

    def __repr__(self) -> str:
        state = "closed" if self._f is None or not self._f.id.valid else f"{plural(len(self), 'frame')}, {plural(self.num_clips, 'clip')}"
        return f"Corpus({str(self.path)!r}, {state})"

    def _ds(self, name: str):
        """An open dataset or group, kept open so its chunk cache survives between calls."""
        h = self._handles.get(name)
        if h is None:
            h = self._handles[name] = self._fh()[name]
        return h

    # -- frame arrays --
    def _slice(self, start: int, stop: int | None) -> tuple[int, int]:
        n = len(self)
        start, stop, _ = slice(start, stop).indices(n)
        return start, max(start, stop)

    # frames start:stop of one column (negative and open ends as for slices)
    vectors = _frame_column("vectors", "Normalized vectors of frames ``start:stop`` as (n, 34) float32 (zero rows "
                                       "for invalid frames).")
    keypoints = _frame_column("keypoints", "COCO-17 keypoints of frames ``start:stop``, (n, 17, 2) float32, NaN "
                                           "where missing.")
    confidences = _frame_column("confidences", "COCO-17 confidences of frames ``start:stop``, (n, 17) float32 (0 "
                                               "where missing).")
    clip_indices = _frame_column("clip_index", "Clip row of frames ``start:stop`` (int64).")
    frame_numbers = _frame_column("frame", "Frame number within its clip of frames ``start:stop`` (int64).")
    times = _frame_column("time", "Time in seconds within its clip of frames ``start:stop`` (float64).")

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
            self._handles["label_keys"] = sorted(self._fh()["clips/labels"].keys())
        return list(self._handles["label_keys"])

    @property
    def frame_label_keys(self) -> list[str]:
        """Per-frame label names present in the corpus (besides ``frame``)."""
        if "frame_label_keys" not in self._handles:
            self._handles["frame_label_keys"] = sorted(self._fh()["frames/labels"].keys())
        return list(self._handles["frame_label_keys"])

    # -- clip table --
    @_read_errors
    def _clip_table(self) -> dict[str, np.ndarray]:
        if self._table is None:
            cl = self._fh()["clips"]
            self._table = {name: cl[name][:] for name in CLIP_ARRAYS}
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
        if isinstance(obj, h5py_module().Group):
            return _col.read_strings(obj, a, b)
        return obj[a:b]

    def _index_of(self, key: int | str) -> int:
        m = self.num_clips
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -m <= i < m:
                raise InvalidArgumentError(f"clip index {i} out of range: {self.path} has {plural(m, 'clip')}")
            return i % m
        if isinstance(key, str):
            if self._id_index is None:
                self._id_index = {cid: i for i, cid in enumerate(self.clip_ids().tolist())}
            if key not in self._id_index:
                from .listing import clip_index

                clip_index(self, key)     # raises, naming a few close ids
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
        h5py = h5py_module()
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
        p3 = None
        if "points3d" in self._fh()["frames"]:        # version 2 (3D joints, NaN for 2D-only sources)
            p3 = D("frames/points3d")[a:b]
            if np.isnan(p3).all():
                p3 = None
        return Clip(clip_id=info.clip_id, keypoints=D("frames/keypoints")[a:b],
                    confidences=D("frames/confidences")[a:b], layout=LAYOUT, fps=info.fps, source=info.source,
                    labels=dict(info.labels), frame_labels=flabels, times=D("frames/time")[a:b], points3d=p3)

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
            raise InvalidArgumentError(f"frame id {bad} out of range: {self.path} has {plural(n, 'frame')}")
        D = self._ds
        cidx = _col.take(D("frames/clip_index"), ids)
        t = self._clip_table()
        ucl, inv = np.unique(cidx, return_inverse=True)
        per_clip = self._labels_of(ucl)
        clip_labels = [dict(per_clip[i]) for i in inv.tolist()]
        h5py = h5py_module()
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

    # -- listing and export (posesearch clips / export; see .listing) --
    @_read_errors
    def list_clips(self, label=None, *, limit: int | None = None, offset: int = 0):
        """Clips matching every ``label`` filter (``"KEY=VALUE"`` or a bare ``"VALUE"``, one or a list), as a
        :class:`~.listing.ClipListing` page (``limit`` None = all): id, frames, duration, fps, labels."""
        from .listing import list_clips

        return list_clips(self, label, limit=limit, offset=offset)

    @_read_errors
    def clip_sequence(self, clip_id: str):
        """Clip ``clip_id`` as a :class:`posesearch.sequence.Sequence` (COCO-17, with its frame times); an
        unknown id is a one-line error naming close ids."""
        from .listing import clip_sequence

        return clip_sequence(self, clip_id)

    @_read_errors
    def export_clip(self, clip_id: str, path: str | os.PathLike, *, overwrite: bool = False):
        """Write clip ``clip_id`` as a pose-sequence file (.json / .npz / .npy, the format ``score`` and
        ``query`` read); returns an :class:`~.listing.ExportSummary`."""
        from .listing import export_clip

        return export_clip(self, clip_id, path, overwrite=overwrite)

    # -- integrity --
    @_read_errors
    def verify(self) -> dict:
        """Recompute the checksum chain from the data; raises ChecksumError naming the first bad block.

        Returns a dict: checksum, blocks, frames, clips, valid (recounted), seconds.
        """
        t0 = _time.perf_counter()
        f = self._fh()
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
            value = _ck.chain(value, block_digest(f, f0, f1, c0, c1))
            if value != stored[b]:
                raise ChecksumError(self.path, f"checksum mismatch in append block {b} (frames {f0}-{f1 - 1}, "
                                               f"clips {c0}-{c1 - 1}): the data were modified or corrupted")
            pos_f, pos_c = f1, c1
        if pos_f != n or pos_c != m:
            raise ChecksumError(self.path, f"damaged corpus: checksummed blocks cover {pos_f} of {plural(n, 'frame')} and "
                                           f"{pos_c} of {plural(m, 'clip')}")
        if value != self.checksum:
            raise ChecksumError(self.path, "checksum mismatch: the file's checksum attribute does not match its data")
        nvalid = self.check_vectors()
        if nvalid != self.num_valid:
            raise ChecksumError(self.path, f"damaged corpus: {nvalid} valid frames, the file says {self.num_valid}")
        t = self._clip_table()
        if m and (t["start"][0] != 0 or t["stop"][-1] != n or (t["start"][1:] != t["stop"][:-1]).any()):
            raise ChecksumError(self.path, "damaged corpus: clip frame ranges do not tile the frames")
        return {"checksum": value, "blocks": int(len(rows)), "frames": n, "clips": m, "valid": nvalid,
                "seconds": _time.perf_counter() - t0}

    @property
    def normalization(self) -> dict | None:
        """The normalization settings the stored vectors were made with (the ``normalization`` attribute)."""
        v = parse_attrs(self._fh(), self.path).get("normalization")
        return v if isinstance(v, dict) else None

    #: largest |stored - recomputed| accepted per vector coordinate (both are float32 roundings of the
    #: same float64 computation, so they agree bit for bit; the margin only absorbs a future kernel's order)
    VECTOR_TOLERANCE = 1e-6
    CHECK_CHUNK = 1 << 16

    @_read_errors
    def check_vectors(self) -> int:
        """Check the stored vectors against the raw data; returns the number of valid frames.

        The normalization attribute must be this posesearch's; confidences must lie in [0, 1]; every
        vector must be finite and equal (within :attr:`VECTOR_TOLERANCE`) to the normalization of its
        keypoints and confidences, recomputed here, and every ``valid`` flag must say whether that
        normalization succeeds (so a NaN, huge, shifted or non-unit vector, or a flipped flag, is
        reported with its frame). Vectorized, in chunks of :attr:`CHECK_CHUNK` frames.
        """
        from ..poses.normalize import DEFAULT_NORMALIZATION, normalize_batch

        norm = self.normalization
        if norm != DEFAULT_NORMALIZATION.to_dict():
            raise FileFormatError(self.path, f"corpus vectors use normalization {norm}, this posesearch uses "
                                             f"{DEFAULT_NORMALIZATION.to_dict()}; re-ingest the sources")
        n = len(self)
        nvalid = 0
        D = self._ds
        for a in range(0, n, self.CHECK_CHUNK):
            b = min(n, a + self.CHECK_CHUNK)
            kp, cf = D("frames/keypoints")[a:b], D("frames/confidences")[a:b]
            vec, flag = D("frames/vectors")[a:b], D("frames/valid")[a:b]

            def bad(rows: np.ndarray, what: str):
                i = int(np.flatnonzero(rows)[0])
                return ChecksumError(self.path, f"damaged corpus: frame {a + i} {what} ({int(rows.sum())} such "
                                                f"frame(s) in rows {a}-{b - 1}); re-ingest the sources")

            conf_ok = np.isfinite(cf) & (cf >= 0) & (cf <= 1)
            if not conf_ok.all():
                raise bad(~conf_ok.all(axis=1), "has confidences outside [0, 1]")
            if np.any(flag > 1):
                raise bad(flag > 1, "has a valid flag other than 0 or 1")
            fin = np.isfinite(vec).all(axis=1)
            if not fin.all():
                raise bad(~fin, "has a vector with NaN or infinite values")
            # keypoints are NaN where missing; present ones must be finite for a vector to exist
            with np.errstate(invalid="ignore", over="ignore"):
                ref, ok = normalize_batch(kp, cf, on_invalid="mask", dtype=np.float64)
            flag = flag.astype(bool)
            if (flag != ok).any():
                wrong = flag != ok
                i = int(np.flatnonzero(wrong)[0])
                why = ("is flagged valid but its keypoints cannot be normalized" if flag[i] else
                       "is flagged invalid but its keypoints normalize")
                raise bad(wrong, why)
            diff = np.abs(vec.astype(np.float64) - ref.astype(np.float32).astype(np.float64)).max(axis=1) \
                if len(vec) else np.zeros(0)
            off = diff > self.VECTOR_TOLERANCE
            if off.any():
                i = int(np.flatnonzero(off)[0])
                nrm = float(np.sqrt((vec[i].astype(np.float64) ** 2).sum()))
                raise bad(off, f"has a stored vector that is not the normalized keypoints (max |difference| "
                               f"{diff[i]:.3g}, norm {nrm:.6g}, expected a unit vector with coordinates in [0, 1])")
            nvalid += int(flag.sum())
        return nvalid

    # -- lifetime --
    def close(self) -> None:
        if self._f is not None:
            self._f.close()

    def __enter__(self) -> "Corpus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()



def describe(path: str | os.PathLike, *, verify: bool = False) -> dict:
    """``posesearch info`` for a corpus file: its attributes, and with ``verify`` the full data check."""
    if not verify:
        return Corpus.info(path)
    with Corpus.open(path) as c:
        out = c.attrs
        out["verified"] = c.verify()
    return out

