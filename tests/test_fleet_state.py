"""The fleet model (pure): membership, status, timeline, bounds and garbage input."""

from __future__ import annotations

import json
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st

from voxstream.fleet.state import OFFLINE, ONLINE, UNKNOWN, Fleet, FleetLimits, iso, parse_iso

T0 = 1_760_000_000.0


def event(label: str, conf: float = 0.8, node: str = "x", t: float = T0, **extra) -> bytes:
    data = {
        "seq": 1,
        "stream_time_s": 2.0,
        "label": label,
        "confidence": conf,
        "scores": {label: conf},
        "raw_label": label,
        "speech": True,
        "level_dbfs": -20.0,
        "node": node,
        "model": "m",
        "timestamp": iso(t),
        "type": "emotion",
        **extra,
    }
    return json.dumps(data).encode()


def test_nodes_appear_with_status_label_and_last_change():
    """A status and an event make a node whose summary carries them, with last_change at the label change."""
    fleet = Fleet("voxstream")
    assert fleet.on_message("voxstream/kitchen/status", b"online", T0) == "kitchen"
    assert fleet.on_message("voxstream/kitchen/emotion", event("happy"), T0 + 1) == "kitchen"
    assert fleet.on_message("voxstream/kitchen/emotion", event("happy", 0.9), T0 + 2) == "kitchen"
    (node,) = fleet.snapshot()
    assert node["node"] == "kitchen" and node["status"] == ONLINE
    assert node["event"]["label"] == "happy" and node["event"]["confidence"] == 0.9
    assert node["last_change"] == iso(T0 + 1)
    assert node["last_seen"] == iso(T0 + 2)
    assert fleet.stats()["online"] == 1


def test_last_will_turns_a_node_offline_and_back():
    """offline then online flips the status; each flip moves last_change, a repeat does not."""
    fleet = Fleet("vx")
    fleet.on_message("vx/a/status", b"online", T0)
    fleet.on_message("vx/a/status", b"offline", T0 + 5)
    fleet.on_message("vx/a/status", b"offline", T0 + 6)
    state = fleet.nodes["a"]
    assert state.status == OFFLINE and state.last_change_t == T0 + 5 and fleet.online == 0
    fleet.on_message("vx/a/status", b"online", T0 + 9)
    assert state.status == ONLINE and state.last_change_t == T0 + 9 and fleet.online == 1


def test_empty_payload_clears_the_event_and_creates_no_node():
    """A deleted retained message (empty payload) forgets the node's last event but never invents a node."""
    fleet = Fleet()
    assert fleet.on_message("voxstream/ghost/emotion", b"", T0) is None
    assert fleet.on_message("voxstream/ghost/status", b"", T0) is None
    fleet.on_message("voxstream/a/emotion", event("sad"), T0)
    assert fleet.on_message("voxstream/a/emotion", b"", T0 + 1) == "a"
    assert fleet.nodes["a"].event is None and set(fleet.nodes) == {"a"}
    assert fleet.cleared == 3 and not fleet.rejected


def test_event_before_status_leaves_status_unknown():
    """A node heard only through its events has status unknown (not assumed online)."""
    fleet = Fleet()
    fleet.on_message("voxstream/n/emotion", event("sad"), T0)
    assert fleet.nodes["n"].status == UNKNOWN


def test_timeline_is_a_ring_sampled_by_step_and_label_change():
    """Same-label events closer than the step add no point; label changes always do; the ring is bounded."""
    fleet = Fleet(limits=FleetLimits(timeline_points=5, timeline_step_s=2.0))
    for i in range(8):  # 0.5 s apart, one label: points at 0, 2 and 3.5 s
        fleet.on_message("voxstream/n/emotion", event("happy"), T0 + 0.5 * i)
    assert [p[0] - T0 for p in fleet.nodes["n"].timeline] == [0.0, 2.0]
    fleet.on_message("voxstream/n/emotion", event("sad"), T0 + 3.6)
    assert fleet.nodes["n"].timeline[-1][1] == "sad"
    for i in range(50):
        fleet.on_message("voxstream/n/emotion", event("angry" if i % 2 else "sad"), T0 + 4 + i)
    assert len(fleet.nodes["n"].timeline) == 5


def test_garbage_is_counted_and_ignored():
    """Non-JSON, non-events, huge payloads, bad statuses, bad topics and names are counted, never stored."""
    fleet = Fleet(limits=FleetLimits(max_payload_bytes=1000, max_node_chars=10))
    cases = {
        "not_json": [
            ("voxstream/a/emotion", b"{not json"),
            ("voxstream/a/emotion", b"\xff\xfe"),
            ("voxstream/a/emotion", b"[" * 900),
        ],
        "not_event": [
            ("voxstream/a/emotion", b"42"),
            ("voxstream/a/emotion", b'{"label": 3, "confidence": 1}'),
            ("voxstream/a/emotion", b'{"label": "x", "confidence": "high"}'),
            ("voxstream/a/emotion", b'{"label": "x", "confidence": NaN}'),
            ("voxstream/a/emotion", json.dumps({"label": "y" * 100, "confidence": 1}).encode()),
        ],
        "too_large": [
            ("voxstream/a/emotion", event("happy", extra="x" * 2000)),
            ("voxstream/a/status", b"online" * 500),
        ],
        "bad_status": [("voxstream/a/status", b"maybe"), ("voxstream/a/status", b"\x00")],
        "bad_topic": [
            ("other/a/emotion", event("happy")),
            ("voxstream/a/event", b"{}"),
            ("voxstream/a/emotion/extra", event("happy")),
            ("voxstream", b"online"),
        ],
        "bad_node": [
            ("voxstream//emotion", event("happy")),
            ("voxstream/" + "n" * 11 + "/status", b"online"),
            ("voxstream/a\nb/status", b"online"),
        ],
    }
    for reason, messages in cases.items():
        for topic, payload in messages:
            assert fleet.on_message(topic, payload, T0) is None, (reason, topic, payload[:40])
        assert fleet.rejected[reason] == len(messages), reason
    assert fleet.nodes == {} and fleet.accepted == 0


