"""``posesearch demo``: search and scoring on the bundled real sample, in one command."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import add_fixed_columns, console, cut_to, emit_json, handle_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def demo(
        out: Path = typer.Option(Path("posesearch-demo"), "--out", help="Folder for the demo's index and plot."),
        plot: bool = typer.Option(True, "--plot/--no-plot", help="Write a PNG of the per-moment score."),
        as_json: bool = typer.Option(False, "--json", help="Print every figure as JSON."),
    ) -> None:
        """Build an exact VP-tree over the bundled sample (COCO val persons + CMU mocap clips), query it with
        mirrored, jittered poses from another camera angle, and score a degraded user clip 0-100."""
        from ..demo import run_demo

        con = console()
        with con.status("building the index and scoring the sample..."):
            res = run_demo(out, plot=plot)
        if as_json:
            emit_json(res.to_dict())
            return
        from rich.table import Table

        c = res.corpus
        con.print(f"[bold]1. Which reference pose is this?[/bold]  sample corpus: {c['frames']:,} frames "
                  f"in {c['clips']:,} clips; exact VP-tree (weighted distance) built in {res.build_seconds:.2f} s "
                  f"-> {res.index_path}")
        for q in res.queries:
            t = Table(title=f"query: {q['query']}", title_justify="left")
            rows = [[str(r), f"{m['distance']:.4f}", "yes" if m["mirrored"] else "no", str(m["clip"]), str(m["frame"]),
                     f"{m['time']:.2f}", str(m["labels"].get("description", m["labels"].get("dataset", "")))]
                    for r, m in enumerate(q["matches"], 1)]
            heads = [(h, "left") for h in ("rank", "distance", "mirrored", "clip", "frame", "time s")]
            widths = add_fixed_columns(t, heads, rows)   # these keep their full width; the description gets the rest
            budget = min(28, con.width - sum(widths) - 3 * len(widths) - 4)
            if budget >= 8:
                t.add_column("description", no_wrap=True)
            for r in rows:
                t.add_row(*(r[:-1] + [cut_to(r[-1], budget)] if budget >= 8 else r[:-1]))
            con.print(t)
        agree = "[green]identical to brute force[/green]" if res.exact_agrees else "[red]DIFFERENT from brute force[/red]"
        con.print(f"distances {agree}; median query (with mirror) vptree {res.vptree_ms:.3f} ms, "
                  f"exact {res.exact_ms:.3f} ms")
        s = res.scores
        d = s["degraded_user_detail"]
        con.print(f"\n[bold]2. How well did this person follow the reference?[/bold]  reference {s['reference']}")
        con.print(f"  the clip against itself:                       {s['itself']:5.1f} / 100")
        con.print(f"  a user at 10 fps, jittered, 0.3 s late, 20% slower, mirrored: {s['degraded_user']:5.1f} / 100 "
                  f"(mirrored detected: {d['mirrored']}, offset {d['time_offset_s']} s, speed ratio {d['speed_ratio']})")
        con.print(f"  a different motion ({s['different_motion']['clip']}):       {s['different_motion']['score']:5.1f} / 100")
        if res.plot_path:
            con.print(f"  per-moment score plot: {res.plot_path}")
        if not res.exact_agrees:
            raise typer.Exit(1)
