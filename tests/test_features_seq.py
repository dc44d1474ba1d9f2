"""The ``seq`` pooling: a (K, D) sequence of level-free sub-window statistics, batch = streaming, gain-free."""

import shutil
import subprocess

import numpy as np
import pytest

from feature_tolerance import assert_features_close, max_log_mel
from voxstream.engine.frames import MfccFrames
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import pool, window_features
from voxstream.engine.ring import FrameRing
from voxstream.offline.batch import pool_windows

SR = 16000
GAINS_DB = (-30.0, -20.0, -10.0, 10.0, 20.0)
SHIPPED = {"dtype": "float32", "pitch_decimation": 2}
"""The shipped LSTM's further feature fields (src/voxstream/train/archs.py); every property below holds for both."""
VARIANTS = pytest.mark.parametrize("extra", [{}, SHIPPED], ids=["float64", "float32-decimated"])


def speechlike(seconds: float = 4.0, seed: int = 0) -> np.ndarray:
    """Harmonic tone (F0 150 Hz with 5 % vibrato, 14 harmonics) in 4 Hz syllables, pauses and a noise floor."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(150.0 * (1 + 0.05 * np.sin(2 * np.pi * 5 * t))) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 15))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2
    y = 0.1 * voice * envelope + 0.003 * rng.normal(size=len(t))
    return (y / np.abs(y).max() * 0.05).astype(np.float32)  # peak -26 dBFS: +20 dB stays below full scale


def test_shape_and_card_dict():
    """seq gives (seq_steps, 3*(n_mfcc-1)+8); dim is the flat length; seq_steps only enters seq cards."""
    p = FeatureParams(pooling="seq")
    assert p.shape == (8, 125) and p.dim == 1000
    assert FeatureParams(pooling="seq", seq_steps=4, n_mfcc=20).shape == (4, 65)
    assert FeatureParams().shape == (40,) and "seq_steps" not in FeatureParams().to_dict()
    assert FeatureParams.from_dict(p.to_dict()) == p
    x = window_features(speechlike(2.0), p)
    assert x.shape == p.shape and x.dtype == np.float32 and np.all(np.isfinite(x))


@pytest.mark.parametrize("seconds", [0.05, 0.5, 1.3, 2.0])
def test_short_windows_keep_the_shape(seconds):
    """A clip shorter than the window (one window over all of it) still gives K finite steps."""
    p = FeatureParams(pooling="seq")
    x = window_features(speechlike(seconds), p)
    assert x.shape == p.shape and np.all(np.isfinite(x))


@VARIANTS
@pytest.mark.parametrize("block", [256, 1024, 1600])
def test_incremental_equals_batch(block, extra):
    """FrameRing.features() equals window_features of the last 2 s wherever frames align, within the bound
    of tests/feature_tolerance.py (the matrix products round differently for other numbers of frames, in
    an order that depends on the CPU)."""
    p = FeatureParams(pooling="seq", **extra)
    window, y = 2 * SR, speechlike(5.0)
    inc, extractor = FrameRing(p, window), MfccFrames(p)
    db_max = max_log_mel(extractor, y)
    checked = 0
    for start in range(0, len(y), block):
        inc.push(y[start : start + block])
        end = min(start + block, len(y))
        if end % p.hop_length == 0 and end >= p.n_fft:
            ref = window_features(y[max(0, end - window) : end], p, extractor)
            assert_features_close(inc.features(), ref, p, db_max)
            checked += 1
    assert checked >= 5


@VARIANTS
@pytest.mark.parametrize("gain_db", GAINS_DB)
def test_gain_does_not_change_the_features(gain_db, extra):
    """Scaling speech-like audio by -30..+20 dB moves no seq value by more than 1e-3 (the old pooling moves by dB)."""
    y = speechlike()
    scaled = (y.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32)
    assert np.abs(scaled).max() < 1.0
    p = FeatureParams(pooling="seq", **extra)
    for start in range(0, len(y) - 2 * SR + 1, 4000):
        a = window_features(y[start : start + 2 * SR], p)
        b = window_features(scaled[start : start + 2 * SR], p)
        assert np.abs(a - b).max() < 1e-3
    old = FeatureParams(pooling="mean_std_dstd_prosody")
    assert np.abs(window_features(y[: 2 * SR], old) - window_features(scaled[: 2 * SR], old)).max() > 5.0


@VARIANTS
def test_prosody_follows_the_signal(extra):
    """Voiced fraction and F0 track the voice (about 150 Hz in syllables), not the pauses or pure noise."""
    p = FeatureParams(pooling="seq", **extra)
    x = window_features(speechlike(2.0), p)
    voiced, log_f0 = x[:, -8], x[:, -7]
    assert 0.2 < voiced.mean() < 0.9
    assert np.all(np.abs(np.exp(log_f0[voiced > 0.3]) - 150) < 15)
    noise = np.random.default_rng(1).normal(scale=0.01, size=2 * SR).astype(np.float32)
    assert window_features(noise, p)[:, -8].max() < 0.1


@pytest.mark.parametrize("f0", [80.0, 120.0, 190.0, 260.0, 380.0])
def test_decimated_pitch_is_as_close_as_full_rate(f0):
    """The 0-4 kHz pitch (parabola-refined lag at 8 kHz) of a steady harmonic tone is within 1 % of F0 in
    every frame, and no further off than the full-rate pitch (whose lag is rounded to a 16 kHz sample)."""
    t = np.arange(SR) / SR
    y = (0.05 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 12))).astype(np.float32)
    errors = {}
    for name, extra in (("full", {}), ("decimated", SHIPPED)):
        p = FeatureParams(pooling="seq", **extra)
        frames = MfccFrames(p)(y)
        errors[name] = np.abs(np.exp(frames[:, p.n_mfcc + 2]) / f0 - 1).max()
        assert np.median(frames[:, p.n_mfcc + 1]) > 0.8  # voiced (the threshold is 0.5)
    assert errors["decimated"] < 0.01
    assert errors["decimated"] <= errors["full"] + 0.001


def test_card_fields_and_bad_values():
    """dtype and pitch_decimation enter a card only when not the default; a bad value is one clear error."""
    p = FeatureParams(pooling="seq", **SHIPPED)
    assert {"dtype": "float32", "pitch_decimation": 2}.items() <= p.to_dict().items()
    assert FeatureParams.from_dict(p.to_dict()) == p
    assert not {"dtype", "pitch_decimation"} & set(FeatureParams(pooling="seq").to_dict())
    with pytest.raises(ValueError, match="features.dtype: expected one of"):
        FeatureParams(dtype="float16")
    with pytest.raises(ValueError, match="features.pitch_decimation: expected 1, 2 or 4"):
        FeatureParams(pitch_decimation=3)


@VARIANTS
def test_windows_of_a_file_equal_each_window_pooled_alone(extra):
    """seq_windows shares sub-window statistics between the windows of a file; the result is exactly
    each window's frames pooled on their own (the live path)."""
    p = FeatureParams(pooling="seq", **extra)
    frames = MfccFrames(p)(speechlike(6.0))
    n = p.n_frames(2 * SR)
    first = np.arange(0, len(frames) - n + 1, 25)
    together = pool_windows(frames, first, n, p)
    alone = np.stack([pool(frames[f : f + n], p) for f in first])
    assert len(first) == 17
    np.testing.assert_array_equal(together, alone)


