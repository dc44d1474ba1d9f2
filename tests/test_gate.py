"""The speech gate on tones, noise, silence and sparse speech-like bursts."""

import numpy as np
import pytest

from voxstream.stream.gate import FLOOR_DBFS, SpeechGate

SR = 16000


def tone(db: float, seconds: float = 2.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    amp = np.sqrt(2) * 10 ** (db / 20)  # RMS = db dBFS
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_level_of_a_tone_is_its_rms_in_dbfs():
    """A -20 dBFS (RMS) tone measures -20 dBFS and passes the gate."""
    r = SpeechGate(SR)(tone(-20))
    assert r.level_dbfs == pytest.approx(-20, abs=0.05) and r.speech and r.active_fraction == 1.0


def test_digital_silence_and_quiet_noise_do_not_pass():
    """Zeros and -60 dBFS noise are below -45 dBFS: not speech."""
    gate = SpeechGate(SR, min_dbfs=-45)
    assert gate(np.zeros(2 * SR, np.float32)).level_dbfs == FLOOR_DBFS
    assert not gate(np.zeros(2 * SR, np.float32)).speech
    noise = np.random.default_rng(0).normal(0, 10 ** (-60 / 20), 2 * SR).astype(np.float32)
    assert not gate(noise).speech


def test_dc_offset_is_not_speech():
    """A constant offset (a bad ADC) has no AC energy and is not speech."""
    assert not SpeechGate(SR)(np.full(2 * SR, 0.3, np.float32)).speech


def test_active_fraction_threshold():
    """Loud bursts covering 10% of the window fail a 20% requirement and pass a 5% one."""
    x = np.zeros(2 * SR, np.float32)
    x[: int(0.2 * SR)] = tone(-20, 0.2)  # 0.2 s of 2 s
    assert not SpeechGate(SR, active_fraction=0.2)(x).speech
    r = SpeechGate(SR, active_fraction=0.05)(x)
    assert r.speech and r.active_fraction == pytest.approx(0.1, abs=0.02)


def test_empty_window():
    """An empty window is not speech and reports the floor level."""
    r = SpeechGate(SR)(np.zeros(0, np.float32))
    assert not r.speech and r.level_dbfs == FLOOR_DBFS
