"""The synchronous middle of the pipeline: samples in, one EmotionEvent per hop out.

``window -> features -> gate -> normaliser -> model -> smoother``.  No I/O and
no clock reads: stream time is the number of samples pushed.  Blocks of any
size give the same events (blocks are split at hop boundaries).

Timing decision: the first event comes when the first full window has been
heard (``window_s`` of audio, 2 s by default), then one every ``hop_s``.  A
stream that ends before one full window gets a single event over what it had
(:meth:`Engine.finish`), like :func:`~voxstream.engine.params.windows`
gives a short clip one window.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from voxstream.engine.events import EmotionEvent
from voxstream.engine.gate import GateRing, SpeechGate
from voxstream.engine.normalize import Normalizer
from voxstream.engine.ring import FrameRing
from voxstream.engine.smoother import Smoother
from voxstream.engine.window import SampleRing, WindowSpec


@dataclass
class Stages:
    """Everything one engine runs, built by :func:`voxstream.stages.make_stages`."""

    spec: WindowSpec
    mfcc: FrameRing
    gate: SpeechGate
    normalizer: Normalizer
    predict: Callable[[np.ndarray], np.ndarray]
    """Features -> label probabilities (``Classifier.predict``)."""
    smoother: Smoother
    labels: tuple[str, ...]
    node: str
    model: str


class Engine:
    """Per-hop processing of one stream through its :class:`Stages`."""

    def __init__(self, stages: Stages) -> None:
        self.stages = stages
        self.spec = stages.spec
        self.ring = SampleRing(self.spec.window)
        self.gate_ring = GateRing(stages.gate, self.spec.window)
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
            part = block[i : i + take]
            self.stages.mfcc.push(part)
            self.ring.push(part)
            self.gate_ring.push(part)
            self.samples += take
            i += take
            if self.samples == self._next:
                events.append(self._hop())
                self._next += self.spec.hop
        return events

    def finish(self) -> list[EmotionEvent]:
        """At the end of a stream shorter than one window: one event over what was heard."""
        if self.seq == 0 and self.stages.mfcc.frames_in_window > 0:
            return [self._hop()]
        return []

    def _hop(self) -> EmotionEvent:
        st, t = self.stages, self.stream_time_s
        gate = self.gate_ring.verdict() or st.gate(self.ring.view())  # each sub-frame analysed once
        features = st.mfcc.features()
        st.normalizer.update(features, gate.speech)
        probs = st.predict(st.normalizer.apply(features)) if gate.speech else None
        out = st.smoother.push(probs, t)
        event = EmotionEvent(
            seq=self.seq,
            stream_time_s=t,
            label=out.label,
            confidence=out.confidence,
            scores={k: float(v) for k, v in zip(st.labels, out.scores)},
            raw_label=None if probs is None else st.labels[int(np.argmax(probs))],
            speech=gate.speech,
            level_dbfs=gate.level_dbfs,
            node=st.node,
            model=st.model,
        )
        self.seq += 1
        return event
