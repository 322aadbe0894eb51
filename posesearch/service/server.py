"""Running the service: uvicorn on a socket bound here, so that port 0 picks a free port and the address printed
is the one that answers. uvicorn stops on SIGTERM or SIGINT: it stops accepting, lets open requests finish
(``grace`` seconds at most; open WebSockets are closed) and returns, and :func:`serve` returns with it."""
from __future__ import annotations

import socket
import sys
from typing import Callable

from ..errors import InvalidArgumentError, check_number


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (0: a free port); a one-line error when it cannot be had."""
    check_number("--port", port, integer=True, low=0, high=65535)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise InvalidArgumentError(f"--host {host!r}: not an address of this machine ({e.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise InvalidArgumentError(f"--host {host} --port {port}: cannot listen there ({e.strerror}); "
                                   "--port 0 picks a free port") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def serve(app, host: str = "127.0.0.1", port: int = 8000, *, max_message_bytes: int = 8 << 20,
          grace: float = 5.0, log_level: str = "warning",
          announce: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` until SIGTERM / SIGINT. ``announce`` gets the page's address once the socket listens
    (default: printed on stdout, flushed, so a parent process can read it)."""
    import uvicorn

    sock = bind(host, port)
    url = address_of(sock)
    config = uvicorn.Config(app, log_level=log_level, ws_max_size=max_message_bytes,
                            timeout_graceful_shutdown=grace, lifespan="off")
    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            super().handle_exit(sig, frame)
            # a stop that was asked for: return normally (exit status 0), where uvicorn would raise the signal
            # again once shut down (killed by SIGTERM, or a KeyboardInterrupt traceback for Ctrl-C)
            self._captured_signals.clear()

    server = Server(config)
    if announce is None:
        def announce(u: str) -> None:
            print(f"serving on {u} (API docs: {u}docs; stop with Ctrl-C or SIGTERM)", flush=True)
    announce(url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    sys.stdout.flush()
