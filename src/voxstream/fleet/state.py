"""The fleet model: every node's status, latest event and a short timeline (pure: no I/O, time is an argument).

:meth:`Fleet.on_message` takes one MQTT message (topic, payload bytes, wall
time in seconds since the epoch) and either updates one node and returns the
node's name, or counts the message under a reason in :attr:`Fleet.rejected`
and returns None.  Nothing a publisher sends can raise out of it.

Memory is bounded: payloads above ``max_payload_bytes`` are not parsed, node
names are capped in length, each node keeps at most ``timeline_points``
points, and the fleet holds at most ``max_nodes`` nodes: a newcomer beyond
that evicts the offline node seen longest ago, or is refused (counted) when
every node is online.
"""

from __future__ import annotations

import collections
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ONLINE = "online"
OFFLINE = "offline"
UNKNOWN = "unknown"
"""Status of a node whose status topic has not been seen (yet)."""
_STATUSES = (ONLINE, OFFLINE)
_MAX_SHARED_LABELS = 256


@dataclass(frozen=True)
class FleetLimits:
    max_nodes: int = 1000
    """Nodes kept at once; beyond that the offline node seen longest ago is evicted."""
    max_payload_bytes: int = 4096
    """Larger payloads are counted and ignored (a real event is about 400 bytes)."""
    max_node_chars: int = 64
    """Longer node names are counted and ignored."""
    max_label_chars: int = 40
    """Longer labels are counted and ignored."""
    timeline_points: int = 150
    """Timeline points kept per node (a ring)."""
    timeline_step_s: float = 2.0
    """A new timeline point at most this often while the label stays the same, in seconds."""


def iso(t: float) -> str:
    """Epoch seconds as ISO 8601 UTC with milliseconds (the events' own format)."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: object) -> float | None:
    """An event's ``timestamp`` as epoch seconds, or None when it is not an ISO time."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp.timestamp() if stamp.tzinfo is not None else None


@dataclass
class NodeState:
    node: str
    status: str = UNKNOWN
    event: dict | None = None
    """The latest emotion event, as published (parsed JSON)."""
    last_change_t: float = 0.0
    """When the label or the status last changed, epoch seconds."""
    last_seen_t: float = 0.0
    """When the last accepted message arrived, epoch seconds."""
    messages: int = 0
    timeline: collections.deque = field(default_factory=collections.deque)
    """``(t, label, confidence)`` points, oldest first."""

    @property
    def label(self) -> str | None:
        return self.event["label"] if self.event else None

    def summary(self, with_timeline: bool = False, tail: int = 0) -> dict:
        """The node as JSON: what ``/api/nodes`` lists and the WebSocket sends."""
        out: dict[str, Any] = {
            "node": self.node,
            "status": self.status,
            "event": self.event,
            "last_change": iso(self.last_change_t) if self.last_change_t else None,
            "last_seen": iso(self.last_seen_t) if self.last_seen_t else None,
            "messages": self.messages,
        }
        if with_timeline:
            out["timeline"] = [list(p) for p in self.timeline]
        elif tail:
            out["tail"] = [list(p) for p in list(self.timeline)[-tail:]]
        return out


def _check_event(data: object, limits: FleetLimits) -> str | None:
    """Why a parsed payload is not an emotion event, or None when it is one."""
    if not isinstance(data, dict):
        return "not_event"
    label, conf = data.get("label"), data.get("confidence")
    if not isinstance(label, str) or not label or len(label) > limits.max_label_chars:
        return "not_event"
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not math.isfinite(conf):
        return "not_event"
    return None


