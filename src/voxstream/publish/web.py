"""The one HTTP/WebSocket server under both pages: the live page (:mod:`.websocket`) and the fleet page
(:mod:`voxstream.fleet.server`).

One port serves:

* ``GET /healthz``: a JSON status (:meth:`PageServer.health`), open to liveness probes, no emotion data;
* ``GET /page.js`` and ``GET /page.css``: the script and style both pages share (package data beside this
  module), open too: they are the same for everyone and carry no data;
* ``GET /`` (or ``/index.html``): the page itself, and any JSON route a subclass adds (:meth:`PageServer.routes`);
* ``/ws``: the WebSocket, handled by :meth:`PageServer.handle`.

Access: when ``websocket.token`` is set, the page, the routes and ``/ws`` need ``?token=...`` (compared with
:func:`hmac.compare_digest`).  When ``allowed_origins`` is set, a browser ``Origin`` must be in it or be the
page's own origin; clients that send no ``Origin`` (not browsers) are not affected by that list.

Built on ``websockets.asyncio.server.serve``: ``process_request`` answers the plain HTTP requests with
:meth:`ServerConnection.respond` (headers adjusted), and returns None to let ``/ws`` go on to the handshake.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import http
import json
import logging
import socket
from collections.abc import Callable
from importlib import resources
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from voxstream.config import WebsocketConfig
from voxstream.errors import VoxstreamError

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/ws"
PAGE_PATHS = ("/", "/index.html")
CLOSE_WAIT_S = 2.0
"""Longest the server waits for its connections to close."""
_KERNEL_SNDBUF = 64 * 1024
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "connect-src 'self' ws: wss:; img-src data:; base-uri 'none'; form-action 'none'"
)
ASSETS = {
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
}
"""The shared files both pages load, by path: (file beside this module, Content-Type)."""


def read_page(package: str | None, name: str) -> bytes:
    """A page or asset from the installed package data (never the working directory)."""
    assert package, "call with the caller's __package__"
    return resources.files(package).joinpath(name).read_bytes()


class PageServer:
    """``async with`` it to listen; subclasses give :meth:`handle` and :meth:`health`, and may add :meth:`routes`.

    ``name`` starts the one-line error when the port is taken (``"<name>: cannot listen on ..."``), followed
    by ``hint``; ``title`` names the page in the log.  ``ws_logger`` is the websockets library's logger
    (its default when None).
    """

    def __init__(
        self,
        web: WebsocketConfig,
        host: str,
        port: int,
        page: bytes,
        *,
        name: str,
        title: str,
        hint: str,
        ws_logger: logging.Logger | None = None,
    ) -> None:
        self.web = web
        self.host, self._port = host, port
        self._page = page
        self._assets = {path: (read_page(__package__, file), ctype) for path, (file, ctype) in ASSETS.items()}
        self._name, self._title, self._hint = name, title, hint
        self._ws_logger = ws_logger
        self._server: Server | None = None
        self._tcp: set[ServerConnection] = set()

    # -- what a subclass gives ------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        """Serve one WebSocket connection on ``/ws`` until it closes."""
        raise NotImplementedError

    def health(self) -> dict:
        """The ``/healthz`` body (counters only: it is open without the token)."""
        raise NotImplementedError

    def routes(self) -> dict[str, Callable[[], Any]]:
        """Token-guarded JSON routes besides the page, by path: each returns the body to serialise."""
        return {}

    # -- lifecycle ------------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        try:
            self._server = await serve(
                self._handle,
                self.host,
                self._port,
                process_request=self._process_request,
                # websockets documents "a wrapper or a subclass" here; its type hint names only the class
                create_connection=functools.partial(TrackedConnection, registry=self._tcp),  # type: ignore[arg-type]
                max_size=self.web.max_message_bytes,
                max_queue=4,
                compression=None,
                open_timeout=5,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=2,
                logger=self._ws_logger,
            )
        except OSError as exc:
            raise VoxstreamError(
                f"{self._name}: cannot listen on {self.host}:{self._port} ({exc.strerror or exc}); {self._hint}"
            ) from None
        _LOGGER.info("%s on %s", self._title, self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is None:
            return
        self._server.close()
        for conn in list(self._tcp):  # e.g. a browser's idle pre-connection that never sent a request
            if conn.protocol.state is State.CONNECTING:
                conn.transport.abort()
        try:
            await asyncio.wait_for(self._server.wait_closed(), CLOSE_WAIT_S)
        except TimeoutError:
            _LOGGER.debug("%s: server closed with handshakes still pending", self._name)
        self._server = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "enter the server first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    @property
    def running_url(self) -> str | None:
        """:attr:`url` while the server is listening, else None (before it starts, after it stops)."""
        return self.url if self._server is not None else None

    # -- connections and HTTP -------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        limit_kernel_buffer(ws)
        await self.handle(ws)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        path = url.path
        if path == "/healthz":
            return respond(connection, 200, json.dumps(self.health()), "application/json")
        if path in self._assets:
            return respond(connection, 200, *self._assets[path])
        routes = self.routes()
        if path not in (*PAGE_PATHS, WS_PATH, *routes):
            return respond(connection, 404, "not found\n")
        if not token_ok(self.web, url.query):
            return respond(connection, 401, "missing or wrong token (add ?token=...)\n")
        if path in routes:
            return respond(connection, 200, json.dumps(routes[path](), separators=(",", ":")), "application/json")
        if path != WS_PATH:
            return respond(
                connection, 200, self._page, "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_CSP}
            )
        if not origin_ok(self.web, request):
            _LOGGER.warning("%s: WebSocket from origin %r refused", self._name, request.headers.get("Origin"))
            return respond(connection, 403, "origin not allowed\n")
        return None


class TrackedConnection(ServerConnection):
    """A ServerConnection that keeps itself in ``registry`` while its TCP connection is up."""

    def __init__(self, *args: Any, registry: set, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._registry = registry

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._registry.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._registry.discard(self)
        super().connection_lost(exc)


def token_ok(cfg: WebsocketConfig, query: str) -> bool:
    """True without a configured token, else when ``?token=`` matches (constant time)."""
    if not cfg.token:
        return True
    given = parse_qs(query).get("token", [""])[0]
    return hmac.compare_digest(given.encode("utf-8"), cfg.token.encode("utf-8"))


def origin_ok(cfg: WebsocketConfig, request: Request) -> bool:
    """A browser's Origin must be the page's own or listed; no Origin (not a browser) passes."""
    origin = request.headers.get("Origin")
    if not cfg.allowed_origins or origin is None:
        return True
    host = request.headers.get("Host", "")
    return origin in (f"http://{host}", f"https://{host}") or origin in cfg.allowed_origins


async def read_until_closed(ws: ServerConnection) -> None:
    """Read and ignore what a client sends (keeps pings flowing) until the connection closes; an oversize
    frame closes it (1009)."""
    try:
        async for _ in ws:
            pass
    except ConnectionClosed:
        pass


def limit_kernel_buffer(ws: ServerConnection) -> None:
    """Cap the kernel send buffer so a stalled client shows up as drops, not as megabytes of memory."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _KERNEL_SNDBUF)
        except OSError:
            pass


def respond(
    connection: ServerConnection,
    status: int,
    body: str | bytes,
    content_type: str = "text/plain; charset=utf-8",
    extra: dict[str, str] | None = None,
) -> Response:
    """An HTTP response with the right Content-Type and the security headers."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    base = connection.respond(http.HTTPStatus(status), "")
    headers = Headers(
        (k, v) for k, v in base.headers.raw_items() if k.lower() not in ("content-type", "content-length")
    )
    for name, value in {
        "Content-Type": content_type,
        "Content-Length": str(len(data)),
        **_SECURITY_HEADERS,
        **(extra or {}),
    }.items():
        headers[name] = value
    return Response(base.status_code, base.reason_phrase, headers, data)
