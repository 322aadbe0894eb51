"""``posesearch bench``: the benchmarks (speed, exactness, memory, quality) with checked answers."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import emit_json, handle_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def bench(
        quick: bool = typer.Option(False, "--quick", help="Small sizes and few queries (about a minute; CI smoke)."),
        out: Path = typer.Option(Path("benchmarks/results"), "--out",
                                 help="Folder for results.json, summary.md and the PNG plots (cache/ below it)."),
        only: Optional[str] = typer.Option(None, "--only",
                                           help="Comma-separated sections: search,scaling,exactness,sequence,quality."),
        data: Optional[Path] = typer.Option(None, "--data",
                                            help="Datasets folder (default: $POSESEARCH_DATA, else ../shared/data from the current folder or beside the source tree)."),
        queries: Optional[int] = typer.Option(None, "--queries", help="Held-out queries (default 1000; quick 60)."),
        sizes: Optional[str] = typer.Option(None, "--sizes", help="Scaling corpus sizes, e.g. 10000,100000."),
        update: bool = typer.Option(False, "--update",
                                    help="Keep the other sections of the existing results file; replace only those run."),
        as_json: bool = typer.Option(False, "--json", help="Print the results JSON on stdout."),
    ) -> None:
        """Measure every index backend and its peers (latency, throughput, recall, build time, memory), the
        exactness of Move Mirror's VP-tree, sequence work and quality; every answer is checked, and a wrong
        one makes the run fail (exit status 1)."""
        from ..bench.context import BenchSettings
        from ..bench.runner import parse_only, run_benchmarks
        from ..errors import InvalidArgumentError

        sections = parse_only(only)
        st = BenchSettings.quick_settings() if quick else BenchSettings.full()
        if queries is not None:
            if queries < 1:
                raise InvalidArgumentError(f"--queries: expected a positive number, got {queries}")
            st = st.replace(queries=queries)
        if sizes:
            try:
                zs = tuple(int(s.replace("_", "")) for s in sizes.split(",") if s.strip())
            except ValueError:
                raise InvalidArgumentError(f"--sizes: expected comma-separated integers, got {sizes!r}") from None
            if not zs or min(zs) < 100:
                raise InvalidArgumentError(f"--sizes: expected sizes of at least 100 frames, got {sizes!r}")
            st = st.replace(sizes=zs)
        if data is not None and not data.exists():
            raise InvalidArgumentError(f"--data: {data}: no such folder")
        log = (lambda m: typer.echo(m, err=True)) if as_json else typer.echo
        res, status = run_benchmarks(st, out, sections, data_dir=data, log=log, update=update)
        if as_json:
            emit_json(res)
        suffix = "-quick" if quick else ""
        if res.get("failures"):
            typer.echo(f"FAILED: {len(res['failures'])} check(s) failed:", err=True)
            for f in res["failures"]:
                typer.echo(f"  {f}", err=True)
        else:
            typer.echo(f"all checks passed; results in {out / f'results{suffix}.json'} and {out / f'summary{suffix}.md'}",
                       err=as_json)
        raise typer.Exit(status)
