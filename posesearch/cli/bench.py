"""``posesearch bench``: a thin entry point.

* ``posesearch bench --index FILE [--queries FILE] [--json]`` times one index with the library's
  :func:`posesearch.index.timing.time_index` (works from a wheel).
* Otherwise it runs the benchmark suite, which is not part of the library: it lives in the repository's
  ``benchmarks/posesearch_bench`` package (see benchmarks/README.md). From a checkout it is found beside
  the ``posesearch`` package; installed from a wheel, the command says what to do instead.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from ..errors import InvalidArgumentError, PoseSearchError
from .common import emit_json, handle_errors
from .options import json_option, k_option, layout_option

BENCH_PACKAGE = "posesearch_bench"
BENCHMARKS_ENV = "POSESEARCH_BENCHMARKS"
DEFAULT_OUT = Path("benchmarks/results")


class BenchmarksMissingError(PoseSearchError):
    """The benchmark suite is not available (posesearch installed from a wheel, not run from a checkout)."""


MISSING_MESSAGE = (
    "the benchmark suite is not installed: it lives in the benchmarks/ folder of the posesearch source "
    "repository, which the package (wheel) does not ship; to run it, clone the repository and, in the "
    "checkout, run `pip install -e \".[bench]\"` then `posesearch bench --quick` (or set "
    f"{BENCHMARKS_ENV} to the checkout's benchmarks/ folder); to time your own index with this "
    "installation: `posesearch bench --index FILE [--queries FILE]`")


def benchmarks_dirs() -> list[Path]:
    """Folders that may hold the ``posesearch_bench`` package: $POSESEARCH_BENCHMARKS when set (only
    that), else ``benchmarks/`` beside the ``posesearch`` package (a checkout or an editable install)."""
    env = os.environ.get(BENCHMARKS_ENV)
    if env:
        return [Path(env)]
    return [Path(__file__).resolve().parents[2] / "benchmarks"]


def load_benchmarks():
    """The benchmark package: already importable (``python benchmarks/run_all.py``,
    ``PYTHONPATH=benchmarks``), or found in :func:`benchmarks_dirs`. Raises
    :class:`BenchmarksMissingError` (the message says what to do) when it is absent."""
    env = os.environ.get(BENCHMARKS_ENV)
    if not env and (BENCH_PACKAGE in sys.modules or importlib.util.find_spec(BENCH_PACKAGE) is not None):
        return importlib.import_module(BENCH_PACKAGE)
    for folder in benchmarks_dirs():
        if (folder / BENCH_PACKAGE / "__init__.py").is_file():
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
            return importlib.import_module(BENCH_PACKAGE)
    where = f" ({BENCHMARKS_ENV}={env} holds no {BENCH_PACKAGE}/ package)" if env else ""
    raise BenchmarksMissingError(MISSING_MESSAGE + where)


def _time_index(index_file: Path, queries: Optional[str], k: Optional[int], count: Optional[int],
                layout: Optional[str], as_json: bool) -> None:
    from ..index import Index
    from ..index.timing import DEFAULT_COUNT, time_index

    k = 10 if k is None else k
    idx = Index.load(index_file)
    if queries is None:
        t = time_index(idx, k=k, count=DEFAULT_COUNT if count is None else count)
    else:
        if count is not None:
            raise InvalidArgumentError("--count: applies to queries drawn from the index, not to --queries FILE "
                                       "(whose every frame is a query)")
        from .index import _read_queries

        qpath = Path(queries)
        kp, cf, lay, _ = _read_queries(qpath, layout)
        t = time_index(idx, kp, layout=lay, confidences=cf, k=k, source=str(qpath))
    if as_json:
        emit_json({"index": str(index_file), **t.to_dict()})
        return
    typer.echo(f"index {index_file}: backend {t.backend}, metric {t.metric}, {t.indexed_frames:,} frames; k = {t.k}")
    typer.echo(f"queries: {t.query_source}")
    if t.weights:
        typer.echo(f"weights: {t.weights}")
    typer.echo(f"single query (one per call, after {t.warmup} warm-up calls): median {t.single_median_ms:.3f} ms, "
               f"p99 {t.single_p99_ms:.3f} ms, mean {t.single_mean_ms:.3f} ms")
    typer.echo(f"batched (all {t.queries} in one call): {t.batch_queries_per_second:,.0f} queries/s "
               f"({t.batch_seconds * 1e3:.1f} ms)")


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def bench(
        index: Optional[Path] = typer.Option(None, "--index", metavar="FILE",
                                             help="Time this index file only (median / p99 ms per query, queries/s "
                                                  "batched); works without the benchmark suite."),
        queries: Optional[str] = typer.Option(None, "--queries",
                                              help="With --index: a pose or sequence FILE whose frames are the "
                                                   "queries (default: queries drawn from the index with jitter). "
                                                   "Suite: the number of held-out queries (default 1000; quick 60)."),
        k: Optional[int] = k_option("With --index: neighbours per query (default 10)."),
        count: Optional[int] = typer.Option(None, "--count",
                                            help="With --index and no --queries: queries drawn from the index "
                                                 "(default 200)."),
        layout: Optional[str] = layout_option("With --index --queries: keypoint layout of the file "
                                              "(default: the file's, or by keypoint count)."),
        quick: bool = typer.Option(False, "--quick", help="Suite: small sizes and few queries (about a minute; CI smoke)."),
        out: Optional[Path] = typer.Option(None, "--out",
                                           help="Suite: folder for results.json, summary.md and the PNG plots "
                                                "(cache/ below it; default benchmarks/results)."),
        only: Optional[str] = typer.Option(None, "--only",
                                           help="Suite: comma-separated sections: search,scaling,exactness,sequence,quality."),
        data: Optional[Path] = typer.Option(None, "--data",
                                            help="Suite: datasets folder (default: $POSESEARCH_DATA, else ../shared/data "
                                                 "from the current folder or beside the source tree)."),
        sizes: Optional[str] = typer.Option(None, "--sizes", help="Suite: scaling corpus sizes, e.g. 10000,100000."),
        update: bool = typer.Option(False, "--update",
                                    help="Suite: keep the other sections of the existing results file; replace only "
                                         "those run."),
        strict_targets: bool = typer.Option(False, "--strict-targets",
                                            help="Suite: exit with status 3 when every answer is correct but a "
                                                 "target is missed."),
        as_json: bool = json_option("Print the results JSON on stdout."),
    ) -> None:
        """Time your own index (--index FILE), or, from a checkout, run the benchmark suite: every backend and
        its peers (latency, throughput, recall, build time, memory), the exactness of Move Mirror's VP-tree,
        sequence work and quality, with every answer checked.

        Suite exit status: 0 = every answer checked and correct (targets met or not; the output says
        "targets met: N/M"); 1 = a check failed (a wrong answer, an approximate backend below its stated
        recall, a crashed section); 3 = answers correct but a target missed, with --strict-targets only;
        2 = a usage error, or the suite is not installed (a wheel: the message says what to do). The suite
        lives in the repository's benchmarks/ folder; benchmarks/README.md says how to run each section."""
        if index is not None:
            suite_only = [name for name, given in (("--quick", quick), ("--out", out is not None),
                                                   ("--only", only is not None), ("--data", data is not None),
                                                   ("--sizes", sizes is not None), ("--update", update),
                                                   ("--strict-targets", strict_targets)) if given]
            if suite_only:
                raise InvalidArgumentError(f"{suite_only[0]}: applies to the benchmark suite, not to --index "
                                           "(which times one index)")
            _time_index(index, queries, k, count, layout, as_json)
            return
        index_only = [name for name, given in (("-k", k is not None), ("--count", count is not None),
                                               ("--layout", layout is not None)) if given]
        if index_only:
            raise InvalidArgumentError(f"{index_only[0]}: applies to --index FILE only")
        suite = load_benchmarks()
        main = importlib.import_module(f"{suite.__name__}.main")
        log = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
        res, status, lines = main.run_cli(quick=quick, out=out or DEFAULT_OUT, only=only, data=data,
                                          queries=queries, sizes=sizes, update=update,
                                          strict_targets=strict_targets, log=log)
        if as_json:
            emit_json(res)
        for line in lines:
            typer.echo(line, err=as_json or status == 1)
        raise typer.Exit(status)
