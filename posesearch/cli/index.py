"""``posesearch build`` (index a corpus) and ``posesearch query`` (nearest frames of a pose or sequence)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import InvalidArgumentError, InvalidPoseError, check_number
from ..text import plural
from ..index.backend import backend_options
from ..index.registry import BACKENDS, DEFAULT_BACKEND
from ..inputs import FORMATS as INPUT_FORMATS
from ..poses.distances import METRICS
from .common import add_fixed_columns, cut_to, emit_json, fmt_bytes, handle_errors
from .options import (format_option, json_option, k_option, layout_option, max_frames_option, mirror_option,
                      parse_key_values, view_option, with_param_options)

def _backend_params(backend: str, given: dict[str, Any], extra: list[str]) -> dict[str, Any]:
    """The options the user set (flags and ``--param KEY=VALUE``), checked against the backend's parameters."""
    import dataclasses

    from ..index.registry import get_backend_spec

    spec = get_backend_spec(backend)
    fields = {f.name for f in dataclasses.fields(spec.load().Params)}
    flags = {o.name: o.flag for o in backend_options()}
    params = {k: v for k, v in given.items() if v is not None}
    params.update(parse_key_values(extra, "--param"))
    for key in params:
        if key not in fields:
            opts = sorted(flags.get(f, f"--param {f}=...") for f in fields) or ["none"]
            shown = flags.get(key, f"--param {key}")
            raise InvalidArgumentError(f"option {shown} does not apply to backend {spec.name!r} "
                                       f"(its options: {', '.join(opts)})")
    return params


def backend_help() -> str:
    """``--backend``'s help: every registered backend, the default marked, exact ones said so."""
    parts = []
    for name, spec in BACKENDS.items():
        cls = spec.load()
        exact = all(cls.exact_for(m) for m in METRICS) and name != "exact"
        notes = [n for n, ok in (("exact", exact), ("default", name == DEFAULT_BACKEND)) if ok]
        parts.append(f"{name} ({', '.join(notes)})" if notes else name)
    return " | ".join(parts)


def _read_query_input(path, layout: str | None, fmt: str | None = None, clip: str | None = None,
                      max_frames: int | None = None):
    """Any pose or sequence input ``ingest`` reads, as a :class:`posesearch.inputs.LoadedInput` (every frame
    is a query; frame times do not matter to a frame query, so a file without them is read at 30 fps)."""
    from ..errors import FrameRateUnknownError
    from ..inputs import read_input
    from .extract import media_progress

    try:
        with media_progress(path) as progress:
            return read_input(path, format=fmt, layout=layout, clip=clip, name=str(path), prefer="pose",
                              clip_option="--clip", progress=progress, max_frames=max_frames)
    except FrameRateUnknownError:
        return read_input(path, format=fmt, layout=layout, clip=clip, fps=30.0, name=str(path), prefer="pose",
                          clip_option="--clip", max_frames=max_frames)


