"""Copies of a clip: training augmentation and the test conditions of the evaluation protocols.

A variant is a name; :func:`transform` makes it from the original samples
with a generator seeded per clip, so every copy is reproducible:

- ``orig``: the clip as recorded.
- ``speed0.9``, ``speed1.1``, ...: playback speed by resampling (pitch, formants and tempo together).
- ``noise``: white or brown noise (50/50) at 10-30 dB SNR.
- ``aug1``, ``aug2``, ...: the room-and-microphone chain of :mod:`.augment` (one random draw per copy).
- test conditions: ``gain-20`` (-20 dB), ``gain+20`` (peak-normalised to -0.1 dBFS, a hot microphone),
  ``noise20`` (pink noise at 20 dB SNR).
"""

from __future__ import annotations

import re

import numpy as np

CONDITIONS = ("gain-20", "gain+20", "noise20")


def check(variant: str) -> str:
    if variant in ("orig", "noise", *CONDITIONS) or re.fullmatch(r"speed\d+(\.\d+)?|aug\d+", variant):
        return variant
    raise ValueError(f"variant {variant!r}: expected orig, noise, speedF, augN or one of {CONDITIONS}")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    scale = _rms(x) / 10 ** (snr_db / 20) / max(_rms(noise), 1e-12)
    return (x + scale * noise).astype(np.float32)


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """1/f power noise by shaping white noise in the frequency domain."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    return np.fft.irfft(spec / np.sqrt(f), n=n)


def brown_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    noise = np.cumsum(rng.standard_normal(n))
    return noise - np.convolve(noise, np.ones(64) / 64, mode="same")


def transform(x: np.ndarray, variant: str, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The ``variant`` copy of mono float32 samples ``x``."""
    check(variant)
    if variant == "orig":
        return x
    if variant.startswith("speed"):
        import soxr

        return soxr.resample(x, sample_rate, sample_rate / float(variant[5:])).astype(np.float32)
    if variant == "noise":
        noise = rng.standard_normal(len(x)) if rng.random() < 0.5 else brown_noise(len(x), rng)
        return add_noise(x, noise, rng.uniform(10.0, 30.0))
    if variant == "gain-20":
        return (x * 10 ** (-20 / 20)).astype(np.float32)
    if variant == "gain+20":
        return (x * (10 ** (-0.1 / 20) / max(float(np.max(np.abs(x))), 1e-9))).astype(np.float32)
    if variant == "noise20":
        return add_noise(x, pink_noise(len(x), rng), 20.0)
    from voxstream.train.augment import augment  # aug<N>: the room-and-microphone chain

    return np.asarray(augment(x, sample_rate, rng, "mix"), dtype=np.float32)
