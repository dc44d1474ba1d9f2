"""Speaker baselines: Normalizer state, `voxstream calibrate`, `run` and `classify` starting from it, and the
`calibrated` evaluation protocol."""

import json
import logging

import numpy as np
import pytest

from engine_support import espeak_wav, need_model, run_cli
from voxstream.audio.files import iter_blocks
from voxstream.cli import main as cli
from voxstream.config import Config
from voxstream.engine.normalize import Normalizer
from voxstream.inference.calibration import default_baseline_path
from voxstream.inference.card import LABELS, sha256_file
from voxstream.inference.litert import Classifier
from voxstream.stages import build_engine
from voxstream.train.protocols import CALIBRATION_S, NEUTRAL, run_protocol
from voxstream.train.rows import DatasetRows

DIM = 6
SR = 16000
TEXT = (
    "I went to the market this morning and bought some bread, some cheese and a few apples. Then I walked "
    "home along the river, where the ducks were swimming slowly in the sun. It was a quiet and pleasant day, "
    "and nothing much happened at all, so I sat down and read a book until the evening came."
)


@pytest.fixture(autouse=True)
def _state_home(tmp_path, monkeypatch):
    """No test reads or writes the real ~/.local/state."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


def session(**extra) -> Normalizer:
    return Normalizer.from_dict(
        {
            "kind": "session",
            "prior_mean": [0.0] * DIM,
            "prior_std": [1.0] * DIM,
            "prior_windows": 4,
            "memory_windows": 50,
            **extra,
        }
    )


def test_state_round_trips_through_json():
    """state() -> JSON -> with_state() gives the same baseline, and the same normalised output."""
    norm = session()
    rows = np.random.default_rng(0).normal(3.0, 2.0, (30, DIM))
    norm.run(rows)
    again = session().with_state(json.loads(json.dumps(norm.state())))
    assert again.state() == norm.state() and again.speech_windows == 30
    x = np.arange(DIM, dtype=float)
    np.testing.assert_allclose(again.apply(x), norm.apply(x))


def test_calibrated_normaliser_starts_from_the_baseline_and_resets_to_it():
    """A session from a saved baseline starts (and resets) there, not at the prior; the median kind too."""
    for extra in ({}, {"baseline": "median"}):
        norm = session(**extra)
        norm.run(np.full((40, DIM), 5.0))
        state = norm.state()
        calibrated = Normalizer.from_dict(session(**extra).to_dict(), state=state)
        x = np.full(DIM, 5.0)
        assert abs(calibrated.apply(x)).max() < 0.5 < abs(session(**extra).apply(x)).max()
        calibrated.step(np.full(DIM, -50.0), True)
        calibrated.reset()
        assert calibrated.state() == state


@pytest.mark.parametrize(
    "state, message",
    [
        ({"mu": [0.0] * (DIM - 1), "var": [1.0] * DIM, "n": 3}, "baseline state.mu: expected a list of 6 numbers"),
        ({"mu": [0.0] * DIM, "var": [float("nan")] * DIM, "n": 3}, "baseline state.var: expected finite numbers"),
        ({"mu": [0.0] * DIM, "var": [1.0] * DIM, "n": -1}, "baseline state.n: expected a count"),
        ({"mu": [0.0] * DIM, "n": 1}, "baseline state.var: missing"),
    ],
)
def test_bad_state_is_one_line(state, message):
    """A baseline of the wrong length, non-finite or without a count is refused with one line."""
    with pytest.raises(ValueError, match=message) as info:
        session().with_state(state)
    assert "\n" not in str(info.value)


def test_state_is_a_no_op_without_a_session():
    """Kind none keeps no session: its state is empty and restoring one changes nothing."""
    norm = Normalizer.from_dict({"kind": "none"})
    assert norm.state() == {"mu": [], "var": [], "n": 0}
    x = np.arange(DIM, dtype=float)
    np.testing.assert_array_equal(norm.with_state({"mu": [9.0], "var": [1.0], "n": 5}).apply(x), norm.apply(x))


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """About 17 s of ordinary espeak-ng speech."""
    return espeak_wav(tmp_path_factory.mktemp("talk") / "talk.wav", TEXT)


def calibrate(*args):
    return cli.main(["calibrate", "--model", str(need_model()), *args])


def test_calibrate_writes_the_baseline_of_the_model(talk, tmp_path, capsys):
    """`calibrate --file` writes schema 1 with the model's sha256 and the speech heard, then says so in one line."""
    out = tmp_path / "b.json"
    assert calibrate("--file", str(talk), "--seconds", "6", "--out", str(out)) == 0
    data = json.loads(out.read_text())
    assert data["schema"] == 1 and data["model_sha256"] == sha256_file(need_model())
    assert data["node"] == "voxstream" and data["speech_windows"] == 24 == data["state"]["n"]
    assert len(data["state"]["mu"]) == len(Classifier.load(need_model()).card.normalization["prior_mean"])
    line = capsys.readouterr().out.strip()
    assert line == f"voxstream: wrote speaker baseline {out} from 6.0 s of speech (model voxstream)"


