"""Path expansion shared by the readers: files as given, folders replaced by their matching files."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from ...errors import FileFormatError, InvalidArgumentError


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
        elif p.is_file():
            out.append(p)
        else:
            raise FileFormatError(p, "no such file or folder")
    return out


def load_json(path: Path):
    """Parse a JSON file; truncated or malformed JSON is a one-line FileFormatError."""
    import json

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as e:
        raise FileFormatError(path, f"cannot read: {e.strerror or e}") from None
    if not raw.strip():
        raise FileFormatError(path, "empty file, expected JSON")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise FileFormatError(path, "not a JSON file (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        problem = "truncated JSON" if e.pos >= len(raw.rstrip()) else "malformed JSON"
        raise FileFormatError(path, f"{problem}: {e.msg} at line {e.lineno} column {e.colno}") from None
