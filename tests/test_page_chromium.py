"""The live page and the fleet page in a real headless Chromium (Debian's), fed by the real servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from engine_support import need_espeak, need_model
from mqtt_broker import free_port
from voxstream.config import WebsocketConfig
from voxstream.engine.events import EmotionEvent
from voxstream.engine.params import FeatureParams
from voxstream.fleet.server import FleetServer
from voxstream.fleet.state import Fleet
from voxstream.inference.card import LABELS, ModelCard
from voxstream.publish.websocket import WebSocketPublisher
from voxstream.stages import window_spec

playwright_api = pytest.importorskip("playwright.async_api")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or "/usr/lib/chromium/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).parent / "artifacts"
T = 10.0

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no system chromium at {CHROMIUM}")


def make_card() -> ModelCard:
    return ModelCard(
        name="test-model",
        arch="mlp",
        labels=LABELS,
        features=FeatureParams(),
        input_shape=(1, 40, 1),
        tflite_file="test.tflite",
        tflite_sha256="0" * 64,
        window_s=2.0,
        hop_s=0.25,
    )


def make_event(
    seq: int, label: str, lead: str | None = None, level: float = -24.0, node: str = "living-room"
) -> EmotionEvent:
    """An event whose scores favour ``lead`` (default: the label itself); "silence" has all scores 0, as the
    engine gives it."""
    lead = lead or label
    scores = {name: 0.0 if label == "silence" else 0.03 for name in LABELS}
    if lead in scores:
        scores[lead] = 0.82
    return EmotionEvent(
        seq=seq,
        stream_time_s=2.0 + seq * 0.25,
        label=label,
        confidence=scores.get(lead, 0.0),
        scores=scores,
        raw_label=lead if label != "silence" else None,
        speech=label != "silence",
        level_dbfs=level,
        node=node,
        model="test-model",
    )


@contextlib.asynccontextmanager
async def chromium_page(tmp_path: Path):
    """A fresh persistent Chromium profile in tmp_path, yielding one page."""
    async with playwright_api.async_playwright() as p:
        context = await asyncio.wait_for(
            p.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=ARGS,
                viewport={"width": 1100, "height": 820},
            ),
            T,
        )
        try:
            page = context.pages[0] if context.pages else await asyncio.wait_for(context.new_page(), T)
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            yield page
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            await asyncio.wait_for(context.close(), T)


async def feed(
    pub: WebSocketPublisher, script: list[tuple[str, str | None]], stop: asyncio.Event, start: int = 0
) -> None:
    """Publish the scripted (label, lead) events at 20 Hz, looping, until stopped."""
    seq = start
    while not stop.is_set():
        label, lead = script[seq % len(script)]
        await pub.publish(make_event(seq, label, lead, level=-30.0 + (seq % 10)))
        seq += 1
        await asyncio.sleep(0.05)


async def expect_attr(locator, name: str, value) -> None:
    await asyncio.wait_for(playwright_api.expect(locator).to_have_attribute(name, value, timeout=T * 1000), T + 1)


async def expect_text(locator, value) -> None:
    await asyncio.wait_for(playwright_api.expect(locator).to_have_text(value, timeout=T * 1000), T + 1)


async def expect_affect(scope, event: EmotionEvent, shown: dict[str, str]) -> None:
    """The arousal and valence meters under ``scope`` show the event's values, scores and ``shown`` texts."""
    for axis in ("arousal", "valence"):
        row = scope.locator(f'.affect .axis[data-axis="{axis}"]')
        value, score = event.affect[axis], event.affect[f"{axis}_score"]
        await expect_attr(row, "data-value", value or "")
        await expect_attr(row, "data-score", "" if score is None else f"{score:.4f}")
        await expect_text(row.locator(".ax-value"), shown[axis])


async def test_page_shows_live_label_bars_level_and_reconnects(tmp_path):
    """The page follows real events (label, confidence, bars, level, timeline) and reconnects after a restart."""
    stats = SimpleNamespace(events=0, dropped_blocks=0, model="test-model")
    cfg = WebsocketConfig(host="127.0.0.1", port=0)
    stop = asyncio.Event()
    async with chromium_page(tmp_path) as page:
        async with WebSocketPublisher(cfg, make_card(), stats, "living-room", spec=window_spec(make_card())) as pub:
            port = pub.port
            feeder = asyncio.create_task(feed(pub, [("happy", None)], stop))
            await asyncio.wait_for(page.goto(pub.url), T)
            await expect_attr(page.locator("#status"), "data-state", "live")
            await expect_attr(page.locator("#label"), "data-label", "happy")
            await expect_text(page.locator("#confidence"), "82%")
            await expect_text(page.locator('#bars .bar[data-label="happy"] .value'), "82%")
            await expect_text(page.locator('#bars .bar[data-label="sad"] .value'), "3%")
            assert await asyncio.wait_for(page.locator("#bars .bar").count(), T) == len(LABELS)
            assert "living-room" in await asyncio.wait_for(page.locator("#meta").inner_text(), T)
            happy = make_event(0, "happy")
            assert (happy.affect["arousal"], happy.affect["valence"]) == ("high", "positive")
            await expect_affect(page, happy, {"arousal": "high 91%", "valence": "positive 88%"})

            stop.set()
            await asyncio.wait_for(feeder, T)
            stop = asyncio.Event()
            feeder = asyncio.create_task(feed(pub, [("sad", None)] * 30 + [("uncertain", "fear")] * 30, stop))
            await expect_attr(page.locator("#label"), "data-label", "sad")
            await expect_attr(page.locator('#bars .bar[data-label="sad"]'), "data-value", "0.8200")
            await expect_attr(page.locator('#bars .bar[data-label="happy"]'), "data-value", "0.0300")
            sad = make_event(0, "sad")
            assert (sad.affect["arousal"], sad.affect["valence"]) == ("low", "negative")
            await expect_affect(page, sad, {"arousal": "low 88%", "valence": "negative 91%"})
            await expect_attr(page.locator("#label"), "data-label", "uncertain")
            await expect_text(page.locator("#label"), "uncertain")
            level = float(await asyncio.wait_for(page.locator("#level").get_attribute("data-dbfs"), T))
            assert -30.0 <= level <= -21.0
            painted = await asyncio.wait_for(
                page.evaluate("""() => {
                const c = document.getElementById('timeline');
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                return n / (c.width * c.height); }"""),
                T,
            )
            assert painted > 0.01, "the timeline canvas stayed empty"
            ARTIFACTS.mkdir(exist_ok=True)
            await expect_attr(page.locator("#label"), "data-label", "sad")
            await asyncio.sleep(0.5)  # let the bar transitions settle for the picture
            await asyncio.wait_for(page.screenshot(path=str(ARTIFACTS / "live_page.png")), T)
            stop.set()
            await asyncio.wait_for(feeder, T)

        await expect_attr(page.locator("#status"), "data-state", "offline")
        stop = asyncio.Event()
        async with WebSocketPublisher(
            WebsocketConfig(host="127.0.0.1", port=port),
            make_card(),
            stats,
            "living-room",
            spec=window_spec(make_card()),
        ) as pub2:
            feeder = asyncio.create_task(feed(pub2, [("silence", None)], stop, start=1000))
            await expect_attr(page.locator("#status"), "data-state", "live")
            await expect_attr(page.locator("#label"), "data-label", "silence")
            await expect_text(page.locator("#confidence"), "–")
            await expect_affect(page, make_event(0, "silence"), {"arousal": "–", "valence": "–"})
            stop.set()
            await asyncio.wait_for(feeder, T)


