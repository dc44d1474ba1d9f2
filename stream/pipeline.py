"""The synchronous middle of the pipeline: samples in, one EmotionEvent per hop out.

``window -> features -> gate -> normaliser -> model -> smoother``.  No I/O and
no clock reads: stream time is the number of samples pushed.  Blocks of any
size give the same events (blocks are split at hop boundaries).

Timing decision: the first event comes when the first full window has been
heard (``window_s`` of audio, 2 s by default), then one every ``hop_s``.  A
stream that ends before one full window gets a single event over what it had
(:meth:`Engine.finish`), like :func:`~voxstream.stream.features.windows`
gives a short clip one window.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from .card import ModelCard
from .config import Config
from .errors import ModelError
from .events import EmotionEvent
from .features import IncrementalMfcc
from .gate import SpeechGate
from .smoother import Smoother
from .window import SampleRing, WindowSpec

_LOGGER = logging.getLogger(__name__)


def make_normalizer(card: ModelCard):
    """The card's per-session normaliser (:class:`~voxstream.stream.normalize.Normalizer`)."""
    from .normalize import Normalizer

    try:
        return Normalizer.from_dict(card.normalization)
    except ValueError as exc:
        raise ModelError(f"model {card.name}: {exc}") from None


def window_spec(card: ModelCard, cfg: Config) -> WindowSpec:
    """Window and hop from the config, 0 meaning the card's values."""
    p = card.features
    try:
        return WindowSpec.from_seconds(cfg.window.window_s or card.window_s, cfg.window.hop_s or card.hop_s,
                                       p.sample_rate, p.hop_length)
    except ValueError as exc:
        raise ModelError(f"window: {exc}") from None


class Engine:
    """Per-hop processing; ``predict`` maps a feature vector to label probabilities."""

    def __init__(self, card: ModelCard, predict: Callable[[np.ndarray], np.ndarray], cfg: Config,
                 on_window: Callable[[np.ndarray, bool], None] | None = None) -> None:
        """``on_window(probs, speech)``, if given, also scores the windows the gate rejects (their
        scores never reach the smoother or the normaliser's baseline): offline clip scoring uses it."""
        self.card, self.predict, self.on_window = card, predict, on_window
        self.spec = window_spec(card, cfg)
        self.mfcc = IncrementalMfcc(card.features, self.spec.window)
        self.ring = SampleRing(self.spec.window)
        self.gate = SpeechGate(card.features.sample_rate, cfg.gate.min_dbfs, cfg.gate.active_fraction)
        self.normalizer = make_normalizer(card)
        self.smoother = Smoother.from_config(card.labels, cfg.smoother)
        self.node = cfg.node.name
        self.samples = 0
        self.seq = 0
        self._next = self.spec.window

    @property
    def stream_time_s(self) -> float:
        return self.samples / self.spec.sample_rate

    def push(self, block: np.ndarray) -> list[EmotionEvent]:
        """Add mono samples at the model rate; returns the events of the hops completed."""
        events: list[EmotionEvent] = []
        i, n = 0, len(block)
        while i < n:
            take = min(n - i, self._next - self.samples)
            part = block[i: i + take]
            self.mfcc.push(part)
            self.ring.push(part)
            self.samples += take
            i += take
            if self.samples == self._next:
                events.append(self._hop())
                self._next += self.spec.hop
        return events

    def finish(self) -> list[EmotionEvent]:
        """At the end of a stream shorter than one window: one event over what was heard."""
        if self.seq == 0 and self.mfcc.frames_in_window > 0:
            return [self._hop()]
        return []

    def _hop(self) -> EmotionEvent:
        t = self.stream_time_s
        gate = self.gate(self.ring.view())
        features = self.mfcc.features()
        self.normalizer.update(features, gate.speech)
        probs = self.predict(self.normalizer.apply(features)) if gate.speech or self.on_window else None
        if self.on_window is not None:
            self.on_window(probs, gate.speech)
            probs = probs if gate.speech else None
        out = self.smoother.push(probs, t)
        labels = self.card.labels
        event = EmotionEvent(
            seq=self.seq, stream_time_s=t, label=out.label, confidence=out.confidence,
            scores={k: float(v) for k, v in zip(labels, out.scores)},
            raw_label=None if probs is None else labels[int(np.argmax(probs))],
            speech=gate.speech, level_dbfs=gate.level_dbfs, node=self.node, model=self.card.name)
        self.seq += 1
        return event
