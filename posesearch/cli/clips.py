"""``posesearch clips CORPUS`` (list a corpus's clips) and ``posesearch export CORPUS CLIP_ID`` (one clip as a
pose-sequence file). Thin layers over :mod:`posesearch.corpus.listing`."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from .common import add_fixed_columns, cut_to, emit_json, handle_errors
from .options import json_option


def _fmt_fps(fps) -> str:
    return "-" if fps is None else f"{fps:g}"


def _labels_text(labels: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in labels.items())


def _print_listing(listing, corpus: Path) -> None:
    from rich.table import Table

    from .common import console

    con = console()
    if listing.rows:
        table = Table(title=f"clips of {corpus}", title_justify="left")
        headers = [("clip id", "left"), ("frames", "right"), ("duration s", "right"), ("fps", "right")]
        rows = [[r.clip_id, f"{r.frames:,}", f"{r.duration:.2f}", _fmt_fps(r.fps)] for r in listing.rows]
        widths = add_fixed_columns(table, headers, rows)
        table.add_column("labels", no_wrap=True)
        room = max(20, con.width - sum(widths) - 3 * len(widths) - 4)
        for cells, r in zip(rows, listing.rows):
            table.add_row(*cells, cut_to(_labels_text(r.labels), room))
        con.print(table)
    typer.echo(listing.describe())
    if listing.more:
        typer.echo(f"{listing.more:,} more: --offset {listing.offset + len(listing.rows)} for the next page, "
                   f"--limit 0 for all")


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def clips(
        corpus: Path = typer.Argument(..., metavar="CORPUS", help="Corpus file (made by `posesearch ingest`)."),
        label: Optional[List[str]] = typer.Option(None, "--label", "-l",
                                                  help="Keep clips with this label: KEY=VALUE (e.g. "
                                                       "dataset=cmu-mocap) or a VALUE under any label; repeat to "
                                                       "require several."),
        limit: int = typer.Option(50, "--limit", "-n", help="Clips to show (0 = all)."),
        offset: int = typer.Option(0, "--offset", help="Skip this many matching clips (the next page)."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG contact sheet of one clip's poses: "
                                                                 "--clip, else the first clip listed."),
        clip: Optional[str] = typer.Option(None, "--clip", help="--plot: the clip to draw (its id)."),
        frames: int = typer.Option(12, "--frames", help="--plot: poses on the sheet, spread over the clip (1-60)."),
        as_json: bool = json_option(),
    ) -> None:
        """List the clips of a corpus: id, frames, duration, fps and labels, filtered by label; --plot draws a
        contact sheet of one clip's poses."""
        from ..corpus import Corpus
        from ..errors import InvalidArgumentError, check_number

        if limit < 0:
            raise InvalidArgumentError(f"--limit: expected a whole number >= 0 (0 = all), got {limit}")
        if offset < 0:
            raise InvalidArgumentError(f"--offset: expected a whole number >= 0, got {offset}")
        if clip is not None and plot is None:
            raise InvalidArgumentError("--clip: only applies with --plot (the clip to draw)")
        if plot is not None:
            from ..pictures.draw import check_png_path

            check_png_path(plot)          # before the work
            check_number("--frames", frames, integer=True, low=1, high=60)
        drawn = None
        with Corpus.open(corpus) as c:
            listing = c.list_clips(label or None, limit=limit or None, offset=offset)
            if plot is not None:
                drawn = clip if clip is not None else (listing.rows[0].clip_id if listing.rows else None)
                if drawn is None:
                    raise InvalidArgumentError("--plot: no clip matches, nothing to draw")
                c.clip(drawn).plot(plot, frames=frames)
        if as_json:
            d = listing.to_dict()
            d["corpus"] = str(corpus)
            if plot is not None:
                d["plot"] = {"path": str(plot), "clip": drawn}
            emit_json(d)
            return
        _print_listing(listing, corpus)
        if plot is not None:
            typer.echo(f"contact sheet of {drawn} written to {plot}")

    @app.command()
    @handle_errors
    def export(
        corpus: Path = typer.Argument(..., metavar="CORPUS", help="Corpus file (made by `posesearch ingest`)."),
        clip_id: str = typer.Argument(..., metavar="CLIP_ID", help="The clip's id (see `posesearch clips`)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output file: .json (pose-sequence JSON), .npz, or .npy "
                                                          "(array only, no frame rate)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
        as_json: bool = json_option(),
    ) -> None:
        """Write one clip of a corpus as a pose-sequence file (the format `score` and `query` read)."""
        from ..corpus import Corpus

        with Corpus.open(corpus) as c:
            summary = c.export_clip(clip_id, out, overwrite=overwrite)
        if as_json:
            d = summary.to_dict()
            d["corpus"] = str(corpus)
            emit_json(d)
        else:
            rate = f"{summary.fps:g} fps" if summary.fps else "no frame rate"
            typer.echo(f"wrote {summary.path}: clip {summary.clip_id}, {summary.frames:,} frame"
                       f"{'' if summary.frames == 1 else 's'}, {summary.duration:.2f} s, {rate}, layout "
                       f"{summary.layout} (source layout {summary.source_layout})"
                       + (", with frame times" if summary.times_written else ""))
        if summary.note:
            typer.echo(f"note: {summary.note}", err=True)
