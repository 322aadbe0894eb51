"""Lazily imported package attributes (PEP 562): a package names its heavier objects and the module each
lives in; the module is imported on first use."""
from __future__ import annotations

from importlib import import_module


def lazy_getattr(package: str, table: dict[str, str]):
    """A module ``__getattr__`` for ``package`` that imports ``table[name]`` (a module path) on first access
    of ``name``; other names raise the usual AttributeError."""

    def __getattr__(name: str):
        if name in table:
            return getattr(import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
