"""The speech gate on speech at any level, steady noise at any level, silence, and speech in noise."""

import numpy as np
import pytest

from engine_support import espeak_wav, need_espeak
from voxstream.config import GateConfig
from voxstream.engine.gate import FLOOR_DBFS, SpeechGate
from voxstream.errors import ConfigError

SR = 16000
WINDOW, HOP = 2 * SR, SR // 4
NOISE_S = 30


def scale(x: np.ndarray, db: float) -> np.ndarray:
    """``x`` with its RMS set to ``db`` dBFS."""
    x = np.asarray(x, dtype=np.float64)
    return (x / np.sqrt(np.mean(x**2)) * 10 ** (db / 20)).astype(np.float32)


def tone(db: float, seconds: float = 2.0, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return scale(np.sin(2 * np.pi * hz * t), db)


def pink(n: int, rng: np.random.Generator) -> np.ndarray:
    f = np.fft.rfftfreq(n, 1 / SR)
    spec = rng.standard_normal(len(f)) + 1j * rng.standard_normal(len(f))
    spec[1:] /= np.sqrt(f[1:])
    spec[0] = 0
    return np.fft.irfft(spec, n)


def brown(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random walk (1/f^2) with only its DC removed: the worst rumble a microphone passes."""
    y = np.cumsum(rng.standard_normal(n))
    return y - y.mean()


def fan(n: int, rng: np.random.Generator) -> np.ndarray:
    """50 Hz mains hum with harmonics, plus blade noise: pink noise modulated 30 % at 12 Hz."""
    t = np.arange(n) / SR
    hum = sum(np.sin(2 * np.pi * 50 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 4))
    blade = (1 + 0.3 * np.sin(2 * np.pi * 12 * t)) * scale(pink(n, rng), 0)
    return scale(hum, 0) + 0.7 * blade


def hum100(n: int, rng: np.random.Generator) -> np.ndarray:
    """100 Hz transformer hum with harmonics over a white broadband floor."""
    t = np.arange(n) / SR
    return scale(sum(np.sin(2 * np.pi * 100 * k * t) / k for k in (1, 2, 3)), 0) + 0.3 * rng.standard_normal(n)


NOISES = {"white": lambda n, rng: rng.standard_normal(n), "pink": pink, "brown": brown, "fan": fan, "hum100": hum100}


def speechlike(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A voice-like buzz (120 Hz with harmonics to 3.6 kHz, drifting pitch) in syllables of 120-250 ms,
    gaps of 40-120 ms and a 0.3-0.6 s pause after every 4-7 syllables."""
    n = int(seconds * SR)
    t = np.arange(n) / SR
    phase = np.cumsum(2 * np.pi * 120 * (1 + 0.1 * np.sin(2 * np.pi * 0.5 * t)) / SR)
    buzz = sum(np.sin(k * phase) / k for k in range(1, 31))
    env, i = np.zeros(n), int(0.1 * SR)
    while i < n:
        for _ in range(rng.integers(4, 8)):
            m = min(int(rng.uniform(0.12, 0.25) * SR), max(n - i, 0))
            env[i : i + m] = np.hanning(m) * rng.uniform(0.5, 1.0)
            i += m + int(rng.uniform(0.04, 0.12) * SR)
        i += int(rng.uniform(0.3, 0.6) * SR)
    return buzz * env


@pytest.fixture(scope="module")
def espeak(tmp_path_factory) -> np.ndarray:
    """About 10 s of espeak-ng speech at 16 kHz (two voices, three sentences, short silences between)."""
    need_espeak()
    from voxstream.audio.files import load_audio

    d = tmp_path_factory.mktemp("espeak")
    texts = [
        ("en", "The quick brown fox jumps over the lazy dog while the children play in the garden."),
        ("en+f3", "Please turn on the lights in the kitchen and tell me the weather for tomorrow."),
        ("en", "I am so angry about this, it is terrible! What a lovely day it is."),
    ]
    parts = [load_audio(espeak_wav(d / f"{i}.wav", text, voice), SR) for i, (voice, text) in enumerate(texts)]
    return np.concatenate(parts).astype(np.float32)


def passing(x: np.ndarray, gate: SpeechGate | None = None) -> np.ndarray:
    """The verdict of every 2 s / 0.25 s window of ``x``."""
    return np.array([r.speech for r in (gate or SpeechGate(SR)).windows(x, WINDOW, HOP)])


def test_level_of_a_tone_is_its_rms_in_dbfs_and_a_steady_tone_is_not_speech():
    """A -20 dBFS (RMS) tone measures -20 dBFS; it has no level dynamics, so it is not speech."""
    r = SpeechGate(SR)(tone(-20))
    assert r.level_dbfs == pytest.approx(-20, abs=0.05)
    assert not r.speech and r.active_fraction == 0.0


@pytest.mark.parametrize("db", [-60, -10])
def test_espeak_speech_passes_at_any_level(espeak, db):
    """espeak-ng speech at -60 dBFS (in a quiet room, -90 dBFS hiss) and at -10 dBFS passes on most windows."""
    room = scale(np.random.default_rng(1).standard_normal(len(espeak)), -90)
    for x in (scale(espeak, db), scale(espeak, db) + room):
        ok = passing(x)
        assert ok.mean() >= 0.9, f"{ok.mean():.2f} of the windows passed"


@pytest.mark.parametrize("db", [-60, -30, -10])
def test_speechlike_signal_passes_at_any_level(db):
    """The synthetic voice passes on most windows at -60, -30 and -10 dBFS."""
    x = scale(speechlike(20, np.random.default_rng(2)), db)
    assert passing(x).mean() >= 0.9


@pytest.mark.parametrize("db", [-30, -60])
@pytest.mark.parametrize("name", sorted(NOISES))
def test_steady_noise_passes_on_at_most_5_percent_of_windows(name, db):
    """Steady pink, brown, white noise, fan and hum at -30 and -60 dBFS pass on <= 5 % of the windows."""
    x = scale(NOISES[name](NOISE_S * SR, np.random.default_rng(3)), db)
    ok = passing(x)
    assert len(ok) > 100 and ok.mean() <= 0.05, f"{name} at {db} dBFS passed on {ok.mean():.1%}"


@pytest.mark.parametrize("name", ["pink", "white", "fan"])
def test_speech_in_steady_noise_at_10_db_snr_passes(name):
    """The synthetic voice over steady noise at 10 dB SNR passes on most windows."""
    rng = np.random.default_rng(4)
    x = scale(speechlike(20, rng), -30)
    x = x + scale(NOISES[name](len(x), rng), -40)
    assert passing(x).mean() >= 0.9


def test_espeak_in_pink_noise_at_10_db_snr_passes(espeak):
    """espeak-ng speech over pink noise at 10 dB SNR passes on most windows."""
    x = scale(espeak, -25) + scale(pink(len(espeak), np.random.default_rng(5)), -35)
    assert passing(x).mean() >= 0.9


def test_digital_silence_and_dc_never_pass():
    """Zeros report the floor level and never pass; nor does a constant offset (a bad ADC)."""
    gate = SpeechGate(SR)
    r = gate(np.zeros(2 * SR, np.float32))
    assert r.level_dbfs == FLOOR_DBFS and not r.speech
    assert not passing(np.zeros(20 * SR, np.float32)).any()
    assert not gate(np.full(2 * SR, 0.3, np.float32)).speech


def test_noise_starting_after_digital_silence_does_not_pass():
    """A muted input that unmutes onto steady noise: the zeros do not count as the noise floor."""
    x = np.concatenate([np.zeros(3 * SR), scale(pink(10 * SR, np.random.default_rng(6)), -50)])
    assert not passing(x).any()


def test_dither_does_not_pass():
    """Speech-like dynamics below min_dbfs (a -110 dBFS voice) are not speech."""
    assert not passing(scale(speechlike(10, np.random.default_rng(7)), -110)).any()


def test_active_fraction_threshold():
    """Loud bursts over quiet noise covering 10 % of the window fail a 20 % requirement and pass a 5 % one."""
    x = scale(np.random.default_rng(8).standard_normal(2 * SR), -60)
    x[: int(0.2 * SR)] += tone(-30, 0.2)  # 0.2 s of 2 s
    assert not SpeechGate(SR, GateConfig(active_fraction=0.2))(x).speech
    r = SpeechGate(SR, GateConfig(active_fraction=0.05))(x)
    assert r.speech and r.active_fraction == pytest.approx(0.1, abs=0.02)
    assert r.floor_dbfs < -60


def test_windows_equals_one_call_per_window():
    """The batch path (sub-frames analysed once per clip) gives each window's own verdict."""
    rng = np.random.default_rng(9)
    x = scale(speechlike(8, rng), -40) + scale(pink(8 * SR, rng), -60)
    gate = SpeechGate(SR)
    batch = gate.windows(x, WINDOW, HOP)
    single = [gate(x[s : s + WINDOW]) for s in range(0, len(x) - WINDOW + 1, HOP)]
    assert len(batch) == len(single) == 25
    for b, s in zip(batch, single):
        assert (b.speech, b.active_fraction, b.floor_dbfs) == (s.speech, s.active_fraction, s.floor_dbfs)
        assert b.level_dbfs == pytest.approx(s.level_dbfs, abs=1e-3)
    assert [r.speech for r in gate.windows(x, WINDOW, 4001)] == [
        gate(x[s : s + WINDOW]).speech for s in range(0, len(x) - WINDOW + 1, 4001)
    ]
    assert gate.windows(x[:SR], WINDOW, HOP) == [gate(x[:SR])]  # shorter than a window: one verdict on all of it
    muted = np.concatenate([np.zeros(int(2.5 * SR), dtype=x.dtype), x[: 3 * SR]])  # silent, part-silent windows
    batch = gate.windows(muted, WINDOW, HOP)
    single = [gate(muted[s : s + WINDOW]) for s in range(0, len(muted) - WINDOW + 1, HOP)]
    assert [(b.speech, b.active_fraction, b.floor_dbfs) for b in batch] == [
        (s.speech, s.active_fraction, s.floor_dbfs) for s in single
    ]
    assert single[0].active_fraction == 0.0 and single[-1].speech


def test_short_and_empty_windows():
    """An empty or sub-frame-long window is not speech; a 1 s clip of speech (cold start) is."""
    gate = SpeechGate(SR)
    assert gate(np.zeros(0, np.float32)) == gate(np.zeros(0, np.float32))
    assert not gate(np.zeros(0, np.float32)).speech and gate(np.zeros(0, np.float32)).level_dbfs == FLOOR_DBFS
    assert not gate(scale(np.random.default_rng(10).standard_normal(100), -20)).speech
    assert gate(scale(speechlike(1.0, np.random.default_rng(11)), -50)).speech


def test_from_config_and_validation():
    """The gate takes its thresholds from a GateConfig (their one set of defaults); a bad rise or percentile is
    one config error."""
    cfg = GateConfig(min_dbfs=-70.0, active_fraction=0.3, rise_db=12.0, floor_percentile=5.0)
    assert SpeechGate.from_config(cfg, SR) == SpeechGate(SR, cfg) != SpeechGate(SR)
    assert SpeechGate.from_config(GateConfig(), SR) == SpeechGate(SR)
    assert SpeechGate(SR).config == GateConfig()
    with pytest.raises(ConfigError, match="gate.rise_db"):
        GateConfig(rise_db=0.0)
    with pytest.raises(ConfigError, match="gate.floor_percentile"):
        GateConfig(floor_percentile=101.0)


def _card(gate=None):
    """The shipped seed model's card with another gate (None: a card from before cards recorded one)."""
    import dataclasses

    from voxstream.inference.card import load_card
    from voxstream.inference.shipped import resolve_model

    return dataclasses.replace(load_card(resolve_model("seed"))[0], gate=gate)


def test_the_shipped_cards_record_the_gate_they_were_trained_with():
    """Every shipped card names all GateConfig fields: the [gate] defaults the shipped models were trained with."""
    import json

    from voxstream.inference.card import load_card
    from voxstream.inference.shipped import shipped_models

    assert set(shipped_models()) >= {"voxstream", "seed", "session_mlp"}
    for name, path in shipped_models().items():
        card, _ = load_card(path)  # the sha256 (of the .tflite only) still matches
        assert card.gate == GateConfig(), name
        assert set(json.loads(path.with_suffix(".json").read_text())["gate"]) == {
            "min_dbfs",
            "active_fraction",
            "rise_db",
            "floor_percentile",
        }


def test_card_gate_round_trips_and_bad_gates_are_refused():
    """A card's gate survives to_dict -> JSON -> from_dict; an unknown key or a non-number is one ModelError."""
    import json

    from voxstream.errors import ModelError
    from voxstream.inference.card import ModelCard

    card = _card(GateConfig(rise_db=12.0, floor_percentile=5.0))
    data = json.loads(json.dumps(card.to_dict()))
    assert data["gate"] == {"min_dbfs": -95.0, "active_fraction": 0.2, "rise_db": 12.0, "floor_percentile": 5.0}
    assert ModelCard.from_dict(data).gate == card.gate and "gate" not in ModelCard.from_dict(data).extra
    assert "gate" not in _card(None).to_dict()
    for bad, word in (
        ({"rise_db": "9"}, "gate.rise_db"),
        ({"rise": 9.0}, "gate.rise"),
        ({"rise_db": 0.0}, "gate.rise_db"),
        ([9.0], "gate"),
    ):
        with pytest.raises(ModelError, match=word):
            ModelCard.from_dict({**data, "gate": bad}, where="m.json")


def test_the_runtime_gate_is_the_cards_unless_the_config_gives_a_value(tmp_path):
    """The engine's gate takes the card's values for every [gate] key the config does not give; a value from the
    file (even one equal to the default), the environment or Config.replace wins; a card without a gate uses the
    config's gate."""
    from voxstream.config import Config, load_config
    from voxstream.inference.card import gate_for
    from voxstream.stages import build_engine, make_gate

    trained = GateConfig(min_dbfs=-90.0, active_fraction=0.3, rise_db=12.0, floor_percentile=5.0)
    card = _card(trained)
    assert make_gate(card, Config()) == SpeechGate(SR, trained)
    assert gate_for(card, Config())[1] == {
        f"gate.{k}": "model card" for k in ("min_dbfs", "active_fraction", "rise_db", "floor_percentile")
    }
    f = tmp_path / "c.toml"
    f.write_text("[gate]\nrise_db = 9.0\n")
    cfg = load_config(f, environ={"VOXSTREAM_GATE_ACTIVE_FRACTION": "0.25"})
    assert make_gate(card, cfg).config == GateConfig(
        min_dbfs=-90.0, active_fraction=0.25, rise_db=9.0, floor_percentile=5.0
    )
    assert make_gate(card, Config().replace("gate", min_dbfs=-95.0)).config.min_dbfs == -95.0
    assert make_gate(_card(None), cfg).config == cfg.gate
    engine = build_engine(card, lambda x: np.full(len(card.labels), 1 / len(card.labels), np.float32), Config())
    assert engine.stages.gate.config == trained


def test_training_writes_the_gate_into_the_card(tmp_path):
    """write_model (the trainer's export) records every GateConfig field; default: the [gate] defaults."""
    from voxstream.engine.params import FeatureParams
    from voxstream.inference.card import load_card
    from voxstream.inference.shipped import resolve_model
    from voxstream.train.export import write_model

    blob = resolve_model("seed").read_bytes()
    gate = GateConfig(rise_db=11.0)
    path = write_model(tmp_path, "g", blob, "seed", FeatureParams(), (1, 40, 1), {}, gate=gate)
    assert load_card(path)[0].gate == gate
    assert load_card(write_model(tmp_path, "d", blob, "seed", FeatureParams(), (1, 40, 1), {}))[0].gate == GateConfig()
