"""The only feature code in voxstream: MFCC frames and their window statistics.

Training (``voxstream.train``) and streaming both call this module, so what a
model was trained on is exactly what it sees live.  Conventions are librosa's
(`librosa.feature.mfcc`): periodic Hann window, power spectrum, Slaney mel
filterbank (``librosa.filters.mel``), ``10*log10(max(S, amin))`` with no
``top_db`` clipping, DCT-II with orthonormal scaling.  Frames are not centred
(``center=False``): a frame is counted only once all its samples have arrived,
which is what lets :class:`IncrementalMfcc` compute new frames only.

The per-frame pipeline is written with numpy matrices (FFT -> mel -> log ->
DCT) instead of calling ``librosa.feature.mfcc`` per hop: librosa re-derives
the filterbank and pads on every call (~2-3 ms per 2 s window), while this
costs tens of microseconds per hop.  ``tests/test_features.py`` bounds the
difference to librosa.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, field, fields

import numpy as np

POOLINGS = ("mean", "mean_std", "mean_std_dstd", "mean_std_dstd_prosody", "seq")
DTYPES = ("float64", "float32")
PROSODY = 8
"""Extra per-frame columns (and pooled values) of the ``mean_std_dstd_prosody`` pooling."""
F0_MIN_HZ, F0_MAX_HZ = 75.0, 400.0
"""Range of the autocorrelation pitch search."""
VOICED_PEAK, VOICED_MIN_DB = 0.5, -50.0
"""A frame is voiced when its normalised autocorrelation peak exceeds 0.5 and its level -50 dBFS."""
OCTAVE_RATIO = 0.85
"""The pitch lag is the shortest autocorrelation peak within this ratio of the highest one."""
UNVOICED_LOG_F0 = 5.3
"""Mean log F0 reported for a window without a voiced frame (about 200 Hz)."""
SEQ_FRAME = 4
"""Extra per-frame columns of the ``seq`` pooling: level (dBFS), autocorrelation peak, log F0, centroid (kHz)."""
SEQ_PROSODY = 8
"""Level-free prosody values per sub-window of the ``seq`` pooling (see :func:`seq_pool`)."""
SEQ_FLOOR = 1e-8
"""``seq``: mel power floor relative to the frame's loudest band (80 dB), so the floor moves with the gain."""
SEQ_VOICED_REL_DB = 35.0
"""``seq``: a voiced frame is at most this far below the window's loudest frame."""
SEQ_SILENCE_DBFS = -110.0
"""``seq``: frames below this level (digital silence) are never voiced and do not set the window's loudest level."""


