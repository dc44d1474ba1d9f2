"""MQTT publisher and Home Assistant discovery against a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys

import aiomqtt
import pytest

from voxstream.config import MqttConfig
from voxstream.engine.events import EmotionEvent
from voxstream.engine.params import FeatureParams
from voxstream.inference.card import LABELS, ModelCard
from voxstream.publish.homeassistant import Topics, device_info, device_page_url, discovery_configs, node_slug
from voxstream.publish.mqtt import MqttPublisher
from voxstream.publish.mqtt_state import MqttState, Throttle
from waiting import until as _until

T = 5.0
NODE = "kitchen pi"


def make_card() -> ModelCard:
    return ModelCard(
        name="test-model",
        arch="mlp",
        labels=LABELS,
        features=FeatureParams(),
        input_shape=(1, 40, 1),
        tflite_file="test.tflite",
        tflite_sha256="0" * 64,
    )


def make_event(seq: int, label: str = "happy") -> EmotionEvent:
    scores = {name: 0.02 for name in LABELS}
    scores[label if label in scores else "neutral"] = 0.88
    return EmotionEvent(
        seq=seq,
        stream_time_s=2.0 + seq * 0.25,
        label=label,
        confidence=0.88,
        scores=scores,
        raw_label=label,
        speech=True,
        level_dbfs=-20.0,
        node=NODE,
        model="test-model",
    )


def mqtt_config(broker, **kw) -> MqttConfig:
    return MqttConfig(
        **{
            "host": broker.host,
            "port": broker.port,
            "reconnect_min_s": 0.05,
            "reconnect_max_s": 0.2,
            "min_interval_s": 0.0,
            **kw,
        }
    )


class Subscriber:
    """Collects (topic, payload text, retain flag) from a real aiomqtt client in the background."""

    def __init__(self, broker, *filters: str) -> None:
        self.client = aiomqtt.Client(broker.host, broker.port)
        self.filters = filters or ("#",)
        self.messages: list[tuple[str, str, bool]] = []

    async def __aenter__(self) -> Subscriber:
        await asyncio.wait_for(self.client.__aenter__(), T)
        for f in self.filters:
            await asyncio.wait_for(self.client.subscribe(f, qos=1), T)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.wait_for(self.client.__aexit__(None, None, None), T)

    async def _read(self) -> None:
        async for m in self.client.messages:
            self.messages.append((str(m.topic), m.payload.decode(), bool(m.retain)))

    def on(self, topic: str) -> list[str]:
        return [p for t, p, _ in self.messages if t == topic]

    async def until(self, predicate, timeout: float = T) -> None:
        await _until(predicate, timeout)


def test_throttle_passes_changes_and_spaced_repeats():
    """The throttle passes every label change and an unchanged label at most every min_interval_s."""
    throttle = Throttle(2.0)
    got = [
        throttle.due(label, t)
        for label, t in [
            ("happy", 0),
            ("happy", 1),
            ("sad", 1.2),
            ("sad", 3.1),
            ("sad", 3.3),
            ("sad", 5.2),
            ("sad", 5.4),
        ]
    ]
    assert got == [True, False, True, False, True, False, True]


def test_mqtt_state_decides_what_is_due_without_a_clock():
    """MqttState: changes are due at once and queued as LabelChange; repeats are held back, then flushed as unsent."""
    state = MqttState(min_interval_s=1.0, max_changes=2)
    assert state.due_state() is None and state.unsent() is None and state.current() is None
    assert state.push(make_event(0, "happy"), t=0.0)
    assert state.due_state().seq == 0 and state.due_state() is None  # sent once
    assert not state.push(make_event(1, "happy"), t=0.5)  # same label within 1 s: held back
    assert state.due_state() is None and state.unsent().seq == 1 and state.unsent() is None
    assert state.push(make_event(2, "happy"), t=1.2)  # a repeat after min_interval_s
    assert state.push(make_event(3, "sad"), t=1.3)  # a change: due at once
    assert state.due_state().seq == 3
    changes = state.take_changes()
    assert [(c.event_type, c.previous, c.seq) for c in changes] == [("happy", None, 0), ("sad", "happy", 3)]
    assert state.take_changes() == []
    for seq, label in enumerate(["angry", "fear", "neutral"], start=4):
        state.push(make_event(seq, label), t=2.0 + seq)
    assert [c.event_type for c in state.take_changes()] == ["fear", "neutral"]  # bounded: the oldest dropped
    state.push(make_event(7, "happy"), t=9.0)
    state.reconnected()
    assert state.take_changes() == [] and state.current().seq == 7


def test_node_slug_follows_home_assistant_and_the_device_keeps_the_name():
    """Slugs are Home Assistant's (case, spaces, punctuation and emoji fold away; letters are transliterated);
    topics use the slug while the device keeps the display name."""
    assert node_slug("Living Room") == "living_room" and node_slug("  kitchen pi ") == "kitchen_pi"
    assert node_slug("") == node_slug("🎉") == "voxstream"  # nothing left: the fallback
    assert node_slug("Wohnzimmer Ü") == node_slug("Wohnzimmer U") == "wohnzimmer_u"  # one node, as in HA
    cfg = MqttConfig()
    assert Topics.for_node(cfg, "Living Room").emotion == "voxstream/living_room/emotion"
    assert device_info(make_card(), "Living Room")["name"] == "voxstream Living Room"
    assert "configuration_url" not in device_info(make_card(), "Living Room")


def test_discovery_ids_are_stable_and_complete():
    """Discovery has four sensors and one event entity with stable unique_ids and entity ids, one device and
    availability; arousal and valence are enum sensors, the emotion sensor carries them as attributes."""
    cfg = MqttConfig()
    first, again = discovery_configs(cfg, make_card(), NODE), discovery_configs(cfg, make_card(), NODE)
    assert first == again
    topics = Topics.for_node(cfg, NODE)
    by_id = {payload["unique_id"]: (topic, payload) for topic, payload in first}
    keys = ("emotion", "confidence", "arousal", "valence", "emotion_event")
    assert set(by_id) == {f"voxstream_kitchen_pi_{key}" for key in keys}
    entity_ids = set()
    for topic, payload in first:
        domain = topic.split("/")[1]
        assert topic == f"homeassistant/{domain}/{payload['unique_id']}/config"
        assert payload["default_entity_id"] == f"{domain}.{payload['object_id']}"
        entity_ids.add(payload["default_entity_id"])
    assert entity_ids == {
        "sensor.voxstream_kitchen_pi_emotion",
        "sensor.voxstream_kitchen_pi_emotion_confidence",
        "sensor.voxstream_kitchen_pi_arousal",
        "sensor.voxstream_kitchen_pi_valence",
        "event.voxstream_kitchen_pi_emotion_change",
    }  # as Home Assistant names ASCII nodes
    assert by_id["voxstream_kitchen_pi_emotion_event"][0].startswith("homeassistant/event/")
    assert {json.dumps(p["device"]) for _, p in first} == {json.dumps(first[0][1]["device"])}
    assert all(p["availability_topic"] == topics.status for _, p in first)
    event_types = by_id["voxstream_kitchen_pi_emotion_event"][1]["event_types"]
    assert event_types == [*LABELS, "uncertain", "silence"]
    arousal, valence = by_id["voxstream_kitchen_pi_arousal"][1], by_id["voxstream_kitchen_pi_valence"][1]
    assert (arousal["device_class"], arousal["options"], arousal["name"]) == (
        "enum",
        ["low", "high", "silence"],
        "Arousal",
    )
    assert (valence["options"], valence["name"]) == (["negative", "positive", "silence"], "Valence")
    assert arousal["state_topic"] == valence["state_topic"] == topics.emotion
    assert "value_json.arousal_score" in arousal["json_attributes_template"]
    assert "value_json.valence_score" in valence["json_attributes_template"]
    attributes = by_id["voxstream_kitchen_pi_emotion"][1]["json_attributes_template"]
    assert all(
        f"value_json.{k}" in attributes for k in ("scores", "arousal", "arousal_score", "valence", "valence_score")
    )


def test_configuration_url_is_the_live_page():
    """With the live page's URL the device links to it; a listener on every interface is named by host name."""
    cfg = MqttConfig()
    on_lo = discovery_configs(cfg, make_card(), NODE, page_url="http://127.0.0.1:8765/")
    assert {p["device"]["configuration_url"] for _, p in on_lo} == {"http://127.0.0.1:8765/"}
    assert device_page_url("http://0.0.0.0:8765/", hostname=lambda: "pi4") == "http://pi4:8765/"
    assert device_page_url("http://[::]:9000/", hostname=lambda: "pi4") == "http://pi4:9000/"
    assert device_page_url("http://kitchen.lan:8765/", hostname=lambda: "pi4") == "http://kitchen.lan:8765/"


