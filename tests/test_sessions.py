"""The one clip score's rows and training's simulated sessions equal what the streaming engine computes."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from voxstream.config import Config, GateConfig
from voxstream.engine.frames import MfccFrames
from voxstream.engine.gate import SpeechGate
from voxstream.engine.params import FeatureParams
from voxstream.engine.pooling import window_features
from voxstream.engine.window import WindowSpec
from voxstream.inference.card import LABELS, ModelCard
from voxstream.offline.clips import ClipRows, clip_probabilities, stream_rows, window_rows
from voxstream.stages import build_engine, make_normalizer
from voxstream.train.rows import Windowing, dataset_rows
from voxstream.train.sessions import simulate, template

PARAMS = FeatureParams(pooling="mean_std_dstd_prosody")
SPEC = WindowSpec(32000, 4000, 16000)


def gate() -> SpeechGate:
    return SpeechGate.from_config(GateConfig(), 16000)


@pytest.fixture(scope="module")
def speech_files(tmp_path_factory):
    """Two espeak-ng utterances (16 kHz mono), one of them with a second of silence in front."""
    out = tmp_path_factory.mktemp("speech")
    paths = []
    texts = ["Kids are talking by the door, said the older woman.", "Say the word bite again, please."]
    for i, text in enumerate(texts):
        wav = out / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, capture_output=True)
        x, sr = sf.read(wav, dtype="float32")
        import soxr

        x = soxr.resample(x, sr, 16000).astype(np.float32)
        if i == 0:
            x = np.concatenate([np.zeros(16000, dtype=np.float32), x])
        sf.write(out / f"s{i}.flac", x, 16000)
        paths.append(str(out / f"s{i}.flac"))
    return paths


def test_window_rows_equal_window_features_and_gate(speech_files):
    """Each row is window_features of that window's samples and each flag the gate's verdict on it."""
    x = sf.read(speech_files[0], dtype="float32")[0]
    rows = window_rows(x, PARAMS, SPEC, gate(), MfccFrames(PARAMS))
    assert len(rows.x) == 1 + (len(x) - 32000) // 4000 and len(rows.x) >= 3
    for k in (0, len(rows.x) - 1):
        np.testing.assert_allclose(
            rows.x[k], window_features(x[k * 4000 : k * 4000 + 32000], PARAMS), rtol=1e-6, atol=1e-5
        )
        assert rows.speech[k] == gate()(x[k * 4000 : k * 4000 + 32000]).speech
    assert rows.speech.any()


@pytest.mark.parametrize("block", [777, 16000])
def test_chunked_rows_equal_whole_clip_rows(speech_files, block):
    """stream_rows over blocks (chunks of a few windows) gives exactly the rows of the whole clip."""
    x = sf.read(speech_files[0], dtype="float32")[0]
    whole = window_rows(x, PARAMS, SPEC, gate())
    chunked = stream_rows((x[i : i + block] for i in range(0, len(x), block)), PARAMS, SPEC, gate(), chunk_windows=3)
    assert chunked.samples == len(x)
    np.testing.assert_allclose(chunked.x, whole.x, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(chunked.speech, whole.speech)


def test_clip_probabilities_use_speech_windows_else_all():
    """The one clip score: mean of the speech windows; every window when the gate passed none."""
    probs = np.array([[0.8, 0.2], [0.2, 0.8], [0.4, 0.6]])
    np.testing.assert_allclose(clip_probabilities(probs, np.array([True, False, True])), [0.6, 0.4])
    np.testing.assert_allclose(clip_probabilities(probs, np.zeros(3, dtype=bool)), probs.mean(axis=0))
    with pytest.raises(ValueError):
        clip_probabilities(probs[:0], np.zeros(0, dtype=bool))


def test_simulated_session_equals_the_streaming_engine(speech_files):
    """The normalised vectors the engine feeds the model equal training's simulated-session rows, hop for hop."""
    rows = dataset_rows(speech_files, PARAMS, Windowing(2.0, 0.25), workers=1)
    norm = template(
        rows, np.array([0, 1]), {"kind": "session", "prior_windows": 4, "memory_windows": 20, "scale": True}
    )
    norm.update(post_mean=[0.1] * PARAMS.dim, post_std=[2.0] * PARAMS.dim)
    order = [1, 0]
    sim_x, sim_clip = simulate(rows, [np.array(order)], norm)
    speech = np.concatenate([rows.clip(c).speech for c in order])

    seen = []
    card = ModelCard("t", "session_mlp", LABELS, PARAMS, (1, PARAMS.dim), "t.tflite", "0" * 64, normalization=norm)
    session = make_normalizer(card)  # one session: the normaliser carries over from clip to clip
    for c in order:
        engine = build_engine(
            card, lambda v: (seen.append(np.array(v)), np.full(len(LABELS), 1 / len(LABELS)))[1], Config()
        )
        engine.stages.normalizer = session
        x = sf.read(speech_files[c], dtype="float32")[0]
        for start in range(0, len(x), 1234):
            engine.push(x[start : start + 1234])
    assert len(seen) == int(speech.sum()) >= 3
    np.testing.assert_allclose(np.stack(seen), sim_x[speech], rtol=1e-4, atol=2e-4)
    assert list(dict.fromkeys(sim_clip)) == order


