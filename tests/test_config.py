"""Configuration: the shipped config.toml equals the defaults, precedence, one-line errors, flag mapping,
where the file is looked for, and `voxstream config`."""

import argparse
import dataclasses
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from engine_support import ROOT
from voxstream.cli.common import overrides_from_args
from voxstream.cli.main import build_parser
from voxstream.config import SECTIONS, Config, ConfigError, load_config


def test_config_toml_equals_defaults():
    """The documented config.toml is exactly the dataclass defaults."""
    assert load_config(ROOT / "config.toml", environ={}) == Config()


def test_precedence_file_then_environment_then_flags(tmp_path):
    """File beats defaults, the environment beats the file, flags beat the environment."""
    f = tmp_path / "c.toml"
    f.write_text('[mqtt]\nhost = "file"\nport = 1884\n[node]\nname = "fromfile"\n')
    cfg = load_config(f, {"mqtt": {"host": "flag"}}, {"VOXSTREAM_MQTT_HOST": "env"})
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.node.name) == ("flag", 1884, "fromfile")
    assert load_config(f, None, {"VOXSTREAM_MQTT_HOST": "env"}).mqtt.host == "env"
    assert load_config(None, None, {}).mqtt.host == Config().mqtt.host


def test_environment_values_are_parsed():
    """Environment text becomes the field's type (bool, int, float, list)."""
    cfg = load_config(
        None,
        None,
        {
            "VOXSTREAM_WEBSOCKET_ENABLED": "false",
            "VOXSTREAM_WEBSOCKET_PORT": "9000",
            "VOXSTREAM_GATE_MIN_DBFS": "-50",
            "VOXSTREAM_WEBSOCKET_ALLOWED_ORIGINS": "http://a, http://b",
        },
    )
    assert cfg.websocket.enabled is False and cfg.websocket.port == 9000 and cfg.gate.min_dbfs == -50.0
    assert cfg.websocket.allowed_origins == ["http://a", "http://b"]


@pytest.mark.parametrize(
    "toml, environ, expected",
    [
        ("[audio]\nblock_size = 3\n", {}, "unknown key audio.block_size"),
        ("[sound]\nx = 1\n", {}, "unknown section [sound]"),
        ('[mqtt]\nport = "high"\n', {}, "mqtt.port: expected an integer"),
        ("[smoother]\nalpha = 0\n", {}, "smoother.alpha must be in (0, 1]"),
        ("[window]\nwindow_s = 1.0\nhop_s = 2.0\n", {}, "window.hop_s must be <= window.window_s"),
        ("[gate\n", {}, "not valid TOML"),
        ("", {"VOXSTREAM_MQTT_PORT": "abc"}, "environment: mqtt.port: expected an integer"),
        ("", {"VOXSTREAM_BOGUS_X": "1"}, "unknown variable VOXSTREAM_BOGUS_X"),
    ],
)
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
    args = build_parser().parse_args(
        [
            "run",
            "--device",
            "2",
            "--model",
            "m.tflite",
            "--node",
            "kitchen",
            "--window",
            "1.5",
            "--hop",
            "0.5",
            "--ws-host",
            "0.0.0.0",
            "--ws-port",
            "9001",
            "--no-mqtt",
            "--mqtt-host",
            "broker",
            "--mqtt-port",
            "1999",
        ]
    )
    assert overrides_from_args(args) == {
        "audio": {"device": "2"},
        "model": {"path": "m.tflite"},
        "node": {"name": "kitchen"},
        "window": {"window_s": 1.5, "hop_s": 0.5},
        "websocket": {"host": "0.0.0.0", "port": 9001},
        "mqtt": {"host": "broker", "port": 1999, "enabled": False},
    }
    assert overrides_from_args(build_parser().parse_args(["run", "--no-ws"])) == {"websocket": {"enabled": False}}


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_file_lookup_order(tmp_path):
    """$VOXSTREAM_CONFIG, ./config.toml, $XDG_CONFIG_HOME/voxstream, then none: the first that exists wins."""
    from voxstream.config import default_config_path

    cwd, xdg, home = tmp_path / "cwd", tmp_path / "xdg", tmp_path / "home"
    cwd.mkdir()
    env = {"XDG_CONFIG_HOME": str(xdg), "HOME": str(home)}
    etc = Path("/etc/voxstream/config.toml")
    assert default_config_path(env, cwd) == (etc if etc.is_file() else None)
    in_home = _write(home / ".config" / "voxstream" / "config.toml", "")
    assert default_config_path({"HOME": str(home)}, cwd) == in_home  # XDG_CONFIG_HOME unset: ~/.config
    in_xdg = _write(xdg / "voxstream" / "config.toml", "")
    assert default_config_path(env, cwd) == in_xdg
    local = _write(cwd / "config.toml", "")
    assert default_config_path(env, cwd) == local
    named = tmp_path / "named.toml"
    assert default_config_path({**env, "VOXSTREAM_CONFIG": str(named)}, cwd) == named  # must exist: load says so


def test_sources_name_where_each_value_came_from(tmp_path):
    """Every key has an origin: default, the file, the command line or the environment variable."""
    f = _write(tmp_path / "c.toml", '[mqtt]\nhost = "file"\nport = 1884\n')
    sources: dict[str, str] = {}
    load_config(f, {"node": {"name": "flag"}}, {"VOXSTREAM_MQTT_PORT": "1999"}, sources=sources)
    assert sources["mqtt.host"] == str(f)
    assert sources["node.name"] == "command line"
    assert sources["mqtt.port"] == "VOXSTREAM_MQTT_PORT"
    assert sources["smoother.alpha"] == "default"
    assert len(sources) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values())


