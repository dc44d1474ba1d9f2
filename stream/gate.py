"""The speech gate: is there enough voice in a window to be worth classifying?

Pure: samples in, a :class:`GateResult` out.  A window passes when at least
``active_fraction`` of its 30 ms sub-frames are louder than ``min_dbfs``
(RMS after removing the DC offset).  Windows that do not pass are not sent to
the model; the smoother decays instead of guessing on silence or hum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SUBFRAME_S = 0.030
"""Length of one sub-frame in seconds."""
FLOOR_DBFS = -120.0
"""Level reported for digital silence."""


@dataclass(frozen=True)
class GateResult:
    speech: bool
    level_dbfs: float
    """RMS level of the whole window, dBFS (full-scale sine = -3 dBFS)."""
    active_fraction: float
    """Fraction of sub-frames louder than the threshold."""


def dbfs(power: np.ndarray | float) -> np.ndarray | float:
    """Mean-square power -> dBFS, floored at :data:`FLOOR_DBFS`."""
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), FLOOR_DBFS)


@dataclass(frozen=True)
class SpeechGate:
    sample_rate: int
    min_dbfs: float = -45.0
    active_fraction: float = 0.2

    @property
    def subframe(self) -> int:
        return max(1, int(round(SUBFRAME_S * self.sample_rate)))

    def __call__(self, window: np.ndarray) -> GateResult:
        """Decide on one window of mono samples in [-1, 1]."""
        x = np.asarray(window, dtype=np.float32)
        if len(x) == 0:
            return GateResult(False, FLOOR_DBFS, 0.0)
        sf = self.subframe
        n = len(x) // sf
        if n == 0:
            power = float(np.var(x, dtype=np.float64))
            active = 1.0 if dbfs(power) >= self.min_dbfs else 0.0
            return GateResult(active > 0 and active >= self.active_fraction, float(dbfs(power)), active)
        # per-sub-frame power around the window's mean (DC removed) from sums: no float64 copy of the window
        sub = x[: n * sf].reshape(n, sf)
        s1 = sub.sum(axis=1).astype(np.float64)  # float32 sums over 480 samples are exact enough
        s2 = np.einsum("ij,ij->i", sub, sub).astype(np.float64)
        tail = x[n * sf:].astype(np.float64)
        m = (s1.sum() + tail.sum()) / len(x)
        power = (s2.sum() + tail @ tail) / len(x) - m * m
        sub_power = s2 / sf - 2.0 * m * s1 / sf + m * m
        active = float(np.mean(sub_power >= 10.0 ** (self.min_dbfs / 10.0)))
        speech = active >= self.active_fraction and active > 0.0
        return GateResult(speech, float(dbfs(max(power, 0.0))), active)
