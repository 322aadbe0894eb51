"""The ``posesearch`` command: a thin Typer layer over the library.

Each sub-command lives in its own module with a ``register(app)`` function.
"""
from __future__ import annotations

import importlib
import inspect

import typer

app = typer.Typer(
    name="posesearch",
    help="Find and score human poses: exact nearest-pose search over large corpora, and 0-100 scoring "
         "of a user's pose sequence against a reference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, in the order they appear in --help.
COMMAND_MODULES = ["compare", "ingest", "clips", "index", "score", "reps", "extract", "bench", "demo", "serve"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"posesearch.cli.{_name}").register(app)

# The command list shows each command's first docstring paragraph; in Typer's rich mode its source line
# breaks would show too, so it is given as one line.
for _cmd in app.registered_commands:
    if _cmd.short_help is None and _cmd.callback is not None and _cmd.callback.__doc__:
        _cmd.short_help = " ".join(inspect.cleandoc(_cmd.callback.__doc__).split("\n\n")[0].split())


@app.callback()
def _root() -> None:
    """posesearch: pose search and pose-sequence scoring."""


def _click_exceptions():
    """click's exception classes (typer vendors click in recent releases, older ones use click)."""
    try:
        from typer._click import exceptions
    except ImportError:   # typer < 0.20 runs on click itself
        from click import exceptions
    return exceptions


def usage_error_line(e) -> str:
    """One line for a usage error (unknown command or option, missing or malformed argument), naming it
    and where the valid ones are listed; click prints a usage block and a boxed error instead."""
    import difflib

    ctx = getattr(e, "ctx", None)
    where = ctx.command_path if ctx is not None else "posesearch"
    see = f"{where} --help lists the options and arguments"
    exc = _click_exceptions()
    msg = " ".join(e.format_message().split())
    if isinstance(e, exc.NoSuchOption):
        close = sorted(e.possibilities or [])
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        return f"no such option {e.option_name!r} ({hint}{where} --help lists the options)"
    if ctx is not None and msg.startswith("No such command"):
        names = [n for n in ctx.command.list_commands(ctx) if not getattr(ctx.command.get_command(ctx, n), "hidden",
                                                                            False)]
        bad = msg.split("'")[1] if msg.count("'") >= 2 else ""
        close = difflib.get_close_matches(bad, names, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        return f"no such command {bad!r} ({hint}the commands: {', '.join(names)})"
    if isinstance(e, exc.MissingParameter):
        return f"{msg[0].lower()}{msg[1:].rstrip('.')} ({see})"
    return f"{msg[0].lower() if msg else ''}{msg[1:].rstrip('.')} ({see})"


def main(argv: list[str] | None = None) -> None:
    """The console script: runs the command; every usage error is one line on stderr with exit status 2
    (``--help`` and the commands' own exit statuses unchanged)."""
    import sys

    exc = _click_exceptions()
    try:
        rv = app(args=argv, prog_name="posesearch", standalone_mode=False)
    except exc.NoArgsIsHelpError as e:   # `posesearch` alone, or a group without its command: the help
        if e.format_message().strip():   # (typer's rich help has printed itself already)
            e.show()
        sys.exit(e.exit_code)
    except exc.UsageError as e:
        typer.echo(f"error: {usage_error_line(e)}", err=True)
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) and not isinstance(rv, bool) else 0)


if __name__ == "__main__":
    main()
