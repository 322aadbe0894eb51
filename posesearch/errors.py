"""Exceptions raised by posesearch.

Every error a user can cause is a :class:`PoseSearchError` whose message is one line naming the
argument, field or file, what was expected and what was found. The CLI prints that line and exits
with status 2; it never shows a traceback for these.
"""
from __future__ import annotations

from typing import Iterable


class PoseSearchError(ValueError):
    """Base class of every user-facing posesearch error (a ValueError, so callers may catch either)."""


class InvalidPoseError(PoseSearchError):
    """A pose or batch of poses is malformed: wrong shape, NaN/inf, bad confidences, degenerate."""


class InvalidArgumentError(PoseSearchError):
    """An argument has a value outside what the function accepts."""


class UnknownNameError(PoseSearchError):
    """A name (metric, layout, backend, strategy, ...) is not in its registry."""

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
    if isinstance(value, (bool, str, bytes)) or type(value).__name__ == "bool_":   # True is not 1, "30" not 30
        raise InvalidArgumentError(f"{name}: expected a positive number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{name}: expected a positive finite number, got {str(value)[:40]}") from None
    if not (v > 0 and v != float("inf")):
        raise InvalidArgumentError(f"{name}: expected a positive finite number, got {value!r}")
    return v
