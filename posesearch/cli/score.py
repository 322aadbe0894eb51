"""``posesearch score REFERENCE USER``: how well a user's pose sequence follows a reference (0-100)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..inputs import FORMATS as INPUT_FORMATS
from ..sequence.align import ALIGNERS
from ..sequence.framedist import FRAME_DISTANCES
from ..sequence.resample import INTERPOLATIONS
from ..sequence.score import MIRROR_MARGIN, MIRROR_MODES
from ..sequence.smooth import SMOOTHERS
from ..errors import InvalidArgumentError
from .common import emit_json, handle_errors
from .options import format_option, json_option, layout_option, max_frames_option, view_option

def load_input(spec: str, *, fps: float | None, layout: str | None, name: str, fps_flag: str = "--fps",
               fmt: str | None = None, clip: str | None = None, clip_option: str | None = None,
               max_frames: int | None = None):
    """Any pose or sequence input that ``ingest`` reads (a file or folder, ``FILE:CLIP``, or
    ``CORPUS.h5:CLIP_ID``) as a :class:`posesearch.inputs.LoadedInput`; a file without frame times asks
    for the command's frame-rate option ``fps_flag``."""
    from ..errors import FrameRateUnknownError
    from ..inputs import read_input
    from .extract import media_progress

    try:
        with media_progress(spec) as progress:
            return read_input(spec, format=fmt, layout=layout, fps=fps, clip=clip, name=name, prefer="sequence",
                              clip_option=clip_option, progress=progress, max_frames=max_frames)
    except FrameRateUnknownError as e:
        raise FrameRateUnknownError(e.path, f"{e.problem} with {fps_flag} (e.g. {fps_flag} 30)") from None


def _for_video(spec: str, max_frames: int | None) -> int | None:
    """``--max-frames`` for an input that is a video or image file (by its suffix), else None."""
    from ..inputs import split_spec
    from ..video.decode import media_kind

    return max_frames if media_kind(split_spec(spec)[0]) else None


def _offset_text(offset: float) -> str:
    """How late the user was, as shown (an offset that rounds to 0.00 s is on time, never "-0.00 s")."""
    if offset != offset:
        return "n/a"
    if abs(offset) < 0.005:
        return "0.00 s (on time)"
    return f"{offset:+.2f} s (user {'late' if offset > 0 else 'early'})"


def _view_text(view: dict) -> str:
    """The view row: the mode, and the fitted camera."""
    cam = view.get("camera")
    if not cam:
        return view.get("mode", "2d")
    return (f"{view['mode']}: user's camera at yaw {cam['yaw']:.0f}°, pitch {cam['pitch']:.0f}° "
            f"(fit residual {cam['residual']:.3f}, {view.get('fitted_to', '')})")


def _print_report(report, reference: str, user: str) -> None:
    from rich.table import Table

    from .common import console

    con = console()
    r = report
    head = Table(title=f"score of {user} against {reference}", show_header=False, title_justify="left")
    head.add_column("what", style="bold")
    head.add_column("value")
    head.add_row("score", f"{r.score:.1f} / 100")
    head.add_row("time offset", _offset_text(r.time_offset))
    head.add_row("speed", _speed_text(r))
    head.add_row("mirrored", ("yes" if r.mirrored else "no") if r.mirror_decided else
                 f"undecided (both fits within {MIRROR_MARGIN:.0%}: a left/right symmetric motion?)")
    head.add_row("view", _view_text(r.view))
    head.add_row("method", f"{r.settings.smooth} / {r.settings.interp} / {r.settings.distance} / {r.alignment.method}")
    con.print(head)
    wj = r.worst_joints(5)
    if wj:
        t = Table(title="worst joints", title_justify="left")
        t.add_column("joint")
        t.add_column("score", justify="right")
        t.add_column("seen", justify="right")
        for k, v in wj:
            t.add_row(k, f"{v:.1f}", f"{100 * r.joint_coverage.get(k, 0):.0f}%")
        con.print(t)
    wm = r.worst_moments(3)
    if wm:
        t = Table(title="worst moments (reference time)", title_justify="left", min_width=32)
        t.add_column("from (s)", justify="right")
        t.add_column("to (s)", justify="right")
        t.add_column("score", justify="right")
        for a, b, s in wm:
            t.add_row(f"{a:.2f}", f"{b:.2f}", f"{s:.1f}")
        con.print(t)
    con.print(r.worst_moments_note(), highlight=False, markup=False)


