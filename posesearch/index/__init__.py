"""Search indexes: the k nearest corpus frames of a pose, one :class:`Index` interface over several backends.

Backends (:data:`BACKENDS`): ``vptree`` (exact, default), ``exact`` (brute force, the reference),
``faiss`` (flat exact / HNSW / IVF with exact re-ranking), ``vptree-pypi`` (the PyPI package, Move
Mirror's way; baseline). Heavy libraries (numba, FAISS, h5py) load only when used.
"""
from __future__ import annotations

from .index import Index
from .matches import Matches
from .registry import BACKENDS, DEFAULT_BACKEND, get_backend

__all__ = ["Index", "Matches", "BACKENDS", "DEFAULT_BACKEND", "get_backend"]
