"""One process per node name, on a real mosquitto: a newcomer whose slug a live process holds is refused with one
error line and the running node never notices; two started together leave exactly one; a crash frees the node."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from engine_support import need_model
from fault_support import MqttTap, VoxProc, terminate_quietly, tone_with_speechlike_bursts
from test_publish_mqtt import Subscriber, _until, make_card, make_event, mqtt_config
from voxstream.config import MqttConfig, node_slug
from voxstream.errors import PublisherError
from voxstream.publish.claim_host import PROCESS_START_MS, process_gone
from voxstream.publish.homeassistant import Topics
from voxstream.publish.mqtt import MqttPublisher
from voxstream.publish.mqtt_claim import Claim, NodeClaim, Verdict

WAIT_S = 60.0
"""Generous time-out for anything awaited (process output, MQTT messages, exit) on a loaded machine."""
T = 10.0
TOPICS = Topics.for_node(MqttConfig(), "kitchen")
ERROR = "voxstream: error:"
NOISE = re.compile(r" (WARNING|ERROR|CRITICAL) |Traceback|never retrieved|Exception ignored|^voxstream: error:")
"""Lines that report trouble: a run that ends must print exactly one of them (its error), or none."""


def trouble(lines: list[str]) -> list[str]:
    """The lines of stderr that report trouble (log records at WARNING and above, tracebacks, asyncio's
    "Future exception was never retrieved", the CLI's error line)."""
    return [line for line in lines if NOISE.search(line)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tone_with_speechlike_bursts(tmp_path_factory.mktemp("clash") / "tone.wav", 5.0)


def _node(clip, broker, name: str) -> VoxProc:
    return VoxProc(
        "run",
        "--file",
        str(clip),
        "--loop",
        "--no-ws",
        "--node",
        name,
        "--mqtt-host",
        broker.host,
        "--mqtt-port",
        str(broker.port),
    )


def _status_after(tap: MqttTap, after: float) -> list[bytes]:
    return [p for t, p in tap.on(TOPICS.status) if t > after]


def _states_after(tap: MqttTap, after: float) -> int:
    return len([t for t, _ in tap.on(TOPICS.emotion) if t > after])


def _refused(proc: VoxProc, name: str, holder: VoxProc) -> None:
    """Exit code 2 and, of everything on stderr, exactly one line reporting trouble: the one naming the holder."""
    assert proc.proc.returncode == 2, (proc.proc.returncode, proc.stderr[-3000:])
    lines = trouble([line for _, line in proc.err])
    assert len(lines) == 1 and lines[0].startswith(ERROR), proc.stderr[-3000:]
    assert f"MQTT node {name!r} (voxstream/kitchen/...) is in use by another voxstream process (run " in lines[0]
    assert f"pid {holder.pid} on host {socket.gethostname()}" in lines[0], lines[0]
    assert "give each node its own [node] name" in lines[0], lines[0]


def _client_ids(broker) -> list[str]:
    return re.findall(r"New client connected from \S+ as (voxstream-kitchen\S*) ", broker.log_text())


def test_newcomer_is_refused_and_the_running_node_never_notices(clip, mqtt_broker):
    """`kitchen` runs and publishes; `KITCHEN` started later exits 2 with one line naming it; `kitchen` sees no
    status message at all (no flip in Home Assistant) and goes on publishing.

    The issue waited 10 s before starting the newcomer because the old rule counted drops within 10 s of
    connecting; nothing in the claim depends on time, so waiting until the node is online and has published
    three states proves the same: the node is established when the newcomer comes."""
    need_model()
    tap = MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#",))
    kitchen = _node(clip, mqtt_broker, "kitchen")
    newcomer = None
    try:
        tap.wait(lambda: b"online" in _status_after(tap, 0), WAIT_S, "kitchen online")
        online_at = next(t for t, p in tap.on(TOPICS.status) if p == b"online")
        tap.wait(lambda: _states_after(tap, online_at) >= 3, WAIT_S, "three states from kitchen")
        started = time.monotonic()
        newcomer = _node(clip, mqtt_broker, "KITCHEN")
        newcomer.proc.wait(WAIT_S)
        newcomer.kill()  # joins the output threads
        _refused(newcomer, "KITCHEN", kitchen)
        assert newcomer.events() == []  # refused at the door, before any event

        refused_at = time.monotonic()
        tap.wait(
            lambda: _states_after(tap, refused_at) >= 3 or kitchen.proc.poll() is not None,
            WAIT_S,
            "kitchen publishing on",
        )
        assert kitchen.proc.poll() is None, kitchen.stderr[-3000:]
        assert _status_after(tap, started) == []  # not one status message: the running node never noticed
        assert trouble([line for _, line in kitchen.err]) == [], kitchen.stderr[-3000:]
        assert kitchen.stderr.count("MQTT connected to ") == 1
        ids = _client_ids(mqtt_broker)
        assert len(ids) == 2 and len(set(ids)) == 2, ids  # one client id per process

        kitchen.signal_and_wait(signal.SIGTERM, WAIT_S)
        assert kitchen.proc.returncode == 0 and trouble([line for _, line in kitchen.err]) == [], kitchen.stderr
        tap.wait(lambda: tap.on(TOPICS.status)[-1][1] == b"offline", WAIT_S, "offline after shutdown")
    finally:
        terminate_quietly(kitchen)
        if newcomer is not None:
            terminate_quietly(newcomer)
        tap.close()


def test_two_started_together_leave_exactly_one(clip, mqtt_broker):
    """`kitchen` and `Kitchen!` started at the same moment: one exits 2 with one line, the other keeps running,
    publishing and the Home Assistant device under its own name."""
    need_model()
    assert node_slug("Kitchen!") == node_slug("kitchen") == "kitchen"
    tap = MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#", "homeassistant/#"))
    tap.wait(lambda: tap._client.is_connected(), T, "the tap's connection")
    procs = {name: _node(clip, mqtt_broker, name) for name in ("kitchen", "Kitchen!")}
    try:
        tap.wait(lambda: any(p.proc.poll() is not None for p in procs.values()), WAIT_S, "one process to stop")
        ((loser, lost),) = [(n, p) for n, p in procs.items() if p.proc.poll() is not None]
        ((keeper, kept),) = [(n, p) for n, p in procs.items() if n != loser]
        lost.kill()
        _refused(lost, loser, kept)

        stopped_at = time.monotonic()
        tap.wait(
            lambda: _states_after(tap, stopped_at) >= 3 or kept.proc.poll() is not None,
            WAIT_S,
            "the other process to go on publishing",
        )
        assert kept.proc.poll() is None, kept.stderr[-3000:]
        assert trouble([line for _, line in kept.err]) == [], kept.stderr[-3000:]
        statuses = _status_after(tap, 0)
        assert b"online" in statuses and b"offline" not in statuses[statuses.index(b"online") :], statuses  # no flip
        devices = {json.loads(p)["device"]["name"] for _, p in tap.on("_emotion/config")}
        last_device = json.loads(tap.on("_emotion/config")[-1][1])["device"]["name"]
        assert last_device == f"voxstream {keeper}", devices  # Home Assistant ends with the keeper's device

        kept.signal_and_wait(signal.SIGTERM, WAIT_S)
        assert kept.proc.returncode == 0, kept.stderr[-3000:]
    finally:
        for proc in procs.values():
            terminate_quietly(proc)
        tap.close()


def test_restart_after_kill_9_is_not_refused(clip, mqtt_broker):
    """A node killed with SIGKILL and started again under the same name goes online and keeps one connection:
    the last will released the claim."""
    need_model()
    tap = MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#",))
    first = _node(clip, mqtt_broker, "kitchen")
    again = None
    try:
        tap.wait(lambda: b"online" in _status_after(tap, 0), WAIT_S, "kitchen online")
        first.proc.kill()
        first.kill()
        tap.wait(lambda: tap.on(TOPICS.status)[-1][1] == b"offline", WAIT_S, "last will offline")
        t_dead = tap.on(TOPICS.status)[-1][0]

        again = _node(clip, mqtt_broker, "kitchen")
        tap.wait(lambda: b"online" in _status_after(tap, t_dead), WAIT_S, "restarted kitchen online")
        tap.wait(
            lambda: _states_after(tap, t_dead) >= 4 or again.proc.poll() is not None,
            WAIT_S,
            "states from the restarted node",
        )
        assert again.proc.poll() is None and trouble([line for _, line in again.err]) == [], again.stderr[-3000:]
        assert again.stderr.count("MQTT connected to ") == 1, again.stderr[-3000:]  # never knocked off
        again.signal_and_wait(signal.SIGTERM, WAIT_S)
        assert again.proc.returncode == 0, again.stderr[-3000:]
    finally:
        terminate_quietly(first)
        if again is not None:
            terminate_quietly(again)
        tap.close()


# -- in one process: the claim on the broker, message by message ------------------------------------------
def _claim(run: str, since_ms: int, host: str = "elsewhere", pid: int = 4242) -> Claim:
    return Claim(run=run, host=host, pid=pid, since_ms=since_ms)


async def _put_status(broker, payload: str, claim: Claim | None) -> None:
    """Publish a retained status as another client would (with a claim, or none: a release like a last will)."""
    props = None
    if claim is not None:
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = claim.properties()
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await asyncio.wait_for(client.publish(TOPICS.status, payload, qos=1, retain=True, properties=props), T)


async def _retained_status(broker) -> tuple[str, Claim | None]:
    """The retained status and the claim it carries, as a newcomer reads it."""
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5) as client:
        await asyncio.wait_for(client.subscribe(TOPICS.status, qos=1), T)
        message = await asyncio.wait_for(anext(client.messages), T)
        return message.payload.decode(), Claim.from_properties(getattr(message.properties, "UserProperty", None))


async def _online(pub: MqttPublisher) -> None:
    await _until(lambda: pub.connected, T)
    await asyncio.wait_for(pub.publish(make_event(0)), T)
    await _until(lambda: pub.sent >= 1, T)


async def test_a_second_publisher_is_refused_when_it_enters(mqtt_broker):
    """`Kitchen!` entering while `kitchen` holds the node raises PublisherError naming the holder's run; the holder's
    status gets no message (no flip) and it goes on."""
    cfg = mqtt_config(mqtt_broker)
    async with MqttPublisher(cfg, "kitchen", make_card()) as holder:
        await _online(holder)
        async with Subscriber(mqtt_broker, TOPICS.status) as log:  # as Home Assistant (MQTT 3.1.1) sees it
            await _until(lambda: log.on(TOPICS.status) == ["online"], T)  # the retained copy
            second = MqttPublisher(cfg, "Kitchen!", make_card())
            assert second.client_id != holder.client_id
            with pytest.raises(PublisherError, match=rf"run {holder.claim.mine.run}, pid \d+"):
                await second.__aenter__()
            assert second.sent == 0 and second.connections == 0
            await asyncio.wait_for(holder.publish(make_event(1, "sad")), T)
            await _until(lambda: holder.sent >= 2, T)
            assert log.on(TOPICS.status) == ["online"]  # nothing since
        assert holder.fatal is None and holder.connections == 1
        assert await _retained_status(mqtt_broker) == ("online", holder.claim.mine)


async def test_two_publishers_entering_together_leave_exactly_one(mqtt_broker):
    """`kitchen` and `Kitchen!` entering at the same moment (both may find the node free and claim it): exactly
    one ends, the other keeps the node and its claim is the one retained; five times over."""
    cfg = mqtt_config(mqtt_broker)
    for _ in range(5):
        pubs = [MqttPublisher(cfg, name, make_card()) for name in ("kitchen", "Kitchen!")]
        entered = await asyncio.gather(*(p.__aenter__() for p in pubs), return_exceptions=True)
        try:
            assert all(isinstance(e, (MqttPublisher, PublisherError)) for e in entered), entered
            await _until(lambda: sum(p.fatal is not None for p in pubs) == 1, T)  # noqa: B023
            (keeper,) = [p for p in pubs if p.fatal is None]
            await _online(keeper)
            assert await _retained_status(mqtt_broker) == ("online", keeper.claim.mine)
            assert keeper.fatal is None
        finally:
            for pub, result in zip(pubs, entered):
                if not isinstance(result, BaseException):
                    await pub.__aexit__(None, None, None)


async def test_an_older_claim_wins_and_a_younger_one_or_a_release_is_answered(mqtt_broker):
    """A younger run's claim, or a release the holder did not send, is answered by claiming again; an older
    run's claim ends the holder, which then publishes nothing more on the status topic."""
    cfg = mqtt_config(mqtt_broker, discovery=False)
    async with MqttPublisher(cfg, "kitchen", make_card()) as pub:
        await _online(pub)
        mine = pub.claim.mine
        await _put_status(mqtt_broker, "offline", _claim("young", mine.since_ms + 1000))
        async with Subscriber(mqtt_broker, TOPICS.status) as log:  # as Home Assistant (MQTT 3.1.1) sees it
            await _until(lambda: log.on(TOPICS.status)[-1:] == ["online"], T)
        assert await _retained_status(mqtt_broker) == ("online", mine)
        await _put_status(mqtt_broker, "offline", None)  # e.g. a crashed newcomer's last will
        async with Subscriber(mqtt_broker, TOPICS.status) as log:  # as Home Assistant (MQTT 3.1.1) sees it
            await _until(lambda: log.on(TOPICS.status)[-1:] == ["online"], T)
        assert await _retained_status(mqtt_broker) == ("online", mine)
        assert pub.fatal is None

        older = _claim("old", mine.since_ms - 1000)
        await _put_status(mqtt_broker, "online", older)
        await _until(lambda: pub.fatal is not None, T)
        with pytest.raises(PublisherError, match="run old, pid 4242 on host elsewhere"):
            await pub.publish(make_event(1))
    assert await _retained_status(mqtt_broker) == ("online", older)  # no offline on the way out


async def test_a_claim_left_on_this_host_by_a_gone_process_is_taken_over(mqtt_broker):
    """A retained claim of this host whose process is gone (a power cut before the broker noticed) does not
    block a restart; the same claim from another host does."""
    cfg = mqtt_config(mqtt_broker, discovery=False)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = _claim("dead", 1, host=socket.gethostname(), pid=int(gone.stdout))
    await _put_status(mqtt_broker, "online", dead)
    async with MqttPublisher(cfg, "kitchen", make_card()) as pub:
        await _online(pub)
    await _put_status(mqtt_broker, "online", _claim("far", 1, pid=int(gone.stdout)))
    with pytest.raises(PublisherError, match="run far"):
        async with MqttPublisher(cfg, "kitchen", make_card()):
            pass


async def test_a_configured_client_id_is_used(mqtt_broker):
    """`[mqtt] client_id` replaces the per-run id; the node still claims and releases as usual."""
    cfg = mqtt_config(mqtt_broker, client_id="kitchen-pi", discovery=False)
    async with MqttPublisher(cfg, "kitchen", make_card()) as pub:
        await _online(pub)
        assert await _retained_status(mqtt_broker) == ("online", pub.claim.mine)
    assert re.search(r"New client connected from \S+ as kitchen-pi \(p5,", mqtt_broker.log_text())  # MQTT 5
    assert await _retained_status(mqtt_broker) == ("offline", None)


async def test_one_network_blip_does_not_stop_the_node(mqtt_broker):
    """A node knocked off the broker (a client connecting with its id) reconnects, claims again and publishes."""
    cfg = mqtt_config(mqtt_broker, discovery=False)
    async with MqttPublisher(cfg, "kitchen", make_card()) as pub:
        await _online(pub)
        async with aiomqtt.Client(mqtt_broker.host, mqtt_broker.port, identifier=pub.client_id):
            await _until(lambda: not pub.connected, T)
        await _until(lambda: pub.connections == 2 and pub.sent == 2, T)
        assert pub.fatal is None
        await asyncio.wait_for(pub.publish(make_event(1, "sad")), T)
        await _until(lambda: pub.sent == 3, T)
    assert await _retained_status(mqtt_broker) == ("offline", None)  # a clean stop releases the node


def test_claim_rule_without_a_broker():
    """The pure rule: refuse a live foreign claim; take a free, own or stale one; the older run keeps the node."""
    mine = _claim("me", 2000, host="pi", pid=10)
    alive = {10, 11}.__contains__

    def gone(claim: Claim) -> bool:  # as mqtt.process_gone: pid 10 is this process, started at 1500
        return claim.since_ms < 1500 if claim.pid == 10 else not alive(claim.pid)

    assert NodeClaim(mine, gone).checked(None) is Verdict.CLAIM
    assert NodeClaim(mine, gone).checked(mine) is Verdict.KEEP
    refused = NodeClaim(mine, gone)
    assert refused.checked(_claim("other", 3000, host="pi", pid=11)) is Verdict.LOST  # alive, even if younger
    assert refused.holder is not None and refused.holder.run == "other"
    assert NodeClaim(mine, gone).checked(_claim("twin", 1600, host="pi", pid=10)) is Verdict.LOST  # this process
    assert NodeClaim(mine, gone).checked(_claim("old", 1, host="pi", pid=12)) is Verdict.CLAIM  # pid 12 is gone
    assert NodeClaim(mine, gone).checked(_claim("prev", 1, host="pi", pid=10)) is Verdict.CLAIM  # before my start
    assert NodeClaim(mine, gone).checked(_claim("far", 1, host="far", pid=12)) is Verdict.LOST  # another host
    held = NodeClaim(mine, gone)
    held.checked(None)
    assert held.seen(mine) is Verdict.KEEP
    assert held.seen(None) is Verdict.CLAIM
    assert held.seen(_claim("young", 2001)) is Verdict.CLAIM
    assert held.seen(_claim("a-tie", 2000)) is Verdict.LOST  # same start: the smaller run id keeps it
    assert Claim.from_properties([("x", "1")]) is None and Claim.from_properties(mine.properties()) == mine


def test_process_gone_reads_the_process_table():
    """A claim's process on this host is gone when its pid is not running, or runs a process started after the
    claim (a pid reused after a reboot); this process's pid counts only for claims made since it started."""
    now_ms = int(time.time() * 1000)
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            time.sleep(0.1)
            assert not process_gone(_claim("live", now_ms, pid=other.pid))  # made after the process started
            assert process_gone(_claim("reused", now_ms - 60_000, pid=other.pid))  # made before it started
        finally:
            other.kill()
    assert process_gone(_claim("dead", now_ms, pid=other.pid))
    assert process_gone(_claim("mine-before", PROCESS_START_MS - 1, pid=os.getpid()))
    assert not process_gone(_claim("mine-now", now_ms, pid=os.getpid()))
