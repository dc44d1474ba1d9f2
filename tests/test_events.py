"""The wire messages (EmotionEvent, Hello, LabelChange) and the run status survive a JSON round trip."""

from __future__ import annotations

import json

from voxstream.engine.events import EmotionEvent, Hello, LabelChange
from voxstream.inference.card import LABELS
from voxstream.status import RunStats, RunStatus


def make_event(seq: int = 3, label: str = "happy") -> EmotionEvent:
    scores = {name: 0.02 for name in LABELS} | {label: 0.88}
    return EmotionEvent(
        seq=seq,
        stream_time_s=2.75,
        label=label,
        confidence=0.88,
        scores=scores,
        raw_label=label,
        speech=True,
        level_dbfs=-20.0,
        node="Living Room",
        model="m",
        timestamp="2026-01-01T00:00:00.000Z",
    )


def test_emotion_event_round_trip():
    """An EmotionEvent read back from its JSON equals the original."""
    event = make_event()
    assert EmotionEvent.from_json(event.to_json()) == event


def test_hello_round_trip_and_type():
    """Hello keeps every field through JSON and says type "hello"."""
    hello = Hello(
        node="Küche",
        model="m",
        arch="mlp",
        labels=list(LABELS),
        extra_labels=["uncertain", "silence"],
        window_s=2.0,
        hop_s=0.25,
        sample_rate=16000,
    )
    data = json.loads(hello.to_json())
    assert data["type"] == "hello" and data["labels"] == list(LABELS) and data["node"] == "Küche"
    assert Hello.from_json(hello.to_json()) == hello


def test_label_change_from_event_round_trip():
    """LabelChange.of copies the new label, the previous one, seq, node and time from the event."""
    change = LabelChange.of(make_event(7, "sad"), "happy")
    assert (change.event_type, change.previous, change.seq, change.node) == ("sad", "happy", 7, "Living Room")
    assert change.timestamp == "2026-01-01T00:00:00.000Z" and change.confidence == 0.88
    assert LabelChange.from_json(change.to_json()) == change
    assert LabelChange.of(make_event(0), None).previous is None


def test_run_status_snapshot_is_typed_and_has_no_emotion_data():
    """RunStats.snapshot() reports the counters and uptime at a given time, and no label or score."""
    stats = RunStats(
        model="m",
        node="n",
        started_at=100.0,
        events=12,
        audio_s=5.0004,
        dropped_blocks=2,
        overflows=1,
        reopens=3,
        nonfinite=4,
        last_event=make_event(),
    )
    status = stats.snapshot(now=112.5)
    assert status == RunStatus(
        node="n",
        model="m",
        uptime_s=12.5,
        events=12,
        audio_s=5.0,
        dropped_blocks=2,
        overflows=1,
        reopens=3,
        nonfinite=4,
    )
    text = json.dumps(status.to_dict())
    assert "happy" not in text and "label" not in text and "scores" not in text
