"""The frame-difference block ("dstd") of the "mean_std_dstd_prosody" pooling (src/voxstream/engine/pooling.py)."""

import numpy as np
import pytest

from feature_tolerance import RTOL_FLOAT32, assert_features_close, max_log_mel
from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import pool, window_features
from voxstream.engine.ring import FrameRing

PARAMS = FeatureParams(pooling="mean_std_dstd_prosody")


def _signal(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    chirp = np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t))
    return chirp + 0.01 * rng.standard_normal(len(t))


def test_dstd_is_the_std_of_frame_differences():
    """Values 0-119: MFCC mean, std over time, then the std of frames[t] - frames[t-1] (numpy's, in float64;
    the features are float32, so they agree to one float32 rounding)."""
    frames = MfccFrames(PARAMS)(_signal())[:, :40]
    vec = pool(MfccFrames(PARAMS)(_signal()), PARAMS)
    assert vec.shape == (PARAMS.dim,) == (128,)
    want = np.concatenate([frames.mean(axis=0), frames.std(axis=0), np.diff(frames, axis=0).std(axis=0)])
    np.testing.assert_allclose(vec[:120], want.astype(np.float32), rtol=RTOL_FLOAT32, atol=0)


def test_dstd_of_one_frame_is_zero():
    """A window of a single frame has no differences, so its dstd block is zeros (not NaN)."""
    vec = window_features(_signal()[:512], PARAMS)
    assert np.all(vec[80:120] == 0) and np.all(np.isfinite(vec))


@pytest.mark.parametrize("block", [256, 1600, 4000])
def test_incremental_dstd_equals_batch(block):
    """The ring's features equal window_features of the last window, through ring wrap-around (float64 spectra:
    within the rounding bound of tests/feature_tolerance.py)."""
    x, window = _signal(4.0, seed=block), 8000
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
