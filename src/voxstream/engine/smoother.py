"""Scores in, a steady label out: moving average, threshold, hysteresis and dwell.

Pure: :meth:`Smoother.push` takes this window's scores (or ``None`` when the
speech gate said there was no speech) and the stream time in seconds.

* The scores are averaged with an exponential moving average (``alpha``).
* The label changes only when a challenger leads the current label by
  ``margin`` continuously for ``dwell_s`` seconds (hysteresis), so a single
  odd window does not flip it.  The first label after silence is taken at once.
* When the current label's smoothed probability is below ``threshold`` the
  output is "uncertain".
* Without speech the average decays toward zero (no label is guessed); after
  ``silence_s`` seconds without speech the output is "silence" and the state is
  forgotten, so the next utterance starts fresh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxstream.engine.events import SILENCE, UNCERTAIN


@dataclass(frozen=True)
class Smoothed:
    label: str
    """A model label, "uncertain" or "silence"."""
    confidence: float
    scores: np.ndarray
    """Smoothed score vector in the model's label order."""


class Smoother:
    def __init__(self, labels: tuple[str, ...] | list[str], alpha: float = 0.35, margin: float = 0.1,
                 dwell_s: float = 0.5, threshold: float = 0.4, silence_s: float = 1.5) -> None:
        self.labels = tuple(labels)
        self.alpha, self.margin, self.dwell_s = alpha, margin, dwell_s
        self.threshold, self.silence_s = threshold, silence_s
        self.reset()

    @classmethod
    def from_config(cls, labels, cfg) -> "Smoother":
        return cls(labels, cfg.alpha, cfg.margin, cfg.dwell_s, cfg.threshold, cfg.silence_s)

    def reset(self) -> None:
        self._ema: np.ndarray | None = None
        self._current: int | None = None
        self._challenger: int | None = None
        self._challenge_since = 0.0
        self._last_speech: float | None = None

    def push(self, scores: np.ndarray | None, t: float) -> Smoothed:
        """Feed one window (``None`` = no speech) ending at stream time ``t`` seconds."""
        if scores is None:
            return self._no_speech(t)
        x = np.asarray(scores, dtype=np.float64)
        self._last_speech = t
        self._ema = x.copy() if self._ema is None else self.alpha * x + (1.0 - self.alpha) * self._ema
        self._update_label(t)
        return self._output()

    def _no_speech(self, t: float) -> Smoothed:
        if self._last_speech is None or t - self._last_speech >= self.silence_s:
            self.reset()
            return Smoothed(SILENCE, 0.0, np.zeros(len(self.labels)))
        self._ema = (1.0 - self.alpha) * self._ema
        self._challenger = None
        return self._output()

    def _update_label(self, t: float) -> None:
        best = int(np.argmax(self._ema))
        if self._current is None:
            self._current, self._challenger = best, None
            return
        lead = self._ema[best] - self._ema[self._current]
        if best == self._current or lead < self.margin:
            self._challenger = None
            return
        if self._challenger != best:
            self._challenger, self._challenge_since = best, t
        if t - self._challenge_since >= self.dwell_s:
            self._current, self._challenger = best, None

    def _output(self) -> Smoothed:
        conf = float(self._ema[self._current])
        label = self.labels[self._current] if conf >= self.threshold else UNCERTAIN
        return Smoothed(label, conf, self._ema.copy())
