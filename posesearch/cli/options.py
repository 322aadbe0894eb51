"""Command-line options made from the registries: parameter flags generated from Params dataclasses, and
the one ``KEY=VALUE`` parser of ``build --param`` and ``ingest --option``."""
from __future__ import annotations

import functools
import inspect
import json
from typing import Any, Callable, Iterable, Optional

import typer

from ..errors import InvalidArgumentError
from ..index.backend import ParamOption


def parse_key_values(texts: Iterable[str] | None, option: str) -> dict[str, Any]:
    """``KEY=VALUE`` texts as a dict: the value read as JSON when it is JSON (``3``, ``true``, ``[0, 45]``),
    else the text itself (the receiver checks its type); hyphens in KEY read as underscores."""
    out: dict[str, Any] = {}
    for text in texts or []:
        if "=" not in text:
            raise InvalidArgumentError(f"{option}: expected KEY=VALUE, got {text!r}")
        key, value = text.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise InvalidArgumentError(f"{option}: expected KEY=VALUE with a KEY, got {text!r}")
        try:
            out[key] = json.loads(value)
        except (ValueError, RecursionError):
            out[key] = value
    return out


def with_param_options(options: list[ParamOption], dest: str, *, before: str | None = None
                       ) -> Callable[[Callable], Callable]:
    """Add one typer option per :class:`ParamOption` to a command; the command receives the ones the user
    set as ``dest``: a dict field name -> value. The flags appear in ``--help`` before the command's
    parameter ``before`` (else after its own)."""
    def decorate(fn: Callable) -> Callable:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.name != dest]
        taken = {p.name for p in own}
        extra = []
        for o in options:
            pname = "opt_" + o.name
            if pname in taken:
                raise TypeError(f"{fn.__name__}: option {o.flag} clashes with parameter {pname}")
            decl = f"{o.flag}/--no-{o.flag[2:]}" if o.type is bool else o.flag
            typ = str if o.type is list else o.type          # a list: comma-separated text, parsed by the command
            extra.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[typ],
                                           default=typer.Option(None, decl, help=o.help)))
        names = {"opt_" + o.name: o.name for o in options}

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            given = {}
            for pname, field in names.items():
                value = kwargs.pop(pname, None)
                if value is not None:
                    given[field] = value
            kwargs[dest] = given
            return fn(*args, **kwargs)

        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) if p.kind == p.POSITIONAL_OR_KEYWORD else p
               for p in own]
        at = next((i for i, p in enumerate(own) if p.name == before), len(own))
        params = own[:at] + extra + own[at:]
        wrapper.__signature__ = sig.replace(parameters=params)
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__          # typer reads the signature above, not fn's
        return wrapper
    return decorate


# The options several commands share, declared once: each command passes its own help text.
def json_option(help: str = "Print JSON for scripts.") -> Any:
    """``--json``: print JSON instead of the human summary."""
    return typer.Option(False, "--json", help=help)


def layout_option(help: str) -> Any:
    """``--layout``: the keypoint layout of an input that does not name one (default None: detected)."""
    return typer.Option(None, "--layout", help=help)


def format_option(help: str, default: Any = None) -> Any:
    """``--format`` / ``-f``: an input format (default None: detected; ``...`` makes it required)."""
    return typer.Option(default, "--format", "-f", help=help)


def mirror_option(help: str) -> Any:
    """``--mirror/--no-mirror``: also match the mirror image (default None: the command's own)."""
    return typer.Option(None, "--mirror/--no-mirror", help=help)


def max_frames_option(help: str = "Videos: read at most the first N frames (needed for a video over the length "
                                         "limit, 18,000 frames).") -> Any:
    """``--max-frames N``: read at most the first N frames of a video (default None: all, up to the limit)."""
    return typer.Option(None, "--max-frames", metavar="N", help=help)


def k_option(help: str) -> Any:
    """``-k`` / ``--k``: neighbours per query (default None: the command's own)."""
    return typer.Option(None, "-k", "--k", help=help)


def view_option(help: str) -> Any:
    """``--view``: the camera-angle mode of scoring (ScoreSettings.view; default None: auto)."""
    from ..sequence.score import VIEWS

    return typer.Option(None, "--view", help=help + VIEWS.help(default="auto", describe=True) + ".")
