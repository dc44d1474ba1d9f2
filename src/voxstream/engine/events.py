"""What goes on the wire: the one output event and the two messages around it.

* :class:`EmotionEvent`: one per hop; every publisher (console, WebSocket, MQTT) sends it.  Its JSON
  also carries ``arousal`` and ``valence``, derived from the scores (:mod:`.affect`).
* :class:`Hello`: the first WebSocket message, what the page needs to draw itself.
* :class:`LabelChange`: the MQTT event-topic payload when the smoothed label changes.

Publishers only serialise these; no other dict goes on the wire.  They carry
labels and scores, never audio samples.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from voxstream.engine.affect import affect

UNCERTAIN = "uncertain"
"""Label when the smoothed confidence is below the threshold."""
SILENCE = "silence"
"""Label when no speech has been heard for long enough to forget the last label."""


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
    timestamp: str = ""
    """Wall clock when the event was published, ISO 8601 UTC: stamped by the app
    (:func:`voxstream.app.run_stream`), never by the pure engine."""
    type: str = "emotion"

    @property
    def affect(self) -> dict[str, str | float | None]:
        """``arousal`` ("low"/"high"), ``valence`` ("negative"/"positive") and their scores (share of high
        arousal, of positive valence), from :attr:`scores` by the fixed mapping of :mod:`.affect`; all None
        while the scores are all 0 ("silence")."""
        return affect(self.scores)

    def to_dict(self) -> dict:
        """The wire dict: the fields plus the derived :attr:`affect` keys (``from_dict`` drops them again)."""
        data = asdict(self)
        data["scores"] = {k: round(float(v), 4) for k, v in self.scores.items()}
        data["confidence"] = round(float(self.confidence), 4)
        data["stream_time_s"] = round(float(self.stream_time_s), 3)
        level = float(self.level_dbfs)
        data["level_dbfs"] = round(level, 1) if math.isfinite(level) else -120.0
        data.update(self.affect)
        return data

    def to_json(self) -> str:
        """The wire format; serialised once per event however many publishers send it."""
        return self._json

    @functools.cached_property
    def _json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict) -> EmotionEvent:
        return cls(**{k: v for k, v in data.items() if k not in DERIVED})

    @classmethod
    def from_json(cls, text: str) -> EmotionEvent:
        return cls.from_dict(json.loads(text))


DERIVED = ("arousal", "arousal_score", "valence", "valence_score")
"""Keys of the wire dict computed from the scores, not fields of :class:`EmotionEvent`."""

_M = TypeVar("_M", bound="_Message")


class _Message:
    """JSON round trip for the small wire messages (plain dataclass fields)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls: type[_M], data: dict) -> _M:
        return cls(**data)

    @classmethod
    def from_json(cls: type[_M], text: str) -> _M:
        return cls.from_dict(json.loads(text))


@dataclass(frozen=True)
class Hello(_Message):
    """The first message on every WebSocket connection: the model and timing the events will follow."""

    node: str
    model: str
    arch: str
    labels: list[str]
    """The model's labels, in score order."""
    extra_labels: list[str]
    """Labels the smoother adds: "uncertain" and "silence"."""
    window_s: float
    hop_s: float
    sample_rate: int
    type: str = "hello"


@dataclass(frozen=True)
class LabelChange(_Message):
    """Sent once when the smoothed label changes (Home Assistant's ``event`` entity fires on it)."""

    event_type: str
    """The new label."""
    previous: str | None
    """The label before, None for the first event of a run."""
    confidence: float
    seq: int
    node: str
    timestamp: str

    @classmethod
    def of(cls, event: EmotionEvent, previous: str | None) -> LabelChange:
        return cls(
            event_type=event.label,
            previous=previous,
            confidence=round(float(event.confidence), 4),
            seq=event.seq,
            node=event.node,
            timestamp=event.timestamp,
        )
