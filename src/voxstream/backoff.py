"""Retry delays: one rule for every reconnect loop (MQTT broker, microphone reopen).

Pure: the random source is an argument, so the sequence is testable without a clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(attempt: int, min_s: float, max_s: float, rand: Callable[[], float] | None = None) -> float:
    """Delay before retry ``attempt`` (0, 1, ...): doubling from ``min_s``, capped at ``max_s``.

    With ``rand`` (a function returning [0, 1)), the delay is jittered to 50-100 % of that value,
    so many clients that lost the same server do not retry in step.
    """
    base = min(max_s, min_s * (2 ** min(attempt, 30)))
    return base if rand is None else base * (0.5 + 0.5 * rand())


class Backoff:
    """Successive retry delays; :meth:`reset` after a success starts again from ``min_s``."""

    def __init__(
        self, min_s: float, max_s: float, jitter: bool = False, rand: Callable[[], float] = random.random
    ) -> None:
        self.min_s, self.max_s = min_s, max_s
        self._rand = rand if jitter else None
        self.attempt = 0

    def next(self) -> float:
        """The delay before the next retry (and count it)."""
        delay = backoff_delay(self.attempt, self.min_s, self.max_s, self._rand)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
