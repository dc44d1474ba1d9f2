"""MQTT publisher (aiomqtt 2.x) with its own reconnect loop and Home Assistant discovery.

Two parts:

* :class:`MqttState` (pure, synchronous, time is an argument) decides what is
  due: the latest event as state (on a label change, or ``min_interval_s``
  after the last state) and the pending label-change messages.
* :class:`MqttPublisher` is the connection loop around it.  ``publish`` only
  pushes into the state and wakes the loop, never touching the network.  The
  loop connects, announces the discovery configs, sends this run's state and
  only then status ``online`` (so ``online`` never stands beside the previous
  run's retained state: until the first event the node stays ``offline``),
  then sends whatever is due; on any :class:`aiomqtt.MqttError` it backs off
  (:mod:`~voxstream.backoff`, with jitter) and tries again, logging a
  rate-limited WARNING.

While the broker is away only the latest state is kept (plus at most a few
pending label-change messages, dropped on reconnect), so memory stays bounded.

**One process per node.**  The client id is ``voxstream-<slug>``, so two nodes
whose names give the same slug (``kitchen`` and ``Kitchen!``) share it.  The
broker then closes the older connection whenever the other one connects
(MQTT's session takeover; mosquitto 2.0 sends no reason, the socket just
closes), they reconnect in turns forever and Home Assistant flaps.  The
publisher counts how its connections end: a connection the broker closes
within :data:`TAKEOVER_SESSION_S` of connecting, :data:`TAKEOVER_DROPS` times
in a row (the first of them may have lasted any time) with no failed
reconnect in between, is a takeover; the run stops with one line
(:class:`~voxstream.errors.PublisherError`, exit code 2) naming the clash.
A process still connected when the other one gave up keeps the node; both may stop.

Why this design: the slug client id stays, so a node restarted after a crash,
``kill -9`` or a power cut simply takes over its dead predecessor's lingering
connection (nothing live is closed, nothing counts) and no retained marker can
go stale and block it.  One network blip or a broker restart never stops a
node: a blip is one drop, usually after a long connection, and a failed
reconnect (broker away) resets the count; a publish that times out on a slow
broker is not a drop (only the broker closing the connection is).  A unique client id per process plus
a retained claim would answer faster but needs an extra topic and a wait on
every restart after a crash; the MQTT 5 reason "Session taken over" would be
exact but mosquitto 2.0.11 does not send it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from voxstream.backoff import Backoff
from voxstream.config import MqttConfig
from voxstream.engine.events import EmotionEvent
from voxstream.errors import ConfigError, PublisherError, VoxstreamError
from voxstream.model.card import ModelCard
from voxstream.publish.homeassistant import HA_ONLINE, OFFLINE, ONLINE, Topics, discovery_configs, node_slug
from voxstream.publish.mqtt_state import MqttState
from voxstream.status import RunStats

_LOGGER = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
"""At most one WARNING per this many seconds while the broker stays unreachable."""
PUBLISH_TIMEOUT_S = 5.0
SHUTDOWN_TIMEOUT_S = 3.0
CONNECT_GRACE_S = 0.4
"""At shutdown, how long a connect in progress may take to finish (to publish offline) before it is cut."""
TAKEOVER_SESSION_S = 10.0
"""A connection the broker closes sooner than this after connecting counts towards a takeover."""
DROP_GRACE_S = 1.0
"""After a publish fails, how long the listener may take to report that the broker closed the connection."""
TAKEOVER_DROPS = 4
"""Closed connections in a row (all but the first shorter than TAKEOVER_SESSION_S, no failed reconnect in between)
that mean another client holds the same client id."""


class _Quiet(logging.Filter):
    """paho reports every failed attempt as an ERROR; our own rate-limited WARNING already says it, so demote them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_CLIENT_LOGGER = logging.getLogger(f"{__name__}.client")
_CLIENT_LOGGER.addFilter(_Quiet())


def abandon(client: aiomqtt.Client) -> None:
    """Detach a connection attempt cut short by cancellation from the event loop (aiomqtt leaves its socket
    and helper task behind; paho would call into the closed loop later and print a traceback)."""
    paho = getattr(client, "_client", None)
    if paho is None:  # pragma: no cover - other aiomqtt versions
        return
    for name in ("on_socket_open", "on_socket_close", "on_socket_register_write", "on_socket_unregister_write"):
        setattr(paho, name, None)
    sock = paho.socket()
    if sock is not None:
        loop = asyncio.get_running_loop()
        loop.remove_reader(sock.fileno())
        loop.remove_writer(sock.fileno())
        sock.close()
    misc = getattr(client, "_misc_task", None)
    if misc is not None:
        misc.cancel()


