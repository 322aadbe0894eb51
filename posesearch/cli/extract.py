"""``posesearch extract VIDEO_OR_IMAGE --out poses.json``: the poses in a video or image, offline (video extra)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Optional

import typer

from .common import emit_json, handle_errors
from .options import json_option, layout_option, max_frames_option


@contextlib.contextmanager
def frame_progress(what: str) -> Iterator:
    """A ``progress(done, total)`` callback drawing a bar on stderr while ``what`` runs (None when stderr is
    not a terminal: nothing is drawn)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    if not err.is_terminal:
        yield None
        return
    with Progress(TextColumn(f"[bold]{what}[/]"), BarColumn(), MofNCompleteColumn(), TextColumn("frames"),
                  TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def media_progress(spec) -> "contextlib.AbstractContextManager":
    """:func:`frame_progress` for an input that is a video or image file, else a no-op (yielding None)."""
    from ..inputs import split_spec
    from ..video.decode import media_kind

    path, _ = split_spec(spec)
    if media_kind(path) is None:
        return contextlib.nullcontext()
    return frame_progress(f"finding poses in {path.name}")


def describe(ex) -> str:
    """One line for people about an extraction."""
    rate = ("" if ex.container_fps is None else f", {ex.container_fps:g} fps") + \
        {"container": ", times from the container", "nominal fps": ", times from the nominal frame rate"}.get(ex.timing, "")
    head = (f"{ex.frames:,} frame{'s' if ex.frames != 1 else ''} ({ex.frames_with_person:,} with a person) of "
            f"{Path(ex.source).name} ({ex.width}x{ex.height}{rate})")
    speed = f"{ex.frames_per_second:.1f} frames/s" if ex.frames_per_second else "n/a"
    if ex.cached:
        return f"{head}: read from the extraction cache (no model run; it ran at {speed}; --no-cache to run it again)"
    return f"{head}: found in {ex.seconds:.2f} s ({speed})"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def extract(
        source: Path = typer.Argument(..., metavar="VIDEO_OR_IMAGE",
                                      help="A video (.mp4, .avi, .mov, ...) or image (.jpg, .png, ...) file."),
        out: str = typer.Option(..., "--out", "-o", metavar="PATH",
                                help="Pose-sequence file to write: .json (with where the poses came from), .npz "
                                     "or .npy; keypoints in pixels of the frame."),
        layout: Optional[str] = layout_option("coco17 (default: the 33 BlazePose landmarks mapped to COCO-17) or "
                                              "blazepose33 (all 33)."),
        max_frames: Optional[int] = max_frames_option("Read at most the first N frames (needed for videos over "
                                                      "the length limit, 18,000 frames)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
        no_cache: bool = typer.Option(False, "--no-cache",
                                      help="Run the model even if this file was extracted before (and refresh the "
                                           "cache entry)."),
        as_json: bool = json_option("Print a JSON summary."),
    ) -> None:
        """Find the person's pose in every frame of a video (or in an image), offline, and write a
        pose-sequence file that every command reads (needs the 'video' extra)."""
        from ..files import output_path
        from ..inputs import describe_assumed
        from ..sequence.io import SUFFIXES
        from ..errors import InvalidArgumentError, check_number
        from ..video.extract import extract as run

        check_number("--max-frames", max_frames, integer=True, low=1, allow_none=True)
        target = output_path(out, "", overwrite=overwrite, inputs=[source])
        if target.suffix.lower() not in SUFFIXES:
            raise InvalidArgumentError(f"--out {out}: expected a {', '.join(SUFFIXES)} file name")
        with frame_progress(f"finding poses in {source.name}") as progress:
            ex = run(source, layout=layout, max_frames=max_frames, refresh=no_cache, progress=progress)
        ex.write(target)
        if as_json:
            emit_json({**ex.to_dict(), "out": str(target)})
            return
        typer.echo(describe(ex))
        typer.echo(f"wrote {target}: layout {ex.sequence.layout.name}, keypoints in pixels, confidence = visibility"
                   + (f"; first {ex.frames:,} frames only (--max-frames)" if ex.truncated else ""))
        line = describe_assumed(ex.assumed)
        if line:
            typer.echo(line, err=True)

