"""The engine's GateRing (each sub-frame analysed once) gives exactly the gate's verdict on each window."""

import numpy as np
import pytest

from voxstream.config import GateConfig
from voxstream.engine.gate import GateRing, SpeechGate

SR = 16000


def bursts(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0) * 0.2 + 0.002 * rng.normal(size=len(t))
    x[3 * SR : 4 * SR] = 0.0  # digital silence
    return x.astype(np.float32)


@pytest.mark.parametrize("block", [1200, 4000, 40000])
def test_gate_ring_equals_the_gate_on_each_window(block):
    gate = SpeechGate.from_config(GateConfig(), SR)
    window = 2 * SR
    ring, x = GateRing(gate, window), bursts(8.0, seed=block)
    checked = 0
    for start in range(0, len(x), block):  # verdicts wherever a block ends on a hop after a whole window
        ring.push(x[start : start + block])
        end = min(start + block, len(x))
        got = ring.verdict()
        if end >= window and end % gate.subframe == 0:
            assert got == gate(x[end - window : end])
            checked += 1
        elif end % gate.subframe or end < window:
            assert got is None
    assert checked >= 3


def test_window_of_partial_sub_frames_falls_back():
    """A window that is not whole sub-frames has no ring verdict (the engine asks the gate itself)."""
    ring = GateRing(SpeechGate.from_config(GateConfig(), SR), 2 * SR + 10)
    ring.push(bursts(3.0))
    assert ring.verdict() is None
