"""The fleet page, ``/api/nodes``, ``/healthz`` and the fleet WebSocket on one port.

``GET /`` serves the self-contained page (``fleet.html`` beside this module); ``GET
/api/nodes`` a JSON list with one object per node (``node``, ``status``, the
latest ``event`` as published, ``last_change`` ISO time, ``last_seen``);
``GET /healthz`` counters (no emotion data).  ``/ws`` sends one ``hello``
with the whole fleet (timelines included), then ``update`` messages.

Updates are coalesced: :meth:`FleetServer.mark` notes a changed node, and
every ``interval_s`` one ``update`` carries the current state of each node
that changed (plus nodes evicted), so a fleet of hundreds of nodes sending
several events a second costs each browser a few messages a second.  A
client whose write buffer is full skips updates (counted) and gets the whole
fleet again once it has drained, so memory stays bounded and no change is
lost for good.  Token and allowed origins come from the ``[websocket]`` table.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from voxstream.config import WebsocketConfig
from voxstream.errors import VoxstreamError
from voxstream.fleet.state import Fleet
from voxstream.publish.websocket import PAGE_CSP, TrackedConnection, limit_kernel_buffer, origin_ok, respond, token_ok

_LOGGER = logging.getLogger(__name__)

WS_PATH = "/ws"
MAX_BUFFER_BYTES = 512 * 1024
"""A client with more than this waiting in its write buffer skips updates until it drains."""
TAIL_POINTS = 3
"""Newest timeline points sent with each node in an update."""
CLOSE_WAIT_S = 2.0
_HTTP_LOGGER = logging.getLogger(f"{__name__}.http")
_HTTP_LOGGER.setLevel(logging.WARNING)  # one INFO line per request/connection from websockets is noise here


def load_page() -> str:
    """The fleet page, read from the installed package data."""
    return resources.files(__package__).joinpath("fleet.html").read_text(encoding="utf-8")


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class FleetServer:
    """``async with FleetServer(fleet, web_cfg, host, port, broker=...) as server:``; ``server.mark(node)``.

    ``broker`` returns the MQTT side's health (``{"connected": bool, ...}``) for the page and ``/healthz``.
    """

    def __init__(self, fleet: Fleet, web: WebsocketConfig, host: str = "127.0.0.1", port: int = 8766,
                 *, broker: Callable[[], dict] = lambda: {}, interval_s: float = 0.25,
                 clock: Callable[[], float] = time.time) -> None:
        self.fleet = fleet
        self.web = web
        self.host, self._port = host, port
        self.broker = broker
        self.interval_s = interval_s
        self._clock = clock
        self._page = load_page().encode("utf-8")
        self._dirty: dict[str, None] = {}
        self._clients: set[ServerConnection] = set()
        self._resync: set[ServerConnection] = set()
        self._tcp: set[ServerConnection] = set()
        self._server: Server | None = None
        self._ticker: asyncio.Task | None = None
        self._last_broker: dict | None = None
        self.updates = 0
        self.skipped = 0
        """Updates not sent to a client whose write buffer was full (it got the whole fleet later)."""

    # -- lifecycle -------------------------------------------------------------------------------------
    async def __aenter__(self) -> FleetServer:
        try:
            self._server = await serve(
                self._handle, self.host, self._port, process_request=self._process_request,
                # websockets documents "a wrapper or a subclass" here; its type hint names only the class
                create_connection=functools.partial(TrackedConnection, registry=self._tcp),  # type: ignore[arg-type]
                max_size=self.web.max_message_bytes, max_queue=4, compression=None,
                open_timeout=5, ping_interval=20, ping_timeout=20, close_timeout=2, logger=_HTTP_LOGGER)
        except OSError as exc:
            raise VoxstreamError(f"fleet: cannot listen on {self.host}:{self._port} ({exc.strerror or exc}); "
                                 "choose another --port") from None
        self._ticker = asyncio.create_task(self._tick_forever(), name="fleet-ticker")
        _LOGGER.info("fleet page on %s", self.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            for conn in list(self._tcp):
                if conn.protocol.state is State.CONNECTING:
                    conn.transport.abort()
            try:
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_WAIT_S)
            except TimeoutError:
                _LOGGER.debug("fleet server closed with handshakes still pending")
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "enter the server first"
        return self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/"

    # -- changes ---------------------------------------------------------------------------------------
    def mark(self, node: str) -> None:
        """Note that ``node`` changed; it goes out with the next update (never blocks)."""
        self._dirty[node] = None

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                self.tick()
            except Exception:  # the page must keep being served
                _LOGGER.exception("fleet: could not send an update")

    def tick(self) -> None:
        """Send one update with every node that changed since the last one, and the whole fleet to clients
        that skipped updates and have drained since."""
        broker = self.broker()
        removed = self.fleet.take_removed()
        update = None
        if self._dirty or removed or broker != self._last_broker:
            self._last_broker = broker
            names, self._dirty = list(self._dirty), {}
            nodes = [self.fleet.nodes[n].summary(tail=TAIL_POINTS) for n in names if n in self.fleet.nodes]
            update = _dumps({"type": "update", "now": self._clock(), "broker": broker, "nodes": nodes,
                             "removed": [n for n in removed if n not in self.fleet.nodes]})
            self.updates += 1
        for ws in list(self._clients):
            if update is not None or ws in self._resync:
                self._send_update(ws, update)

    def _send_update(self, ws: ServerConnection, update: str | None) -> None:
        if ws.transport.get_write_buffer_size() > MAX_BUFFER_BYTES:
            if update is not None:
                self.skipped += 1
                self._resync.add(ws)
            return
        if ws in self._resync:  # the whole fleet replaces what it missed (and this update)
            self._resync.discard(ws)
            broadcast([ws], self._full_update())
        elif update is not None:
            broadcast([ws], update)

    def hello(self) -> dict:
        return {"type": "hello", "now": self._clock(), "prefix": self.fleet.prefix, "interval_s": self.interval_s,
                "timeline_step_s": self.fleet.limits.timeline_step_s, "broker": self.broker(),
                "nodes": self.fleet.snapshot(with_timeline=True)}

    def _full_update(self) -> str:
        return _dumps({"type": "update", "full": True, "now": self._clock(), "broker": self.broker(),
                       "nodes": self.fleet.snapshot()})

    # -- connections -----------------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        limit_kernel_buffer(ws)
        broadcast([ws], _dumps(self.hello()))  # written at once, so no update can come before it
        self._clients.add(ws)
        _LOGGER.info("fleet client %s connected (%d now)", ws.remote_address, len(self._clients))
        try:
            async for _ in ws:  # ignore what clients send; keeps pings flowing
                pass
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(ws)
            self._resync.discard(ws)

    # -- HTTP ------------------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return respond(connection, 200, _dumps(self.health()), "application/json")
        if url.path not in ("/", "/index.html", "/api/nodes", WS_PATH):
            return respond(connection, 404, "not found\n")
        if not token_ok(self.web, url.query):
            return respond(connection, 401, "missing or wrong token (add ?token=...)\n")
        if url.path == "/api/nodes":
            return respond(connection, 200, _dumps(self.fleet.snapshot()), "application/json")
        if url.path != WS_PATH:
            return respond(connection, 200, self._page, "text/html; charset=utf-8",
                            {"Content-Security-Policy": PAGE_CSP})
        if not origin_ok(self.web, request):
            _LOGGER.warning("fleet WebSocket from origin %r refused", request.headers.get("Origin"))
            return respond(connection, 403, "origin not allowed\n")
        return None

    def health(self) -> dict:
        """The ``/healthz`` body: counters only."""
        return {"up": True, "broker": self.broker(), "clients": len(self._clients), "updates": self.updates,
                "skipped_updates": self.skipped, **self.fleet.stats()}
