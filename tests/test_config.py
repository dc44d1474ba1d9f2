"""Configuration: the shipped config.toml equals the defaults, precedence, one-line errors, flag mapping."""

import pytest

from voxstream.stream.cli import build_parser
from voxstream.stream.cmd_run import overrides_from_args
from voxstream.stream.config import Config, ConfigError, load_config
from engine_support import ROOT


def test_config_toml_equals_defaults():
    """The documented config.toml is exactly the dataclass defaults."""
    assert load_config(ROOT / "config.toml", environ={}) == Config()


def test_precedence_file_then_flags_then_environment(tmp_path):
    """File beats defaults, flags beat the file, the environment beats flags."""
    f = tmp_path / "c.toml"
    f.write_text('[mqtt]\nhost = "file"\nport = 1884\n[node]\nname = "fromfile"\n')
    cfg = load_config(f, {"mqtt": {"host": "flag"}}, {"VOXSTREAM_MQTT_HOST": "env"})
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.node.name) == ("env", 1884, "fromfile")
    assert load_config(f, {"mqtt": {"host": "flag"}}, {}).mqtt.host == "flag"
    assert load_config(None, None, {}).mqtt.host == Config().mqtt.host


def test_environment_values_are_parsed():
    """Environment text becomes the field's type (bool, int, float, list)."""
    cfg = load_config(None, None, {"VOXSTREAM_WEBSOCKET_ENABLED": "false", "VOXSTREAM_WEBSOCKET_PORT": "9000",
                                   "VOXSTREAM_GATE_MIN_DBFS": "-50",
                                   "VOXSTREAM_WEBSOCKET_ALLOWED_ORIGINS": "http://a, http://b"})
    assert cfg.websocket.enabled is False and cfg.websocket.port == 9000 and cfg.gate.min_dbfs == -50.0
    assert cfg.websocket.allowed_origins == ["http://a", "http://b"]


@pytest.mark.parametrize("toml, environ, expected", [
    ('[audio]\nblock_size = 3\n', {}, "unknown key audio.block_size"),
    ('[sound]\nx = 1\n', {}, "unknown section [sound]"),
    ('[mqtt]\nport = "high"\n', {}, "mqtt.port: expected an integer"),
    ('[smoother]\nalpha = 0\n', {}, "smoother.alpha must be in (0, 1]"),
    ('[window]\nwindow_s = 1.0\nhop_s = 2.0\n', {}, "window.hop_s must be <= window.window_s"),
    ('[gate\n', {}, "not valid TOML"),
    ('', {"VOXSTREAM_MQTT_PORT": "abc"}, "environment: mqtt.port: expected an integer"),
    ('', {"VOXSTREAM_BOGUS_X": "1"}, "unknown variable VOXSTREAM_BOGUS_X"),
])
def test_errors_are_one_line_naming_the_key(tmp_path, toml, environ, expected):
    """Unknown keys, wrong types, bad ranges and bad TOML name the key (or file) on one line."""
    f = tmp_path / "bad.toml"
    f.write_text(toml)
    with pytest.raises(ConfigError) as err:
        load_config(f, None, environ)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_missing_config_file_is_named(tmp_path):
    """A --config path that does not exist is reported by name."""
    with pytest.raises(ConfigError, match="nope.toml: config file not found"):
        load_config(tmp_path / "nope.toml", None, {})


def test_run_flags_map_to_config_overrides():
    """`voxstream run` flags become the matching config keys; flags not given are left out."""
    args = build_parser().parse_args([
        "run", "--device", "2", "--model", "m.tflite", "--node", "kitchen", "--window", "1.5", "--hop", "0.5",
        "--ws-host", "0.0.0.0", "--ws-port", "9001", "--no-mqtt", "--mqtt-host", "broker", "--mqtt-port", "1999"])
    assert overrides_from_args(args) == {
        "audio": {"device": "2"}, "model": {"path": "m.tflite"}, "node": {"name": "kitchen"},
        "window": {"window_s": 1.5, "hop_s": 0.5}, "websocket": {"host": "0.0.0.0", "port": 9001},
        "mqtt": {"host": "broker", "port": 1999, "enabled": False}}
    assert overrides_from_args(build_parser().parse_args(["run", "--no-ws"])) == {"websocket": {"enabled": False}}
