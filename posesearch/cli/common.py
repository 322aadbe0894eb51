"""Shared CLI plumbing: one-line errors with exit status 2, JSON output, rich console.

Command modules keep heavy imports (numba, faiss, h5py, matplotlib) inside the command functions so
that ``posesearch --help`` and light commands start fast.
"""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import numpy as np
import typer

from ..errors import PoseSearchError, UnknownNameError

EXIT_USER_ERROR = 2


def fail(message: str) -> "typer.Exit":
    """Print ``error: message`` on stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(EXIT_USER_ERROR)


def handle_errors(fn: Callable) -> Callable:
    """Turn PoseSearchError (and missing files) into a one-line message and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UnknownNameError as e:
            flag = _flag_given(fn, kwargs, e.name)
            raise fail(f"{flag}: {e}" if flag else str(e)) from None
        except PoseSearchError as e:
            raise fail(str(e)) from None
        except FileNotFoundError as e:
            raise fail(f"{e.filename}: no such file") from None
        except IsADirectoryError as e:
            raise fail(f"{e.filename}: is a folder, expected a file") from None
        except PermissionError as e:
            raise fail(f"{e.filename}: permission denied") from None

    return wrapper


def _flag_given(fn: Callable, kwargs: dict, name: object) -> str | None:
    """The command-line flag (``--refine``) whose value was the unknown ``name`` (alone or in a comma list),
    when exactly one was; None otherwise (a name read from a file, or ambiguous)."""
    import inspect

    if not isinstance(name, str):
        return None
    flags = []
    for key, param in inspect.signature(fn).parameters.items():
        v = kwargs.get(key)
        if not (isinstance(v, str) and name in [x.strip() for x in v.split(",")]):
            continue
        decls = [d for d in getattr(param.default, "param_decls", None) or () if d.startswith("--")]
        if isinstance(param.default, typer.models.OptionInfo):
            flags.append(max(decls, key=len) if decls else "--" + key.replace("_", "-"))
    return flags[0] if len(flags) == 1 else None


def _json_default(o: Any):
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.bool_,)):
        return bool(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON on stdout (numpy values converted)."""
    sys.stdout.write(json.dumps(obj, default=_json_default, indent=2) + "\n")


def console():
    from rich.console import Console

    return Console()


def add_fixed_columns(table, headers, rows) -> list[int]:
    """Add ``headers`` ((name, justify) pairs) to a rich table at their full width: the header's or the
    longest cell's (``rows``: lists of cell strings), never wrapped or cut. Returns the widths, so the
    caller can give a trailing text column what is left of the terminal (see :func:`cut_to`)."""
    widths = [max([len(name)] + [len(r[i]) for r in rows]) for i, (name, _) in enumerate(headers)]
    for (name, justify), width in zip(headers, widths):
        table.add_column(name, justify=justify, no_wrap=True, min_width=width)
    return widths


def cut_to(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in "…" when cut."""
    return text if len(text) <= width else text[:width - 1] + "…"


def fmt_bytes(n: float) -> str:
    """A size for people: 512 B, 2.5 MB (decimal units)."""
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"  # pragma: no cover
