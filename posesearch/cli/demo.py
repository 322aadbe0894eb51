"""``posesearch demo``: search and scoring on the bundled real sample, in one command."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..text import plural
from .common import add_fixed_columns, console, cut_to, emit_json, handle_errors
from .options import json_option
from .serve import host_option, port_option, token_option


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def demo(
        out: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                           help="Folder for the demo's index and plot (created if missing; "
                                                "default: a new temporary folder, printed at the end)."),
        plot: bool = typer.Option(True, "--plot/--no-plot", help="Write a PNG of the per-moment score."),
        as_json: bool = json_option("Print every figure as JSON."),
        serve: bool = typer.Option(False, "--serve", help="Instead: build the sample index and serve it (the "
                                                          "`serve` extra); open the page address it prints."),
        host: str = host_option(),
        port: int = port_option(),
        token: Optional[str] = token_option(),
    ) -> None:
        """Build an exact VP-tree over the bundled sample (COCO val persons + CMU mocap clips), query it with
        jittered, mirrored frames of its own CMU clips, and score a degraded user clip 0-100."""
        from ..demo import demo_folder, run_demo

        folder = demo_folder(out)    # a bad --out fails here, before a minute of work
        if serve:
            _serve_sample(folder, host, port, token)
            return

        con = console()
        from .. import _cache

        if _cache.kernel_cache_cold():   # on stderr: --json output stays one JSON document
            typer.echo(f"first run: compiling kernels, about 1-2 minutes, once (cached in "
                       f"{_cache.numba_cache_dir()})", err=True)
        with con.status("building the index and scoring the sample..."):
            res = run_demo(folder, plot=plot)
        if as_json:
            emit_json(res.to_dict())
            return
        from rich.table import Table

        c = res.corpus
        qs = res.query_settings
        con.print(f"[bold]1. Which reference pose is this?[/bold]  sample corpus: {plural(c['frames'], 'frame')} "
                  f"in {plural(c['clips'], 'clip')}; exact VP-tree (weighted distance) built in "
                  f"{res.build_seconds:.2f} s -> {res.index_path}")
        con.print(f"queries: frames of the sample's own CMU clips, jittered by {qs['jitter_of_body_height']:.0%} of "
                  f"the body height, confidences {qs['confidences'][0]}-{qs['confidences'][1]}, mirrored")
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
            con.print(_where_found(q))
        agree = "[green]identical to brute force[/green]" if res.exact_agrees else "[red]DIFFERENT from brute force[/red]"
        con.print(f"distances {agree}; median query (with mirror) vptree {res.vptree_ms:.3f} ms, "
                  f"exact {res.exact_ms:.3f} ms")
        s = res.scores
        d = s["degraded_user_detail"]
        con.print(f"\n[bold]2. How well did this person follow the reference?[/bold]  reference {s['reference']}")
        con.print(f"  the clip against itself:                       {s['itself']:5.1f} / 100")
        u = s["degraded_user_settings"]
        con.print(f"  a user at {u['fps']:g} fps, jittered ({u['noise']:.0%} of body height), {u['delay']:g} s late, "
                  f"{u['slower'] - 1:.0%} slower{', mirrored' if u['mirror'] else ''}: {s['degraded_user']:5.1f} / 100 "
                  f"(mirrored detected: {d['mirrored']}, offset {d['time_offset_s']} s, speed ratio {d['speed_ratio']})")
        con.print(f"  a different motion ({s['different_motion']['clip']}):       {s['different_motion']['score']:5.1f} / 100")
        if res.plot_path:
            con.print(f"  per-moment score plot: {res.plot_path}")
        con.print(f"\n{'index and plot' if res.plot_path else 'index'} written to {res.out_dir} "
                  f"(try: posesearch query {res.index_path} POSE_FILE -k 5 --mirror)")
        if not res.exact_agrees:
            raise typer.Exit(1)


def _serve_sample(folder: Path, host: str, port: int, token: Optional[str]) -> None:
    """``demo --serve``: the sample index, served; the page replays the bundled user against its reference."""
    from ..demo import build_sample_index
    from .serve import require_serve_extra, run_service

    require_serve_extra("posesearch demo --serve")
    typer.echo(f"building the sample index in {folder} ...", err=True)
    index = build_sample_index(folder)
    run_service(index, None, host, port, token, "sample (bundled)")


def _where_found(q: dict) -> str:
    """One sentence on where the best match lies relative to the query's source frame (from the data)."""
    src, top = q["source"], q["matches"][0]
    how = "via its mirror image" if q["best_mirrored"] else "as recorded (not via its mirror image)"
    if q["best_is_source_frame"]:
        return f"best match: the source frame itself ({src['clip']} frame {src['frame']}), {how}"
    if q["best_is_source_clip"]:
        off = q["best_offset_s"]
        side = "after" if off > 0 else "before"
        return (f"best match: the source clip, frame {top['frame']}, {abs(off):.2f} s {side} the source frame "
                f"{src['frame']}, {how}")
    return f"best match: another clip ({top['clip']} frame {top['frame']}), not the source clip {src['clip']}, {how}"
