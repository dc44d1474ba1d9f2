"""`voxstream fleet` against a real mosquitto: the API and WebSocket follow MQTT, real nodes show in Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import aiomqtt
import pytest

import test_mqtt_tls as tls
from engine_support import ROOT, VOXSTREAM, espeak_wav, need_model, run_cli
from mqtt_broker import free_port
from test_mqtt_tls import tls_broker  # noqa: F401  (fixture: a TLS-only, password-only mosquitto)
from voxstream.config import MqttConfig, WebsocketConfig
from voxstream.fleet.mqtt import FleetSubscriber
from voxstream.fleet.server import FleetServer
from voxstream.fleet.state import Fleet, FleetLimits, iso
from waiting import until as wait_for

T = 15.0
CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/lib/chromium/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
KNOWN = re.compile(r"^(angry|disgust|fear|happy|neutral|ps|sad|calm|surprised|uncertain|silence)$")


def get_json(port: int, path: str):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=T) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        return json.loads(resp.read())


def event_json(node: str, label: str, seq: int = 0) -> str:
    return json.dumps(
        {
            "seq": seq,
            "stream_time_s": 2.0,
            "label": label,
            "confidence": 0.8,
            "scores": {label: 0.8},
            "raw_label": label,
            "speech": True,
            "level_dbfs": -20.0,
            "node": node,
            "model": "m",
            "timestamp": iso(time.time()),
            "type": "emotion",
        }
    )


async def next_update(ws, node: str, key=lambda n: True) -> dict:
    """Read WebSocket messages until an update carries ``node`` matching ``key``; returns that node."""
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), T))
        for n in msg.get("nodes", []):
            if msg["type"] == "update" and n["node"] == node and key(n):
                return n


async def test_api_and_websocket_follow_the_broker_and_survive_garbage_and_restarts(mqtt_broker):
    """Hello, updates, /api/nodes and /healthz follow real MQTT traffic; garbage is counted; a broker restart
    is reconnected to."""
    from websockets.asyncio.client import connect

    fleet = Fleet("voxstream")
    mqtt_cfg = MqttConfig(host=mqtt_broker.host, port=mqtt_broker.port, reconnect_min_s=0.1, reconnect_max_s=0.5)
    server = FleetServer(fleet, WebsocketConfig(), "127.0.0.1", 0, interval_s=0.05)
    sub = FleetSubscriber(mqtt_cfg, fleet, server.mark)
    server.broker = lambda: {"connected": sub.connected}
    async with server, sub:
        await wait_for(lambda: sub.connected, what="the fleet to connect")
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
            await pub.publish("voxstream/attic/status", "online", qos=1, retain=True)
            await pub.publish("voxstream/attic/emotion", event_json("attic", "sad"), qos=1, retain=True)
        async with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), T))
            assert hello["type"] == "hello" and hello["prefix"] == "voxstream"
            async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
                await pub.publish("voxstream/kitchen/status", "online", qos=1, retain=True)
                await pub.publish("voxstream/kitchen/emotion", b"\x00not json", qos=1)
                await pub.publish("voxstream/kitchen/emotion", "x" * 100_000, qos=1)
                await pub.publish("voxstream/kitchen/emotion", event_json("kitchen", "happy"), qos=1, retain=True)
                node = await next_update(ws, "kitchen", lambda n: n["event"] is not None)
                assert node["status"] == "online" and node["event"]["label"] == "happy" and node["tail"]
                nodes = await asyncio.to_thread(get_json, server.port, "/api/nodes")
                assert [n["node"] for n in nodes] == ["attic", "kitchen"]
                assert nodes[1]["event"] == json.loads(event_json("kitchen", "happy")) | {
                    "timestamp": nodes[1]["event"]["timestamp"]
                }
                assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", nodes[1]["last_change"])
                health = await asyncio.to_thread(get_json, server.port, "/healthz")
                assert health["rejected"] == {"not_json": 1, "too_large": 1} and health["nodes"] == 2

                await pub.publish("voxstream/kitchen/status", "offline", qos=1, retain=True)
                assert (await next_update(ws, "kitchen", lambda n: n["status"] == "offline"))["status"] == "offline"

            mqtt_broker.stop()
            await wait_for(lambda: not sub.connected, what="the fleet to notice the broker is gone")
            mqtt_broker.start()
            await wait_for(lambda: sub.connected, T * 2, what="the fleet to reconnect")
            async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port) as pub:
                await pub.publish("voxstream/kitchen/status", "online", qos=1)
                await pub.publish("voxstream/kitchen/emotion", event_json("kitchen", "angry", 7), qos=1)
                node = await next_update(ws, "kitchen", lambda n: (n["event"] or {}).get("label") == "angry")
                assert node["status"] == "online" and sub.connections >= 2


async def test_api_needs_the_token_when_one_is_set():
    """With websocket.token set, /, /api/nodes and /ws need ?token=; /healthz stays open."""
    server = FleetServer(Fleet(), WebsocketConfig(token="s3cret"), "127.0.0.1", 0)
    async with server:
        with pytest.raises(urllib.error.HTTPError) as err:
            await asyncio.to_thread(get_json, server.port, "/api/nodes")
        assert err.value.code == 401
        assert await asyncio.to_thread(get_json, server.port, "/api/nodes?token=s3cret") == []
        assert (await asyncio.to_thread(get_json, server.port, "/healthz"))["up"] is True


async def test_a_client_that_stops_reading_skips_updates_then_gets_the_whole_fleet():
    """A stalled client is skipped once its buffer is full (memory bounded) and, once it reads again, receives
    a full update with every node's latest state."""
    from websockets.asyncio.client import connect

    fleet = Fleet(limits=FleetLimits(max_payload_bytes=8192))
    server = FleetServer(fleet, WebsocketConfig(), "127.0.0.1", 0, interval_s=3600)  # ticks by hand

    def round_of_events(r: int) -> None:
        for i in range(300):
            payload = json.loads(event_json(f"n{i}", "happy", seq=r)) | {"pad": "x" * 4000}
            assert fleet.on_message(f"voxstream/n{i}/emotion", json.dumps(payload).encode(), time.time())
            server.mark(f"n{i}")

    async with server:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), T)
        async with connect(f"ws://127.0.0.1:{server.port}/ws", sock=sock, max_queue=1, max_size=None) as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "hello"
            for r in range(4):
                round_of_events(r)
                server.tick()
                await asyncio.sleep(0.05)
            assert server.skipped >= 1, "the stalled client was never skipped"
            round_of_events(4)
            seen, full = {}, False  # the client's view, rebuilt from what it reads
            deadline = time.monotonic() + T
            while not (full and len(seen) == 300 and set(seen.values()) == {4}):
                assert time.monotonic() < deadline, f"no full update (full={full}) or not the latest state"
                server.tick()
                try:
                    msg = json.loads(await asyncio.wait_for(ws.recv(), 0.2))
                except TimeoutError:
                    continue
                full = full or bool(msg.get("full"))
                seen.update({n["node"]: n["event"]["seq"] for n in msg["nodes"]})


