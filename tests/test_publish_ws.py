"""WebSocket publisher against a real websockets client on 127.0.0.1 (port 0)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from voxstream.app import build_publishers
from voxstream.config import Config, WebsocketConfig
from voxstream.engine.events import EmotionEvent, Hello
from voxstream.engine.params import FeatureParams
from voxstream.inference.card import LABELS, ModelCard
from voxstream.publish.websocket import WebSocketPublisher
from voxstream.stages import window_spec
from voxstream.status import RunStats
from waiting import until as _until

T = 5.0  # seconds allowed for any single await


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


def make_event(seq: int, label: str = "happy", node: str = "testnode") -> EmotionEvent:
    scores = {name: 0.02 for name in LABELS}
    if label in scores:
        scores[label] = 0.88
    return EmotionEvent(
        seq=seq,
        stream_time_s=2.0 + seq * 0.25,
        label=label,
        confidence=scores.get(label, 0.3),
        scores=scores,
        raw_label=label if label in scores else None,
        speech=label in scores,
        level_dbfs=-23.5,
        node=node,
        model="test-model",
    )


def publisher(cfg: WebsocketConfig, stats: RunStats | None = None) -> WebSocketPublisher:
    """A publisher of the test card, the hello carrying the card's window."""
    card = make_card()
    return WebSocketPublisher(cfg, card, stats, "testnode", spec=window_spec(card))


def ws_config(**kw) -> WebsocketConfig:
    return WebsocketConfig(**{"host": "127.0.0.1", "port": 0, **kw})


def http_get(url: str, origin: str | None = None) -> tuple[int, str, str]:
    """Blocking GET returning (status, content type, body); run it in a thread."""
    req = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
    try:
        with urllib.request.urlopen(req, timeout=T) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


async def recv_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), T))


async def test_hello_first_then_events_in_order():
    """A client gets the hello (card summary) first, then each published event as EmotionEvent JSON."""
    async with publisher(ws_config()) as pub:
        async with await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws"), T) as ws:
            hello = await recv_json(ws)
            assert hello["type"] == "hello"
            assert hello["labels"] == list(LABELS) and hello["node"] == "testnode"
            assert hello["model"] == "test-model" and hello["window_s"] == 2.0 and hello["hop_s"] == 0.25
            assert Hello.from_dict(hello).extra_labels == ["uncertain", "silence"]
            events = [make_event(i, label) for i, label in enumerate(["happy", "sad", "uncertain", "silence"])]
            for event in events:
                await asyncio.wait_for(pub.publish(event), T)
            got = [EmotionEvent.from_json(await asyncio.wait_for(ws.recv(), T)) for _ in events]
            assert got == [EmotionEvent.from_dict(e.to_dict()) for e in events]


async def first_hello(pub: WebSocketPublisher) -> dict:
    async with await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws"), T) as ws:
        return await recv_json(ws)


async def test_hello_carries_the_engines_window():
    """The hello's window and hop are the window the engine runs with (one rule, the configured values or else
    the card's), not the card's when the config sets them."""
    card = make_card()
    cfg = Config().replace("websocket", host="127.0.0.1", port=0).replace("mqtt", enabled=False)
    given = cfg.replace("window", window_s=1.5, hop_s=0.5)
    (configured,) = build_publishers(given, card, RunStats())
    assert isinstance(configured, WebSocketPublisher)
    async with configured as pub:
        hello = await first_hello(pub)
        assert (hello["window_s"], hello["hop_s"]) == (1.5, 0.5)
    spec = window_spec(card, cfg.replace("window", hop_s=0.134))
    async with WebSocketPublisher(ws_config(), card, None, "testnode", spec=spec) as pub:
        assert (await first_hello(pub))["hop_s"] == spec.hop_s == 0.13  # snapped to whole 10 ms feature frames
    (default,) = build_publishers(cfg, card, RunStats())
    async with default as pub:
        hello = await first_hello(pub)
        assert (hello["window_s"], hello["hop_s"]) == (card.window_s, card.hop_s)


async def test_shared_script_and_style_are_served_open_and_allowed_by_the_page():
    """/page.js and /page.css (shared by the live and fleet pages) need no token and carry their content types;
    the page's Content-Security-Policy lets it load them from its own origin."""
    async with publisher(ws_config(token="s3cret")) as pub:
        status, ctype, body = await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}page.js"), T)
        assert status == 200 and ctype == "text/javascript; charset=utf-8" and "export function keepConnected" in body
        status, ctype, body = await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}page.css"), T)
        assert status == 200 and ctype == "text/css; charset=utf-8" and "#status" in body

        def page_csp() -> str:
            with urllib.request.urlopen(f"{pub.url}?token=s3cret", timeout=T) as resp:
                body = resp.read().decode()
                assert 'from "./page.js"' in body and 'href="page.css"' in body
                return resp.headers["Content-Security-Policy"]

        csp = await asyncio.wait_for(asyncio.to_thread(page_csp), T)
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "default-src 'none'" in csp


