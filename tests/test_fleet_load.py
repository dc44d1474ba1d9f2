"""`voxstream fleet` under load: 200 simulated nodes at 4 messages/s for 60 s plus misbehaving publishers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "fleet_load.py"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/lib/chromium/chromium"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_200_nodes_at_4_per_second_keep_the_api_current_and_rss_bounded(mqtt_broker):
    """bench/fleet_load.py against a real mosquitto and a real `voxstream fleet`: every simulated node stays
    listed and online, the API (and the page in Chromium, when there is one) shows events at most a few seconds
    old, garbage is counted, RSS stays flat."""
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--nodes",
        "200",
        "--rate",
        "4",
        "--duration",
        "60",
        "--garbage",
        "20",
        "--max-nodes",
        "300",
        "--mqtt-host",
        mqtt_broker.host,
        "--mqtt-port",
        str(mqtt_broker.port),
    ]
    browser = os.path.exists(CHROMIUM)
    if browser:
        cmd += ["--browser", CHROMIUM]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fleet_load.json").write_text(json.dumps(result, indent=1))
    print(json.dumps({k: result[k] for k in ("published_per_s", "staleness_s", "rss_mb", "min_sims_in_api", "page")}))

    assert result["published_per_s"] >= 0.9 * 200 * 4, "the generator could not keep up; the figures mean little"
    assert result["api_errors"] == 0 and result["polls"] >= 50
    assert result["min_sims_in_api"] == 200 and result["min_sims_online"] == 200
    assert result["staleness_s"]["p95"] < 2.0, result["staleness_s"]
    assert result["staleness_s"]["max"] < 10.0, result["staleness_s"]
    health = result["fleet_health"]
    assert health["rejected"]["not_json"] > 0 and health["rejected"]["too_large"] > 0
    assert health["evicted"] > 0 and health["nodes"] <= 300, "the spam names were neither evicted nor bounded"
    assert health["broker"]["dropped"] == 0
    rss = result["rss_mb"]
    assert rss["max"] < 150, rss
    assert rss["end"] - rss["after_warmup"] < 25, f"RSS grew during the run: {rss}"
    if browser:
        page = result["page"]
        assert not page["errors"], page["errors"]
        assert page["min_tiles"] == 200, page
        assert page["staleness_s"]["p95"] < 3.0 and page["staleness_s"]["max"] < 10.0, page
