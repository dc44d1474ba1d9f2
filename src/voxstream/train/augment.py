"""Seeded audio augmentation that imitates real rooms and microphones (training only).

``augment(samples, sample_rate, rng, kind)`` returns a new float32 copy of a clip:

- ``gain``: random gain of -30..+20 dB, capped so the peak stays below full scale (no clipping);
- ``eq``: a cheap microphone: seven-band parametric EQ (+-10 dB), high-pass 50-300 Hz, low-pass 3.5-8 kHz;
- ``telephone``: band-limited to 300-3400 Hz (steep high- and low-pass);
- ``reverb``: a synthetic room (pyroomacoustics through audiomentations' ``RoomSimulator``,
  image-source model, RT60 0.15-0.8 s, microphone 0.15-1.5 m away), length kept;
- ``noise``: pink, brown or white noise (1/f^a, a = 1, 2, 0) at 5-30 dB SNR;
- ``pitch``: pitch shift of -3..+3 semitones (Signalsmith Stretch, formants move with it);
- ``vtlp``: vocal-tract length / speed perturbation: resampled by 0.88-1.12 (pitch, formants and tempo together);
- ``mix``: a room-and-mic chain: each of eq/telephone (one of them), reverb, noise, speaker (pitch or vtlp)
  with probability 0.4-0.5, then a random gain; what most real microphones add at once.

audiomentations draws from numpy's and Python's global generators, so each call seeds them
from ``rng`` (and restores nothing: training is single-threaded here). The same ``rng`` state gives
the same output.  Library and version pins: the ``train`` extra in ``pyproject.toml``.
"""

from __future__ import annotations

import random

import numpy as np

KINDS = ("none", "gain", "eq", "telephone", "reverb", "noise", "pitch", "vtlp", "mix")
GAIN_DB = (-30.0, 20.0)
SNR_DB = (5.0, 30.0)
HEADROOM_DB = 0.1
"""The loudest sample of a gained clip stays this far below full scale."""
NOISE_DECAY_DB = {"white": 0.0, "pink": -3.01, "brown": -6.02}
"""Spectral slope per octave of each noise colour (audiomentations' f_decay)."""


def _seed_globals(rng: np.random.Generator) -> None:
    seed = int(rng.integers(0, 2**31 - 1))
    np.random.seed(seed)
    random.seed(seed)


def random_gain(x: np.ndarray, rng: np.random.Generator, lo: float = GAIN_DB[0], hi: float = GAIN_DB[1]) -> np.ndarray:
    """``x`` times a gain drawn uniformly in dB from [lo, hi], capped so the peak stays below 1.0."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    gain_db = rng.uniform(lo, hi)
    if peak > 0:
        gain_db = min(gain_db, -20.0 * np.log10(peak) - HEADROOM_DB)
    return (x.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32)


def add_noise(
    x: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    colour: str | None = None,
    snr_db: tuple[float, float] = SNR_DB,
) -> np.ndarray:
    """Pink, brown or white noise (random colour unless given) at an SNR drawn from ``snr_db``."""
    from audiomentations import AddColorNoise

    colour = colour or ("pink", "brown", "white")[int(rng.integers(3))]
    decay = NOISE_DECAY_DB[colour]
    _seed_globals(rng)
    t = AddColorNoise(min_snr_db=snr_db[0], max_snr_db=snr_db[1], min_f_decay=decay, max_f_decay=decay, p=1.0)
    return t(samples=x, sample_rate=sample_rate).astype(np.float32)


def _eq(x: np.ndarray, sample_rate: int) -> np.ndarray:
    from audiomentations import Compose, HighPassFilter, LowPassFilter, SevenBandParametricEQ

    return Compose(
        [
            SevenBandParametricEQ(-10.0, 10.0, p=1.0),
            HighPassFilter(50.0, 300.0, p=1.0),
            LowPassFilter(3500.0, min(8000.0, 0.45 * sample_rate), p=1.0),
        ]
    )(samples=x, sample_rate=sample_rate)


def _telephone(x: np.ndarray, sample_rate: int) -> np.ndarray:
    from audiomentations import Compose, HighPassFilter, LowPassFilter

    return Compose([HighPassFilter(300.0, 300.0, 24, 24, p=1.0), LowPassFilter(3400.0, 3400.0, 24, 24, p=1.0)])(
        samples=x, sample_rate=sample_rate
    )


def _reverb(x: np.ndarray, sample_rate: int) -> np.ndarray:
    from audiomentations import RoomSimulator

    room = RoomSimulator(
        min_target_rt60=0.15,
        max_target_rt60=0.8,
        calculation_mode="rt60",
        use_ray_tracing=False,
        max_order=8,
        min_mic_distance=0.15,
        max_mic_distance=1.5,
        leave_length_unchanged=True,
        p=1.0,
    )
    y = room(samples=x, sample_rate=sample_rate)
    # keep the dry level: a room should colour and smear, gain is another lever
    return y * (np.sqrt(np.mean(x.astype(np.float64) ** 2)) / max(np.sqrt(np.mean(y.astype(np.float64) ** 2)), 1e-12))


def _pitch(x: np.ndarray, sample_rate: int) -> np.ndarray:
    from audiomentations import PitchShift

    return PitchShift(-3.0, 3.0, method="signalsmith_stretch", p=1.0)(samples=x, sample_rate=sample_rate)


def _vtlp(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    import soxr

    factor = rng.uniform(0.88, 1.12)
    return soxr.resample(x, sample_rate, sample_rate / factor)


def _one(x: np.ndarray, sample_rate: int, rng: np.random.Generator, kind: str) -> np.ndarray:
    if kind == "gain":
        return random_gain(x, rng)
    if kind == "noise":
        return add_noise(x, sample_rate, rng)
    if kind == "vtlp":
        return _vtlp(x, sample_rate, rng)
    _seed_globals(rng)
    return {"eq": _eq, "telephone": _telephone, "reverb": _reverb, "pitch": _pitch}[kind](x, sample_rate)


def augment(samples: np.ndarray, sample_rate: int, rng: np.random.Generator, kind: str = "mix") -> np.ndarray:
    """A new augmented float32 copy of mono ``samples`` (see the module docstring for ``kind``)."""
    if kind not in KINDS:
        raise ValueError(f"augment kind {kind!r}: expected one of {KINDS}")
    x = np.ascontiguousarray(samples, dtype=np.float32)
    if kind == "none" or len(x) == 0:
        return x.copy()
    if kind != "mix":
        return np.ascontiguousarray(_one(x, sample_rate, rng, kind), dtype=np.float32)
    if rng.random() < 0.5:
        x = _one(x, sample_rate, rng, "eq" if rng.random() < 0.75 else "telephone")
    if rng.random() < 0.4:
        x = _one(x, sample_rate, rng, "reverb")
    if rng.random() < 0.5:
        x = _one(x, sample_rate, rng, "pitch" if rng.random() < 0.5 else "vtlp")
    if rng.random() < 0.5:
        x = _one(np.asarray(x, dtype=np.float32), sample_rate, rng, "noise")
    return random_gain(np.asarray(x, dtype=np.float32), rng)