def completes_without_suspending(coro) -> None:
    """Run a coroutine one step: it must finish without ever yielding to the event loop (no network wait)."""
    with pytest.raises(StopIteration):
        coro.send(None)
    coro.close()


def _tiny_socket(port: int) -> socket.socket:
    """A connected client socket with a tiny receive buffer, so a non-reading client stalls fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_slow_client_does_not_block_fast_client_and_drops_are_counted():
    """A stalled client loses its oldest messages (counted in /healthz) while a fast client gets every event."""
    n = 2000
    async with publisher(ws_config(client_queue=16)) as pub:
        slow = await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws", sock=_tiny_socket(pub.port)), T)
        fast = await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws", max_queue=None), T)
        await recv_json(slow)
        await recv_json(fast)
        received: list[int] = []

        async def read_fast() -> None:
            while len(received) < n:
                received.append(json.loads(await fast.recv())["seq"])

        reader = asyncio.create_task(read_fast())
        for i in range(n):
            completes_without_suspending(pub.publish(make_event(i)))
            if i % 8 == 7:
                await asyncio.sleep(0.002)
        await asyncio.wait_for(reader, 20)
        assert received == list(range(n)), "the fast client missed or reordered events"
        health = json.loads((await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}healthz"), T))[2])
        assert health["dropped_messages"] > 0 and health["dropped_messages"] == pub.dropped_messages
        assert health["clients"] == 2
        await asyncio.wait_for(fast.close(), T)
        slow.transport.abort()
        await asyncio.wait_for(_until(lambda: pub.clients == 0), T)


async def test_token_rejected_and_accepted():
    """With a token set, /ws and / refuse a missing or wrong token (401) and accept the right one."""
    async with publisher(ws_config(token="s3cret")) as pub:
        base = f"ws://127.0.0.1:{pub.port}/ws"
        for uri in (base, base + "?token=wrong", base + "?token=s3cre"):
            with pytest.raises(InvalidStatus) as info:
                await asyncio.wait_for(connect(uri), T)
            assert info.value.response.status_code == 401
        async with await asyncio.wait_for(connect(base + "?token=s3cret"), T) as ws:
            assert (await recv_json(ws))["type"] == "hello"
        page_no, _, _ = await asyncio.wait_for(asyncio.to_thread(http_get, pub.url), T)
        page_ok, ctype, body = await asyncio.wait_for(asyncio.to_thread(http_get, pub.url + "?token=s3cret"), T)
        assert page_no == 401 and page_ok == 200 and ctype.startswith("text/html") and 'id="label"' in body


async def test_bad_origin_rejected_good_and_same_origin_accepted():
    """With allowed_origins set, a foreign Origin gets 403; a listed one and the page's own origin connect."""
    cfg = ws_config(allowed_origins=["http://dashboard.example"])
    async with publisher(cfg) as pub:
        uri = f"ws://127.0.0.1:{pub.port}/ws"
        with pytest.raises(InvalidStatus) as info:
            await asyncio.wait_for(connect(uri, origin="http://evil.example"), T)
        assert info.value.response.status_code == 403
        for origin in ("http://dashboard.example", f"http://127.0.0.1:{pub.port}"):
            async with await asyncio.wait_for(connect(uri, origin=origin), T) as ws:
                assert (await recv_json(ws))["type"] == "hello"


async def test_healthz_reports_the_run_status():
    """/healthz is the run's typed status (uptime, events, dropped blocks, ...) plus the client counters, no labels."""
    stats = RunStats(
        model="m1",
        node="testnode",
        started_at=time.monotonic() - 10.0,
        events=42,
        dropped_blocks=3,
        reopens=2,
        audio_s=12.5,
        last_event=make_event(41, "angry"),
    )
    async with publisher(ws_config(token="t"), stats) as pub:
        status, ctype, body = await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}healthz"), T)
        assert status == 200 and ctype == "application/json"
        health = json.loads(body)
        uptime = health.pop("uptime_s")
        assert 9.5 <= uptime < 60
        assert health == {
            "up": True,
            "node": "testnode",
            "model": "m1",
            "events": 42,
            "audio_s": 12.5,
            "dropped_blocks": 3,
            "overflows": 0,
            "reopens": 2,
            "nonfinite": 0,
            "clients": 0,
            "dropped_messages": 0,
        }
        stats.events += 1
        again = json.loads((await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}healthz"), T))[2])
        assert again["events"] == 43, "the status is read at each request"
        missing, _, _ = await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}nope"), T)
        assert missing == 404


