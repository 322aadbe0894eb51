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
    description: str                #: one line, for --help
    exact_note: str = ""            #: README "exact?" column (default: yes / no from Backend.exact_for)
    how: str = ""                   #: README "how" column (default: the description)

    def load(self):
        return getattr(importlib.import_module(self.module), self.cls)


BACKENDS: Registry[BackendSpec] = Registry("backend", {s.name: s for s in (
    BackendSpec("vptree", "posesearch.index.vptree", "VPTreeBackend",
                "numba VP-tree, exact for the weighted and cosine metrics (default)",
                exact_note="yes, for the weighted distance with any query confidences and for cosine",
                how=("VP-tree whose pruning bounds hold although Move Mirror's distance is not a metric: per-joint "
                     "distance shells and boxes (per-joint L1 *is* a metric), a small linear bound on each node's "
                     "distance range, best-first search, contiguous leaves scanned through 8-bit codes with exact "
                     "rescoring; falls back to a streaming scan when the bounds cannot prune; a second, face-free "
                     "tree for weighted queries without face joints (Penn Action, many COCO persons)")),
    BackendSpec("exact", "posesearch.index.exact", "ExactBackend",
                "brute force over every frame: the reference",
                exact_note="yes — the reference",
                how=("compiled (numba) streaming brute force: a float32 filter with a proven error bound, then "
                     "float64 distances in a fixed order")),
    BackendSpec("faiss", "posesearch.index.faiss_backend", "FaissBackend",
                "FAISS flat / HNSW / IVF candidates re-ranked with the exact distance (flat is exact)",
                exact_note="`flat`: yes; `hnsw`, `ivf`: approximate, recall stated",
                how=("`hnsw`: FAISS builds the graph, our numba kernel walks it with the query's own weighted (or "
                     "cosine) distance; `ivf`: FAISS retrieves candidates (weighted: through a weighted-L2 stand-in),"
                     " re-scored with the exact distance")),
    BackendSpec("vptree-pypi", "posesearch.index.vptree_pypi", "PyPIVPTreeBackend",
                "the PyPI `vptree` package, Move Mirror's way (pure Python, approximate under weighted): baseline",
                exact_note="no (for weighted)",
                how="the PyPI `vptree` package over Move Mirror's distance, as Move Mirror did it: the baseline"),
)}, aliases={"vp-tree": "vptree", "brute": "exact", "brute-force": "exact", "vptree-py": "vptree-pypi",
                         "pypi": "vptree-pypi"})
BACKENDS.descriptions.update({n: b.description for n, b in BACKENDS.items()})

DEFAULT_BACKEND = "vptree"


def backends_table() -> str:
    """The README table of backends (tests/test_extending.py checks the README holds exactly this;
    ``python scripts/readme_tables.py`` rewrites it)."""
    from ..poses.distances import METRICS

    lines = ["| backend | exact? | how |", "|---|---|---|"]
    for name, spec in BACKENDS.items():
        cls = spec.load()
        exact = spec.exact_note or ("yes" if all(cls.exact_for(m) for m in METRICS) else "no")
        default = " (default)" if name == DEFAULT_BACKEND else ""
        lines.append(f"| `{name}`{default} | {exact} | {spec.how or spec.description} |")
    return "\n".join(lines)


def get_backend_spec(name: str) -> BackendSpec:
    """The registered backend ``name`` stands for (aliases: brute, vp-tree, pypi, ...)."""
    return BACKENDS.lookup(name)


def get_backend(name: str):
    """The backend class registered under ``name`` (unknown names list the valid ones)."""
    return get_backend_spec(name).load()
