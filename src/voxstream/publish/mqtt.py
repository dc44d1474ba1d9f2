"""MQTT publisher (aiomqtt 2.x, MQTT 5) with its own reconnect loop and Home Assistant discovery.

Three parts (and the claim's host side in :mod:`~voxstream.publish.claim_host`):

* :class:`MqttState` (pure, synchronous, time is an argument) decides what is
  due: the latest event as state (on a label change, or ``min_interval_s``
  after the last state) and the pending label-change messages.
* :class:`~voxstream.publish.mqtt_claim.NodeClaim` (pure) decides who holds the
  node: one process per node name.
* :class:`MqttPublisher` is the connection loop around them.  ``publish`` only
  pushes into the state and wakes the loop, never touching the network.  The
  loop connects, checks the node's claim (a newcomer whose node is held by a
  live process stops here, having published nothing), announces the discovery
  configs, sends this run's state and only then status ``online`` (so
  ``online`` never stands beside the previous run's retained state: until the
  first event the node stays ``offline``), then sends whatever is due; on any
  :class:`aiomqtt.MqttError` it backs off (:mod:`~voxstream.backoff`, with
  jitter) and tries again, logging a rate-limited WARNING.

While the broker is away only the latest state is kept (plus at most a few
pending label-change messages, dropped on reconnect), so memory stays bounded.

**One process per node.**  Each process connects with its own client id
(``voxstream-<slug>-<run id>``, or ``mqtt.client_id`` when set), so two processes
never take over each other's connection, and every status message names the run
that sent it (MQTT 5 user properties; :mod:`~voxstream.publish.mqtt_claim` has
the rule).  A second process for a node that a live process holds is refused
when it connects: entering the publisher raises :class:`PublisherError` (one
line, exit code 2) and the running node receives nothing.  The last will
(``offline``, no run) releases the claim of a process that dies, even by
SIGKILL, so a restart after a crash just works; a claim left on this host by a
process that is gone (a power cut before the broker noticed) is taken over too.
The status topic stays ``online``/``offline`` for Home Assistant and the fleet
(MQTT 3.1.1 subscribers see the same payloads, without the properties).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from voxstream.config import MqttConfig
from voxstream.engine.events import EmotionEvent
from voxstream.errors import PublisherError
from voxstream.inference.card import ModelCard
from voxstream.publish.claim_host import new_claim, process_gone
from voxstream.publish.homeassistant import HA_ONLINE, OFFLINE, ONLINE, Topics, discovery_configs, node_slug
from voxstream.publish.mqtt_claim import Claim, NodeClaim, Verdict
from voxstream.publish.mqtt_link import keep_connected, tls_parameters
from voxstream.publish.mqtt_state import MqttState
from voxstream.status import RunStats

_LOGGER = logging.getLogger(__name__)

WARN_EVERY_S = 60.0
"""At most one WARNING per this many seconds while the broker stays unreachable."""
PUBLISH_TIMEOUT_S = 5.0
SHUTDOWN_TIMEOUT_S = 3.0
CONNECT_GRACE_S = 0.4
"""At shutdown, how long a connect in progress may take to finish (to publish offline) before it is cut."""
CLAIM_WAIT_S = 2.0
"""Entering the publisher waits this long at most for the first connection's claim check (a refused node
then fails at start, before any event); an unreachable broker does not hold the start longer."""


class _Quiet(logging.Filter):
    """paho reports every failed attempt as an ERROR; our own rate-limited WARNING already says it, so demote them.

    aiomqtt also logs, with a traceback, the SUBACK of a subscribe that a stopping run has cancelled
    (``Unexpected message ID``): expected at shutdown, so the line stays (at debug) and the traceback goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if str(record.msg).startswith("Unexpected message ID"):
            record.exc_info, record.exc_text = None, None
        return True


_CLIENT_LOGGER = logging.getLogger(f"{__name__}.client")
_CLIENT_LOGGER.addFilter(_Quiet())


def claim_of(message: aiomqtt.Message) -> Claim | None:
    """The claim a status message carries (None: a release, e.g. the last will)."""
    return Claim.from_properties(getattr(message.properties, "UserProperty", None))


