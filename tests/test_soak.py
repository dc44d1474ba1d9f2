"""A test-sized soak (scripts/soak.py): real-time looping with WS and MQTT attached, the broker restarted twice."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine_support import ROOT, need_model

SCRIPT = ROOT / "scripts" / "soak.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("soak_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_soak_small(tmp_path):
    """90 s at real time, 2 broker restarts: RSS growth < 5 MB, 0 dropped blocks, one event per hop, clean exit."""
    need_model()
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        pytest.skip("mosquitto not installed (apt-get install mosquitto)")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--minutes", "1.5", "--broker-restarts", "2", "--warmup-s", "30"],
        capture_output=True,
        text=True,
        timeout=220,
        cwd=ROOT,
    )
    summary = json.loads(proc.stdout)
    print(json.dumps(summary))  # the measured numbers, for the test log
    assert proc.returncode == 0 and summary["ok"], summary["failures"]
    assert summary["broker_restarts"] == 2 and summary["mqtt_online_messages"] >= 3
    assert summary["rss_growth_mb"] < 5 and summary["dropped_blocks"] == 0
    assert abs(summary["events_stdout"] - summary["events_expected"]) <= 1 and summary["seq_contiguous"]
    assert summary["events_ws"] >= summary["events_healthz"] - 2
    assert summary["exit_code"] == 0 and summary["tracebacks"] == 0


def test_soak_checks_can_fail():
    """The soak's verdict flags RSS growth, dropped blocks, missing events and a dirty exit (it is not a rubber
    stamp)."""
    soak = _load_script()
    args = SimpleNamespace(minutes=1.5, max_rss_growth_mb=5.0)
    rss = [(float(t), 60000 + t * 200) for t in range(90)]  # +200 kB/s: 12 MB over the run
    out = [json.dumps({"seq": i}) for i in range(100)]
    err = ["... stopped: 100 events, 40.0 s of audio, 3 dropped blocks, 0 overflows", "Traceback (most recent"]
    ws = SimpleNamespace(events=10)
    summary = soak._summary(args, out, err, rss, 30.0, {"events": 100, "dropped_blocks": 3}, 3, ws, 1, 1, 2.0, 2)
    assert not summary["ok"]
    text = " ".join(summary["failures"])
    for word in ("RSS grew", "dropped", "expected 153", "WebSocket", "online", "exit code"):
        assert word in text, (word, text)
    good = soak._summary(
        args,
        [json.dumps({"seq": i}) for i in range(153)],
        ["stopped: 153 events, 40.0 s of audio, 0 dropped blocks"],
        [(float(t), 60000) for t in range(90)],
        30.0,
        {"events": 153, "dropped_blocks": 0},
        0,
        SimpleNamespace(events=153),
        3,
        0,
        0.1,
        2,
    )
    assert good["ok"], good["failures"]