class Fleet:
    """All nodes under one topic prefix; feed it with :meth:`on_message`."""

    def __init__(self, prefix: str = "voxstream", limits: FleetLimits = FleetLimits()) -> None:
        self.prefix = prefix.rstrip("/")
        self.limits = limits
        self.nodes: dict[str, NodeState] = {}
        self.accepted = 0
        self.rejected: collections.Counter[str] = collections.Counter()
        """Ignored messages by reason (bad_topic, too_large, not_json, not_event, bad_status, bad_node,
        fleet_full)."""
        self.evicted = 0
        self.cleared = 0
        """Empty payloads (a retained message deleted), e.g. a node clearing its last state at start."""
        self.online = 0
        """Nodes whose status is online (the others may be evicted)."""
        self.removed: collections.deque[str] = collections.deque(maxlen=limits.max_nodes)
        """Evicted node names not yet taken by :meth:`take_removed`."""
        self._labels: dict[str, str] = {}
        """One shared string per label (bounded), so timeline points do not each hold a copy."""
        self.lag_s: collections.deque[float] = collections.deque(maxlen=1000)
        """Arrival time minus the event's own timestamp, for the latest events (clock skew included)."""

    # -- input -------------------------------------------------------------------------------------------
    def on_message(self, topic: str, payload: bytes | bytearray | str, t: float) -> str | None:
        """Apply one message; returns the node it changed, or None when it was ignored (and counted)."""
        parsed = self._split(topic)
        if isinstance(parsed, str):
            self._reject(parsed)
            return None
        node, kind = parsed
        if len(payload) > self.limits.max_payload_bytes:
            self._reject("too_large")
            return None
        if isinstance(payload, str):
            payload = payload.encode("utf-8", "replace")
        if not payload:
            return self._on_cleared(node, kind, t)
        if kind == "status":
            return self._on_status(node, bytes(payload), t)
        return self._on_event(node, bytes(payload), t)

    def _split(self, topic: str) -> tuple[str, str] | str:
        """``<prefix>/<node>/<kind>`` -> (node, kind), or the reason it is not one."""
        start = self.prefix + "/"
        if not topic.startswith(start):
            return "bad_topic"
        node, sep, kind = topic[len(start) :].partition("/")
        if not sep or kind not in ("emotion", "status"):
            return "bad_topic"
        if not node or len(node) > self.limits.max_node_chars or not node.isprintable():
            return "bad_node"
        return node, kind

    def _on_cleared(self, node: str, kind: str, t: float) -> str | None:
        """An empty payload deletes a retained message: forget the node's event (never creates a node)."""
        self.cleared += 1
        state = self.nodes.get(node)
        if state is None or kind != "emotion" or state.event is None:
            return None
        state.event = None
        state.last_change_t = t
        return self._seen(state, t)

    def _on_status(self, node: str, payload: bytes, t: float) -> str | None:
        status = payload.decode("utf-8", "replace").strip()
        if status not in _STATUSES:
            self._reject("bad_status")
            return None
        state = self._node(node, t)
        if state is None:
            return None
        if status != state.status:
            self.online += (status == ONLINE) - (state.status == ONLINE)
            state.status = status
            state.last_change_t = t
        return self._seen(state, t)

    def _on_event(self, node: str, payload: bytes, t: float) -> str | None:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            self._reject("not_json")
            return None
        why = _check_event(data, self.limits)
        if why:
            self._reject(why)
            return None
        state = self._node(node, t)
        if state is None:
            return None
        label, conf = self._shared(data["label"]), float(data["confidence"])
        if label != state.label:
            state.last_change_t = t
        self._add_point(state, t, label, conf)
        state.event = data
        sent = parse_iso(data.get("timestamp"))
        if sent is not None:
            self.lag_s.append(t - sent)
        return self._seen(state, t)

    def _shared(self, label: str) -> str:
        if len(self._labels) < _MAX_SHARED_LABELS:
            return self._labels.setdefault(label, label)
        return self._labels.get(label, label)

    def _add_point(self, state: NodeState, t: float, label: str, conf: float) -> None:
        line = state.timeline
        if line and line[-1][1] == label and t - line[-1][0] < self.limits.timeline_step_s:
            return
        line.append((round(t, 3), label, round(conf, 3)))
        while len(line) > self.limits.timeline_points:
            line.popleft()

    def _seen(self, state: NodeState, t: float) -> str:
        state.last_seen_t = t
        state.messages += 1
        self.accepted += 1
        return state.node

    def _reject(self, reason: str) -> None:
        """Count an ignored message (never raises)."""
        self.rejected[reason] += 1
        return None

    # -- membership --------------------------------------------------------------------------------------
    def _node(self, node: str, t: float) -> NodeState | None:
        """The node's state, created (evicting if full) when new; None when the fleet is full of online nodes."""
        state = self.nodes.get(node)
        if state is not None:
            return state
        if len(self.nodes) >= self.limits.max_nodes and not self._evict_one():
            self._reject("fleet_full")
            return None
        state = self.nodes[node] = NodeState(node, last_change_t=t)
        return state

    def _evict_one(self) -> bool:
        if self.online >= len(self.nodes):
            return False
        victim = min((s for s in self.nodes.values() if s.status != ONLINE), key=lambda s: s.last_seen_t)
        del self.nodes[victim.node]
        self.evicted += 1
        self.removed.append(victim.node)
        return True

    # -- output ------------------------------------------------------------------------------------------
    def snapshot(self, with_timeline: bool = False) -> list[dict]:
        """Every node, sorted by name."""
        return [self.nodes[n].summary(with_timeline) for n in sorted(self.nodes)]

    def take_removed(self) -> list[str]:
        """Nodes evicted since the last call (for clients that must drop their tiles)."""
        out = list(self.removed)
        self.removed.clear()
        return out

    def stats(self) -> dict:
        lags = sorted(self.lag_s)
        return {
            "nodes": len(self.nodes),
            "online": self.online,
            "accepted": self.accepted,
            "rejected": dict(self.rejected),
            "evicted": self.evicted,
            "cleared": self.cleared,
            "lag_s_p50": round(lags[len(lags) // 2], 3) if lags else None,
            "lag_s_max": round(lags[-1], 3) if lags else None,
        }
