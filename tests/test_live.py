"""The live protocols: the labels they score are the labels ``voxstream run`` shows, and their bookkeeping."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from engine_support import espeak_wav, need_model, run_cli
from voxstream.audio.files import load_audio
from voxstream.engine.events import EmotionEvent
from voxstream.inference.card import LABELS
from voxstream.inference.litert import Classifier
from voxstream.train.live import (
    EPISODE,
    Session,
    episode_order,
    join,
    live_config,
    outcomes,
    rapid_order,
    session_events,
    speech_onset,
    summarise,
)

RATE = 16000


def test_live_labels_are_the_labels_run_prints(tmp_path):
    """The protocol's engine and `run --file --fast --json` give the same labels for the same joined audio."""
    clf = Classifier.load(need_model())
    texts = [
        "I cannot believe you did this to me again!",
        "The weather is fine today, nothing special.",
        "Oh wow, what a wonderful surprise this is!",
    ]
    clips = [
        load_audio(espeak_wav(tmp_path / f"{i}.wav", t), RATE) * g
        for i, (t, g) in enumerate(zip(texts, (0.9, 0.3, 0.6)))
    ]
    for zeros in (False, True):
        session = join(clips, np.arange(len(clips)), RATE, zeros=zeros, seed=3)
        path = tmp_path / f"joined_{zeros}.wav"
        sf.write(str(path), session.samples, RATE, subtype="FLOAT")
        ours = [e.label for e in session_events(clf.card, clf.predict, session.samples, live_config())]
        proc = run_cli(
            "run",
            "--file",
            str(path),
            "--fast",
            "--json",
            "--no-ws",
            "--no-mqtt",
            env={"VOXSTREAM_MODEL_BASELINE": "off"},
        )
        assert proc.returncode == 0, proc.stderr
        shown = [json.loads(line)["label"] for line in proc.stdout.splitlines()]
        assert len(ours) > 20
        assert ours == shown
        assert any(lab in LABELS for lab in ours)  # the session was speech, not only silence


def test_join_puts_each_clip_after_a_gap_of_room_tone_or_zeros():
    a, b = np.full(1000, 0.5, np.float32), np.full(500, -0.25, np.float32)
    tone = join([a, b], np.array([7, 9]), RATE, zeros=False, seed=0)
    gap = int(0.6 * RATE)
    assert tone.spans.tolist() == [[gap, gap + 1000], [2 * gap + 1000, 2 * gap + 1500]]
    assert np.array_equal(tone.samples[gap : gap + 1000], a)
    assert np.array_equal(tone.samples[2 * gap + 1000 :], b)
    rms = float(np.sqrt(np.mean(tone.samples[:gap].astype(np.float64) ** 2)))
    assert 20 * np.log10(rms) == pytest.approx(-60.0, abs=0.5)
    zeros = join([a, b], np.array([7, 9]), RATE, zeros=True, seed=0)
    assert not zeros.samples[:gap].any() and not zeros.samples[gap + 1000 : 2 * gap + 1000].any()
    assert np.array_equal(join([a, b], np.array([7, 9]), RATE, False, 0).samples, tone.samples)  # seeded


def test_speech_onset_is_the_first_loud_subframe():
    x = np.zeros(RATE, np.float32)
    x[8000:] = 0.3
    x[:8000] = 1e-4  # 70 dB below: not speech
    assert speech_onset(x, RATE) == 8000


def test_rapid_order_changes_the_label_at_every_clip():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(7), [12, 8, 8, 8, 8, 8, 8])
    order = rapid_order(np.arange(len(y)), y, rng)
    assert sorted(order.tolist()) == list(range(len(y)))
    assert np.all(y[order][1:] != y[order][:-1])


def test_episode_order_holds_a_mood_for_three_clips():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(4), 6)
    order = episode_order(np.arange(len(y)), y, rng)
    assert sorted(order.tolist()) == list(range(len(y)))
    runs = y[order].reshape(-1, EPISODE)
    assert np.all(runs == runs[:, :1])  # every run one label
    assert np.all(runs[1:, 0] != runs[:-1, 0])  # and the next run another


def _event(t: float, label: str) -> EmotionEvent:
    return EmotionEvent(
        seq=0,
        stream_time_s=t,
        label=label,
        confidence=0.9,
        scores={},
        raw_label=None,
        speech=True,
        level_dbfs=-20.0,
        node="n",
        model="m",
    )


def test_outcomes_end_during_and_latency():
    # clip 0 spans 1.0-3.0 s (speech from 1.5 s), clip 1 spans 4.0-6.0 s (speech from 4.0 s)
    session = Session(
        np.zeros(6 * RATE, np.float32),
        np.array([0, 1]),
        np.array([[RATE, 3 * RATE], [4 * RATE, 6 * RATE]]),
        np.array([int(1.5 * RATE), 4 * RATE]),
    )
    labels = {
        1.5: "silence",
        2.0: "angry",
        2.5: "angry",
        3.0: "sad",
        4.0: "sad",
        4.5: "sad",
        5.0: "happy",
        5.5: "sad",
        6.0: "happy",
        6.5: "happy",
    }
    events = [_event(t, lab) for t, lab in labels.items()]
    first, second = outcomes(session, events, ["angry", "happy"], RATE)
    assert first.end == "sad"  # the event at 3.0 s, the clip's last sample
    assert first.during == pytest.approx(2 / 4)  # 1.5, 2.0, 2.5, 3.0: two right
    assert first.latency_s == pytest.approx(0.5)
    assert second.end == "happy"
    assert second.during == pytest.approx(2 / 5)
    assert second.latency_s == pytest.approx(1.0)
    metrics = summarise(
        np.array([LABELS.index("angry"), LABELS.index("happy")]), [first, second], np.array([True, True])
    )
    assert metrics["accuracy"] == 0.5
    assert metrics["during_accuracy"] == pytest.approx(0.45)
    assert metrics["latency_median_s"] == pytest.approx(0.75)
    assert metrics["latency_never"] == 0


@pytest.mark.parametrize("name", ["voxstream", "session_mlp", "seed"])
def test_every_shipped_card_carries_the_live_protocols(name):
    """Each shipped card reports every live protocol on every lao fold, beside stream, with its live settings."""
    from voxstream.train.live import GAP_S, LIVE, ROOM_TONE_DBFS

    card = json.loads((need_model().parent / f"{name}.json").read_text())
    assert card["evaluation_protocol"]["live"]["gap_s"] == GAP_S
    assert card["evaluation_protocol"]["live"]["room_tone_dbfs"] == ROOM_TONE_DBFS
    for fold in card["evaluations"]["lao"]["splits"]:
        assert {"stream", *LIVE} <= set(fold["protocols"])
        assert 0.0 <= fold["protocols"]["live"]["during_accuracy"] <= 1.0
    assert "loco" in card["evaluations"]
