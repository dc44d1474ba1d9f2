"""Wiring: a source, the engine and the publishers in one asyncio loop.

Publishers plug in here.  A publisher is an async context manager with
``async def publish(event)`` that must never block (it queues or drops);
:func:`build_publishers` makes them from the config.  A publisher whose output
is gone for good raises :class:`StopStream` and the run ends quietly; one that cannot go on until the user
fixes something raises :class:`~voxstream.errors.PublisherError`, which ends the run with exit code 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Protocol, runtime_checkable

from voxstream.config import Config
from voxstream.engine.events import EmotionEvent, utc_now_iso
from voxstream.engine.pipeline import Engine
from voxstream.engine.window import WindowSpec
from voxstream.errors import PublisherError, StopStream
from voxstream.inference.card import ModelCard
from voxstream.stages import window_spec
from voxstream.status import RunStats, RunStatus  # noqa: F401  (re-exported: callers build RunStats here)

_LOGGER = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 0.8
"""Longest a publisher may take to flush and close when the stream stops."""


@runtime_checkable
class Publisher(Protocol):
    """Where events go: console, WebSocket page, MQTT."""

    async def __aenter__(self) -> Publisher: ...

    async def __aexit__(self, *exc) -> bool | None: ...

    async def publish(self, event: EmotionEvent) -> None:
        """Hand over one event; must return at once (queue or drop, never wait on the network)."""


def build_publishers(cfg: Config, card: ModelCard, stats: RunStats, spec: WindowSpec | None = None) -> list[Publisher]:
    """The network publishers the config enables (the console printer is added by the command).

    ``spec`` is the engine's window (the live page shows it); without one, the config's (:func:`window_spec`).

    Each module is imported only when enabled, so ``--no-ws --no-mqtt`` loads neither.
    """
    pubs: list[Publisher] = []
    page: Callable[[], str | None] | None = None  # the live page, for the Home Assistant device link
    if cfg.websocket.enabled:
        from voxstream.publish.websocket import WebSocketPublisher

        ws = WebSocketPublisher(
            cfg.websocket, card, stats, node=cfg.node.name, spec=spec if spec is not None else window_spec(card, cfg)
        )
        pubs.append(ws)

        def page() -> str | None:  # read when discovery is announced; None once the page server has stopped
            return ws.running_url

    if cfg.mqtt.enabled:
        from voxstream.publish.mqtt import MqttPublisher

        pubs.append(MqttPublisher(cfg.mqtt, cfg.node.name, card, stats, page_url=page))
    return pubs


class Fanout:
    """Hands every event to every publisher; one failing publisher does not stop the others."""

    def __init__(self, publishers: list[Publisher]) -> None:
        self.publishers = publishers
        self._failed: set[int] = set()

    async def publish(self, event: EmotionEvent) -> None:
        for i, pub in enumerate(self.publishers):
            try:
                await pub.publish(event)
            except (StopStream, PublisherError):  # the output is gone, or the user must fix something
                raise
            except Exception as exc:  # a publisher bug must not stop the audio
                if i not in self._failed:
                    _LOGGER.error("publisher %s failed: %s (further errors logged at debug)", type(pub).__name__, exc)
                    self._failed.add(i)
                else:
                    _LOGGER.debug("publisher %s failed: %s", type(pub).__name__, exc)


@contextlib.asynccontextmanager
async def _bounded_close(pub: Publisher) -> AsyncIterator[Publisher]:
    """Enter a publisher; give its exit at most CLOSE_TIMEOUT_S so Ctrl-C stays prompt."""
    entered = await pub.__aenter__()
    try:
        yield entered if entered is not None else pub
    finally:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await pub.__aexit__(None, None, None)
        except TimeoutError:
            _LOGGER.warning("publisher %s did not close within %.1f s", type(pub).__name__, CLOSE_TIMEOUT_S)
        except Exception as exc:
            _LOGGER.warning("publisher %s failed while closing: %s", type(pub).__name__, exc)


async def run_stream(
    source, engine: Engine, publishers: list[Publisher], stats: RunStats, duration_s: float | None = None
) -> RunStats:
    """Stream ``source`` through ``engine`` to ``publishers`` until it ends, ``duration_s`` or cancel."""
    rate = engine.spec.sample_rate
    limit = None if duration_s is None else int(round(duration_s * rate))
    async with contextlib.AsyncExitStack() as stack:
        pubs = [await stack.enter_async_context(_bounded_close(p)) for p in publishers]
        fan = Fanout(pubs)
        await stack.enter_async_context(source)
        stats.source = getattr(source, "description", type(source).__name__)
        try:
            await _stream(source, engine, fan, stats, limit)
        except StopStream as stop:
            _LOGGER.debug("stopping: %s", stop)
    return stats


async def _stream(source, engine: Engine, fan: Fanout, stats: RunStats, limit: int | None) -> None:
    async for event in stream_events(source, engine, stats, limit):
        await fan.publish(event)


async def stream_events(
    source, engine: Engine, stats: RunStats | None = None, limit: int | None = None
) -> AsyncIterator[EmotionEvent]:
    """The events of an entered ``source`` through ``engine``, each stamped with the wall clock, until the
    source ends or ``limit`` samples; ``stats`` (if given) counts them."""
    async for block in source:
        if limit is not None:
            block = block[: max(0, limit - engine.samples)]
        for event in engine.push(block):
            yield _stamped(event, stats)
        if stats is not None:
            stats.audio_s = engine.stream_time_s
        if limit is not None and engine.samples >= limit:
            break
    for event in engine.finish():
        yield _stamped(event, stats)


def _stamped(event: EmotionEvent, stats: RunStats | None) -> EmotionEvent:
    event = replace(event, timestamp=utc_now_iso())  # the clock is read here, outside the engine
    if stats is not None:
        stats.events += 1
        stats.speech_events += int(event.speech)
        stats.last_event = event
    return event
