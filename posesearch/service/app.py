"""The FastAPI app of ``posesearch serve``: :func:`create_app` over one loaded index (see the package doc).

Routes, all JSON (``/docs`` has the OpenAPI page FastAPI makes):

* ``POST /v1/query``: ``{"keypoints": [[x, y, c], ...], "layout", "k", "mirror"}`` -> the k nearest corpus frames
  (``matches``: the records of ``query --json``); a batch as ``"poses": [...]`` -> ``results``;
* ``POST /v1/score``: a reference (``"reference"``: an inline pose-sequence object, or ``"reference_clip"``: a
  corpus clip id, with an optional ``start`` / ``end`` in seconds of clip time) and a ``"user"`` sequence ->
  the report ``score --json`` prints; ``"settings"``: smooth, interp, align, mirror, distance, moments_from;
  ``"reps": true`` adds ``reps``: :func:`~posesearch.sequence.reps.find_reps`' report of the same sequences;
* ``POST /v1/search``: ``{"sequence": {...}, "top", "k", "mirror", "refine", "segment"}`` -> the clips it
  performed (``query --sequence --json``; ``refine``: always | auto | never, ``segment``: hits | vote, as
  ``SequenceSearchSettings``);
* ``GET /v1/clips`` (``label`` filters, ``limit``, ``offset``), ``GET /v1/clips/{clip_id}`` (its frames as a
  pose-sequence object), ``GET /v1/health``;
* ``WS /v1/live``: the live scoring session (:mod:`.live`);
* ``GET /``: the browser page; ``/static/...`` its files.

Errors: a :class:`PoseSearchError` is answered ``{"detail": "<the one-line message>"}`` with the status of
:data:`STATUS` (unknown clip 404, body or sequence over a limit 413, malformed JSON 400, any other bad value
422). Bodies over ``Limits.max_body_bytes`` are refused while they are read (413), also without a
Content-Length. With a token, every route needs ``Authorization: Bearer TOKEN`` (or ``?token=TOKEN``, or the
cookie the page's address ``/?token=TOKEN`` sets, for browsers that cannot send headers on a WebSocket).
"""
from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from .._version import __version__
from ..errors import InvalidArgumentError, PoseSearchError
from .core import Limits, Service, TooLargeError, load_index, parse_json_body, status_for

STATIC = Path(__file__).with_name("static")
TOKEN_COOKIE = "posesearch_token"


# ------------------------------------------------------------------------------------ middleware
class BodyLimit:
    """Refuses HTTP bodies over ``max_bytes`` with 413: by Content-Length before reading, else while reading."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    def _error(self, size: str) -> TooLargeError:
        return TooLargeError(f"request body: {size}, more than this service takes ({self.max_bytes:,} bytes)")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            e = self._error(f"{int(length):,} bytes")
            return await JSONResponse({"detail": str(e)}, 413)(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._error(f"over {self.max_bytes:,} bytes")
            return message

        await self.app(scope, limited, send)


class QueryFastPath:
    """``POST /v1/query`` of one plainly well-formed pose answered right here (:meth:`Service.query_fast`: no
    routing, no threadpool hop, orjson both ways: the app's hot route, a third of a millisecond of CPU); any
    other body is handed on, replayed, to the route, which answers it or says what is wrong with it."""

    def __init__(self, app, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/v1/query" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        try:
            while more:
                message = await receive()
                if message["type"] != "http.request":       # the client went away
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
        except PoseSearchError as e:                         # BodyLimit: too long
            return await JSONResponse({"detail": str(e)}, status_for(e))(scope, receive, send)
        raw = b"".join(chunks)
        answer = self.service.query_fast(raw)
        if answer is not None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(answer)).encode()),
                                    (b"content-type", b"application/json")]})
            return await send({"type": "http.response.body", "body": answer})
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)


class BearerAuth:
    """Every HTTP and WebSocket route needs the token: ``Authorization: Bearer TOKEN``, ``?token=TOKEN`` or
    the page's cookie. HTTP answers 401; a WebSocket handshake is refused (403)."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    def _given(self, scope) -> list[bytes]:
        from http.cookies import SimpleCookie
        from urllib.parse import parse_qs

        headers = dict(scope.get("headers") or [])
        out = []
        auth = headers.get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            out.append(auth[7:].strip())
        out += [v.encode() for v in parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [])]
        if b"cookie" in headers:
            jar = SimpleCookie()
            jar.load(headers[b"cookie"].decode("latin-1"))
            if TOKEN_COOKIE in jar:
                out.append(jar[TOKEN_COOKIE].value.encode())
        return out

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket") or any(hmac.compare_digest(g, self.token)
                                                              for g in self._given(scope)):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            await receive()                                  # the connect message
            return await send({"type": "websocket.close", "code": 1008})
        detail = "missing or wrong token: send the header 'Authorization: Bearer TOKEN' (the page: /?token=TOKEN)"
        await JSONResponse({"detail": detail}, 401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)


