"""`posesearch --help` lists every command with its summary on one logical line."""
from __future__ import annotations

import typer
import typer.main
from typer.testing import CliRunner

from posesearch.cli.app import COMMAND_MODULES, app


def command_names() -> list[str]:
    """Every command the app registers (the modules in COMMAND_MODULES add them), in --help order."""
    group = typer.main.get_command(app)
    return [name for name, cmd in group.commands.items() if not cmd.hidden]


def test_help_lists_every_command():
    r = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    names = command_names()
    assert {"compare", "ingest", "query", "score", "reps", "extract", "serve", "demo"} <= set(names), names
    for name in names:
        assert f" {name} " in r.stdout
    assert len(COMMAND_MODULES) == 10


def test_command_summaries_have_no_source_line_breaks():
    for cmd in app.registered_commands:
        assert cmd.short_help and "\n" not in cmd.short_help, cmd.name
        assert cmd.short_help.endswith("."), cmd.short_help


def test_arguments_are_named_in_capitals():
    group = typer.main.get_command(app)
    with_args = [n for n in command_names() if any(p.param_type_name == "argument" for p in group.commands[n].params)]
    assert {"compare", "score", "query", "reps", "extract", "serve"} <= set(with_args), with_args
    for sub in with_args:
        r = CliRunner().invoke(app, [sub, "--help"])
        usage = next(ln for ln in r.stdout.splitlines() if "Usage:" in ln)
        args = usage.split("[OPTIONS]")[1].replace("{", " ").replace("}", " ").replace("...", " ").split()
        assert args and all(a == a.upper() for a in args), usage
