"""Scores in, a steady label out: moving average, threshold, hysteresis and dwell.

Pure: :meth:`Smoother.push` takes this window's scores (or ``None`` when the
speech gate said there was no speech) and the stream time in seconds.

* The scores are averaged with an exponential moving average (``alpha``).
* The label changes only when a challenger leads the current label by
  ``margin`` continuously for ``dwell_s`` seconds (hysteresis), so a single
  odd window does not flip it, or at once when it leads by ``fast_margin``
  (a confident change shows at once, a weak one slowly).  The first label
  after silence is taken at once.
* The label becomes "uncertain" only when the best smoothed probability (of
  any label, not only the held one) has stayed below ``threshold`` for
  ``uncertain_s`` seconds of speech, so one weak window, or the hand-over
  from one label to the next, keeps the held label.  Confidence back above
  ``threshold`` ends "uncertain" at once, with the best label.  A stream that
  starts weak is "uncertain" at once (there is no label to hold).
* A pause (windows without speech) is no evidence: the average and the held
  label are kept as they are, so a pause shorter than ``silence_s`` changes
  nothing.  After ``silence_s`` seconds without speech the output is
  "silence" and the state is forgotten, so the next utterance starts fresh.
  (With 2 s windows a window holds no speech only after about 1.6 s of pause;
  restarting the average at shorter pauses was measured to change nothing.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from voxstream.config import SmootherConfig
from voxstream.engine.events import SILENCE, UNCERTAIN


@dataclass(frozen=True)
class Smoothed:
    label: str
    """A model label, "uncertain" or "silence"."""
    confidence: float
    """Smoothed probability of the held model label (0 for "silence")."""
    scores: np.ndarray
    """Smoothed score vector in the model's label order."""


_DEFAULT = SmootherConfig()
"""The defaults of every setting: [smoother] of the config, defined there only."""


class Smoother:
    def __init__(
        self,
        labels: tuple[str, ...] | list[str],
        alpha: float = _DEFAULT.alpha,
        margin: float = _DEFAULT.margin,
        dwell_s: float = _DEFAULT.dwell_s,
        threshold: float = _DEFAULT.threshold,
        silence_s: float = _DEFAULT.silence_s,
        uncertain_s: float = _DEFAULT.uncertain_s,
        fast_margin: float = _DEFAULT.fast_margin,
    ) -> None:
        self.labels = tuple(labels)
        self.alpha, self.margin, self.dwell_s = alpha, margin, dwell_s
        self.threshold, self.silence_s, self.uncertain_s = threshold, silence_s, uncertain_s
        self.fast_margin = fast_margin
        self.reset()

    @classmethod
    def from_config(cls, labels, cfg) -> Smoother:
        return cls(
            labels, cfg.alpha, cfg.margin, cfg.dwell_s, cfg.threshold, cfg.silence_s, cfg.uncertain_s, cfg.fast_margin
        )

    def reset(self) -> None:
        self._ema: np.ndarray | None = None
        self._current: int | None = None
        self._uncertain = False
        self._weak_since: float | None = None
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
        # A pause holds everything; only a challenge or a weak spell in progress restarts after it.
        self._challenger, self._weak_since = None, None
        return self._output()

    def _update_label(self, t: float) -> None:
        assert self._ema is not None  # push() has just set it
        best = int(np.argmax(self._ema))
        weak = self._ema[best] < self.threshold
        if self._current is None:
            self._current, self._challenger, self._uncertain = best, None, weak
            self._weak_since = t if weak else None
            return
        if weak:
            # No label is confident: hold the current one (a weak label never takes over) until
            # the weakness has lasted uncertain_s.
            self._challenger = None
            if self._weak_since is None:
                self._weak_since = t
            if t - self._weak_since >= self.uncertain_s:
                self._uncertain = True
            return
        self._weak_since = None
        if self._uncertain:
            self._current, self._challenger, self._uncertain = best, None, False
            return
        lead = self._ema[best] - self._ema[self._current]
        if best == self._current or lead < self.margin:
            self._challenger = None
            return
        if self._challenger != best:
            self._challenger, self._challenge_since = best, t
        if lead >= self.fast_margin or t - self._challenge_since >= self.dwell_s:
            self._current, self._challenger = best, None

    def _output(self) -> Smoothed:
        assert self._ema is not None and self._current is not None  # set by the first window with speech
        conf = float(self._ema[self._current])
        return Smoothed(UNCERTAIN if self._uncertain else self.labels[self._current], conf, self._ema.copy())
