"""The posesearch benchmark suite: how fast, how exact, how big — compared with what a user would pick
instead. A development package of the repository, not part of the library (see ../README.md).

``posesearch bench [--quick] [--out DIR] [--only search,scaling,exactness,sequence,quality]`` (from a
checkout; also ``python benchmarks/run_all.py`` or ``python -m posesearch_bench`` with ``benchmarks/`` on
the path) runs :func:`run_benchmarks` through :mod:`.main`. Sections:

* :mod:`.search` — latency / throughput / recall of every backend and peer on the full real corpus;
* :mod:`.scaling` — the same plus build time and peak memory at 10k ... 1M frames;
* :mod:`.exactness` — Move Mirror's VP-tree (vptree-pypi) against ours under the weighted distance;
* :mod:`.sequence` — smoothing, resampling, alignment and scoring of 10 / 60 / 300 s clips;
* :mod:`.quality` — nearest-neighbour accuracy, sequence-scoring AUC, view-angle robustness.

Data: :mod:`.data`; answer checks: :mod:`.checks`; settings: :class:`BenchSettings`; the verdict and exit
status: :mod:`.main`.
"""
from __future__ import annotations

from .context import SECTIONS, BenchSettings

__all__ = ["SECTIONS", "BenchSettings", "run_benchmarks"]


def run_benchmarks(*args, **kwargs):
    """See :func:`posesearch_bench.runner.run_benchmarks`."""
    from .runner import run_benchmarks as _run

    return _run(*args, **kwargs)
