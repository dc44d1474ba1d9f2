"""Issue 5 rule: `voxstream run --file --fast` gives the windowed labels of the offline (training) path.

The CLI runs in a subprocess with the shipped models; the offline path is the
one clip score's rows, :func:`voxstream.offline.clips.window_rows` (MFCC frames of the
whole clip sliced per window, the gate per window), and training's
:func:`~voxstream.train.sessions.simulate` (one session through the card's
normaliser), then the same :class:`Classifier` and smoother.
Tolerance: every window's speech flag, raw label and smoothed label must be
equal; scores within 1e-3 (streaming MFCC sums vs batch frames differ by ~1e-5).
"""

import json

import numpy as np
import pytest
import soundfile as sf

from engine_support import ROOT, espeak_wav, run_cli
from voxstream.audio.files import load_audio
from voxstream.config import load_config
from voxstream.engine.smoother import Smoother
from voxstream.inference.litert import Classifier
from voxstream.offline.clips import window_rows
from voxstream.stages import make_gate, window_spec
from voxstream.train.rows import DatasetRows
from voxstream.train.sessions import simulate

SR = 16000
MODELS = [ROOT / "models" / "voxstream.tflite", ROOT / "models" / "seed.tflite"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """Three espeak-ng sentences (two voices) with pauses, one of them quiet, as a 16 kHz WAV."""
    out = tmp_path_factory.mktemp("agree")
    parts = [
        ("I can't believe you did that, I am furious!", "en", 0.8),
        ("Oh no. Please, please, do not leave me here alone.", "en+f3", 0.5),
        ("Well, that is just wonderful news, thank you so much!", "en", 0.05),
    ]
    gap = np.zeros(int(1.2 * SR), dtype=np.float32)
    audio = [gap]
    for i, (text, voice, gain) in enumerate(parts):
        audio += [gain * load_audio(espeak_wav(out / f"p{i}.wav", text, voice), SR), gap]
    path = out / "clip.wav"
    sf.write(str(path), np.concatenate(audio), SR, subtype="FLOAT")
    return path


def offline_events(model, path) -> list[dict]:
    """Per window: speech flag, raw probabilities and smoothed output, computed by the training code."""
    cfg = load_config(ROOT / "config.toml")
    clf = Classifier.load(model)
    card = clf.card
    spec = window_spec(card, cfg)
    window, hop = spec.window, spec.hop
    rows = window_rows(load_audio(path, SR), card.features, spec, make_gate(card, cfg))
    z, _ = simulate(DatasetRows(rows.x, rows.speech, np.array([0, len(rows.x)])), [np.array([0])], card.normalization)
    flags = rows.speech
    smoother = Smoother.from_config(card.labels, cfg.smoother)
    out = []
    for k, (vec, sp) in enumerate(zip(z, flags)):
        probs = clf.predict(vec) if sp else None
        smoothed = smoother.push(probs, (window + k * hop) / SR)
        out.append(
            {
                "speech": bool(sp),
                "probs": probs,
                "label": smoothed.label,
                "scores": dict(zip(card.labels, smoothed.scores.tolist())),
                "raw_label": None if probs is None else card.labels[int(np.argmax(probs))],
            }
        )
    return out


@pytest.mark.parametrize("model", MODELS, ids=lambda p: p.stem)
def test_run_file_fast_agrees_with_offline_path(model, clip):
    """Every window of `voxstream run --file --fast --json` has the offline path's speech flag, labels and scores."""
    assert model.is_file() and model.with_suffix(".json").is_file(), f"{model}: shipped model or card missing"
    proc = run_cli("run", "--file", str(clip), "--fast", "--json", "--no-ws", "--no-mqtt", "--model", str(model))
    assert proc.returncode == 0, proc.stderr[-2000:]
    live = [json.loads(line) for line in proc.stdout.splitlines()]
    offline = offline_events(model, clip)
    assert len(live) == len(offline) > 30
    speech = [o for o in offline if o["speech"]]
    assert 10 <= len(speech) < len(offline)  # speech and gated-out windows both present
    assert len({o["raw_label"] for o in speech}) >= 1 and max(o["probs"].max() for o in speech) > 0.3
    for k, (a, b) in enumerate(zip(live, offline)):
        assert a["speech"] == b["speech"], f"window {k}: speech flag"
        assert a["raw_label"] == b["raw_label"], f"window {k}: raw label {a['raw_label']} vs {b['raw_label']}"
        assert a["label"] == b["label"], f"window {k}: smoothed label"
        assert max(abs(a["scores"][lab] - b["scores"][lab]) for lab in b["scores"]) < 1e-3, f"window {k}: scores"
