"""The corpus file format: every frame of every clip in COCO-17, its normalized vector, and its metadata (HDF5).

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

Arrays are chunked (512 frame rows, see :mod:`.columns`) and gzip-1 compressed, so a slice or a clip
reads only the chunks it touches. Every write goes to a temporary file that replaces the corpus
atomically (appends start from a byte copy, so existing data are not re-encoded); see :mod:`.atomic`,
:mod:`.writer` and :mod:`.checksum`. Opening checks the format, version and structure (cheap);
``Corpus.verify()`` recomputes the checksum from the data and re-derives every vector and ``valid`` flag
from the keypoints (``Corpus.check_vectors``); ``Index.build`` runs it before indexing.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import FileFormatError
from ..text import plural
from . import checksum as _ck
from . import columns as _col
from .atomic import AtomicFile

FORMAT_NAME = "posesearch-corpus"
FORMAT_VERSION = 1
LAYOUT = "coco17"
NUM_KEYPOINTS = 17

FRAME_ARRAYS = ("keypoints", "confidences", "vectors", "valid", "clip_index", "frame", "time")
CLIP_ARRAYS = ("start", "stop", "fps")
CLIP_STRINGS = ("clip_id", "layout", "source")


def now_iso() -> str:
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


def h5py_module():
    import h5py

    return h5py



# --- open / check ---------------------------------------------------------------------------------

#: what each posesearch HDF5 file is made by, for the messages of :func:`open_h5`
MADE_BY = {"corpus": "`posesearch ingest`", "index": "`posesearch build`", "posesearch": "posesearch"}


def open_h5(path: Path, mode: str = "r", *, kind: str = "corpus", **kwargs):
    """Open a posesearch HDF5 file (corpus, index, or either: ``kind``), every failure a one-line
    FileFormatError: missing, a folder, not a regular file (a FIFO would block), truncated, not HDF5, damaged.
    The one opener of corpus and index files (index.fileformat and ``posesearch info`` call it)."""
    import stat

    h5py = h5py_module()
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except OSError as e:
        raise FileFormatError(path, f"cannot read it ({e.strerror or e})") from None
    article = "an" if kind[:1] in "aeiou" else "a"
    if stat.S_ISDIR(st.st_mode):
        raise FileFormatError(path, f"is a directory, expected {article} {kind} file")
    if not stat.S_ISREG(st.st_mode):
        raise FileFormatError(path, f"is not a regular file (a FIFO, device or socket), expected {article} {kind} "
                                    "file")
    if kind == "corpus":   # a 4 MB chunk cache per dataset keeps recently read chunks for repeated random access
        kwargs = {"rdcc_nbytes": 4 << 20, "rdcc_nslots": 4099, **kwargs}
    try:
        return h5py.File(path, mode, **kwargs)
    except OSError as e:
        msg = str(e)
        first = msg.splitlines()[0] if msg else type(e).__name__
        by = MADE_BY.get(kind, "posesearch")
        if "truncated" in msg:
            detail = first.split("(")[-1].rstrip(")")
            raise FileFormatError(path, f"truncated {kind} file ({st.st_size} bytes; {detail}); make it again with "
                                        f"{by}") from None
        if "signature" in msg or st.st_size < 8:
            raise FileFormatError(path, f"not a readable HDF5 file (not an HDF5 file at all; expected a posesearch "
                                        f"{kind} made by {by})") from None
        raise FileFormatError(path, f"not a readable HDF5 file (damaged or another format: {first})") from None


def open_corpus_file(path: Path, mode: str = "r"):
    """:func:`open_h5` of a corpus, then :func:`check_format` and :func:`check_structure` (the file is closed
    again if a check fails). Used by ``Corpus.open`` and by the writer to read the copy it appends to."""
    f = open_h5(path, mode)
    try:
        check_format(f, path)
        check_structure(f, path)
    except BaseException:
        f.close()
        raise
    return f


def attr_str(f, name: str, default=None):
    v = f.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return v


def check_format(f, path: Path, *, allow_older: bool = False) -> int:
    """Check that an open HDF5 file is a posesearch corpus this version can read; returns its version."""
    try:
        fmt = attr_str(f, "format")
    except Exception as e:   # damaged attribute storage
        raise FileFormatError(path, f"damaged file: cannot read its 'format' attribute ({type(e).__name__})") from None
    if fmt is None:
        raise FileFormatError(path, f"not a posesearch corpus (HDF5 file without a 'format' attribute; "
                                    f"expected format {FORMAT_NAME!r})")
    if fmt != FORMAT_NAME:
        raise FileFormatError(path, f"not a posesearch corpus (its format is {fmt!r}, expected {FORMAT_NAME!r})")
    try:
        version = f.attrs.get("format_version")
        if isinstance(version, (bool, np.bool_)) or not isinstance(version, (int, np.integer)):
            raise TypeError(version)   # 1.5, "1", True: not a format version
        version = int(version)
    except Exception:
        raise FileFormatError(path, "corpus has no valid 'format_version' attribute") from None
    if version > FORMAT_VERSION:
        raise FileFormatError(path, f"written by a newer posesearch (format {version}); upgrade posesearch "
                                    f"(this one reads format {FORMAT_VERSION})")
    if version < FORMAT_VERSION and not allow_older:
        raise FileFormatError(path, f"written by an older posesearch (format {version}); convert it with "
                                    f"posesearch.corpus.upgrade({str(path)!r}) (this version reads format "
                                    f"{FORMAT_VERSION})")
    return version


def check_structure(f, path: Path) -> None:
    """Cheap consistency checks on open: datasets present, lengths agree with each other and the attributes."""
    try:
        fr, cl = f["frames"], f["clips"]
        n, m = (_count_attr(f, path, name) for name in ("num_frames", "num_clips"))
        for name in FRAME_ARRAYS:
            if fr[name].shape[0] != n:
                raise FileFormatError(path, f"damaged corpus: /frames/{name} has {fr[name].shape[0]} rows, "
                                            f"the file says {plural(n, 'frame')}")
        if fr["keypoints"].shape[1:] != (NUM_KEYPOINTS, 2) or fr["vectors"].shape[1:] != (2 * NUM_KEYPOINTS,):
            raise FileFormatError(path, "damaged corpus: keypoint arrays are not COCO-17 shaped")
        for name in CLIP_ARRAYS:
            if cl[name].shape[0] != m:
                raise FileFormatError(path, f"damaged corpus: /clips/{name} has {cl[name].shape[0]} rows, "
                                            f"the file says {plural(m, 'clip')}")
        for name in CLIP_STRINGS:
            if _col.string_count(cl[name]) != m:
                raise FileFormatError(path, f"damaged corpus: /clips/{name} has {_col.string_count(cl[name])} "
                                            f"values, the file says {plural(m, 'clip')}")
        f["blocks/rows"]
        f["blocks/checksum"]
    except KeyError as e:
        raise FileFormatError(path, f"damaged corpus: missing {e.args[0] if e.args else 'a dataset'}") from None



def _count_attr(f, path: Path, name: str) -> int:
    v = f.attrs[name]
    if isinstance(v, np.ndarray) and v.shape in ((), (1,)):
        v = v.reshape(-1)[0]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or int(v) < 0:
        raise FileFormatError(path, f"damaged corpus: attribute {name} must be a count (integer >= 0), found {v!r:.40}")
    return int(v)


def parse_attrs(f, path: Path | None = None) -> dict:
    """The root attributes as plain values (JSON ones decoded); unreadable ones are a FileFormatError."""
    try:
        items = list(f.attrs.items())
    except Exception as e:   # damaged attribute storage, or a type h5py cannot map (TypeError, KeyError, ...)
        raise FileFormatError(path if path is not None else f.filename,
                              f"damaged corpus: cannot read its attributes ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
    out: dict[str, Any] = {}
    for k, v in items:
        if not isinstance(k, str):
            raise FileFormatError(path if path is not None else f.filename,
                                  f"damaged corpus: attribute name {k!r:.40} is not text")
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        if isinstance(v, np.generic):
            v = v.item()
        if k in ("normalization", "source_layouts", "joints") and isinstance(v, str):
            try:
                v = json.loads(v)
            except (ValueError, RecursionError):
                pass
        out[k] = v
    return out



# --- checksum blocks ------------------------------------------------------------------------------

def string_rows_digest(g, c0: int, c1: int) -> bytes | None:
    """Digest of values c0:c1 of a string column, None if they are all empty."""
    off = g["offsets"][c0:c1 + 1]
    if len(off) == 0 or off[-1] == off[0]:
        return None
    import hashlib

    h = hashlib.sha256()
    h.update(_ck.hash_array(np.diff(off).astype(np.int64)))
    h.update(_ck.hash_rows(g["data"], int(off[0]), int(off[-1])))
    return h.digest()


def block_digest(f, f0: int, f1: int, c0: int, c1: int) -> bytes:
    """Digest of one append block (see :mod:`.checksum` for the definition)."""
    h5py = h5py_module()
    parts: list[tuple[str, bytes]] = []
    for name in FRAME_ARRAYS:
        parts.append((f"frames/{name}", _ck.hash_rows(f["frames"][name], f0, f1)))
    for name in CLIP_ARRAYS:
        parts.append((f"clips/{name}", _ck.hash_rows(f["clips"][name], c0, c1)))
    for name in CLIP_STRINGS:
        d = string_rows_digest(f["clips"][name], c0, c1)
        parts.append((f"clips/{name}", d if d is not None else _ck.hash_array(np.zeros(0))))
    g = f["clips/labels"]
    for k in sorted(g.keys()):
        d = string_rows_digest(g[k], c0, c1)
        if d is not None:
            parts.append((f"clips/labels/{k}", d))
    g = f["frames/labels"]
    for k in sorted(g.keys()):
        obj = g[k]
        if isinstance(obj, h5py.Group):
            d = string_rows_digest(obj, f0, f1)
        else:
            vals = obj[f0:f1]
            d = None if np.isnan(vals).all() else _ck.hash_array(vals)
        if d is not None:
            parts.append((f"frames/labels/{k}", d))
    return _ck.combine(parts)



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
    with open_h5(path) as f:
        version = check_format(f, path, allow_older=True)
    if version == FORMAT_VERSION:
        return False
    missing = [v for v in range(version, FORMAT_VERSION) if v not in _UPGRADES]
    if missing:
        raise FileFormatError(path, f"no upgrade path from corpus format {version} to {FORMAT_VERSION} (format "
                                    f"{missing[0]} was never released); re-ingest the sources")
    target = AtomicFile(path, copy_existing=True)
    try:
        with h5py_module().File(target.tmp, "r+") as f:
            for v in range(version, FORMAT_VERSION):
                _UPGRADES[v](f)
                f.attrs["format_version"] = v + 1
            f.attrs["updated"] = now_iso()
            f.attrs["updated_by"] = f"posesearch {posesearch_version()}"
    except BaseException:
        target.abort()
        raise
    target.commit()
    return True

