"""Load test for `voxstream fleet`: N simulated nodes publish emotion events at R messages/s for D seconds.

Each simulated node is its own MQTT client with a last will (like `voxstream run`), publishes ``online``
(retained), then an EmotionEvent-shaped JSON at ``--rate`` per second whose ``timestamp`` is the send time.
Optionally ``--garbage`` messages per second exercise the fleet's defences (non-JSON, 20 kB payloads,
events from ever-new node names).  Every second the script reads ``/api/nodes`` and records:

* staleness: for each node, read time minus the ``timestamp`` of the event the API shows.  With 4 msg/s
  a perfectly current API shows at most 0.25 s + delivery; the report gives p50/p95/max over all
  (poll, node) pairs after the warm-up, and the worst poll;
* nodes present and online in the API;
* the RSS of the fleet process (psutil) after warm-up, at its peak and at the end, and its CPU use;
* with ``--browser CHROMIUM``, the same staleness as the page in a headless Chromium shows it (each tile's
  ``data-ts`` is the timestamp of the event it displays), every 2 s.

Usage (starts its own mosquitto and `voxstream fleet` unless told where they are):

    .venv/bin/python bench/fleet_load.py --nodes 200 --rate 4 --duration 60 [--garbage 20]
    .venv/bin/python bench/fleet_load.py --mqtt-port 1883 --fleet-url http://127.0.0.1:8766 --fleet-pid PID

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import psutil

LABELS = ["angry", "disgust", "fear", "happy", "neutral", "ps", "sad"]
WARMUP_S = 5.0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def event(node: str, seq: int, label: str) -> str:
    scores = {name: (0.7 if name == label else 0.05) for name in LABELS}
    return json.dumps(
        {
            "seq": seq,
            "stream_time_s": round(2 + seq * 0.25, 3),
            "label": label,
            "confidence": 0.7,
            "scores": scores,
            "raw_label": label,
            "speech": True,
            "level_dbfs": -22.0,
            "node": node,
            "model": "load",
            "timestamp": iso(time.time()),
            "type": "emotion",
        },
        separators=(",", ":"),
    )


async def node_task(args, name: str, stop: asyncio.Event, sent: list[int]) -> None:
    """One simulated node: connect with a last will, say online, publish at the rate until stopped."""
    status = f"{args.prefix}/{name}/status"
    will = aiomqtt.Will(status, "offline", qos=1, retain=True)
    async with aiomqtt.Client(
        args.mqtt_host, args.mqtt_port, identifier=f"load-{name}", will=will, keepalive=30
    ) as client:
        await client.publish(status, "online", qos=1, retain=True)
        period, label, seq = 1.0 / args.rate, random.choice(LABELS), 0
        next_t = time.monotonic() + random.random() * period
        while not stop.is_set():
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))
            if random.random() < 0.05:
                label = random.choice(LABELS)
            await client.publish(f"{args.prefix}/{name}/emotion", event(name, seq, label), qos=1, retain=True)
            seq, next_t = seq + 1, next_t + period
            sent[0] += 1
        await client.publish(status, "offline", qos=1, retain=True)


async def garbage_task(args, stop: asyncio.Event, sent: list[int]) -> None:
    """Misbehaving publishers: non-JSON, oversize payloads and events from ever-new node names."""
    if not args.garbage:
        return
    async with aiomqtt.Client(args.mqtt_host, args.mqtt_port, identifier="load-garbage") as client:
        i = 0
        while not stop.is_set():
            kind = i % 3
            if kind == 0:
                await client.publish(f"{args.prefix}/sim-000/emotion", b"\x00garbage{", qos=0)
            elif kind == 1:
                await client.publish(f"{args.prefix}/sim-000/emotion", b"x" * 20_000, qos=0)
            else:
                await client.publish(f"{args.prefix}/spam-{i}/emotion", event(f"spam-{i}", i, "happy"), qos=0)
            i += 1
            sent[0] += 1
            await asyncio.sleep(1.0 / args.garbage)


def get_json(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


async def sampler(args, pid: int | None, t_start: float, stop: asyncio.Event, out: dict) -> None:
    """Every second: staleness of every simulated node in /api/nodes, and the fleet's RSS."""
    proc = psutil.Process(pid) if pid else None
    names = {f"sim-{i:03d}" for i in range(args.nodes)}
    while True:
        await asyncio.sleep(1.0)
        if stop.is_set():
            return
        try:
            nodes = await asyncio.to_thread(get_json, args.fleet_url.rstrip("/") + "/api/nodes")
        except OSError as exc:
            out["api_errors"] += 1
            out["last_api_error"] = str(exc)
            continue
        read_t = time.time()
        warm = time.monotonic() - t_start >= WARMUP_S
        rss = proc.memory_info().rss / 2**20 if proc else None
        if proc and warm:
            cpu = proc.cpu_times()
            out.setdefault("cpu_first", (time.monotonic(), cpu.user + cpu.system))
            out["cpu_last"] = (time.monotonic(), cpu.user + cpu.system)
        sims = [n for n in nodes if n["node"] in names]
        stale = [read_t - parse_iso(n["event"]["timestamp"]) for n in sims if n.get("event")]
        out["polls"].append(
            {
                "t": round(time.monotonic() - t_start, 1),
                "nodes": len(nodes),
                "sims": len(sims),
                "online": sum(n["status"] == "online" for n in sims),
                "stale_max_s": round(max(stale), 3) if stale else None,
                "rss_mb": round(rss, 1) if rss else None,
            }
        )
        if warm:
            out["staleness"].extend(stale)