def _speed_text(r) -> str:
    """The speed row: the estimate with its confidence, or why there is none."""
    conf = r.speed_confidence
    if r.speed_ratio == r.speed_ratio:
        return f"x{r.speed_ratio:.2f} of the reference" + ("" if conf != conf else f" (confidence {conf:.2f})")
    if conf == conf:
        return (f"n/a (confidence {conf:.2f}: the user moves {r.user_motion:.0%} as much as the reference and "
                f"holds still for {r.held_share:.0%} of it)")
    return "n/a"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def score(
        reference: str = typer.Argument(..., metavar="REFERENCE",
                                        help="Reference: a sequence file (.json/.npy/.npz), any source `ingest` "
                                             "reads (OpenPose folder, BVH, Penn .mat, COCO, ...; FILE:CLIP picks "
                                             "one clip) or CORPUS.h5:CLIP_ID."),
        user: str = typer.Argument(..., metavar="USER", help="User: same forms as REFERENCE."),
        ref_fps: Optional[float] = typer.Option(None, "--ref-fps", help="Reference frame rate (if the file has none)."),
        user_fps: Optional[float] = typer.Option(None, "--user-fps", help="User frame rate (if the file has none)."),
        layout: Optional[str] = layout_option("Keypoint layout of files that do not name one."),
        fmt: Optional[str] = format_option(f"Input format of both files: {INPUT_FORMATS.help()} "
                                           "(default: detected)."),
        smooth: str = typer.Option("kalman", "--smooth", help=SMOOTHERS.help()),
        interp: str = typer.Option("linear", "--interp", help=INTERPOLATIONS.help()),
        align: str = typer.Option("dtw", "--align", help=ALIGNERS.help()),
        mirror: Optional[str] = typer.Option(None, "--mirror", help=MIRROR_MODES.help(default="auto")),
        distance: Optional[str] = typer.Option(None, "--distance",
                                               help=FRAME_DISTANCES.help(default="procrustes", describe=True)),
        moments_from: str = typer.Option("samples", "--moments-from",
                                         help="samples: judge moments by the user's recorded frames only "
                                              "(interpolated ones take their neighbours' scores) | grid: by "
                                              "every resampled frame"),
        view: Optional[str] = view_option("Camera angle: "),
        as_json: bool = json_option("Print the full report as JSON."),
        plot: Optional[Path] = typer.Option(None, "--plot", help="Write a PNG: the score over time with the worst "
                                                                 "moments, the user's and the reference's skeletons "
                                                                 "there, and the alignment."),
        video: Optional[Path] = typer.Option(None, "--video", metavar="OUT.mp4",
                                             help="USER is a video: write it with the user's and the aligned "
                                                  "reference skeletons and the running score drawn over it "
                                                  "(.mp4 or .avi; the 'video' extra)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --video if it exists."),
        max_frames: Optional[int] = max_frames_option("Videos (REFERENCE or USER): read at most the first N "
                                                      "frames (needed for a video over 18,000 frames)."),
    ) -> None:
        """Score how well USER follows REFERENCE (0-100), with the worst joints and moments."""
        from ..errors import check_finite_positive, check_number
        from ..sequence.score import ScoreSettings, default_assumptions, score_sequence

        check_number("--max-frames", max_frames, integer=True, low=1, allow_none=True)
        if max_frames is not None and not (_for_video(reference, 1) or _for_video(user, 1)):
            raise InvalidArgumentError(f"--max-frames {max_frames}: limits the frames read from a video, but "
                                       f"neither REFERENCE nor USER is a video or image file")
        for n, v in (("--ref-fps", ref_fps), ("--user-fps", user_fps)):
            if v is not None:
                check_finite_positive(n, v)
        if plot is not None:
            from ..pictures.draw import check_png_path

            check_png_path(plot)          # before the work
        from ..inputs import describe_assumed, prefixed

        settings = ScoreSettings(smooth=smooth, interp=interp, align=align,
                                 mirror="auto" if mirror is None else mirror,
                                 distance="procrustes" if distance is None else distance, layout=layout,
                                 moments_from=moments_from, view="auto" if view is None else view)
        if video is not None:
            from ..files import output_path
            from ..video.overlay import CODECS

            video = output_path(video, "", overwrite=overwrite, inputs=[reference, user], what="--video")
            if video.suffix.lower() not in CODECS:
                raise InvalidArgumentError(f"--video {video}: expected a {' or '.join(CODECS)} file name")
        ref_in = load_input(reference, fps=ref_fps, layout=layout, name="reference", fps_flag="--ref-fps", fmt=fmt,
                            max_frames=_for_video(reference, max_frames))
        usr_in = load_input(user, fps=user_fps, layout=layout, name="user", fps_flag="--user-fps", fmt=fmt,
                            max_frames=_for_video(user, max_frames))
        if video is not None and usr_in.format != "video":
            raise InvalidArgumentError(f"--video {video}: draws over the user's video, but USER {user} was read as "
                                       f"{usr_in.format}, not a video")
        ref_in.sequence.require_frames(2, source=reference)   # names the file: "reference (clip.json): ..."
        usr_in.sequence.require_frames(2, source=user)
        report = score_sequence(ref_in.sequence, usr_in.sequence, settings=settings)
        assumed = {**prefixed(ref_in.assumed, "reference"), **prefixed(usr_in.assumed, "user"),
                   **default_assumptions(report, mirror_given=mirror is not None, distance_given=distance is not None)}
        if "view" in report.assumed:         # auto fitted the user's camera to the reference's 3D joints
            assumed["view"] = report.assumed["view"]
        if plot is not None:
            from ..sequence.plot import plot_report

            plot_report(report, plot, title=Path(user).name)
        report.assumed.update(assumed)
        overlay = None
        if video is not None:
            from ..video.overlay import write_overlay
            from .extract import frame_progress

            with frame_progress(f"drawing {video.name}") as progress:
                overlay = write_overlay(video, usr_in.source, usr_in.sequence, ref_in.sequence, report,
                                        progress=progress)
        if as_json:
            d = report.to_dict()
            d.update(reference=reference, user=user)
            if plot is not None:
                d["plot"] = str(plot)
            if overlay is not None:
                d["video"] = overlay
            emit_json(d)
        else:
            _print_report(report, reference, user)
            line = describe_assumed(assumed)
            if line:   # on stderr, like every command's notes
                typer.echo(line, err=True)
            if plot is not None:
                typer.echo(f"plot written to {plot}")
            if overlay is not None:
                typer.echo(f"video written to {video} ({overlay['frames']:,} frames, {overlay['seconds']:.1f} s)")
