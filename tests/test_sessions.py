"""Training's simulated sessions (train/sessions.py) equal what the streaming engine computes."""

import subprocess

import numpy as np
import pytest
import soundfile as sf

from voxstream.stream.card import LABELS, ModelCard
from voxstream.stream.config import Config
from voxstream.stream.features import FeatureParams, MfccFrames, window_features
from voxstream.stream.gate import SpeechGate
from voxstream.stream.pipeline import Engine, make_normalizer
from voxstream.train.sessions import ClipRows, clip_rows, session_template, simulate_sessions, window_rows

PARAMS = FeatureParams(pooling="mean_std_dstd")


@pytest.fixture(scope="module")
def speech_files(tmp_path_factory):
    """Two espeak-ng utterances (16 kHz mono), one of them with a second of silence in front."""
    out = tmp_path_factory.mktemp("speech")
    paths = []
    for i, text in enumerate(["Kids are talking by the door, said the older woman.", "Say the word bite again, please."]):
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
    rows, speech = window_rows(x, PARAMS, 32000, 4000, MfccFrames(PARAMS), SpeechGate(16000))
    assert len(rows) == 1 + (len(x) - 32000) // 4000 and len(rows) >= 3
    for k in (0, len(rows) - 1):
        np.testing.assert_allclose(rows[k], window_features(x[k * 4000:k * 4000 + 32000], PARAMS), rtol=1e-6, atol=1e-5)
        assert speech[k] == SpeechGate(16000)(x[k * 4000:k * 4000 + 32000]).speech
    assert speech.any()


def test_simulated_session_equals_the_streaming_engine(speech_files):
    """The normalised vectors the engine feeds the model equal training's simulate_sessions rows, hop for hop."""
    rows = clip_rows(speech_files, PARAMS, 2.0, 0.25)
    template = session_template(rows, np.array([0, 1]), prior_windows=4, memory_windows=20, scale=True)
    template.update(post_mean=[0.1] * PARAMS.dim, post_std=[2.0] * PARAMS.dim)
    speakers = np.array(["a", "a"])
    sim_x, sim_clip, sim_speech = simulate_sessions(rows, np.array([0, 1]), speakers, template, seed=3)
    order = list(dict.fromkeys(sim_clip))  # the clip order the simulation streamed

    seen = []
    card = ModelCard("t", "session_mlp", LABELS, PARAMS, (1, PARAMS.dim), "t.tflite", "0" * 64, normalization=template)
    session = make_normalizer(card)  # one session: the normaliser carries over from clip to clip
    for c in order:
        engine = Engine(card, lambda v: (seen.append(np.array(v)), np.full(len(LABELS), 1 / len(LABELS)))[1], Config())
        engine.normalizer = session
        x = sf.read(speech_files[c], dtype="float32")[0]
        for start in range(0, len(x), 1234):
            engine.push(x[start:start + 1234])
    assert len(seen) == int(sim_speech.sum()) >= 3
    np.testing.assert_allclose(np.stack(seen), sim_x[sim_speech], rtol=1e-4, atol=2e-4)


def test_augmented_copies_are_deterministic_and_different(speech_files, tmp_path):
    """Variants are seeded (same rows twice, also through the .npz cache) and differ from the original."""
    a = clip_rows(speech_files, PARAMS, 2.0, 0.25, "noise", seed=1, cache_dir=tmp_path)
    b = clip_rows(speech_files, PARAMS, 2.0, 0.25, "noise", seed=1, cache_dir=tmp_path)
    c = clip_rows(speech_files, PARAMS, 2.0, 0.25, "noise", seed=1)
    orig = clip_rows(speech_files, PARAMS, 2.0, 0.25, "orig")
    slow = clip_rows(speech_files, PARAMS, 2.0, 0.25, "speed0.9")
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.x, c.x)
    assert a.x.shape == orig.x.shape and not np.allclose(a.x, orig.x)
    assert len(slow.x) > len(orig.x)  # slower speech is longer: more windows
    assert isinstance(a, ClipRows) and list((tmp_path / "sessions").glob("*.npz"))


def test_recipe_gate_marks_the_speech_windows(speech_files):
    """clip_rows uses the gate it is given: a stricter threshold marks fewer windows as speech, same features."""
    from voxstream.stream.config import GateConfig

    default = clip_rows(speech_files, PARAMS, 2.0, 0.25)
    strict = clip_rows(speech_files, PARAMS, 2.0, 0.25, gate=GateConfig(min_dbfs=-12.0))
    np.testing.assert_array_equal(default.x, strict.x)
    assert default.speech.sum() > strict.speech.sum()
    assert np.array_equal(default.speech, clip_rows(speech_files, PARAMS, 2.0, 0.25, gate=GateConfig()).speech)
