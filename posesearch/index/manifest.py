"""The manifest of a sharded index: its file format, the shards it lists, and the checks a shard file must
pass against it (see :mod:`posesearch.index.sharded` for the sharded index itself).

The manifest (format ``posesearch-shards``, version :data:`FORMAT_VERSION`) is an HDF5 file of attributes
only: ``format``, ``format_version``, ``metric``, ``backend``, ``backend_params`` (JSON), ``normalization``
(JSON), ``layout``, ``dimension``, ``count`` (frames indexed), ``corpus_path`` / ``corpus_relpath`` /
``corpus_checksum`` / ``corpus_frames``, ``shards`` (JSON: per shard its ``file`` (beside the manifest),
``checksum`` (the shard file's own SHA-256), ``count``, ``frame_start`` / ``frame_stop`` (its corpus frame
range), ``size_bytes``), ``created``, ``created_by`` and ``checksum`` (SHA-256 over the other attributes).
Written atomically (:mod:`posesearch.files`). This module does not import the Index.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from ..errors import ChecksumError, FileFormatError, PoseSearchError
from ..files import check_header, open_h5, read_attrs, write_h5_atomic
from .fileformat import CHECKSUM_ATTR, compute_checksum, read_index_attrs

FORMAT_NAME = "posesearch-shards"
FORMAT_VERSION = 1
JSON_ATTRS = ("backend_params", "normalization", "shards")
EXECUTIONS = ("auto", "local", "ray")
CLUSTER_HINT = 'pip install "posesearch[cluster]" (from a checkout: pip install -e ".[cluster]")'


class ShardUnavailableError(PoseSearchError):
    """A shard did not answer a query (its actor died or its search failed) and partial answers were not
    allowed."""


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """One shard as the manifest records it."""

    file: str            #: file name, beside the manifest
    checksum: str        #: the shard file's own ``checksum`` attribute (SHA-256 of its content)
    count: int           #: frames it indexes
    frame_start: int     #: its corpus frame range start:stop
    frame_stop: int
    size_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- manifest file

def is_manifest(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an HDF5 file whose ``format`` is a sharded-index manifest (False for anything
    else, including unreadable files: the index reader then reports what is wrong with them)."""
    try:
        f = open_h5(Path(path), kind="index")
    except (PoseSearchError, OSError):
        return False
    try:
        fmt = f.attrs.get("format")
    except Exception:
        return False
    finally:
        f.close()
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    return fmt == FORMAT_NAME


def shard_file_name(manifest: Path, i: int, n: int) -> str:
    return f"{manifest.stem}.shard{i:03d}-of-{n:03d}.h5"


def write_manifest(path: Path, attrs: dict[str, Any]) -> Path:
    """Write a manifest atomically: ``attrs`` (JSON ones as Python values) plus format, version, checksum."""
    stored = {k: (json.dumps(v, sort_keys=True) if k in JSON_ATTRS else v) for k, v in attrs.items()}
    stored.update(format=FORMAT_NAME, format_version=FORMAT_VERSION)
    stored[CHECKSUM_ATTR] = compute_checksum(stored, {})
    return write_h5_atomic(path, stored)


def read_manifest(path: str | os.PathLike, *, verify: bool = True) -> tuple[dict[str, Any], list[ShardInfo]]:
    """Read a manifest: (attributes, JSON decoded; its shards). ``verify``: check the version and checksum."""
    path = Path(path)
    f = open_h5(path, kind="index")
    try:
        raw = read_attrs(f, path, kind="sharded index manifest")
    finally:
        f.close()
    check_header(path, raw, kind="sharded index manifest", format_name=FORMAT_NAME, newest=FORMAT_VERSION,
                 oldest=1, version=verify, remake="rebuild it with `posesearch build CORPUS --shards N`",
                 older_fix="rebuild it with `posesearch build CORPUS --shards N`")
    if verify:
        stored = raw.get(CHECKSUM_ATTR)
        actual = compute_checksum(raw, {})
        if stored != actual:
            raise ChecksumError(path, f"manifest checksum mismatch (stored {str(stored)[:12]}..., computed "
                                      f"{actual[:12]}...): the manifest is corrupted or was modified; rebuild it "
                                      "with `posesearch build CORPUS --shards N`")
    attrs = dict(raw)
    for key in JSON_ATTRS:
        try:
            attrs[key] = json.loads(attrs[key])
        except KeyError:
            raise FileFormatError(path, f"damaged manifest: attribute {key!r} missing") from None
        except (TypeError, ValueError, RecursionError):
            raise FileFormatError(path, f"damaged manifest: attribute {key!r} is not valid JSON") from None
    for key in ("metric", "backend", "count"):
        if key not in attrs:
            raise FileFormatError(path, f"damaged manifest: attribute {key!r} missing")
    try:
        shards = [ShardInfo(**s) for s in attrs["shards"]]
    except TypeError as e:
        raise FileFormatError(path, f"damaged manifest: attribute 'shards' is not a list of shards ({e})") from None
    if not shards:
        raise FileFormatError(path, "damaged manifest: it lists no shards")
    return attrs, shards


def check_shard(manifest: Path, attrs: dict[str, Any], i: int, shard: ShardInfo) -> Path:
    """Check shard ``i``'s file against the manifest from its attributes (exists, metric, normalization,
    backend, corpus, count, frame range, checksum); returns its path. The content is verified against
    that checksum when the shard is loaded (:meth:`Index.load`)."""
    where = f"{manifest}: shard {i} ({shard.file})"
    path = manifest.parent / shard.file
    if not path.is_file():
        raise FileFormatError(manifest, f"shard {i} file {shard.file} is missing (expected at {path}); restore it or "
                                        "rebuild with `posesearch build CORPUS --shards N`")
    try:
        sa = read_index_attrs(path)
    except PoseSearchError as e:
        raise FileFormatError(where, f"cannot be read: {e}") from None
    for key, label in (("metric", "metric"), ("normalization", "normalization"), ("backend", "backend"),
                       ("corpus_checksum", "corpus checksum")):
        if sa.get(key) != attrs.get(key):
            raise FileFormatError(where, f"its {label} is {sa.get(key)!r:.80}, the manifest's is "
                                         f"{attrs.get(key)!r:.80}: it belongs to another index; rebuild the shards")
    if sa.get(CHECKSUM_ATTR) != shard.checksum:
        raise ChecksumError(where, f"checksum {str(sa.get(CHECKSUM_ATTR))[:12]}... differs from the manifest's "
                                   f"{shard.checksum[:12]}...: the shard was replaced or rebuilt since the manifest "
                                   "was written; rebuild with `posesearch build CORPUS --shards N`")
    if int(sa.get("count", -1)) != shard.count:
        raise FileFormatError(where, f"holds {sa.get('count')} frames, the manifest says {shard.count}")
    return path