class MqttPublisher:
    """Publishes events to ``<prefix>/<node slug>/...`` and announces the node to Home Assistant.

    Use as ``async with MqttPublisher(cfg.mqtt, cfg.node.name, card) as mqtt: await mqtt.publish(event)``.
    Entering never fails because the broker is down (it only starts the background task and waits at
    most :data:`CLAIM_WAIT_S` for the first claim check); it raises :class:`ConfigError` for missing TLS
    files and :class:`PublisherError` when a live process holds the node.  ``page_url()`` (when given)
    is the live page's address, the device's ``configuration_url`` in Home Assistant.
    """

    def __init__(
        self,
        cfg: MqttConfig,
        node: str,
        card: ModelCard,
        stats: RunStats | None = None,
        *,
        page_url: Callable[[], str | None] | None = None,
        claim: Claim | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.card = card
        self.stats = stats
        """Accepted like every publisher's; MQTT reports no run status."""
        self.node = node
        self.topics = Topics.for_node(cfg, node)
        self.claim = NodeClaim(claim or new_claim(), process_gone)
        self.client_id = cfg.client_id or f"voxstream-{node_slug(node)}-{self.claim.mine.run}"
        self._page_url = page_url
        self._clock = clock
        self.state = MqttState(cfg.min_interval_s)
        self._tls = tls_parameters(cfg)
        self._announce = False
        self._reclaim = False
        self._online = False
        """Status online was sent on this connection (after this run's first state)."""
        self._stopping = False
        self._wake = asyncio.Event()
        self._checked = asyncio.Event()
        """Set once the first connection's claim check is done, or the first attempt failed."""
        self._task: asyncio.Task | None = None
        self._next_warn = 0.0
        self.connected = False
        self.connections = 0
        """Successful connections so far (reconnects included)."""
        self.sent = 0
        """State messages sent on the emotion topic."""
        self.publish_errors = 0
        self.fatal: PublisherError | None = None
        """Set when another process holds the node: entering or ``publish`` raises it and the run ends."""

    async def __aenter__(self) -> MqttPublisher:
        self._task = task = asyncio.create_task(self._run(), name="mqtt-publisher")
        checked = asyncio.create_task(self._checked.wait())
        try:
            await asyncio.wait({task, checked}, timeout=CLAIM_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # cancelled while starting: nobody will call __aexit__
            self._stopping = True  # ends the reconnect loop even where a library swallows the cancel
            self._wake.set()
            task.cancel()
            raise
        finally:
            checked.cancel()
        if self.fatal is not None:  # refused at the door: the task ends on its own (a clean disconnect)
            task, self._task = self._task, None
            await asyncio.gather(task, return_exceptions=True)
            raise self.fatal
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
        except Exception:  # shutting down anyway (a PublisherError was already raised to the run)
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
            cfg.host,
            cfg.port,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            username=cfg.username or None,
            password=cfg.password or None,
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),  # no run: releases the claim
            keepalive=cfg.keepalive_s,
            timeout=PUBLISH_TIMEOUT_S,
            tls_params=self._tls,
            tls_insecure=cfg.tls_insecure if cfg.tls else None,
            max_queued_outgoing_messages=64,
            logger=_CLIENT_LOGGER,
        )

    async def _run(self) -> None:
        try:
            await keep_connected(
                self, "MQTT publisher", stopping=lambda: self._stopping or self.fatal is not None, sleep=self._sleep
            )
        finally:
            self._checked.set()

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
        self._checked.set()  # an unreachable broker does not hold the start
        now = time.monotonic()
        where = f"{self.cfg.host}:{self.cfg.port}"
        if self.connected or now >= self._next_warn:
            _LOGGER.warning(
                "MQTT broker %s: %s; retrying in the background (only the latest state is kept)", where, str(exc)
            )  # not the exception: a record would keep its frames
            self._next_warn = now + WARN_EVERY_S
        else:
            _LOGGER.debug("MQTT broker %s still unreachable: %s", where, str(exc))

    async def _session(self, client: aiomqtt.Client) -> None:
        self.connected = True
        self._online = False
        try:
            await self._claim_node(client)
        finally:
            self._checked.set()
        self.connections += 1
        self._next_warn = 0.0
        _LOGGER.info("MQTT connected to %s:%s as %s", self.cfg.host, self.cfg.port, self.client_id)
        self.state.reconnected()
        listener = asyncio.create_task(self._listen(client))
        try:
            await self._announce_all(client)
            await self._send_loop(client, listener)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

    # -- the node's claim (see mqtt_claim) ----------------------------------------------------
    async def _claim_node(self, client: aiomqtt.Client) -> None:
        """Read the status topic's retained message; claim the node, or raise PublisherError having sent nothing."""
        await client.subscribe(self.topics.status, qos=1)
        # the second SUBACK comes after the status topic's retained message: by then that message is queued
        await client.subscribe(self.topics.ha_status, qos=1)
        retained: Claim | None = None
        while len(client.messages):
            message = await anext(client.messages)
            if message.topic.matches(self.topics.status):
                retained = claim_of(message)
        verdict = self.claim.checked(retained)
        if verdict is Verdict.LOST:
            raise self._lost()
        if verdict is Verdict.CLAIM:
            await self._send_status(client)
            await self._until_own_claim(client)

    async def _until_own_claim(self, client: aiomqtt.Client) -> None:
        """Wait for this run's claim to come back: a claim that beats it and came first ends the run here,
        before anything is announced."""
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT_S):
                async for message in client.messages:
                    if not message.topic.matches(self.topics.status):
                        continue
                    claim = claim_of(message)
                    if claim is not None and claim.run == self.claim.mine.run:
                        return
                    if self.claim.seen(claim) is Verdict.LOST:
                        raise self._lost()
        except TimeoutError:
            raise aiomqtt.MqttError(f"the node's claim did not come back within {PUBLISH_TIMEOUT_S:.0f} s") from None
        raise aiomqtt.MqttError("message stream ended")

    def _lost(self) -> PublisherError:
        holder = self.claim.holder
        who = holder.describe() if holder is not None else "another run"
        self.fatal = PublisherError(
            f"MQTT node {self.node!r} ({self.topics.base}/...) is in use by another voxstream process ({who}); "
            f"give each node its own [node] name (a claim whose process is gone: mosquitto_pub -r -n -t "
            f"{self.topics.status})"
        )
        return self.fatal

    async def _send_status(self, client: aiomqtt.Client) -> None:
        """This run's status (online once this connection sent a state, else offline) with its claim."""
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = self.claim.mine.properties()
        await client.publish(
            self.topics.status, ONLINE if self._online else OFFLINE, qos=1, retain=True, properties=props
        )

    # -- announcing and sending ---------------------------------------------------------------
    async def _announce_all(self, client: aiomqtt.Client) -> None:
        """The discovery configs, then (once this run has a state) the state and status online; all retained."""
        if self.cfg.discovery:
            page = self._page_url() if self._page_url is not None else None
            for topic, payload in discovery_configs(self.cfg, self.card, self.node, page_url=page):
                await client.publish(topic, json.dumps(payload, separators=(",", ":")), qos=1, retain=True)
        if (state := self.state.current()) is not None:
            await self._send_state(client, state)

    async def _send_state(self, client: aiomqtt.Client, event: EmotionEvent, go_online: bool = True) -> None:
        """Send a state; the first of a connection is followed by status online, so online never stands
        beside the previous run's retained state."""
        await client.publish(self.topics.emotion, event.to_json(), qos=1, retain=True)
        self.sent += 1
        if go_online and not self._online:
            self._online = True
            await self._send_status(client)

    async def _send_loop(self, client: aiomqtt.Client, listener: asyncio.Task) -> None:
        while True:
            waiter = asyncio.create_task(self._wake.wait())
            done, _ = await asyncio.wait({waiter, listener}, return_when=asyncio.FIRST_COMPLETED)
            if listener in done:
                waiter.cancel()
                listener.result()  # raises the MqttError that ended the connection, or PublisherError
                return
            self._wake.clear()
            if self._stopping:  # leave the true last state retained, then say offline (which releases the node)
                if (last := self.state.unsent()) is not None:
                    await self._send_state(client, last, go_online=False)
                await client.publish(self.topics.status, OFFLINE, qos=1, retain=True)
                return
            if self._reclaim:
                self._reclaim = False
                await self._send_status(client)
            if self._announce:
                self._announce = False
                await self._announce_all(client)
            if (state := self.state.due_state()) is not None:
                await self._send_state(client, state)
            for change in self.state.take_changes():
                await client.publish(self.topics.event, change.to_json(), qos=1)

    async def _listen(self, client: aiomqtt.Client) -> None:
        """Answer claims on the status topic and Home Assistant's birth message; ends with MqttError on
        disconnect, or PublisherError when an older run holds the node."""
        async for message in client.messages:
            if message.topic.matches(self.topics.status):
                if not self._stopping:
                    self._on_status(claim_of(message))
                continue
            raw = message.payload
            payload = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray)) else raw
            if self.cfg.discovery and message.topic.matches(self.topics.ha_status) and payload == HA_ONLINE:
                _LOGGER.info("Home Assistant is online: announcing discovery again")
                self._announce = True
                self._wake.set()
        raise aiomqtt.MqttError("message stream ended")

    def _on_status(self, claim: Claim | None) -> None:
        verdict = self.claim.seen(claim)
        if verdict is Verdict.LOST:
            raise self._lost()
        if verdict is Verdict.CLAIM:  # claim again; after a younger run's claim, announce again too
            _LOGGER.info(
                "MQTT node %s: %s; claiming it again",
                self.topics.base,
                "released by another client" if claim is None else f"claimed by {claim.describe()}",
            )
            self._reclaim = True
            self._announce = self._announce or claim is not None
            self._wake.set()
