"""Security and privacy: loopback listeners by default, no audio samples in any output, no unsafe deserialisation."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from engine_support import ROOT, need_model
from fault_support import MqttTap, VoxProc, tone_with_speechlike_bursts
from voxstream.config import Config, load_config

MAX_BYTES = 4096
EVENT_KEYS = {
    "seq",
    "stream_time_s",
    "label",
    "confidence",
    "scores",
    "raw_label",
    "speech",
    "level_dbfs",
    "node",
    "model",
    "timestamp",
    "type",
    "arousal",
    "arousal_score",
    "valence",
    "valence_score",
}
HELLO_KEYS = {"type", "node", "model", "arch", "labels", "extra_labels", "window_s", "hop_s", "sample_rate"}
FIRE_KEYS = {"event_type", "label", "previous", "confidence", "stream_time_s", "node", "timestamp"}
_FLOAT_RUN = re.compile(r"(?:-?\d+\.\d+(?:e-?\d+)?\s*,\s*){16,}")
"""Sixteen or more numbers in a row: what a leaked block of samples would look like in text."""


def test_listeners_default_to_loopback():
    """Defaults (dataclasses and the shipped config.toml) bind the WebSocket server and MQTT to 127.0.0.1."""
    for cfg in (Config(), load_config(ROOT / "config.toml", environ={})):
        assert cfg.websocket.host == "127.0.0.1"
        assert cfg.mqtt.host == "127.0.0.1"


def test_running_server_listens_on_loopback_only(tmp_path):
    """With the default config the running WebSocket server's listening sockets are bound to 127.0.0.1 only."""
    need_model()
    clip = tone_with_speechlike_bursts(tmp_path / "t.wav", 4.0)
    with VoxProc("run", "--file", str(clip), "--loop", "--json", "--ws-port", "0", "--no-mqtt") as proc:
        port = proc.ws_port()
        listening = [c for c in psutil.Process(proc.pid).net_connections(kind="inet") if c.status == "LISTEN"]
        assert listening, "no listening socket found"
        assert {c.laddr.port for c in listening} == {port}
        assert {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
        proc.signal_and_wait(signal.SIGTERM)


def _no_samples(text: str, where: str) -> None:
    assert len(text.encode()) < MAX_BYTES, f"{where}: {len(text.encode())} bytes"
    assert not _FLOAT_RUN.search(text), f"{where}: a long run of numbers: {text[:200]}"


def _check_json(text: str, where: str) -> dict:
    _no_samples(text, where)
    data = json.loads(text)
    assert isinstance(data, dict), where
    for value in data.values():
        if isinstance(value, list):
            assert len(value) <= 16 and not all(isinstance(v, float) for v in value if value), (where, value)
    return data


def _ws_reader(port: int, sink: list, stop: threading.Event) -> None:
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
        while not stop.is_set():
            try:
                sink.append(ws.recv(timeout=0.2))
            except TimeoutError:
                continue
            except Exception:  # server closed at the end
                return


@pytest.mark.slow
def test_no_output_channel_carries_audio(tmp_path, mqtt_broker):
    """Streaming speech-like audio: every WS and MQTT message, stdout and stderr line is small JSON/text with
    known keys."""
    need_model()
    clip = tone_with_speechlike_bursts(tmp_path / "t.wav", 3.0)
    node = "privacy"
    ws_msgs: list[str] = []
    stop = threading.Event()
    with (
        MqttTap(mqtt_broker.host, mqtt_broker.port) as tap,
        VoxProc(
            "--debug",
            "run",
            "--file",
            str(clip),
            "--loop",
            "--json",
            "--ws-port",
            "0",
            "--node",
            node,
            "--mqtt-host",
            mqtt_broker.host,
            "--mqtt-port",
            str(mqtt_broker.port),
            env={"VOXSTREAM_MQTT_MIN_INTERVAL_S": "0"},
        ) as proc,
    ):
        reader = threading.Thread(target=_ws_reader, args=(proc.ws_port(), ws_msgs, stop), daemon=True)
        reader.start()
        proc.wait_events(16, 30)
        time.sleep(1.0)
        proc.signal_and_wait(signal.SIGTERM)
        stop.set()
        reader.join(5)
        time.sleep(0.5)
    assert len(ws_msgs) >= 10
    hello = _check_json(ws_msgs[0], "ws hello")
    assert set(hello) == HELLO_KEYS
    for i, msg in enumerate(ws_msgs[1:]):
        assert set(_check_json(msg, f"ws message {i}")) == EVENT_KEYS
    assert len(tap.messages) >= 6
    for _, topic, payload, _ in tap.messages:
        text = payload.decode("utf-8")
        if topic.endswith("/status"):
            assert text in ("online", "offline")
        elif topic.endswith("/emotion"):
            assert set(_check_json(text, topic)) == EVENT_KEYS
        elif topic.endswith("/event"):
            assert set(_check_json(text, topic)) <= FIRE_KEYS | EVENT_KEYS
        else:
            assert topic.startswith("homeassistant/") and topic.endswith("/config"), topic
            _check_json(text, topic)
    for _, line in proc.out:
        assert set(_check_json(line, "stdout")) == EVENT_KEYS
    for _, line in proc.err:
        _no_samples(line, "stderr")


_UNSAFE = {
    "pickle": re.compile(r"\b(c?pickle|dill|shelve|marshal|joblib)\b"),
    "eval/exec": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "yaml.load": re.compile(r"yaml\.(load|unsafe_load|full_load)\s*\("),
    "torch.load": re.compile(r"torch\.load\s*\("),
    "keras unsafe": re.compile(r"safe_mode\s*=\s*False"),
    "shell": re.compile(r"shell\s*=\s*True|os\.system\s*\("),
}
_SAFE_USES: dict[tuple[str, str], str] = {
    # (file relative to the repo, pattern name) -> why it is safe; none needed so far.
}


def unsafe_uses(root: Path) -> list[str]:
    found = []
    for folder in ("src",):
        for path in sorted((root / folder).rglob("*.py")):
            rel = str(path.relative_to(root))
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                code = line.split("#", 1)[0]
                for name, rx in _UNSAFE.items():
                    if rx.search(code) and (rel, name) not in _SAFE_USES:
                        found.append(f"{rel}:{n}: {name}: {line.strip()}")
    return found


def test_no_unsafe_deserialisation_in_the_source_tree():
    """src/ never pickles, evals, execs, yaml.loads or np.loads(allow_pickle=True) anything."""
    assert unsafe_uses(ROOT) == []


def test_unsafe_scan_catches_each_pattern(tmp_path):
    """The scan itself finds each forbidden construct (so a clean result means something)."""
    (tmp_path / "src" / "voxstream" / "train").mkdir(parents=True)
    (tmp_path / "src" / "voxstream" / "bad.py").write_text(
        "import pickle\nx = eval(s)\nexec(code)\nnp.load(p, allow_pickle=True)\nyaml.load(f)\n"
        "keras.models.load_model(p, safe_mode=False)\nsubprocess.run(c, shell=True)\n"
    )
    (tmp_path / "src" / "voxstream" / "train" / "ok.py").write_text(
        "loop.run_in_executor(None, f)\nnp.load(p, allow_pickle=False)\n# pickle is never used\nmodel.evaluate(x)\n"
    )
    found = unsafe_uses(tmp_path)
    assert len(found) == 7 and all("src/voxstream/bad.py" in f for f in found), found
