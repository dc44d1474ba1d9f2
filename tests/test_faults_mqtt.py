"""MQTT faults against a real mosquitto: down at start, killed mid-stream, restarted, or hanging; audio never stops."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import signal
import socket
import time

import pytest

from engine_support import need_model
from fault_support import MqttTap, VoxProc, healthz, terminate_quietly, tone_with_speechlike_bursts
from mqtt_broker import Broker
from test_mqtt_node_clash import trouble
from test_publish_mqtt import _until, make_card
from voxstream.config import MqttConfig
from voxstream.publish.mqtt import MqttPublisher

MAX_GAP_S = 4.0
"""Longest allowed pause between two events on stdout.  A connect or publish holding up the audio path would
pause the events for its time-out (5 s, ``PUBLISH_TIMEOUT_S`` of the publisher); a loaded machine pauses for
well under a second.  (tests/test_publish_mqtt.py checks that ``publish`` returns without suspending.)"""
OUTAGE_EVENTS = 12
"""Events (3 s of audio) that must arrive while the broker is away."""
WAIT_S = 30.0
"""Generous time-out for anything awaited (events, MQTT messages) on a loaded machine."""
NODE = "faultnode"
FAST_BACKOFF = {"VOXSTREAM_MQTT_RECONNECT_MIN_S": "0.2", "VOXSTREAM_MQTT_RECONNECT_MAX_S": "2.0"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tone_with_speechlike_bursts(tmp_path_factory.mktemp("mqttfault") / "tone.wav", 5.0)


def _max_gap(proc: VoxProc, since: float) -> float:
    times = [t for t, line in list(proc.out) if line.startswith("{") and t >= since]
    return max((b - a for a, b in zip(times, times[1:])), default=0.0)


def _quiet_end(proc: VoxProc, signalled_at: float) -> None:
    """A run that ends on SIGTERM: exit 0, one `stopped:` line, and no line reporting trouble after the signal (no
    WARNING or ERROR, no traceback, no asyncio "Future exception was never retrieved"); none of the last three
    anywhere in the run."""
    assert proc.proc.returncode == 0, (proc.proc.returncode, proc.stderr[-3000:])
    after = [line for t, line in proc.err if t >= signalled_at]
    assert trouble(after) == [], proc.stderr[-3000:]
    assert len([line for line in after if " INFO voxstream.cli.run: stopped: " in line]) == 1, proc.stderr[-3000:]
    assert not re.search(r"Traceback|never retrieved|Exception ignored| ERROR ", proc.stderr), proc.stderr[-3000:]


def _wait_announced(tap: MqttTap, after: float, timeout: float = WAIT_S) -> None:
    """Status online, the HA discovery configs and the emotion state, all published after ``after``."""

    def fresh(suffix: str, want=None) -> bool:
        return any(t > after and (want is None or p == want) for t, p in tap.on(suffix))

    tap.wait(
        lambda: fresh(f"{NODE}/status", b"online") and fresh("/config") and fresh(f"{NODE}/emotion"),
        timeout,
        "online + discovery + state",
    )


@pytest.mark.slow
def test_broker_down_at_start_killed_and_restarted(clip, tmp_path):
    """The stream never stops while the broker is away; on its return status, discovery and state are republished."""
    need_model()
    broker = Broker(tmp_path / "broker")  # not started yet: the broker is down when voxstream starts
    proc = VoxProc(
        "--debug",
        "run",
        "--file",
        str(clip),
        "--loop",
        "--json",
        "--ws-port",
        "0",
        "--node",
        NODE,
        "--mqtt-host",
        broker.host,
        "--mqtt-port",
        str(broker.port),
        env=FAST_BACKOFF,
    )
    tap = None
    try:
        port = proc.ws_port()
        proc.wait_events(4, WAIT_S)
        t_down = time.monotonic()
        # broker down at start: connection attempts back off in the background while the events keep coming
        proc.wait_events(len(proc.events()) + OUTAGE_EVENTS, WAIT_S)
        assert proc.proc.poll() is None

        broker.start()
        t_up = time.monotonic()
        tap = MqttTap(broker.host, broker.port, (f"voxstream/{NODE}/#", "homeassistant/#"))
        _wait_announced(tap, 0)

        broker.stop()  # killed mid-stream
        t_kill = time.monotonic()
        proc.wait_events(len(proc.events()) + OUTAGE_EVENTS, WAIT_S)  # the stream goes on during the outage
        broker.start()  # restarted on the same port
        t_restart = time.monotonic()
        _wait_announced(tap, t_restart)

        assert _max_gap(proc, t_down) < MAX_GAP_S, f"events paused for {_max_gap(proc, t_down):.2f} s"
        health = healthz(port)
        assert health["dropped_blocks"] == 0 and health["events"] >= len(proc.events()) - 1, health
        assert health["up"] is True
        state = json.loads(tap.on(f"{NODE}/emotion")[-1][1])
        assert state["node"] == NODE and state["type"] == "emotion"

        signalled_at = time.monotonic()
        proc.signal_and_wait(signal.SIGTERM, WAIT_S)
        _quiet_end(proc, signalled_at)
        assert re.search(r"stopped: \d+ events, [\d.]+ s of audio, 0 dropped blocks", proc.stderr), proc.stderr[-1500:]
        assert "did not close within" not in proc.stderr, proc.stderr[-1500:]  # MQTT flushed within the bound
        assert "Traceback" not in proc.stderr
        tap.wait(lambda: any(p == b"offline" for t, p in tap.on(f"{NODE}/status") if t > t_restart), WAIT_S, "offline")
        # one connection per broker life: online announced before the kill and again after the restart
        assert len(re.findall(r"MQTT connected to ", proc.stderr)) == 2, proc.stderr[-3000:]
        assert any(t_up < t < t_kill for t, p in tap.on(f"{NODE}/status") if p == b"online")
    finally:
        terminate_quietly(proc)
        if tap is not None:
            tap.close()
        broker.stop()


def test_broker_that_never_answers_does_not_block_audio_or_shutdown(clip):
    """A TCP listener that never sends CONNACK: events keep coming, SIGTERM exits 0 within the close bound, no
    traceback."""
    need_model()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with VoxProc(
            "run",
            "--file",
            str(clip),
            "--loop",
            "--json",
            "--ws-port",
            "0",
            "--node",
            NODE,
            "--mqtt-host",
            "127.0.0.1",
            "--mqtt-port",
            str(port),
        ) as proc:
            ws = proc.ws_port()
            proc.wait_events(6, WAIT_S)
            conn, _ = silent.accept()  # the connection attempt is stuck waiting for CONNACK
            try:
                t0 = time.monotonic()
                proc.wait_events(len(proc.events()) + 8, WAIT_S)
                assert _max_gap(proc, t0) < MAX_GAP_S
                assert healthz(ws)["dropped_blocks"] == 0
                signalled_at = time.monotonic()
                proc.signal_and_wait(signal.SIGTERM, WAIT_S)
            finally:
                conn.close()
            _quiet_end(proc, signalled_at)
            # the connect stuck on CONNACK is cut within the publisher's close bound, and the run ends normally
            assert "did not close within" not in proc.stderr, proc.stderr[-2000:]
            assert re.search(r"stopped: \d+ events", proc.stderr), proc.stderr[-2000:]
            assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr[-3000:]


async def _drop_on_subscribe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A broker that accepts the connection (MQTT 5 CONNACK, success) and closes it when the client subscribes."""
    await reader.read(1024)  # CONNECT
    writer.write(bytes([0x20, 3, 0, 0, 0]))  # CONNACK: no session, reason 0 (success), no properties
    await writer.drain()
    await reader.read(1024)  # SUBSCRIBE
    writer.close()


async def test_a_broker_that_drops_the_connection_leaves_no_unread_error(caplog):
    """A broker that closes the connection while the node subscribes: one WARNING and a retry, and no asyncio
    "Future exception was never retrieved" (aiomqtt keeps the disconnect error in a future that only its message
    iterator reads; the publisher reads it after every connection)."""
    caplog.set_level(logging.WARNING)
    unhandled: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: unhandled.append(context))
    server = await asyncio.start_server(_drop_on_subscribe, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = MqttConfig(host="127.0.0.1", port=port, reconnect_min_s=60, reconnect_max_s=60, discovery=False)
    try:
        async with MqttPublisher(cfg, NODE, make_card()) as pub:
            await _until(lambda: "retrying in the background" in caplog.text, WAIT_S)  # after aiomqtt's time-out
            assert pub.connections == 0 and pub.fatal is None
        del pub
        gc.collect()  # the dropped client is collected: an unread error would be reported now
        await asyncio.sleep(0.1)
    finally:
        server.close()
        await server.wait_closed()
    assert unhandled == []
    assert [r.levelname for r in caplog.records] == ["WARNING"], caplog.text
