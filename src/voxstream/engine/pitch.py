"""The autocorrelation pitch of frames, from their power spectra (what the pooling kinds' frame columns read).

The autocorrelation of a frame is the inverse FFT of its power spectrum, divided by
that of the analysis window; the pitch lag is the shortest local peak within
:data:`~voxstream.engine.fields.OCTAVE_RATIO` of the highest one in the
:data:`~voxstream.engine.fields.F0_MIN_HZ` - :data:`~voxstream.engine.fields.F0_MAX_HZ` range.
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.fields import F0_MAX_HZ, F0_MIN_HZ, OCTAVE_RATIO, FeatureFields

_AROUND = np.array([-1, 0, 1])


class Pitch:
    """Per-frame pitch and spectral measures of the frames of ``params`` analysed with ``window`` (no state)."""

    def __init__(self, params: FeatureFields, window: np.ndarray, dtype: np.dtype) -> None:
        self.params = p = params
        d = p.pitch_decimation
        self._ac_n, self._ac_bins = p.n_fft // d, p.n_fft // (2 * d) + 1  # inverse FFT size, bins it reads
        w_ac = np.fft.irfft((np.abs(np.fft.rfft(window)) ** 2)[: self._ac_bins], n=self._ac_n)
        rate = p.sample_rate / d
        lags = np.arange(int(rate / F0_MAX_HZ), int(rate / F0_MIN_HZ) + 1)
        self._lags = lags[lags < self._ac_n // 2].astype(np.float64)
        self._lag0, self._lag1 = int(self._lags[0]), int(self._lags[-1]) + 1  # a contiguous range
        self._w_ac = (w_ac / w_ac[0])[self._lag0 : self._lag1].astype(dtype)
        self.freqs_khz = (np.fft.rfftfreq(p.n_fft, 1.0 / p.sample_rate) / 1000.0).astype(dtype)
        """Frequency of each power-spectrum bin in kHz (for a spectral centroid)."""
        self.win_power = float((window**2).sum())
        """Sum of the squared analysis window: a frame's power (autocorrelation at lag 0) over it is its level."""

    def __call__(self, power: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: autocorrelation at lag 0, normalised autocorrelation peak, pitch lag (samples).

        With ``pitch_decimation`` d > 1 the autocorrelation is that of the lowest 1/d of the band,
        at 1/d of the rate; its lag (refined by a parabola through the peak) is given in samples
        at the full rate, and lag 0 (the frame's level) is the power of that band, at the full rate's scale."""
        d = self.params.pitch_decimation
        ac = np.fft.irfft(power if d == 1 else power[:, : self._ac_bins], n=self._ac_n, axis=1)
        if d > 1:
            ac *= 1.0 / d  # irfft divides by n_fft / d, not n_fft
        r0 = ac[:, 0]
        nac = ac[:, self._lag0 : self._lag1] / np.maximum(r0, 1e-12)[:, None] / self._w_ac
        # the shortest lag whose local peak reaches OCTAVE_RATIO of the best one (avoids picking 2 x the period)
        mid = nac[:, 1:-1]
        candidate = (mid >= nac[:, :-2]) & (mid >= nac[:, 2:])
        candidate &= mid >= OCTAVE_RATIO * nac.max(axis=1, keepdims=True)
        rows = np.arange(len(nac))
        first = candidate.argmax(axis=1)  # the first candidate, or 0 if none
        k = np.where(candidate[rows, first], first + 1, nac.argmax(axis=1))
        peak, lag = nac[rows, k], self._lags[k]
        if d > 1:
            lag = (lag + _parabola(nac, rows, k)) * d
        return r0, peak, lag


def _parabola(y: np.ndarray, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through ``y[rows, k - 1 : k + 2]`` (0 at an edge
    or where the three points do not make a peak)."""
    kk = np.clip(k, 1, y.shape[1] - 2)
    a, b, c = y[rows[:, None], kk[:, None] + _AROUND].astype(np.float64).T
    curve = a - 2.0 * b + c
    ok = (kk == k) & (curve < 0)
    return np.where(ok, np.clip(0.5 * (a - c) / np.where(ok, curve, -1.0), -0.5, 0.5), 0.0)
