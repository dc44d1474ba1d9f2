"""MFCC frames: each frame of samples -> its MFCCs (and the prosody or ``seq`` columns its pooling reads).

Conventions are librosa's (`librosa.feature.mfcc`): periodic Hann window, power
spectrum, Slaney mel filterbank (``librosa.filters.mel``), ``10*log10(max(S, amin))``
with no ``top_db`` clipping, DCT-II with orthonormal scaling.  Frames are not
centred (``center=False``): a frame is counted only once all its samples have
arrived, which is what lets :class:`~voxstream.engine.ring.FrameRing` compute new
frames only.

The per-frame pipeline is written with numpy matrices (FFT -> mel -> log ->
DCT) instead of calling ``librosa.feature.mfcc`` per hop: librosa re-derives
the filterbank and pads on every call (~2-3 ms per 2 s window), while this
costs tens of microseconds per hop.  ``tests/test_features.py`` bounds the
difference to librosa.
"""

from __future__ import annotations

import numpy as np

from voxstream.engine.params import (
    F0_MAX_HZ,
    F0_MIN_HZ,
    OCTAVE_RATIO,
    SEQ_FLOOR,
    VOICED_MIN_DB,
    VOICED_PEAK,
    FeatureParams,
)

# librosa's own formulas in numpy (librosa.filters.get_window/mel, scipy's orthonormal DCT-II):
# importing librosa costs ~140 MB of RSS (numba, scipy), too much for the runtime on a Pi.
# tests/test_features.py checks these against librosa.


