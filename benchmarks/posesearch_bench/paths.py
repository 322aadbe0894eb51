"""Where things are: this benchmark package, the ``posesearch`` code it measures, and the environment of
the subprocesses some sections start (scaling workers, cold start, Penn scoring), so that a child imports
the same two packages as the parent, whatever its working directory."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent      # benchmarks/posesearch_bench
BENCHMARKS_DIR = PACKAGE_DIR.parent                # benchmarks/ (results/, README.md)
REPO_DIR = BENCHMARKS_DIR.parent                   # the checkout


def posesearch_root() -> Path:
    """The folder that holds the ``posesearch`` package being measured (the checkout, or site-packages)."""
    import posesearch

    return Path(posesearch.__file__).resolve().parents[1]


def child_env(**extra: str) -> dict[str, str]:
    """``os.environ`` with this package's folder and the measured ``posesearch``'s folder first on
    PYTHONPATH, plus ``extra``."""
    first = [str(BENCHMARKS_DIR), str(posesearch_root())]
    old = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(first + ([old] if old else [])))
    env.update(extra)
    return env
