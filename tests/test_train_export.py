"""Train the seed on synthetic tones, convert to TFLite, and check the card and the runtime agree with Keras."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from voxstream.stream.card import LABELS, load_card
from voxstream.stream.errors import ModelError
from voxstream.stream.features import FeatureParams
from voxstream.stream.model import Classifier

pytestmark = pytest.mark.needs_tf
RATE = 16000


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """56 TESS-named clips: a tone per class (pitch by label), two speakers."""
    root = tmp_path_factory.mktemp("tiny")
    rng = np.random.default_rng(0)
    t = np.arange(int(0.6 * RATE)) / RATE
    for c, label in enumerate(LABELS):
        for i in range(8):
            speaker = "OAF" if i % 2 else "YAF"
            freq = 150 * (c + 1) * (1.05 if speaker == "OAF" else 1.0)
            x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(len(t))
            sf.write(str(root / f"{speaker}_w{i}_{label}.wav"), x, RATE, subtype="PCM_16")
    return root


def _cli(argv):
    from voxstream.train import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture(scope="module")
def trained(tf, tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("models")
    assert _cli(["train", "--arch", "seed", "--data", str(tiny_data), "--split", "random", "--epochs", "2",
                 "--name", "tiny", "--out", str(out), "--no-cache", "--workers", "1"]) == 0
    return out / "tiny.tflite"


@pytest.fixture(scope="module")
def tiny_features(tiny_data):
    from voxstream.train.pipeline import load_dataset

    return load_dataset([str(tiny_data)], FeatureParams(), cache_dir=None, workers=1)


def test_train_writes_a_loadable_model_and_card(trained):
    """`voxstream train` writes .tflite + card; the card's hash verifies and the runtime loads it."""
    card, tflite = load_card(trained)
    assert tflite == trained and card.labels == LABELS and card.input_shape == (1, 40, 1)
    assert (card.window_s, card.hop_s) == (2.0, 0.25)
    clf = Classifier.load(trained)
    probs = clf.predict(np.zeros(40, np.float32))
    assert probs.shape == (7,) and abs(float(probs.sum()) - 1) < 1e-5
    extra = json.loads(trained.with_suffix(".json").read_text())
    metrics = extra["metrics"]["split"][0]["metrics"]
    assert metrics["n"] == 12 and set(metrics["per_class"]) == set(LABELS)
    assert np.array(metrics["confusion"]).sum() == 12
    assert extra["conversion"]["variants"]["float32"]["max_abs_diff_vs_keras"] < 1e-4
    assert extra["command"].startswith("voxstream") and extra["versions"]["numpy"]
    assert (trained.parent / "tiny_artifacts" / "curves.png").stat().st_size > 1000