def _hann_periodic(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", n, fftbins=True)``."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    return (0.5 + 0.5 * np.cos(fac))[:n]


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    hz = np.atleast_1d(np.asarray(hz, dtype=np.float64))
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    mels = hz / f_sp
    log_t = hz >= min_log_hz
    mels[log_t] = min_log_hz / f_sp + np.log(hz[log_t] / min_log_hz) / (np.log(6.4) / 27.0)
    return mels


def _mel_to_hz(mels: np.ndarray) -> np.ndarray:
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    freqs = f_sp * mels
    log_t = mels >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(np.log(6.4) / 27.0 * (mels[log_t] - min_log_mel))
    return freqs


def _slaney_mel(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """``librosa.filters.mel(norm="slaney", htk=False)``, float32 like librosa's default."""
    fmax = sr / 2.0 if fmax is None else fmax
    weights = np.zeros((n_mels, 1 + n_fft // 2), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    lo, hi = _hz_to_mel(fmin)[0], _hz_to_mel(fmax)[0]
    mel_f = _mel_to_hz(np.linspace(lo, hi, n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        weights[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    weights *= (2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def _dct2_ortho(n: int) -> np.ndarray:
    """Rows k of the orthonormal DCT-II matrix (``scipy.fft.dct(np.eye(n), 2, norm="ortho", axis=0)``)."""
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    basis = np.cos(np.pi * k * (2 * j + 1) / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


_AROUND = np.array([-1, 0, 1])


class MfccFrames:
    """Turns frames of samples into MFCC vectors (no state besides matrices).

    With the ``mean_std_dstd_prosody`` pooling each row also carries 8 prosody
    columns, chosen so that window statistics are plain column means:
    voiced (0/1), voiced * log F0, voiced * log F0², autocorrelation peak,
    centroid (kHz), centroid², level (dBFS), level².  With ``seq``, 4 columns:
    level (dBFS), autocorrelation peak, log F0, centroid (kHz).
    """

    def __init__(self, params: FeatureParams) -> None:
        self.params = p = params
        self.dtype = np.dtype(p.dtype)
        window = _hann_periodic(p.n_fft)
        mel = _slaney_mel(p.sample_rate, p.n_fft, p.n_mels, p.fmin, p.fmax)
        basis = _dct2_ortho(p.n_mels)[: p.n_mfcc]
        # (n_fft//2+1, n_mels) and (n_mels, n_mfcc): frames are rows.
        self._window = window.astype(self.dtype)
        self._mel_t = np.ascontiguousarray(mel.T, dtype=self.dtype)
        self._dct_t = np.ascontiguousarray(basis.T, dtype=self.dtype)
        self._prosody = p.pooling == "mean_std_dstd_prosody"
        self._seq = p.pooling == "seq"
        self._out_dtype = np.float64 if self._prosody or self._seq else self.dtype
        if self._prosody or self._seq:
            d = p.pitch_decimation
            self._ac_n, self._ac_bins = p.n_fft // d, p.n_fft // (2 * d) + 1  # inverse FFT size, bins it reads
            w_ac = np.fft.irfft((np.abs(np.fft.rfft(window)) ** 2)[: self._ac_bins], n=self._ac_n)
            rate = p.sample_rate / d
            lags = np.arange(int(rate / F0_MAX_HZ), int(rate / F0_MIN_HZ) + 1)
            self._lags = lags[lags < self._ac_n // 2].astype(np.float64)
            self._lag0, self._lag1 = int(self._lags[0]), int(self._lags[-1]) + 1  # a contiguous range
            self._w_ac = (w_ac / w_ac[0])[self._lag0: self._lag1].astype(self.dtype)
            self._freqs_khz = (np.fft.rfftfreq(p.n_fft, 1.0 / p.sample_rate) / 1000.0).astype(self.dtype)
            self._win_power = float((window ** 2).sum())

    def frame(self, samples: np.ndarray) -> np.ndarray:
        """Rows of ``n_fft`` samples every ``hop_length`` (a view, no copy)."""
        p = self.params
        n = p.n_frames(len(samples))
        if n == 0:
            return np.zeros((0, p.n_fft), dtype=samples.dtype)
        return np.lib.stride_tricks.as_strided(
            samples, shape=(n, p.n_fft), strides=(samples.strides[0] * p.hop_length, samples.strides[0]),
            writeable=False)

    def mfcc(self, frames: np.ndarray) -> np.ndarray:
        """MFCCs of framed samples: (n, n_fft) -> (n, frame_width) (n_mfcc, plus prosody columns).

        Computed in ``params.dtype``; rows with prosody or ``seq`` columns are float64."""
        p = self.params
        out = np.empty((len(frames), p.frame_width), dtype=self._out_dtype)
        if len(frames) == 0:
            return out
        spec = np.fft.rfft(np.multiply(frames, self._window, dtype=self.dtype), axis=1).view(self.dtype)
        np.multiply(spec, spec, out=spec)  # re**2, im**2 in place
        power = np.add(spec[:, 0::2], spec[:, 1::2])
        mel = power @ self._mel_t
        if self._seq:  # floor relative to the frame's loudest band: gain-free for every non-silent frame
            floor = np.maximum(mel.max(axis=1, keepdims=True) * SEQ_FLOOR, 1e-30)
            out[:, : p.n_mfcc] = 10.0 * np.log10(np.maximum(mel, floor)) @ self._dct_t
            self._seq_columns(power, out[:, p.n_mfcc:])
        else:
            out[:, : p.n_mfcc] = 10.0 * np.log10(np.maximum(mel, p.amin)) @ self._dct_t
            if self._prosody:
                self._prosody_columns(power, out[:, p.n_mfcc:])
        return out

    def _pitch(self, power: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per frame: autocorrelation at lag 0, normalised autocorrelation peak, pitch lag (samples).

        With ``pitch_decimation`` d > 1 the autocorrelation is that of the lowest 1/d of the band,
        at 1/d of the rate; its lag (refined by a parabola through the peak) is given in samples
        at the full rate, and lag 0 (the frame's level) is the power of that band, at the full rate's scale."""
        d = self.params.pitch_decimation
        ac = np.fft.irfft(power if d == 1 else power[:, : self._ac_bins], n=self._ac_n, axis=1)
        if d > 1:
            ac *= 1.0 / d  # irfft divides by n_fft / d, not n_fft
        r0 = ac[:, 0]
        nac = ac[:, self._lag0: self._lag1] / np.maximum(r0, 1e-12)[:, None] / self._w_ac
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

    def _seq_columns(self, power: np.ndarray, out: np.ndarray) -> None:
        """The 4 per-frame columns of ``seq`` into ``out``: level (dBFS), autocorrelation peak, log F0,
        centroid (kHz)."""
        r0, out[:, 1], lag = self._pitch(power)
        out[:, 0] = 10.0 * np.log10(np.maximum(r0 / self._win_power, 1e-30))  # no additive floor: gain-free
        out[:, 2] = np.log(self.params.sample_rate / lag)
        out[:, 3] = (power @ self._freqs_khz) / (power.sum(axis=1) + 1e-30)

    def _prosody_columns(self, power: np.ndarray, out: np.ndarray) -> None:
        """The 8 prosody columns of frames from their power spectra (autocorrelation = inverse FFT of power)."""
        r0, peak, lag = self._pitch(power)
        level = 10.0 * np.log10(r0 / self._win_power + 1e-10)
        voiced = ((peak > VOICED_PEAK) & (level > VOICED_MIN_DB)).astype(np.float64)
        log_f0 = np.log(self.params.sample_rate / lag)
        centroid = (power @ self._freqs_khz) / (power.sum(axis=1) + 1e-12)
        for j, column in enumerate((voiced, voiced * log_f0, voiced * log_f0 ** 2, peak, centroid, centroid ** 2,
                                    level, level ** 2)):
            out[:, j] = column

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """MFCC frames of a whole signal: (n_samples,) -> (n_frames, frame_width)."""
        return self.mfcc(self.frame(np.asarray(samples, dtype=self.dtype)))


def _parabola(y: np.ndarray, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through ``y[rows, k - 1 : k + 2]`` (0 at an edge
    or where the three points do not make a peak)."""
    kk = np.clip(k, 1, y.shape[1] - 2)
    a, b, c = y[rows[:, None], kk[:, None] + _AROUND].astype(np.float64).T
    curve = a - 2.0 * b + c
    ok = (kk == k) & (curve < 0)
    return np.where(ok, np.clip(0.5 * (a - c) / np.where(ok, curve, -1.0), -0.5, 0.5), 0.0)
