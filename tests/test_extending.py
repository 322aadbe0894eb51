"""Extending posesearch: backends and readers come from their registries, and saying when a backend is
exact has one home (Backend.exact_for)."""
from __future__ import annotations

import pytest

from posesearch.index.backend import Backend
from posesearch.index.fileformat import build_recall
from posesearch.index.registry import BACKENDS


@pytest.mark.parametrize("name", list(BACKENDS))
def test_no_backend_has_the_old_exact_flag_or_property(name):
    cls = BACKENDS[name].load()
    assert issubclass(cls, Backend)
    assert "exact" not in vars(cls) and "is_exact" not in vars(cls) and not hasattr(BACKENDS[name], "exact")


@pytest.mark.parametrize("backend, metric, params, exact", [
    ("exact", "weighted", None, True), ("vptree", "cosine", {}, True),
    ("faiss", "weighted", None, False), ("faiss", "cosine", {"kind": "flat"}, True),
    ("faiss", "cosine", {"kind": "ivf"}, False),
    ("vptree-pypi", "weighted", None, False), ("vptree-pypi", "cosine", None, True),
])
def test_exact_for_is_the_one_answer(backend, metric, params, exact):
    cls = BACKENDS[backend].load()
    assert cls.exact_for(metric, params) is exact
    if params is not None:
        assert cls.exact_for(metric, cls.Params(**params)) is exact
    # the index file summary asks the same question: before, vptree-pypi + cosine (exact, so no recall
    # was measured at build) was reported as approximate and "not measured"
    attrs = {"backend": backend, "metric": metric, "backend_params": params or {}}
    assert build_recall(attrs) == ({"exact": True} if exact else {"exact": False, "measured": False})
