"""Benchmarks: how fast, how exact, how big — compared with what a user would pick instead.

``posesearch bench [--quick] [--out DIR] [--only search,scaling,exactness,sequence,quality]`` runs
:func:`run_benchmarks`. Sections:

* :mod:`.search` — latency / throughput / recall of every backend and peer on the full real corpus;
* :mod:`.scaling` — the same plus build time and peak memory at 10k ... 1M frames;
* :mod:`.exactness` — Move Mirror's VP-tree (vptree-pypi) against ours under the weighted distance;
* :mod:`.sequence` — smoothing, resampling, alignment and scoring of 10 / 60 / 300 s clips;
* :mod:`.quality` — nearest-neighbour accuracy, sequence-scoring AUC, view-angle robustness.

Data: :mod:`.data`; answer checks: :mod:`.checks`; settings: :class:`BenchSettings`.
"""
from __future__ import annotations

from .context import SECTIONS, BenchSettings

__all__ = ["SECTIONS", "BenchSettings", "run_benchmarks"]


def run_benchmarks(*args, **kwargs):
    """See :func:`posesearch.bench.runner.run_benchmarks`."""
    from .runner import run_benchmarks as _run

    return _run(*args, **kwargs)
