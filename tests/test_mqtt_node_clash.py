"""Two nodes whose names give the same MQTT slug: the clash ends a run with one error line; a crash or blip does not."""

from __future__ import annotations

import asyncio
import signal
import time

import aiomqtt
import pytest

from engine_support import need_model
from fault_support import MqttTap, VoxProc, terminate_quietly, tone_with_speechlike_bursts
from test_publish_mqtt import _until, make_card, make_event, mqtt_config
from voxstream.config import MqttConfig, node_slug
from voxstream.errors import PublisherError
from voxstream.publish.homeassistant import Topics
from voxstream.publish.mqtt import TAKEOVER_DROPS, TAKEOVER_SESSION_S, MqttPublisher

WAIT_S = 60.0
"""Generous time-out for anything awaited (process output, MQTT messages, exit) on a loaded machine."""
T = 10.0
TOPICS = Topics.for_node(MqttConfig(), "kitchen")
ERROR = "voxstream: error:"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tone_with_speechlike_bursts(tmp_path_factory.mktemp("clash") / "tone.wav", 5.0)


def _node(clip, broker, name: str) -> VoxProc:
    return VoxProc("run", "--file", str(clip), "--loop", "--no-ws", "--node", name,
                   "--mqtt-host", broker.host, "--mqtt-port", str(broker.port))


def _online_after(tap: MqttTap, after: float) -> bool:
    return any(t > after and p == b"online" for t, p in tap.on(TOPICS.status))


def _states_after(tap: MqttTap, after: float) -> int:
    return len([t for t, _ in tap.on(TOPICS.emotion) if t > after])


def _one_error_line(proc: VoxProc, name: str) -> None:
    """Exit code 2 and exactly one `voxstream: error:` line naming the clash."""
    errors = [line for _, line in proc.err if line.startswith(ERROR)]
    assert proc.proc.returncode == 2, (proc.proc.returncode, proc.stderr[-3000:])
    assert len(errors) == 1, proc.stderr[-3000:]
    assert f"MQTT node {name!r} (voxstream/kitchen/...) is in use by another voxstream process" in errors[0], errors
    assert "client id voxstream-kitchen" in errors[0] and "give each node its own [node] name" in errors[0], errors
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]


def test_two_processes_on_one_slug_end_with_one_error_line(clip, mqtt_broker):
    """`kitchen` and `Kitchen!` on one broker: a process that detects the clash exits 2 with one line naming it;
    one left running keeps its connection and publishing, and stops cleanly."""
    need_model()
    assert node_slug("Kitchen!") == node_slug("kitchen") == "kitchen"
    tap = MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#",))
    procs = {"kitchen": _node(clip, mqtt_broker, "kitchen")}
    try:
        tap.wait(lambda: _online_after(tap, 0), WAIT_S, "kitchen online")
        procs["Kitchen!"] = _node(clip, mqtt_broker, "Kitchen!")
        tap.wait(lambda: any(p.proc.poll() is not None for p in procs.values()), WAIT_S * 2, "one process to stop")
        ended = [name for name, p in procs.items() if p.proc.poll() is not None]
        for name in ended:
            procs[name].kill()  # joins the output threads
            _one_error_line(procs[name], name)
        if len(ended) == 1:  # the other one may have detected the clash too, or keeps the node
            (name, other), = [(n, p) for n, p in procs.items() if n not in ended]
            stopped_at = time.monotonic()
            tap.wait(lambda: other.proc.poll() is not None or _states_after(tap, stopped_at) >= 3, WAIT_S,
                     "the other process to stop too or to go on publishing")
            if other.proc.poll() is not None:
                other.kill()
                _one_error_line(other, name)
            else:
                other.signal_and_wait(signal.SIGTERM, WAIT_S)
                assert other.proc.returncode == 0 and ERROR not in other.stderr, other.stderr[-3000:]
                tap.wait(lambda: tap.on(TOPICS.status)[-1][1] == b"offline", WAIT_S, "offline after shutdown")
    finally:
        for proc in procs.values():
            terminate_quietly(proc)
        tap.close()


