"""``posesearch serve INDEX``: the HTTP / WebSocket service and its browser page (the ``serve`` extra)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import fail, handle_errors


def host_option():
    return typer.Option("127.0.0.1", "--host", help="Address to listen on (default: this machine only; 0.0.0.0 "
                                                    "for every interface).")


def port_option():
    return typer.Option(8000, "--port", help="Port to listen on (0: a free port, printed).")


def token_option():
    return typer.Option(None, "--token", envvar="POSESEARCH_TOKEN",
                        help="Require 'Authorization: Bearer TOKEN' on every route (the page: open /?token=TOKEN); "
                             "also read from $POSESEARCH_TOKEN.")


def require_serve_extra(command: str) -> None:
    """Exit with one line naming the extra when FastAPI or uvicorn is missing."""
    import importlib.util

    from ..service import SERVE_EXTRA_HINT

    if any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn")):
        raise fail(f"{command} needs the 'serve' extra: {SERVE_EXTRA_HINT}")


def run_service(index, corpus, host: str, port: int, token: Optional[str], name: str, workers: int = 1) -> None:
    """Load ``index`` once and serve it until SIGTERM / Ctrl-C (in ``workers`` forked processes)."""
    from ..service.app import create_app
    from ..service.core import Limits
    from ..errors import check_number
    from ..service.server import MAX_WORKERS, serve

    check_number("--workers", workers, integer=True, low=1, high=MAX_WORKERS)      # before loading the index
    limits = Limits()
    app = create_app(index, corpus, token=token, limits=limits, name=name)
    serve(app, host, port, max_message_bytes=limits.max_body_bytes, workers=workers)


def register(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def serve(
        index: Path = typer.Argument(..., metavar="INDEX", help="Index file (made by `posesearch build`)."),
        corpus: Optional[Path] = typer.Option(None, "--corpus",
                                              help="Corpus for clips and labels (default: the one the index "
                                                   "remembers)."),
        host: str = host_option(),
        port: int = port_option(),
        token: Optional[str] = token_option(),
        workers: int = typer.Option(1, "--workers", help="Processes answering on the one port (forked after the "
                                                         "index is loaded, which they share; up to one per core). "
                                                         "Each limits its own live sessions."),
    ) -> None:
        """Serve an index to apps: REST API under /v1, live scoring over a WebSocket, and a browser page at /."""
        require_serve_extra("posesearch serve")
        run_service(index, corpus, host, port, token, index.name, workers)