async def test_state_status_discovery_and_offline_on_shutdown(mqtt_broker):
    """The node announces online + discovery, publishes the event JSON retained, fires the event, and says offline."""
    cfg = mqtt_config(mqtt_broker)
    topics = Topics.for_node(cfg, NODE)
    async with Subscriber(mqtt_broker, "voxstream/#", "homeassistant/#") as live:
        async with MqttPublisher(cfg, NODE, make_card()) as pub:
            await _until(lambda: pub.connected)
            event = make_event(0, "happy")
            await asyncio.wait_for(pub.publish(event), T)
            await live.until(lambda: live.on(topics.emotion) and live.on(topics.event))
            assert EmotionEvent.from_json(live.on(topics.emotion)[0]) == EmotionEvent.from_dict(event.to_dict())
            fire = json.loads(live.on(topics.event)[0])
            assert fire["event_type"] == "happy" and fire["previous"] is None
            configs = {t: json.loads(p) for t, p, _ in live.messages if t.endswith("/config")}
            assert configs == {t: p for t, p in discovery_configs(cfg, make_card(), NODE)}
            async with Subscriber(mqtt_broker, "voxstream/#", "homeassistant/+/+/config") as late:
                await late.until(lambda: len(late.messages) >= 7)
                retained = {t: p for t, p, r in late.messages if r}
                assert retained[topics.status] == "online"
                assert json.loads(retained[topics.emotion])["label"] == "happy"
                assert len([t for t in retained if t.endswith("/config")]) == 5
                assert topics.event not in retained
        await live.until(lambda: live.on(topics.status)[-1:] == ["offline"])
    async with Subscriber(mqtt_broker, topics.status) as after:
        await after.until(lambda: after.messages)
        assert after.messages == [(topics.status, "offline", True)]


