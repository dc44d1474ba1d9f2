"""The fields and constants of the features: the base every feature module reads, importing none of them.

:class:`FeatureFields` holds and validates the parameters;
:class:`voxstream.engine.params.FeatureParams` (what the card holds and every
caller builds) adds what its pooling kind (:mod:`.kinds`) derives from them.
The split keeps the imports one way: the kinds and :mod:`.seq` read these
fields, and ``FeatureParams`` reads the kinds.
"""

from __future__ import annotations

from dataclasses import dataclass

POOLINGS = ("mean", "mean_std_dstd_prosody", "seq")
"""The poolings of the shipped models (models/*.json) and registered architectures (voxstream.train.archs);
each is a kind in :data:`voxstream.engine.kinds.KINDS`."""
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
"""Level-free prosody values per sub-window of the ``seq`` pooling (see :mod:`voxstream.engine.seq`)."""
SEQ_FLOOR = 1e-8
"""``seq``: mel power floor relative to the frame's loudest band (80 dB), so the floor moves with the gain."""
SEQ_VOICED_REL_DB = 35.0
"""``seq``: a voiced frame is at most this far below the window's loudest frame."""
SEQ_SILENCE_DBFS = -110.0
"""``seq``: frames below this level (digital silence) are never voiced and do not set the window's loudest level."""
SEQ_ZERO_FRAME_DBFS = -299.0
"""``seq``: a frame at or below this level has only exact zeros (its level is floored at -300 dB). Such frames
are left out of a sub-window's statistics when it has other frames: what a recording with silent gaps, a muted
or noise-gated source gives, and no training clip holds (a real microphone's floor is far above it)."""


@dataclass(frozen=True)
class FeatureFields:
    """Every parameter of the features (validated); :class:`~voxstream.engine.params.FeatureParams` adds what
    its pooling kind derives from them and is what the model card holds."""

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
    """How frames of a window become one vector: "mean" (the n_mfcc frame means, the seed) or
    "mean_std_dstd_prosody" (mean, standard deviation over time, and standard deviation of the
    frame-to-frame differences ``frames[t] - frames[t-1]`` of the MFCCs (zeros for a single frame),
    3 x n_mfcc, then 8 prosody values from the same power spectra: voiced-frame fraction, mean and std
    of log F0 over voiced frames (autocorrelation pitch, 75-400 Hz), mean autocorrelation peak, mean
    and std of the spectral centroid in kHz, mean and std of the frame level in dBFS) or "seq" (a
    sequence: the window cut into ``seq_steps`` sub-windows, each giving level-free statistics, see
    :mod:`voxstream.engine.seq`; shape ``(seq_steps, 3 * (n_mfcc - 1) + 8)``)."""
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
    def seq_dim(self) -> int:
        """Values per sub-window of the ``seq`` pooling: MFCC c1.. mean, std, delta std, and 8 prosody values."""
        return 3 * (self.n_mfcc - 1) + SEQ_PROSODY

    def n_frames(self, n_samples: int) -> int:
        """Number of whole (uncentred) frames in ``n_samples`` samples."""
        if n_samples < self.n_fft:
            return 0
        return 1 + (n_samples - self.n_fft) // self.hop_length
