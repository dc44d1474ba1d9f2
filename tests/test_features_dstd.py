"""Tests of the "mean_std_dstd" pooling (frame-difference statistics) in src/voxstream/engine/features.py."""

import numpy as np
import pytest

from voxstream.engine.features import FeatureParams, IncrementalMfcc, MfccFrames, pool, window_features


def _signal(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    chirp = np.sin(2 * np.pi * (200 + 300 * t) * t) * (0.3 + 0.2 * np.sin(2 * np.pi * 3 * t))
    return chirp + 0.01 * rng.standard_normal(len(t))


def test_dstd_is_the_std_of_frame_differences():
    """The third block of mean_std_dstd is the std over time of frames[t] - frames[t-1]; the first two equal mean_std."""
    params = FeatureParams(pooling="mean_std_dstd")
    frames = MfccFrames(params)(_signal())
    vec = pool(frames, "mean_std_dstd")
    assert vec.shape == (params.dim,) == (120,)
    np.testing.assert_allclose(vec[:80], pool(frames, "mean_std"), rtol=1e-6)
    np.testing.assert_allclose(vec[80:], np.diff(frames, axis=0).std(axis=0), rtol=1e-5)


def test_dstd_of_one_frame_is_zero():
    """A window of a single frame has no differences, so its dstd block is zeros (not NaN)."""
    vec = window_features(_signal()[:512], FeatureParams(pooling="mean_std_dstd"))
    assert np.all(vec[80:] == 0) and np.all(np.isfinite(vec))


@pytest.mark.parametrize("block", [256, 1600, 4000])
@pytest.mark.parametrize("resum_every", [4096, 5])
def test_incremental_dstd_equals_batch(block, resum_every):
    """IncrementalMfcc's running dstd equals window_features of the last window, through ring wrap-around and re-sums."""
    params = FeatureParams(pooling="mean_std_dstd")
    x, window = _signal(4.0, seed=block), 8000
    inc = IncrementalMfcc(params, window, resum_every=resum_every)
    extractor, pos, checked = MfccFrames(params), 0, 0
    for start in range(0, len(x), block):
        inc.push(x[start:start + block])
        pos = min(start + block, len(x))
        if pos % params.hop_length == 0 and pos >= params.n_fft:
            ref = window_features(x[max(0, pos - window):pos], params, extractor)
            np.testing.assert_allclose(inc.features(), ref, rtol=1e-4, atol=1e-3)
            checked += 1
    assert checked >= 5