async def test_online_never_stands_beside_a_stale_state(mqtt_broker):
    """After a restart `online` comes only after this run's first state: a subscriber joining right after the
    start sees the previous run's state only beside `offline`, and `online` only beside the new state."""
    cfg = mqtt_config(mqtt_broker)
    topics = Topics.for_node(cfg, NODE)
    async with MqttPublisher(cfg, NODE, make_card()) as first:
        await asyncio.wait_for(first.publish(make_event(0, "angry")), T)
        await _until(lambda: first.sent == 1)
    async with MqttPublisher(cfg, NODE, make_card()) as second:
        async with Subscriber(mqtt_broker, topics.emotion, topics.status) as sub:  # joins right after the start
            await _until(lambda: second.connected)  # connected, no state yet: an `online` now would be caught below
            await asyncio.wait_for(second.publish(make_event(0, "happy")), T)
            await sub.until(lambda: "online" in sub.on(topics.status))
            label = None
            for topic, payload, _ in list(sub.messages):
                if topic == topics.emotion:
                    label = json.loads(payload)["label"]
                elif payload == "online":
                    assert label == "happy", f"online announced while the retained state was {label!r}"


async def test_rate_limit_unchanged_label_but_not_changes(mqtt_broker):
    """An unchanged label goes out at most every min_interval_s, a change at once (and fires), the last on shutdown."""
    cfg = mqtt_config(mqtt_broker, min_interval_s=0.5, discovery=False)
    topics = Topics.for_node(cfg, NODE)
    now = [0.0]  # the publisher's clock, advanced by hand: 1/8 s per event (exact in binary)
    seqs = lambda: [json.loads(p)["seq"] for p in sub.on(topics.emotion)]  # noqa: E731
    async with Subscriber(mqtt_broker, topics.emotion, topics.event) as sub:
        async with MqttPublisher(cfg, NODE, make_card(), clock=lambda: now[0]) as pub:
            await _until(lambda: pub.connected)
            for seq in range(32):  # 4 s of events at 8 Hz, all "happy": due at 0, 0.5, 1.0, ... s
                now[0] = seq * 0.125
                await asyncio.wait_for(pub.publish(make_event(seq, "happy")), T)
                if seq % 4 == 0:
                    await sub.until(lambda: seq in seqs())  # noqa: B023 - awaited before `seq` changes
            now[0] = 32 * 0.125
            await asyncio.wait_for(pub.publish(make_event(32, "sad")), T)
            await sub.until(lambda: json.loads(sub.on(topics.emotion)[-1])["label"] == "sad")
            # one client's QoS 1 messages arrive in order: any held-back "happy" sent would be here before 32
            assert seqs() == [0, 4, 8, 12, 16, 20, 24, 28, 32]
            await sub.until(lambda: len(sub.on(topics.event)) == 2)
            assert [json.loads(p)["event_type"] for p in sub.on(topics.event)] == ["happy", "sad"]
            now[0] = 33 * 0.125
            await asyncio.wait_for(pub.publish(make_event(33, "sad")), T)  # not due yet: held back
            now[0] = 34 * 0.125
            await asyncio.wait_for(pub.publish(make_event(34, "angry")), T)  # a change: due at once
            await sub.until(lambda: json.loads(sub.on(topics.emotion)[-1])["seq"] == 34)
            # one client's QoS 1 messages arrive in order: had 33 been sent, it would be here before 34
            assert [json.loads(p)["seq"] for p in sub.on(topics.emotion)][-2:] == [32, 34]
            now[0] = 35 * 0.125
            await asyncio.wait_for(pub.publish(make_event(35, "angry")), T)  # held back again
        await sub.until(lambda: json.loads(sub.on(topics.emotion)[-1])["seq"] == 35)  # flushed on shutdown
        assert 33 not in [json.loads(p)["seq"] for p in sub.on(topics.emotion)]