def _read_queries(path: Path, layout: str | None):
    """(keypoints (B, K, 2), confidences (B, K), layout, is_sequence) from a pose or sequence input."""
    got = _read_query_input(path, layout)
    q = got.poses()
    return q.keypoints, q.confidences, q.layout, got.format != "pose"


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    @with_param_options(backend_options(), "backend_params", before="param")
    def build(
        corpus: Path = typer.Argument(..., metavar="CORPUS", help="Corpus file (made by `posesearch ingest`)."),
        backend: str = typer.Option(DEFAULT_BACKEND, "--backend", "-b", help=backend_help()),
        metric: str = typer.Option("weighted", "--metric", "-m", help=" | ".join(METRICS.names()) +
                                   " (weighted: Move Mirror's, weights from the query)"),
        out: Optional[str] = typer.Option(None, "--out", "-o", metavar="PATH",
                                          help="Index file to write (default indexes/CORPUS-BACKEND-METRIC.h5; a "
                                               "folder: that name inside it)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing index file."),
        param: Optional[List[str]] = typer.Option(None, "--param", help="Other backend parameter KEY=VALUE."),
        shards: Optional[int] = typer.Option(None, "--shards", metavar="N",
                                             help="Split the corpus into N shards (contiguous frame ranges), each an "
                                                  "ordinary index file, plus a manifest (--out) that `query` and "
                                                  "`info` take like one index. Built in parallel."),
        workers: Optional[int] = typer.Option(None, "--workers", help="--shards: processes building shards at once "
                                                                      "(default: one per CPU)."),
        on_ray: bool = typer.Option(False, "--ray", help="--shards: build the shards as Ray tasks (the 'cluster' "
                                                         "extra; joins RAY_ADDRESS's cluster or starts a local Ray)."),
        as_json: bool = json_option("Print a JSON summary."),
        backend_params: dict = None,
    ) -> None:
        """Build a nearest-pose index over a corpus's valid frames and save it as one HDF5 file (or, with
        --shards N, as N shard files and a manifest)."""
        import time

        from ..corpus.store import Corpus
        from ..index.index import Index
        from ..index.registry import get_backend_spec
        from ..poses.distances import get_metric

        spec = get_backend_spec(backend)
        metric_name = get_metric(metric).name
        params = _backend_params(spec.name, backend_params or {}, param or [])
        from ..index.backend import parse_params

        parse_params(spec.load().Params, spec.name, params)   # bad values fail before any work
        from ..files import output_path

        if shards is None and (workers is not None or on_ray):
            raise InvalidArgumentError(f"{'--ray' if on_ray else '--workers'}: only applies with --shards N")
        suffix = "" if shards is None else f"-{check_number('--shards', shards, integer=True, low=1)}shards"
        out = output_path(out, f"{corpus.stem}-{spec.name}-{metric_name}{suffix}.h5", overwrite=overwrite,
                          inputs=[corpus], default_dir="indexes")
        if shards is not None:
            _build_shards(corpus, out, shards, spec.name, metric_name, params, workers, on_ray, overwrite, as_json)
            return
        t0 = time.perf_counter()
        from rich.console import Console

        err_console = Console(stderr=True)
        with Corpus.open(corpus) as c:
            if as_json or not err_console.is_terminal:
                index = Index.build(c, metric=metric_name, backend=spec.name, **params)
            else:
                from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

                with Progress(TextColumn("[bold]building {task.description}"), BarColumn(),
                              TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                              console=err_console, transient=True) as bar:
                    task = bar.add_task(f"{spec.name} ({metric_name})", total=None)

                    def progress(done: int, total: int) -> None:
                        bar.update(task, completed=done, total=total)

                    index = Index.build(c, metric=metric_name, backend=spec.name, progress=progress, **params)
            n_frames = len(c)
        index.save(out)
        seconds = time.perf_counter() - t0
        size = out.stat().st_size
        summary = {"index": str(out), "corpus": str(corpus), "backend": spec.name, "metric": metric_name,
                   "params": index.params, "frames_indexed": len(index), "corpus_frames": n_frames,
                   "build_seconds": index.attrs.get("build_seconds"), "total_seconds": round(seconds, 3),
                   "size_bytes": size, "exact": index.exact}
        recall = {k: index.attrs[k] for k in ("build_recall_at_10", "build_recall_queries") if k in index.attrs}
        summary.update(recall)
        if "view_unliftable" in index.attrs:
            summary["view_unliftable"] = int(index.attrs["view_unliftable"])
        if as_json:
            emit_json(summary)
            return
        exact = "exact" if index.exact else "approximate"
        typer.echo(f"built {out}: {spec.name} index ({exact}, metric {metric_name}) over "
                   f"{len(index):,} of {plural(n_frames, 'frame')} in {corpus}")
        typer.echo(f"build {summary['build_seconds']:.2f} s (total {seconds:.2f} s); {fmt_bytes(size)} on disk")
        if summary.get("view_unliftable"):
            typer.echo(f"{plural(summary['view_unliftable'], 'valid frame')} left out: fewer than 4 joints, too few "
                       "to lift to 3D (metric view)")
        if recall:
            typer.echo(f"recall@10 {recall['build_recall_at_10']} against brute force on "
                       f"{recall['build_recall_queries']} of its own frames, jittered (shown by `posesearch info`)")

    @app.command()
    @handle_errors
    def query(
        index_file: Path = typer.Argument(..., metavar="INDEX", help="Index file (made by `posesearch build`)."),
        pose_file: Path = typer.Argument(..., metavar="POSE_FILE",
                                         help="Pose file (JSON / .npy (K, 3)), sequence file (JSON with frames, .npy "
                                              "(T, K, 3), .npz) or any source `ingest` reads (OpenPose folder, BVH, "
                                              "Penn .mat, COCO, ...; FILE:CLIP picks a clip): every frame is a query."),
        k: Optional[int] = k_option("Number of nearest frames per query (default 10; "
                                    "with --sequence 50 per user frame)."),
        mirror: Optional[bool] = mirror_option("Also match the mirror image (left/right swapped). Default: "
                                               "off for frames, on with --sequence (webcams often mirror)."),
        corpus: Optional[Path] = typer.Option(None, "--corpus",
                                              help="Corpus for frame metadata (default: the one the index remembers)."),
        layout: Optional[str] = layout_option("Keypoint layout of the pose file "
                                              "(default: the file's, or by keypoint count)."),
        fmt: Optional[str] = format_option(f"Input format: {INPUT_FORMATS.help()} (default: detected)."),
        clip: Optional[str] = typer.Option(None, "--clip",
                                           help="The clip to read from a source holding several (a COCO file, an "
                                                "OpenPose folder of several persons, ...): its id or last part."),
        as_json: bool = json_option(),
        ef_search: Optional[int] = typer.Option(None, "--ef-search",
                                                help="faiss HNSW: search beam for this query (default: the "
                                                     "index's; larger = higher recall, slower)."),
        nprobe: Optional[int] = typer.Option(None, "--nprobe", help="faiss IVF: cells visited for this query."),
        local: bool = typer.Option(False, "--local", help="Sharded index: search every shard in this process, one "
                                                           "thread a shard (the default unless a Ray cluster is "
                                                           "running or RAY_ADDRESS names one)."),
        on_ray: bool = typer.Option(False, "--ray", help="Sharded index: serve each shard by a Ray actor (the "
                                                         "'cluster' extra; joins RAY_ADDRESS's cluster or starts a "
                                                         "local Ray)."),
        allow_partial: bool = typer.Option(False, "--allow-partial",
                                           help="Sharded index: if a shard fails to answer, print the best of the "
                                                "others, marked partial (default: an error)."),
        sequence: bool = typer.Option(False, "--sequence",
                                      help="Treat POSE_FILE as one performance: find the corpus clips it matches "
                                           "in order, with the matched segment and a 0-100 score."),
        top: Optional[int] = typer.Option(None, "--top", help="--sequence: number of clips to show (default 5)."),
        fps: Optional[float] = typer.Option(None, "--fps", help="--sequence: frame rate of the sequence file "
                                                                "(if it has none)."),
        plot: Optional[Path] = typer.Option(None, "--plot",
                                            help="Write a PNG: the query skeleton beside its k nearest corpus "
                                                 "frames (the first query of a sequence file)."),
        view: Optional[str] = view_option("--sequence: camera angle when scoring the candidate clips: "),
        refine: Optional[str] = typer.Option(None, "--refine",
                                             help="--sequence: when the candidate clips are scored to rank them: "
                                                  "always (every candidate), auto (default: only when the "
                                                  "per-frame vote is ambiguous: its winner has < 2x the runner-up's "
                                                  "votes, or a clip scored matches better), never (the vote ranks; "
                                                  "only the clips shown are scored)."),
        segment: Optional[str] = typer.Option(None, "--segment",
                                              help="--sequence: the clip times that bound the scored segment: hits "
                                                   "(first to last hit on the clip's time line) or vote "
                                                   "(default: the nearest frames of the user frames that voted for "
                                                   "the clip: closer ends)."),
        max_frames: Optional[int] = max_frames_option("A video query: read at most its first N frames (needed "
                                                      "for a video over 18,000 frames)."),
    ) -> None:
        """The k nearest corpus frames of a pose (or of every frame of a sequence); with --sequence, the clips
        a whole sequence performed."""

        if not sequence:     # options of a whole-sequence query: what each means there, what a frame query does
            for flag, value, means, instead in (
                    ("--top", top, "the number of clips a whole sequence matched",
                     "frame queries show -k nearest frames per query"),
                    ("--view", view, "the candidate clips are scored in the user's view",
                     "frame queries compare poses as they are"),
                    ("--refine", refine, "how the clips a whole sequence matched are ranked",
                     "frame queries are ranked by distance"),
                    ("--segment", segment, "the matched part of a clip", "frame queries match single frames"),
                    ("--fps", None if fps is None else f"{fps:g}", "frame times matter when a whole sequence is "
                     "aligned", "a frame query does not use them")):
                if value is not None:
                    raise InvalidArgumentError(f"{flag} {value}: only applies with --sequence ({means}); {instead}")
        if plot is not None:
            if sequence:
                raise InvalidArgumentError("--plot: draws the nearest frames of a pose; with --sequence, score the "
                                           "matched clip (`posesearch score ... --plot`) to see it")
            from ..pictures.draw import check_png_path

            check_png_path(plot)          # before the work
        if top is None:
            top = 5
        else:
            check_number("--top", top, integer=True, low=1)
        if k is None:
            k = 50 if sequence else 10
        assumed: dict = {}
        if mirror is None:
            mirror = sequence
            assumed["mirror"] = {"value": "on" if mirror else "off",
                                 "why": "the default " + ("with --sequence (webcams often mirror); --no-mirror "
                                                          "to turn it off" if sequence else
                                                          "for frame queries; --mirror to also match the mirror image")}
        check_number("-k", k, integer=True, low=1)
        check_number("--max-frames", max_frames, integer=True, low=1, allow_none=True)
        idx = _load_index(index_file, local, on_ray, allow_partial)
        search_params = {n: v for n, v in (("ef_search", ef_search), ("nprobe", nprobe)) if v is not None}
        if search_params:
            idx.set_search_params(**search_params)
        if k > len(idx):
            raise InvalidArgumentError(f"-k: expected 1 <= k <= {len(idx)} (the number of indexed frames), got {k}")
        note = None
        if corpus is not None:
            idx.attach_corpus(corpus)
        elif idx.corpus_checksum:
            where = idx.resolve_corpus_path()
            if where is None:
                note = (f"note: corpus {idx.corpus_path} not found; showing frame ids only "
                        "(pass --corpus PATH for clips, frames and labels)")
            else:
                idx.attach_corpus(where)
        if sequence:
            if note:
                raise InvalidArgumentError(f"--sequence: the index's corpus {idx.corpus_path} was not found; "
                                           "pass --corpus PATH")
            _query_sequence(idx, index_file, pose_file, k=k, top=top, mirror=mirror, fps=fps, layout=layout,
                            as_json=as_json, fmt=fmt, clip=clip, assumed=assumed, view=view, max_frames=max_frames,
                            refine=refine, segment=segment)
            return
        got = _read_query_input(pose_file, layout, fmt, clip, max_frames)
        assumed = {**got.assumed, **assumed}
        queries = got.poses()
        kp, cf, lay = queries.keypoints, queries.confidences, queries.layout
        is_seq = got.format != "pose"
        try:
            matches = idx.search(kp, k, layout=lay, confidences=cf, mirror=mirror)
        except InvalidPoseError as e:   # name the file the bad pose came from
            raise InvalidPoseError(f"{pose_file}: {e}") from None
        if note:
            typer.echo(note, err=True)
        if plot is not None:
            if idx.corpus is None:
                raise InvalidArgumentError(f"--plot: the match skeletons come from the corpus; {idx.corpus_path} "
                                           "was not found: pass --corpus PATH")
            matches.plot(plot, kp, idx.corpus, layout=lay, confidences=cf, query_name=pose_file.name)
        records = matches.to_records()
        partial = {"partial": matches.partial is not None, **(matches.partial or {})} if allow_partial else {}
        if matches.partial is not None:
            typer.echo(f"warning: partial answer, {plural(matches.partial['missing_frames'], 'frame')} of "
                       f"{matches.partial['total_frames']:,} not searched ({matches.partial['reason']})", err=True)
        if as_json:
            emit_json({"index": str(index_file), "query": str(pose_file), "backend": idx.backend_name,
                       "metric": idx.metric, "k": k, "mirror": mirror, "exact": idx.exact,
                       "corpus": str(idx.corpus.path) if idx.corpus is not None else None,
                       "format": got.format, "clip": got.clip_id, "layout": lay.name, "assumed": assumed,
                       **partial, "results": [{"query": b, "matches": r} for b, r in enumerate(records)],
                       **({"plot": str(plot)} if plot is not None else {})})
            return
        _print_matches(records, idx, mirror, pose_file, is_seq)
        _echo_assumed(assumed)
        if plot is not None:
            typer.echo(f"plot written to {plot}" + (f" (query 0 of {len(records)})" if len(records) > 1 else ""))


