"""Pose corpora: readers for pose datasets and the HDF5 corpus file every index is built from.

    from posesearch.corpus import Corpus, get_reader
    Corpus.ingest("coco.h5", get_reader("coco").read(["person_keypoints_val2017.json"]))
    with Corpus.open("coco.h5") as c:
        print(len(c), c.num_clips, c.frames([0, 5]).records())

Names are imported lazily so that ``import posesearch.corpus`` does not load h5py.
"""
from __future__ import annotations

from pathlib import Path

from .clip import Clip

__all__ = [
    "Clip", "ClipBatch", "Corpus", "CorpusWriter", "ClipInfo", "FrameBatch", "IngestSummary",
    "upgrade", "get_reader", "READERS", "sample_corpus_path", "FORMAT_NAME", "FORMAT_VERSION",
]

_LAZY = {
    "ClipBatch": ".batch",
    "Corpus": ".store", "CorpusWriter": ".store", "ClipInfo": ".store", "FrameBatch": ".store",
    "IngestSummary": ".store", "upgrade": ".store", "FORMAT_NAME": ".store", "FORMAT_VERSION": ".store",
    "get_reader": ".readers", "READERS": ".readers",
}

SAMPLE_FILE = "sample_corpus.h5"


def sample_corpus_path() -> Path:
    """Path of the small real corpus shipped with posesearch (see sample/ATTRIBUTION.md)."""
    from importlib.resources import files

    return Path(str(files("posesearch.corpus.sample").joinpath(SAMPLE_FILE)))


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
