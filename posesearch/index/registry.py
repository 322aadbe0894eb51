"""The table of index backends, chosen by name. Modules are imported only when a backend is used."""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from ..registry import Registry


@dataclass(frozen=True)
class BackendSpec:
    """A registered backend: its name, where it lives, and a one-line description."""

    name: str
    module: str
    cls: str
    description: str

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


BACKENDS: Registry[BackendSpec] = Registry("backend", {s.name: s for s in (
    BackendSpec("vptree", "posesearch.index.vptree", "VPTreeBackend",
                "numba VP-tree, exact for the weighted and cosine metrics (default)"),
    BackendSpec("exact", "posesearch.index.exact", "ExactBackend",
                "brute force over every frame: the reference"),
    BackendSpec("faiss", "posesearch.index.faiss_backend", "FaissBackend",
                "FAISS flat / HNSW / IVF candidates re-ranked with the exact distance (flat is exact)"),
    BackendSpec("vptree-pypi", "posesearch.index.vptree_pypi", "PyPIVPTreeBackend",
                "the PyPI `vptree` package, Move Mirror's way (pure Python, approximate under weighted): baseline"),
)}, aliases={"vp-tree": "vptree", "brute": "exact", "brute-force": "exact", "vptree-py": "vptree-pypi",
                         "pypi": "vptree-pypi"})
BACKENDS.descriptions.update({n: b.description for n, b in BACKENDS.items()})

DEFAULT_BACKEND = "vptree"


def get_backend_spec(name: str) -> BackendSpec:
    """The registered backend ``name`` stands for (aliases: brute, vp-tree, pypi, ...)."""
    return BACKENDS.lookup(name)


def get_backend(name: str):
    """The backend class registered under ``name`` (unknown names list the valid ones)."""
    return get_backend_spec(name).load()
