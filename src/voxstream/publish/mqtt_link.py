"""The connection plumbing shared by the MQTT publisher and the fleet's subscriber (aiomqtt 2.x has no
reconnect loop): TLS settings from the config, the reconnect loop, and the two clean-ups aiomqtt leaves
to its caller."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import aiomqtt

from voxstream.backoff import Backoff
from voxstream.config import MqttConfig
from voxstream.errors import ConfigError, VoxstreamError

_LOGGER = logging.getLogger(__name__)

END_WAIT_S = 1.0
"""After a connection ends, how long to wait for aiomqtt to report how it ended (it has, by then)."""


def abandon(client: aiomqtt.Client) -> None:
    """Detach a connection attempt cut short by cancellation from the event loop.

    aiomqtt 2.5 has no public way to do this: cancelling ``__aenter__`` leaves paho's socket registered
    with the loop and aiomqtt's helper task running, and ``__aexit__`` cannot be used on a client that
    never connected (it waits for a disconnect that never comes).  Without this, paho calls into the
    closed loop later and prints a traceback (aiomqtt issue #377, open).  So this reaches into
    ``client._client`` (the paho client) and ``client._misc_task``, and does nothing if they are gone.
    """
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


async def collect_end(client: aiomqtt.Client) -> None:
    """Let aiomqtt report how a connection ended, through its public message iterator.

    When the broker closes a connection, aiomqtt keeps the error in a future that only the message
    iterator (or a failing publish) reads; left unread, asyncio logs "Future exception was never
    retrieved" when the client is collected.  Iterating after the end returns what was queued, then
    raises :class:`aiomqtt.MqttError`, which reads it.
    """
    messages = client.messages
    try:
        async with asyncio.timeout(END_WAIT_S):
            while True:
                await anext(messages)
    except (aiomqtt.MqttError, TimeoutError):
        pass


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
    return aiomqtt.TLSParameters(
        ca_certs=cfg.ca_file or None,
        certfile=cfg.cert_file or None,
        keyfile=cfg.key_file or None,
        cert_reqs=ssl.CERT_REQUIRED,
    )


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
        entered = False
        try:
            try:
                async with client:
                    entered = True
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
        if entered:
            await collect_end(client)
        if fatal is not None:
            raise fatal
        if stopping():
            break
        await sleep(backoff.next())
