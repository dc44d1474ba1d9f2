"""The one feature code against librosa, and streaming (incremental) features against batch ones."""

import logging

import librosa
import numpy as np
import pytest
import scipy.fft

from voxstream.engine import frames as F
from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import window_features
from voxstream.engine.ring import FrameRing

_LOGGER = logging.getLogger(__name__)
SR = 16000


def signal(seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Noise plus a chirp: broadband and changing, like speech."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * (200 + 600 * t) * t) + 0.05 * rng.normal(size=len(t))).astype(np.float32)


def librosa_mfcc(y: np.ndarray, p: FeatureParams) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=y, sr=p.sample_rate, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels, center=False, power=2.0
    )
    S = librosa.power_to_db(mel, amin=p.amin, top_db=None)
    return librosa.feature.mfcc(S=S, n_mfcc=p.n_mfcc, dct_type=2, norm="ortho").T


@pytest.mark.parametrize("params", [FeatureParams(), FeatureParams(n_fft=400, n_mels=64, n_mfcc=20)])
def test_mfcc_matches_librosa(params):
    """MfccFrames equals librosa.feature.mfcc (center=False, top_db=None) to 1e-9 dB; the max diff is logged."""
    y = signal().astype(np.float64)
    ours, ref = MfccFrames(params)(y), librosa_mfcc(y, params)
    diff = float(np.max(np.abs(ours - ref)))
    _LOGGER.info("max |ours - librosa| = %.3g (params %s)", diff, params)
    print(f"max abs diff to librosa: {diff:.3g}")
    assert ours.shape == ref.shape and diff < 1e-9


def test_numpy_filterbank_equals_librosa():
    """The runtime's numpy Hann window, Slaney mel filterbank and DCT equal librosa's and scipy's."""
    for sr, n_fft, n_mels in [(16000, 512, 40), (22050, 1024, 128), (8000, 256, 26)]:
        ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, norm="slaney", htk=False)
        np.testing.assert_array_equal(F._slaney_mel(sr, n_fft, n_mels, 0.0, None), ref)
        np.testing.assert_array_equal(F._hann_periodic(n_fft), librosa.filters.get_window("hann", n_fft, fftbins=True))
        dct = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)
        assert np.max(np.abs(F._dct2_ortho(n_mels) - dct)) < 1e-13


@pytest.mark.parametrize("pooling", ["mean", "mean_std_dstd_prosody"])
@pytest.mark.parametrize("block", [256, 1024, 1600])
def test_incremental_equals_whole_window(pooling, block):
    """Pushing blocks of 256/1024/1600 samples gives window_features of the last 2 s wherever frames align:
    the ring pools its float64 frames with the same code, so they are equal to float64 rounding (1e-9)."""
    p = FeatureParams(pooling=pooling)
    window = 2 * SR
    y = signal(4.0)
    inc = FrameRing(p, window)
    extractor = MfccFrames(p)
    checked = 0
    for start in range(0, len(y), block):
        inc.push(y[start : start + block])
        end = min(start + block, len(y))
        if end >= window and end % p.hop_length == 0:
            ref = window_features(y[end - window : end], p, extractor)
            np.testing.assert_allclose(inc.features(), ref, rtol=0, atol=1e-9)
            checked += 1
    assert checked >= 3


def test_runtime_features_do_not_import_librosa():
    """Computing features loads neither librosa nor scipy (the Pi's memory budget)."""
    import subprocess
    import sys

    code = (
        "import sys; from voxstream.engine.pooling import *; from voxstream.engine.params import POOLINGS; "
        "from voxstream.engine.ring import *;"
        "from voxstream.engine.params import FeatureParams; import numpy as np;"
        "[window_features(np.zeros(16000, np.float32) + 0.1, FeatureParams(pooling=p)) for p in POOLINGS];"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('librosa', 'scipy', 'numba')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
