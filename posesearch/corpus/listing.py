"""Listing a corpus's clips (``posesearch clips``) and exporting one clip as a pose-sequence file
(``posesearch export``).

    from posesearch.corpus import Corpus, sample_corpus_path
    with Corpus.open(sample_corpus_path()) as c:
        page = c.list_clips(label="dataset=cmu-mocap", limit=10)   # ClipListing: rows, matched, total
        c.export_clip(page.rows[0].clip_id, "clip.json")           # the format `score` and `query` read

Label filters: ``KEY=VALUE`` keeps clips whose label KEY is exactly VALUE; a bare ``VALUE`` keeps clips
with VALUE under any label; several filters must all hold. A clip's *duration* is the time its frames
cover: last frame time - first frame time + one frame interval (T / fps for regular frames); without
a frame rate (single images) it is last - first (0 for one frame).

An export holds the clip as the corpus stores it: COCO-17 keypoints (the source layout is recorded in
the corpus, :meth:`Corpus.clip_info`), confidences (0 = missing), the frame rate and, when the frames
are not exactly ``i / fps``, their times. Reading the file back (:func:`posesearch.sequence.read_sequence`)
gives the same keypoints and confidences.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ..errors import FileFormatError, InvalidArgumentError, UnknownClipError
from ..text import plural

if TYPE_CHECKING:  # pragma: no cover
    from ..sequence.sequence import Sequence
    from .store import Corpus

#: Rows a listing shows unless told otherwise (``limit=None`` in the library means all).
DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class ClipRow:
    """One clip of a listing: id, corpus index, frames, duration (s; see the module doc), fps (None =
    unknown), source layout, labels."""

    clip_id: str
    index: int
    frames: int
    duration: float
    fps: float | None
    layout: str
    labels: dict[str, str]

    def to_dict(self) -> dict:
        return {"clip_id": self.clip_id, "index": self.index, "frames": self.frames,
                "duration": round(self.duration, 6), "fps": self.fps, "layout": self.layout,
                "labels": dict(self.labels)}


@dataclass
class ClipListing:
    """A page of clips: ``rows`` (corpus order), how many clips ``matched`` the filters, the corpus
    ``total``, the page's ``offset`` and ``limit`` (None = all), the ``filters`` applied and, when nothing
    matched, a ``hint`` naming the values that exist."""

    rows: list[ClipRow]
    matched: int
    total: int
    offset: int = 0
    limit: int | None = None
    filters: list[str] = field(default_factory=list)
    hint: str | None = None

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    @property
    def more(self) -> int:
        """Matching clips after this page."""
        return max(0, self.matched - self.offset - len(self.rows))

    def describe(self) -> str:
        """One line: what matched and which rows are shown."""
        what = (f"{plural(self.matched, 'clip')} of {self.total:,} match {' and '.join(self.filters)}"
                if self.filters else f"{plural(self.matched, 'clip')}")
        if not self.rows:
            return what + (f" ({self.hint})" if self.hint else "")
        if len(self.rows) == self.matched:
            return what
        return f"{what}; showing {self.offset + 1:,}-{self.offset + len(self.rows):,}"

    def to_dict(self) -> dict:
        return {"total": self.total, "matched": self.matched, "offset": self.offset, "limit": self.limit,
                "shown": len(self.rows), "more": self.more, "filters": list(self.filters), "hint": self.hint,
                "clips": [r.to_dict() for r in self.rows]}


def parse_label_filter(spec: str) -> tuple[str | None, str]:
    """``"KEY=VALUE"`` -> (KEY, VALUE); ``"VALUE"`` -> (None, VALUE)."""
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidArgumentError(f"label: expected KEY=VALUE or VALUE, got {spec!r}")
    if "=" in spec:
        key, value = spec.split("=", 1)
        key = key.strip()
        if not key:
            raise InvalidArgumentError(f"label {spec!r}: expected KEY=VALUE, the key is empty")
        return key, value.strip()
    return None, spec.strip()


def _values_hint(corpus: "Corpus", key: str | None, value: str) -> str:
    """Name what exists when a filter matched nothing: the key's most common values, or the keys holding
    a value close to the one asked for."""
    import collections

    if key is not None:
        counts = collections.Counter(v for v in corpus.clip_labels(key).tolist() if v != "")
        common = [v for v, _ in counts.most_common(8)]
        close = difflib.get_close_matches(value, list(counts), n=3, cutoff=0.6)
        shown = close + [v for v in common if v not in close]
        return (f"{key} has {plural(len(counts), 'value')}: {', '.join(repr(v) for v in shown[:8])}"
                + (", ..." if len(counts) > 8 else ""))
    near = []
    for k in corpus.label_keys:
        vals = set(corpus.clip_labels(k).tolist()) - {""}
        for v in difflib.get_close_matches(value, list(vals), n=2, cutoff=0.6):
            near.append(f"{k}={v!r}")
    return (f"close: {', '.join(near[:6])}" if near
            else f"no label has that value; label keys: {', '.join(corpus.label_keys) or 'none'}")


def list_clips(corpus: "Corpus", label: str | Iterable[str] | None = None, *, limit: int | None = None,
               offset: int = 0) -> ClipListing:
    """The clips of ``corpus`` matching every ``label`` filter (see the module doc), rows ``offset`` to
    ``offset + limit`` of them (``limit`` None = all). Filtering is vectorised over the clip table; only
    the rows shown read their labels and frame times."""
    filters = [label] if isinstance(label, str) else list(label or [])
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 0):
        raise InvalidArgumentError(f"limit: expected a whole number >= 0 or None, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)) or offset < 0:
        raise InvalidArgumentError(f"offset: expected a whole number >= 0, got {offset!r}")
    m = corpus.num_clips
    keep = np.ones(m, bool)
    hint = None
    for spec in filters:
        key, value = parse_label_filter(spec)
        if key is not None:
            if not corpus.label_keys:
                raise InvalidArgumentError(f"label {spec!r}: corpus {corpus.path} has no clip labels")
            hit = corpus.clip_labels(key) == value          # UnknownNameError lists the keys
        else:
            hit = np.zeros(m, bool)
            for k in corpus.label_keys:
                hit |= corpus.clip_labels(k) == value
        hit = np.asarray(hit, bool)
        if not hit.any() and hint is None:
            hint = _values_hint(corpus, key, value)
        keep &= hit
    idx = np.flatnonzero(keep)
    matched = int(idx.size)
    page = idx[offset:] if limit is None else idx[offset:offset + int(limit)]
    return ClipListing(_rows(corpus, page), matched, m, int(offset), None if limit is None else int(limit),
                       [str(f) for f in filters], hint)


def _rows(corpus: "Corpus", idx: np.ndarray) -> list[ClipRow]:
    if idx.size == 0:
        return []
    from . import columns as _col

    t = corpus._clip_table()
    start, stop = t["start"][idx].astype(np.int64), t["stop"][idx].astype(np.int64)
    fps = t["fps"][idx].astype(np.float64)
    n = stop - start
    ends = np.concatenate([start, np.maximum(stop - 1, start)])
    times = _col.take(corpus._ds("frames/time"), ends) if len(corpus) else np.zeros(2 * len(idx))
    first, last = times[:len(idx)], times[len(idx):]
    ok = np.isfinite(fps) & (fps > 0)
    span = np.where(n > 0, last - first, 0.0)
    duration = np.where(ok & (n > 0), span + 1.0 / np.where(ok, fps, 1.0), span)
    ids = corpus._strings_at("clips/clip_id", idx)
    layouts = corpus._strings_at("clips/layout", idx)
    labels = corpus._labels_of(idx)
    return [ClipRow(str(ids[j]), int(idx[j]), int(n[j]), float(duration[j]),
                    float(fps[j]) if ok[j] else None, str(layouts[j]), labels[j]) for j in range(len(idx))]


# ---------------------------------------------------------------------------------------------- lookup
def close_clip_ids(ids: Iterable[str], key: str, n: int = 5) -> list[str]:
    """Up to ``n`` clip ids like ``key``: ids containing it (or contained in it), then close spellings."""
    ids = list(ids)
    key = str(key)
    out = [i for i in ids if key and (key in i or (len(i) >= 3 and i in key))][:n]
    if len(out) < n:
        # difflib over every id is slow for big corpora: compare ids of a similar length only
        cand = [i for i in ids if abs(len(i) - len(key)) <= 3 and i not in out]
        if len(cand) > 20_000:     # (~0.5 s of difflib at most, on an error path)
            cand = [i for i in cand if i[:1] == key[:1]][:20_000]
        out += difflib.get_close_matches(key, cand, n=n - len(out), cutoff=0.6)
    return out


def clip_index(corpus: "Corpus", clip_id: str) -> int:
    """The row of ``clip_id``; an unknown id is an UnknownClipError (an InvalidArgumentError) naming a few close ids."""
    if not isinstance(clip_id, str):
        raise InvalidArgumentError(f"clip id: expected a string, got {type(clip_id).__name__}")
    if corpus._id_index is None:
        corpus._id_index = {cid: i for i, cid in enumerate(corpus.clip_ids().tolist())}
    i = corpus._id_index.get(clip_id)
    if i is not None:
        return i
    close = close_clip_ids(corpus._id_index, clip_id)
    near = f"; close ids: {', '.join(close)}" if close else ""
    raise UnknownClipError(f"clip {clip_id!r} is not in corpus {corpus.path} "
                               f"({plural(corpus.num_clips, 'clip')}){near}; list them with "
                               f"`posesearch clips {corpus.path}`")


def clip_sequence(corpus: "Corpus", clip_id: str) -> "Sequence":
    """Clip ``clip_id`` as a :class:`~posesearch.sequence.Sequence` (COCO-17, the corpus's frame times and fps)."""
    from ..sequence.sequence import sequence_from_clip

    return sequence_from_clip(corpus.clip(clip_index(corpus, clip_id)), name=clip_id)


@dataclass
class ExportSummary:
    """What :func:`export_clip` wrote."""

    path: str
    clip_id: str
    frames: int
    fps: float | None
    duration: float
    layout: str
    source_layout: str
    times_written: bool
    format: str
    note: str | None = None

    def to_dict(self) -> dict:
        from dataclasses import asdict

        return asdict(self)


def export_clip(corpus: "Corpus", clip_id: str, path: str | os.PathLike, *, overwrite: bool = False) -> ExportSummary:
    """Write clip ``clip_id`` of ``corpus`` to ``path`` as a pose-sequence file (.json, .npz or .npy by
    suffix; .npy keeps only the (T, 17, 3) array, so its frame rate must be given when it is read).
    Atomic; an existing file is replaced only with ``overwrite``; the corpus itself never is."""
    from ..sequence.io import SUFFIXES, _times_are_regular, write_sequence
    from ..files import check_not_input

    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir():
        raise FileFormatError(p, "is a folder, expected a file path such as clip.json")
    if suffix not in SUFFIXES:
        raise FileFormatError(p, f"unsupported file type {p.suffix or '(none)'!r}; expected one of "
                                 f"{', '.join(SUFFIXES)}")
    check_not_input(p, [corpus.path], what="--out")
    if (p.exists() or p.is_symlink()) and not overwrite:
        raise FileFormatError(p, "already exists; pass --overwrite (overwrite=True) to replace it")
    i = clip_index(corpus, clip_id)
    info = corpus.clip_info(i)
    seq = clip_sequence(corpus, clip_id)
    write_sequence(p, seq)
    regular = _times_are_regular(seq)
    note = None
    if suffix == ".npy" and len(seq) > 1:
        note = (f"{p.name}: a .npy keeps only the (T, 17, 3) array; give its frame rate when reading it "
                f"(e.g. --fps {seq.fps:g})" if seq.fps else
                f"{p.name}: a .npy keeps only the (T, 17, 3) array; its irregular frame times are not in it")
    dur = seq.duration + (1.0 / seq.fps if seq.fps else 0.0)
    return ExportSummary(str(p), clip_id, len(seq), seq.fps, float(dur), seq.layout.name, info.layout,
                         suffix != ".npy" and not regular, suffix.lstrip("."), note)


__all__ = ["ClipRow", "ClipListing", "ExportSummary", "DEFAULT_LIMIT", "list_clips", "parse_label_filter",
           "close_clip_ids", "clip_index", "clip_sequence", "export_clip"]
