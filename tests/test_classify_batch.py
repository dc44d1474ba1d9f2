"""Whole-clip scoring (src/voxstream/offline/batch.py) equals the per-window path and the live engine's windows."""

from __future__ import annotations

import numpy as np
import pytest

from engine_support import need_model, speech_with_pauses
from voxstream.audio.files import iter_blocks, load_audio
from voxstream.config import Config
from voxstream.engine.frames import MfccFrames
from voxstream.engine.gate import SpeechGate
from voxstream.engine.params import POOLINGS, FeatureParams, windows
from voxstream.engine.pooling import pool
from voxstream.engine.window import WindowSpec
from voxstream.inference.litert import Classifier
from voxstream.offline.batch import BatchModel, pool_windows
from voxstream.offline.clips import normalise_session, window_rows
from voxstream.stages import build_engine, make_gate, make_normalizer, window_spec

SR = 16000


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speech_with_pauses(tmp_path_factory.mktemp("speech") / "speech.wav")


@pytest.fixture(scope="module")
def classifier():
    return Classifier.load(need_model())


def voiced_noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Bursts of a pitched, noisy tone with pauses: voiced and unvoiced frames, silence, level changes."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = 120 + 60 * np.sin(2 * np.pi * 0.7 * t)
    tone = np.sin(2 * np.pi * np.cumsum(f0) / SR) + 0.3 * np.sin(4 * np.pi * np.cumsum(f0) / SR)
    envelope = (np.sin(2 * np.pi * 3.0 * t) > -0.2) * (0.2 + 0.2 * np.sin(2 * np.pi * 0.3 * t) ** 2)
    x = tone * envelope + 0.003 * rng.normal(size=len(t))
    x[int(1.0 * SR) : int(1.6 * SR)] = 0.0  # digital silence inside a window
    return x.astype(np.float32)


def per_window(samples: np.ndarray, params: FeatureParams, spec: WindowSpec, gate: SpeechGate):
    """The reference: every window pooled and gated on its own (the rule :func:`window_rows` vectorises)."""
    frames = MfccFrames(params)(samples)
    rows, speech = [], []
    for start, end in windows(len(samples), spec.window, spec.hop):
        first = start // params.hop_length
        rows.append(pool(frames[first : first + params.n_frames(end - start)], params))
        speech.append(gate(samples[start:end]).speech)
    return np.array(rows, dtype=np.float32), np.array(speech, dtype=bool)


