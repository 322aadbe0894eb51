"""The index file: one self-describing HDF5 file.

Layout (format ``posesearch-index``, version :data:`FORMAT_VERSION`)::

    /frame_ids        int64 (M,)     corpus frame id of each indexed row
    /vectors          float32 (M, 34) the indexed vectors as the metric uses them (normalized Move
                                      Mirror vectors for ``weighted``, unit vectors for ``cosine``)
    /backend/<name>   the backend's own arrays (VP-tree arrays, FAISS's serialized index as uint8, ...)

Root attributes: ``format``, ``format_version``, ``backend``, ``backend_params`` (JSON), ``metric``,
``normalization`` (JSON), ``layout``, ``dimension``, ``count``, ``corpus_path``, ``corpus_checksum``,
``created_by``, ``created``, and ``checksum``: SHA-256 over every dataset (name, dtype, shape, bytes, in
name order) followed by the canonical JSON of every other attribute. Datasets are stored contiguous and
uncompressed so the checksum covers exactly the bytes the backends receive.

Reading checks, in order: the file is HDF5 (else "not an HDF5 file" / "truncated"), its ``format`` is
ours, its version is supported (1 to :data:`FORMAT_VERSION`; else a message with the upgrade path), and
the checksum matches — all before any byte reaches FAISS or numba. Writes are atomic (temporary file,
fsync, ``os.replace``).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ChecksumError, FileFormatError
from ..files import check_header, open_h5, read_attrs, write_h5_atomic

FORMAT_NAME = "posesearch-index"
FORMAT_VERSION = 2
#: The oldest version read. 2 added the VP-tree's groups of identical rows (``backend/group_start``); a
#: version 1 file has the same layout without them and loads as is (each row its own group).
OLDEST_READABLE_VERSION = 1
CHECKSUM_ATTR = "checksum"
JSON_ATTRS = ("backend_params", "normalization")
_ALLOWED_KINDS = "fiu"


def _canonical_attrs(attrs: dict[str, Any]) -> bytes:
    plain = {k: v for k, v in attrs.items() if k != CHECKSUM_ATTR}
    return json.dumps(plain, sort_keys=True, default=str).encode()


def c_array(a) -> np.ndarray:
    """``a`` as a C-contiguous array, keeping 0-d arrays 0-d (np.ascontiguousarray makes them 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else a.copy(order="C")


def compute_checksum(attrs: dict[str, Any], arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 (hex) over the datasets (in name order) and the non-checksum attributes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = c_array(arrays[name])
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(memoryview(a.reshape(-1).view(np.uint8)))
    h.update(_canonical_attrs(attrs))
    return h.hexdigest()


def write_index_file(path: str | os.PathLike, attrs: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write datasets and attributes atomically; adds ``format``, ``format_version`` and ``checksum``."""
    path = Path(path)
    attrs = {**attrs, "format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    for name, a in arrays.items():
        if a.dtype.kind not in _ALLOWED_KINDS:
            raise TypeError(f"index dataset {name}: dtype {a.dtype} not storable (numbers only)")
    attrs[CHECKSUM_ATTR] = compute_checksum(attrs, arrays)
    return write_h5_atomic(path, attrs, arrays)


def _open(path: Path):
    return open_h5(path, kind="index")


def _read_attrs(f, path: Path) -> dict[str, Any]:
    """The root attributes as plain values (JSON ones still text: :func:`_decode_json_attrs`)."""
    return read_attrs(f, path, kind="index file")


def _check_header(path: Path, attrs: dict[str, Any], *, version: bool = True) -> None:
    check_header(path, attrs, kind="index", format_name=FORMAT_NAME, newest=FORMAT_VERSION,
                 oldest=OLDEST_READABLE_VERSION, version=version, remake="rebuild it with `posesearch build`",
                 older_fix="rebuild it with `posesearch build CORPUS`",
                 foreign_hints={"posesearch-corpus": "; build an index from it with `posesearch build`"})


def read_index_attrs(path: str | os.PathLike, *, check_version: bool = True) -> dict[str, Any]:
    """The root attributes (JSON attributes decoded), without reading or verifying any dataset."""
    path = Path(path)
    f = _open(path)
    try:
        attrs = _read_attrs(f, path)
    finally:
        f.close()
    _check_header(path, attrs, version=check_version)
    _decode_json_attrs(path, attrs)
    return attrs


def _decode_json_attrs(path: Path, attrs: dict[str, Any]) -> None:
    """Decode the JSON attributes in place: each must be a JSON object (one-line error otherwise)."""
    for key in JSON_ATTRS:
        if key not in attrs:
            continue
        val = attrs[key]
        if isinstance(val, str):
            try:
                val = json.loads(val)
            except (ValueError, RecursionError):
                raise FileFormatError(path, f"damaged index file: attribute {key} is not valid JSON "
                                            f"(found {attrs[key][:40]!r})") from None
        if not isinstance(val, dict):
            raise FileFormatError(path, f"damaged index file: attribute {key} must be a JSON object, found "
                                        f"{type(val).__name__}")
        attrs[key] = val


def read_index_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an index file: (attributes with JSON decoded, {dataset name: array})."""
    import h5py

    path = Path(path)
    f = _open(path)
    try:
        raw_attrs = _read_attrs(f, path)
        _check_header(path, raw_attrs)
        arrays: dict[str, np.ndarray] = {}
        names: list[str] = []
        try:
            f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
            for name in names:
                arrays[name] = np.asarray(f[name][()])
        except Exception as e:
            raise FileFormatError(path, "damaged index file: cannot read dataset(s) "
                                  f"({type(e).__name__}: {e})") from None
    finally:
        f.close()
    stored = raw_attrs.get(CHECKSUM_ATTR)
    if not isinstance(stored, str):
        raise FileFormatError(path, "index file has no checksum attribute; rebuild it with `posesearch build`")
    for name, a in arrays.items():
        if a.dtype.kind not in _ALLOWED_KINDS:
            raise FileFormatError(path, f"damaged index file: dataset {name} has dtype {a.dtype}")
    actual = compute_checksum(raw_attrs, arrays)
    if actual != stored:
        raise ChecksumError(path, f"checksum mismatch (stored sha256 {stored[:12]}..., computed {actual[:12]}...): "
                            "the index file is corrupted or was modified; rebuild it with `posesearch build`")
    attrs = dict(raw_attrs)
    _decode_json_attrs(path, attrs)
    return attrs, arrays


def search_settings(attrs: dict[str, Any]) -> dict[str, Any]:
    """The search settings an index file's queries use, automatic values spelled out (``{}`` if the
    backend has none or the file does not say): from the backend's ``search_settings(params, metric)``."""
    from .registry import get_backend_spec

    params, metric = attrs.get("backend_params"), attrs.get("metric")
    try:
        bcls = get_backend_spec(str(attrs.get("backend"))).load()
    except Exception:
        return {}
    fn = getattr(bcls, "search_settings", None)
    if fn is None or not isinstance(params, dict) or metric not in ("weighted", "cosine", "view"):
        return {}
    try:
        return fn(params, metric)
    except (TypeError, ValueError, KeyError):   # damaged parameters: loading the index reports them
        return {}


RECALL_HOW = ("measured at build: the index's own corpus frames as queries, keypoints jittered, joints dropped and "
              "confidences drawn like a pose estimator's, against brute force")


def build_recall(attrs: dict[str, Any]) -> dict[str, Any]:
    """What an index file says about its recall: exact backends are exact; approximate ones carry the
    recall@k measured when they were built (``Index.build``), or say that it was not measured."""
    from .registry import get_backend_spec

    params = attrs.get("backend_params") if isinstance(attrs.get("backend_params"), dict) else {}
    try:
        spec = get_backend_spec(str(attrs.get("backend")))
    except Exception:
        return {}
    if spec.load().exact_for(str(attrs.get("metric")), params):
        return {"exact": True}
    keys = [k for k in attrs if k.startswith("build_recall_at_")]
    if not keys:
        return {"exact": False, "measured": False}
    k = keys[0]
    return {"exact": False, "measured": True, "k": int(k.rsplit("_", 1)[1]), "recall": attrs[k],
            "queries": attrs.get("build_recall_queries"), "how": RECALL_HOW}


def describe(path: str | os.PathLike, *, verify: bool = False) -> dict[str, Any]:
    """``posesearch info`` for an index file: its attributes; ``verify`` also reads every dataset and
    checks the checksum (and the format version)."""
    import time

    path = Path(path)
    out = read_index_attrs(path, check_version=False)
    out["path"] = str(path)
    out["size_bytes"] = path.stat().st_size
    search = search_settings(out)
    if search:
        out["search"] = search
    out["recall"] = build_recall(out)
    if verify:
        t0 = time.perf_counter()
        _, arrays = read_index_file(path)
        out["verified"] = {"checksum": out.get(CHECKSUM_ATTR), "datasets": len(arrays),
                           "bytes": int(sum(a.nbytes for a in arrays.values())),
                           "seconds": round(time.perf_counter() - t0, 3)}
    return out