def _config_command(argv, monkeypatch, cwd, capsys, environ=None):
    from voxstream.cli import config as cmd_config

    monkeypatch.chdir(cwd)
    for name in [n for n in os.environ if n.startswith("VOXSTREAM_")]:
        monkeypatch.delenv(name)
    for name, value in (environ or {}).items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    cmd_config.register(parser.add_subparsers())
    args = parser.parse_args(["config", *argv])
    assert args.func(args) == 0
    return capsys.readouterr().out


def test_real_cli_flag_beats_environment_and_file(tmp_path):
    """`voxstream config --node N` run as a process, with VOXSTREAM_NODE_NAME and a file both set: the flag wins,
    and without the flag the environment beats the file (the order a systemd unit needs)."""
    f = _write(tmp_path / "pi.toml", '[node]\nname = "from file"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOXSTREAM_")}
    env["VOXSTREAM_NODE_NAME"] = "from env"
    cmd = [sys.executable, "-m", "voxstream", "config", "--config", str(f)]
    flag = subprocess.run([*cmd, "--node", "from flag"], capture_output=True, text=True, timeout=60, env=env)
    assert flag.returncode == 0, flag.stderr
    assert 'name = "from flag"  # command line' in flag.stdout, flag.stdout
    plain = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert 'name = "from env"  # VOXSTREAM_NODE_NAME' in plain.stdout, plain.stdout


def test_config_command_prints_effective_values_and_origins(tmp_path, monkeypatch, capsys):
    """`voxstream config` prints valid TOML equal to the effective config, each value with its origin."""
    f = _write(tmp_path / "mine.toml", '[node]\nname = "kitchen"\n[mqtt]\npassword = "s3cret"\n')
    out = _config_command(
        ["--config", str(f), "--model", "seed"],
        monkeypatch,
        tmp_path,
        capsys,
        {"VOXSTREAM_MQTT_PORT": "1999", "XDG_CONFIG_HOME": str(tmp_path / "none")},
    )
    assert f"# config file: {f} (--config)" in out
    assert "# model: seed -> " in out and out.split("# model: seed -> ")[1].split("\n")[0].endswith("seed.tflite")
    assert f'name = "kitchen"  # {f}' in out
    assert 'path = "seed"  # command line' in out
    assert "port = 1999  # VOXSTREAM_MQTT_PORT" in out
    assert "s3cret" not in out and 'password = "***"' in out
    parsed = tomllib.loads(out)
    parsed["mqtt"]["password"] = "s3cret"
    assert load_config(_write(tmp_path / "echo.toml", tomli_w_free_dump(parsed)), environ={}) == load_config(
        f, {"model": {"path": "seed"}}, {"VOXSTREAM_MQTT_PORT": "1999"}
    )


def test_config_command_without_any_file_uses_defaults(tmp_path, monkeypatch, capsys):
    """With no config file anywhere, `voxstream config` says so and every value is the default."""
    if Path("/etc/voxstream/config.toml").is_file():
        pytest.skip("/etc/voxstream/config.toml exists on this machine")
    monkeypatch.setenv("HOME", str(tmp_path))
    out = _config_command([], monkeypatch, tmp_path, capsys, {"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    assert "# config file: none found, built-in defaults apply" in out
    assert f"# searched: {tmp_path / 'config.toml'}, {tmp_path / 'xdg' / 'voxstream' / 'config.toml'}" in out
    values = [ln for ln in out.splitlines() if " = " in ln]
    gate = [ln for ln in values if ln.split(" = ")[0] in ("min_dbfs", "active_fraction", "rise_db", "floor_percentile")]
    assert len(gate) == 4 and all(ln.endswith("voxstream.json") and "# model card " in ln for ln in gate)
    assert values and all(ln.endswith("# default") for ln in values if ln not in gate)
    assert tomllib.loads(out) == {s: dataclasses.asdict(getattr(Config(), s)) for s in SECTIONS}


def _model_with_gate(folder: Path, **gate) -> Path:
    """A copy of the shipped seed model whose card records another training gate (the sha256 covers the
    .tflite only, so the copy still loads)."""
    import json
    import shutil

    from voxstream.inference.shipped import resolve_model

    seed = resolve_model("seed")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(seed, folder / "m.tflite")
    card = json.loads(seed.with_suffix(".json").read_text())
    card["gate"].update(gate)
    card["tflite"]["file"] = "m.tflite"
    (folder / "m.json").write_text(json.dumps(card))
    return folder / "m.tflite"


def test_config_command_shows_the_cards_gate_and_what_the_config_gives(tmp_path, monkeypatch, capsys):
    """[gate] keys the config leaves out show the card's value with origin "model card <card>"; a key the file
    sets and one the environment sets keep theirs."""
    model = _model_with_gate(tmp_path / "m", rise_db=12.0, active_fraction=0.3, min_dbfs=-90.0)
    f = _write(tmp_path / "mine.toml", "[gate]\nrise_db = 9.0\n")
    out = _config_command(
        ["--config", str(f), "--model", str(model)],
        monkeypatch,
        tmp_path,
        capsys,
        {"VOXSTREAM_GATE_MIN_DBFS": "-80", "XDG_CONFIG_HOME": str(tmp_path / "none")},
    )
    assert f"rise_db = 9.0  # {f}" in out  # the file's value wins, although it equals the default
    assert "min_dbfs = -80.0  # VOXSTREAM_GATE_MIN_DBFS" in out
    assert f"active_fraction = 0.3  # model card {model.with_suffix('.json')}" in out
    assert f"floor_percentile = 10.0  # model card {model.with_suffix('.json')}" in out


def tomli_w_free_dump(data: dict) -> str:
    """A small TOML writer for the flat tables of a config (the runtime has no TOML writer)."""
    from voxstream.cli.config import toml_value

    return "".join(
        f"[{s}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items()) for s, table in data.items()
    )
