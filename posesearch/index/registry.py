"""The table of index backends, chosen by name. Modules are imported only when a backend is used."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..errors import UnknownNameError


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its name, where it lives, and a one-line description."""

    name: str
    module: str
    cls: str
    exact: bool
    description: str

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


BACKENDS: dict[str, BackendSpec] = {s.name: s for s in (
    BackendSpec("vptree", "posesearch.index.vptree", "VPTreeBackend", True,
                "numba VP-tree, exact for the weighted and cosine metrics (default)"),
    BackendSpec("exact", "posesearch.index.exact", "ExactBackend", True,
                "brute force over every frame: the reference"),
    BackendSpec("faiss", "posesearch.index.faiss_backend", "FaissBackend", False,
                "FAISS flat / HNSW / IVF candidates re-ranked with the exact distance (flat + cosine is exact)"),
    BackendSpec("vptree-pypi", "posesearch.index.vptree_pypi", "PyPIVPTreeBackend", False,
                "the PyPI `vptree` package, Move Mirror's way (pure Python, approximate under weighted): baseline"),
)}

DEFAULT_BACKEND = "vptree"


def get_backend_spec(name: str) -> BackendSpec:
    key = str(name).strip().lower().replace("_", "-")
    key = {"vp-tree": "vptree", "brute": "exact", "bruteforce": "exact", "brute-force": "exact",
           "vptree-py": "vptree-pypi", "pypi": "vptree-pypi"}.get(key, key)
    if key not in BACKENDS:
        raise UnknownNameError("backend", name, BACKENDS)
    return BACKENDS[key]


def get_backend(name: str):
    """The backend class registered under ``name`` (unknown names list the valid ones)."""
    return get_backend_spec(name).load()
