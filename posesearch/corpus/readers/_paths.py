"""Path expansion shared by the readers: files as given, folders replaced by their matching files."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ...errors import FileFormatError, InvalidArgumentError
from ...safeio import load_json as _load_json
from ...safeio import regular_file


def as_path_list(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    out = [Path(p) for p in paths]
    if not out:
        raise InvalidArgumentError("paths: expected at least one file or folder, got none")
    return out


def expand(paths, patterns: Iterable[str], what: str) -> list[Path]:
    """Each file as given (it must exist); each folder replaced by its files matching ``patterns``
    (not recursive, sorted). An empty folder or a missing path is a FileFormatError."""
    patterns = tuple(patterns)
    out: list[Path] = []
    for p in as_path_list(paths):
        if p.is_dir():
            found = sorted({f for pat in patterns for f in p.glob(pat) if f.is_file()})
            if not found:
                raise FileFormatError(p, f"folder has no {what} ({' or '.join(patterns)})")
            out.extend(found)
        elif p.exists():
            out.append(regular_file(p, what=f"file of {what}"))   # FIFOs, devices: refused, never read
        else:
            raise FileFormatError(p, "no such file or folder")
    return out


def expand_unique_stems(paths, patterns: Iterable[str], what: str) -> list[Path]:
    """:func:`expand`, refusing two files of the same stem (in different folders or with different suffixes):
    readers of one clip per file name the clip by the stem, so both would get the same clip id."""
    files = expand(paths, patterns, what)
    stems = [p.stem for p in files]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InvalidArgumentError(f"two {what} named {dup!r} (in different folders or with different suffixes) "
                                   f"would get the same clip id; ingest them separately with --prefix")
    return files


def load_json(path: Path):
    """Parse a JSON file with :func:`posesearch.safeio.load_json` (regular file of bounded size; truncated,
    malformed, too deep or out-of-range JSON is a one-line FileFormatError)."""
    return _load_json(path)
