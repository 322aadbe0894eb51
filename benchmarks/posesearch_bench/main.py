"""What ``posesearch bench`` (without ``--index``) runs: settings from the command line, the run, and the
verdict with its exit status.

Two verdicts, kept apart:

* **answers**: every benchmarked answer is checked (:mod:`.checks`); a wrong answer, an approximate
  backend below its stated recall or a crashed section fails the run;
* **targets**: the goals of the benchmark table (e.g. "vptree >= 1000x faster than vptree-pypi"); a missed
  target is a figure short of its goal, not a wrong answer.

Exit status: 0 = every answer checked and correct (whatever the targets); 1 = a check failed;
3 = every answer correct but a target missed, only with ``--strict-targets``; 2 = a usage error
(the CLI's usual one-line error).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_TARGET_MISSED = 3


def settings_from_options(quick: bool, queries: str | None, sizes: str | None):
    """BenchSettings for ``--quick``, ``--queries N``, ``--sizes 10000,100000`` (one-line errors otherwise)."""
    from posesearch.errors import InvalidArgumentError

    from .context import BenchSettings

    st = BenchSettings.quick_settings() if quick else BenchSettings.full()
    if queries is not None:
        try:
            n = int(queries.replace("_", ""))
        except ValueError:
            raise InvalidArgumentError(f"--queries: expected the number of held-out queries of the benchmark "
                                       f"suite (a positive integer), got {queries!r}; to time your own index "
                                       "on a query file use --index FILE --queries FILE") from None
        if n < 1:
            raise InvalidArgumentError(f"--queries: expected a positive number, got {n}")
        st = st.replace(queries=n)
    if sizes:
        try:
            zs = tuple(int(s.replace("_", "")) for s in sizes.split(",") if s.strip())
        except ValueError:
            raise InvalidArgumentError(f"--sizes: expected comma-separated integers, got {sizes!r}") from None
        if not zs or min(zs) < 100:
            raise InvalidArgumentError(f"--sizes: expected sizes of at least 100 frames, got {sizes!r}")
        st = st.replace(sizes=zs)
    return st


def verdict(res: dict, strict_targets: bool = False) -> tuple[int, list[str]]:
    """(exit status, lines for people) of a finished run: answers, targets and what was skipped, apart."""
    from .report import targets_met

    lines: list[str] = []
    failures = res.get("failures") or []
    if failures:
        lines.append(f"answers: FAILED: {len(failures)} check(s) failed:")
        lines += [f"  {f}" for f in failures]
    else:
        lines.append("answers: every answer checked and correct")
    met, measured = targets_met(res)
    if measured:
        missed = [t["target"] for t in res.get("targets", []) if t.get("met") is False]
        lines.append(f"targets met: {met}/{measured}" + (" (not met: " + "; ".join(missed) + ")" if missed else ""))
    else:
        lines.append("targets met: none measured (the sections that measure them did not run)")
    for name, why in {**(res.get("skipped") or {}), **(res.get("skipped_peers") or {})}.items():
        lines.append(f"skipped {name}: {why}")
    if failures:
        status = EXIT_CHECK_FAILED
    elif strict_targets and met < measured:
        status = EXIT_TARGET_MISSED
    else:
        status = EXIT_OK
    return status, lines


def run_cli(*, quick: bool, out: Path, only: str | None, data: Path | None, queries: str | None,
            sizes: str | None, update: bool, strict_targets: bool,
            log: Callable[[str], None]) -> tuple[dict, int, list[str]]:
    """Run the suite as ``posesearch bench`` does: (results, exit status, verdict lines)."""
    from posesearch.errors import InvalidArgumentError

    from .runner import parse_only, run_benchmarks

    sections = parse_only(only)
    st = settings_from_options(quick, queries, sizes)
    if data is not None and not data.exists():
        raise InvalidArgumentError(f"--data: {data}: no such folder")
    res, _ = run_benchmarks(st, out, sections, data_dir=data, log=log, update=update)
    status, lines = verdict(res, strict_targets)
    suffix = "-quick" if quick else ""
    lines.append(f"results in {out / f'results{suffix}.json'} and {out / f'summary{suffix}.md'}")
    return res, status, lines
