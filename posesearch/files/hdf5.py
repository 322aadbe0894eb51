"""Opening and checking posesearch HDF5 files (corpora and indexes): the one opener, the one attribute
reader, the one header check, and the version stamp every file carries.

The layouts of the two files stay with their packages (:mod:`posesearch.corpus.fileformat`,
:mod:`posesearch.index.fileformat`); what they share is here, so every file is refused with the same
wording: ``is a folder``, ``truncated``, ``not a posesearch <kind>``, ``<kind> format version N (written
by ...) is newer / older than this posesearch reads``.
"""
from __future__ import annotations

import json
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .._version import __version__
from ..errors import FileFormatError
from ..safeio import file_stat

__all__ = ["MADE_BY", "open_h5", "h5py_module", "plain", "read_attrs", "attr_str", "check_header",
           "posesearch_version", "made_by", "now_iso"]


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second (``created`` / ``updated`` attributes)."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def posesearch_version() -> str:
    """This posesearch's version (``posesearch.__version__``)."""
    return __version__


def made_by() -> str:
    """The ``created_by`` / ``updated_by`` stamp of files this posesearch writes: ``posesearch X.Y.Z``."""
    return f"posesearch {posesearch_version()}"


def h5py_module():
    """h5py, imported on first use (``import posesearch`` stays light)."""
    import h5py

    return h5py


#: what each posesearch HDF5 file is made by, for the messages of :func:`open_h5`
MADE_BY = {"corpus": "`posesearch ingest`", "index": "`posesearch build`",
           "posesearch": "`posesearch ingest` or `posesearch build`"}
#: What a file of each kind is called in messages ("posesearch" is either kind, e.g. for `posesearch info`).
KIND_NAME = {"corpus": "posesearch corpus", "index": "posesearch index", "posesearch": "posesearch corpus or index"}


def open_h5(path: Path, mode: str = "r", *, kind: str = "corpus", **kwargs):
    """Open a posesearch HDF5 file (``kind``: corpus, index, or "posesearch" for either), every failure a
    one-line FileFormatError: missing, a folder, not a regular file (a FIFO would block), truncated, not
    HDF5, damaged. The one opener of corpus and index files (and of ``posesearch info``)."""
    h5py = h5py_module()
    path = Path(path)
    st = file_stat(path)
    article = "an" if kind[:1] in "aeiou" else "a"
    if stat.S_ISDIR(st.st_mode):
        raise FileFormatError(path, f"is a folder, expected {article} {kind} file")
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
            raise FileFormatError(path, f"truncated {KIND_NAME.get(kind, kind)} file ({st.st_size} bytes; {detail}); make it again with "
                                        f"{by}") from None
        if "signature" in msg or st.st_size < 8:
            what = KIND_NAME.get(kind, f"posesearch {kind}")
            raise FileFormatError(path, f"not a readable HDF5 file (not an HDF5 file at all; expected a {what} "
                                        f"made by {by})") from None
        raise FileFormatError(path, f"not a readable HDF5 file (damaged or another format: {first})") from None


def plain(v: Any) -> Any:
    """An HDF5 attribute value as a plain Python value: bytes -> str, numpy scalar -> its item, array -> list."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return v


def attr_str(f, name: str, default=None):
    """One attribute of an open file, bytes decoded (``default`` when absent)."""
    v = f.attrs.get(name, default)
    if isinstance(v, bytes):
        v = v.decode("utf-8", "replace")
    return v


def read_attrs(f, path: Path | None = None, *, kind: str = "file", json_keys: Iterable[str] = ()) -> dict[str, Any]:
    """The root attributes of an open file as plain values (:func:`plain`); those in ``json_keys`` are
    decoded from JSON when they parse (left as text otherwise). Unreadable attribute storage (or a type
    h5py cannot map) and a name that is not text are a one-line FileFormatError ("damaged <kind>: ...")."""
    where = path if path is not None else f.filename
    try:
        items = list(f.attrs.items())
    except Exception as e:   # damaged attribute storage, or a type h5py cannot map (TypeError, KeyError, ...)
        raise FileFormatError(where, f"damaged {kind}: cannot read its attributes ({type(e).__name__}: "
                                     f"{str(e).splitlines()[0] if str(e) else ''})") from None
    json_keys = set(json_keys)
    out: dict[str, Any] = {}
    for k, v in items:
        if not isinstance(k, str):
            raise FileFormatError(where, f"damaged {kind}: attribute name {k!r:.40} is not text")
        v = plain(v)
        if k in json_keys and isinstance(v, str):
            try:
                v = json.loads(v)
            except (ValueError, RecursionError):
                pass
        out[k] = v
    return out


def check_header(path: Path, attrs: dict[str, Any], *, kind: str, format_name: str, newest: int, oldest: int,
                 version: bool = True, remake: str, older_fix: str,
                 foreign_hints: dict[str, str] | None = None) -> int | None:
    """Check the ``format`` and ``format_version`` attributes of a posesearch ``kind`` file (corpus, index).

    The format must be ``format_name`` (``foreign_hints``: a hint appended when it is another known
    format); with ``version``, the version must be an integer in ``oldest..newest``. ``remake`` says how to
    make the file again with this posesearch (``rebuild it with `posesearch build```), ``older_fix`` what
    to do with an older file. Returns the version (None without ``version``)."""
    fmt = attrs.get("format")
    if fmt != format_name:
        if fmt is None:
            raise FileFormatError(path, f"not a posesearch {kind} (HDF5 file without a 'format' attribute; "
                                        f"expected format {format_name!r})")
        hint = (foreign_hints or {}).get(fmt, "") if isinstance(fmt, str) else ""
        raise FileFormatError(path, f"not a posesearch {kind} (its format is {fmt!r:.60}, expected "
                                    f"{format_name!r}){hint}")
    if not version:
        return None
    ver = attrs.get("format_version")
    if isinstance(ver, (bool, np.bool_)) or not isinstance(ver, (int, np.integer)):
        raise FileFormatError(path, f"{kind} has no valid format_version (found {ver!r:.40}); {remake}")
    ver = int(ver)
    by = attrs.get("created_by") or "an unknown version"
    readable = f"{oldest} to {newest}" if oldest < newest else f"{newest}"
    if ver > newest:
        raise FileFormatError(path, f"{kind} format version {ver} (written by {by}) is newer than this posesearch "
                                    f"reads ({readable}); upgrade posesearch (pip install -U posesearch), or "
                                    f"{remake} using this version")
    if ver < oldest:
        raise FileFormatError(path, f"{kind} format version {ver} (written by {by}) is older than this posesearch "
                                    f"reads ({readable}); {older_fix}")
    return ver


def write_h5_atomic(path: str | Path, attrs: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write an HDF5 file of ``arrays`` (datasets, in name order, C-contiguous) and ``attrs`` atomically: into a
    temporary file beside ``path``, renamed over it only when complete (:class:`.atomic.AtomicFile`)."""
    import h5py

    from .atomic import atomic_target

    with atomic_target(path) as tmp, h5py.File(tmp, "w") as f:
        for name in sorted(arrays or {}):
            a = np.asarray(arrays[name])
            f.create_dataset(name, data=a if a.flags.c_contiguous else a.copy(order="C"))
        for key, val in attrs.items():
            f.attrs[key] = val
    return Path(path)