def test_restart_after_kill_9_is_not_refused(clip, mqtt_broker):
    """A node killed with SIGKILL and started again under the same name goes online and keeps one connection."""
    need_model()
    tap = MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#",))
    first = _node(clip, mqtt_broker, "kitchen")
    again = None
    try:
        tap.wait(lambda: _online_after(tap, 0), WAIT_S, "kitchen online")
        first.proc.kill()
        first.kill()
        tap.wait(lambda: tap.on(TOPICS.status)[-1][1] == b"offline", WAIT_S, "last will offline")
        t_dead = tap.on(TOPICS.status)[-1][0]

        again = _node(clip, mqtt_broker, "kitchen")
        tap.wait(lambda: _online_after(tap, t_dead), WAIT_S, "restarted kitchen online")
        tap.wait(lambda: _states_after(tap, t_dead) >= 4 or again.proc.poll() is not None, WAIT_S,
                 "states from the restarted node")
        assert again.proc.poll() is None and ERROR not in again.stderr, again.stderr[-3000:]
        assert again.stderr.count("MQTT connected to ") == 1, again.stderr[-3000:]  # never knocked off
        again.signal_and_wait(signal.SIGTERM, WAIT_S)
        assert again.proc.returncode == 0, again.stderr[-3000:]
    finally:
        terminate_quietly(first)
        if again is not None:
            terminate_quietly(again)
        tap.close()


def test_takeover_rule_counts_only_quick_drops_in_a_row():
    """A drop after a long connection counts 1, quick drops add up to TAKEOVER_DROPS, a failed reconnect resets."""
    pub = MqttPublisher(MqttConfig(), "Kitchen!", make_card())
    quick, long_ = TAKEOVER_SESSION_S / 10, TAKEOVER_SESSION_S * 100
    pub.connected = True
    for lasted in (long_, *[quick] * (TAKEOVER_DROPS - 2)):
        pub._dropped(lasted)
    assert pub.drops == TAKEOVER_DROPS - 1 and pub.fatal is None
    pub.connected = False
    pub._connection_failed(aiomqtt.MqttError("[Errno 111] Connection refused"))  # broker away: not a takeover
    assert pub.drops == 0
    for lasted in (quick, long_, *[quick] * (TAKEOVER_DROPS - 2)):  # a long connection starts the count again
        pub._dropped(lasted)
    assert pub.drops == TAKEOVER_DROPS - 1 and pub.fatal is None
    with pytest.raises(PublisherError, match=r"MQTT node 'Kitchen!' \(voxstream/kitchen/\.\.\.\) is in use"):
        pub._dropped(quick)
    assert pub.fatal is not None


async def test_two_publishers_on_one_slug_in_process(mqtt_broker):
    """In one process, `kitchen` and `Kitchen!` knock each other off until one gets PublisherError from publish()."""
    cfg = mqtt_config(mqtt_broker, discovery=False)
    async with MqttPublisher(cfg, "kitchen", make_card()) as a:
        await _until(lambda: a.connected, T)
        async with MqttPublisher(cfg, "Kitchen!", make_card()) as b:
            await _until(lambda: a.fatal is not None or b.fatal is not None, T * 3)
            loser = a if a.fatal is not None else b
            with pytest.raises(PublisherError, match=rf"MQTT node {loser.node!r} \(voxstream/kitchen/\.\.\.\)"):
                await loser.publish(make_event(0))


async def test_one_network_blip_does_not_stop_the_node(mqtt_broker):
    """A node knocked off the broker once reconnects and publishes again; the drop counts 1, nothing is fatal."""
    cfg = mqtt_config(mqtt_broker, discovery=False)
    async with MqttPublisher(cfg, "kitchen", make_card()) as pub:
        await asyncio.wait_for(pub.publish(make_event(0)), T)
        await _until(lambda: pub.sent == 1, T)
        # a client with the same id knocks the node off (the broker drops the older connection), then leaves
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier=pub.client_id):
            await _until(lambda: not pub.connected, T)
        await _until(lambda: pub.connections == 2 and pub.sent == 2, T)
        assert pub.drops == 1 and pub.fatal is None
        await asyncio.wait_for(pub.publish(make_event(1, "sad")), T)
        await _until(lambda: pub.sent == 3, T)