async def test_fleet_page_shows_each_nodes_label_arousal_and_valence(tmp_path):
    """The fleet page, behind a token, draws one tile per node with its label and the arousal and valence of its
    latest event; a node gone silent shows none, and a new event updates its tile."""
    fleet = Fleet("voxstream")
    cfg = WebsocketConfig(host="127.0.0.1", port=0, token="s3cret")

    def receive(server: FleetServer, event: EmotionEvent, status: str = "online") -> None:
        topic = f"voxstream/{event.node}"
        for kind, payload in (("status", status), ("emotion", event.to_json())):
            assert fleet.on_message(f"{topic}/{kind}", payload.encode(), time.time()) == event.node
        server.mark(event.node)

    async with chromium_page(tmp_path) as page:
        async with FleetServer(fleet, cfg, "127.0.0.1", 0, interval_s=0.05) as server:
            kitchen, hall = make_event(1, "happy", node="kitchen"), make_event(1, "sad", node="hall")
            receive(server, kitchen)
            receive(server, hall)
            await asyncio.wait_for(page.goto(f"{server.url}?token=s3cret"), T)
            await expect_attr(page.locator("#status"), "data-state", "broker")  # connected; no MQTT side here
            for event, shown in (
                (kitchen, {"arousal": "high 91%", "valence": "positive 88%"}),
                (hall, {"arousal": "low 88%", "valence": "negative 91%"}),
            ):
                tile = page.locator(f'.tile[data-node="{event.node}"]')
                await expect_attr(tile, "data-label", event.label)
                await expect_affect(tile, event, shown)
            quiet = make_event(2, "silence", node="hall")
            receive(server, quiet)
            await expect_attr(page.locator('.tile[data-node="hall"]'), "data-label", "silence")
            await expect_affect(page.locator('.tile[data-node="hall"]'), quiet, {"arousal": "–", "valence": "–"})
            angry = make_event(2, "angry", node="kitchen")
            receive(server, angry)
            await expect_affect(
                page.locator('.tile[data-node="kitchen"]'), angry, {"arousal": "high 91%", "valence": "negative 91%"}
            )
            ARTIFACTS.mkdir(exist_ok=True)
            await asyncio.wait_for(page.screenshot(path=str(ARTIFACTS / "fleet_page_affect.png")), T)


async def test_end_to_end_voxstream_run_file_feeds_the_page(tmp_path):
    """`voxstream run --file speech.wav` streams events that the page in Chromium shows."""
    need_model()
    need_espeak()
    wav = tmp_path / "speech.wav"
    text = "I am so happy today. This is wonderful news. " * 3
    subprocess.run(["espeak-ng", "-w", str(wav), text], check=True, timeout=30, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voxstream.cli.main",
            "run",
            "--file",
            str(wav),
            "--loop",
            "--ws-host",
            "127.0.0.1",
            "--ws-port",
            str(port),
            "--no-mqtt",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        from websockets.asyncio.client import connect

        ws = None
        for _ in range(100):
            try:
                ws = await asyncio.wait_for(connect(f"ws://127.0.0.1:{port}/ws"), T)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"voxstream run exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
                await asyncio.sleep(0.1)
        assert ws is not None, "voxstream run never served the WebSocket"
        async with ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), T))["type"] == "hello"
            event = EmotionEvent.from_json(await asyncio.wait_for(ws.recv(), T))
            assert event.label in (*LABELS, "uncertain", "silence")
        async with chromium_page(tmp_path) as page:
            await asyncio.wait_for(page.goto(f"http://127.0.0.1:{port}/"), T)
            await expect_attr(page.locator("#status"), "data-state", "live")
            known = "|".join((*LABELS, "uncertain", "silence"))
            await expect_attr(page.locator("#label"), "data-label", re.compile(f"^({known})$"))
            await expect_text(page.locator("#counts"), re.compile(r"^[1-9]\d* events"))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
