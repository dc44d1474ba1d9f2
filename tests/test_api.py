"""The public Python API (src/voxstream/api.py) gives what the command line gives, and one-line errors."""

from __future__ import annotations

import json

import pytest

import voxstream
from engine_support import espeak_wav, need_model, run_cli
from voxstream import api
from voxstream.errors import AudioError, ModelError


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    need_model()
    return espeak_wav(
        tmp_path_factory.mktemp("api") / "speech.wav",
        "I cannot believe you did that again. Please listen to me for once.",
    )


@pytest.fixture
def empty_config(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text("")
    return str(path)


def _without_clock(event: dict) -> dict:
    return {k: v for k, v in event.items() if k != "timestamp"}


def test_package_exposes_the_api_and_its_version():
    assert voxstream.classify_file is api.classify_file
    assert voxstream.events_from_file is api.events_from_file
    assert voxstream.events_from_device is api.events_from_device
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.split() == ["voxstream", voxstream.__version__]
    with pytest.raises(AttributeError):
        voxstream.no_such_function  # noqa: B018


async def test_events_from_file_are_the_events_of_run(speech, empty_config):
    events = [e async for e in voxstream.events_from_file(speech)]
    cli = run_cli("run", "--config", empty_config, "--file", str(speech), "--fast", "--json", "--no-ws", "--no-mqtt")
    assert cli.returncode == 0, cli.stderr
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    assert len(events) == len(expected) >= 8 and any(e.speech for e in events)
    for got, want in zip(events, expected, strict=True):
        assert got.timestamp  # stamped like the command's events
        got_d, want_d = _without_clock(got.to_dict()), _without_clock(want)
        assert {k: v for k, v in got_d.items() if k != "scores"} == {k: v for k, v in want_d.items() if k != "scores"}
        assert got_d["scores"] == pytest.approx(want_d["scores"], abs=2e-4)  # rounded to 4 places on both sides


def test_classify_file_is_the_result_of_classify(speech, empty_config):
    result = voxstream.classify_file(speech)
    cli = run_cli("classify", "--config", empty_config, "--format", "json", "--workers", "1", str(speech))
    assert cli.returncode == 0, cli.stderr
    want = json.loads(cli.stdout)
    got = result.to_dict()
    assert got["label"] == want["label"] and got["duration_s"] == want["duration_s"]
    assert got["scores"] == pytest.approx(want["scores"], abs=2e-4)
    assert voxstream.classify_file(speech, "seed").scores.keys() == result.scores.keys()  # another shipped model


def test_bad_inputs_raise_one_line_naming_them(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioError, match="broken.wav") as err:
        voxstream.classify_file(broken)
    assert "\n" not in str(err.value)
    with pytest.raises(ModelError, match="no-such-model"):
        voxstream.classify_file(broken, "no-such-model")


async def test_events_from_a_missing_file_or_device_raise_audio_error(tmp_path):
    with pytest.raises(AudioError, match="missing.wav"):
        async for _ in voxstream.events_from_file(tmp_path / "missing.wav"):
            pass
    with pytest.raises(AudioError, match="no-such-device"):
        async for _ in voxstream.events_from_device("no-such-device"):
            pass
