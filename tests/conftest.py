"""Shared fixtures. Real-data tests read ../shared/data and skip with a reason when it is absent."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data; skips the calling test with a clear reason when it is missing."""
    p = SHARED_DATA.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs real data at {p} (the ../shared/data folder beside the checkout); not found")
    return p


@pytest.fixture(scope="session")
def penn_split(tmp_path_factory):
    """Penn Action's official split: an exact VP-tree over the train clips (weighted), its corpus, and the
    test clips (built once for every sequence-search test on real data)."""
    from posesearch.corpus.readers import penn_action
    from posesearch.corpus.store import Corpus
    from posesearch.index import Index

    mats = sorted(shared_path("penn_action", "labels").glob("*.mat"))
    clips = [penn_action.read_clip(m) for m in mats]
    train = [c for c in clips if c.labels.get("split") == "train"]
    test = [c for c in clips if c.labels.get("split") == "test"]
    path = tmp_path_factory.mktemp("penn") / "penn-train.h5"
    Corpus.ingest(path, iter(train))
    corpus = Corpus.open(path)
    idx = Index.build(corpus, metric="weighted", backend="vptree")
    yield idx, corpus, test
    corpus.close()


def read_refused(reader, source, match: str, error: type[Exception] | None = None, **options) -> None:
    """Reading ``source`` with the reader module ``reader`` (``reader.read(source, **options)``, consumed)
    raises ``error`` (default FileFormatError) with a message matching ``match``."""
    from posesearch.errors import FileFormatError

    with pytest.raises(error or FileFormatError, match=match):
        list(reader.read(source, **options))


def foreign_hdf5(path: Path) -> Path:
    """Write at ``path`` an HDF5 file that is no posesearch file (one dataset, no 'format' attribute)."""
    import h5py

    with h5py.File(path, "w") as f:
        f["data"] = np.arange(10)
    return path


def set_h5_attrs(path: Path, **attrs) -> Path:
    """Overwrite attributes of an existing HDF5 file in place (to plant a bad version, count, checksum...)."""
    import h5py

    with h5py.File(path, "r+") as f:
        for key, val in attrs.items():
            f.attrs[key] = val
    return path


@pytest.fixture
def shared_data() -> Path:
    return shared_path()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pytest_terminal_summary(terminalreporter):
    """The fuzz suite's case count (tests/fuzz_support.py), when any fuzz test ran."""
    import sys

    fuzz = sys.modules.get("fuzz_support")
    if fuzz is not None and fuzz.COUNTS:
        failed = sum(1 for r in terminalreporter.stats.get("failed", []) if "test_fuzz_" in r.nodeid)
        terminalreporter.write_sep("-", fuzz.summary(failed))
        fuzz.write_report()
