"""The backend contract every index backend implements, and parameter parsing shared by them.

A backend answers k-nearest-neighbour queries over ``data``: an (M, 34) float32 C-contiguous array of
the indexed frames' vectors, in the form the metric needs (normalized Move Mirror vectors for
``weighted``; the same vectors scaled to unit length for ``cosine``, whose distance is then the L2
distance; for ``view``, the unit view-invariant vectors of :func:`posesearch.view.lift.embed`, also compared
by L2 distance). Rows are numbered 0..M-1; the :class:`~posesearch.index.index.Index` maps rows to corpus
frame ids.

``knn(queries, weights, k)`` returns ``(rows int64 (B, k), distances float64 (B, k))`` sorted by
ascending distance, ties by smaller row. Distances are the exact float64 metric values of the returned
rows (approximate backends may miss true neighbours, never report a wrong distance).
"""
from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import numpy as np

from ..errors import InvalidArgumentError, UnknownNameError, check_number
from ..registry import ParamOption, option, params_options  # noqa: F401  (option: what backends declare with)

Progress = Callable[[int, int], None]  # progress(done, total)

KERNEL_METRIC = {"weighted": "weighted", "cosine": "l2", "view": "l2"}  # cosine = L2 over unit vectors; view too


def backend_options() -> list[ParamOption]:
    """The ``posesearch build`` flags of every registered backend, from their Params dataclasses."""
    from .registry import BACKENDS

    return params_options({name: spec.load().Params for name, spec in BACKENDS.items()})


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A backend without parameters."""


def parse_params(params_type: type, backend: str, values: dict[str, Any] | None) -> Any:
    """Build a backend's frozen params dataclass from a dict, rejecting unknown names with the valid list."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise InvalidArgumentError(f"backend {backend!r} parameters: expected a JSON object / dict of NAME: VALUE, "
                                   f"got {type(values).__name__} {str(values)[:60]!r}")
    values = dict(values)
    fields = {f.name: f for f in dataclasses.fields(params_type)}
    for key in values:
        if key not in fields:
            raise UnknownNameError(f"parameter of backend {backend!r}", key, fields or ["(none)"])
    out = {}
    for key, val in values.items():
        default = fields[key].default
        try:
            if isinstance(default, bool):
                if isinstance(val, str):
                    if val.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(val)
                    val = val.lower() in ("true", "1", "yes")
                val = bool(val)
            elif isinstance(default, (int, float)) and val is not None and (
                    isinstance(val, (bool, np.bool_)) or not isinstance(val, (int, float, np.integer, np.floating))):
                raise ValueError(val)   # booleans, numeric strings, lists: not numbers
            elif isinstance(default, int) and val is not None:
                if isinstance(val, (float, np.floating)) and not float(val).is_integer():
                    raise ValueError(val)
                val = int(val)
            elif isinstance(default, float) and val is not None:
                val = float(val)
            elif isinstance(default, str) and val is not None:
                val = str(val)
        except (TypeError, ValueError):
            kind = type(default).__name__
            raise InvalidArgumentError(f"backend {backend!r} parameter {key}: expected {kind}, got {val!r}") from None
        out[key] = val
    return params_type(**out)


def params_to_json(params: Any) -> str:
    return json.dumps(dataclasses.asdict(params), sort_keys=True)


#: the largest seed any backend accepts (FAISS's k-means seed is a C int)
MAX_SEED = 2**31 - 1


def check_positive_int(backend: str, name: str, value: int, *, minimum: int = 1, maximum: int | None = None) -> None:
    """``value`` must be an int in [minimum, maximum]: the bounds are what the backend's library supports
    (beyond them FAISS crashes or exhausts memory, numba overflows), checked before any work."""
    check_number(f"backend {backend!r} parameter {name}", value, integer=True, low=minimum, high=maximum)


class Backend(ABC):
    """A search structure over ``data`` for one metric. Subclasses set ``name`` and ``Params`` and say
    when they are exact (:meth:`exact_for`)."""

    name: ClassVar[str]
    Params: ClassVar[type] = NoParams
    #: parameter sets the shared backend tests build and check (tests/index_testdata.backend_settings):
    #: each must build over a few hundred synthetic frames in well under a second
    TEST_PARAMS: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    #: parameters that only affect searching (changeable on a built index, e.g. a beam width)
    SEARCH_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: build parameters added after files were first written: the value an older file (which does not
    #: store them) was built with, used when it is loaded
    LEGACY_PARAMS: ClassVar[dict[str, Any]] = {}
    #: :meth:`build` takes ``own_data=True``: the caller hands ``data`` over (it may be reordered in place
    #: and must not be used afterwards); the built backend's ``data`` then reads the rows from the
    #: backend's own structures (an array-like in row order, see :class:`.vptree.TreeRows`), no copy kept.
    #: :meth:`from_arrays` then takes ``own_data=True`` too (``Index.load``): ``arrays`` and ``data`` are
    #: handed over the same way, so loading holds no second copy of what the file held
    CAN_OWN_DATA: ClassVar[bool] = False

    def __init__(self, data: np.ndarray, metric: str, params: Any):
        self.data = data
        self.metric = metric
        self.params = params

    @classmethod
    def exact_for(cls, metric: str, params: Any = None) -> bool:
        """Whether results are the exact k nearest under ``metric`` with ``params`` (the Params dataclass, a
        dict of its fields as stored in an index file, or None: the defaults). The one place a backend says so."""
        return False

    @classmethod
    def param(cls, params: Any, name: str) -> Any:
        """Field ``name`` of ``params`` given as for :meth:`exact_for`."""
        if isinstance(params, dict):
            return params.get(name, getattr(cls.Params(), name))
        return getattr(params if params is not None else cls.Params(), name)

    @classmethod
    @abstractmethod
    def build(cls, data: np.ndarray, metric: str, params: Any, *, build_weights: np.ndarray | None = None,
              progress: Progress | None = None) -> "Backend":
        """Build over ``data``. ``build_weights``: (M, 17) per-frame confidences (only vptree-pypi uses them)."""

    @abstractmethod
    def knn(self, queries: np.ndarray, weights: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        """k nearest rows of each query (queries float64 (B, 34), weights float64 (B, 17) or None)."""

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The structures to store in the index file (``data`` itself is stored by the Index)."""
        return {}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], data: np.ndarray, metric: str, params: Any,
                    *, path: str = "index") -> "Backend":
        """Rebuild from :meth:`to_arrays` output (already checksum-verified by the file reader)."""
        return cls(data, metric, params)

    def describe(self) -> dict[str, Any]:
        """Extra facts for summaries (e.g. tree depth)."""
        return {}