def test_bad_flags_are_one_line_and_exit_2():
    """`voxstream fleet --max-nodes 0` says what is expected in one line, exit code 2, no traceback."""
    done = run_cli("fleet", "--max-nodes", "0", timeout=60)
    assert done.returncode == 2 and "--max-nodes must be >= 1" in done.stderr and "Traceback" not in done.stderr


# -- real processes ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def process(args: list[str], log: Path):
    """A voxstream subprocess (stderr to ``log``), stopped with SIGINT (then SIGKILL) at the end."""
    with open(log, "w") as err:
        proc = subprocess.Popen([*VOXSTREAM, *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no system chromium at {CHROMIUM}")
async def test_two_real_nodes_show_in_chromium_and_a_killed_node_turns_offline(mqtt_broker, tmp_path):
    """Two `voxstream run --file --loop` nodes and `voxstream fleet` on one mosquitto: Chromium shows both tiles
    live with their arousal and valence, and SIGKILL on one node turns its tile offline through its last will."""
    playwright_api = pytest.importorskip("playwright.async_api")
    need_model()
    wav = espeak_wav(tmp_path / "speech.wav", "I am so happy today. This is wonderful news. What a lovely day.")
    mqtt = ["--mqtt-host", mqtt_broker.host, "--mqtt-port", str(mqtt_broker.port)]
    port = free_port()
    with (
        process(["fleet", *mqtt, "--port", str(port)], tmp_path / "fleet.log") as fleet,
        process(
            ["run", "--file", str(wav), "--loop", "--no-ws", "--node", "kitchen", *mqtt], tmp_path / "kitchen.log"
        ) as kitchen,
        process(["run", "--file", str(wav), "--loop", "--no-ws", "--node", "hall", *mqtt], tmp_path / "hall.log"),
    ):
        async with playwright_api.async_playwright() as p:
            browser = await asyncio.wait_for(
                p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]), T
            )
            try:
                page = await asyncio.wait_for(browser.new_page(viewport={"width": 1000, "height": 500}), T)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                for _ in range(200):  # the fleet process may still be starting
                    try:
                        await asyncio.wait_for(page.goto(f"http://127.0.0.1:{port}/"), T)
                        break
                    except Exception:  # connection refused until it listens
                        assert fleet.poll() is None, (tmp_path / "fleet.log").read_text()[-2000:]
                        await asyncio.sleep(0.1)
                expect = playwright_api.expect
                for node in ("kitchen", "hall"):
                    tile = page.locator(f'.tile[data-node="{node}"]')
                    await expect(tile).to_have_attribute("data-status", "online", timeout=60_000)
                    await expect(tile).to_have_attribute("data-label", KNOWN, timeout=60_000)
                    await expect(tile.locator(".since")).to_have_text(re.compile(r"^changed \d+ (s|min) ago$"))
                    await expect(tile.locator('.axis[data-axis="arousal"]')).to_have_attribute(
                        "data-value", re.compile("^(low|high)$"), timeout=60_000
                    )
                    await expect(tile.locator('.axis[data-axis="valence"]')).to_have_attribute(
                        "data-value", re.compile("^(negative|positive)$"), timeout=60_000
                    )
                await expect(page.locator("#status")).to_have_attribute("data-state", "live")
                await asyncio.wait_for(
                    page.wait_for_function(
                        """() => [...document.querySelectorAll('.tile canvas')]
                    .every((c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) return true; return false; })""",
                        timeout=60_000,
                    ),
                    61,
                )
                ARTIFACTS.mkdir(exist_ok=True)
                await page.screenshot(path=str(ARTIFACTS / "fleet_page.png"))

                kitchen.send_signal(signal.SIGKILL)
                await expect(page.locator('.tile[data-node="kitchen"]')).to_have_attribute(
                    "data-status", "offline", timeout=120_000
                )
                await expect(page.locator('.tile[data-node="hall"]')).to_have_attribute("data-status", "online")
                nodes = {n["node"]: n for n in await asyncio.to_thread(get_json, port, "/api/nodes")}
                assert nodes["kitchen"]["status"] == "offline" and nodes["hall"]["status"] == "online"
                assert KNOWN.match(nodes["hall"]["event"]["label"])
                assert not errors, f"JavaScript errors on the page: {errors}"
            finally:
                await asyncio.wait_for(browser.close(), T)