def assert_features_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("seconds", [0.9, 2.0, 5.3])
def test_pool_windows_equals_pool_of_each_window(pooling, seconds):
    """Every pooling, clips shorter than, equal to and longer than a window: all windows at once = one by one."""
    params = FeatureParams(pooling=pooling)
    spec = WindowSpec.from_seconds(2.0, 0.25, SR, params.hop_length)
    x = voiced_noise(seconds, seed=int(seconds * 10))
    frames = MfccFrames(params)(x)
    bounds = windows(len(x), spec.window, spec.hop)
    first = np.array([s // params.hop_length for s, _ in bounds])
    n = params.n_frames(bounds[0][1] - bounds[0][0])
    want = np.stack([pool(frames[f : f + n], params) for f in first])
    assert_features_close(pool_windows(frames, first, n, params), want)


def test_pool_windows_of_a_single_frame_and_of_silence():
    """One-frame windows (no differences) and all-zero audio (no voiced frame) pool like the per-window rule."""
    for pooling in POOLINGS:
        params = FeatureParams(pooling=pooling)
        for x in (voiced_noise(0.04), np.zeros(3 * SR, dtype=np.float32)):
            frames = MfccFrames(params)(x)
            n = min(len(frames), params.n_frames(2 * SR))
            first = np.arange(0, len(frames) - n + 1, 25)
            want = np.stack([pool(frames[f : f + n], params) for f in first])
            assert_features_close(pool_windows(frames, first, n, params), want)


def test_window_rows_equal_the_per_window_path(speech, classifier):
    """The shipped model's rows of a speech file: features and gate verdicts equal window by window."""
    card, cfg = classifier.card, Config()
    y = load_audio(speech, SR)
    spec, gate = window_spec(card, cfg), make_gate(card, cfg)
    rows = window_rows(y, card.features, spec, gate)
    want_x, want_speech = per_window(y, card.features, spec, gate)
    assert_features_close(rows.x, want_x)
    assert np.array_equal(rows.speech, want_speech) and want_speech.any() and not want_speech.all()


def test_batch_model_equals_one_call_per_window():
    """The shipped MLP (session_mlp) scores a batch in one call (resized input) like one call per window, to 1e-5."""
    from voxstream.inference.shipped import resolve_model

    mlp = Classifier.load(resolve_model("session_mlp"))
    model = BatchModel(mlp)
    assert model.batched, "the shipped MLP takes a batch"
    x = np.random.default_rng(1).normal(size=(1500, *mlp.card.input_shape[1:])).astype(np.float32)
    for n in (1, 7, 16, 300, 1500):  # partial batches, several sizes, more than MAX_BATCH
        want = np.stack([mlp.predict(row) for row in x[:n]])
        np.testing.assert_allclose(model(x[:n]), want, atol=1e-5)


def test_batch_model_falls_back_when_the_model_refuses_a_batch():
    """The shipped seed model's delegate refuses a resized input: one call per window, same scores."""
    from voxstream.inference.shipped import resolve_model

    seed = Classifier.load(resolve_model("seed"))
    model = BatchModel(seed)
    assert not model.batched, "the seed's XNNPACK delegate refused a resized input when this test was written"
    x = np.random.default_rng(2).normal(size=(20, *seed.card.input_shape[1:])).astype(np.float32)
    np.testing.assert_allclose(model(x), np.stack([seed.predict(row) for row in x]), atol=1e-5)


def test_whole_file_scores_equal_the_live_engine_windows(speech, classifier):
    """Each window's label and scores from the whole-file path equal the engine's (``run --file --fast``) to 1e-5."""
    from voxstream.api import classify_file
    from voxstream.offline.archive import ArchiveScorer, Job

    card, cfg = classifier.card, Config()
    seen = []

    def recording_predict(x):
        probs = classifier.predict(x)
        seen.append(probs)
        return probs

    engine = build_engine(card, recording_predict, cfg)
    events = [e for b in iter_blocks(speech, SR, 1600) for e in engine.push(b)] + engine.finish()
    engine_speech = np.array([e.speech for e in events])

    scorer = ArchiveScorer(Job(str(classifier.path), cfg))
    rows = scorer.rows(str(speech), {k: 0.0 for k in ("decode", "features", "gate", "normalise", "model")})
    assert np.array_equal(rows.speech, engine_speech) and rows.speech.sum() == len(seen) > 5
    normalised = normalise_session([rows], make_normalizer(card))[0]
    probs = scorer.model(normalised[rows.speech])
    np.testing.assert_allclose(probs, np.stack(seen), atol=1e-5)
    assert [card.labels[i] for i in probs.argmax(axis=1)] == [e.raw_label for e in events if e.speech]
    result = classify_file(speech, classifier.path, cfg)
    np.testing.assert_allclose([result.scores[k] for k in card.labels], np.mean(seen, axis=0), atol=1e-5)


def test_a_file_whose_pooling_fails_fails_alone(speech, classifier, tmp_path, monkeypatch):
    """A chunk's short files are pooled together; if that fails, each is pooled alone, so only the file that
    fails is reported (by name) and the others get the results they get without it."""
    import soundfile as sf

    from voxstream.offline import archive
    from voxstream.offline.archive import ArchiveScorer, Job

    y = load_audio(speech, SR)
    paths = []
    for i, seconds in enumerate((1.5, 2.5, 3.0)):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        sf.write(paths[-1], y[: int(seconds * SR)], SR, subtype="FLOAT")
    scorer = ArchiveScorer(Job(str(classifier.path), Config()))
    clean = scorer.score(paths)
    assert clean.errors == [None, None, None]
    real_pool = archive.pool_clips

    def pool_refusing_the_middle_file(clips, params):
        if any(c.samples == int(2.5 * SR) for c in clips):
            raise FloatingPointError("simulated")
        return real_pool(clips, params)

    monkeypatch.setattr(archive, "pool_clips", pool_refusing_the_middle_file)
    out = scorer.score(paths)
    assert out.results[1] is None and out.errors[1] == f"{paths[1]}: FloatingPointError: simulated"
    for i in (0, 2):
        assert out.errors[i] is None and out.results[i] == clean.results[i]