def test_pool_of_frames_is_the_file_path_with_one_window():
    """pool(frames, params) equals the file path (pool_windows) with one window: one code path for batch and
    stream; pool reads the params it is given (seq_steps=4 here), and refuses frames of another pooling's width
    instead of pooling them."""
    p = FeatureParams(pooling="seq", seq_steps=4)
    frames = MfccFrames(p)(speechlike(2.0))
    assert pool(frames, p).shape == (4, 125)
    np.testing.assert_array_equal(pool(frames, p), pool_windows(frames, np.zeros(1, int), len(frames), p)[0])
    with pytest.raises(ValueError, match="frames of shape"):
        pool(frames, FeatureParams(pooling="mean_std_dstd_prosody"))


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("gain_db", (-30.0, 20.0))
def test_gain_free_on_espeak_speech(tmp_path, gain_db):
    """Real synthetic speech (espeak-ng, resampled to 16 kHz) at -30 and +20 dB: seq moves by < 0.01.

    Looser than the tone test: espeak's digital-silence gaps, resampled, leave near-zero frames whose
    float32 rounding (not the gain) moves their autocorrelation peak by ~2e-3."""
    import soundfile as sf
    import soxr

    wav = tmp_path / "s.wav"
    subprocess.run(
        ["espeak-ng", "-w", str(wav), "Kids are talking by the door, dogs are sitting by the door."],
        check=True,
        capture_output=True,
        timeout=60,
    )
    y, sr = sf.read(wav, dtype="float32")
    y = soxr.resample(y, sr, SR).astype(np.float32)
    y = y / np.abs(y).max() * 0.09
    scaled = (y.astype(np.float64) * 10 ** (gain_db / 20)).astype(np.float32)
    p = FeatureParams(pooling="seq")
    a, b = window_features(y[: 2 * SR], p), window_features(scaled[: 2 * SR], p)
    assert np.abs(a - b).max() < 0.01


@VARIANTS
def test_live_window_keeps_its_sub_windows(extra):
    """Live, each 0.25 s hop computes the statistics of one new sub-window and reuses the other 7: the
    features equal the window's frames pooled afresh, exactly, hop after hop (and after a reset)."""
    p = FeatureParams(pooling="seq", **extra)
    inc, y, hop = FrameRing(p, 2 * SR), speechlike(6.0), SR // 4
    for _attempt in range(2):
        full = 0
        for start in range(0, len(y), hop):
            inc.push(y[start : start + hop])
            got = inc.features()
            np.testing.assert_array_equal(got, pool(inc.frames(), p))
            if inc.frames_in_window == inc.window_frames:
                full += 1
                assert len(inc._pooling.kept) == p.seq_steps  # the window's 8 sub-windows, no more
        assert full == 17
        inc.reset()


