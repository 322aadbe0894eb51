"""The ``posesearch`` command: a thin Typer layer over the library.

Each sub-command lives in its own module with a ``register(app)`` function.
"""
from __future__ import annotations

import importlib

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
COMMAND_MODULES = ["compare", "ingest", "index", "score", "bench", "demo"]

for _name in COMMAND_MODULES:
    importlib.import_module(f"posesearch.cli.{_name}").register(app)


@app.callback()
def _root() -> None:
    """posesearch: pose search and pose-sequence scoring."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
