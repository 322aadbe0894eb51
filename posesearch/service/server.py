"""Running the service: uvicorn on a socket bound here, so that port 0 picks a free port and the address printed
is the one that answers. uvicorn stops on SIGTERM or SIGINT: it stops accepting, lets open requests finish
(``grace`` seconds at most; open WebSockets are closed) and returns, and :func:`serve` returns with it.

``workers`` > 1: the loaded app is forked into that many processes that accept on the one socket (the kernel
spreads the connections), each its own event loop and CPU; the index's arrays are shared copy-on-write, so a
worker adds its Python state, not another index. The parent passes SIGTERM / SIGINT on to them and returns
once all have stopped. Each worker counts and limits its own live sessions."""
from __future__ import annotations

import os
import signal
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
          grace: float = 5.0, log_level: str = "warning", workers: int = 1,
          announce: Callable[[str], None] | None = None) -> None:
    """Serve ``app`` until SIGTERM / SIGINT, in ``workers`` processes (module doc). ``announce`` gets the
    page's address once the socket listens (default: printed on stdout, flushed, so a parent process can read
    it)."""
    import uvicorn

    check_number("--workers", workers, integer=True, low=1, high=MAX_WORKERS)
    if workers > 1 and not hasattr(os, "fork"):
        raise InvalidArgumentError(f"--workers {workers}: needs os.fork, which this system lacks; use --workers 1")
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
    sys.stdout.flush()
    try:
        if workers == 1:
            server.run(sockets=[sock])
        else:
            _run_forked(lambda: server.run(sockets=[sock]), workers)
    finally:
        sock.close()
    sys.stdout.flush()


#: the most worker processes ``--workers`` starts
MAX_WORKERS = 64


def _run_forked(run: Callable[[], None], workers: int) -> None:
    """``run`` in ``workers`` forked processes; SIGTERM / SIGINT here are passed on to them; returns when all
    have ended (an InvalidArgumentError naming the workers that failed, if any)."""
    children: list[int] = []
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:                                     # a worker: serve, then leave without the parent's exit
            code = 1
            try:
                run()
                code = 0
            finally:
                sys.stdout.flush()
                os._exit(code)
        children.append(pid)

    def stop(sig, frame) -> None:
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    failed = []
    try:
        for child in children:
            _, status = os.waitpid(child, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                failed.append(f"{child} (exit {os.waitstatus_to_exitcode(status)})")
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
    if failed:
        raise InvalidArgumentError(f"--workers: worker process {', '.join(failed)} stopped with an error")
