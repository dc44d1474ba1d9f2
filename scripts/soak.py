#!/usr/bin/env python3
"""Soak test: `voxstream run --file X --loop` in real time with a WebSocket client and an MQTT subscriber attached,
the broker restarted along the way; prints one JSON summary and exits 1 if a limit was broken.

    scripts/soak.py --minutes 30 --broker-restarts 5          # the long run (about 30 minutes)
    scripts/soak.py --minutes 1.5 --broker-restarts 2         # what tests/test_soak.py runs

Parameters:
  --minutes M            wall time of the run (default 10)
  --broker-restarts N    mosquitto is stopped and started again N times, evenly spaced (default 2)
  --outage-s S           seconds the broker stays down at each restart (default 2)
  --warmup-s S           RSS growth is measured from this point on (default 30, at most a third of the run)
  --max-rss-growth-mb X  limit on VmRSS growth after warm-up (default 5)
  --file PATH            audio to loop (default: a 7 s synthetic voice-like tone)
  --python PATH          interpreter that has voxstream installed (default: this one)

Checks (all must hold for exit 0): RSS growth after warm-up < limit; 0 dropped audio blocks (/healthz and the
final stats line); events on stdout == (audio seconds - window) / hop + 1, +-1; the WebSocket client got every
event; the MQTT subscriber saw `online` after every broker restart; clean exit 0 on SIGTERM.
Needs mosquitto on PATH (or /usr/sbin/mosquitto). Samples /proc/<pid>/status, so Linux only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--broker-restarts", type=int, default=2)
    p.add_argument("--outage-s", type=float, default=2.0)
    p.add_argument("--warmup-s", type=float, default=30.0)
    p.add_argument("--max-rss-growth-mb", type=float, default=5.0)
    p.add_argument("--file", type=Path)
    p.add_argument("--python", default=sys.executable)
    return p.parse_args(argv)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"log_dest file {workdir / 'mosquitto.log'}\n"
        )
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


def make_clip(path: Path, seconds: float = 7.0, rate: int = 16000) -> Path:
    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((180, 360, 540, 720, 1100), start=1))
    sf.write(
        str(path), (0.25 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), rate, subtype="PCM_16"
    )
    return path


def rss_kb(pid: int) -> int:
    return int(re.search(r"^VmRSS:\s*(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def healthz(port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        return json.loads(resp.read())


class Lines:
    """Collects a pipe's lines in a thread."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: [self.lines.append(x.rstrip("\n")) for x in stream], daemon=True)
        self.thread.start()


class WsClient:
    """A WebSocket client that reads every message in a thread and counts events."""

    def __init__(self, port: int) -> None:
        from websockets.sync.client import connect

        self.ws = connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10)
        self.events = 0
        self.hello = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for msg in self.ws:
                kind = json.loads(msg).get("type")
                self.events += kind == "emotion"
                self.hello += kind == "hello"
        except Exception:  # connection closed at the end
            pass

    def close(self) -> None:
        self.ws.close()


class MqttSub:
    def __init__(self, port: int, node: str) -> None:
        import paho.mqtt.client as mqtt

        self.online = 0
        self.states = 0
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"soak-sub-{os.getpid()}")
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(f"voxstream/{node}/#", qos=1)
        self.c.on_message = self._on
        self.c.reconnect_delay_set(0.2, 1.0)
        self.c.connect_async("127.0.0.1", port)
        self.c.loop_start()

    def _on(self, c, u, m) -> None:
        if m.topic.endswith("/status") and m.payload == b"online":
            self.online += 1
        elif m.topic.endswith("/emotion"):
            self.states += 1

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