def _load_index(path: Path, local: bool, on_ray: bool, allow_partial: bool):
    """``query``'s index: one index file, or a sharded index's manifest with its execution options."""
    from ..index.index import Index
    from ..index.manifest import is_manifest

    if local and on_ray:
        raise InvalidArgumentError("--local and --ray: choose one (--local searches the shards in this process, "
                                   "--ray on Ray actors)")
    if not is_manifest(path):
        used = [f for f, on in (("--local", local), ("--ray", on_ray), ("--allow-partial", allow_partial)) if on]
        if used:
            raise InvalidArgumentError(f"{' '.join(used)}: only applies to a sharded index (a manifest written by "
                                       f"`posesearch build CORPUS --shards N`); {path} is one index file")
        return Index.load(path)
    return Index.load(path, execution="local" if local else "ray" if on_ray else "auto", allow_partial=allow_partial)


def _build_shards(corpus: Path, out: Path, shards: int, backend: str, metric: str, params: dict, workers, on_ray: bool,
                  overwrite: bool, as_json: bool) -> None:
    """``build --shards N``: the shards built in parallel, then the manifest."""
    from rich.console import Console

    from ..index.sharded import build_sharded

    err_console = Console(stderr=True)
    kwargs = dict(metric=metric, backend=backend, params=params, workers=workers,
                  parallel="ray" if on_ray else "processes", overwrite=overwrite)
    if as_json or not err_console.is_terminal:
        summary = build_sharded(corpus, out, shards, **kwargs)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("[bold]building shards of {task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=err_console, transient=True) as bar:
            task = bar.add_task(f"{backend} ({metric})", total=shards)
            summary = build_sharded(corpus, out, shards, progress=lambda d, t: bar.update(task, completed=d, total=t),
                                    **kwargs)
    if as_json:
        emit_json(summary)
        return
    exact = "exact" if summary["exact"] else "approximate"
    typer.echo(f"built {out}: {summary['shards']} {backend} shards ({exact}, metric {metric}) over "
               f"{summary['frames_indexed']:,} of {plural(summary['corpus_frames'], 'frame')} in {corpus}")
    secs = summary["shard_build_seconds"]
    typer.echo(f"{summary['workers']} {'Ray tasks' if on_ray else 'processes'}; shard build {min(secs):.2f}-"
               f"{max(secs):.2f} s (total {summary['total_seconds']:.2f} s); {fmt_bytes(summary['size_bytes'])} on disk")
    if "build_recall_at_10" in summary:
        typer.echo(f"recall@10 {summary['build_recall_at_10']} of the merged answer against brute force over every "
                   f"shard's frames, on {summary['build_recall_queries']} of them, jittered (shown by `posesearch info`)")
    if "shard_recall_at_10" in summary:
        r = summary["shard_recall_at_10"]
        typer.echo(f"recall@10 per shard: min {r['min']}, mean {r['mean']} (each on its own frames, jittered)")


def _echo_assumed(assumed: dict) -> None:
    from ..inputs import describe_assumed

    line = describe_assumed(assumed)
    if line:   # a note on stderr, like the corpus note: stdout keeps the results
        typer.echo(line, err=True)


def _query_sequence(idx, index_file: Path, pose_file: Path, *, k: int, top: int, mirror: bool,
                    fps: float | None, layout: str | None, as_json: bool, fmt: str | None = None,
                    clip: str | None = None, assumed: dict | None = None, view: str | None = None,
                    max_frames: int | None = None, refine: str | None = None,
                    segment: str | None = None) -> None:
    """``query --sequence``: the clips a whole sequence performed (Index.search_sequence)."""
    from .score import load_input

    if fps is not None and not fps > 0:
        raise InvalidArgumentError(f"--fps: expected a frame rate > 0, got {fps}")
    if idx.corpus is None:
        raise InvalidArgumentError("--sequence needs the index's corpus (clip ids and reference frames): "
                                   "pass --corpus PATH")
    got = load_input(str(pose_file), fps=fps, layout=layout, name="sequence", fmt=fmt, clip=clip,
                     clip_option="--clip", max_frames=max_frames)
    got.sequence.require_frames(2, source=str(pose_file),
                                single_pose_hint="a single pose: query it without --sequence")
    assumed = {**got.assumed, **(assumed or {})}
    res = idx.search_sequence(got.sequence, top=top, k=k, mirror=mirror, view=view,
                              **{n: v for n, v in (("refine", refine), ("segment", segment)) if v is not None})
    if not as_json:
        _echo_assumed(assumed)
    if as_json:
        emit_json({"index": str(index_file), "query": str(pose_file), "backend": idx.backend_name,
                   "metric": idx.metric, "exact": idx.exact, "corpus": str(idx.corpus.path),
                   "format": got.format, "clip": got.clip_id, "layout": got.sequence.layout.name,
                   "assumed": assumed, **res.to_dict()})
        return
    from rich import box
    from rich.table import Table

    from .common import console

    con = console()
    title = (f"clips matching {pose_file.name} ({res.frames_queried} of {plural(res.frames, 'frame')} queried, k = {k}) — "
             f"{idx.backend_name}, {idx.metric}")
    if not res.clips:
        con.print(title)
        con.print(f"no clip matched: {res.reason}")
        return
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    headers = (("#", "right"), ("clip", "left"), ("frames", "right"), ("time s", "right"), ("score", "right"),
               ("match", "right"), ("covered", "right"), ("speed", "right"), ("mirror", "left"))
    rows = [[str(i), c.clip_id, f"{c.start_frame}-{c.end_frame}", f"{c.start_time:.2f}-{c.end_time:.2f}",
             f"{c.score:.1f}", f"{c.match:.1f}", f"{c.coverage:.0%}",
             f"x{c.speed_ratio:.2f}" if c.speed_ratio == c.speed_ratio else "-", "yes" if c.mirrored else ""]
            for i, c in enumerate(res.clips, 1)]
    widths = add_fixed_columns(table, headers, rows)
    labels = [", ".join(f"{a}={b}" for a, b in c.labels.items()) for c in res.clips]
    budget = con.width - sum(widths) - 2 * len(widths) - 2
    if budget >= 16:   # labels cut to what is left of the terminal
        table.add_column("labels", no_wrap=True)
        rows = [r + [cut_to(t, budget)] for r, t in zip(rows, labels)]
    for r in rows:
        table.add_row(*r)
    con.print(table)
    ranking = ("the ranking" if res.refined else
               "the ranking after the first clip, which the per-frame vote put first: see 'refined' below")
    con.print("score: 0-100 against the matched segment; covered: frames whose nearest corpus frames fall on the "
              f"clip in order; match = score x covered ({ranking})")
    if res.why_fewer:
        con.print(res.why_fewer, highlight=False, markup=False)
    con.print(f"refined: {'yes' if res.refined else 'no'} ({res.refine_note})", highlight=False, markup=False)


def _print_matches(records, idx, mirror: bool, pose_file: Path, is_seq: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    meta = idx.corpus is not None
    multi = len(records) > 1
    exact = "exact" if idx.exact else "approximate"
    queried = f" ({plural(len(records), 'frame')})" if multi else ""
    title = (f"{plural(len(records[0]), 'nearest frame')} of {pose_file.name}{queried}"
             f" — {idx.backend_name} ({exact}{_shards_note(idx)}), {idx.metric}")
    from rich import box

    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
                  collapse_padding=True)
    headers: list[tuple[str, str]] = []   # (name, justify)
    if multi:
        headers.append(("query", "right"))
    headers += [("#", "right"), ("distance", "right")]
    if mirror:
        headers.append(("mirror", "left"))
    if meta:
        headers += [("clip", "left"), ("frame", "right"), ("time", "right")]
    else:
        headers.append(("frame id", "right"))
    rows_out: list[list[str]] = []
    labels_out: list[str] = []
    ends: list[bool] = []
    for b, rows in enumerate(records):
        for j, r in enumerate(rows):
            cells = [str(b)] if multi else []
            cells += [str(r["rank"]), f"{r['distance']:.6f}"]
            if mirror:
                cells.append("yes" if r["mirrored"] else "")
            if not meta:
                cells.append(str(r["id"]))
            else:
                cells += [r["clip"], str(r["frame"]), f"{r['time']:.3f}"]
                labels_out.append(", ".join(f"{key}={val}" for key, val in r["labels"].items()))
            rows_out.append(cells)
            ends.append(multi and j == len(rows) - 1 and b < len(records) - 1)
    # fixed columns keep their full width; the labels are cut to what is left of the terminal
    widths = add_fixed_columns(table, headers, rows_out)
    if meta:
        budget = con.width - sum(widths) - 2 * len(widths) - 2
        if budget >= 16:  # one line per match, labels cut to fit
            labels_out = [cut_to(t, budget) for t in labels_out]
            table.add_column("labels", no_wrap=True)
        else:
            meta = False
            table.caption = "labels not shown: terminal too narrow (use --json)"
    for i, cells in enumerate(rows_out):
        table.add_row(*(cells + ([labels_out[i]] if meta else [])), end_section=ends[i])
    con.print(table)


def _shards_note(idx) -> str:
    """", N shards on local threads / Ray actors" for a sharded index, else nothing."""
    shards = getattr(idx, "shards", None)
    if not shards:
        return ""
    return f", {plural(len(shards), 'shard')} on {'Ray actors' if idx.execution == 'ray' else 'local threads'}"
