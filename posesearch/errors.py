"""Exceptions raised by posesearch.

Every error a user can cause is a :class:`PoseSearchError` whose message is one line naming the
argument, field or file, what was expected and what was found. The CLI prints that line and exits
with status 2; it never shows a traceback for these.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Iterable


class PoseSearchError(ValueError):
    """Base class of every user-facing posesearch error (a ValueError, so callers may catch either)."""


class InvalidPoseError(PoseSearchError):
    """A pose or batch of poses is malformed: wrong shape, NaN/inf, bad confidences, degenerate."""


class InvalidArgumentError(PoseSearchError):
    """An argument has a value outside what the function accepts."""


class UnknownClipError(InvalidArgumentError):
    """A clip id that is not in the corpus (the message names close ids); the service answers it with 404."""


class UnknownNameError(InvalidArgumentError):
    """A name (metric, layout, backend, strategy, ...) is not in its registry: an invalid argument."""

    def __init__(self, kind: str, name: object, valid: Iterable[str]):
        self.kind = kind
        self.name = name
        self.valid = sorted(valid)
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(self.valid)}")


class FileFormatError(PoseSearchError):
    """A file is missing, truncated, corrupted, foreign, or of an unsupported format version."""

    def __init__(self, path: object, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FrameRateUnknownError(FileFormatError):
    """A sequence file of several frames gives neither a frame rate nor frame times, and none was passed."""


class ChecksumError(FileFormatError):
    """A file's stored checksum does not match its content, or an index does not match its corpus."""


def check_finite_positive(name: str, value: float) -> float:
    """Return ``value`` as float if finite and > 0, else raise InvalidArgumentError naming ``name``."""
    return check_number(name, value, low=0, low_open=True)


def check_number(name: str, value: Any, *, integer: bool = False, low: float | None = None,
                 high: float | None = None, low_open: bool = False, high_open: bool = False,
                 allow_none: bool = False, allow_inf: bool = False, integral_float: bool = False,
                 what: str | None = None) -> Any:
    """``value`` as an int (``integer``) or float, after checking it is a real number within bounds.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``. Bools and strings are refused
    (True is not 1, "30" is not 30); NaN always, infinities unless ``allow_inf``; a float where an
    integer is wanted (unless ``integral_float``: then 3.0 is 3, 3.5 is refused). ``None`` passes
    through when ``allow_none``. The error is one line: "``name``: expected <what>, got <value>"; ``what`` overrides the generated wording.
    """
    if value is None and allow_none:
        return None
    want = what or _wanted(integer, low, high, low_open, high_open)
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    bad = InvalidArgumentError(f"{name}: expected {want}, got {shown}")
    if getattr(value, "ndim", None) == 0 and getattr(getattr(value, "dtype", None), "kind", "") in "iuf":
        value = value.item()                               # a 0-d numpy array: its number
    if isinstance(value, (bool, str, bytes)) or type(value).__name__ == "bool_" or \
            not isinstance(value, numbers.Real):
        raise bad
    if integer:
        if isinstance(value, numbers.Integral):
            v: Any = int(value)
        elif not integral_float:
            raise bad
        else:
            try:
                f = float(value)
            except (OverflowError, ValueError):
                raise bad from None
            if not (math.isfinite(f) and f.is_integer()):
                raise bad
            v = int(f)
    else:
        try:
            v = float(value)
        except (OverflowError, ValueError):
            raise bad from None
        if math.isnan(v) or (math.isinf(v) and not allow_inf):
            raise bad
    if low is not None and (v < low or (low_open and v == low)):
        raise bad
    if high is not None and (v > high or (high_open and v == high)):
        raise bad
    return v


def _wanted(integer: bool, low, high, low_open: bool, high_open: bool) -> str:
    noun = "an integer" if integer else "a finite number"
    if low is not None and high is None:
        if low == 0 and low_open:
            return "a positive integer" if integer else "a positive finite number"
        return f"{noun} {'>' if low_open else '>='} {low}"
    if high is not None and low is None:
        return f"{noun} {'<' if high_open else '<='} {high}"
    if low is not None and high is not None:
        return f"{noun} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    return noun