def tls_parameters(cfg: MqttConfig) -> aiomqtt.TLSParameters | None:
    """aiomqtt TLS settings from config; missing files are a ConfigError naming the key."""
    if not cfg.tls:
        return None
    for key in ("ca_file", "cert_file", "key_file"):
        path = getattr(cfg, key)
        if path and not Path(path).is_file():
            raise ConfigError(f"mqtt.{key}: file not found: {path}")
    if bool(cfg.cert_file) != bool(cfg.key_file):
        raise ConfigError("mqtt.cert_file and mqtt.key_file: set both for a client certificate, or neither")
    return aiomqtt.TLSParameters(ca_certs=cfg.ca_file or None, certfile=cfg.cert_file or None,
                                 keyfile=cfg.key_file or None, cert_reqs=ssl.CERT_REQUIRED)


class MqttPublisher:
    """Publishes events to ``<prefix>/<node slug>/...`` and announces the node to Home Assistant.

    Use as ``async with MqttPublisher(cfg.mqtt, cfg.node.name, card) as mqtt: await mqtt.publish(event)``.
    Entering never fails because the broker is down (it only starts the
    background task); it raises :class:`ConfigError` for missing TLS files.
    """

    def __init__(self, cfg: MqttConfig, node: str, card: ModelCard, stats: RunStats | None = None,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self.card = card
        self.stats = stats
        """Accepted like every publisher's; MQTT reports no run status."""
        self.node = node
        self.topics = Topics.for_node(cfg, node)
        self.client_id = cfg.client_id or f"voxstream-{node_slug(node)}"
        self._clock = clock
        self.state = MqttState(cfg.min_interval_s)
        self._tls = tls_parameters(cfg)
        self._announce = False
        self._online = False
        """Status online was sent on this connection (after this run's first state)."""
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._next_warn = 0.0
        self.connected = False
        self.connections = 0
        """Successful connections so far (reconnects included)."""
        self.sent = 0
        """State messages sent on the emotion topic."""
        self.publish_errors = 0
        self.drops = 0
        """Connections closed by the broker in a row, each soon after connecting (see TAKEOVER_DROPS)."""
        self.fatal: PublisherError | None = None
        """Set when another process holds the node: ``publish`` raises it and the run ends."""

    async def __aenter__(self) -> MqttPublisher:
        self._task = asyncio.create_task(self._run(), name="mqtt-publisher")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is None:
            return
        if not self.connected:  # a connect in flight to a live broker ends in ms: let it say offline
            done, _ = await asyncio.wait({task}, timeout=CONNECT_GRACE_S)
            if not done:
                task.cancel()
        try:
            await asyncio.wait_for(task, SHUTDOWN_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            pass
        except Exception:  # shutting down anyway
            _LOGGER.debug("MQTT task ended with an error", exc_info=True)

    async def publish(self, event: EmotionEvent) -> None:
        """Keep the event as the latest state and wake the connection task if it is due; never blocks.

        Raises :class:`PublisherError` only once another process was found to hold the node (ends the run).
        """
        if self.fatal is not None:
            raise self.fatal
        try:
            if self.state.push(event, self._clock()):
                self._wake.set()
        except Exception:  # the pipeline must keep running
            self.publish_errors += 1
            log = _LOGGER.exception if self.publish_errors == 1 else _LOGGER.debug
            log("could not queue event for MQTT (further errors at debug level)")

    # -- connection task -------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        cfg = self.cfg
        return aiomqtt.Client(
            cfg.host, cfg.port, identifier=self.client_id,
            username=cfg.username or None, password=cfg.password or None,
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),
            keepalive=cfg.keepalive_s, timeout=PUBLISH_TIMEOUT_S,
            tls_params=self._tls, tls_insecure=cfg.tls_insecure if cfg.tls else None,
            max_queued_outgoing_messages=64, logger=_CLIENT_LOGGER,
        )

    async def _run(self) -> None:
        await keep_connected(self, "MQTT publisher", stopping=lambda: self._stopping or self.fatal is not None,
                             sleep=self._sleep)

    async def _sleep(self, delay: float) -> None:
        """Wait before the next attempt; a shutdown request cuts it short."""
        self._wake.clear()
        try:
            await asyncio.wait_for(self._until_stopping(), delay)
        except TimeoutError:
            pass

    async def _until_stopping(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()

    def _connection_failed(self, exc: BaseException) -> None:
        if not self.connected:  # the broker is unreachable: a network or broker problem, not a takeover
            self.drops = 0
        now = time.monotonic()
        where = f"{self.cfg.host}:{self.cfg.port}"
        if self.connected or now >= self._next_warn:
            _LOGGER.warning("MQTT broker %s: %s; retrying in the background (only the latest state is kept)",
                            where, exc)
            self._next_warn = now + WARN_EVERY_S
        else:
            _LOGGER.debug("MQTT broker %s still unreachable: %s", where, exc)

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connected = True
        self.connections += 1
        self._next_warn = 0.0
        _LOGGER.info("MQTT connected to %s:%s as %s", self.cfg.host, self.cfg.port, self.client_id)
        self.state.reconnected()
        started = time.monotonic()
        listener = asyncio.create_task(self._listen(client))
        try:
            await self._announce_all(client)
            await self._send_loop(client, listener)
        except aiomqtt.MqttError:
            lasted = time.monotonic() - started
            if not self._stopping:  # only the broker closing the connection counts, not our own time-out
                await asyncio.wait({listener}, timeout=DROP_GRACE_S)
                if listener.done() and not listener.cancelled() and isinstance(listener.exception(), aiomqtt.MqttError):
                    self._dropped(lasted)
            raise
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    def _dropped(self, lasted_s: float) -> None:
        """Count a connection the broker closed; raise PublisherError when it looks like a takeover."""
        self.drops = self.drops + 1 if lasted_s < TAKEOVER_SESSION_S else 1
        if self.drops >= TAKEOVER_DROPS:
            self.fatal = PublisherError(
                f"MQTT node {self.node!r} ({self.topics.base}/...) is in use by another voxstream process: the broker "
                f"closed this node's connection (client id {self.client_id}) {self.drops} times in a row within "
                f"{TAKEOVER_SESSION_S:.0f} s of connecting, as it does when another client connects with the same "
                f"id; give each node its own [node] name")
            raise self.fatal

    async def _announce_all(self, client: aiomqtt.Client) -> None:
        """The discovery configs, then (once this run has a state) the state and status online; all retained."""
        self._online = False
        if self.cfg.discovery:
            for topic, payload in discovery_configs(self.cfg, self.card, self.node):
                await client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=True)
        if (state := self.state.current()) is not None:
            await self._send_state(client, state)

    async def _send_state(self, client: aiomqtt.Client, event: EmotionEvent, go_online: bool = True) -> None:
        """Send a state; the first of a connection is followed by status online, so online never stands
        beside the previous run's retained state."""
        await client.publish(self.topics.emotion, event.to_json(), qos=1, retain=True)
        self.sent += 1
        if go_online and not self._online:
            await client.publish(self.topics.status, ONLINE, qos=1, retain=True)
            self._online = True

    async def _send_loop(self, client: aiomqtt.Client, listener: asyncio.Task) -> None:
        while True:
            waiter = asyncio.create_task(self._wake.wait())
            done, _ = await asyncio.wait({waiter, listener}, return_when=asyncio.FIRST_COMPLETED)
            if listener in done:
                waiter.cancel()
                listener.result()  # raises the MqttError that ended the connection
                return
            self._wake.clear()
            if self._stopping:  # leave the true last state retained, then say offline
                if (last := self.state.unsent()) is not None:
                    await self._send_state(client, last, go_online=False)
                await client.publish(self.topics.status, OFFLINE, qos=1, retain=True)
                return
            if self._announce:
                self._announce = False
                await self._announce_all(client)
            if (state := self.state.due_state()) is not None:
                await self._send_state(client, state)
            for change in self.state.take_changes():
                await client.publish(self.topics.event, change.to_json(), qos=1)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Re-announce when Home Assistant says it is (back) online; ends with MqttError on disconnect."""
        if self.cfg.discovery:
            await client.subscribe(self.topics.ha_status, qos=1)
        async for message in client.messages:
            raw = message.payload
            payload = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
            if message.topic.matches(self.topics.ha_status) and payload == HA_ONLINE:
                _LOGGER.info("Home Assistant is online: announcing discovery again")
                self._announce = True
                self._wake.set()
        raise aiomqtt.MqttError("message stream ended")


async def keep_connected(link, what: str, stopping=lambda: False, sleep=asyncio.sleep) -> None:
    """Connect ``link._client()`` and run ``link._session(client)``, reconnecting with backoff until ``stopping()``.

    The one reconnect loop of the MQTT publisher and the fleet's subscriber (aiomqtt has none).  ``link``
    has ``cfg`` (``reconnect_min_s``/``reconnect_max_s``), ``_client()``, ``_session(client)``,
    ``_connection_failed(exc)`` and a ``connected`` flag.  Any other error is logged and retried: a broker
    problem never takes the pipeline down.  A :class:`VoxstreamError` from the session (the node is in use by
    another process) ends the loop and is raised.
    """
    backoff = Backoff(link.cfg.reconnect_min_s, link.cfg.reconnect_max_s, jitter=True)
    fatal: Exception | None = None  # the VoxstreamError the session raised (typed as except* may nest groups)
    while not stopping():
        client = link._client()
        try:
            try:
                async with client:
                    backoff.reset()
                    await link._session(client)
            except asyncio.CancelledError:
                abandon(client)
                raise
        except* VoxstreamError as group:
            fatal = group.exceptions[0]
        except* aiomqtt.MqttError as group:
            link._connection_failed(group.exceptions[0])
        except* Exception as group:  # keep retrying
            _LOGGER.error("%s error: %r; reconnecting", what, group.exceptions[0])
        finally:
            link.connected = False
        if fatal is not None:
            raise fatal
        if stopping():
            break
        await sleep(backoff.next())
