"""``posesearch ingest`` (read pose datasets into a corpus file) and ``posesearch info`` (describe a file)."""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..corpus.readers import READERS, reader_options
from ..errors import FileFormatError, InvalidArgumentError, UnknownNameError
from ..text import plural
from .common import emit_json, fmt_bytes, handle_errors
from .options import format_option, json_option, parse_key_values, with_param_options

#: ``posesearch info`` dispatches on a file's ``format`` attribute: format name -> "module:function",
#: the function being ``describe(path, *, verify=False) -> dict``. A module without that function
#: gets the generic description (its HDF5 attributes).
INFO_DESCRIBERS: dict[str, str] = {
    "posesearch-corpus": "posesearch.corpus.store:describe",
    "posesearch-index": "posesearch.index.fileformat:describe",
    "posesearch-shards": "posesearch.index.sharded:describe",
}


def _parse_numbers(text: str, flag: str) -> list[float]:
    """A list option's comma-separated numbers (``--views 0,45,90``)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        try:
            out.append(float(part))
        except ValueError:
            raise InvalidArgumentError(f"{flag}: expected comma-separated numbers like 0,45,90, got {text!r}") from None
    return out


def _reader_options(fmt: str, given: dict[str, Any]) -> dict[str, Any]:
    """Keep the options the user gave; error if one does not apply to the format's reader."""
    from ..corpus.readers import get_reader

    mod = get_reader(fmt)
    params = {f.name for f in dataclasses.fields(mod.Options)}
    for name in given:
        if name not in params:
            valid = ", ".join("--" + p.replace("_", "-") for p in sorted(params)) or "none"
            raise InvalidArgumentError(f"option --{name.replace('_', '-')} does not apply to format {mod.FORMAT!r} "
                                       f"(its options: {valid})")
    return given


def _describe(path: Path, verify: bool) -> dict:
    from ..files import open_h5, read_attrs

    with open_h5(path, kind="posesearch") as f:
        raw = read_attrs(f, path, kind="file")
    fmt = raw.get("format")
    if fmt is None:
        raise FileFormatError(path, f"not a posesearch file (HDF5 without a 'format' attribute; known formats: "
                                    f"{', '.join(sorted(INFO_DESCRIBERS))})")
    if not isinstance(fmt, str) or fmt not in INFO_DESCRIBERS:   # (a list attribute is not hashable)
        raise UnknownNameError("file format", fmt if isinstance(fmt, str) else repr(fmt)[:60], INFO_DESCRIBERS)
    mod_name, fn_name = INFO_DESCRIBERS[fmt].split(":")
    fn: Callable | None = None
    try:
        fn = getattr(importlib.import_module(mod_name), fn_name, None)
    except ModuleNotFoundError as e:
        if e.name is None or not mod_name.startswith(e.name):
            raise
    if fn is not None:
        return fn(path, verify=verify)
    if verify:
        raise InvalidArgumentError(f"--verify is not available for {fmt} files yet")
    out = dict(raw)
    out["path"] = str(path)
    out["size_bytes"] = path.stat().st_size
    return out