def soak(args: argparse.Namespace, work: Path) -> dict:
    clip = args.file or make_clip(work / "soak.wav")
    broker = Mosquitto(work)
    broker.start()
    node = "soak"
    env = dict(os.environ, VOXSTREAM_MQTT_RECONNECT_MIN_S="0.2", VOXSTREAM_MQTT_RECONNECT_MAX_S="2.0")
    env.pop("VOXSTREAM_CONFIG", None)
    cmd = [
        args.python,
        "-m",
        "voxstream.cli.main",
        "run",
        "--file",
        str(clip),
        "--loop",
        "--json",
        "--ws-port",
        "0",
        "--mqtt-host",
        "127.0.0.1",
        "--mqtt-port",
        str(broker.port),
        "--node",
        node,
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    out, err = Lines(proc.stdout), Lines(proc.stderr)
    ws = sub = None
    try:
        port = _wait_port(err, proc)
        ws, sub = WsClient(port), MqttSub(broker.port, node)
        t0, total = time.monotonic(), args.minutes * 60
        warmup = min(args.warmup_s, total / 3)
        restarts = [total * (i + 1) / (args.broker_restarts + 1) for i in range(args.broker_restarts)]
        samples: list[tuple[float, int]] = []
        dropped_seen, done_restarts = 0, 0
        while (now := time.monotonic() - t0) < total:
            if proc.poll() is not None:
                raise RuntimeError(f"voxstream exited early ({proc.returncode}): {err.lines[-5:]}")
            samples.append((now, rss_kb(proc.pid)))
            if done_restarts < len(restarts) and now >= restarts[done_restarts]:
                broker.stop()
                time.sleep(args.outage_s)
                broker.start()
                done_restarts += 1
            dropped_seen = max(dropped_seen, healthz(port)["dropped_blocks"])
            time.sleep(1.0)
        time.sleep(3.0)  # let the last reconnect announce itself
        health = healthz(port)
        online_seen = sub.online
        proc.send_signal(signal.SIGTERM)
        t_sig = time.monotonic()
        rc = proc.wait(10)
        exit_s = time.monotonic() - t_sig
        out.thread.join(5)
        err.thread.join(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        for c in (ws, sub):
            if c is not None:
                c.close()
        broker.stop()
    return _summary(
        args, out.lines, err.lines, samples, warmup, health, dropped_seen, ws, online_seen, rc, exit_s, done_restarts
    )


def _wait_port(err: Lines, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in list(err.lines):
            m = re.search(r"live page on http://127\.0\.0\.1:(\d+)/", line)
            if m:
                return int(m.group(1))
        if proc.poll() is not None:
            raise RuntimeError(f"voxstream exited ({proc.returncode}): {err.lines[-5:]}")
        time.sleep(0.05)
    raise RuntimeError("voxstream did not start its WebSocket server")


def _summary(args, out, err, samples, warmup, health, dropped_seen, ws, online_seen, rc, exit_s, restarts) -> dict:
    events = [json.loads(x) for x in out if x.startswith("{")]
    stats = next(
        (
            re.search(r"stopped: (\d+) events, ([\d.]+) s of audio, (\d+) dropped blocks", x)
            for x in err
            if "stopped:" in x
        ),
        None,
    )
    audio_s = float(stats.group(2)) if stats else float("nan")
    window_s, hop_s = 2.0, 0.25
    expected = int((audio_s - window_s) / hop_s + 1e-6) + 1
    after = [kb for t, kb in samples if t >= warmup]
    head, tail = after[:5], after[-5:]
    growth_kb = (statistics.median(tail) - statistics.median(head)) if len(after) >= 10 else float("nan")
    s = {
        "minutes": args.minutes,
        "broker_restarts": restarts,
        "wall_s": round(samples[-1][0], 1) if samples else 0,
        "audio_s": audio_s,
        "events_stdout": len(events),
        "events_expected": expected,
        "events_ws": ws.events if ws else 0,
        "events_healthz": health.get("events"),
        "mqtt_online_messages": online_seen,
        "dropped_blocks": max(dropped_seen, health.get("dropped_blocks", 0), int(stats.group(3)) if stats else 0),
        "rss_warmup_kb": statistics.median(head) if head else None,
        "rss_end_kb": statistics.median(tail) if tail else None,
        "rss_growth_mb": round(growth_kb / 1024, 2),
        "rss_max_kb": max(kb for _, kb in samples),
        "rss_samples": len(samples),
        "exit_code": rc,
        "exit_s": round(exit_s, 3),
        "tracebacks": sum("Traceback" in x for x in err),
    }
    seqs = [e["seq"] for e in events]
    s["seq_contiguous"] = seqs == list(range(len(seqs)))
    fails = []
    if not s["rss_growth_mb"] < args.max_rss_growth_mb:
        fails.append(f"RSS grew {s['rss_growth_mb']} MB after warm-up (limit {args.max_rss_growth_mb})")
    if s["dropped_blocks"] != 0:
        fails.append(f"{s['dropped_blocks']} dropped audio blocks")
    if abs(s["events_stdout"] - expected) > 1 or not s["seq_contiguous"]:
        fails.append(f"{s['events_stdout']} events on stdout, expected {expected} +-1 with contiguous seq")
    if s["events_ws"] < s["events_healthz"] - 2:
        fails.append(f"the WebSocket client got {s['events_ws']} of {s['events_healthz']} events")
    if online_seen < restarts + 1:
        fails.append(f"`online` seen {online_seen} times, expected >= {restarts + 1} (start + every restart)")
    if rc != 0 or s["tracebacks"] or exit_s > 1.5:
        fails.append(f"exit code {rc} after {exit_s:.2f} s with {s['tracebacks']} tracebacks")
    s["ok"], s["failures"] = not fails, fails
    return s


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="voxstream-soak-") as tmp:
        summary = soak(args, Path(tmp))
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
