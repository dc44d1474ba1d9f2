"""The speech gate: is there enough voice in a window to be worth classifying?

Pure and stateless: samples in, a :class:`GateResult` out, the same answer for
the same window wherever it comes from (live hop, ``classify``, training).

The gate is relative, not absolute.  The window is cut into 25 ms sub-frames;
each gets its speech-band level (300-4000 Hz, dBFS) from a Hann-windowed FFT of
its central power-of-two samples (256 of 400 at 16 kHz: a fast FFT size).  The
window's own noise floor is a low percentile of those levels.  A sub-frame is
*active* when it rises ``rise_db`` above that floor (and is louder than the
absolute ``min_dbfs``, which only keeps dither and near-silence out).  Digital
silence (sub-frames below :data:`SILENCE_DBFS`) does not count towards the
floor, so a muted input that unmutes onto steady noise does not pass, and a
window that is *mostly* digital silence (:data:`DIGITAL_SILENCE_FRACTION` of its
sub-frames or more: a muted, noise-suppressed or gated source between
utterances) is never speech, so it is never classified and never moves the
session baseline.  Otherwise the
window is speech when at least ``active_fraction`` of its sub-frames are active.

Speech switches on and off at the syllable rate (4-8 Hz), so its sub-frame
levels spread by 20 dB or more at any gain; steady noise (white, pink, brown,
hum, a fan) spreads by a few dB at any level and never passes.  There is no
state across hops: the first window of a session (or a single file) is judged
like any other.  Speech that fills the whole window with no dip, and non-speech
with syllable-like dynamics (music, typing), are the known blind spots.
Windows that do not pass are not sent to the model; the smoother decays
instead of guessing on silence or hum.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import overload

import numpy as np

from voxstream.config import GateConfig

SUBFRAME_S = 0.025
"""Length of one sub-frame in seconds (25 ms: a 0.25 s hop and a 2 s window are whole sub-frames)."""
SPEECH_BAND_HZ = (300.0, 4000.0)
"""Band whose level the gate follows: voice formants, above hum and rumble, below hiss."""
FLOOR_DBFS = -120.0
"""Level reported for digital silence."""
SILENCE_DBFS = -110.0
"""Sub-frames with a speech-band level below this (under one 16-bit step) are digital silence."""
DIGITAL_SILENCE_FRACTION = 2.0 / 3.0
"""A window with at least this share of digital-silence sub-frames is not speech.  Two thirds, not one half: a
noise-suppressed voice whose syllable gaps are zeroed has up to ~60 % digital silence in a speech window
(the synthetic voice of ``tests/test_gate.py``)."""
_BLOCK = 80
"""Sub-frames per FFT call (one 2 s window at 16 kHz)."""


@dataclass(frozen=True)
class GateResult:
    speech: bool
    level_dbfs: float
    """RMS level of the whole window, dBFS (full-scale sine = -3 dBFS)."""
    active_fraction: float
    """Fraction of sub-frames rising above the floor (and above the absolute minimum)."""
    floor_dbfs: float = FLOOR_DBFS
    """The window's noise floor: the floor percentile of the sub-frames' speech-band levels, dBFS."""


@overload
def dbfs(power: np.ndarray) -> np.ndarray: ...


@overload
def dbfs(power: float) -> float: ...


def dbfs(power: np.ndarray | float) -> np.ndarray | float:
    """Mean-square power -> dBFS, floored at :data:`FLOOR_DBFS`."""
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-12)), FLOOR_DBFS)


@dataclass(frozen=True)
class SpeechGate:
    """The gate at one sample rate; its thresholds are a :class:`~voxstream.config.GateConfig` (the one place
    their defaults are defined: ``min_dbfs``, ``active_fraction``, ``rise_db``, ``floor_percentile``)."""

    sample_rate: int
    config: GateConfig = GateConfig()  # noqa: RUF009 - GateConfig is frozen, one shared default is safe

    @classmethod
    def from_config(cls, cfg: GateConfig, sample_rate: int) -> SpeechGate:
        return cls(sample_rate, cfg)

    @property
    def subframe(self) -> int:
        return max(1, round(SUBFRAME_S * self.sample_rate))

    @cached_property
    def _analysis(self) -> tuple[slice, np.ndarray]:
        """The central power-of-two samples of a sub-frame and their Hann taper."""
        sf = self.subframe
        n = 1 << (sf.bit_length() - 1)
        start = (sf - n) // 2
        taper = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)).astype(np.float32)
        return slice(start, start + n), taper

    @cached_property
    def _band(self) -> tuple[int, int, float]:
        """Real/imaginary columns [lo, hi) of the speech band in the FFT viewed as floats, and the
        scale from their sum of squares to mean-square power."""
        taper = self._analysis[1]
        n = len(taper)
        lo = max(1, round(SPEECH_BAND_HZ[0] * n / self.sample_rate))
        hi = max(lo + 1, min(n // 2, round(SPEECH_BAND_HZ[1] * n / self.sample_rate)) + 1)
        return 2 * lo, 2 * hi, 2.0 / (n * float(np.sum(taper.astype(np.float64) ** 2)))

    def subframe_stats(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per whole sub-frame: sum, sum of squares (float64) and speech-band level (dBFS)."""
        x = np.asarray(samples, dtype=np.float32)
        sf = self.subframe
        sub = x[: (len(x) // sf) * sf].reshape(-1, sf)
        s1 = sub.sum(axis=1).astype(np.float64)  # float32 sums over 400 samples are exact enough
        s2 = np.einsum("ij,ij->i", sub, sub).astype(np.float64)
        part, taper = self._analysis
        lo, hi, scale = self._band
        band = np.empty(len(sub))
        for i in range(0, len(sub), _BLOCK):  # blocks keep the FFT's arrays in cache on long clips
            # numpy's float64 FFT is several times faster than its float32 one
            spec = np.fft.rfft((sub[i : i + _BLOCK, part] * taper).astype(np.float64), axis=1).view(np.float64)
            band[i : i + _BLOCK] = np.einsum("ij,ij->i", spec[:, lo:hi], spec[:, lo:hi])
        return s1, s2, dbfs(band * scale)

    def decide(self, band_dbfs: np.ndarray, level_dbfs: float) -> GateResult:
        """The verdict on one window from its sub-frames' speech-band levels."""
        n = len(band_dbfs)
        audible = band_dbfs[band_dbfs > SILENCE_DBFS]
        if n == 0 or len(audible) <= (1.0 - DIGITAL_SILENCE_FRACTION) * n:  # mostly digital silence: no speech
            return GateResult(False, level_dbfs, 0.0)
        cfg = self.config
        k = int(cfg.floor_percentile / 100.0 * (len(audible) - 1))
        floor = float(np.partition(audible, k)[k])
        active = float(np.count_nonzero(audible > max(floor + cfg.rise_db, cfg.min_dbfs))) / n
        return GateResult(active > 0.0 and active >= cfg.active_fraction, level_dbfs, active, floor)

    def __call__(self, window: np.ndarray) -> GateResult:
        """Decide on one window of mono samples in [-1, 1]."""
        x = np.asarray(window, dtype=np.float32)
        if len(x) == 0:
            return GateResult(False, FLOOR_DBFS, 0.0)
        s1, s2, band = self.subframe_stats(x)
        tail = x[len(s1) * self.subframe :].astype(np.float64)
        return self.decide(band, _level(s1.sum() + tail.sum(), s2.sum() + tail @ tail, len(x)))

    def windows(self, samples: np.ndarray, window: int, hop: int) -> list[GateResult]:
        """The verdicts on the windows of :func:`voxstream.engine.params.windows`: ``samples[s:s + window]``
        for s = 0, hop, 2 hop, ..., or one verdict on all of a signal shorter than one window.

        Equal to calling the gate on each window; when window and hop are whole sub-frames the
        sub-frames are analysed once for the clip: the cheap path for training and ``classify``."""
        if len(samples) <= window:
            return [self(samples)]
        starts = range(0, len(samples) - window + 1, hop)
        sf = self.subframe
        if window % sf or hop % sf:
            return [self(samples[s : s + window]) for s in starts]
        s1, s2, band = self.subframe_stats(samples)
        c1, c2, w = np.concatenate([[0.0], np.cumsum(s1)]), np.concatenate([[0.0], np.cumsum(s2)]), window // sf
        return [
            self.decide(
                band[s // sf : s // sf + w],
                _level(c1[s // sf + w] - c1[s // sf], c2[s // sf + w] - c2[s // sf], window),
            )
            for s in starts
        ]


def _level(total: float, total_sq: float, n: int) -> float:
    """RMS level (dBFS) around the mean of ``n`` samples from their sum and sum of squares."""
    m = total / n
    return float(dbfs(max(total_sq / n - m * m, 0.0)))


class GateRing:
    """The gate's verdict on the latest ``window`` samples of a stream, each sub-frame analysed once.

    Equal to ``gate(last window)`` (the same per-sub-frame numbers, in the same order, through
    :meth:`SpeechGate.decide`) once a whole window has been heard, when the window is whole
    sub-frames and the samples seen are too; otherwise :meth:`verdict` returns None and the caller
    asks the gate about the window itself."""

    def __init__(self, gate: SpeechGate, window: int) -> None:
        self.gate, self.window = gate, window
        sf = gate.subframe
        self.n = window // sf if window % sf == 0 else 0
        # every value twice (at i and i + n), so the window is one contiguous slice of each row
        self._stats = np.zeros((3, 2 * max(self.n, 1)))
        self.reset()

    def reset(self) -> None:
        self._tail = np.zeros(0, dtype=np.float32)
        self._count = 0  # sub-frames seen

    def push(self, samples: np.ndarray) -> None:
        if not self.n:
            return
        x = np.asarray(samples, dtype=np.float32)
        buf = np.concatenate([self._tail, x]) if len(self._tail) else x
        sf, n = self.gate.subframe, self.n
        k = len(buf) // sf
        self._tail = buf[k * sf :].copy()
        if k == 0:
            return
        if k > n:
            buf, self._count, k = buf[(k - n) * sf : k * sf], self._count + k - n, n
        pos = (self._count + np.arange(k)) % n
        self._stats[:, pos] = self._stats[:, pos + n] = np.stack(self.gate.subframe_stats(buf[: k * sf]))
        self._count += k

    def verdict(self) -> GateResult | None:
        """The gate's verdict on the last window, or None when it cannot be given from whole sub-frames."""
        if not self.n or self._count < self.n or len(self._tail):
            return None
        s = self._count % self.n
        s1, s2, band = self._stats[:, s : s + self.n]
        return self.gate.decide(band, _level(s1.sum() + 0.0, s2.sum() + 0.0, self.window))
