"""The corpus file format: every frame of every clip in COCO-17, its normalized vector, and its metadata (HDF5).

Layout of a corpus file (format ``posesearch-corpus``, version 2)::

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
    /frames/points3d        (N, 17, 3) float32  3D joints in COCO-17 (world: Y up, the subject facing +Z at
                                                yaw 0; metres for motion capture), NaN where the source has
                                                none (every frame of 2D-only sources). Since version 2.
    /frames/labels/<key>               per-frame labels: float64 (N, ...) dataset (NaN = none; e.g. a
                                       bounding box per frame is (N, 4)) or a string column
    /clips/start, stop      (M,)       int64    frame rows [start, stop) of each clip
    /clips/fps              (M,)       float64  NaN = unknown
    /clips/clip_id, layout, source     string columns (see columns.py): id, source layout, source file
    /clips/labels/<key>                string columns; "" = the clip has no such label
    /blocks/rows            (B, 4)     int64    [frame start, frame stop, clip start, clip stop] per append
    /blocks/checksum                   string column: checksum chain value after each append

Versions. 1: the first released format. 2 adds ``/frames/points3d`` (issue 20: references with 3D joints,
whose camera the scorer fits to the user's). Version 1 files are read as they are (no 3D joints);
appending to one upgrades the appended copy first (the new column filled with NaN), and
:func:`upgrade` converts one in place. The upgrade leaves every checksum valid: a block's digest covers
``points3d`` only when the block holds a 3D joint (as with label columns), so an all-NaN column adds nothing.

Arrays are chunked (512 frame rows, see :mod:`.columns`) and gzip-1 compressed, so a slice or a clip
reads only the chunks it touches. Every write goes to a temporary file that replaces the corpus
atomically (appends start from a byte copy, so existing data are not re-encoded); see :mod:`posesearch.files`,
:mod:`.writer` and :mod:`.checksum`. Opening checks the format, version and structure (cheap);
``Corpus.verify()`` recomputes the checksum from the data and re-derives every vector and ``valid`` flag
from the keypoints (``Corpus.check_vectors``); ``Index.build`` runs it before indexing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import FileFormatError
from ..files import AtomicFile, attr_str, check_header, h5py_module, made_by, now_iso, open_h5, read_attrs
from ..text import plural
from . import checksum as _ck
from . import columns as _col

FORMAT_NAME = "posesearch-corpus"
FORMAT_VERSION = 2
#: the oldest version read (as it is; appends and :func:`upgrade` convert it)
READ_OLDEST = 1
LAYOUT = "coco17"
NUM_KEYPOINTS = 17

FRAME_ARRAYS = ("keypoints", "confidences", "vectors", "valid", "clip_index", "frame", "time")
#: frame arrays a file may lack (version 1 files): name -> (dtype, inner shape)
OPTIONAL_FRAME_ARRAYS = {"points3d": (np.float32, (NUM_KEYPOINTS, 3))}
CLIP_ARRAYS = ("start", "stop", "fps")
CLIP_STRINGS = ("clip_id", "layout", "source")


#: root attributes stored as JSON text
JSON_ATTRS = ("normalization", "source_layouts", "joints")


# --- open / check (the shared parts are in posesearch.files) ------------------------------------------

def open_corpus_file(path: Path, mode: str = "r"):
    """:func:`open_h5` of a corpus, then :func:`check_format` and :func:`check_structure` (the file is closed
    again if a check fails). Used by ``Corpus.open`` and by the writer to read the copy it appends to."""
    f = open_h5(path, mode)
    try:
        version = check_format(f, path)
        check_structure(f, path, version)
    except BaseException:
        f.close()
        raise
    return f


def check_format(f, path: Path, *, allow_older: bool = False) -> int:
    """Check that an open HDF5 file is a posesearch corpus this version can read (an older one too with
    ``allow_older``, for :func:`upgrade`); returns its version."""
    try:
        header = {k: attr_str(f, k) for k in ("format", "format_version", "created_by")}
    except Exception as e:   # damaged attribute storage
        raise FileFormatError(path, f"damaged corpus: cannot read its format attributes ({type(e).__name__})") from None
    ver = header["format_version"]
    older_ok = allow_older and isinstance(ver, (int, np.integer)) and not isinstance(ver, (bool, np.bool_))
    return check_header(path, header, kind="corpus", format_name=FORMAT_NAME, newest=FORMAT_VERSION,
                        oldest=min(int(ver), READ_OLDEST) if older_ok else READ_OLDEST,
                        remake="re-ingest the sources",
                        older_fix=f"convert it with posesearch.corpus.upgrade({str(path)!r})")


def check_structure(f, path: Path, version: int = FORMAT_VERSION) -> None:
    """Cheap consistency checks on open: datasets present (those of its ``version``), lengths agree with each
    other and the attributes."""
    try:
        fr, cl = f["frames"], f["clips"]
        n, m = (_count_attr(f, path, name) for name in ("num_frames", "num_clips"))
        for name in FRAME_ARRAYS:
            if fr[name].shape[0] != n:
                raise FileFormatError(path, f"damaged corpus: /frames/{name} has {fr[name].shape[0]} rows, "
                                            f"the file says {plural(n, 'frame')}")
        if fr["keypoints"].shape[1:] != (NUM_KEYPOINTS, 2) or fr["vectors"].shape[1:] != (2 * NUM_KEYPOINTS,):
            raise FileFormatError(path, "damaged corpus: keypoint arrays are not COCO-17 shaped")
        for name, (_, inner) in OPTIONAL_FRAME_ARRAYS.items():
            if name not in fr and version >= 2:
                raise FileFormatError(path, f"damaged corpus: missing frames/{name} (format {version} has it)")
            if name in fr and fr[name].shape != (n,) + inner:
                raise FileFormatError(path, f"damaged corpus: /frames/{name} has shape {fr[name].shape}, expected "
                                            f"{(n,) + inner}")
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
        _check_layout_attrs(f, path)
    except KeyError as e:
        raise FileFormatError(path, f"damaged corpus: missing {e.args[0] if e.args else 'a dataset'}") from None



def _check_layout_attrs(f, path: Path) -> None:
    """The layout attributes say what the arrays hold: COCO-17 joints in COCO order. A file that says another
    layout or other joints is not read as COCO-17 (its vectors would be compared joint by joint with others)."""
    from ..poses.layouts import COCO17_JOINTS

    layout = attr_str(f, "layout")
    if layout != LAYOUT:
        raise FileFormatError(path, f"damaged corpus: attribute layout must be {LAYOUT!r} (corpora store COCO-17), "
                                    f"found {layout!r:.40}")
    joints = attr_str(f, "joints")
    try:
        names = json.loads(joints) if isinstance(joints, str) else None
    except ValueError:
        names = None
    if names != list(COCO17_JOINTS):
        raise FileFormatError(path, f"damaged corpus: attribute joints must list the 17 COCO joints in COCO order, "
                                    f"found {joints!r:.60}")


def _count_attr(f, path: Path, name: str) -> int:
    v = f.attrs[name]
    if isinstance(v, np.ndarray) and v.shape in ((), (1,)):
        v = v.reshape(-1)[0]
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) or int(v) < 0:
        raise FileFormatError(path, f"damaged corpus: attribute {name} must be a count (integer >= 0), found {v!r:.40}")
    return int(v)


def parse_attrs(f, path: Path | None = None) -> dict:
    """The root attributes as plain values (JSON ones decoded); unreadable ones are a FileFormatError."""
    return read_attrs(f, path, kind="corpus", json_keys=JSON_ATTRS)



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
    for name in OPTIONAL_FRAME_ARRAYS:     # only blocks that hold values (so upgrading changes no digest)
        if name in f["frames"]:
            vals = f["frames"][name][f0:f1]
            if not np.isnan(vals).all():
                parts.append((f"frames/{name}", _ck.hash_array(vals)))
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

def add_optional_arrays(f) -> None:
    """Create the optional frame arrays a file lacks, filled with NaN for its existing frames."""
    fr = f["frames"]
    n = fr["keypoints"].shape[0]
    for name, (dtype, inner) in OPTIONAL_FRAME_ARRAYS.items():
        if name not in fr:
            ds = _col.create_array(fr, name, dtype, inner, _col.FRAME_CHUNK)
            if n:
                ds.resize(n, axis=0)
                ds[...] = np.nan


#: In-place upgrade steps: ``_UPGRADES[v](h5file)`` turns format v into v + 1.
#: 1 -> 2: the /frames/points3d column (NaN: version 1 sources had no 3D joints); digests unchanged.
_UPGRADES: dict[int, Callable[[Any], None]] = {1: add_optional_arrays}


def upgrade_open(f) -> int:
    """Run the upgrade steps on an open, writable corpus (a writer's copy); returns the version it had."""
    version = int(f.attrs["format_version"])
    for v in range(version, FORMAT_VERSION):
        _UPGRADES[v](f)
        f.attrs["format_version"] = v + 1
    return version


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
            f.attrs["updated_by"] = made_by()
    except BaseException:
        target.abort()
        raise
    target.commit()
    return True