PAGE_STALENESS_JS = """(names) => {
  const now = Date.now(), out = [];
  for (const el of document.querySelectorAll('.tile')) {
    if (names.includes(el.dataset.node) && el.dataset.ts) out.push((now - Date.parse(el.dataset.ts)) / 1000);
  }
  return out; }"""


async def page_sampler(args, t_start: float, stop: asyncio.Event, out: dict) -> None:
    """Every 2 s: how old the events are that the fleet page in Chromium shows, tile by tile."""
    from playwright.async_api import async_playwright

    names = [f"sim-{i:03d}" for i in range(args.nodes)]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=args.browser, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("pageerror", lambda exc: out["page_errors"].append(str(exc)))
            await page.goto(args.fleet_url.rstrip("/") + "/")
            while True:
                await asyncio.sleep(2.0)
                if stop.is_set():
                    return
                stale = await page.evaluate(PAGE_STALENESS_JS, names)
                out["page_tiles"].append(len(stale))
                if time.monotonic() - t_start >= WARMUP_S:
                    out["page_staleness"].extend(stale)
        finally:
            await browser.close()


def cpu_percent(out: dict) -> float | None:
    """CPU time of the fleet process over wall time between the first and last sample after warm-up."""
    if "cpu_first" not in out or out["cpu_last"][0] <= out["cpu_first"][0]:
        return None
    (t0, c0), (t1, c1) = out["cpu_first"], out["cpu_last"]
    return round(100 * (c1 - c0) / (t1 - t0), 1)


def percentile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)


