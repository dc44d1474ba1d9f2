"""The smoother: moving average, hysteresis, dwell, threshold and silence, on synthetic scores."""

import numpy as np
import pytest

from voxstream.engine.smoother import Smoother

LABELS = ("angry", "disgust", "fear", "happy", "neutral", "ps", "sad")
HOP = 0.25


def onehot(label: str, p: float = 0.9) -> np.ndarray:
    x = np.full(len(LABELS), (1 - p) / (len(LABELS) - 1))
    x[LABELS.index(label)] = p
    return x


def feed(sm: Smoother, seq, t0: float = 0.0) -> list:
    return [sm.push(None if s is None else onehot(s), t0 + i * HOP) for i, s in enumerate(seq)]


def test_first_label_is_taken_at_once():
    """The first speech window sets the label immediately (no dwell before the first label)."""
    out = feed(Smoother(LABELS), ["happy"])
    assert out[0].label == "happy" and out[0].confidence == pytest.approx(0.9)


def test_single_window_flicker_is_suppressed():
    """Isolated odd windows (one in four) never change the label."""
    seq = ["neutral"] * 8 + (["neutral", "neutral", "angry", "neutral"] * 10)
    labels = {o.label for o in feed(Smoother(LABELS), seq)}
    assert labels == {"neutral"}


def test_alternating_flicker_is_suppressed():
    """Scores alternating every window between two labels never flip to the challenger."""
    seq = ["sad"] * 4 + ["angry", "sad"] * 20
    labels = [o.label for o in feed(Smoother(LABELS), seq)]
    assert "angry" not in labels and labels[-1] == "sad"


def test_real_change_passes_within_dwell_plus_averaging():
    """A sustained change is adopted, no sooner than dwell_s and within dwell_s + 1 s of averaging lag."""
    sm = Smoother(LABELS, alpha=0.35, margin=0.1, dwell_s=0.5)
    out = feed(sm, ["neutral"] * 12 + ["angry"] * 16)
    change_at = 12 * HOP
    first = next(i for i, o in enumerate(out) if o.label == "angry") * HOP
    assert change_at + 0.5 <= first <= change_at + 0.5 + 1.0
    assert out[-1].label == "angry"


def test_without_dwell_the_change_is_immediate_once_margin_is_met():
    """dwell_s = 0 switches as soon as the challenger leads by the margin."""
    sm = Smoother(LABELS, alpha=1.0, margin=0.1, dwell_s=0.0)
    out = feed(sm, ["neutral", "angry"])
    assert [o.label for o in out] == ["neutral", "angry"]


def test_low_confidence_is_uncertain():
    """Flat scores (max 1/7) are below the threshold and give "uncertain"."""
    out = Smoother(LABELS, threshold=0.4).push(np.full(len(LABELS), 1 / 7), 0.0)
    assert out.label == "uncertain" and out.confidence == pytest.approx(1 / 7)


def test_no_speech_decays_then_silence_then_fresh_start():
    """Without speech the scores decay (uncertain), then "silence" after silence_s; speech restarts at once."""
    sm = Smoother(LABELS, alpha=0.35, threshold=0.4, silence_s=1.5)
    out = feed(sm, ["happy"] * 4 + [None] * 8)
    quiet = out[4:]
    assert quiet[0].confidence < out[3].confidence
    assert quiet[2].label == "uncertain"
    assert [o.label for o in quiet[-3:]] == ["silence"] * 3 and quiet[-1].confidence == 0.0
    assert feed(sm, ["sad"], t0=10.0)[0].label == "sad"


def test_silence_from_the_start():
    """A stream that starts without speech reports "silence" with zero scores."""
    out = Smoother(LABELS).push(None, 2.0)
    assert out.label == "silence" and not out.scores.any()
