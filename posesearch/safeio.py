"""Reading user-supplied input files safely: one place for the checks every reader needs.

* :func:`regular_file` — the path must be an existing *regular* file (not a folder, FIFO, device or
  socket: a FIFO would block forever and ``/dev/zero`` never ends) no larger than a size limit;
* :func:`read_bytes` — its bytes, read with that check;
* :func:`load_json` / :func:`parse_json` — JSON with one rule for numbers: an integer or decimal that
  does not fit a finite float (``1e400``, 10^400) is refused, and nesting too deep for the parser is a
  one-line error, not a RecursionError; ``NaN``/``Infinity`` literals are parsed as floats and left to
  the reader's own checks;
* :func:`load_npy` / :func:`load_npz` — NumPy files read eagerly (truncated or foreign archives become
  one-line errors, never ``BadZipFile`` or ``EOFError``), no pickles;
* :func:`check_real_array` / :func:`is_number` — "a number" means a real int or float: booleans,
  numeric strings, complex values and objects are refused, never coerced.

Every problem is a :class:`~posesearch.errors.FileFormatError` naming the file.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .errors import FileFormatError

#: Largest input file read (bytes). The biggest real source, COCO train keypoints, is ~240 MB.
MAX_INPUT_BYTES = 2 << 30
#: Largest single-pose or pose-sequence file (bytes): an hour of 60 fps BODY_25 JSON is ~200 MB.
MAX_POSE_FILE_BYTES = 512 << 20

_KINDS = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO (named pipe)", stat.S_ISCHR: "a character device",
          stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}


def file_stat(path: Path) -> os.stat_result:
    """``path.stat()`` (links followed); a missing or unreadable path is a one-line FileFormatError."""
    try:
        return path.stat()
    except FileNotFoundError:
        raise FileFormatError(path, "no such file") from None
    except OSError as e:
        raise FileFormatError(path, f"cannot read: {e.strerror or e}") from None


def regular_file(path, *, what: str = "file", max_bytes: int = MAX_INPUT_BYTES) -> Path:
    """``path`` as a Path if it is an existing regular file (links followed) of at most ``max_bytes``."""
    p = Path(path)
    st = file_stat(p)
    if not stat.S_ISREG(st.st_mode):
        kind = next((k for test, k in _KINDS.items() if test(st.st_mode)), "not a regular file")
        raise FileFormatError(p, f"is {kind}, expected a {what}")
    if st.st_size > max_bytes:
        raise FileFormatError(p, f"too large: {st.st_size:,} bytes, the limit for a {what} is {max_bytes:,}")
    return p


def read_bytes(path, *, what: str = "file", max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """The content of a regular file of at most ``max_bytes`` (checked again while reading)."""
    p = regular_file(path, what=what, max_bytes=max_bytes)
    try:
        with open(p, "rb") as fh:
            raw = fh.read(max_bytes + 1)
    except OSError as e:
        raise FileFormatError(p, f"cannot read: {e.strerror or e}") from None
    if len(raw) > max_bytes:
        raise FileFormatError(p, f"too large: more than {max_bytes:,} bytes (the limit for a {what})")
    return raw


_TOKEN = re.compile(rb"-?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")


def _in_strings(b: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """For each byte position of JSON text ``b`` (uint8), whether it lies inside a string: after an odd
    number of unescaped quotes (a quote after an odd run of backslashes is escaped; JSON has quotes
    nowhere but around and inside strings). Only run when a number candidate was found."""
    idx = np.arange(len(b))
    last_other = np.maximum.accumulate(np.where(b != 92, idx, -1))     # last byte before it that is no backslash
    q = np.flatnonzero(b == 34)
    backslashes = np.where(q > 0, (q - 1) - last_other[np.maximum(q - 1, 0)], 0)
    quotes = q[backslashes % 2 == 0]
    return np.searchsorted(quotes, positions) % 2 == 1


def _check_number_range(raw: bytes, path) -> None:
    """Refuse a number token that does not fit a finite float (an integer of 309+ digits, ``1e400``),
    found on the raw bytes with numpy (json's C parser stays at full speed; a Python hook per number made
    COCO files 3.5x slower to parse). Text inside a JSON string is no number: a hex digest like
    ``"445e8949"`` or a long run of digits in a string is left alone (:func:`_in_strings`)."""
    b = np.frombuffer(raw, dtype=np.uint8)
    n = len(b)
    if n < 5:
        return
    dig = (b >= 48) & (b <= 57)
    cand: list[int] = []
    # a run of 309+ digits holds a whole aligned block of 154 digits: a cheap test before the exact one
    m = n // 154 * 154
    if n > 309 and dig[:m].reshape(-1, 154).all(axis=1).any():
        c = np.cumsum(dig, dtype=np.int32)   # some window of 309 bytes is all digits
        full = (c[309:] - c[:-309]) == 309
        if full.any():   # the first window of each run
            cand += [int(i) + 1 for i in np.flatnonzero(full & ~np.concatenate(([False], full[:-1])))]
    # e / E after a digit or '.', then an optional '+' and 3+ digits (elementwise, no index arrays)
    e = ((b[1:-3] == 101) | (b[1:-3] == 69)) & (dig[:-4] | (b[:-4] == 46))
    three = dig[2:-2] & dig[3:-1] & dig[4:]
    plus = np.zeros_like(three)
    plus[:-1] = (b[2:-3] == 43) & dig[3:-2] & dig[4:-1] & dig[5:]
    hit = e & (three | plus)
    if hit.any():
        cand += [int(i) + 1 for i in np.flatnonzero(hit)]
    if cand:
        inside = _in_strings(b, np.asarray(cand))
        cand = [p for p, s in zip(cand, inside) if not s]
    for pos in cand:
        start = pos
        while start > 0 and raw[start - 1] in b"0123456789.-":
            start -= 1
        m = _TOKEN.match(raw, start)
        tok = m.group(0).decode() if m else raw[start:pos + 8].decode("ascii", "replace")
        try:
            v = float(tok)
        except (ValueError, OverflowError):
            v = float("inf")
        if math.isinf(v):
            shown = tok if len(tok) <= 24 else tok[:20] + "..."
            raise FileFormatError(path, f"number {shown} ({len(tok)} characters) is out of range "
                                        "(larger than any finite float)")


def parse_json(raw: "bytes | str", path):
    """Parse JSON text of file ``path`` (see the module doc for the rules)."""
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileFormatError(path, "not a JSON file (not UTF-8 text)") from None
    if not raw.strip():
        raise FileFormatError(path, "empty file, expected JSON")
    try:
        doc = json.loads(raw, parse_constant=float)
    except RecursionError:
        raise FileFormatError(path, "JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        truncated = "truncated JSON (the text ends early), " if e.pos >= len(raw.rstrip()) else ""
        raise FileFormatError(path, f"not valid JSON (malformed JSON: {truncated}{e.msg} at line {e.lineno} "
                                    f"column {e.colno})") from None
    except ValueError as e:   # e.g. Python's limit on integer digits
        _check_number_range(data, path)    # an integer too long for any float says so
        raise FileFormatError(path, f"malformed JSON: {str(e).splitlines()[0][:80]}") from None
    # only text that parses has its numbers checked: a README with "1e400" in it is "not valid JSON"
    _check_number_range(data, path)
    return doc


def load_json(path, *, what: str = "JSON file", max_bytes: int = MAX_INPUT_BYTES):
    """Parse a regular JSON file of at most ``max_bytes``; every problem is a one-line FileFormatError."""
    return parse_json(read_bytes(path, what=what, max_bytes=max_bytes), path)


_NPY_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError)


def _why(e: Exception) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return msg[:100]


def load_npy(path, *, max_bytes: int = MAX_POSE_FILE_BYTES) -> np.ndarray:
    """A .npy array (no pickles), read eagerly."""
    p = regular_file(path, what=".npy file", max_bytes=max_bytes)
    try:
        with open(p, "rb") as fh:   # our handle: closed even when numpy fails half-way
            arr = np.load(fh, allow_pickle=False)
            if not isinstance(arr, np.ndarray):   # a zip archive: np.load gives an NpzFile
                arr.close()
                raise FileFormatError(p, "is an .npz archive, expected a .npy array")
            return arr
    except FileFormatError:
        raise
    except _NPY_ERRORS as e:
        raise FileFormatError(p, f"not a numeric .npy array (truncated or another format: {_why(e)})") from None


def load_npz(path, *, max_bytes: int = MAX_INPUT_BYTES) -> dict[str, np.ndarray]:
    """Every array of a .npz archive (no pickles), read eagerly, as a dict."""
    p = regular_file(path, what=".npz file", max_bytes=max_bytes)
    try:
        with open(p, "rb") as fh:   # our handle: closed even when numpy fails half-way
            z = np.load(fh, allow_pickle=False)
            if not hasattr(z, "files"):
                raise FileFormatError(p, "expected an .npz archive, got a single .npy array")
            with z:
                return {name: np.asarray(z[name]) for name in z.files}
    except FileFormatError:
        raise
    except _NPY_ERRORS as e:
        raise FileFormatError(p, f"not a readable .npz file (truncated or another format: {_why(e)})") from None


def check_real_array(path, name: str, arr: np.ndarray, *, integer: bool = False) -> np.ndarray:
    """``arr`` if its dtype holds real numbers (ints or floats; only ints when ``integer``); booleans,
    complex numbers, strings and objects are refused, never coerced."""
    kinds = "iu" if integer else "iuf"
    if arr.dtype.kind not in kinds:
        want = "integers" if integer else "real numbers"
        raise FileFormatError(path, f"{name}: expected {want}, got dtype {arr.dtype}")
    return arr


_NUMBER_TYPES = (int, float, np.integer, np.floating)


def is_number(v) -> bool:
    """True for a real int or float (Python or NumPy); False for booleans, strings and anything else."""
    return isinstance(v, _NUMBER_TYPES) and not isinstance(v, (bool, np.bool_))


def all_numbers(values) -> bool:
    """True if every item of a flat list is a real int or float (fast path for long lists)."""
    return set(map(type, values)) <= {int, float}