async def test_junk_and_oversized_messages_do_not_hurt_the_server():
    """Text junk is ignored, an oversized frame closes only that client (1009), and others keep receiving."""
    async with publisher(ws_config(max_message_bytes=256)) as pub:
        uri = f"ws://127.0.0.1:{pub.port}/ws"
        async with (
            await asyncio.wait_for(connect(uri), T) as good,
            await asyncio.wait_for(connect(uri), T) as noisy,
            await asyncio.wait_for(connect(uri, max_size=None), T) as big,
        ):
            for ws in (good, noisy, big):
                await recv_json(ws)
            await asyncio.wait_for(noisy.send("not json {"), T)
            await asyncio.wait_for(noisy.send(b"\x00\xff" * 50), T)
            await asyncio.wait_for(big.send("x" * 10_000), T)
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await asyncio.wait_for(big.recv(), T)
            assert info.value.rcvd.code == 1009
            await asyncio.wait_for(pub.publish(make_event(7, "sad")), T)
            assert (await recv_json(good))["label"] == "sad"
            assert (await recv_json(noisy))["seq"] == 7
            await asyncio.wait_for(_until(lambda: pub.clients == 2), T)


async def test_publish_never_raises_and_closed_clients_are_removed():
    """publish() swallows a bad event, and a client that disconnects is forgotten."""
    async with publisher(ws_config()) as pub:
        async with await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws"), T) as ws:
            await recv_json(ws)
            assert pub.clients == 1
            await asyncio.wait_for(pub.publish(None), T)  # type: ignore[arg-type]
        await asyncio.wait_for(_until(lambda: pub.clients == 0), T)
        await asyncio.wait_for(pub.publish(make_event(1)), T)
        assert pub.published == 1


async def test_port_in_use_is_one_clear_error():
    """A second publisher on a taken port fails with one line naming the address, not a traceback."""
    from voxstream.errors import VoxstreamError

    async with publisher(ws_config()) as pub:
        with pytest.raises(VoxstreamError, match=f"cannot listen on 127.0.0.1:{pub.port}"):
            async with publisher(ws_config(port=pub.port)):
                pass


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP RST, not a close handshake."""
    import struct

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def test_abrupt_tcp_reset_mid_stream_leaves_others_served():
    """Clients that vanish with a TCP reset (mid-handshake and mid-stream) are dropped; the others get every event."""
    async with publisher(ws_config()) as pub:
        uri = f"ws://127.0.0.1:{pub.port}/ws"
        half = socket.create_connection(("127.0.0.1", pub.port))
        half.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n")  # handshake never finished
        async with await asyncio.wait_for(connect(uri, max_queue=None), T) as good:
            await recv_json(good)
            doomed = [await asyncio.wait_for(connect(uri, sock=_tiny_socket(pub.port)), T) for _ in range(3)]
            await asyncio.wait_for(_until(lambda: pub.clients == 4), T)
            for i in range(200):
                await asyncio.wait_for(pub.publish(make_event(i)), T)
                if i == 50:
                    _reset(half)
                    for ws in doomed:
                        _reset(ws.transport.get_extra_info("socket").dup())
                        ws.transport.abort()
                await asyncio.sleep(0)
            got = [json.loads(await asyncio.wait_for(good.recv(), T))["seq"] for _ in range(200)]
            assert got == list(range(200))
            await asyncio.wait_for(_until(lambda: pub.clients == 1), T)
            health = json.loads((await asyncio.wait_for(asyncio.to_thread(http_get, f"{pub.url}healthz"), T))[2])
            assert health["clients"] == 1 and health["up"] is True


async def test_stalled_client_memory_stays_bounded_over_many_events():
    """A client that never reads holds at most client_queue messages however many events are published."""
    import tracemalloc

    async with publisher(ws_config(client_queue=16)) as pub:
        stalled = await asyncio.wait_for(connect(f"ws://127.0.0.1:{pub.port}/ws", sock=_tiny_socket(pub.port)), T)
        await asyncio.wait_for(_until(lambda: pub.clients == 1), T)
        event = make_event(0)

        async def burst(n: int) -> None:
            for i in range(n):
                completes_without_suspending(pub.publish(event))
                if i % 64 == 0:
                    await asyncio.sleep(0)

        await asyncio.wait_for(burst(2000), 30)  # warm-up: the kernel buffers fill, the queue reaches its cap
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            await asyncio.wait_for(burst(20000), 60)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
        (client,) = pub._clients
        assert len(client.queue) <= 16
        assert pub.dropped_messages >= 20000 - 16
        assert growth < 256 * 1024, f"memory grew by {growth} bytes over 20000 events for a stalled client"
        stalled.transport.abort()
