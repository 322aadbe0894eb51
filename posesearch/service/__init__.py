"""The live service (``posesearch serve``, the ``serve`` extra): a FastAPI app over one loaded index.

* :func:`create_app` (:mod:`.app`; the routes' work is in :mod:`.core`) builds the ASGI app: REST routes
  under ``/v1`` (query, score, search, clips, health), the live scoring WebSocket ``/v1/live`` (:mod:`.live`),
  and the browser page at ``/`` (``static/``, shipped in the package, no CDN);
* :func:`serve` (:mod:`.server`) runs it with uvicorn on a socket it binds itself (so ``--port 0`` picks a
  free port and the printed address is the real one), and stops cleanly on SIGTERM or Ctrl-C.

Routes only parse the request, call the library and return the library's own ``to_dict()`` / records (the
same JSON as the CLI's ``--json``); a :class:`~posesearch.errors.PoseSearchError` becomes a 4xx answer with
its one-line message (:func:`.app.status_for`). FastAPI and uvicorn are imported only here, never by the
rest of the package.
"""
from __future__ import annotations

__all__ = ["create_app", "serve", "Limits", "SERVE_EXTRA_HINT"]

#: what to install when FastAPI / uvicorn are missing
SERVE_EXTRA_HINT = 'pip install "posesearch[serve]" (from a checkout: pip install -e ".[serve]")'


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Limits":
        from .core import Limits

        return Limits
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module 'posesearch.service' has no attribute {name!r}")
