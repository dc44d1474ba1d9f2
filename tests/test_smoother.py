"""The smoother: moving average, hysteresis, dwell, threshold, uncertain and silence, on synthetic scores."""

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


def test_long_silence_gives_silence_then_fresh_start():
    """Without speech the label is held until silence_s, then "silence" with zero scores; speech restarts at once."""
    sm = Smoother(LABELS, alpha=0.35, threshold=0.4, silence_s=1.5)
    out = feed(sm, ["happy"] * 4 + [None] * 8)
    quiet = out[4:]
    held = [o for o in quiet if o.label != "silence"]
    assert [o.label for o in held] == ["happy"] * 5  # 0.25 .. 1.25 s after the last speech window
    assert all(o.confidence == pytest.approx(out[3].confidence) for o in held)  # a pause is no evidence
    assert [o.label for o in quiet[5:]] == ["silence"] * 3 and quiet[-1].confidence == 0.0
    assert not quiet[-1].scores.any()
    assert feed(sm, ["sad"], t0=10.0)[0].label == "sad"


def test_pause_shorter_than_silence_s_keeps_the_label():
    """Sentences of one emotion with pauses shorter than silence_s between them: one label, no change at all."""
    sm = Smoother(LABELS, silence_s=1.5)
    sentence, pause = ["sad"] * 10, [None] * 5  # 1.25 s without speech (< 1.5 s)
    out = feed(sm, (sentence + pause) * 6 + sentence)
    assert {o.label for o in out} == {"sad"}
    assert min(o.confidence for o in out) == pytest.approx(0.9)


def test_one_weak_window_keeps_the_held_label():
    """A single window that makes every label weak (below threshold) does not turn the label "uncertain"."""
    sm = Smoother(LABELS, alpha=0.35, threshold=0.4, uncertain_s=1.0)
    flat = np.full(len(LABELS), 1 / len(LABELS))
    t = [i * HOP for i in range(12)]
    out = [sm.push(onehot("neutral", 0.5), ti) for ti in t[:4]]
    out += [sm.push(flat, t[4])]  # smoothed neutral falls to 0.375: below the threshold
    assert out[-1].confidence < 0.4
    out += [sm.push(onehot("neutral", 0.5), ti) for ti in t[5:]]
    assert [o.label for o in out] == ["neutral"] * 12


def test_weak_spell_shorter_than_uncertain_s_keeps_the_label_longer_one_is_uncertain():
    """Flat scores give "uncertain" only once every label has been below threshold for uncertain_s; confident
    scores end it at once."""
    flat = np.full(len(LABELS), 1 / len(LABELS))
    sm = Smoother(LABELS, alpha=0.35, threshold=0.4, uncertain_s=1.0)
    out = [sm.push(onehot("happy"), i * HOP) for i in range(4)]
    out += [sm.push(flat, 1.0 + i * HOP) for i in range(12)]
    weak_from = next(i for i, o in enumerate(out) if max(o.scores) < 0.4)
    first_uncertain = next(i for i, o in enumerate(out) if o.label == "uncertain")
    assert (first_uncertain - weak_from) * HOP == pytest.approx(1.0)
    assert {o.label for o in out[:first_uncertain]} == {"happy"}
    assert {o.label for o in out[first_uncertain:]} == {"uncertain"}
    back = sm.push(onehot("sad"), 4.0)  # smoothed sad: 0.35 * 0.9 + 0.65 * ~1/7 > 0.4
    assert back.label == "sad" and back.confidence >= 0.4


def test_hand_over_between_labels_does_not_pass_through_uncertain():
    """When the held label's probability falls while another rises, the label goes straight from one to the other."""
    sm = Smoother(LABELS, alpha=0.35, margin=0.1, dwell_s=0.5, threshold=0.4)
    out = feed(sm, ["angry"] * 8 + ["fear"] * 12)
    assert any(o.confidence < 0.4 and o.label == "angry" for o in out)  # angry weak but held...
    labels = [o.label for o in out]
    assert "uncertain" not in labels and labels[-1] == "fear"
    assert sum(a != b for a, b in zip(labels, labels[1:])) == 1


def test_real_change_across_a_pause_within_dwell():
    """A neutral sentence, a short pause, then an angry sentence: the label turns angry within dwell_s plus
    the averaging lag of the angry speech (the pause does not count), and never reads "uncertain" or "silence"."""
    sm = Smoother(LABELS, alpha=0.35, margin=0.1, dwell_s=0.5, silence_s=1.5)
    out = feed(sm, ["neutral"] * 12 + [None] * 4 + ["angry"] * 16)
    angry_from = 16 * HOP
    first = next(i for i, o in enumerate(out) if o.label == "angry") * HOP
    assert angry_from + 0.5 <= first <= angry_from + 0.5 + 1.0
    labels = [o.label for o in out]
    assert set(labels) == {"neutral", "angry"} and labels[-1] == "angry"


def test_silence_from_the_start():
    """A stream that starts without speech reports "silence" with zero scores."""
    out = Smoother(LABELS).push(None, 2.0)
    assert out.label == "silence" and not out.scores.any()


def test_a_confident_challenger_takes_over_at_once_a_weak_one_after_the_dwell():
    """fast_margin: a lead that large changes the label on the window it appears; a smaller lead waits dwell_s."""
    fast = feed(Smoother(LABELS, alpha=1.0, margin=0.1, dwell_s=1.0, fast_margin=0.5), ["sad"] * 4 + ["happy"] * 2)
    assert [o.label for o in fast][4] == "happy"  # lead 0.9 - 0.017 >= 0.5 on the first happy window
    sm = Smoother(LABELS, alpha=1.0, margin=0.1, dwell_s=1.0, fast_margin=0.5)
    weak = [
        sm.push(x, i * HOP)
        for i, x in enumerate([onehot("sad")] * 4 + [np.array([0.0, 0.0, 0.0, 0.55, 0.0, 0.0, 0.45])] * 6)
    ]
    labels = [o.label for o in weak]
    assert labels[4:8] == ["sad"] * 4 and labels[8] == "happy"  # lead 0.1: after 1.0 s of dwell
