"""The sliding window: its length and hop in samples, and a ring of the latest samples.

The features of a window are computed incrementally elsewhere
(:class:`~voxstream.engine.ring.FrameRing`); this ring keeps the raw
samples of the current window for the speech gate, its level meter and
nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowSpec:
    window: int
    """Window length in samples (a multiple of the feature hop)."""
    hop: int
    """Samples between two events (a multiple of the feature hop)."""
    sample_rate: int

    @property
    def window_s(self) -> float:
        return self.window / self.sample_rate

    @property
    def hop_s(self) -> float:
        return self.hop / self.sample_rate

    @classmethod
    def from_seconds(cls, window_s: float, hop_s: float, sample_rate: int, frame_hop: int) -> WindowSpec:
        """Seconds -> samples, rounded to whole feature frames so streaming equals batch features."""

        def snap(seconds: float) -> int:
            return max(frame_hop, int(round(seconds * sample_rate / frame_hop)) * frame_hop)

        window, hop = snap(window_s), snap(hop_s)
        if hop > window:
            raise ValueError(f"window hop {hop_s} s is longer than the window {window_s} s")
        return cls(window, hop, sample_rate)


class SampleRing:
    """The last ``size`` samples pushed, readable in order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._buf = np.zeros(size, dtype=np.float32)
        self._pos = 0
        self._filled = 0

    def push(self, samples: np.ndarray) -> None:
        x = np.asarray(samples, dtype=np.float32)
        if len(x) >= self.size:
            self._buf[:] = x[-self.size :]
            self._pos, self._filled = 0, self.size
            return
        end = self._pos + len(x)
        if end <= self.size:
            self._buf[self._pos : end] = x
        else:
            first = self.size - self._pos
            self._buf[self._pos :] = x[:first]
            self._buf[: end - self.size] = x[first:]
        self._pos = end % self.size
        self._filled = min(self.size, self._filled + len(x))

    def view(self) -> np.ndarray:
        """The samples held, oldest first (a copy)."""
        if self._filled < self.size:
            return self._buf[self._pos - self._filled : self._pos].copy()
        return np.concatenate([self._buf[self._pos :], self._buf[: self._pos]])
