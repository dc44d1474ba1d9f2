"""Tests of the "mean_std_dstd_prosody" pooling (pitch, centroid and level statistics)
(src/voxstream/engine/frames.py, pooling.py)."""

import numpy as np
import pytest

from feature_tolerance import RTOL_FLOAT32, assert_features_close, max_log_mel
from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import PROSODY, FeatureParams
from voxstream.engine.pooling import pool, window_features
from voxstream.engine.ring import FrameRing

PARAMS = FeatureParams(pooling="mean_std_dstd_prosody")
SR = 16000


def _harmonic(f0: float, seconds: float = 2.0, level: float = 0.3) -> np.ndarray:
    """A harmonic tone (5 partials) at f0 Hz with a little noise."""
    t = np.arange(int(seconds * SR)) / SR
    x = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return level * x / np.abs(x).max() + 1e-3 * np.random.default_rng(0).standard_normal(len(t))


def _gliding(seconds: float = 4.0) -> np.ndarray:
    """Voiced glides with pauses and noise, so voicing, pitch and level change within a window."""
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 80 * np.sin(2 * np.pi * 0.7 * t)
    x = np.sin(2 * np.pi * np.cumsum(f0) / SR) * (np.sin(2 * np.pi * 1.3 * t) > -0.3)
    return 0.3 * x + 0.01 * np.random.default_rng(1).standard_normal(len(t))


def test_layout_mfcc_stats_then_prosody():
    """The first 120 values are the MFCC mean, std and frame-difference std; 8 prosody values follow (dim 128)."""
    x = _gliding(2.0)
    vec = window_features(x, PARAMS)
    assert vec.shape == (PARAMS.dim,) == (3 * PARAMS.n_mfcc + PROSODY,) == (128,)
    m = MfccFrames(PARAMS)(x)[:, :40]
    want = np.concatenate([m.mean(axis=0), m.std(axis=0), np.diff(m, axis=0).std(axis=0)]).astype(np.float32)
    np.testing.assert_allclose(vec[:120], want, rtol=RTOL_FLOAT32, atol=0)
    assert MfccFrames(PARAMS)(x).shape[1] == PARAMS.frame_width == 48


@pytest.mark.parametrize("f0", [110.0, 220.0, 330.0])
def test_pitch_of_a_harmonic_tone(f0):
    """A steady harmonic tone is all voiced, its mean log F0 is within 3 % of the true F0 and barely moves."""
    voiced, log_f0, log_f0_std, peak = window_features(_harmonic(f0), PARAMS)[120:124]
    assert voiced == 1.0 and peak > 0.9
    assert abs(np.exp(log_f0) / f0 - 1) < 0.03 and log_f0_std < 0.03


def test_noise_and_silence_are_unvoiced():
    """White noise has (almost) no voiced frames; digital silence none, with the default log F0 and finite values."""
    noise = 0.1 * np.random.default_rng(2).standard_normal(2 * SR)
    assert window_features(noise, PARAMS)[120] < 0.05
    silent = window_features(np.zeros(2 * SR), PARAMS)
    assert silent[120] == 0 and silent[121] == pytest.approx(5.3) and np.all(np.isfinite(silent))


def test_centroid_and_level():
    """A 1 kHz sine at amplitude 0.5 has its centroid near 1 kHz and a level near -9 dBFS (mean square 0.125)."""
    t = np.arange(2 * SR) / SR
    vec = window_features(0.5 * np.sin(2 * np.pi * 1000 * t), PARAMS)
    assert vec[124] == pytest.approx(1.0, abs=0.05) and vec[125] < 0.01
    assert vec[126] == pytest.approx(10 * np.log10(0.125), abs=0.5) and vec[127] < 0.1


def test_pool_is_column_statistics():
    """pool() of prosody frames: voiced fraction, voiced-only mean/std of log F0, and means/stds of the columns."""
    frames = MfccFrames(PARAMS)(_gliding(2.0))
    extra = pool(frames, PARAMS)[120:]
    cols = frames[:, 40:]
    voiced = cols[:, 0] > 0
    log_f0 = cols[voiced, 1]  # voiced * log F0 on voiced frames
    expected = [
        voiced.mean(),
        log_f0.mean(),
        log_f0.std(),
        cols[:, 3].mean(),
        cols[:, 4].mean(),
        np.sqrt(cols[:, 5].mean() - cols[:, 4].mean() ** 2),
        cols[:, 6].mean(),
        cols[:, 6].std(),
    ]
    np.testing.assert_allclose(extra, expected, rtol=1e-4, atol=1e-4)
    assert 0.3 < voiced.mean() < 0.95


@pytest.mark.parametrize("block", [256, 1600, 4000])
def test_incremental_prosody_equals_batch(block):
    """FrameRing gives window_features of the last window for the prosody pooling too (ring wrap-around;
    within the rounding bound of tests/feature_tolerance.py)."""
    x, window = _gliding(4.0), 2 * SR
    inc = FrameRing(PARAMS, window)
    extractor, checked = MfccFrames(PARAMS), 0
    db_max = max_log_mel(extractor, x)
    for start in range(0, len(x), block):
        inc.push(x[start : start + block])
        pos = min(start + block, len(x))
        if pos % PARAMS.hop_length == 0 and pos >= PARAMS.n_fft:
            ref = window_features(x[max(0, pos - window) : pos], PARAMS, extractor)
            assert_features_close(inc.features(), ref, PARAMS, db_max)
            checked += 1
    assert checked >= 5
