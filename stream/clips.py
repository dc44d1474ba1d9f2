"""Whole-clip scores, the same way the model was evaluated: through the streaming windows.

A clip is streamed through :class:`~voxstream.stream.pipeline.Engine` as a
session of its own (the card's normaliser starts from its prior), and its
probabilities are the mean of the raw (unsmoothed) probabilities of its speech
windows, or of all its windows when the gate passes none.  This is the
protocol of the model card's evaluations (``train/sessions.py``), so
``voxstream classify`` and ``voxstream eval`` give the numbers the card
reports.  Memory does not grow with the clip's length: blocks are streamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from .config import Config
from .model import Classifier
from .pipeline import Engine


@dataclass
class ClipScore:
    """Running sums of one clip's window probabilities."""

    n_labels: int
    speech_sum: np.ndarray = field(init=False)
    all_sum: np.ndarray = field(init=False)
    speech_windows: int = 0
    windows: int = 0

    def __post_init__(self) -> None:
        self.speech_sum = np.zeros(self.n_labels)
        self.all_sum = np.zeros(self.n_labels)

    def add(self, probs: np.ndarray, speech: bool) -> None:
        self.windows += 1
        self.all_sum += probs
        if speech:
            self.speech_windows += 1
            self.speech_sum += probs

    def probabilities(self) -> np.ndarray:
        if self.speech_windows:
            return self.speech_sum / self.speech_windows
        if self.windows:
            return self.all_sum / self.windows
        raise ValueError("no window: the audio is shorter than one FFT frame")


def score_clip(blocks: Iterable[np.ndarray], classifier: Classifier, cfg: Config | None = None) -> tuple[ClipScore, int]:
    """Stream mono blocks at the model rate; returns the clip's scores and its length in samples."""
    score = ClipScore(len(classifier.labels))
    engine = Engine(classifier.card, classifier.predict, cfg or Config(), on_window=score.add)
    for block in blocks:
        engine.push(block)
    engine.finish()
    return score, engine.samples
