"""`posesearch --help` lists every command with its summary on one logical line."""
from __future__ import annotations

from typer.testing import CliRunner

from posesearch.cli.app import COMMAND_MODULES, app


def test_help_lists_every_command():
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    for name in ("compare", "ingest", "info", "clips", "export", "build", "query", "score", "bench", "demo",
                 "serve"):
        assert f" {name} " in r.stdout
    assert len(COMMAND_MODULES) == 8


def test_command_summaries_have_no_source_line_breaks():
    for cmd in app.registered_commands:
        assert cmd.short_help and "\n" not in cmd.short_help, cmd.name
        assert cmd.short_help.endswith("."), cmd.short_help


def test_arguments_are_named_in_capitals():
    for sub in ("compare", "score", "ingest", "info", "build", "query", "clips", "export", "serve"):
        r = CliRunner().invoke(app, [sub, "--help"])
        usage = next(ln for ln in r.stdout.splitlines() if "Usage:" in ln)
        args = usage.split("[OPTIONS]")[1].replace("{", " ").replace("}", " ").replace("...", " ").split()
        assert args and all(a == a.upper() for a in args), usage
