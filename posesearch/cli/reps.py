"""``posesearch reps REFERENCE USER``: find each repetition of a reference rep in a user sequence, score it and
say what to change; ``posesearch reps USER`` counts a periodic motion without a reference."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import emit_json, fail, handle_errors
from .options import json_option, layout_option
from .score import load_input


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def reps(
        reference: str = typer.Argument(..., metavar="REFERENCE",
                                        help="One rep of the movement (a sequence file, any source `ingest` "
                                             "reads, FILE:CLIP or CORPUS.h5:CLIP_ID); alone (or with "
                                             "--count-only): the user sequence to count reps in."),
        user: Optional[str] = typer.Argument(None, metavar="[USER]", help="The user sequence of many reps."),
        count_only: bool = typer.Option(False, "--count-only",
                                        help="Count the reps of a periodic motion without a reference (the last "
                                             "input is the user)."),
        threshold: Optional[float] = typer.Option(None, "--threshold",
                                                  help="A rep scoring below this (0-100) is flagged bad "
                                                       "(default 70, or the tolerances file's)."),
        tolerances: Optional[Path] = typer.Option(None, "--tolerances",
                                                  help="JSON file of RepSettings fields, e.g. {\"exercise\": "
                                                       "\"squat\", \"angle_tolerances\": {\"left_knee\": 10}}."),
        ref_start: Optional[float] = typer.Option(None, "--ref-start", help="Seconds into REFERENCE where the rep "
                                                                            "starts."),
        ref_end: Optional[float] = typer.Option(None, "--ref-end", help="Seconds into REFERENCE where the rep ends."),
        ref_fps: Optional[float] = typer.Option(None, "--ref-fps", help="Reference frame rate (if the file has none)."),
        user_fps: Optional[float] = typer.Option(None, "--user-fps", help="User frame rate (if the file has none)."),
        layout: Optional[str] = layout_option("Keypoint layout of files that do not name one."),
        as_json: bool = json_option("Print the reps (or the count) as JSON."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG timeline with the reps shaded and "
                                                                 "scored, bad ones marked."),
    ) -> None:
        """Find, score and explain each repetition of REFERENCE in USER; or count reps without a reference."""
        from ..errors import check_finite_positive
        from ..inputs import prefixed
        from ..sequence.reps import RepSettings, count_reps, find_reps, slice_seconds

        for n, v in (("--ref-fps", ref_fps), ("--user-fps", user_fps)):
            if v is not None:
                check_finite_positive(n, v)
        if plot is not None:                    # a wrong name is refused before any work
            from ..sequence.reps_plot import check_png

            check_png(plot)
        settings = RepSettings.from_json(tolerances) if tolerances is not None else RepSettings()
        if threshold is not None:
            settings = settings.replace(threshold=threshold)
        if user is None or count_only:
            if count_only and user is not None:
                raise fail("--count-only takes one input (the user), got two: REFERENCE and USER")
            who = reference
            usr_in = load_input(who, fps=user_fps or ref_fps, layout=layout, name="user", fps_flag="--user-fps")
            usr_in.sequence.require_frames(2, source=who)
            rep = count_reps(usr_in.sequence, settings)
            rep.assumed.update(prefixed(usr_in.assumed, "user"))
            if plot is not None:
                from ..sequence.reps_plot import plot_reps

                plot_reps(rep, plot)
            _emit(rep, {"user": who}, plot, as_json)
            return
        ref_in = load_input(reference, fps=ref_fps, layout=layout, name="reference", fps_flag="--ref-fps")
        usr_in = load_input(user, fps=user_fps, layout=layout, name="user", fps_flag="--user-fps")
        ref_in.sequence.require_frames(2, source=reference)
        usr_in.sequence.require_frames(2, source=user)
        ref_seq = slice_seconds(ref_in.sequence, ref_start, ref_end)
        report = find_reps(ref_seq, usr_in.sequence, settings)
        report.assumed.update({**prefixed(ref_in.assumed, "reference"), **prefixed(usr_in.assumed, "user")})
        if plot is not None:
            from ..sequence.reps_plot import plot_reps

            plot_reps(report, plot)
        _emit(report, {"reference": reference, "user": user}, plot, as_json)


def _emit(report, names: dict, plot, as_json: bool) -> None:
    """Print a rep report (or count): its JSON with the input names and the plot's path, or its summary with
    what was assumed (stderr) and where the plot went."""
    from ..inputs import describe_assumed

    if as_json:
        emit_json({**report.to_dict(), **names, **({"plot": str(plot)} if plot is not None else {})})
        return
    typer.echo(report.summary())
    line = describe_assumed(report.assumed)
    if line:
        typer.echo(line, err=True)
    if plot is not None:
        typer.echo(f"plot written to {plot}")