def zero_gapped(seconds: float = 6.0, gap_s: float = 0.6, every_s: float = 1.7) -> np.ndarray:
    """speechlike() with stretches of exact zeros (a file's silent gaps, a muted source) every ``every_s``."""
    y = speechlike(seconds).copy()
    for start in np.arange(0.45, seconds - gap_s, every_s):
        y[int(start * SR) : int((start + gap_s) * SR)] = 0.0
    return y


@VARIANTS
def test_frames_of_exact_zeros_leave_their_sub_window(extra):
    """A sub-window whose first or last frames are exact zeros has the statistics of its other frames alone;
    one of nothing but zeros keeps all its frames (as before); frames that are not all zeros always count."""
    from voxstream.engine.params import SEQ_ZERO_FRAME_DBFS
    from voxstream.engine.seq import sub_window_stats

    p = FeatureParams(pooling="seq", **extra)
    frames = MfccFrames(p)(zero_gapped())
    zero = frames[:, p.n_mfcc] <= SEQ_ZERO_FRAME_DBFS
    assert 20 < zero.sum() < len(zero) - 100  # gaps of zeros, and speech
    m, mixed, checked = 12, 0, 0
    for a in range(0, len(frames) - m):
        rows = np.arange(a, a + m)
        z = zero[rows]
        got = sub_window_stats(frames, rows[None], np.ones((1, m)), p)[0]
        if z.all() or not z.any():
            want = sub_window_stats(frames, rows[None], np.ones((1, m)), p)[0]
        elif z[0] == z[-1]:  # zeros in the middle or at both ends: not a case of one gap and speech
            continue
        else:
            keep = rows[~z]
            want = sub_window_stats(frames, keep[None], np.ones((1, len(keep))), p)[0]
            mixed += 1
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
        checked += 1
    assert mixed >= 10 and checked > 100


@VARIANTS
def test_zero_gaps_stream_like_the_batch_and_stay_gain_free(extra):
    """With exact-zero gaps the live ring still equals the batch windows, and gain still changes nothing."""
    p = FeatureParams(pooling="seq", **extra)
    y = zero_gapped()
    inc, extractor = FrameRing(p, 2 * SR), MfccFrames(p)
    db_max = max_log_mel(extractor, y)
    checked = 0
    for start in range(0, len(y), 1600):
        inc.push(y[start : start + 1600])
        end = min(start + 1600, len(y))
        if end >= 2 * SR and end % p.hop_length == 0:
            assert_features_close(inc.features(), window_features(y[end - 2 * SR : end], p, extractor), p, db_max)
            checked += 1
    assert checked >= 5
    scaled = (y.astype(np.float64) * 10 ** (-20 / 20)).astype(np.float32)
    for start in range(0, len(y) - 2 * SR + 1, 4000):
        a, b = window_features(y[start : start + 2 * SR], p), window_features(scaled[start : start + 2 * SR], p)
        assert np.abs(a - b).max() < 1e-3


@VARIANTS
def test_a_sub_window_of_only_zeros_takes_its_neighbours_features(extra):
    """A sub-window of nothing but exact zeros inside a window with sound has the features of the nearest
    sub-window with sound before it (after it when none before), so a muted stretch never decides the label;
    the other sub-windows are those of the window without the fill."""
    from voxstream.engine.params import SEQ_ZERO_FRAME_DBFS

    p = FeatureParams(pooling="seq", **extra)
    y = speechlike(4.0).copy()
    y[int(0.9 * SR) : int(1.6 * SR)] = 0.0  # 0.7 s of zeros: at least two whole sub-windows of 0.25 s
    extractor = MfccFrames(p)
    frames = extractor(y[: 2 * SR])
    x = window_features(y[: 2 * SR], p, extractor)
    k_steps, per = p.seq_steps, len(frames) // p.seq_steps
    zero = frames[:, p.n_mfcc] <= SEQ_ZERO_FRAME_DBFS
    all_zero = [k for k in range(k_steps) if zero[k * per : (k + 1) * per].all()]
    assert len(all_zero) >= 2
    for k in all_zero:
        before = [j for j in range(k) if j not in all_zero]
        np.testing.assert_array_equal(x[k], x[before[-1]])
    assert not np.array_equal(x[all_zero[-1] + 1], x[all_zero[0] - 1])  # the sound after the gap is its own
    silent = window_features(np.zeros(2 * SR, np.float32), p, extractor)
    assert np.isfinite(silent).all()  # a window of only zeros keeps its own (finite) features
