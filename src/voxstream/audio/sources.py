"""Audio sources: async context managers that iterate mono float32 blocks at the model rate.

* :class:`FileSource` reads a file in blocks (bounded memory), paced in real
  time or as fast as possible, optionally looping.
* :class:`MicSource` captures from PortAudio.  Its callback only copies the
  block into a bounded asyncio queue via ``call_soon_threadsafe``; when the
  queue is full the oldest block is dropped and counted.  A device that fails
  or stops delivering audio is reopened with exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Protocol

import numpy as np

from voxstream.audio.devices import _sd, resolve_device
from voxstream.audio.files import ReadStats, Resampler, audio_info, iter_blocks, to_mono
from voxstream.backoff import Backoff
from voxstream.config import AudioConfig
from voxstream.errors import AudioError

_LOGGER = logging.getLogger(__name__)
_LOST = object()
"""Queue marker: the PortAudio stream finished on its own (device gone)."""


FAST_BLOCK_S = 1.0
"""Block length, in seconds, when a file is read as fast as possible (larger blocks, fewer loop turns)."""


class Counters(Protocol):
    """What a source counts into: a :class:`SourceCounters`, or the run's :class:`~voxstream.status.RunStats`."""

    dropped_blocks: int
    overflows: int
    reopens: int
    nonfinite: int


class SourceCounters:
    """Counters a source updates; :class:`~voxstream.status.RunStats` is one."""

    dropped_blocks: int = 0
    overflows: int = 0
    reopens: int = 0
    nonfinite: int = 0


class FileSource:
    """Stream a file through the pipeline, like a microphone would (or faster)."""

    @classmethod
    def configured(
        cls,
        path: str | Path,
        sample_rate: int,
        cfg: AudioConfig,
        realtime: bool = True,
        loop: bool = False,
        stats: Counters | None = None,
    ) -> FileSource:
        """Blocks of ``[audio] block_s`` when paced, of :data:`FAST_BLOCK_S` when read as fast as possible."""
        block_s = cfg.block_s if realtime else FAST_BLOCK_S
        return cls(path, sample_rate, max(1, round(block_s * sample_rate)), realtime=realtime, loop=loop, stats=stats)

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        block_samples: int,
        realtime: bool = True,
        loop: bool = False,
        stats: Counters | None = None,
    ) -> None:
        self.path, self.sample_rate, self.block_samples = Path(path), sample_rate, block_samples
        self.realtime, self.loop = realtime, loop
        self.stats: Counters = stats if stats is not None else SourceCounters()
        self.description = f"file {self.path}"

    async def __aenter__(self) -> FileSource:
        audio_info(self.path)  # fail early, with one line, on a bad file
        return self

    async def __aexit__(self, *exc) -> None:
        return None

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        clock = asyncio.get_running_loop().time
        start, heard = clock(), 0
        while True:
            read = ReadStats()
            for block in iter_blocks(self.path, self.sample_rate, self.block_samples, read):
                heard += len(block)
                if self.realtime:
                    delay = start + heard / self.sample_rate - clock()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)  # let publishers run between blocks
                yield block
            self.stats.nonfinite += read.nonfinite
            if not self.loop:
                return


class MicSource:
    """Capture from an input device, resampled to the model rate; survives device errors."""

    def __init__(self, cfg: AudioConfig, sample_rate: int, stats: Counters | None = None) -> None:
        self.cfg, self.sample_rate = cfg, sample_rate
        self.stats: Counters = stats if stats is not None else SourceCounters()
        self._queue: asyncio.Queue | None = None
        self._stream = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.description = "microphone"

    async def __aenter__(self) -> MicSource:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.cfg.queue_blocks)
        dev = resolve_device(self.cfg.device)  # a wrong --device fails now, with the device list
        self.description = f"device {dev.index} {dev.name!r}"
        return self

    async def __aexit__(self, *exc) -> None:
        self._close()

    # -- PortAudio thread ---------------------------------------------------
    def _callback(self, indata, frames, time_info, status) -> None:
        assert self._loop is not None  # set by __aenter__, before any stream opens
        try:
            self._loop.call_soon_threadsafe(self._put, indata.copy(), bool(status.input_overflow))
        except RuntimeError:  # loop closed while the stream was stopping
            pass

    def _finished(self) -> None:
        assert self._loop is not None  # set by __aenter__, before any stream opens
        try:
            self._loop.call_soon_threadsafe(self._put, _LOST, False)
        except RuntimeError:
            pass

    # -- event loop -----------------------------------------------------------
    def _put(self, block, overflow: bool) -> None:
        assert self._queue is not None  # set by _open, before the stream starts
        if overflow:
            self.stats.overflows += 1
        if self._queue.full():
            self._queue.get_nowait()
            self.stats.dropped_blocks += 1
        self._queue.put_nowait(block)

    def _open(self, rescan: bool = False) -> Resampler:
        sd = _sd()
        if rescan:  # a replugged USB microphone only shows up after PortAudio re-scans
            try:
                sd._terminate()
                sd._initialize()
            except Exception as exc:
                _LOGGER.debug("PortAudio re-scan failed: %s", exc)
        dev = resolve_device(self.cfg.device)
        rate = self.cfg.device_rate or int(round(dev.default_rate))
        channels = max(1, min(self.cfg.channels, dev.channels))
        self._queue = asyncio.Queue(maxsize=self.cfg.queue_blocks)
        stream = sd.InputStream(
            device=dev.index,
            samplerate=rate,
            channels=channels,
            dtype="float32",
            blocksize=max(1, int(round(self.cfg.block_s * rate))),
            callback=self._callback,
            finished_callback=self._finished,
        )
        stream.start()
        self._stream = stream
        self.description = f"device {dev.index} {dev.name!r} at {rate} Hz"
        _LOGGER.info(
            "capturing from %s, %d channel(s), resampled to %d Hz", self.description, channels, self.sample_rate
        )
        return Resampler(rate, self.sample_rate)

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort(ignore_errors=True)
                stream.close(ignore_errors=True)
            except Exception as exc:  # a dying device may raise anything
                _LOGGER.debug("closing the input stream: %s", exc)

    def _stall_s(self) -> float:
        return max(2.0, 20 * self.cfg.block_s)

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        backoff, rescan = Backoff(self.cfg.reopen_min_s, self.cfg.reopen_max_s), False
        while True:
            try:
                resample = self._open(rescan)
                async for block in self._blocks(resample):
                    backoff.reset()
                    yield block
            except (AudioError, OSError, TimeoutError) as exc:
                reason: Exception = exc
            except Exception as exc:
                if type(exc).__name__ != "PortAudioError":
                    raise
                reason = exc
            delay = backoff.next()
            _LOGGER.warning("input device: %s; reopening in %.1f s", reason, delay)
            self._close()
            self.stats.reopens += 1
            rescan = True
            await asyncio.sleep(delay)

    async def _blocks(self, resample: Resampler) -> AsyncIterator[np.ndarray]:
        assert self._queue is not None  # set by _open
        while True:
            try:
                raw = await asyncio.wait_for(self._queue.get(), self._stall_s())
            except TimeoutError:
                raise TimeoutError(f"no audio for {self._stall_s():.1f} s from {self.description}") from None
            if raw is _LOST:
                raise AudioError(f"{self.description} stopped")
            out = resample(to_mono(raw))
            if len(out):
                yield out
