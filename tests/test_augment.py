"""Training augmentation (src/voxstream/train/augment.py): seeded, level-safe, and each kind does what it says."""

import numpy as np
import pytest

pytest.importorskip("audiomentations")
from voxstream.train.augment import KINDS, augment, random_gain

SR = 16000


def clip(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A harmonic 140 Hz tone in syllables plus a little noise, peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 30)) * np.clip(np.sin(2 * np.pi * 3 * t), 0, None)
    y = y + 0.01 * rng.normal(size=len(t))
    return (0.5 * y / np.abs(y).max()).astype(np.float32)


def band_fraction(y: np.ndarray, lo: float, hi: float) -> float:
    p = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / SR)
    return float(p[(f >= lo) & (f <= hi)].sum() / p.sum())


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_copy(kind):
    """Every kind is deterministic for a seed, returns finite float32, and (but none) changes the clip."""
    y = clip()
    a = augment(y, SR, np.random.default_rng(1), kind)
    b = augment(y, SR, np.random.default_rng(1), kind)
    assert a.dtype == np.float32 and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    if kind != "none":
        assert len(a) != len(y) or np.abs(a - y).max() > 1e-3


def test_gain_stays_in_range_and_never_clips():
    """random_gain draws in -30..+20 dB but keeps the peak below full scale."""
    y = clip()
    gains = []
    for seed in range(200):
        z = random_gain(y, np.random.default_rng(seed))
        assert np.abs(z).max() < 1.0
        gains.append(20 * np.log10(np.abs(z).max() / np.abs(y).max()))
    gains = np.array(gains)
    assert gains.min() >= -30.0 - 1e-3 and gains.max() <= 6.03 and gains.min() < -25 and (gains > 5.9).mean() > 0.2


def test_telephone_removes_the_low_and_high_bands():
    """telephone keeps < 5 % of the energy below 200 Hz and above 4 kHz (the source has ~30 % there)."""
    y = clip()
    outside = band_fraction(y, 0, 200) + band_fraction(y, 4000, SR / 2)
    z = augment(y, SR, np.random.default_rng(0), "telephone")
    assert outside > 0.25 and band_fraction(z, 0, 200) + band_fraction(z, 4000, SR / 2) < 0.05


def test_noise_lands_in_the_snr_range():
    """noise adds 5..30 dB SNR noise: the residual's power is within that range of the clip's."""
    y = clip()
    for seed in range(10):
        z = augment(y, SR, np.random.default_rng(seed), "noise")
        snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((z - y).astype(np.float64) ** 2))
        assert 4.5 < snr < 30.5


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="kind"):
        augment(clip(), SR, np.random.default_rng(0), "chorus")
