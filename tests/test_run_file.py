"""`voxstream run --file` and `classify` end to end with the shipped model, plus the engine's invariances."""

import asyncio
import json
import signal
import subprocess
import time

import numpy as np
import pytest
import soundfile as sf

from engine_support import ROOT, VOXSTREAM, need_model, run_cli, speech_with_pauses
from voxstream.app import RunStats, build_publishers, run_stream
from voxstream.audio.files import iter_blocks, load_audio
from voxstream.audio.sources import FileSource
from voxstream.config import Config
from voxstream.inference.litert import Classifier
from voxstream.stages import build_engine

SR = 16000


@pytest.fixture(scope="module")
def classifier():
    return Classifier.load(need_model())


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    return speech_with_pauses(tmp_path_factory.mktemp("speech") / "speech.wav")


def events_of(lines: str) -> list[dict]:
    return [json.loads(line) for line in lines.splitlines()]


def run_engine(classifier, path, block) -> list:
    engine = build_engine(classifier.card, classifier.predict, Config())
    events = [e for b in iter_blocks(path, SR, block) for e in engine.push(b)]
    return events + engine.finish()


def test_block_size_does_not_change_events(classifier, speech):
    """Blocks of 256, 1024 and 1600 samples give the same events (labels, speech flags, scores)."""
    runs = [run_engine(classifier, speech, b) for b in (256, 1024, 1600)]
    assert len({len(r) for r in runs}) == 1 and len(runs[0]) > 20
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert (a.label, a.speech, a.raw_label, a.stream_time_s) == (
                b.label,
                b.speech,
                b.raw_label,
                b.stream_time_s,
            )
            assert max(abs(a.scores[k] - b.scores[k]) for k in a.scores) < 1e-4


def test_first_event_after_one_window_then_every_hop(classifier, speech):
    """Events start when the first 2 s window is full and follow every 0.25 s of audio."""
    times = [e.stream_time_s for e in run_engine(classifier, speech, 1600)]
    assert times[0] == pytest.approx(2.0) and np.allclose(np.diff(times), 0.25)


def test_short_stream_gets_one_event(classifier, tmp_path):
    """A 1 s clip (shorter than the window) still gets exactly one event at its end."""
    y = load_audio(speech_with_pauses(tmp_path / "s.wav"), SR)
    path = tmp_path / "short.wav"
    sf.write(str(path), y[int(2.5 * SR) : int(3.5 * SR)], SR)
    events = run_engine(classifier, path, 1600)
    assert len(events) == 1 and events[0].stream_time_s == pytest.approx(1.0) and events[0].speech


def test_run_fast_json_stdout_is_only_events(speech):
    """`run --file --fast --json`: stdout holds one EmotionEvent per hop and nothing else; gaps read as silence."""
    need_model()
    out = run_cli("run", "--file", str(speech), "--fast", "--json", "--no-ws", "--no-mqtt")
    assert out.returncode == 0, out.stderr
    events = events_of(out.stdout)
    assert [e["seq"] for e in events] == list(range(len(events)))
    speech_ev = [e for e in events if e["speech"]]
    assert speech_ev and all(e["raw_label"] in e["scores"] for e in speech_ev)
    assert {e["label"] for e in speech_ev} - {"uncertain"}, "no label emitted for speech"
    assert any(e["label"] == "silence" for e in events) and events[0]["speech"] is False


def test_paced_and_fast_give_the_same_labels(speech, tmp_path):
    """Real-time pacing and --fast produce identical labels for the same file."""
    need_model()
    clip = tmp_path / "clip.wav"
    y = load_audio(speech, SR)
    sf.write(str(clip), y[2 * SR : 6 * SR], SR)
    common = ("run", "--file", str(clip), "--json", "--no-ws", "--no-mqtt")
    t0 = time.monotonic()
    paced = run_cli(*common)
    paced_s = time.monotonic() - t0
    fast = run_cli(*common, "--fast")
    assert paced.returncode == fast.returncode == 0
    key = lambda e: (e["seq"], e["label"], e["speech"], e["raw_label"])  # noqa: E731
    assert [key(e) for e in events_of(paced.stdout)] == [key(e) for e in events_of(fast.stdout)]
    assert paced_s >= 4.0  # it really was paced in real time