def test_fleet_uses_the_config_file_tls_and_password(tmp_path, request):
    """`voxstream fleet --config` takes host, TLS CA, user and password from [mqtt], like `voxstream run`,
    and follows a node on a TLS-only, password-only mosquitto."""
    if not (shutil.which("openssl") and shutil.which("mosquitto_passwd")):
        pytest.skip("needs openssl and mosquitto_passwd")
    broker = request.getfixturevalue("tls_broker")
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mqtt]\nhost = "localhost"\nport = {broker.port}\ntls = true\n'
        f'ca_file = "{broker.pki / "ca.crt"}"\nusername = "{tls.USER}"\npassword = "{tls.PASSWORD}"\n'
    )
    port = free_port()

    async def publish_and_wait() -> dict:
        params = aiomqtt.TLSParameters(ca_certs=str(broker.pki / "ca.crt"))
        async with aiomqtt.Client(
            "localhost", broker.port, username=tls.USER, password=tls.PASSWORD, tls_params=params
        ) as pub:
            await pub.publish("voxstream/cellar/status", "online", qos=1, retain=True)
            await pub.publish("voxstream/cellar/emotion", event_json("cellar", "fear"), qos=1, retain=True)

        def listed():
            try:
                nodes = get_json(port, "/api/nodes")
            except OSError:
                return None
            # the two retained messages may arrive in either order: wait for both
            return nodes if nodes and nodes[0]["event"] and nodes[0]["status"] == "online" else None

        return await wait_for(listed, 30, what="the node, online with its event, in /api/nodes")

    with process(["fleet", "--config", str(config), "--port", str(port)], tmp_path / "fleet.log"):
        nodes = asyncio.run(publish_and_wait())
        assert [(n["node"], n["status"], n["event"]["label"]) for n in nodes] == [("cellar", "online", "fear")]
        assert get_json(port, "/healthz")["broker"]["connected"] is True
    assert tls.PASSWORD not in (tmp_path / "fleet.log").read_text()