def test_fleet_is_bounded_evicting_the_oldest_offline_node():
    """Beyond max_nodes a newcomer evicts the offline node seen longest ago, or is refused when all are online."""
    fleet = Fleet(limits=FleetLimits(max_nodes=3))
    for i, name in enumerate(["a", "b", "c"]):
        fleet.on_message(f"voxstream/{name}/status", b"online", T0 + i)
    assert fleet.on_message("voxstream/d/status", b"online", T0 + 10) is None
    assert fleet.rejected["fleet_full"] == 1 and set(fleet.nodes) == {"a", "b", "c"}
    fleet.on_message("voxstream/c/status", b"offline", T0 + 11)
    fleet.on_message("voxstream/b/status", b"offline", T0 + 12)
    assert fleet.on_message("voxstream/d/status", b"online", T0 + 13) == "d"
    assert set(fleet.nodes) == {"a", "b", "d"} and fleet.evicted == 1
    assert fleet.take_removed() == ["c"] and fleet.take_removed() == []


def test_thousands_of_node_names_keep_the_fleet_bounded():
    """A flood of invented names (events only, no status) never grows the fleet past max_nodes."""
    fleet = Fleet(limits=FleetLimits(max_nodes=100, timeline_points=10))
    fleet.on_message("voxstream/real/status", b"online", T0)
    for i in range(5000):
        fleet.on_message(f"voxstream/spam-{i}/emotion", event("happy"), T0 + 1 + i * 0.001)
    assert len(fleet.nodes) == 100 and "real" in fleet.nodes
    assert fleet.evicted == 5000 - 99


def test_a_full_node_fits_in_a_known_memory_bound():
    """A node with a full timeline ring and a real-sized event costs under 30 kB of Python objects, so the default
    1000-node fleet stays under 30 MB (measured on 100 nodes to keep the test short)."""
    limits = FleetLimits(max_nodes=100)
    fleet = Fleet(limits=limits)
    labels = ["angry", "happy", "neutral", "sad"]
    names = [f"room-{i:04d}" for i in range(limits.max_nodes)]
    payloads = {(n, lab): event(lab, node=n) for n in names for lab in labels}
    tracemalloc.start()
    try:
        for name in names:
            fleet.on_message(f"voxstream/{name}/status", b"online", T0)
        for k in range(limits.timeline_points):
            for i, name in enumerate(names):
                fleet.on_message(
                    f"voxstream/{name}/emotion", payloads[name, labels[(i + k) % 4]], T0 + k * limits.timeline_step_s
                )
        used, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(len(s.timeline) == limits.timeline_points for s in fleet.nodes.values())
    per_node = used / limits.max_nodes
    print(
        f"one full node: {per_node / 1024:.1f} kB ({limits.timeline_points} points); "
        f"x {FleetLimits.max_nodes} nodes = {per_node * FleetLimits.max_nodes / 2**20:.1f} MB"
    )
    assert per_node < 30 * 1024


def test_lag_is_arrival_minus_event_timestamp():
    """The event's own ISO timestamp gives the lag statistics in stats()."""
    fleet = Fleet()
    fleet.on_message("voxstream/a/emotion", event("happy", t=T0), T0 + 0.25)
    fleet.on_message("voxstream/a/emotion", event("happy", t=T0 + 1), T0 + 1.5)
    stats = fleet.stats()
    assert abs(stats["lag_s_max"] - 0.5) < 1e-6
    assert parse_iso("yesterday") is None and parse_iso(iso(T0)) == T0


def test_api_summary_keeps_the_event_as_published():
    """The latest event is kept exactly as its JSON said, fields a newer node adds included."""
    fleet = Fleet()
    payload = event("neutral", 0.55, new_field=[1, 2])
    fleet.on_message("voxstream/a/emotion", payload, T0)
    assert fleet.snapshot()[0]["event"] == json.loads(payload)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=60),
        st.builds(lambda n, k: f"voxstream/{n}/{k}", st.text(max_size=20), st.sampled_from(["emotion", "status"])),
    ),
    st.one_of(
        st.binary(max_size=300),
        st.sampled_from([b"online", b"offline", event("happy")]),
        st.builds(
            lambda d: json.dumps(d).encode(),
            st.dictionaries(
                st.sampled_from(["label", "confidence"]),
                st.one_of(st.text(max_size=5), st.floats(), st.integers(), st.booleans()),
            ),
        ),
    ),
)
def test_any_message_never_raises(topic, payload):
    """Whatever topic and bytes arrive, on_message returns a node or None and never raises."""
    fleet = Fleet()
    result = fleet.on_message(topic, payload, T0)
    assert result is None or result in fleet.nodes
    assert fleet.accepted + sum(fleet.rejected.values()) + fleet.cleared == 1