def test_calibrate_default_path_is_per_node(talk, tmp_path):
    """Without --out the baseline goes to $XDG_STATE_HOME/voxstream/<node slug>.baseline.json."""
    assert calibrate("--file", str(talk), "--seconds", "5", "--node", "Living Room") == 0
    path = tmp_path / "state" / "voxstream" / "living_room.baseline.json"
    assert path == default_baseline_path("Living Room") and path.is_file()


def test_too_little_speech_is_refused(tmp_path, capsys):
    """A file with under 5 s of speech writes nothing and says why in one line (exit 2)."""
    short = espeak_wav(tmp_path / "short.wav", "Hello there, how are you?")
    out = tmp_path / "b.json"
    assert calibrate("--file", str(short), "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "s of speech; a baseline needs at least 5 s; nothing written" in err
    assert not out.exists()


def events(classifier, path, cfg):
    engine = build_engine(classifier.card, classifier.predict, cfg)
    return [e for b in iter_blocks(path, SR, 1600) for e in engine.push(b)]


def test_run_uses_a_matching_baseline_and_ignores_another_models(talk, tmp_path, caplog):
    """The engine starts from a baseline of its own model (other events), and logs why it ignores another's."""
    classifier = Classifier.load(need_model())
    out = tmp_path / "b.json"
    assert calibrate("--file", str(talk), "--seconds", "10", "--out", str(out)) == 0
    cfg = Config().replace("model", baseline=str(out))
    plain = events(classifier, talk, Config().replace("model", baseline="off"))
    with caplog.at_level(logging.INFO, logger="voxstream.inference.calibration"):
        calibrated = events(classifier, talk, cfg)
    assert "sessions start from the speaker baseline" in caplog.text
    assert len(plain) == len(calibrated)
    assert max(abs(a.scores[k] - b.scores[k]) for a, b in zip(plain, calibrated) for k in a.scores) > 0.01
    data = json.loads(out.read_text())
    out.write_text(json.dumps({**data, "model_sha256": "0" * 64}))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="voxstream.inference.calibration"):
        ignored = events(classifier, talk, cfg)
    assert "speaker baseline ignored, sessions start from the model's prior" in caplog.text
    assert "calibrated with another model" in caplog.text
    assert [e.scores for e in ignored] == [e.scores for e in plain]


def test_run_finds_the_default_baseline(talk, caplog):
    """With `[model] baseline = ""` the engine loads the node's default baseline file when it exists."""
    classifier = Classifier.load(need_model())
    assert calibrate("--file", str(talk), "--seconds", "5") == 0
    with caplog.at_level(logging.INFO, logger="voxstream.inference.calibration"):
        events(classifier, talk, Config())
    assert f"sessions start from the speaker baseline {default_baseline_path('voxstream')}" in caplog.text


