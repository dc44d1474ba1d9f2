"""WebSocket publisher: the live page, ``/healthz`` and the event stream on one port.

``GET /`` serves the page (``index.html`` beside this module, with the script and style both pages share,
:mod:`voxstream.publish.web`), ``GET /healthz`` a small JSON status, and ``/ws`` is the WebSocket: on connect it
sends one :class:`~voxstream.engine.events.Hello` message (the model card summary and the engine's window),
then every :class:`EmotionEvent` as JSON text.

Each client has its own bounded queue and its own writer task: a slow or
stalled client loses its oldest messages (counted) and never holds up the
pipeline or the other clients.  :meth:`WebSocketPublisher.publish` only
appends to those queues; it never awaits the network and never raises.

Access (token, allowed origins) is the server's, :class:`voxstream.publish.web.PageServer`.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from voxstream.config import WebsocketConfig
from voxstream.engine.events import SILENCE, UNCERTAIN, EmotionEvent, Hello
from voxstream.engine.window import WindowSpec
from voxstream.inference.card import ModelCard
from voxstream.publish.web import PageServer, read_page, read_until_closed
from voxstream.status import RunStats

_LOGGER = logging.getLogger(__name__)


def hello_message(card: ModelCard, node: str, spec: WindowSpec) -> Hello:
    """The first message on every connection: what the page needs to draw itself, with the engine's window."""
    return Hello(
        node=node,
        model=card.name,
        arch=card.arch,
        labels=list(card.labels),
        extra_labels=[UNCERTAIN, SILENCE],
        window_s=spec.window_s,
        hop_s=spec.hop_s,
        sample_rate=card.features.sample_rate,
    )


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


class WebSocketPublisher(PageServer):
    """Serves the page, ``/healthz`` and ``/ws``; ``await publish(event)`` fans out to every client.

    ``/healthz`` reports ``stats.snapshot()`` (a fresh :class:`RunStats` of its own when none is given).
    ``spec`` is the engine's window (:func:`voxstream.stages.window_spec`), sent in the hello.
    """

    def __init__(
        self,
        cfg: WebsocketConfig,
        card: ModelCard,
        stats: RunStats | None = None,
        node: str = "voxstream",
        *,
        spec: WindowSpec,
    ) -> None:
        super().__init__(
            cfg,
            cfg.host,
            cfg.port,
            read_page(__package__, "index.html"),
            name="websocket",
            title="live page",
            hint="is another voxstream running? Choose another websocket.port",
        )
        self.card = card
        self.stats = stats if stats is not None else RunStats(model=card.name, node=node)
        self.node = node
        self._hello = hello_message(card, node, spec).to_json()
        self._clients: set[_Client] = set()
        self.published = 0
        """Events handed to publish() since start."""
        self.dropped_messages = 0
        """Messages dropped for slow clients, all clients together."""
        self.publish_errors = 0

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
    async def handle(self, ws: ServerConnection) -> None:
        client = _Client(self.web.client_queue)
        self._clients.add(client)
        _LOGGER.info("WebSocket client %s connected (%d now)", ws.remote_address, len(self._clients))
        reader = asyncio.create_task(read_until_closed(ws))
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

    def health(self) -> dict:
        """The ``/healthz`` body: the run's status and this publisher's client counters (no emotion data)."""
        return {
            "up": True,
            **self.stats.snapshot().to_dict(),
            "clients": len(self._clients),
            "dropped_messages": self.dropped_messages,
        }
