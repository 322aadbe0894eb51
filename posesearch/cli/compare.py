"""``posesearch compare A B``: distance or similarity of two pose files."""
from __future__ import annotations

from typing import Optional

import typer

from ..errors import InvalidArgumentError
from ..inputs import FORMATS as INPUT_FORMATS
from ..inputs import describe_assumed
from ..poses.pose import Poses
from ..poses.similarity import STRATEGIES
from .common import emit_json, handle_errors
from .options import format_option, json_option, layout_option, mirror_option


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def compare(
        pose_a: str = typer.Argument(..., metavar="POSE_A", help="First pose (the query: its confidences weight the distance)."),
        pose_b: str = typer.Argument(..., metavar="POSE_B", help="Second pose."),
        strategy: Optional[str] = typer.Option(None, "--strategy", "-s",
                                               help=STRATEGIES.help(default="weighted_distance")),
        mirror: Optional[bool] = mirror_option("Also try B mirrored (left/right) and keep the better (default: off)."),
        layout: Optional[str] = layout_option("Keypoint layout of files that do not name one "
                                              "(default: by keypoint count or part names)."),
        fmt: Optional[str] = format_option(f"Input format of both: {INPUT_FORMATS.help()} (default: detected)."),
        frame: Optional[int] = typer.Option(None, "--frame", help="Frame of a multi-frame input to compare "
                                                                   "(required when it has several)."),
        as_json: bool = json_option(),
    ) -> None:
        """Distance or similarity of two poses. Pose files: JSON with "layout" and "keypoints" (a list of
        x, y, confidence triples; null = missing), PoseNet-style JSON, or .npy of shape (K, 3); also one frame
        of anything `ingest` reads (FILE:CLIP picks a clip, --frame a frame)."""
        from ..inputs import prefixed, read_input
        from ..poses.similarity import pose_similarity, resolve_strategy

        name = "weighted_distance" if strategy is None else strategy   # "" is an error, not the default
        resolve_strategy(name)  # fail on a bad name before reading files
        assumed: dict = {}
        poses = []
        for spec, who in ((pose_a, "a"), (pose_b, "b")):
            got = read_input(spec, format=fmt, layout=layout, fps=30.0, name=spec, prefer="pose")
            p = got.poses()
            if len(p) > 1:
                if frame is None:
                    raise InvalidArgumentError(f"{spec}: holds {len(p)} frames; choose one with --frame (0..{len(p) - 1})")
                if not 0 <= frame < len(p):
                    raise InvalidArgumentError(f"--frame: expected 0..{len(p) - 1} for {spec}, got {frame}")
                p = Poses(p.keypoints[frame:frame + 1], p.confidences[frame:frame + 1], p.layout)
            assumed.update(prefixed(got.assumed, who))
            poses.append(p)
        a, b = poses
        if a.layout.name != b.layout.name:
            a, b = a.to_coco(), b.to_coco()
        if strategy is None:
            assumed["strategy"] = {"value": name, "why": "the default; --strategy picks another"}
        if mirror is None:
            assumed["mirror"] = {"value": "off", "why": "the default; --mirror also tries B mirrored"}
        pa, pb = a.as_array()[0], b.as_array()[0]
        result = pose_similarity(pa, pb, strategy=name, layout=a.layout, mirror_invariant=bool(mirror),
                                 names=(str(pose_a), str(pose_b)))
        value, mirrored = result if mirror else (result, False)
        if as_json:
            emit_json({"a": str(pose_a), "b": str(pose_b), "strategy": name, "value": value,
                       "mirrored": mirrored, "layout": a.layout.name, "assumed": assumed})
        else:
            note = " (B mirrored)" if mirrored else ""
            typer.echo(f"{name}: {value:.6f}{note}")
            line = describe_assumed(assumed)
            if line:   # a note, like query's: stdout keeps the one result line
                typer.echo(line, err=True)