def test_classify_refuses_a_baseline_of_another_model(talk, tmp_path):
    """`classify --baseline` of another model's baseline is one line on stderr (no log line before it), exit 2."""
    out = tmp_path / "b.json"
    out.write_text(json.dumps({"schema": 1, "model_sha256": "0" * 64, "state": {"mu": [], "var": [], "n": 0}}))
    for workers in ("1", "2"):
        done = run_cli(
            "classify", str(talk), "--model", str(need_model()), "--workers", workers, "--baseline", str(out)
        )
        err = done.stderr.strip()
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert err.startswith("voxstream: error: --baseline:") and "another model" in err and "\n" not in err, err


def test_classify_with_a_baseline_changes_the_scores(talk, tmp_path, capsys):
    """`classify --baseline` starts every file's session from the baseline: other scores than without it."""
    out = tmp_path / "b.json"
    assert calibrate("--file", str(talk), "--seconds", "10", "--out", str(out)) == 0
    capsys.readouterr()
    runs = []
    for extra in ([], ["--baseline", str(out)]):
        assert (
            cli.main(
                ["classify", str(talk), "--model", str(need_model()), "--workers", "1", "--format", "json", *extra]
            )
            == 0
        )
        runs.append(json.loads(capsys.readouterr().out)["scores"])
    assert max(abs(runs[0][k] - runs[1][k]) for k in runs[0]) > 0.01


def tiny_table(hop_s=0.25):
    """Two speakers 10 units apart on feature 0; neutral clips at the speaker's own level, angry ones 1 above."""
    x, speech, offs, y, speakers = [], [], [0], [], []
    for s, level in (("A", 5.0), ("B", -5.0)):
        for i in range(16):
            label = NEUTRAL if i < 10 else LABELS.index("angry")
            rows = np.zeros((12, 2))
            rows[:, 0] = level + (label != NEUTRAL)
            x.append(rows)
            speech.append(np.arange(12) < 10)
            offs.append(offs[-1] + 12)
            y.append(label)
            speakers.append(s)
    rows = DatasetRows(np.concatenate(x).astype(np.float32), np.concatenate(speech), np.array(offs))
    return rows, np.array(y), np.array(speakers)


def threshold_model(x):
    """'angry' when the normalised feature 0 is above 0.5, else 'neutral'."""
    out = np.zeros((len(x), len(LABELS)), dtype=np.float32)
    out[np.arange(len(x)), np.where(x[:, 0] > 0.5, LABELS.index("angry"), NEUTRAL)] = 1.0
    return out


def test_calibrated_protocol_scores_the_other_clips_from_each_speakers_baseline():
    """Baselines from 20 s of each speaker's neutral clips fix what the prior gets wrong; those clips are not scored."""
    rows, y, speakers = tiny_table()
    norm = {
        "kind": "session",
        "prior_mean": [0.0, 0.0],
        "prior_std": [1.0, 1.0],
        "prior_windows": 1,
        "memory_windows": 1000,
        "scale": False,
    }
    test = np.arange(len(y))
    cal = run_protocol("calibrated", {"orig": rows}, norm, threshold_model, test, y, speakers, 0, hop_s=0.25)
    cold = run_protocol("cold", {"orig": rows}, norm, threshold_model, test, y, speakers, 0)
    used = 2 * int(np.ceil(CALIBRATION_S / 0.25 / 10))  # 10 speech windows per clip: 8 neutral clips per speaker
    assert cal["calibration_speech_s_mean"] == CALIBRATION_S
    assert sum(cal["per_class"][lab]["support"] for lab in LABELS) == len(y) - used
    assert cal["accuracy"] == 1.0
    assert cal["cold_accuracy_same_clips"] == pytest.approx(0.5) and cold["accuracy"] == pytest.approx(0.5)


def test_eval_accepts_the_calibrated_protocol_by_name():
    """The protocol check names `calibrated` among the accepted protocols."""
    from voxstream.train.evaluate import evaluate_model

    with pytest.raises(ValueError, match="calibrated"):
        evaluate_model("x.tflite", [], protocols=("bogus",))