def test_tampered_model_is_refused(trained, tmp_path):
    """One flipped byte in the .tflite makes the card's sha256 check refuse the model."""
    shutil.copy(trained, tmp_path / "tiny.tflite")
    shutil.copy(trained.with_suffix(".json"), tmp_path / "tiny.json")
    data = bytearray((tmp_path / "tiny.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "tiny.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        Classifier.load(tmp_path / "tiny.tflite")


def test_keras_and_tflite_agree(tf, tiny_features, tmp_path):
    """The batch-1 twin equals the trained model, and the float .tflite equals Keras to 1e-4 through Classifier."""
    from voxstream.train.export import convert, write_model
    from voxstream.train.fit import fit
    from voxstream.train.models import export_twin

    ds = tiny_features
    result = fit("seed", ds.x, ds.y, seed=1, epochs=1)
    twin = export_twin(result.model, "seed")
    x = ds.x[:20].reshape(-1, 40, 1)
    keras_probs = twin.predict(x, batch_size=1, verbose=0)
    np.testing.assert_allclose(keras_probs, result.model.predict(x, verbose=0), atol=1e-5)
    path = write_model(tmp_path, "agree", convert(twin, "float32"), "seed", FeatureParams(), (1, 40, 1), {})
    clf = Classifier.load(path)
    lite = np.array([clf.predict(row) for row in ds.x[:20]])
    assert np.abs(lite - keras_probs).max() < 1e-4


def test_same_seed_same_weights(tf, tiny_features):
    """Two fits with the same seed give identical weights; another seed does not."""
    from voxstream.train.fit import fit

    ds = tiny_features
    a, b, c = (fit("seed", ds.x, ds.y, seed=s, epochs=1).model.get_weights() for s in (3, 3, 4))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_eval_runs_the_tflite(trained, tiny_data, tmp_path, capsys):
    """`voxstream eval --json` scores the model with LiteRT and writes a confusion PNG."""
    assert _cli(["eval", "--data", str(tiny_data), "--model", str(trained), "--json", "--out", str(tmp_path),
                 "--no-cache", "--workers", "1"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n"] == 56 and 0 <= metrics["accuracy"] <= 1
    assert np.array(metrics["confusion"]).sum() == 56
    assert (tmp_path / "tiny_eval_confusion.png").is_file()


def test_train_help_lists_the_archs_and_the_default(capsys):
    """`voxstream train --help` lists every arch with a one-line summary and names session_mlp the default."""
    with pytest.raises(SystemExit):
        _cli(["train", "--help"])
    text = capsys.readouterr().out
    assert "seed " in text and "session_mlp " in text and "[default]" in text
    default_line = next(line for line in text.splitlines() if "[default]" in line)
    assert default_line.split()[0] == "session_mlp"


SESSION_ARGV = ["train", "--data", "{data}", "--epochs", "2", "--name", "tiny", "--out", "{out}", "--no-cache",
                "--evaluate", "tess_random", "--evaluate", "tess_OAF_to_YAF"]


@pytest.fixture(scope="module")
def trained_session(tf, tiny_data, tmp_path_factory):
    import sys

    out = tmp_path_factory.mktemp("quality")
    argv = [a.format(data=tiny_data, out=out) for a in SESSION_ARGV]
    saved, sys.argv = sys.argv, ["voxstream", *argv]  # the card records the command line as typed
    try:
        assert _cli(argv) == 0
    finally:
        sys.argv = saved
    return out / "tiny.tflite"


def test_default_arch_runs_the_quality_recipe(trained_session, tiny_data):
    """Without --arch, `voxstream train` runs the session_mlp recipe: session card, goals, gate, figures."""
    card, _ = load_card(trained_session)
    data = json.loads(trained_session.with_suffix(".json").read_text())
    assert card.arch == "session_mlp" and card.normalization["kind"] == "session" and card.input_shape == (1, 128)
    assert set(data["evaluations"]) == {"tess_random", "tess_OAF_to_YAF"}
    goals = {g["goal"]: g for g in data["goals"]["list"]}
    random_goal = goals["TESS random 80/20"]
    assert random_goal["measured"] == data["evaluations"]["tess_random"]["splits"][0]["metrics"]["accuracy"]
    assert random_goal["reached"] == (random_goal["measured"] >= 0.995) and random_goal["gap"] >= 0
    assert data["training"]["recipe"]["gate"] == {"min_dbfs": -45.0, "active_fraction": 0.2}
    import shlex

    typed = shlex.join(["voxstream", *(a.format(data=tiny_data, out=trained_session.parent) for a in SESSION_ARGV)])
    assert data["reproduce"]["command"] == typed and data["training"]["wall_seconds"] > 0
    art = trained_session.parent / data["artifacts"]
    assert {p.name for p in art.glob("*.png")} == {"curves.png", "confusion_tess_random.png",
                                                   "confusion_tess_OAF_to_YAF.png"}
    probs = Classifier.load(trained_session).predict(np.zeros(128, np.float32))
    assert probs.shape == (7,) and abs(float(probs.sum()) - 1) < 1e-5


@pytest.mark.parametrize("argv, message", [
    (["--split", "random"], "fitted on all data"),
    (["--evaluate", "tess/random"], "expected standard or some of"),
    (["--variant", "int8"], "float32 only"),
])
def test_session_mlp_refuses_options_it_cannot_honour(tiny_data, tmp_path, argv, message):
    """session_mlp with a seed-only option fails with one ConfigError line naming the option."""
    from voxstream.stream.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        _cli(["train", "--arch", "session_mlp", "--data", str(tiny_data), "--out", str(tmp_path), "--no-cache",
              "--epochs", "1", *argv])
