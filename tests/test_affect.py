"""Arousal and valence: a fixed mapping of the seven labels, carried by every event's JSON and scored in training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from voxstream.engine.affect import AROUSAL, VALENCE, affect
from voxstream.engine.events import EmotionEvent
from voxstream.inference.card import LABELS
from voxstream.train.protocols import affect_accuracy


def _event(scores: dict[str, float], label: str = "happy") -> EmotionEvent:
    return EmotionEvent(
        seq=1,
        stream_time_s=2.25,
        label=label,
        confidence=max(scores.values()),
        scores=scores,
        raw_label=label,
        speech=True,
        level_dbfs=-30.0,
        node="n",
        model="m",
    )


@pytest.mark.parametrize("groups", [AROUSAL, VALENCE])
def test_each_label_is_on_exactly_one_side(groups):
    """Each dimension splits the seven product labels into two sides, every label on one."""
    low, high = groups
    assert sorted(low + high) == sorted(LABELS) and not set(low) & set(high)


@pytest.mark.parametrize(
    "label, arousal, valence",
    [
        ("angry", "high", "negative"),
        ("fear", "high", "negative"),
        ("happy", "high", "positive"),
        ("ps", "high", "positive"),
        ("disgust", "low", "negative"),
        ("sad", "low", "negative"),
        ("neutral", "low", "positive"),
    ],
)
def test_a_confident_label_gives_its_side(label, arousal, valence):
    """A score vector led by one label gives that label's arousal and valence (the documented table)."""
    scores = {lab: 0.05 for lab in LABELS} | {label: 0.7}
    got = affect(scores)
    assert (got["arousal"], got["valence"]) == (arousal, valence)


def test_sides_sum_the_scores_of_their_labels():
    """Arousal is the summed score of the high side: angry 0.3 + fear 0.3 outweigh sad 0.4."""
    scores = {lab: 0.0 for lab in LABELS} | {"angry": 0.3, "fear": 0.3, "sad": 0.4}
    got = affect(scores)
    assert got["arousal"] == "high" and got["arousal_score"] == pytest.approx(0.6, abs=1e-4)
    assert got["valence"] == "negative" and got["valence_score"] == 0.0


def test_event_json_carries_arousal_and_valence_and_round_trips():
    """The wire JSON has the four derived keys beside the old ones; reading it back gives the same event."""
    event = _event({lab: 0.02 for lab in LABELS} | {"sad": 0.88}, "sad")
    data = json.loads(event.to_json())
    assert data["arousal"] == "low" and data["valence"] == "negative"
    assert data["arousal_score"] == pytest.approx(0.08, abs=1e-4)  # angry, fear, happy, ps: 4 x 0.02
    assert {"label", "confidence", "scores", "raw_label"} <= set(data)  # additive: old keys unchanged
    assert EmotionEvent.from_json(event.to_json()) == event


def test_silence_has_no_arousal_or_valence():
    """All-zero scores (the smoother's "silence") give None, not a side."""
    data = _event({lab: 0.0 for lab in LABELS}, "silence").to_dict()
    assert data["arousal"] is None and data["valence"] is None and data["arousal_score"] is None


def test_training_scores_arousal_and_valence_with_the_same_mapping():
    """affect_accuracy counts a clip right when its summed scores fall on the side of its true label."""
    y = np.array([LABELS.index("angry"), LABELS.index("sad"), LABELS.index("neutral")])
    probs = np.zeros((3, len(LABELS)), np.float32)
    probs[0, LABELS.index("happy")] = 1.0  # angry read as happy: arousal right, valence wrong
    probs[1, LABELS.index("sad")] = 1.0  # right on both
    probs[2, LABELS.index("sad")] = 1.0  # neutral read as sad: arousal right, valence wrong
    assert affect_accuracy(y, probs) == {"arousal_accuracy": 1.0, "valence_accuracy": round(1 / 3, 4)}
