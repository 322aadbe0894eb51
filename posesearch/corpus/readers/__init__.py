"""Readers: turn pose datasets into :class:`~posesearch.corpus.clip.Clip` objects for a corpus.

Every reader is a module following :class:`Reader` (the contract), registered by one line in
:data:`READERS`. Modules are imported only when asked for, so listing formats stays cheap.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Iterable, Iterator, Protocol, runtime_checkable

from ...registry import ParamOption, Registry  # noqa: F401  (ParamOption: reader_options' type)

@runtime_checkable
class Reader(Protocol):
    """What a reader module provides (a module, so these are its module-level names).

    ``read(paths, *, option=Options.option, ...)`` yields clips in the *source* layout (the corpus maps
    them to COCO-17); its keyword-only parameters are the fields of ``Options``, a frozen dataclass that
    is the one home of the options and their defaults: fields declared with
    :func:`~posesearch.registry.option` are ``posesearch ingest`` flags (help text included), the others
    are set with ``--option NAME=VALUE``; an option the reader does not take is refused naming the valid
    ones (tests/test_extending.py checks that ``Options`` and the signatures agree). Bad input raises
    :class:`~posesearch.errors.FileFormatError` naming the file and the problem, never a traceback.
    Readers of large single-frame sets may also provide ``read_batches(paths, **options)`` yielding
    :class:`~posesearch.corpus.batch.ClipBatch` objects (the same clips, column-wise, much faster to
    ingest; same options); :func:`iter_source` prefers it. ``SOURCE`` and ``NOTES`` (optional) fill the
    README table of formats (:func:`formats_table`).
    """

    FORMAT: str               #: its name in READERS
    DESCRIPTION: str          #: one line for help texts
    Options: type             #: the options dataclass

    def read(self, paths: Iterable[str], **options: Any) -> Iterator[Any]: ...


#: format name -> module path (one line per reader)
READERS: Registry[str] = Registry("format", {
    "coco": "posesearch.corpus.readers.coco",
    "yolo-npz": "posesearch.corpus.readers.yolo_npz",
    "openpose": "posesearch.corpus.readers.openpose",
    "sequence": "posesearch.corpus.readers.sequence",
    "bvh": "posesearch.corpus.readers.bvh",
    "penn-action": "posesearch.corpus.readers.penn_action",
    "video": "posesearch.corpus.readers.video",
}, aliases={"image": "video"})


def get_reader(name: str) -> "ModuleType | Reader":
    """The reader module for a format name; unknown names raise UnknownNameError listing the valid ones."""
    return importlib.import_module(READERS.lookup(name))


def reader_options() -> "list[ParamOption]":
    """The ``posesearch ingest`` flags, from every registered reader's ``Options`` dataclass (the same
    mechanism as the backends' ``Params``: :func:`~posesearch.registry.params_options`); a list option
    (``views``) takes comma-separated numbers."""
    from ...registry import params_options

    return params_options({name: get_reader(name).Options for name in READERS})


def formats_table() -> str:
    """The README table of formats, from each reader's ``SOURCE`` and ``NOTES`` (``DESCRIPTION`` when it
    has no SOURCE); tests/test_extending.py checks the README holds exactly this."""
    lines = ["| format | source | notes |", "|---|---|---|"]
    for name in READERS:
        mod = get_reader(name)
        row = f"| `{name}` | {getattr(mod, 'SOURCE', mod.DESCRIPTION)} | {getattr(mod, 'NOTES', '')} |"
        lines.append(row.replace("|  |", "| |"))
    return "\n".join(lines)


def iter_source(name: str, paths, **options) -> Iterator:
    """Clips (or ClipBatches, when the reader has the fast path) of ``paths`` read as format ``name``."""
    mod = get_reader(name)
    fn = getattr(mod, "read_batches", None) or mod.read
    return fn(paths, **options)
