"""The engine as a user meets it: digital silence is silence, and the label follows a change in time."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine_support import espeak_wav, need_model
from voxstream.audio.files import load_audio
from voxstream.config import Config
from voxstream.engine.gate import DIGITAL_SILENCE_FRACTION
from voxstream.inference.card import LABELS
from voxstream.inference.litert import Classifier
from voxstream.stages import build_engine

RATE = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> np.ndarray:
    d = tmp_path_factory.mktemp("speech")
    texts = [
        "The children were playing in the garden until it was dark.",
        "Please bring me the blue book from the table in the hall.",
        "We walked along the river and talked about the summer.",
    ]
    x = np.concatenate([load_audio(espeak_wav(d / f"{i}.wav", t), RATE) for i, t in enumerate(texts)])
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def test_windows_of_mostly_exact_zeros_are_silence_and_never_move_the_baseline(speech):
    clf = Classifier.load(need_model())
    engine = build_engine(clf.card, clf.predict, Config().replace("model", baseline="off"))
    events = engine.push(speech[: 4 * RATE])
    assert sum(e.speech for e in events) >= 4  # espeak speech passes the gate
    heard = engine.stages.normalizer.speech_windows
    baseline = engine.stages.normalizer.state()
    window, hop = engine.spec.window, engine.spec.hop
    zeros = np.zeros(4 * RATE, np.float32)
    events = engine.push(zeros)
    # a window is speech only while less than 2/3 of it is zeros: at most 2/3 window / hop events after the speech
    mostly_zeros = [e for k, e in enumerate(events) if (k + 1) * hop >= DIGITAL_SILENCE_FRACTION * window]
    assert mostly_zeros and not any(e.speech for e in mostly_zeros)
    still = engine.stages.normalizer.speech_windows
    after_zeros = engine.stages.normalizer.state()
    assert still - heard <= math.ceil(DIGITAL_SILENCE_FRACTION * window / hop)
    assert all(e.raw_label is None for e in mostly_zeros)  # never classified
    assert events[-1].label == "silence"
    # a short burst of speech inside zeros (less than a third of every window) is not speech either
    burst = np.zeros(4 * RATE, np.float32)
    burst[RATE : RATE + int(0.5 * RATE)] = speech[RATE : RATE + int(0.5 * RATE)]
    events = engine.push(burst)
    assert not any(e.speech for e in events)
    assert engine.stages.normalizer.speech_windows == still
    assert engine.stages.normalizer.state() == after_zeros  # the burst in zeros left the baseline as it was
    if still == heard:  # no window after the speech counted as speech: the baseline is the one speech left
        assert after_zeros == baseline


def _stub(switch_at: int, before: str, after: str):
    """A model whose scores say ``before`` for its first ``switch_at`` calls and ``after`` from then on."""
    calls = {"n": 0}

    def predict(features: np.ndarray) -> np.ndarray:
        label = before if calls["n"] < switch_at else after
        calls["n"] += 1
        x = np.full(len(LABELS), 0.05 / (len(LABELS) - 1), np.float32)
        x[LABELS.index(label)] = 0.95
        return x

    return predict, calls


def _lead(alpha: float, k: int) -> float:
    """The new label's lead in the moving average ``k`` windows after the switch (stub scores 0.95 vs 0.05/6)."""
    hi, lo = 0.95, 0.05 / (len(LABELS) - 1)
    return (hi - lo) * (1 - 2 * (1 - alpha) ** k)


def _events_to_follow(alpha: float, margin: float, fast_margin: float, dwell_events: int) -> int:
    """Windows after the switch until the smoother must show the new label: its lead reaches ``margin`` and
    holds for ``dwell_events`` more windows, or reaches ``fast_margin`` (at once), whichever comes first."""
    k_margin = next(k for k in range(1, 200) if _lead(alpha, k) >= margin)
    k_fast = next((k for k in range(1, 200) if _lead(alpha, k) >= fast_margin), 10**6)
    return min(k_margin + dwell_events, k_fast)


@pytest.mark.parametrize("smoother", [{}, {"alpha": 0.6, "dwell_s": 0.5, "fast_margin": 0.6}])
def test_the_shown_label_follows_a_switch_within_the_configured_bound(speech, smoother):
    """A stub model switches from angry to happy at a known window; counted in events, the shown label must
    follow within what the configured smoother allows, and never before the switch."""
    clf = Classifier.load(need_model())
    cfg = Config().replace("model", baseline="off")
    if smoother:
        cfg = cfg.replace("smoother", **smoother)
    switch_at = 12
    predict, calls = _stub(switch_at, "angry", "happy")
    engine = build_engine(clf.card, predict, cfg)
    events = [e for e in engine.push(np.tile(speech, 2)) if e.speech]
    assert calls["n"] == len(events) > switch_at + 20
    labels = [e.label for e in events]
    assert set(labels[:switch_at]) == {"angry"}
    sm = cfg.smoother
    dwell_events = math.ceil(sm.dwell_s / engine.spec.hop_s - 1e-9)
    bound = _events_to_follow(sm.alpha, sm.margin, sm.fast_margin, dwell_events)
    followed = labels.index("happy", switch_at) - switch_at + 1  # events from the switch until happy shows
    assert followed <= bound
    assert set(labels[switch_at + followed - 1 :]) == {"happy"}