async def test_home_assistant_birth_message_triggers_reannounce(mqtt_broker):
    """When homeassistant/status says online, discovery, status and the current state are published again."""
    cfg = mqtt_config(mqtt_broker)
    topics = Topics.for_node(cfg, NODE)
    async with MqttPublisher(cfg, NODE, make_card()) as pub:
        await _until(lambda: pub.connected)
        await asyncio.wait_for(pub.publish(make_event(0, "fear")), T)
        await _until(lambda: pub.sent == 1)
        async with Subscriber(mqtt_broker, "homeassistant/+/+/config", topics.emotion) as sub:
            await sub.until(lambda: len(sub.messages) == 6)  # the retained copies
            sub.messages.clear()
            await asyncio.wait_for(sub.client.publish(topics.ha_status, "online", qos=1), T)
            await sub.until(lambda: len(sub.messages) == 6)
            assert all(not retain for _, _, retain in sub.messages), "expected live re-publication, not retained copies"
            assert json.loads(sub.on(topics.emotion)[0])["label"] == "fear"
        assert pub.sent == 2


async def test_reconnects_after_broker_restart_and_keeps_pipeline_running(mqtt_broker, caplog):
    """With the broker down publish() stays instant and logs rate-limited warnings; after restart the latest state
    goes out."""
    caplog.set_level(logging.DEBUG, logger="voxstream.publish.mqtt")
    cfg = mqtt_config(mqtt_broker, min_interval_s=0.0, discovery=False)
    topics = Topics.for_node(cfg, NODE)
    async with MqttPublisher(cfg, NODE, make_card()) as pub:
        await _until(lambda: pub.connected)
        await asyncio.wait_for(pub.publish(make_event(0, "happy")), T)
        await _until(lambda: pub.sent == 1)
        mqtt_broker.stop()
        await _until(lambda: not pub.connected)
        for seq in range(1, 41):  # 2 s of events with no broker; publish() must never wait on the network
            coro = pub.publish(make_event(seq, "sad" if seq < 40 else "angry"))
            with pytest.raises(StopIteration):
                coro.send(None)
            await asyncio.sleep(0.05)
        records = [r for r in caplog.records if r.name == "voxstream.publish.mqtt"]
        assert 1 <= len([r for r in records if r.levelno == logging.WARNING]) <= 2
        assert not [r for r in records if r.levelno >= logging.ERROR]
        assert len([r for r in records if "still unreachable" in r.getMessage()]) >= 3, "expected several retries"
        mqtt_broker.start()
        await _until(lambda: pub.connections == 2)
        async with Subscriber(mqtt_broker, topics.emotion, topics.status) as sub:
            await sub.until(lambda: sub.on(topics.emotion) and sub.on(topics.status))
            assert json.loads(sub.on(topics.emotion)[0])["seq"] == 40  # only the latest state survived
            assert sub.on(topics.status) == ["online"]
            await asyncio.wait_for(pub.publish(make_event(41, "neutral")), T)
            await sub.until(lambda: json.loads(sub.on(topics.emotion)[-1])["seq"] == 41)


