"""MQTT topic names and Home Assistant MQTT discovery payloads (pure: no I/O).

One device per node with three entities:

* ``sensor`` "Emotion": state from the emotion JSON's ``label`` (an ``enum``
  sensor whose options are the labels plus "uncertain" and "silence"), the
  scores as attributes (``json_attributes_topic``);
* ``sensor`` "Emotion confidence" in %;
* ``event`` "Emotion change" with ``event_types`` = the labels, fired on each
  label change on its own topic.

All three use the status topic for availability (``online``/``offline``, the
last will).  Topics, ``unique_id``s and the client id use :func:`node_slug` of
the node name (``Living Room`` -> ``living_room``), so they are stable across
restarts, while the device keeps the display name; the configs are published
retained and again whenever Home Assistant's birth message
(``<discovery_prefix>/status`` = ``online``) arrives.

The enum sensor's ``options`` (the label drop-down in the automation editor)
need Home Assistant 2024.9 or newer; older versions drop the key silently.
"""

from __future__ import annotations

from dataclasses import dataclass

from voxstream.config import MqttConfig, node_slug
from voxstream.engine.events import SILENCE, UNCERTAIN
from voxstream.model.card import ModelCard

HA_ONLINE = "online"
ONLINE = "online"
OFFLINE = "offline"


def package_version() -> str:
    from importlib import metadata  # here: importing it costs 10 ms of every start-up

    try:
        return metadata.version("voxstream")
    except metadata.PackageNotFoundError:
        return "0"


@dataclass(frozen=True)
class Topics:
    emotion: str
    """The EmotionEvent JSON, QoS 1, retained (the current state)."""
    status: str
    """``online`` (retained) while connected; ``offline`` as last will and on clean shutdown."""
    event: str
    """One ``{"event_type": label, ...}`` per label change, not retained."""
    ha_status: str
    """Home Assistant's birth/last-will topic, subscribed to re-announce discovery."""

    @property
    def base(self) -> str:
        """``<prefix>/<node slug>``, the level above every topic of the node (for log and error lines)."""
        return self.status.rsplit("/", 1)[0]

    @classmethod
    def for_node(cls, cfg: MqttConfig, node: str) -> Topics:
        base = f"{cfg.prefix.rstrip('/')}/{node_slug(node)}"
        return cls(emotion=f"{base}/emotion", status=f"{base}/status", event=f"{base}/event",
                   ha_status=f"{cfg.discovery_prefix.rstrip('/')}/status")


def event_types(card: ModelCard) -> list[str]:
    """Every label the smoother can output: the model's, then "uncertain" and "silence"."""
    return [*card.labels, UNCERTAIN, SILENCE]


def device_info(card: ModelCard, node: str) -> dict:
    return {
        "identifiers": [f"voxstream_{node_slug(node)}"],
        "name": f"voxstream {node}",
        "manufacturer": "voxstream",
        "model": f"speech emotion ({card.name})",
        "sw_version": package_version(),
    }


def _common(card: ModelCard, node: str, topics: Topics, key: str, name: str) -> dict:
    return {
        "name": name,
        "unique_id": f"voxstream_{node_slug(node)}_{key}",
        "availability_topic": topics.status,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_info(card, node),
        "origin": {"name": "voxstream", "sw_version": package_version()},
        "qos": 1,
    }


def discovery_configs(cfg: MqttConfig, card: ModelCard, node: str) -> list[tuple[str, dict]]:
    """``(config topic, payload)`` for each entity; publish them retained."""
    topics = Topics.for_node(cfg, node)
    emotion = _common(card, node, topics, "emotion", "Emotion") | {
        "state_topic": topics.emotion,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": topics.emotion,
        "json_attributes_template": "{{ value_json.scores | tojson }}",
        "device_class": "enum",
        "options": event_types(card),
        "icon": "mdi:emoticon-outline",
    }
    confidence = _common(card, node, topics, "confidence", "Emotion confidence") | {
        "state_topic": topics.emotion,
        "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
        "unit_of_measurement": "%",
        "state_class": "measurement",
        "suggested_display_precision": 0,
        "icon": "mdi:gauge",
    }
    change = _common(card, node, topics, "emotion_event", "Emotion change") | {
        "state_topic": topics.event,
        "event_types": event_types(card),
        "icon": "mdi:emoticon-excited-outline",
    }
    prefix = cfg.discovery_prefix.rstrip("/")
    return [(f"{prefix}/{component}/{payload['unique_id']}/config", payload)
            for component, payload in (("sensor", emotion), ("sensor", confidence), ("event", change))]