# ------------------------------------------------------------------------------------------ app
def _body_doc(example: dict) -> dict:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object"}, "example": example}}}}


async def _json_body(request: Request) -> Any:
    return parse_json_body(await request.body())


def create_app(index, corpus=None, *, token: str | None = None, limits: Limits = Limits(),
               name: str | None = None) -> FastAPI:
    """The service's ASGI app over ``index`` (an :class:`Index` or index file; ``corpus``: its corpus, default
    the one it remembers). ``token``: require it on every route; ``limits``: see :class:`Limits`."""
    from .live import live_endpoint

    if not isinstance(limits, Limits):
        raise InvalidArgumentError(f"limits: expected Limits, got {type(limits).__name__}")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        raise InvalidArgumentError("token: expected a non-empty string")
    idx = load_index(index, corpus)
    svc = Service(idx, limits, name or (str(index) if idx is not index else "index"))
    app = FastAPI(title="posesearch", version=__version__,
                  description="Nearest reference poses and live 0-100 scoring of pose sequences.")
    app.state.service = svc

    @app.exception_handler(PoseSearchError)
    async def _user_error(request, e: PoseSearchError):
        return JSONResponse({"detail": str(e)}, status_for(e))

    @app.get("/v1/health")
    async def health() -> dict:
        """Index name, size, metric and backend, the corpus, the version, the live sessions open."""
        return svc.health()

    @app.post("/v1/query", openapi_extra=_body_doc({"keypoints": [[0.0, 0.0, 1.0]] * 17, "layout": "coco17",
                                                     "k": 10, "mirror": True}))
    async def query(request: Request) -> dict:
        """The k nearest corpus frames of one pose (``keypoints``) or of each of a batch (``poses``)."""
        return await run_in_threadpool(svc.query, await _json_body(request))

    @app.post("/v1/score", openapi_extra=_body_doc({"reference_clip": "cmu:002_05:yaw0", "end": 5.0,
                                                     "user": {"fps": 10, "layout": "coco17", "frames": []},
                                                     "settings": {"mirror": "auto"}}))
    async def score(request: Request) -> dict:
        """The full score report of a user sequence against a reference (as ``posesearch score --json``)."""
        return await run_in_threadpool(svc.score, await _json_body(request))

    @app.post("/v1/search", openapi_extra=_body_doc({"sequence": {"fps": 10, "layout": "coco17", "frames": []},
                                                      "top": 5, "refine": "auto"}))
    async def search(request: Request) -> dict:
        """The corpus clips a user sequence performed (as ``posesearch query --sequence --json``)."""
        return await run_in_threadpool(svc.search, await _json_body(request))

    @app.get("/v1/clips")
    async def clips(request: Request, limit: str = "50", offset: str = "0") -> dict:
        """The corpus's clips, filtered by ``label`` (KEY=VALUE or VALUE, repeatable), a page at a time."""
        labels = request.query_params.getlist("label")
        return await run_in_threadpool(svc.clips, labels, _number_param(limit), _number_param(offset))

    @app.get("/v1/clips/{clip_id:path}")
    async def clip(clip_id: str) -> dict:
        """One clip's frames as a pose-sequence object (COCO-17, fps, times when irregular), with its labels."""
        return await run_in_threadpool(svc.clip_frames, clip_id)

    @app.websocket("/v1/live")
    async def live(websocket: WebSocket):
        await live_endpoint(websocket, svc)

    @app.get("/", include_in_schema=False)
    async def page(request: Request):
        response = FileResponse(STATIC / "index.html")
        if token is not None and "token" in request.query_params:   # (already checked): the page's later requests
            response.set_cookie(TOKEN_COOKIE, request.query_params["token"], httponly=True, samesite="strict")
        return response

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(QueryFastPath, service=svc)              # (the last added runs first)
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes)
    if token is not None:
        app.add_middleware(BearerAuth, token=token)
    return app


def _number_param(text: str) -> Any:
    """A query parameter as a number when it reads as one (``check_number`` then says what is wrong)."""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
