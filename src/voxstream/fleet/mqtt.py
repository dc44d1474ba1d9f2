"""The fleet's MQTT side: subscribe to every node's emotion and status topics and feed a :class:`Fleet`.

:class:`FleetSubscriber` is an async context manager whose task connects
(same host, TLS and auth settings as the nodes' publisher), subscribes to
``<prefix>/+/emotion`` and ``<prefix>/+/status`` (QoS 1; retained messages give
the current fleet at once), and hands each message to
:meth:`Fleet.on_message` with the wall time.  aiomqtt does not reconnect by
itself: on any :class:`aiomqtt.MqttError` the task backs off exponentially
with jitter and tries again.  The incoming queue is bounded; messages it has
no room for are dropped by aiomqtt and counted here.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable

import aiomqtt

from voxstream.config import MqttConfig
from voxstream.fleet.state import Fleet
from voxstream.publish.mqtt import keep_connected, tls_parameters

_LOGGER = logging.getLogger(__name__)

MAX_QUEUED_MESSAGES = 10_000
"""Messages aiomqtt may hold before the fleet has read them; more are dropped (and counted)."""
WARN_EVERY_S = 60.0


class _CountDrops(logging.Filter):
    """Counts aiomqtt's "queue is full" warnings and demotes paho's chatter to DEBUG."""

    def __init__(self) -> None:
        super().__init__()
        self.dropped = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "queue is full" in record.getMessage():
            self.dropped += 1
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def fleet_topics(prefix: str) -> list[str]:
    base = prefix.rstrip("/")
    return [f"{base}/+/emotion", f"{base}/+/status"]


class FleetSubscriber:
    """``async with FleetSubscriber(cfg.mqtt, fleet, on_change):`` keeps ``fleet`` current until exit.

    ``on_change(node)`` is called (synchronously, in the event loop) for every accepted message.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        fleet: Fleet,
        on_change: Callable[[str], None] = lambda node: None,
        *,
        clock: Callable[[], float] = time.time,
        max_queued: int = MAX_QUEUED_MESSAGES,
    ) -> None:
        self.cfg = cfg
        self.fleet = fleet
        self.on_change = on_change
        self.client_id = f"voxstream-fleet-{socket.gethostname()[:32]}-{os.getpid()}"
        self._clock = clock
        self._max_queued = max_queued
        self._tls = tls_parameters(cfg)
        self._drops = _CountDrops()
        self._client_logger = logging.getLogger(f"{__name__}.client")
        self._client_logger.addFilter(self._drops)
        self._task: asyncio.Task | None = None
        self._next_warn = 0.0
        self.connected = False
        self.connections = 0
        self.errors = 0
        """Messages whose handling raised (a bug; counted, never fatal)."""

    @property
    def dropped(self) -> int:
        """Messages aiomqtt dropped because the fleet was not reading fast enough."""
        return self._drops.dropped

    async def __aenter__(self) -> FleetSubscriber:
        self._task = asyncio.create_task(self._run(), name="fleet-mqtt")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._client_logger.removeFilter(self._drops)

    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        return aiomqtt.Client(
            cfg.host,
            cfg.port,
            identifier=self.client_id,
            username=cfg.username or None,
            password=cfg.password or None,
            keepalive=cfg.keepalive_s,
            tls_params=self._tls,
            tls_insecure=cfg.tls_insecure if cfg.tls else None,
            max_queued_incoming_messages=self._max_queued,
            logger=self._client_logger,
        )

    async def _run(self) -> None:
        await keep_connected(self, "fleet MQTT")

    def _connection_failed(self, exc: BaseException) -> None:
        now = time.monotonic()
        if self.connected or now >= self._next_warn:
            _LOGGER.warning("MQTT broker %s:%s: %s; retrying in the background", self.cfg.host, self.cfg.port, exc)
            self._next_warn = now + WARN_EVERY_S
        else:
            _LOGGER.debug("MQTT broker %s:%s still unreachable: %s", self.cfg.host, self.cfg.port, exc)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connected = True
        self.connections += 1
        self._next_warn = 0.0
        for topic in fleet_topics(self.cfg.prefix):
            await client.subscribe(topic, qos=1)
        _LOGGER.info(
            "fleet: subscribed to %s on %s:%s",
            " and ".join(fleet_topics(self.cfg.prefix)),
            self.cfg.host,
            self.cfg.port,
        )
        async for message in client.messages:
            self._handle(message.topic.value, message.payload)
        raise aiomqtt.MqttError("message stream ended")

    def _handle(self, topic: str, payload: object) -> None:
        if not isinstance(payload, (bytes, bytearray)):
            payload = b"" if payload is None else str(payload).encode("utf-8")
        try:
            node = self.fleet.on_message(topic, payload, self._clock())
            if node is not None:
                self.on_change(node)
        except Exception:  # one bad message must never stop the fleet
            self.errors += 1
            log = _LOGGER.exception if self.errors == 1 else _LOGGER.debug
            log("fleet: could not handle a message on %r (further errors at debug level)", topic)
