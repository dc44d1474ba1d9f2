"""Entity ids a user can predict: 16 node names on a real mosquitto, each entity id
``<domain>.voxstream_<slug>_<entity>`` with the slug of its topics, and the slug is Home Assistant's own."""

from __future__ import annotations

import asyncio
import json

from slugify import slugify

from test_publish_mqtt import Subscriber, _until, make_card, make_event, mqtt_config
from voxstream.config import node_slug
from voxstream.errors import PublisherError
from voxstream.publish.mqtt import MqttPublisher

T = 10.0
SLUGS = {
    "Küche 2": "kuche_2",
    "客厅": "ke_ting",
    "Straße": "strasse",
    "kitchen": "kitchen",
    "KITCHEN": "kitchen",
    "Kitchen!": "kitchen",
    "Living Room": "living_room",
    "front-door": "front_door",
    "  Hall   way ": "hall_way",
    "Κουζίνα": "kouzina",
    "Гостиная": "gostinaia",
    "Café crème": "cafe_creme",
    "Zoë's room": "zoe_s_room",
    "🎉": "voxstream",
    "Bad 🛁": "bad",
    "卧室": "wo_shi",
}
"""Node name -> the slug Home Assistant makes of it (homeassistant.util.slugify: python-slugify with separator "_";
the issue's examples are Straße -> strasse, 客厅 -> ke_ting, Küche 2 -> kuche_2); a name with nothing left after
slugging (🎉) gets voxstream's fallback."""
ENTITIES = {"sensor": ("emotion", "emotion_confidence", "arousal", "valence"), "event": ("emotion_change",)}
"""The entity part of each entity id: the entity's name slugged (what Home Assistant makes of an ASCII name)."""


def ha_entity_id(domain: str, payload: dict) -> str:
    """The entity id Home Assistant gives a discovered entity with an ``object_id`` (async_generate_entity_id
    slugifies it; from 2025.10 ``default_entity_id`` is used as it is)."""
    return f"{domain}.{slugify(payload['object_id'], separator='_')}"


def test_the_slug_is_home_assistants():
    """node_slug gives Home Assistant's slug for all 16 names (the fallback only where nothing is left)."""
    assert len(SLUGS) == 16
    assert {name: node_slug(name) for name in SLUGS} == SLUGS
    assert all(slugify(name, separator="_") in (slug, "") for name, slug in SLUGS.items())


async def test_sixteen_names_on_a_broker_give_predictable_entity_ids(mqtt_broker):
    """Each name goes on the broker in turn while the earlier ones still run: a name whose slug is held is refused;
    every discovered entity id is <domain>.voxstream_<slug>_<entity>, its topics are under voxstream/<slug>/, and
    the device keeps the name that holds the slug."""
    cfg = mqtt_config(mqtt_broker)
    running: dict[str, MqttPublisher] = {}
    refused: list[str] = []
    async with Subscriber(mqtt_broker, "homeassistant/+/+/config") as sub:
        try:
            for name in SLUGS:
                pub = MqttPublisher(cfg, name, make_card())
                try:
                    await pub.__aenter__()
                except PublisherError as exc:
                    assert f"MQTT node {name!r} (voxstream/{SLUGS[name]}/...) is in use" in str(exc)
                    refused.append(name)
                    continue
                running[name] = pub
                await asyncio.wait_for(pub.publish(make_event(0)), T)
                await _until(lambda: pub.sent == 1, T)  # noqa: B023 - awaited in this iteration
            assert refused == ["KITCHEN", "Kitchen!"]
            holders = {SLUGS[name]: name for name in running}
            assert len(holders) == 14
            await sub.until(lambda: len(sub.messages) == 14 * 5, T)
        finally:
            for pub in running.values():
                await pub.__aexit__(None, None, None)
    seen: dict[str, set[str]] = {}
    for topic, text, _ in sub.messages:
        payload = json.loads(text)
        domain = topic.split("/")[1]
        slug = payload["device"]["identifiers"][0].removeprefix("voxstream_")
        assert payload["device"]["name"] == f"voxstream {holders[slug]}"
        entity = payload["object_id"].removeprefix(f"voxstream_{slug}_")
        assert entity in ENTITIES[domain] and entity == slugify(payload["name"], separator="_"), payload
        assert ha_entity_id(domain, payload) == payload["default_entity_id"] == f"{domain}.voxstream_{slug}_{entity}"
        assert payload["unique_id"].startswith(f"voxstream_{slug}_")
        assert payload["state_topic"].startswith(f"voxstream/{slug}/")
        assert payload["availability_topic"] == f"voxstream/{slug}/status"
        seen.setdefault(slug, set()).add(payload["default_entity_id"])
    assert set(seen) == set(holders) and all(len(ids) == 5 for ids in seen.values())
