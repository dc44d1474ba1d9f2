"""Two `voxstream run` processes with display names (spaces, non-ASCII) on one mosquitto never share a topic,
a unique_id or a client id, and Home Assistant's device keeps each display name."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from engine_support import need_model
from fault_support import MqttTap, VoxProc, tone_with_speechlike_bursts
from voxstream.config import node_slug

NODES = ("Living Room", "Küche")
WAIT_S = 60.0


def test_two_named_nodes_on_one_broker_stay_apart(mqtt_broker, tmp_path):
    """Each node publishes under its own slug topics with its own unique_ids; payloads name their own node."""
    need_model()
    clip = tone_with_speechlike_bursts(tmp_path / "tone.wav", 4.0)
    with MqttTap(mqtt_broker.host, mqtt_broker.port, ("voxstream/#", "homeassistant/#")) as tap:
        tap.wait(lambda: tap._client.is_connected(), 10, "the tap's connection")
        procs = [
            VoxProc(
                "run",
                "--file",
                str(clip),
                "--json",
                "--no-ws",
                "--node",
                node,
                "--mqtt-host",
                mqtt_broker.host,
                "--mqtt-port",
                str(mqtt_broker.port),
            )
            for node in NODES
        ]
        try:
            for proc in procs:
                proc.proc.wait(WAIT_S)
                assert proc.proc.returncode == 0, proc.stderr[-2000:]
                assert proc.events(), proc.stderr[-2000:]
        finally:
            for proc in procs:
                proc.kill()
        slugs = {node: node_slug(node) for node in NODES}
        tap.wait(
            lambda: all(
                tap.on(f"voxstream/{s}/status")[-1:] and tap.on(f"voxstream/{s}/status")[-1][1] == b"offline"
                for s in slugs.values()
            ),
            10,
            "both nodes offline",
        )
        messages = list(tap.messages)

    assert slugs["Living Room"] == "living_room" and len(set(slugs.values())) == 2
    nodes_by_topic: dict[str, set[str]] = defaultdict(set)
    configs = []
    for _, topic, payload, _ in messages:
        assert topic.isascii() and " " not in topic, topic
        if topic.endswith("/emotion") and payload:
            nodes_by_topic[topic].add(json.loads(payload)["node"])
        elif topic.endswith("/config"):
            configs.append(json.loads(payload))
    assert dict(nodes_by_topic) == {f"voxstream/{slugs[n]}/emotion": {n} for n in NODES}

    ids_by_device: dict[str, set[str]] = defaultdict(set)
    for config in configs:
        device = config["device"]["name"]
        ids_by_device[device].add(config["unique_id"])
        node = device.removeprefix("voxstream ")
        assert config["state_topic"].startswith(f"voxstream/{slugs[node]}/"), config
        assert config["availability_topic"] == f"voxstream/{slugs[node]}/status"
    assert set(ids_by_device) == {f"voxstream {n}" for n in NODES}
    first, second = ids_by_device.values()
    assert len(first) == len(second) == 5 and not first & second

    log = mqtt_broker.log_text()
    for node in NODES:
        assert re.search(rf"Client voxstream-{slugs[node]}-[0-9a-f]{{8}} disconnected\.", log), log[-2000:]