def test_augmented_copies_are_deterministic_and_different(speech_files, tmp_path):
    """Variants are seeded (same rows twice, also through the .npz cache) and differ from the original."""
    w = Windowing(2.0, 0.25)
    a = dataset_rows(speech_files, PARAMS, w, "noise", seed=1, cache_dir=tmp_path, workers=1)
    b = dataset_rows(speech_files, PARAMS, w, "noise", seed=1, cache_dir=tmp_path, workers=1)
    c = dataset_rows(speech_files, PARAMS, w, "noise", seed=1, workers=1)
    orig = dataset_rows(speech_files, PARAMS, w, "orig", workers=1)
    slow = dataset_rows(speech_files, PARAMS, w, "speed0.9", workers=1)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, c.x)
    assert a.x.shape == orig.x.shape and not np.allclose(a.x, orig.x)
    assert len(slow.x) > len(orig.x)  # slower speech is longer: more windows
    assert list((tmp_path / "rows").rglob("*.npz"))


def test_test_conditions_change_the_level_only_as_named(speech_files):
    """gain-20 is the clip at -20 dB, gain+20 peaks at -0.1 dBFS, noise20 adds pink noise at 20 dB SNR."""
    from voxstream.train.variants import transform

    x = sf.read(speech_files[1], dtype="float32")[0]
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(transform(x, "gain-20", 16000, rng), x * 0.1, rtol=1e-6)
    assert np.max(np.abs(transform(x, "gain+20", 16000, rng))) == pytest.approx(10 ** (-0.1 / 20), rel=1e-5)
    noisy = transform(x, "noise20", 16000, rng)
    snr = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean((noisy - x).astype(np.float64) ** 2))
    assert snr == pytest.approx(20.0, abs=0.01)
    with pytest.raises(ValueError, match="variant"):
        transform(x, "louder", 16000, rng)


def test_rows_keep_clips_apart(speech_files):
    """DatasetRows.clip(i) is clip i's rows; rows_of keeps the order asked for."""
    rows = dataset_rows(speech_files, PARAMS, Windowing(2.0, 0.25), workers=1)
    for i, path in enumerate(speech_files):
        x = sf.read(path, dtype="float32")[0]
        np.testing.assert_array_equal(rows.clip(i).x, window_rows(x, PARAMS, SPEC, gate()).x)
    assert isinstance(rows.clip(0), ClipRows)
    n0 = len(rows.clip(0).x)
    assert rows.rows_of(np.array([1, 0]))[-n0:].tolist() == list(range(n0))