async def test_no_broker_at_all_does_not_block_start_or_stop(tmp_path, caplog):
    """Against a port with nothing listening, entering returns while the retries run, publish() never suspends,
    and leaving ends the retry loop."""
    from mqtt_broker import free_port

    caplog.set_level(logging.DEBUG, logger="voxstream.publish.mqtt")
    cfg = MqttConfig(host="127.0.0.1", port=free_port(), reconnect_min_s=0.05, reconnect_max_s=0.1)
    pub = MqttPublisher(cfg, NODE, make_card())
    await asyncio.wait_for(pub.__aenter__(), T)
    task = pub._task
    try:
        for seq in range(5):
            coro = pub.publish(make_event(seq))
            with pytest.raises(StopIteration):  # finished without ever waiting
                coro.send(None)
        await _until(lambda: len([r for r in caplog.records if "still unreachable" in r.getMessage()]) >= 2)
        assert pub.connections == 0 and not pub.connected and not task.done()
    finally:
        await asyncio.wait_for(pub.__aexit__(None, None, None), T)
    assert task.done()


LAST_WILL_CHILD = r"""
import asyncio, json, sys
from voxstream.inference.card import LABELS, ModelCard
from voxstream.config import MqttConfig
from voxstream.engine.events import EmotionEvent
from voxstream.engine.params import FeatureParams
from voxstream.publish.mqtt import MqttPublisher

async def main():
    card = ModelCard(name="m", arch="mlp", labels=LABELS, features=FeatureParams(), input_shape=(1, 40, 1),
                     tflite_file="m.tflite", tflite_sha256="0" * 64)
    cfg = MqttConfig(host="127.0.0.1", port=int(sys.argv[1]), discovery=False)
    async with MqttPublisher(cfg, sys.argv[2], card) as pub:
        while not pub.connected:
            await asyncio.sleep(0.02)
        await pub.publish(EmotionEvent(seq=0, stream_time_s=2.0, label="happy", confidence=0.9,
                                       scores={l: 0.9 if l == "happy" else 0.02 for l in LABELS}, raw_label="happy",
                                       speech=True, level_dbfs=-20.0, node=sys.argv[2], model="m"))
        while pub.sent == 0:  # online follows the first state
            await asyncio.sleep(0.02)
        print("CONNECTED", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


async def test_last_will_offline_after_sigkill(mqtt_broker):
    """A publisher process killed with SIGKILL leaves status "offline" (its last will), retained."""
    node = "willnode"
    topics = Topics.for_node(MqttConfig(), node)
    child = subprocess.Popen(
        [sys.executable, "-c", LAST_WILL_CHILD, str(mqtt_broker.port), node], stdout=subprocess.PIPE, text=True
    )
    try:
        line = await asyncio.wait_for(asyncio.to_thread(child.stdout.readline), 15)
        assert line.strip() == "CONNECTED"
        async with Subscriber(mqtt_broker, topics.status) as sub:
            await sub.until(lambda: sub.on(topics.status) == ["online"])
            os.kill(child.pid, signal.SIGKILL)
            await sub.until(lambda: sub.on(topics.status) == ["online", "offline"])
    finally:
        child.kill()
        child.wait(5)
        child.stdout.close()
    async with Subscriber(mqtt_broker, topics.status) as after:
        await after.until(lambda: after.messages)
        assert after.messages == [(topics.status, "offline", True)]


def test_client_log_is_demoted_and_a_cancelled_subscribe_leaves_no_traceback():
    """aiomqtt's records go to debug; its 'Unexpected message ID' (the SUBACK of a subscribe a stopping run
    cancelled) keeps its line but loses the traceback, so a clean stop prints no Traceback even with --debug."""
    import io
    import logging

    from voxstream.publish.mqtt import _CLIENT_LOGGER

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    _CLIENT_LOGGER.addHandler(handler)
    old = _CLIENT_LOGGER.level
    _CLIENT_LOGGER.setLevel(logging.DEBUG)
    try:
        try:
            {}.pop(2)
        except KeyError:
            _CLIENT_LOGGER.exception('Unexpected message ID "%d" in on_subscribe callback', 2)
        _CLIENT_LOGGER.error("failed to connect")
    finally:
        _CLIENT_LOGGER.removeHandler(handler)
        _CLIENT_LOGGER.setLevel(old)
    text = out.getvalue()
    assert 'DEBUG Unexpected message ID "2" in on_subscribe callback' in text
    assert "DEBUG failed to connect" in text
    assert "Traceback" not in text and "KeyError" not in text
