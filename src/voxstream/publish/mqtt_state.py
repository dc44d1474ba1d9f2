"""What the MQTT publisher must send next, decided without I/O or clock reads (time is an argument).

:class:`MqttState` takes every event and answers: is a state message due (on a
label change, or ``min_interval_s`` after the last one), which label-change
messages are pending, and what the last state never sent is.  The connection
loop in :mod:`~voxstream.publish.mqtt` only asks it.
"""

from __future__ import annotations

import collections

from voxstream.engine.events import EmotionEvent, LabelChange

MAX_PENDING_FIRES = 8
"""Label-change messages kept while the broker is away (the oldest are dropped)."""


class Throttle:
    """Is the state due? On every label change, else at most every ``min_interval_s`` (pure: time is an argument)."""

    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._label: str | None = None
        self._at: float | None = None

    def due(self, label: str, t: float) -> bool:
        if label != self._label or self._at is None or t - self._at >= self.min_interval_s:
            self._label, self._at = label, t
            return True
        return False


class MqttState:
    """What the connection loop must send next; pure and synchronous (``t`` is a ``time.monotonic()`` reading)."""

    def __init__(self, min_interval_s: float, max_changes: int = MAX_PENDING_FIRES) -> None:
        self._throttle = Throttle(min_interval_s)
        self.latest: EmotionEvent | None = None
        """The newest event: what the retained state should be."""
        self._sent: EmotionEvent | None = None
        self._due = False
        self._label: str | None = None
        self._changes: collections.deque[LabelChange] = collections.deque(maxlen=max_changes)

    def push(self, event: EmotionEvent, t: float) -> bool:
        """Take an event; True when something is due to send (wake the connection loop)."""
        self.latest = event
        if event.label != self._label:
            self._changes.append(LabelChange.of(event, self._label))
            self._label = event.label
        if self._throttle.due(event.label, t):
            self._due = True
        return self._due

    def due_state(self) -> EmotionEvent | None:
        """The state to send now, if one is due (it then counts as sent)."""
        return self.current() if self._due else None

    def current(self) -> EmotionEvent | None:
        """The latest event, due or not (announcing, flushing); it then counts as sent."""
        self._due = False
        if self.latest is not None:
            self._sent = self.latest
        return self.latest

    def unsent(self) -> EmotionEvent | None:
        """The latest event if it never went out (held back by the throttle), for the flush at shutdown."""
        return self.current() if self.latest is not None and self.latest is not self._sent else None

    def take_changes(self) -> list[LabelChange]:
        """Pending label-change messages, oldest first; they leave the state."""
        changes = list(self._changes)
        self._changes.clear()
        return changes

    def reconnected(self) -> None:
        """Changes queued while the broker was away are stale on a new connection: drop them."""
        self._changes.clear()
