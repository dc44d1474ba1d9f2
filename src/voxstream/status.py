"""The run's live counters and the typed snapshot publishers report (``/healthz``).

:class:`RunStats` is written by the app and the source as the run goes;
publishers read it only through :meth:`RunStats.snapshot`, a frozen
:class:`RunStatus` that carries no emotion data (no labels, no scores).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from voxstream.engine.events import EmotionEvent


@dataclass(frozen=True)
class RunStatus:
    """How the run is doing at one moment; the ``/healthz`` body is this plus the publisher's own counters."""

    node: str
    model: str
    uptime_s: float
    """Seconds since the run started."""
    events: int
    """Events made so far."""
    audio_s: float
    """Seconds of audio processed."""
    dropped_blocks: int
    """Captured blocks dropped because the queue was full."""
    overflows: int
    """Blocks PortAudio flagged as input overflow."""
    reopens: int
    """Times the input device was reopened after a failure."""
    nonfinite: int
    """NaN/Inf samples replaced by 0."""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunStats:
    """Live counters of one run, shared with the source (which counts drops) and the publishers."""

    model: str = ""
    node: str = ""
    source: str = ""
    started_at: float = field(default_factory=time.monotonic)
    """``time.monotonic()`` when the run started (uptime = now - started_at)."""
    events: int = 0
    speech_events: int = 0
    audio_s: float = 0.0
    """Seconds of audio processed."""
    dropped_blocks: int = 0
    """Captured blocks dropped because the queue was full."""
    overflows: int = 0
    """Blocks PortAudio flagged as input overflow."""
    reopens: int = 0
    nonfinite: int = 0
    """NaN/Inf samples replaced by 0."""
    last_event: EmotionEvent | None = None

    def snapshot(self, now: float | None = None) -> RunStatus:
        """The counters as a frozen :class:`RunStatus`; ``now`` is a ``time.monotonic()`` reading."""
        now = time.monotonic() if now is None else now
        return RunStatus(
            node=self.node,
            model=self.model,
            uptime_s=round(now - self.started_at, 1),
            events=self.events,
            audio_s=round(self.audio_s, 3),
            dropped_blocks=self.dropped_blocks,
            overflows=self.overflows,
            reopens=self.reopens,
            nonfinite=self.nonfinite,
        )
