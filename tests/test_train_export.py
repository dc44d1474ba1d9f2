"""The one trainer on a tiny espeak-ng corpus: .tflite + card, LiteRT = Keras, determinism, and `eval` = card."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from engine_support import need_espeak
from voxstream.errors import ConfigError, ModelError
from voxstream.inference.card import LABELS, SCHEMA_VERSION, load_card
from voxstream.inference.litert import Classifier
from voxstream.train.live import LIVE

pytestmark = pytest.mark.needs_tf
RATE = 16000
WORDS = ("back", "bite", "chair", "dime")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """56 TESS-named espeak-ng clips: pitch and speed by label, two voices as the speakers OAF and YAF."""
    need_espeak()
    import soxr

    root = tmp_path_factory.mktemp("tiny")
    for c, label in enumerate(LABELS):
        for speaker, voice in (("OAF", "en+f3"), ("YAF", "en+f4")):
            for word in WORDS:
                wav = root / "tmp.wav"
                subprocess.run(
                    [
                        "espeak-ng",
                        "-v",
                        voice,
                        "-p",
                        str(10 + 12 * c),
                        "-s",
                        str(120 + 15 * c),
                        "-w",
                        str(wav),
                        f"Say the word {word}",
                    ],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
                x, sr = sf.read(wav, dtype="float32")
                x = np.concatenate([np.zeros(4000, np.float32), soxr.resample(x, sr, RATE).astype(np.float32)])
                sf.write(str(root / f"{speaker}_{word}_{label}.wav"), x, RATE, subtype="PCM_16")
        (root / "tmp.wav").unlink()
    return root


def _cli(argv):
    from voxstream.train import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def _train(data, out, *extra):
    argv = ["train", "--data", str(data), "--epochs", "2", "--out", str(out), "--no-cache", "--workers", "1", *extra]
    saved, sys.argv = sys.argv, ["voxstream", *argv]  # the card records the command line as typed
    try:
        assert _cli(argv) == 0
    finally:
        sys.argv = saved


@pytest.fixture(scope="module")
def seed_model(tf, tiny_data, tmp_path_factory):
    """The seed arch, shipped model trained on the random split's training side."""
    out = tmp_path_factory.mktemp("seed")
    _train(tiny_data, out, "--arch", "seed", "--split", "random", "--name", "tiny")
    return out / "tiny.tflite"


@pytest.fixture(scope="module")
def default_model(tf, tiny_data, tmp_path_factory):
    """The default arch with one evaluation spec (two folds)."""
    out = tmp_path_factory.mktemp("default")
    _train(tiny_data, out, "--evaluate", "tess-cross", "--name", "tiny")
    return out / "tiny.tflite"