def test_duration_stops_after_that_much_audio(speech):
    """--duration 3 stops after 3 s of audio even with --loop."""
    need_model()
    out = run_cli("run", "--file", str(speech), "--fast", "--loop", "--duration", "3", "--json", "--no-ws", "--no-mqtt")
    events = events_of(out.stdout)
    assert out.returncode == 0 and events[-1]["stream_time_s"] == 3.0 and len(events) == 5


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_cleanly_and_quickly(speech, sig):
    """Ctrl-C or SIGTERM during a looping paced run exits 0 (a run that does not exit fails at the 10 s time-out)."""
    need_model()
    proc = subprocess.Popen(
        [*VOXSTREAM, "run", "--file", str(speech), "--loop", "--json", "--no-ws", "--no-mqtt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        first = proc.stdout.readline()  # blocks until the first event (2 s of audio)
        assert json.loads(first)["seq"] == 0
        proc.send_signal(sig)
        rc = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert rc == 0, (rc, proc.stderr.read()[-500:])


def test_model_errors_are_one_line_exit_2(tmp_path, speech):
    """Missing model, sha mismatch and a non-TFLite file: exit 2, one line naming the file, no traceback."""
    model = need_model()
    missing = run_cli("run", "--model", str(tmp_path / "nope.tflite"), "--file", str(speech), "--fast")
    (tmp_path / "cut").mkdir()
    bad = tmp_path / "cut" / model.name  # truncated copy beside an intact card
    bad.write_bytes(model.read_bytes()[:1000])
    bad.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    mismatch = run_cli("classify", "--model", str(bad), str(speech))
    card = json.loads(model.with_suffix(".json").read_text())
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"not a flatbuffer at all" * 50)
    import hashlib

    card["tflite"] = {"file": "junk.tflite", "sha256": hashlib.sha256(junk.read_bytes()).hexdigest()}
    (tmp_path / "junk.json").write_text(json.dumps(card))
    notflite = run_cli("run", "--model", str(junk), "--file", str(speech), "--fast")
    for out, what in (
        (missing, "not found"),
        (mismatch, "does not match its card"),
        (notflite, "not a loadable TFLite model"),
    ):
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: error:")]
        assert out.returncode == 2 and len(lines) == 1 and what in lines[0], out.stderr
        assert "Traceback" not in out.stderr and out.stdout == ""


def test_classify_json_reports_bad_files_and_continues(tmp_path, speech, classifier):
    """classify: one JSON object per good file on stdout; bad files named on stderr and counted."""
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    y = load_audio(speech, SR)
    sf.write(str(folder / "sub" / "one.wav"), y[2 * SR : 6 * SR], SR)
    sf.write(str(folder / "two.flac"), y[9 * SR : 13 * SR], SR)
    (folder / "broken.wav").write_bytes(b"RIFF....garbage")
    out = run_cli("classify", str(folder), "--format", "json")
    results = events_of(out.stdout)
    assert out.returncode == 1 and len(results) == 2
    assert {r["file"].rsplit("/", 1)[-1] for r in results} == {"one.wav", "two.flac"}
    for r in results:
        assert list(r["scores"]) == list(classifier.labels) and r["label"] == max(r["scores"], key=r["scores"].get)
    assert "broken.wav" in out.stderr and "classified 2 of 3 files, 1 failed" in out.stderr


def test_classify_scores_a_clip_like_the_offline_evaluation(tmp_path, speech, classifier):
    """classify = mean of the raw probabilities of the clip's speech windows, computed offline window by window."""
    from voxstream.api import classify_file
    from voxstream.config import Config
    from voxstream.engine.frames import MfccFrames
    from voxstream.engine.gate import SpeechGate
    from voxstream.engine.normalize import Normalizer
    from voxstream.engine.params import windows
    from voxstream.engine.pooling import window_features

    card, cfg = classifier.card, Config()
    y = load_audio(speech, SR)
    extractor, normalizer = MfccFrames(card.features), Normalizer.from_dict(card.normalization)
    gate = SpeechGate.from_config(cfg.gate, SR)
    window, hop = int(card.window_s * SR), int(card.hop_s * SR)
    speech_probs = []
    for start, end in windows(len(y), window, hop):
        x = y[start:end]
        is_speech = gate(x).speech
        normalised = normalizer.step(window_features(x, card.features, extractor), is_speech)
        if is_speech:
            speech_probs.append(classifier.predict(normalised))
    assert speech_probs, "the espeak clip must contain speech windows"
    expected = np.mean(speech_probs, axis=0)
    result = classify_file(speech, classifier.path)
    got = np.array([result.scores[k] for k in classifier.labels])
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert result.label == classifier.labels[int(np.argmax(expected))]


class ListPublisher:
    def __init__(self):
        self.events, self.closed = [], False

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        self.closed = True

    async def publish(self, event):
        self.events.append(event)


class BrokenPublisher(ListPublisher):
    async def publish(self, event):
        raise RuntimeError("boom")


async def test_fanout_reaches_every_publisher_despite_a_broken_one(classifier, speech):
    """A publisher that raises is logged, the others still get every event and all are closed."""
    good, broken = ListPublisher(), BrokenPublisher()
    engine = build_engine(classifier.card, classifier.predict, Config())
    stats = RunStats(model=classifier.card.name)
    source = FileSource(speech, SR, 1600, realtime=False, stats=stats)
    await asyncio.wait_for(run_stream(source, engine, [broken, good], stats), 60)
    assert len(good.events) == stats.events > 20 and good.closed and broken.closed
    assert stats.audio_s == pytest.approx(len(load_audio(speech, SR)) / SR)


def test_factory_builds_enabled_publishers_only(classifier):
    """The publisher factory builds exactly the publishers the config enables, with the node and shared stats."""
    from voxstream.publish.mqtt import MqttPublisher
    from voxstream.publish.websocket import WebSocketPublisher

    off = Config().replace("websocket", enabled=False).replace("mqtt", enabled=False)
    assert build_publishers(off, classifier.card, RunStats()) == []
    stats = RunStats()
    both = build_publishers(Config().replace("node", name="Living Room"), classifier.card, stats)
    assert [type(p) for p in both] == [WebSocketPublisher, MqttPublisher]
    assert both[0].stats is stats and both[0].node == "Living Room"
    assert both[1].node == "Living Room" and both[1].topics.emotion.endswith("/living_room/emotion")
    only_ws = build_publishers(Config().replace("mqtt", enabled=False), classifier.card, RunStats())
    only_mqtt = build_publishers(Config().replace("websocket", enabled=False), classifier.card, RunStats())
    assert [type(p) for p in only_ws] == [WebSocketPublisher] and [type(p) for p in only_mqtt] == [MqttPublisher]
    assert only_mqtt[0]._page_url is None  # no live page, no device link
    assert both[1]._page_url is not None  # the device link is the live page's own address, read once it is bound


async def test_the_device_link_is_the_page_servers_bound_address(classifier):
    """With the page on, MQTT discovery links the device to the page's real address (its bound port)."""
    cfg = Config().replace("websocket", port=0).replace("mqtt", enabled=True)
    ws, mqtt = build_publishers(cfg, classifier.card, RunStats())
    assert mqtt._page_url() is None  # not listening yet
    async with ws:
        assert mqtt._page_url() == ws.url == f"http://127.0.0.1:{ws.port}/" and ws.port != 0
    assert mqtt._page_url() is None  # stopped: a late announce carries no link instead of failing
