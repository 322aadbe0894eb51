"""Readers: turn pose datasets into :class:`~posesearch.corpus.clip.Clip` objects for a corpus.

Every reader module exposes ``FORMAT`` (its name here), ``DESCRIPTION`` and
``read(paths, **options) -> Iterator[Clip]``: clips in the *source* layout (the corpus maps them to
COCO-17). Bad input raises :class:`~posesearch.errors.FileFormatError` naming the file and the problem.
Readers of large single-frame sets may also expose ``read_batches(paths, **options)`` yielding
:class:`~posesearch.corpus.batch.ClipBatch` objects (the same clips, column-wise, much faster to
ingest); :func:`iter_source` prefers it.

Modules are imported only when asked for, so listing formats stays cheap.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterator

from ...registry import Registry

#: format name -> module path
READERS: Registry[str] = Registry("format", {
    "coco": "posesearch.corpus.readers.coco",
    "yolo-npz": "posesearch.corpus.readers.yolo_npz",
    "openpose": "posesearch.corpus.readers.openpose",
    "sequence": "posesearch.corpus.readers.sequence",
    "bvh": "posesearch.corpus.readers.bvh",
    "penn-action": "posesearch.corpus.readers.penn_action",
})


def get_reader(name: str) -> ModuleType:
    """The reader module for a format name; unknown names raise UnknownNameError listing the valid ones."""
    return importlib.import_module(READERS.lookup(name))


def iter_source(name: str, paths, **options) -> Iterator:
    """Clips (or ClipBatches, when the reader has the fast path) of ``paths`` read as format ``name``."""
    mod = get_reader(name)
    fn = getattr(mod, "read_batches", None) or mod.read
    return fn(paths, **options)