async def run_load(args, pid: int | None) -> dict:
    stop, sampling, sent, junk = asyncio.Event(), asyncio.Event(), [0], [0]
    out: dict = {
        "polls": [],
        "staleness": [],
        "api_errors": 0,
        "page_tiles": [],
        "page_staleness": [],
        "page_errors": [],
    }
    t_start = time.monotonic()
    tasks = [asyncio.create_task(node_task(args, f"sim-{i:03d}", stop, sent)) for i in range(args.nodes)]
    tasks.append(asyncio.create_task(garbage_task(args, stop, junk)))
    samplers = [asyncio.create_task(sampler(args, pid, t_start, sampling, out))]
    if args.browser:
        samplers.append(asyncio.create_task(page_sampler(args, t_start, sampling, out)))
    await asyncio.sleep(args.duration)
    sampling.set()
    await asyncio.gather(*samplers)
    health = await asyncio.to_thread(get_json, args.fleet_url.rstrip("/") + "/healthz")
    stop.set()
    await asyncio.gather(*tasks)
    elapsed = time.monotonic() - t_start
    polls = [p for p in out["polls"] if p["t"] >= WARMUP_S]
    rss = [p["rss_mb"] for p in polls if p["rss_mb"] is not None]
    return {
        "nodes": args.nodes,
        "rate_per_node": args.rate,
        "duration_s": args.duration,
        "published": sent[0],
        "published_per_s": round(sent[0] / elapsed, 1),
        "garbage_sent": junk[0],
        "polls": len(polls),
        "api_errors": out["api_errors"],
        "staleness_s": {
            "p50": percentile(out["staleness"], 0.5),
            "p95": percentile(out["staleness"], 0.95),
            "max": percentile(out["staleness"], 1.0),
        },
        "min_sims_in_api": min((p["sims"] for p in polls), default=0),
        "min_sims_online": min((p["online"] for p in polls), default=0),
        "rss_mb": {
            "after_warmup": rss[0] if rss else None,
            "max": max(rss) if rss else None,
            "end": rss[-1] if rss else None,
        },
        "fleet_cpu_percent": cpu_percent(out),
        "fleet_health": health,
        "page": None
        if not args.browser
        else {
            "staleness_s": {
                "p50": percentile(out["page_staleness"], 0.5),
                "p95": percentile(out["page_staleness"], 0.95),
                "max": percentile(out["page_staleness"], 1.0),
            },
            "min_tiles": min(out["page_tiles"][2:], default=0),
            "samples": len(out["page_tiles"]),
            "errors": out["page_errors"][:5],
        },
        "timeline": out["polls"],
    }


@contextlib.contextmanager
def own_broker(args):
    """A private mosquitto on a free port when --mqtt-port is not given."""
    if args.mqtt_port:
        yield
        return
    tmp = Path(tempfile.mkdtemp(prefix="fleet-load-"))
    args.mqtt_host, args.mqtt_port = "127.0.0.1", free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        f"listener {args.mqtt_port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        f"max_queued_messages 10000\nuser {getpass.getuser()}\n"
    )
    proc = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(args.mqtt_port)
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def own_fleet(args):
    """`voxstream fleet` on a free port when --fleet-url is not given; yields its pid."""
    if args.fleet_url:
        yield args.fleet_pid
        return
    port = free_port()
    args.fleet_url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voxstream.cli.main",
            "fleet",
            "--mqtt-host",
            args.mqtt_host,
            "--mqtt-port",
            str(args.mqtt_port),
            "--port",
            str(port),
            "--max-nodes",
            str(args.max_nodes),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=200)
    p.add_argument("--rate", type=float, default=4.0, help="messages per second per node")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    p.add_argument("--garbage", type=float, default=0.0, help="misbehaving messages per second")
    p.add_argument("--prefix", default="voxstream")
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, help="an existing broker (default: start a private mosquitto)")
    p.add_argument("--fleet-url", help="an existing `voxstream fleet` (default: start one)")
    p.add_argument("--fleet-pid", type=int, help="its pid, for RSS")
    p.add_argument("--max-nodes", type=int, default=1000, help="--max-nodes of the fleet this script starts")
    p.add_argument("--browser", metavar="CHROMIUM", help="also measure the page in this Chromium (Playwright)")
    p.add_argument("--no-timeline", action="store_true", help="leave the per-second samples out of the output")
    args = p.parse_args(argv)
    with own_broker(args), own_fleet(args) as pid:
        result = asyncio.run(run_load(args, pid))
    if args.no_timeline:
        result.pop("timeline")
    result["command"] = " ".join([os.path.basename(sys.executable), *sys.argv])
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
