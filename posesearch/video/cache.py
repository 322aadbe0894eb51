"""The extraction cache: a video's landmarks, keyed by the file's content, in the per-user cache folder.

Running the pose model is the slow part (about 25 ms a frame); the same file (by SHA-256 of its bytes, so
a copy or a renamed file hits too) extracted again with the same model reads its landmarks back instead.
Entries live in ``cache_root()/video/`` (``$POSESEARCH_CACHE_DIR/video``, else e.g.
``~/.cache/posesearch/video``), one ``.npz`` each (written atomically): the raw BlazePose-33 landmarks in
pixels, the frame times and what the container said. An entry that cannot be read, or does not match its
key, is ignored and replaced; delete the folder to empty the cache.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from .._cache import cache_root

#: bumped when what an entry holds (or how it is extracted) changes: older entries are then not used
CACHE_VERSION = 1


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 (hex) of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def cache_dir() -> Path:
    return cache_root() / "video"


def entry_path(sha256: str, key: dict) -> Path:
    """The entry of a file (its SHA-256) extracted with ``key`` (model, version, mode: JSON-able)."""
    tag = hashlib.sha256(json.dumps({**key, "cache_version": CACHE_VERSION}, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"{sha256[:40]}-{tag[:16]}.npz"


def load(path: Path, sha256: str) -> tuple[np.ndarray, np.ndarray | None, dict] | None:
    """(landmarks (T, 33, 3), times (T,) or None, info dict) of an entry, or None when absent or unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(str(z["info"]))
            marks = np.asarray(z["landmarks"], dtype=np.float32)
            times = np.asarray(z["times"], dtype=np.float64) if "times" in z.files else None
    except Exception:   # noqa: BLE001 - a damaged or foreign entry is a cache miss, never an error
        return None
    ok = (isinstance(info, dict) and info.get("sha256") == sha256 and marks.ndim == 3 and marks.shape[1:] == (33, 3)
          and (times is None or times.shape == (len(marks),)))
    return (marks, times, info) if ok else None


def store(path: Path, landmarks: np.ndarray, times: np.ndarray | None, info: dict) -> bool:
    """Write an entry atomically; False (nothing written) when the cache folder cannot be written."""
    from ..errors import PoseSearchError
    from ..files import atomic_write

    arrays = {"landmarks": np.asarray(landmarks, dtype=np.float32), "info": np.array(json.dumps(info))}
    if times is not None:
        arrays["times"] = np.asarray(times, dtype=np.float64)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except (OSError, PoseSearchError):   # a read-only cache, or another process writing this entry
        return False
    return True
