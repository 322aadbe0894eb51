"""``posesearch compare A B``: distance or similarity of two pose files."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import emit_json, handle_errors


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def compare(
        pose_a: Path = typer.Argument(..., metavar="POSE_A", help="First pose file (the query: its confidences weight the distance)."),
        pose_b: Path = typer.Argument(..., metavar="POSE_B", help="Second pose file."),
        strategy: str = typer.Option("weighted_distance", "--strategy", "-s",
                                     help="weighted_distance | cosine_distance | cosine_similarity | procrustes_distance"),
        mirror: bool = typer.Option(False, "--mirror", help="Also try B mirrored (left/right) and keep the better."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts."),
    ) -> None:
        """Distance or similarity of two poses. Pose files: JSON with "layout" and "keypoints" (a list of
        x, y, confidence triples; null = missing), PoseNet-style JSON, or .npy of shape (K, 3)."""
        from ..poses.io import read_pose_file
        from ..poses.similarity import pose_similarity, resolve_strategy

        resolve_strategy(strategy)  # fail on a bad name before reading files
        a = read_pose_file(pose_a)
        b = read_pose_file(pose_b)
        if a.layout.name != b.layout.name:
            a, b = a.to_coco(), b.to_coco()
        pa, pb = a.as_array()[0], b.as_array()[0]
        result = pose_similarity(pa, pb, strategy=strategy, layout=a.layout, mirror_invariant=mirror)
        value, mirrored = result if mirror else (result, False)
        if as_json:
            emit_json({"a": str(pose_a), "b": str(pose_b), "strategy": strategy, "value": value,
                       "mirrored": mirrored, "layout": a.layout.name})
        else:
            note = " (B mirrored)" if mirrored else ""
            typer.echo(f"{strategy}: {value:.6f}{note}")