def _print_info(info: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    order = ["path", "format", "format_version", "layout", "num_frames", "num_valid", "num_clips", "source_layouts",
             "size_bytes", "created", "updated", "created_by", "updated_by", "normalization", "checksum",
             "checksum_algorithm"]
    keys = [k for k in order if k in info] + sorted(k for k in info if k not in order and k not in ("joints", "verified"))
    keys = [k for k in keys if k not in ("search", "recall") and not k.startswith("build_recall_")]
    for k in keys:
        v = info[k]
        if k == "size_bytes":
            v = fmt_bytes(int(v))
        elif k == "num_valid" and _is_count(v) and _is_count(info.get("num_frames")) and info["num_frames"]:
            v = f"{v} ({100.0 * v / info['num_frames']:.1f}%; the rest cannot be normalized and are not indexed)"
        elif isinstance(v, (dict, list)):
            v = json.dumps(v)
        table.add_row(k, str(v))
    search = info.get("search")
    if isinstance(search, dict):   # an index's search settings, automatic values spelled out
        for k, v in search.items():
            table.add_row(f"search {k}", str(v))
    rec = info.get("recall")
    if isinstance(rec, dict) and rec:
        if rec.get("exact"):
            line = "exact (every query gets its true nearest frames)"
        elif not rec.get("measured"):
            line = "approximate; not measured (built by an older posesearch: rebuild to measure it)"
        else:
            line = f"{rec['recall']} over {rec['queries']} queries ({rec['how']})"
        table.add_row(f"recall@{rec.get('k', 10)}" if rec.get("measured") else "recall", line)
    if "verified" in info:
        table.add_row("verified", _verified_line(info["verified"]))
    Console().print(table)


def _is_count(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _verified_line(ver) -> str:
    """The ``verified`` row: what was recomputed (corpus: append blocks and vectors; index: datasets)."""
    if not isinstance(ver, dict):
        return str(ver)
    secs = f"in {float(ver.get('seconds', 0)):.2f} s"
    if "blocks" in ver:
        return (f"ok: checksum recomputed over {ver['blocks']} append block(s), {ver.get('valid', 0):,} valid "
                f"vectors re-derived from their keypoints, {secs}")
    if "datasets" in ver:
        size = fmt_bytes(int(ver.get("bytes", 0)))
        return f"ok: checksum recomputed over {ver['datasets']} dataset(s) ({size}) {secs}"
    return f"ok {secs}"


def register(app: typer.Typer) -> None:
    flags = reader_options()

    @app.command()
    @handle_errors
    @with_param_options(flags, "reader_flags", before="option")
    def ingest(
        sources: List[Path] = typer.Argument(..., metavar="SOURCES", help="Files or folders to read."),
        fmt: str = format_option("Source format: " + " | ".join(READERS.names()) + ".", default=...),
        out: str = typer.Option(..., "--out", "-o", metavar="PATH", help="Corpus file to write (HDF5)."),
        append: bool = typer.Option(False, "--append", help="Add to an existing corpus (created if missing)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing corpus."),
        skip_duplicates: bool = typer.Option(False, "--skip-duplicates",
                                             help="Skip clips whose id is already in the corpus instead of failing."),
        option: Optional[List[str]] = typer.Option(None, "--option", "-O",
                                                   help="Any other reader option as KEY=VALUE (JSON value), "
                                                        "e.g. -O occluded=0.7 -O aspect=1.33."),
        as_json: bool = json_option("Print the summary as JSON."),
        reader_flags: dict = None,
    ) -> None:
        """Read pose datasets into a corpus file (COCO-17, normalized vectors, labels), atomically."""
        from ..corpus.readers import get_reader, iter_source
        from ..corpus.store import Corpus

        from ..files import output_path

        get_reader(fmt)  # unknown format: fail before anything else
        if append and overwrite:
            raise InvalidArgumentError("--append and --overwrite exclude each other")
        # a folder, a missing folder, a read-only file or one of the sources is refused here; whether an
        # existing corpus may be replaced or appended to is the writer's check
        out = output_path(out, "", overwrite=True, inputs=sources)
        given: dict[str, Any] = dict(reader_flags or {})
        for o in flags:
            if o.type is list and o.name in given:
                given[o.name] = _parse_numbers(given[o.name], o.flag)
        given.update(parse_key_values(option, "--option"))
        options = _reader_options(fmt, given)
        from ..inputs import describe_assumed, reader_assumptions

        assumed = reader_assumptions(fmt, options)
        clips = iter_source(fmt, [str(s) for s in sources], **options)

        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        err = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("[bold]ingesting[/]"), TextColumn("{task.description}"),
                      TimeElapsedColumn(), console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("", total=None)

            def progress(s) -> None:
                bar.update(task, description=f"{plural(s.frames_added, 'frame')}, {plural(s.clips_added, 'clip')}, "
                                             f"{s.invalid_frames:,} invalid so far")

            existed = out.exists()
            summary = Corpus.ingest(out, clips, append=append, overwrite=overwrite,
                                    on_duplicate="skip" if skip_duplicates else "error", progress=progress)
        if as_json:
            emit_json({**summary.to_dict(), "format": fmt, "sources": [str(s) for s in sources], "assumed": assumed})
            return
        if assumed:
            typer.echo(describe_assumed(assumed), err=True)
        pct = 100.0 * summary.invalid_frames / summary.frames_added if summary.frames_added else 0.0
        verb = ("replaced" if existed else "created") if summary.created else "appended to"
        typer.echo(f"{verb} {out}: added {plural(summary.frames_added, 'frame')} "
                   f"in {plural(summary.clips_added, 'clip')} ({plural(summary.invalid_frames, 'invalid frame')}, "
                   f"{pct:.1f}%, kept but "
                   f"not indexed)")
        if summary.skipped_clips:
            why = ", ".join(f"{n} {r}" for r, n in summary.skipped_reasons.items())
            typer.echo(f"skipped {plural(summary.skipped_clips, 'clip')} ({why})")
        typer.echo(f"corpus: {plural(summary.total_frames, 'frame')} ({summary.total_valid:,} valid), "
                   f"{plural(summary.total_clips, 'clip')}, {fmt_bytes(summary.size_bytes)} on disk; took {summary.seconds:.2f} s")

    @app.command()
    @handle_errors
    def info(
        file: Path = typer.Argument(..., metavar="FILE", help="A posesearch corpus or index file."),
        as_json: bool = json_option("Print JSON."),
        verify: bool = typer.Option(False, "--verify", help="Also recompute the checksum from the data."),
    ) -> None:
        """Describe a posesearch file (corpus or index) from its attributes; --verify checks the data too."""
        data = _describe(file, verify)
        if as_json:
            emit_json(data)
        else:
            _print_info(data)