@dataclass(frozen=True)
class FeatureParams:
    """Every parameter of the features; written into the model card."""

    sample_rate: int = 16000
    """Model sample rate in Hz; audio is resampled to it before anything else."""
    n_mfcc: int = 40
    n_fft: int = 512
    """FFT size and frame length in samples (32 ms at 16 kHz)."""
    hop_length: int = 160
    """Frame hop in samples (10 ms at 16 kHz)."""
    n_mels: int = 40
    fmin: float = 0.0
    fmax: float | None = None
    """Upper mel edge in Hz; None means sample_rate / 2."""
    amin: float = 1e-10
    """Floor of the power before the logarithm."""
    pooling: str = "mean"
    """How frames of a window become one vector: "mean" (40 values, the seed),
    "mean_std" (mean then standard deviation over time, 2 x n_mfcc) or
    "mean_std_dstd" (those, then the standard deviation of the frame-to-frame
    differences ``frames[t] - frames[t-1]`` within the window, 3 x n_mfcc; a
    cheap measure of how fast the spectrum moves, zeros for a single frame) or
    "mean_std_dstd_prosody" (those, then 8 prosody values from the same power
    spectra: voiced-frame fraction, mean and std of log F0 over voiced frames
    (autocorrelation pitch, 75-400 Hz), mean autocorrelation peak, mean and std
    of the spectral centroid in kHz, mean and std of the frame level in dBFS) or
    "seq" (a sequence: the window cut into ``seq_steps`` sub-windows, each giving
    level-free statistics, see :func:`seq_pool`; shape ``(seq_steps, 3 * (n_mfcc - 1) + 8)``)."""
    seq_steps: int = 8
    """``seq`` pooling only: sub-windows per window (8 = one per 0.25 s hop of a 2 s window)."""
    dtype: str = "float64"
    """Precision of the spectra and everything computed from them (mel, MFCCs, autocorrelation):
    "float64", or "float32" (librosa's own precision for float32 audio).  Pooled statistics are
    summed in float64 either way."""
    pitch_decimation: int = 1
    """The autocorrelation pitch is computed from the lowest ``1 / pitch_decimation`` of the power
    spectrum with an ``n_fft / pitch_decimation`` inverse FFT: the autocorrelation of the audio
    low-passed to ``sample_rate / (2 * pitch_decimation)`` and sampled at ``sample_rate / pitch_decimation``
    (2: 0-4 kHz, where a voice's pitch harmonics are, at half the cost).  Above 1, the coarser lag is
    refined by a parabola through the peak and its two neighbours."""

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"features.pooling: expected one of {POOLINGS}, got {self.pooling!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"features.dtype: expected one of {DTYPES}, got {self.dtype!r}")
        if self.pitch_decimation not in (1, 2, 4):
            raise ValueError(f"features.pitch_decimation: expected 1, 2 or 4, got {self.pitch_decimation!r}")
        for name in ("sample_rate", "n_mfcc", "n_fft", "hop_length", "n_mels", "seq_steps"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"features.{name}: expected a positive integer")
        if self.n_mfcc > self.n_mels:
            raise ValueError("features.n_mfcc: must not exceed n_mels")

    @property
    def dim(self) -> int:
        """Length of the pooled feature vector of one window (``seq``: of the flattened sequence)."""
        if self.pooling == "seq":
            return self.seq_steps * self.seq_dim
        if self.pooling == "mean_std_dstd_prosody":
            return 3 * self.n_mfcc + PROSODY
        return self.n_mfcc * {"mean": 1, "mean_std": 2, "mean_std_dstd": 3}[self.pooling]

    @property
    def seq_dim(self) -> int:
        """Values per sub-window of the ``seq`` pooling: MFCC c1.. mean, std, delta std, and 8 prosody values."""
        return 3 * (self.n_mfcc - 1) + SEQ_PROSODY

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the features of one window: ``(seq_steps, seq_dim)`` for ``seq``, else ``(dim,)``."""
        return (self.seq_steps, self.seq_dim) if self.pooling == "seq" else (self.dim,)

    @property
    def frame_width(self) -> int:
        """Columns of one frame row from :class:`MfccFrames` (the MFCCs, plus the prosody columns if pooled)."""
        extra = {"mean_std_dstd_prosody": PROSODY, "seq": SEQ_FRAME}.get(self.pooling, 0)
        return self.n_mfcc + extra

    def to_dict(self) -> dict:
        """Every field; ``seq_steps`` only for the ``seq`` pooling, ``dtype`` and ``pitch_decimation``
        only when not the default (older cards and caches stay byte-identical)."""
        data = asdict(self)
        if self.pooling != "seq":
            del data["seq_steps"]
        for name, default in (("dtype", "float64"), ("pitch_decimation", 1)):
            if data[name] == default:
                del data[name]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureParams":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"features: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**data)

    def n_frames(self, n_samples: int) -> int:
        """Number of whole (uncentred) frames in ``n_samples`` samples."""
        if n_samples < self.n_fft:
            return 0
        return 1 + (n_samples - self.n_fft) // self.hop_length


# librosa's own formulas in numpy (librosa.filters.get_window/mel, scipy's orthonormal DCT-II):
# importing librosa costs ~140 MB of RSS (numba, scipy), too much for the runtime on a Pi.
# tests/test_features.py checks these against librosa.


def _hann_periodic(n: int) -> np.ndarray:
    """``scipy.signal.get_window("hann", n, fftbins=True)``."""
    fac = np.linspace(-np.pi, np.pi, n + 1)
    return (0.5 + 0.5 * np.cos(fac))[:n]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
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


class MfccFrames:
    """Turns frames of samples into MFCC vectors (no state besides matrices).

    With the ``mean_std_dstd_prosody`` pooling each row also carries 8 prosody
    columns, chosen so that window statistics are plain column means (hence
    running sums when streaming): voiced (0/1), voiced * log F0, voiced * log F0²,
    autocorrelation peak, centroid (kHz), centroid², level (dBFS), level².
    """

    def __init__(self, params: FeatureParams) -> None:
        self.params = params
        p = params
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
        if self._prosody or self._seq:
            d = p.pitch_decimation
            self._ac_n, self._ac_bins = p.n_fft // d, p.n_fft // (2 * d) + 1  # inverse FFT size, bins it reads
            w_ac = np.fft.irfft((np.abs(np.fft.rfft(window)) ** 2)[: self._ac_bins], n=self._ac_n)
            rate = p.sample_rate / d
            lags = np.arange(int(rate / F0_MAX_HZ), int(rate / F0_MIN_HZ) + 1)
            self._lags = lags[lags < self._ac_n // 2]
            self._lag0, self._lag1 = int(self._lags[0]), int(self._lags[-1]) + 1  # a contiguous range
            self._w_ac = (w_ac / w_ac[0])[self._lags].astype(self.dtype)
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
        if len(frames) == 0:
            return np.zeros((0, self.params.frame_width), dtype=self.dtype)
        spec = np.fft.rfft(np.multiply(frames, self._window, dtype=self.dtype), axis=1).view(self.dtype)
        np.multiply(spec, spec, out=spec)  # re**2, im**2 in place
        power = np.add(spec[:, 0::2], spec[:, 1::2])
        mel = power @ self._mel_t
        if self._seq:  # floor relative to the frame's loudest band: gain-free for every non-silent frame
            floor = np.maximum(mel.max(axis=1, keepdims=True) * SEQ_FLOOR, 1e-30)
            return np.hstack([10.0 * np.log10(np.maximum(mel, floor)) @ self._dct_t, self._seq_columns(power)])
        mfcc = 10.0 * np.log10(np.maximum(mel, self.params.amin)) @ self._dct_t
        return np.hstack([mfcc, self._prosody_columns(power)]) if self._prosody else mfcc

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
        local = np.zeros(nac.shape, dtype=bool)
        local[:, 1:-1] = (nac[:, 1:-1] >= nac[:, :-2]) & (nac[:, 1:-1] >= nac[:, 2:])
        candidate = local & (nac >= OCTAVE_RATIO * nac.max(axis=1, keepdims=True))
        k = np.where(candidate.any(axis=1), candidate.argmax(axis=1), nac.argmax(axis=1))
        rows = np.arange(len(k))
        peak, lag = nac[rows, k], self._lags[k].astype(np.float64)
        if d > 1:
            lag = (lag + _parabola(nac, rows, k)) * d
        return r0, peak, lag

    def _seq_columns(self, power: np.ndarray) -> np.ndarray:
        """The 4 per-frame columns of ``seq``: level (dBFS), autocorrelation peak, log F0, centroid (kHz)."""
        r0, peak, lag = self._pitch(power)
        level = 10.0 * np.log10(np.maximum(r0 / self._win_power, 1e-30))  # no additive floor: gain-free
        centroid = (power @ self._freqs_khz) / (power.sum(axis=1) + 1e-30)
        return np.stack([level, peak, np.log(self.params.sample_rate / lag), centroid], axis=1)

    def _prosody_columns(self, power: np.ndarray) -> np.ndarray:
        """The 8 prosody columns of frames from their power spectra (autocorrelation = inverse FFT of power)."""
        r0, peak, lag = self._pitch(power)
        level = 10.0 * np.log10(r0 / self._win_power + 1e-10)
        voiced = ((peak > VOICED_PEAK) & (level > VOICED_MIN_DB)).astype(np.float64)
        log_f0 = np.log(self.params.sample_rate / lag)
        centroid = (power @ self._freqs_khz) / (power.sum(axis=1) + 1e-12)
        return np.stack([voiced, voiced * log_f0, voiced * log_f0 ** 2, peak, centroid, centroid ** 2,
                         level, level ** 2], axis=1)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """MFCC frames of a whole signal: (n_samples,) -> (n_frames, frame_width)."""
        return self.mfcc(self.frame(np.asarray(samples, dtype=self.dtype)))


def _parabola(y: np.ndarray, rows: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Offset in (-0.5, 0.5) of the vertex of the parabola through ``y[rows, k - 1 : k + 2]`` (0 at an edge
    or where the three points do not make a peak)."""
    inner = (k > 0) & (k < y.shape[1] - 1)
    kk = np.clip(k, 1, y.shape[1] - 2)
    a, b, c = (y[rows, kk - 1].astype(np.float64), y[rows, kk].astype(np.float64),
               y[rows, kk + 1].astype(np.float64))
    curve = a - 2.0 * b + c
    ok = inner & (curve < 0)
    return np.where(ok, np.clip(0.5 * (a - c) / np.where(ok, curve, -1.0), -0.5, 0.5), 0.0)


