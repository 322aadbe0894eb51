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
COMMAND_MODULES = ["compare", "ingest", "clips", "index", "score", "bench", "demo"]

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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