def test_seed_writes_a_loadable_model_and_card(seed_model):
    """The seed's .tflite + card load in the runtime; the card carries schema, holdout protocols and command."""
    card, tflite = load_card(seed_model)
    assert tflite == seed_model and card.labels == LABELS and card.input_shape == (1, 40, 1)
    assert card.arch == "seed" and card.normalization == {"kind": "none"} and card.features.pooling == "mean"
    probs = Classifier.load(seed_model).predict(np.zeros(40, np.float32))
    assert probs.shape == (7,) and abs(float(probs.sum()) - 1) < 1e-5
    data = json.loads(seed_model.with_suffix(".json").read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    stream = data["holdout"]["protocols"]["stream"]
    assert stream["n"] == data["holdout"]["n_test_clips"] == 14 and np.array(stream["confusion"]).sum() == 14
    assert set(data["holdout"]["protocols"]) == {
        "stream",
        "calm-speaker",
        "calm-session",
        "cold",
        "gain-20",
        "gain+20",
        "noise20",
        *LIVE,
    }
    live = data["holdout"]["protocols"]["live"]
    assert live["n"] == 14 and live["room_tone"]["dbfs"] == -60.0 and "during_accuracy" in live
    recalls = [c["recall"] for c in stream["per_class"].values() if c["support"]]
    assert stream["uar"] == pytest.approx(np.mean(recalls), abs=1e-4)
    training = data["training"]
    assert training["balance"] == "speakers" and training["label_map"] == {}  # TESS words are product labels
    assert set(training["corpora"]) == {"tess"} and training["corpora"]["tess"]["speakers"] == 2
    assert training["corpora"]["tess"]["row_share"] == training["corpora"]["tess"]["weight_share"] == 1.0
    assert data["reproduce"]["command"].startswith("voxstream train") and data["versions"]["numpy"]
    assert (seed_model.parent / "tiny_artifacts" / "curves.png").stat().st_size > 1000


def test_tflite_agrees_with_keras(seed_model, default_model):
    """The converted model equals Keras on training rows (the card's own check, both archs)."""
    for model in (seed_model, default_model):
        check = json.loads(model.with_suffix(".json").read_text())["tflite_check"]
        assert check["max_abs_diff_vs_keras"] < 1e-4 and check["argmax_agreement_vs_keras"] == 1.0
        assert check["n_compared"] > 10


def test_eval_reproduces_the_cards_holdout_exactly(seed_model, tiny_data, tmp_path, capsys):
    """`voxstream eval` on the shipped model's held-out side gives the card's holdout figures (accuracy, UAR,
    arousal/valence accuracy, neutral recall, confusion), exactly."""
    card = json.loads(seed_model.with_suffix(".json").read_text())
    protocols = ("stream", "calm-session", "cold", "noise20", "live", "live-calm-zeros")
    assert (
        _cli(
            [
                "eval",
                "--data",
                str(tiny_data),
                "--model",
                str(seed_model),
                "--split",
                "random",
                "--json",
                *[a for p in protocols for a in ("--protocol", p)],
                "--no-cache",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    for protocol in protocols:
        want = card["holdout"]["protocols"][protocol]
        for key in ("accuracy", "uar", "arousal_accuracy", "valence_accuracy", "confusion"):
            assert got["protocols"][protocol][key] == want[key]
    for key in ("during_accuracy", "latency_median_s", "latency_never"):  # the live figures too
        assert got["protocols"]["live"][key] == card["holdout"]["protocols"]["live"][key]
    assert (
        got["protocols"]["calm-session"]["neutral_recall"]
        == card["holdout"]["protocols"]["calm-session"]["neutral_recall"]
    )


def test_eval_reproduces_an_eval_data_fold_of_the_card(tf, tiny_data, tmp_path, capsys):
    """With --eval-data a fold's training side is the shipped model's, so `voxstream eval` of the shipped model
    gives that fold's card figures exactly (how the card's nemo-cross is checked)."""
    train_dir, eval_dir = tmp_path / "oaf", tmp_path / "yaf"
    for folder, speaker in ((train_dir, "OAF"), (eval_dir, "YAF")):
        folder.mkdir()
        for wav in tiny_data.glob(f"{speaker}_*.wav"):
            shutil.copy(wav, folder / wav.name)
    _train(
        train_dir, tmp_path, "--arch", "seed", "--eval-data", str(eval_dir), "--evaluate", "speaker=YAF", "--name", "ev"
    )
    card = json.loads((tmp_path / "ev.json").read_text())
    fold = card["evaluations"]["speaker=YAF"]["splits"][0]
    assert card["training"]["eval_data"] == [str(eval_dir)] and card["training"]["n_clips"] == 28
    assert fold["n_train_clips"] == 28 and fold["n_test_clips"] == 28
    capsys.readouterr()  # the training's own output
    assert (
        _cli(
            [
                "eval",
                "--data",
                str(eval_dir),
                "--model",
                str(tmp_path / "ev.tflite"),
                "--split",
                "all",
                "--json",
                "--protocol",
                "stream",
                "--protocol",
                "calm-session",
                "--no-cache",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    got = json.loads(capsys.readouterr().out)
    for protocol in ("stream", "calm-session"):
        for key in ("accuracy", "uar", "confusion"):
            assert got["protocols"][protocol][key] == fold["protocols"][protocol][key]


def test_retraining_gives_the_same_bytes(tf, tiny_data, seed_model, tmp_path):
    """Same command, data and versions -> the same .tflite bytes."""
    _train(tiny_data, tmp_path, "--arch", "seed", "--split", "random", "--name", "tiny")
    assert (tmp_path / "tiny.tflite").read_bytes() == seed_model.read_bytes()


def test_default_arch_card_reports_every_protocol_per_fold(default_model):
    """The default arch: session normaliser in the card, per-fold protocols, their mean and the headline figures."""
    card, _ = load_card(default_model)
    from voxstream.train.archs import DEFAULT_ARCH

    assert card.arch == DEFAULT_ARCH and card.normalization["kind"] == "session"
    data = json.loads(default_model.with_suffix(".json").read_text())
    ev = data["evaluations"]["tess-cross"]
    assert [s["split"] for s in ev["splits"]] == ["TESS train OAF -> test YAF", "TESS train YAF -> test OAF"]
    for s in ev["splits"]:
        assert s["n_test_clips"] == 28 and s["protocols"]["cold"]["n"] == 28
    mean = ev["mean"]["stream"]["accuracy_mean"]
    assert mean == pytest.approx(np.mean([s["protocols"]["stream"]["accuracy"] for s in ev["splits"]]), abs=1e-4)
    from voxstream.train.report import figures

    headline = {f["figure"]: f["measured"] for f in figures(data["evaluations"])}
    assert headline["tess-cross stream"] == mean and "lao stream" not in headline  # no lao evaluation here
    assert data["holdout"] is None and data["training"]["split"] == "all"
    art = default_model.parent / data["artifacts"]
    assert {p.name for p in art.glob("*.png")} == {
        "curves.png",
        "confusion_tess-cross_fold1.png",
        "confusion_tess-cross_fold2.png",
    }


def test_tampered_model_is_refused(seed_model, tmp_path):
    """One flipped byte in the .tflite makes the card's sha256 check refuse the model."""
    shutil.copy(seed_model, tmp_path / "tiny.tflite")
    shutil.copy(seed_model.with_suffix(".json"), tmp_path / "tiny.json")
    data = bytearray((tmp_path / "tiny.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "tiny.tflite").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="sha256"):
        Classifier.load(tmp_path / "tiny.tflite")


def test_train_help_lists_the_archs_and_the_default(capsys):
    """`voxstream train --help` lists every arch with a one-line summary and marks the default."""
    from voxstream.train.archs import ARCHS, DEFAULT_ARCH

    with pytest.raises(SystemExit):
        _cli(["train", "--help"])
    text = capsys.readouterr().out
    for name in ARCHS:
        assert f"  {name} " in text
    default_line = next(line for line in text.splitlines() if "[default]" in line)
    assert default_line.split()[0] == DEFAULT_ARCH


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--split", "lao"], "the data has no clips for it"),
        (["--split", "tess-cross"], "names 2 folds"),
        (["--evaluate", "tess/random"], "expected standard"),
    ],
)
def test_bad_splits_are_one_clear_error(tf, tiny_data, tmp_path, argv, message):
    """A split the data cannot serve, or a malformed one, is one ConfigError naming it."""
    with pytest.raises(ConfigError, match=message):
        _cli(
            [
                "train",
                "--arch",
                "seed",
                "--data",
                str(tiny_data),
                "--out",
                str(tmp_path),
                "--no-cache",
                "--workers",
                "1",
                "--epochs",
                "1",
                *argv,
            ]
        )
