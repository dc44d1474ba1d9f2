"""The one output event: what every publisher (console, WebSocket, MQTT) sends.

Publishers only serialise it; no other dict goes on the wire.  It carries
labels and scores, never audio samples.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

UNCERTAIN = "uncertain"
"""Label when the smoothed confidence is below the threshold."""
SILENCE = "silence"
"""Label when no speech has been heard for long enough to forget the last label."""


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class EmotionEvent:
    """One event per hop of the streaming window."""

    seq: int
    """Hop counter from 0 for this run."""
    stream_time_s: float
    """End of the window, in seconds of audio since the stream started."""
    label: str
    """Smoothed label: one of the model's labels, "uncertain" or "silence"."""
    confidence: float
    """Smoothed probability of ``label`` (0 for "silence")."""
    scores: dict[str, float]
    """Smoothed probability of every label, in the model's label order."""
    raw_label: str | None
    """Arg-max of this window's unsmoothed scores; None when the window had no speech."""
    speech: bool
    """Whether the window passed the speech gate (and was classified)."""
    level_dbfs: float
    """RMS level of the window in dB relative to full scale (-120 for digital silence)."""
    node: str
    model: str
    timestamp: str = field(default_factory=utc_now_iso)
    """Wall clock when the event was made, ISO 8601 UTC."""
    type: str = "emotion"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["scores"] = {k: round(float(v), 4) for k, v in self.scores.items()}
        data["confidence"] = round(float(self.confidence), 4)
        data["stream_time_s"] = round(float(self.stream_time_s), 3)
        level = float(self.level_dbfs)
        data["level_dbfs"] = round(level, 1) if math.isfinite(level) else -120.0
        return data

    def to_json(self) -> str:
        """The wire format; serialised once per event however many publishers send it."""
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> "EmotionEvent":
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "EmotionEvent":
        return cls.from_dict(json.loads(text))
