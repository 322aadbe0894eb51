"""The corpus checksum: a SHA-256 chain over append blocks.

Every append (one writer session) adds a *block* of frame rows ``[f0, f1)`` and clip rows
``[c0, c1)``. Its digest is

    D = sha256( for each part p in a fixed order:  name(p) || 0x00 || sha256(bytes of p's rows) )

over the block's rows of the frame arrays (keypoints, confidences, vectors, valid, clip index, frame,
time), the clip table (start, stop, fps, clip id, source layout, source file) and the label columns
that hold at least one value in the block (so adding a new label key later, which back-fills old rows
with "no value", leaves old block digests unchanged). Bytes are little-endian in C order; strings are
their UTF-8 bytes plus their lengths. The corpus checksum is the chain

    C_0 = sha256("posesearch-corpus checksum chain v1"),   C_b = sha256(C_{b-1} as hex || D_b)

(hex digests), so an append hashes only its new rows while the final value still covers every byte
of data. ``Corpus.verify()`` recomputes every D_b from the arrays and compares each C_b.
"""
from __future__ import annotations

import hashlib

import numpy as np

ALGORITHM = "sha256-block-chain-v1"
SEED = hashlib.sha256(b"posesearch-corpus checksum chain v1").hexdigest()
SLAB_BYTES = 16 << 20


def chain(previous: str, block_digest: bytes) -> str:
    """Next chain value from the previous one (hex) and a block digest (raw bytes)."""
    return hashlib.sha256(previous.encode("ascii") + block_digest).hexdigest()


def combine(parts: list[tuple[str, bytes]]) -> bytes:
    """Block digest from ``(name, sha256 digest)`` parts, in the order given."""
    h = hashlib.sha256()
    for name, digest in parts:
        h.update(name.encode("utf-8") + b"\x00" + digest)
    return h.digest()


def _le_bytes(a: np.ndarray) -> memoryview:
    a = np.ascontiguousarray(a)
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and np.little_endian is False):
        a = a.astype(a.dtype.newbyteorder("<"))
    return memoryview(a).cast("B")


def hash_rows(ds, start: int, stop: int) -> bytes:
    """sha256 of rows ``start:stop`` of a dataset (read in slabs of about 16 MB)."""
    h = hashlib.sha256()
    row_bytes = max(1, int(np.prod(ds.shape[1:], dtype=np.int64)) * ds.dtype.itemsize)
    step = max(1, SLAB_BYTES // row_bytes)
    for a in range(start, stop, step):
        h.update(_le_bytes(ds[a:min(stop, a + step)]))
    return h.digest()


def hash_array(a: np.ndarray) -> bytes:
    return hashlib.sha256(_le_bytes(a)).digest()
