"""WebSocket publisher: the live page, ``/healthz`` and the event stream on one port.

``GET /`` serves the self-contained page (``index.html`` beside this module), ``GET /healthz``
a small JSON status, and ``/ws`` is the WebSocket: on connect it sends one
:class:`~voxstream.engine.events.Hello` message (the model card summary), then every :class:`EmotionEvent`
as JSON text.

Each client has its own bounded queue and its own writer task: a slow or
stalled client loses its oldest messages (counted) and never holds up the
pipeline or the other clients.  :meth:`WebSocketPublisher.publish` only
appends to those queues; it never awaits the network and never raises.

Access: when ``websocket.token`` is set, ``/`` and ``/ws`` need ``?token=...``
(compared with :func:`hmac.compare_digest`); ``/healthz`` stays open for
liveness probes and carries no emotion data.  When ``allowed_origins`` is set,
a browser ``Origin`` must be in it or be the page's own origin; clients that
send no ``Origin`` (not browsers) are not affected by that list.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import hmac
import http
import json
import logging
import socket
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from voxstream.config import WebsocketConfig
from voxstream.engine.events import SILENCE, UNCERTAIN, EmotionEvent, Hello
from voxstream.errors import VoxstreamError
from voxstream.model.card import ModelCard
from voxstream.status import RunStats

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/ws"
_KERNEL_SNDBUF = 64 * 1024
CLOSE_WAIT_S = 2.0
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
             "connect-src 'self' ws: wss:; img-src data:; base-uri 'none'; form-action 'none'")


def load_page() -> str:
    """The live page, read from the installed package data."""
    return resources.files(__package__).joinpath("index.html").read_text(encoding="utf-8")


def hello_message(card: ModelCard, node: str, window_s: float | None = None, hop_s: float | None = None) -> Hello:
    """The first message on every connection: what the page needs to draw itself."""
    return Hello(node=node, model=card.name, arch=card.arch, labels=list(card.labels),
                 extra_labels=[UNCERTAIN, SILENCE], window_s=float(window_s or card.window_s),
                 hop_s=float(hop_s or card.hop_s), sample_rate=card.features.sample_rate)


class _Client:
    """One connected WebSocket: its own bounded queue and a flag that wakes its writer."""

    def __init__(self, maxlen: int) -> None:
        self.queue: collections.deque[str] = collections.deque(maxlen=maxlen)
        self.wake = asyncio.Event()
        self.dropped = 0

    def offer(self, message: str) -> bool:
        """Queue a message; returns False when the oldest had to be dropped for it."""
        full = len(self.queue) == self.queue.maxlen
        self.queue.append(message)
        self.wake.set()
        if full:
            self.dropped += 1
        return not full


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


class WebSocketPublisher:
    """Serves the page, ``/healthz`` and ``/ws``; ``await publish(event)`` fans out to every client.

    ``/healthz`` reports ``stats.snapshot()`` (a fresh :class:`RunStats` of its own when none is given).
    """

    def __init__(self, cfg: WebsocketConfig, card: ModelCard, stats: RunStats | None = None,
                 node: str = "voxstream",
                 *, window_s: float | None = None, hop_s: float | None = None) -> None:
        self.cfg = cfg
        self.card = card
        self.stats = stats if stats is not None else RunStats(model=card.name, node=node)
        self.node = node
        self._hello = hello_message(card, node, window_s, hop_s).to_json()
        self._page = load_page().encode("utf-8")
        self._clients: set[_Client] = set()
        self._server: Server | None = None
        self._tcp: set[ServerConnection] = set()
        self.published = 0
        """Events handed to publish() since start."""
        self.dropped_messages = 0
        """Messages dropped for slow clients, all clients together."""
        self.publish_errors = 0

    # -- lifecycle -------------------------------------------------------------------------
    async def __aenter__(self) -> WebSocketPublisher:
        try:
            self._server = await self._serve()
        except OSError as exc:
            raise VoxstreamError(f"websocket: cannot listen on {self.cfg.host}:{self.cfg.port} "
                                 f"({exc.strerror or exc}); "
                                 "is another voxstream running? Choose another websocket.port") from None
        _LOGGER.info("live page on %s", self.url)
        return self

    async def _serve(self) -> Server:
        return await serve(
            self._handle, self.cfg.host, self.cfg.port,
            process_request=self._process_request,
            # websockets documents "a wrapper or a subclass" here; its type hint names only the class
            create_connection=functools.partial(TrackedConnection, registry=self._tcp),  # type: ignore[arg-type]
            max_size=self.cfg.max_message_bytes,
            max_queue=4,
            compression=None,
            open_timeout=5, ping_interval=20, ping_timeout=20, close_timeout=2,
        )

    async def __aexit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._tcp):  # e.g. a browser's idle pre-connection that never sent a request
                if conn.protocol.state is State.CONNECTING:
                    conn.transport.abort()
            try:
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_WAIT_S)
            except TimeoutError:
                _LOGGER.debug("WebSocket server closed with handshakes still pending")
            self._server = None

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        assert self._server is not None, "enter the publisher first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.cfg.host if ":" not in self.cfg.host else f"[{self.cfg.host}]"
        return f"http://{host}:{self.port}/"

    @property
    def clients(self) -> int:
        return len(self._clients)

    # -- publishing ------------------------------------------------------------------------
    async def publish(self, event: EmotionEvent) -> None:
        """Queue the event for every client; never blocks, never raises."""
        try:
            message = event.to_json()
            self.published += 1
            for client in self._clients:
                if not client.offer(message):
                    self.dropped_messages += 1
        except Exception:  # the pipeline must keep running
            self.publish_errors += 1
            log = _LOGGER.exception if self.publish_errors == 1 else _LOGGER.debug
            log("could not queue event for WebSocket clients (further errors at debug level)")

    # -- connections -----------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        limit_kernel_buffer(ws)
        client = _Client(self.cfg.client_queue)
        self._clients.add(client)
        _LOGGER.info("WebSocket client %s connected (%d now)", ws.remote_address, len(self._clients))
        reader = asyncio.create_task(self._drain_incoming(ws))
        writer = asyncio.create_task(self._write(ws, client))
        try:
            await asyncio.wait({reader, writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._clients.discard(client)
            for task in (reader, writer):
                task.cancel()
            await asyncio.gather(reader, writer, return_exceptions=True)
            _LOGGER.info("WebSocket client %s left (%d dropped messages)", ws.remote_address, client.dropped)

    async def _write(self, ws: ServerConnection, client: _Client) -> None:
        """Send hello, then the client's queue as it fills; ends when the connection closes."""
        try:
            await ws.send(self._hello)
            while True:
                await client.wake.wait()
                client.wake.clear()
                while client.queue:
                    await ws.send(client.queue.popleft())
        except ConnectionClosed:
            pass

    @staticmethod
    async def _drain_incoming(ws: ServerConnection) -> None:
        """Read and ignore what clients send (keeps pings flowing); oversize frames close the connection."""
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:
            pass

    # -- HTTP ------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return respond(connection, 200, json.dumps(self.health()), "application/json")
        if url.path not in ("/", "/index.html", WS_PATH):
            return respond(connection, 404, "not found\n")
        if not token_ok(self.cfg, url.query):
            return respond(connection, 401, "missing or wrong token (add ?token=...)\n")
        if url.path != WS_PATH:
            return respond(connection, 200, self._page, "text/html; charset=utf-8",
                            {"Content-Security-Policy": PAGE_CSP})
        if not origin_ok(self.cfg, request):
            _LOGGER.warning("WebSocket from origin %r refused", request.headers.get("Origin"))
            return respond(connection, 403, "origin not allowed\n")
        return None

    def health(self) -> dict:
        """The ``/healthz`` body: the run's status and this publisher's client counters (no emotion data)."""
        return {"up": True, **self.stats.snapshot().to_dict(), "clients": len(self._clients),
                "dropped_messages": self.dropped_messages}


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


def limit_kernel_buffer(ws: ServerConnection) -> None:
    """Cap the kernel send buffer so a stalled client shows up as drops, not as megabytes of memory."""
    sock = ws.transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _KERNEL_SNDBUF)
        except OSError:
            pass


def respond(connection: ServerConnection, status: int, body: str | bytes,
             content_type: str = "text/plain; charset=utf-8", extra: dict[str, str] | None = None) -> Response:
    """An HTTP response with the right Content-Type and the security headers."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    base = connection.respond(http.HTTPStatus(status), "")
    headers = Headers((k, v) for k, v in base.headers.raw_items()
                      if k.lower() not in ("content-type", "content-length"))
    for name, value in {"Content-Type": content_type, "Content-Length": str(len(data)),
                        **_SECURITY_HEADERS, **(extra or {})}.items():
        headers[name] = value
    return Response(base.status_code, base.reason_phrase, headers, data)