def seq_index(n: int, params: FeatureParams) -> tuple[np.ndarray, np.ndarray]:
    """Frame index (K, m) and validity mask of each sub-window of a window of ``n`` frames.

    A window of ``K`` hops of ``s`` frame hops has ``n = K*s - c`` frames (``c`` frames straddle
    its start); sub-window k takes the ``m = s - c`` frames lying wholly inside hop k, so every
    frame of a sub-window is known once its hop has been heard.  Short windows (a clip shorter
    than the window) are cut the same way with ``s = (n + c) // K`` (at least one frame each).
    The arrays are shared between calls (read-only): a live hop asks for the same ones every time.
    """
    return _seq_index(int(n), params.seq_steps, params.hop_length, params.n_fft)


@functools.lru_cache(maxsize=64)
def _seq_index(n: int, k_steps: int, h: int, n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    c = -(-n_fft // h) - 1
    s = max(1, (n + c) // k_steps)
    m = max(1, s - c)
    start = np.minimum(np.arange(k_steps) * s, n - 1)
    idx = start[:, None] + np.arange(m)[None, :]
    idx, valid = np.minimum(idx, n - 1), idx < n
    idx.flags.writeable = valid.flags.writeable = False
    return idx, valid


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation along axis 1 of (B, n, width), two-pass like ``np.std``."""
    mean = x.mean(axis=1)
    d = x - mean[:, None, :]
    return mean, np.sqrt(np.einsum("bnc,bnc->bc", d, d) / x.shape[1])


def _mfcc_stats(frames: np.ndarray, pooling: str) -> np.ndarray:
    """MFCC statistics of windows of frames (B, n, width) -> (B, dim)."""
    if pooling == "mean":
        return frames.mean(axis=1)
    mean, std = _mean_std(frames)
    if pooling == "mean_std":
        return np.concatenate([mean, std], axis=1)
    dstd = _mean_std(np.diff(frames, axis=1))[1] if frames.shape[1] > 1 else np.zeros_like(mean)
    return np.concatenate([mean, std, dstd], axis=1)


def _prosody_stats(col_mean: np.ndarray) -> np.ndarray:
    """The 8 pooled prosody values of every row of window means of the 8 prosody columns."""
    voiced, vf0, vf0sq, peak, cent, centsq, level, levelsq = col_mean.T
    has = voiced > 0
    safe = np.where(has, voiced, 1.0)
    f0 = np.where(has, vf0 / safe, UNVOICED_LOG_F0)
    f0_std = np.where(has, np.sqrt(np.maximum(vf0sq / safe - f0 * f0, 0.0)), 0.0)
    return np.stack([voiced, f0, f0_std, peak, cent, np.sqrt(np.maximum(centsq - cent * cent, 0.0)), level,
                     np.sqrt(np.maximum(levelsq - level * level, 0.0))], axis=1)


def _wmean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted mean over the frame axis: x (..., m, D), w (..., m) -> (..., D); 0 where w sums to 0."""
    return np.einsum("...md,...m->...d", x, w) / np.maximum(w.sum(axis=-1), 1e-12)[..., None]


def _wstd(x: np.ndarray, w: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return np.sqrt(np.maximum(_wmean((x - mean[..., None, :]) ** 2, w), 0.0))


def seq_windows(frames: np.ndarray, first: np.ndarray, n: int, params: FeatureParams) -> np.ndarray:
    """The ``seq`` features of the windows of ``n`` frames starting at the frame indices ``first``:
    ``(len(first), K, D)`` float32 (see :func:`seq_pool`).

    The one ``seq`` pooling code, for one window (live) and for all the windows of a file.  A
    window's sub-windows (:func:`seq_index`) lie on the same frames as those of the windows one
    or more hops later, so what does not depend on the window (MFCC c1.. mean, std and delta std;
    autocorrelation peak; centroid: :func:`sub_window_stats`) is computed once per distinct
    sub-window, and only the values relative to the window's loudest frame (voicing, pitch,
    relative level) per window.  Sums are float64 whatever the frames' precision.
    """
    first = np.asarray(first, dtype=np.int64)
    b = len(first)
    idx, valid = seq_index(n, params)  # (K, m), relative to the window's first frame
    k_steps, m = idx.shape
    if whole_sub_windows(idx, valid):  # shared by their start
        uniq, inv = np.unique(first[:, None] + idx[None, :, 0], return_inverse=True)
        shared = sub_window_stats(frames, uniq[:, None] + np.arange(m), np.ones((len(uniq), m)), params)
        shared = shared[inv.reshape(b, k_steps)]
    else:  # a window shorter than the streaming one (a short clip): its sub-windows are its own
        sub_w = np.broadcast_to(valid.astype(np.float64), (b, k_steps, m)).reshape(-1, m)
        shared = sub_window_stats(frames, (first[:, None, None] + idx[None]).reshape(-1, m), sub_w, params)
        shared = shared.reshape(b, k_steps, -1)
    return seq_assemble(frames, first, n, shared, params)


def whole_sub_windows(idx: np.ndarray, valid: np.ndarray) -> bool:
    """Are the sub-windows of :func:`seq_index` runs of consecutive frames (a full streaming window)?"""
    return bool(valid.all() and (idx == idx[:, :1] + np.arange(idx.shape[1])).all())


def sub_window_stats(frames: np.ndarray, sub_idx: np.ndarray, sub_w: np.ndarray, params: FeatureParams) -> np.ndarray:
    """What a sub-window contributes whatever the window: MFCC c1.. mean, std and delta std, then the
    autocorrelation peak mean and the centroid mean and std; ``(U, 3 * (n_mfcc - 1) + 3)`` float64 for the
    frame indices ``sub_idx`` (U, m) with weights ``sub_w`` (U, m)."""
    n_mfcc, c = params.n_mfcc, params.n_mfcc - 1
    m = sub_idx.shape[1]
    cols = np.r_[1:n_mfcc, n_mfcc + 1, n_mfcc + 3]  # MFCC c1.., autocorrelation peak, centroid
    sub = frames[sub_idx[:, :, None], cols].astype(np.float64, copy=False)  # (U, m, c + 2)
    mean = _wmean(sub, sub_w)
    std = _wstd(sub, sub_w, mean)
    if m > 1:
        dw = sub_w[:, 1:] * sub_w[:, :-1]
        d = sub[:, 1:, :c] - sub[:, :-1, :c]
        dstd = _wstd(d, dw, _wmean(d, dw))
    else:
        dstd = np.zeros((len(sub), c))
    return np.concatenate([mean[:, :c], std[:, :c], dstd, mean[:, c:], std[:, c + 1:]], axis=1)


def seq_assemble(frames: np.ndarray, first: np.ndarray, n: int, shared: np.ndarray,
                 params: FeatureParams) -> np.ndarray:
    """The ``seq`` features of the windows starting at ``first``, from their sub-windows' shared
    statistics ``shared`` (B, K, 3 * (n_mfcc - 1) + 3) and the values relative to each window's loudest frame."""
    n_mfcc, c = params.n_mfcc, params.n_mfcc - 1
    b = len(first)
    idx, valid = seq_index(n, params)
    k_steps = idx.shape[0]
    win = first[:, None] + np.arange(n)  # (B, n): the window's frames, for its loudest level and voicing
    level, peak, log_f0 = (frames[win, n_mfcc + j].astype(np.float64) for j in range(3))
    loud = level > SEQ_SILENCE_DBFS
    top = np.where(loud.any(axis=1), np.where(loud, level, -np.inf).max(axis=1), 0.0)
    voiced = (peak > VOICED_PEAK) & loud & (level > top[:, None] - SEQ_VOICED_REL_DB)
    count = voiced.sum(axis=1)
    fill = np.where(count > 0, np.where(voiced, log_f0, 0.0).sum(axis=1) / np.maximum(count, 1), UNVOICED_LOG_F0)
    w = np.broadcast_to(valid.astype(np.float64), (b, k_steps, idx.shape[1]))
    rel = np.maximum(level - top[:, None], -80.0)[:, idx][..., None]  # (B, K, m, 1)
    vw = w * voiced[:, idx]
    f0s = log_f0[:, idx][..., None]
    rel_mean = _wmean(rel, w)
    f0m = _wmean(f0s, vw)
    has_v = vw.sum(axis=2) > 0
    f0 = np.where(has_v, f0m[..., 0], fill[:, None])
    f0_std = np.where(has_v, _wstd(f0s, vw, f0m)[..., 0], 0.0)
    out = np.empty((b, k_steps, params.seq_dim), dtype=np.float32)
    out[..., : 3 * c] = shared[..., : 3 * c]
    out[..., 3 * c] = vw.sum(axis=2) / np.maximum(w.sum(axis=2), 1e-12)  # voiced fraction
    out[..., 3 * c + 1] = f0
    out[..., 3 * c + 2] = f0_std
    out[..., 3 * c + 3: 3 * c + 6] = shared[..., 3 * c:]  # peak mean, centroid mean and std
    out[..., 3 * c + 6] = rel_mean[..., 0]
    out[..., 3 * c + 7] = _wstd(rel, w, rel_mean)[..., 0]
    return out


def pool_frames(block: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Pooled features of windows of frames ``(B, n, width)`` -> ``(B, *params.shape)``, float32.

    The one pooling code: :func:`pool` is this for one window, the whole-file path
    (:func:`voxstream.offline.batch.pool_windows`) for a block of windows at once."""
    if params.pooling == "seq":
        b, n = block.shape[:2]
        return seq_windows(block.reshape(b * n, -1), np.arange(b) * n, n, params)
    if params.pooling == "mean_std_dstd_prosody":
        extra = _prosody_stats(block[:, :, -PROSODY:].mean(axis=1))
        return np.concatenate([_mfcc_stats(block[:, :, :-PROSODY], "mean_std_dstd"), extra], axis=1).astype(np.float32)
    return _mfcc_stats(block, params.pooling).astype(np.float32)


def seq_pool(frames: np.ndarray, params: FeatureParams) -> np.ndarray:
    """The ``seq`` features of one window's frames: (K, 3 * (n_mfcc - 1) + 8), float32.

    Per sub-window: mean, std and std of frame-to-frame differences of MFCC c1..c(n-1) (c0, the
    level, is left out), then voiced fraction (autocorrelation peak > 0.5 and level within
    35 dB of the window's loudest frame), mean and std of log F0 over voiced frames (the window's
    voiced mean, or about 200 Hz, when the sub-window has none), mean autocorrelation peak, mean and
    std of the spectral centroid (kHz), mean level relative to the window's loudest frame (dB,
    floored at -80) and std of the level.  Nothing depends on the input gain (the mel floor is
    relative too), except at digital silence.
    """
    return pool_frames(frames[None], params)[0]


def pool(frames: np.ndarray, pooling: str, params: FeatureParams | None = None) -> np.ndarray:
    """Window statistics of MFCC frames (rows of :class:`MfccFrames` for this pooling), as float32.

    ``seq`` returns a (K, D) sequence and reads ``params`` (default: ``FeatureParams(pooling="seq")``).
    """
    if len(frames) == 0:
        raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
    p = params if params is not None and params.pooling == pooling else FeatureParams(pooling=pooling)
    return pool_frames(np.asarray(frames)[None], p)[0]


def window_features(samples: np.ndarray, params: FeatureParams, extractor: MfccFrames | None = None) -> np.ndarray:
    """Pooled feature vector of one window of audio at ``params.sample_rate``."""
    extractor = extractor or MfccFrames(params)
    return pool(extractor(samples), params.pooling, params)


def windows(n_samples: int, window: int, hop: int) -> list[tuple[int, int]]:
    """Start/end sample of every streaming window of a signal.

    A signal shorter than one window gives one window over all of it, so a
    short clip still has a label; otherwise windows start every ``hop`` and
    are whole, exactly as the streaming engine forms them.
    """
    if n_samples <= window:
        return [(0, n_samples)]
    return [(s, s + window) for s in range(0, n_samples - window + 1, hop)]


@dataclass
class IncrementalMfcc:
    """Streaming window features: only new frames are computed per push.

    Samples are pushed as they arrive; complete frames are turned into MFCCs
    once, kept in a ring of ``window_frames`` rows, and the window mean (and
    sum of squares for ``mean_std``; also of the frame-to-frame differences
    for ``mean_std_dstd``) is maintained as a running sum.  The
    result equals :func:`window_features` of the last ``window`` samples
    whenever the number of samples seen is aligned to ``hop_length``
    (``tests/test_features.py``).
    """

    params: FeatureParams
    window_samples: int
    extractor: MfccFrames | None = None
    resum_every: int = 4096
    """Frames between exact re-sums, bounding floating-point drift of the running sum."""
    _tail: np.ndarray = field(init=False, repr=False)
    _ring: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        p = self.params
        self.extractor = self.extractor or MfccFrames(p)
        self.window_frames = p.n_frames(self.window_samples)
        if self.window_frames < 1:
            raise ValueError("window shorter than one FFT frame")
        self._need_sq = p.pooling not in ("mean", "seq")  # running sums the pooling reads (the rest are skipped)
        self._need_diff = p.pooling.startswith("mean_std_dstd")
        self.reset()

    def reset(self) -> None:
        """Forget all audio (for example after a gap in the input)."""
        p = self.params
        self._tail = np.zeros(0, dtype=self.extractor.dtype)
        width = p.frame_width
        self._ring = np.zeros((self.window_frames, width), dtype=np.float64)
        self._count = 0  # frames seen in total
        self._sum = np.zeros(width)
        self._sumsq = np.zeros(width)
        self._dsum = np.zeros(width)  # differences between consecutive frames in the window
        self._dsumsq = np.zeros(width)
        self._since_resum = 0
        self._sub_cache: dict[int, np.ndarray] = {}  # seq: sub_window_stats by the absolute index of its first frame

    @property
    def frames_in_window(self) -> int:
        return min(self._count, self.window_frames)

    def push(self, samples: np.ndarray) -> int:
        """Add samples; returns the number of new frames computed."""
        p = self.params
        buf = np.concatenate([self._tail, np.asarray(samples, dtype=self.extractor.dtype)])
        new = self.extractor.mfcc(self.extractor.frame(buf))
        consumed = len(new) * p.hop_length
        self._tail = buf[consumed:].copy()
        if 0 < len(new) < self.window_frames:
            self._add_block(new)
        else:  # a block longer than the window (rare): row by row
            for row in new:
                self._add(row)
        return len(new)

    def _add_block(self, rows: np.ndarray) -> None:
        """:meth:`_add` for ``k < window_frames`` rows at once (vectorised, slices when the ring does not wrap).

        Only the running sums the pooling needs are kept (``mean``: the sum alone).
        """
        w, c, k = self.window_frames, self._count, len(rows)
        s = c % w
        if c >= w and s + k < w:  # the k oldest frames leave; they and their successors are contiguous
            old, nxt = self._ring[s: s + k], self._ring[s + 1: s + k + 1]
        elif c + k > w:  # these overwrite frames idx - w, which leave the window
            idx = c + np.arange(k)
            gone = idx[idx >= w] % w
            old, nxt = self._ring[gone], self._ring[(gone + 1) % w]
        else:
            old = nxt = None
        if old is not None:
            self._sum -= old.sum(axis=0)
            if self._need_sq:
                self._sumsq -= (old * old).sum(axis=0)
            if self._need_diff and w > 1:  # their differences to the next frame (still in the ring) leave too
                d = nxt - old
                self._dsum -= d.sum(axis=0)
                self._dsumsq -= (d * d).sum(axis=0)
        if self._need_diff and w > 1:
            if c == 0:
                d = rows[1:] - rows[:-1]
            else:
                d = np.empty_like(rows)
                d[0] = rows[0] - self._ring[(c - 1) % w]
                np.subtract(rows[1:], rows[:-1], out=d[1:])
            self._dsum += d.sum(axis=0)
            self._dsumsq += (d * d).sum(axis=0)
        if s + k <= w:
            self._ring[s: s + k] = rows
        else:
            self._ring[(c + np.arange(k)) % w] = rows
        self._sum += rows.sum(axis=0)
        if self._need_sq:
            self._sumsq += (rows * rows).sum(axis=0)
        self._count += k
        self._since_resum += k
        if self._since_resum >= self.resum_every:
            self._resum()

    def _add(self, row: np.ndarray) -> None:
        w = self.window_frames
        slot = self._count % w
        if self._count >= w:
            old = self._ring[slot]
            self._sum -= old
            self._sumsq -= old * old
            if w > 1 and self._need_diff:  # the difference from the oldest frame to the next one leaves
                d = self._ring[(slot + 1) % w] - old
                self._dsum -= d
                self._dsumsq -= d * d
        if self._count >= 1 and w > 1 and self._need_diff:
            d = row - self._ring[(self._count - 1) % w]
            self._dsum += d
            self._dsumsq += d * d
        self._ring[slot] = row
        self._sum += row
        self._sumsq += row * row
        self._count += 1
        self._since_resum += 1
        if self._since_resum >= self.resum_every:
            self._resum()

    def _resum(self) -> None:
        """Exact sums of the frames in the window (in time order), dropping accumulated rounding."""
        n, w = self.frames_in_window, self.window_frames
        live = self._ring[:n] if self._count <= w else np.roll(self._ring, -(self._count % w), axis=0)
        diffs = np.diff(live, axis=0)
        self._sum, self._sumsq = live.sum(axis=0), (live * live).sum(axis=0)
        self._dsum, self._dsumsq = diffs.sum(axis=0), (diffs * diffs).sum(axis=0)
        self._since_resum = 0

    def frames(self) -> np.ndarray:
        """The frames currently in the window, oldest first (a copy)."""
        n, w = self.frames_in_window, self.window_frames
        return self._ring[:n].copy() if self._count <= w else np.roll(self._ring, -(self._count % w), axis=0)

    def _seq_features(self) -> np.ndarray:
        """:func:`seq_pool` of the window, each sub-window's :func:`sub_window_stats` computed once (when its
        hop has been heard) and kept while it is in the window: a hop adds one sub-window of K."""
        p, n = self.params, self.frames_in_window
        frames = self.frames()
        idx, valid = seq_index(n, p)
        if n < self.window_frames or not whole_sub_windows(idx, valid):  # the first, shorter windows
            return seq_pool(frames, p)
        first = self._count - n  # the window's first frame, counted from the start of the stream
        starts = [first + int(i) for i in idx[:, 0]]
        missing = [k for k, start in enumerate(starts) if start not in self._sub_cache]
        if missing:
            rows = sub_window_stats(frames, idx[missing], np.ones((len(missing), idx.shape[1])), p)
            self._sub_cache.update(zip((starts[k] for k in missing), rows))
        for start in [s for s in self._sub_cache if s < first]:
            del self._sub_cache[start]
        shared = np.stack([self._sub_cache[start] for start in starts])[None]
        return seq_assemble(frames, np.zeros(1, dtype=np.int64), n, shared, p)[0]

    def features(self) -> np.ndarray:
        """Pooled vector of the frames currently in the window (``seq``: the (K, D) sequence).

        ``seq`` pools the window's frames (each computed once, when its samples arrived) with the
        functions batch features use (:func:`seq_windows`), keeping each sub-window's statistics.
        """
        n = self.frames_in_window
        if n == 0:
            raise ValueError("no complete frame yet")
        if self.params.pooling == "seq":
            return self._seq_features()
        mean = self._sum[: self.params.n_mfcc] / n
        if self.params.pooling == "mean":
            return mean.astype(np.float32)
        var = np.maximum(self._sumsq[: self.params.n_mfcc] / n - mean * mean, 0.0)
        if self.params.pooling == "mean_std":
            return np.concatenate([mean, np.sqrt(var)]).astype(np.float32)
        dstd = np.zeros_like(mean)
        if n > 1:
            dmean = self._dsum[: self.params.n_mfcc] / (n - 1)
            dstd = np.sqrt(np.maximum(self._dsumsq[: self.params.n_mfcc] / (n - 1) - dmean * dmean, 0.0))
        out = [mean, np.sqrt(var), dstd]
        if self.params.pooling == "mean_std_dstd_prosody":
            out.append(_prosody_stats((self._sum[self.params.n_mfcc:] / n)[None])[0])
        return np.concatenate(out).astype(np.float32)
