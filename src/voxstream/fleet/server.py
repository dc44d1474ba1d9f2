"""The fleet page, ``/api/nodes``, ``/healthz`` and the fleet WebSocket on one port.

``GET /`` serves the page (``fleet.html`` beside this module, with the script and style both
pages share, :mod:`voxstream.publish.web`); ``GET /api/nodes`` a JSON list with one object per node
(``node``, ``status``, the latest ``event`` as published, ``last_change`` ISO time, ``last_seen``);
``GET /healthz`` counters (no emotion data).  ``/ws`` sends one ``hello``
with the whole fleet (timelines included), then ``update`` messages.

Updates are coalesced: :meth:`FleetServer.mark` notes a changed node, and
every ``interval_s`` one ``update`` carries the current state of each node
that changed (plus nodes evicted), so a fleet of hundreds of nodes sending
several events a second costs each browser a few messages a second.  A
client whose write buffer is full skips updates (counted) and gets the whole
fleet again once it has drained, so memory stays bounded and no change is
lost for good.  Token and allowed origins come from the ``[websocket]`` table; the server under
it (access, ``/healthz``, lifecycle) is :class:`voxstream.publish.web.PageServer`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Self

from websockets.asyncio.server import ServerConnection, broadcast

from voxstream.config import WebsocketConfig
from voxstream.fleet.state import Fleet
from voxstream.publish.web import PageServer, read_page, read_until_closed

_LOGGER = logging.getLogger(__name__)

MAX_BUFFER_BYTES = 512 * 1024
"""A client with more than this waiting in its write buffer skips updates until it drains."""
TAIL_POINTS = 3
"""Newest timeline points sent with each node in an update."""
_HTTP_LOGGER = logging.getLogger(f"{__name__}.http")
_HTTP_LOGGER.setLevel(logging.WARNING)  # one INFO line per request/connection from websockets is noise here


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


class FleetServer(PageServer):
    """``async with FleetServer(fleet, web_cfg, host, port, broker=...) as server:``; ``server.mark(node)``.

    ``broker`` returns the MQTT side's health (``{"connected": bool, ...}``) for the page and ``/healthz``.
    """

    def __init__(
        self,
        fleet: Fleet,
        web: WebsocketConfig,
        host: str = "127.0.0.1",
        port: int = 8766,
        *,
        broker: Callable[[], dict] = lambda: {},
        interval_s: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            web,
            host,
            port,
            read_page(__package__, "fleet.html"),
            name="fleet",
            title="fleet page",
            hint="choose another --port",
            ws_logger=_HTTP_LOGGER,
        )
        self.fleet = fleet
        self.broker = broker
        self.interval_s = interval_s
        self._clock = clock
        self._dirty: dict[str, None] = {}
        self._clients: set[ServerConnection] = set()
        self._resync: set[ServerConnection] = set()
        self._ticker: asyncio.Task | None = None
        self._last_broker: dict | None = None
        self.updates = 0
        self.skipped = 0
        """Updates not sent to a client whose write buffer was full (it got the whole fleet later)."""

    # -- lifecycle -------------------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._ticker = asyncio.create_task(self._tick_forever(), name="fleet-ticker")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await super().__aexit__(*exc_info)

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
            update = _dumps(
                {
                    "type": "update",
                    "now": self._clock(),
                    "broker": broker,
                    "nodes": nodes,
                    "removed": [n for n in removed if n not in self.fleet.nodes],
                }
            )
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
        return {
            "type": "hello",
            "now": self._clock(),
            "prefix": self.fleet.prefix,
            "interval_s": self.interval_s,
            "timeline_step_s": self.fleet.limits.timeline_step_s,
            "broker": self.broker(),
            "nodes": self.fleet.snapshot(with_timeline=True),
        }

    def _full_update(self) -> str:
        return _dumps(
            {
                "type": "update",
                "full": True,
                "now": self._clock(),
                "broker": self.broker(),
                "nodes": self.fleet.snapshot(),
            }
        )

    # -- connections -----------------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        broadcast([ws], _dumps(self.hello()))  # written at once, so no update can come before it
        self._clients.add(ws)
        _LOGGER.info("fleet client %s connected (%d now)", ws.remote_address, len(self._clients))
        try:
            await read_until_closed(ws)
        finally:
            self._clients.discard(ws)
            self._resync.discard(ws)

    # -- HTTP ------------------------------------------------------------------------------------------
    def routes(self) -> dict[str, Callable[[], Any]]:
        return {"/api/nodes": self.fleet.snapshot}

    def health(self) -> dict:
        """The ``/healthz`` body: counters only."""
        return {
            "up": True,
            "broker": self.broker(),
            "clients": len(self._clients),
            "updates": self.updates,
            "skipped_updates": self.skipped,
            **self.fleet.stats(),
        }
