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

from voxstream.engine.params import FeatureParams
from voxstream.engine.pitch import Pitch

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
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, np.newaxis]
    return weights


def _dct2_ortho(n: int) -> np.ndarray:
    """Rows k of the orthonormal DCT-II matrix (``scipy.fft.dct(np.eye(n), 2, norm="ortho", axis=0)``)."""
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    basis = np.cos(np.pi * k * (2 * j + 1) / (2 * n)) * np.sqrt(2.0 / n)
    basis[0] /= np.sqrt(2.0)
    return basis


class MfccFrames:
    """Turns frames of samples into MFCC vectors (no state besides matrices).

    Each row also carries the columns its pooling kind reads (``params.kind``:
    :attr:`~voxstream.engine.kinds.Pooling.extra` columns, written by
    :meth:`~voxstream.engine.kinds.Pooling.frame_columns` from the frame's power
    spectrum and :attr:`pitch`).
    """

    def __init__(self, params: FeatureParams) -> None:
        self.params = p = params
        self.kind = p.kind
        self.width = p.frame_width
        self.dtype = np.dtype(p.dtype)
        self.row_dtype = np.dtype(np.float64) if self.kind.extra else self.dtype
        """Rows with pooling columns are float64, MFCC-only rows ``params.dtype``."""
        window = _hann_periodic(p.n_fft)
        mel = _slaney_mel(p.sample_rate, p.n_fft, p.n_mels, p.fmin, p.fmax)
        basis = _dct2_ortho(p.n_mels)[: p.n_mfcc]
        # (n_fft//2+1, n_mels) and (n_mels, n_mfcc): frames are rows.
        self._window = window.astype(self.dtype)
        self._mel_t = np.ascontiguousarray(mel.T, dtype=self.dtype)
        self._dct_t = np.ascontiguousarray(basis.T, dtype=self.dtype)
        self.pitch = Pitch(p, window, self.dtype)
        """The autocorrelation pitch of frames from their power spectra (for the pooling's columns)."""

    def frame(self, samples: np.ndarray) -> np.ndarray:
        """Rows of ``n_fft`` samples every ``hop_length`` (a view, no copy)."""
        p = self.params
        n = p.n_frames(len(samples))
        if n == 0:
            return np.zeros((0, p.n_fft), dtype=samples.dtype)
        return np.lib.stride_tricks.as_strided(
            samples,
            shape=(n, p.n_fft),
            strides=(samples.strides[0] * p.hop_length, samples.strides[0]),
            writeable=False,
        )

    def mfcc(self, frames: np.ndarray) -> np.ndarray:
        """MFCCs of framed samples: (n, n_fft) -> (n, frame_width) (n_mfcc, then the pooling's columns).

        Computed in ``params.dtype``; rows with pooling columns are float64."""
        p = self.params
        out = np.empty((len(frames), self.width), dtype=self.row_dtype)
        if len(frames) == 0:
            return out
        spec = np.fft.rfft(np.multiply(frames, self._window, dtype=self.dtype), axis=1).view(self.dtype)
        np.multiply(spec, spec, out=spec)  # re**2, im**2 in place
        power = np.add(spec[:, 0::2], spec[:, 1::2])
        mel = power @ self._mel_t
        out[:, : p.n_mfcc] = 10.0 * np.log10(np.maximum(mel, self.kind.mel_floor(mel, p))) @ self._dct_t
        self.kind.frame_columns(self.pitch, power, out[:, p.n_mfcc :])
        return out

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """MFCC frames of a whole signal: (n_samples,) -> (n_frames, frame_width)."""
        return self.mfcc(self.frame(np.asarray(samples, dtype=self.dtype)))
