"""MQTT topic names and Home Assistant MQTT discovery payloads (pure: no I/O).

One device per node with five entities:

* ``sensor`` "Emotion": state from the emotion JSON's ``label`` (an ``enum``
  sensor whose options are the labels plus "uncertain" and "silence"), the
  scores, ``arousal``, ``valence`` and their scores as attributes;
* ``sensor`` "Emotion confidence" in %;
* ``sensor`` "Arousal" (``low``/``high``) and "Valence" (``negative``/``positive``),
  enum sensors with their score as an attribute; ``silence`` while the scores are all 0
  (the JSON's ``null``: Home Assistant before 2024.6 would show an enum's rendered "None" as it is);
* ``event`` "Emotion change" with ``event_types`` = the labels, fired on each
  label change on its own topic.

All of them use the status topic for availability (``online``/``offline``, the
last will).  Topics, ``unique_id``s and entity ids use :func:`node_slug` of
the node name (Home Assistant's own slug rule), so they are stable across
restarts, while the device keeps the display name: every entity id is
``<domain>.voxstream_<slug>_<entity name slug>`` (:func:`object_id`; ``object_id``
for Home Assistant before 2025.10, ``default_entity_id`` from 2025.10, both sent).  The configs are
published retained and again whenever Home Assistant's birth message
(``<discovery_prefix>/status`` = ``online``) arrives.

The enum sensors' ``options`` (the drop-down in the automation editor)
need Home Assistant 2024.9 or newer; older versions drop the key silently.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from voxstream.config import MqttConfig, node_slug
from voxstream.engine.affect import AROUSAL_VALUES, VALENCE_VALUES
from voxstream.engine.events import SILENCE, UNCERTAIN
from voxstream.inference.card import ModelCard

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
        return cls(
            emotion=f"{base}/emotion",
            status=f"{base}/status",
            event=f"{base}/event",
            ha_status=f"{cfg.discovery_prefix.rstrip('/')}/status",
        )


def event_types(card: ModelCard) -> list[str]:
    """Every label the smoother can output: the model's, then "uncertain" and "silence"."""
    return [*card.labels, UNCERTAIN, SILENCE]


WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def device_page_url(url: str, hostname: Callable[[], str] = socket.gethostname) -> str:
    """The live page's address as Home Assistant should open it: a listener on every interface
    (``0.0.0.0``, ``::``) is named by this machine's host name (best effort: it must resolve on the LAN)."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.hostname in WILDCARD_HOSTS:
        netloc = f"{hostname()}:{parts.port}" if parts.port else hostname()
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def device_info(card: ModelCard, node: str, page_url: str | None = None) -> dict:
    info = {
        "identifiers": [f"voxstream_{node_slug(node)}"],
        "name": f"voxstream {node}",
        "manufacturer": "voxstream",
        "model": f"speech emotion ({card.name})",
        "sw_version": package_version(),
    }
    if page_url:
        info["configuration_url"] = device_page_url(page_url)
    return info


def object_id(node: str, name: str) -> str:
    """The entity id without its domain: ``voxstream_<node slug>_<entity name slug>``, what Home Assistant
    itself derives from the device and entity names when both slug the same way (``Emotion change`` ->
    ``event.voxstream_living_room_emotion_change``)."""
    return f"voxstream_{node_slug(node)}_{node_slug(name)}"


def _common(card: ModelCard, node: str, topics: Topics, domain: str, key: str, name: str, page_url: str | None) -> dict:
    entity = object_id(node, name)
    return {
        "name": name,
        "unique_id": f"voxstream_{node_slug(node)}_{key}",
        "object_id": entity,
        "default_entity_id": f"{domain}.{entity}",
        "availability_topic": topics.status,
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device_info(card, node, page_url),
        "origin": {"name": "voxstream", "sw_version": package_version()},
        "qos": 1,
    }


EMOTION_ATTRIBUTES = (
    "{{ dict(value_json.scores, arousal=value_json.arousal, arousal_score=value_json.arousal_score,"
    " valence=value_json.valence, valence_score=value_json.valence_score) | tojson }}"
)
"""The emotion sensor's attributes: every label's score, then arousal, valence and their scores."""


def _affect(
    card: ModelCard,
    node: str,
    topics: Topics,
    key: str,
    name: str,
    values: tuple[str, ...],
    icon: str,
    page_url: str | None,
) -> dict:
    """An enum sensor for ``arousal`` or ``valence`` of the emotion JSON, its score as the attribute."""
    return _common(card, node, topics, "sensor", key, name, page_url) | {
        "state_topic": topics.emotion,
        "value_template": f"{{{{ value_json.{key} or '{SILENCE}' }}}}",
        "json_attributes_topic": topics.emotion,
        "json_attributes_template": f'{{{{ {{"{key}_score": value_json.{key}_score}} | tojson }}}}',
        "device_class": "enum",
        "options": [*values, SILENCE],
        "icon": icon,
    }


def discovery_configs(
    cfg: MqttConfig, card: ModelCard, node: str, page_url: str | None = None
) -> list[tuple[str, dict]]:
    """``(config topic, payload)`` for each entity; publish them retained.  ``page_url``: the live page,
    the device's ``configuration_url`` (none when the WebSocket listener is off)."""
    topics = Topics.for_node(cfg, node)
    emotion = _common(card, node, topics, "sensor", "emotion", "Emotion", page_url) | {
        "state_topic": topics.emotion,
        "value_template": "{{ value_json.label }}",
        "json_attributes_topic": topics.emotion,
        "json_attributes_template": EMOTION_ATTRIBUTES,
        "device_class": "enum",
        "options": event_types(card),
        "icon": "mdi:emoticon-outline",
    }
    confidence = _common(card, node, topics, "sensor", "confidence", "Emotion confidence", page_url) | {
        "state_topic": topics.emotion,
        "value_template": "{{ (value_json.confidence * 100) | round(1) }}",
        "unit_of_measurement": "%",
        "state_class": "measurement",
        "suggested_display_precision": 0,
        "icon": "mdi:gauge",
    }
    arousal = _affect(card, node, topics, "arousal", "Arousal", AROUSAL_VALUES, "mdi:lightning-bolt", page_url)
    valence = _affect(card, node, topics, "valence", "Valence", VALENCE_VALUES, "mdi:thumbs-up-down", page_url)
    change = _common(card, node, topics, "event", "emotion_event", "Emotion change", page_url) | {
        "state_topic": topics.event,
        "event_types": event_types(card),
        "icon": "mdi:emoticon-excited-outline",
    }
    prefix = cfg.discovery_prefix.rstrip("/")
    return [
        (f"{prefix}/{component}/{payload['unique_id']}/config", payload)
        for component, payload in (
            ("sensor", emotion),
            ("sensor", confidence),
            ("sensor", arousal),
            ("sensor", valence),
            ("event", change),
        )
    ]
