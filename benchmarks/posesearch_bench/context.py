"""Benchmark settings (one frozen dataclass) and the run context shared by the benchmark sections."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .checks import Failures

SECTIONS = ("search", "exactness", "sequence", "quality", "scaling")   # run order (longest last)


@dataclass(frozen=True)
class BenchSettings:
    """What a run measures.

    queries: held-out queries (1,000 full). cross_queries: cross-dataset queries (:mod:`.crossdata`). k: neighbours (recall@k). seed: query draw / augmentation.
    numpy_queries: queries for the numpy peer (slow at full size). sweep_queries: queries per point of
    the recall-vs-latency sweeps. sizes: corpus sizes of the scaling run. scaling_queries: queries per
    size. scaling_contenders / scaling_contenders_cosine: who is scaled under each metric.
    pypi_frames / pypi_queries: subset for vptree-pypi (pure
    Python, slow). pypi_max_scaling: largest scaling size vptree-pypi is built at. quality_poses: BODY25
    poses in the leave-one-out test (0 = all). penn_queries: Penn test clips scored (sequence helper's
    benchmark; 0 = skip). view_clips / view_seconds: CMU clips (0 = all) and their length in the
    view-angle test. seqsearch_queries / seqsearch_self: Penn test clips (action retrieval; 0 = skip)
    and degraded train clips (self retrieval) of the sequence-search benchmark. search_frames: indexed frames in the search section (0 = all). coldstart: "full"
    (cached and compiled-from-scratch kernels), "cached" or "off".
    """

    quick: bool = False
    queries: int = 1000
    cross_queries: int = 1000
    k: int = 10
    seed: int = 20240
    numpy_queries: int = 200
    sweep_queries: int = 300
    hnsw_ef: tuple = (10, 16, 24, 32, 48, 64, 96, 112, 128, 160, 192, 256)
    ivf_nprobe: tuple = (1, 2, 4, 8, 16, 32, 64, 128)
    hnswlib_ef: tuple = (10, 20, 40, 80, 160, 320)
    sizes: tuple = (10_000, 30_000, 100_000, 300_000, 1_000_000)
    scaling_queries: int = 200
    scaling_metrics: tuple = ("weighted", "cosine")
    scaling_contenders: tuple = ("exact", "vptree", "faiss-hnsw", "faiss-ivf", "numpy", "faiss-IndexFlatL2",
                                 "hnswlib", "vptree-pypi")
    scaling_contenders_cosine: tuple = ("exact", "vptree", "faiss-hnsw", "numpy", "faiss-IndexFlatL2", "hnswlib")
    numpy_max_size: int = 1_000_000
    pypi_frames: int = 100_000
    pypi_queries: int = 200
    pypi_max_scaling: int = 100_000
    quality_poses: int = 0
    penn_queries: int = 150
    view_clips: int = 0
    view_seconds: float = 10.0
    sequence_lengths: tuple = (10.0, 60.0, 300.0)
    seqsearch_queries: int = 100
    seqsearch_self: int = 60
    search_frames: int = 0
    coldstart: str = "full"

    @classmethod
    def full(cls) -> "BenchSettings":
        return cls()

    @classmethod
    def quick_settings(cls) -> "BenchSettings":
        return cls(quick=True, queries=60, cross_queries=60, numpy_queries=30, sweep_queries=40, hnsw_ef=(16, 48, 128),
                   ivf_nprobe=(1, 8, 64), hnswlib_ef=(10, 40, 160), sizes=(3_000, 10_000), scaling_queries=30,
                   scaling_metrics=("weighted",), pypi_frames=2_000, pypi_queries=20, pypi_max_scaling=3_000,
                   quality_poses=600, penn_queries=4, view_clips=4, view_seconds=4.0,
                   sequence_lengths=(10.0, 60.0), seqsearch_queries=12, seqsearch_self=8, search_frames=8_000,
                   coldstart="cached",
                   scaling_contenders=("exact", "vptree", "faiss-hnsw", "numpy", "hnswlib", "vptree-pypi"),
                   scaling_contenders_cosine=("exact", "vptree"))

    def replace(self, **kw) -> "BenchSettings":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class Context:
    """Everything a section needs: settings, output folder, data, failures, logging, a build cache."""

    settings: BenchSettings
    out: Path
    data: Any = None                 # BenchData or None (no data)
    data_dir: Path | None = None
    failures: Failures = field(default_factory=Failures)
    log: Callable[[str], None] = print
    cache: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)

    def say(self, msg: str) -> None:
        self.log(f"[{time.perf_counter() - self.started:7.1f}s] {msg}")
