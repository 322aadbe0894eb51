"""Search indexes: the k nearest corpus frames of a pose, one :class:`Index` interface over several backends.

Backends (:data:`BACKENDS`): ``vptree`` (exact, default), ``exact`` (brute force, the reference),
``faiss`` (flat exact / HNSW / IVF with exact re-ranking), ``vptree-pypi`` (the PyPI package, Move
Mirror's way; baseline). Heavy libraries (numba, FAISS, h5py) load only when used.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .index import Index
    from .matches import Matches
    from .registry import BACKENDS, DEFAULT_BACKEND, get_backend

__all__ = ["Index", "Matches", "BACKENDS", "DEFAULT_BACKEND", "get_backend"]
#: where each public name lives; imported on first use, so that the CLI can list the backends (their
#: modules import this package) without loading Index, h5py or the file layer
_HOME = {"Index": ".index", "Matches": ".matches", "BACKENDS": ".registry", "DEFAULT_BACKEND": ".registry",
         "get_backend": ".registry"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOME[name], __name__), name)
    globals()[name] = value
    return value
