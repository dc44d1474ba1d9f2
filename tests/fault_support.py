"""Helpers for the fault, soak and privacy tests: `voxstream run` as a watched subprocess, an MQTT tap,
/proc readings."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import soundfile as sf

from engine_support import ROOT, VOXSTREAM

_PAGE = re.compile(r"live page on http://127\.0\.0\.1:(\d+)/")


class VoxProc:
    """``voxstream ARGS`` running in the background; stdout and stderr lines are collected with arrival times."""

    def __init__(self, *args: str, env: dict | None = None) -> None:
        full_env = dict(os.environ, **(env or {}))
        full_env.pop("VOXSTREAM_CONFIG", None)
        self.proc = subprocess.Popen(
            [*VOXSTREAM, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=full_env,
            start_new_session=True,
        )
        self.pid = self.proc.pid
        self.out: list[tuple[float, str]] = []
        self.err: list[tuple[float, str]] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(s, dst), daemon=True)
            for s, dst in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))
        ]
        for t in self._threads:
            t.start()

    @staticmethod
    def _pump(stream, dst: list) -> None:
        for line in stream:
            dst.append((time.monotonic(), line.rstrip("\n")))

    def __enter__(self) -> VoxProc:
        return self

    def __exit__(self, *exc) -> None:
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for t in self._threads:
            t.join(5)

    @property
    def stdout(self) -> str:
        return "\n".join(line for _, line in self.out)

    @property
    def stderr(self) -> str:
        return "\n".join(line for _, line in self.err)

    def events(self) -> list[dict]:
        return [json.loads(line) for _, line in list(self.out) if line.startswith("{")]

    def wait_until(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None and not predicate():
                raise AssertionError(
                    f"voxstream exited ({self.proc.returncode}) while waiting for {what}:\n{self.stderr[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}:\n{self.stderr[-3000:]}")
            time.sleep(0.02)

    def wait_events(self, n: int, timeout: float) -> list[dict]:
        self.wait_until(lambda: len(self.events()) >= n, timeout, f"{n} events")
        return self.events()

    def wait_stderr(self, pattern: str, timeout: float) -> re.Match:
        rx = re.compile(pattern)
        found: list[re.Match] = []

        def seen() -> bool:
            found[:] = [m for _, line in list(self.err) if (m := rx.search(line))]
            return bool(found)

        self.wait_until(seen, timeout, f"stderr /{pattern}/")
        return found[0]

    def ws_port(self, timeout: float = 30) -> int:
        return int(self.wait_stderr(_PAGE.pattern, timeout).group(1))

    def signal_and_wait(self, signum: int, timeout: float = 10) -> None:
        """Send a signal and wait for the process to exit (``subprocess.TimeoutExpired`` after ``timeout``)."""
        self.proc.send_signal(signum)
        self.proc.wait(timeout)
        for t in self._threads:
            t.join(5)


def catches(pid: int, signum: int) -> bool:
    """Has the process installed a handler for ``signum`` (SigCgt in /proc/<pid>/status)?"""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = int(re.search(r"^SigCgt:\s*([0-9a-f]+)", text, re.M).group(1), 16)
    return bool(mask & (1 << (signum - 1)))


def rss_kb(pid: int) -> int:
    """Resident set size (VmRSS) of a process in kB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s*(\d+) kB", text, re.M).group(1))


def healthz(port: int, timeout: float = 5) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as resp:
        return json.loads(resp.read())


class MqttTap:
    """A paho subscriber in its own thread that records every message (time, topic, payload, retain)."""

    def __init__(self, host: str, port: int, topics: tuple[str, ...] = ("#",)) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tap-{os.getpid()}-{id(self)}")
        self._client.on_message = lambda c, u, m: self.messages.append(
            (time.monotonic(), m.topic, m.payload, bool(m.retain))
        )
        self._client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in topics]
        self._client.reconnect_delay_set(0.2, 1.0)
        self._client.connect_async(host, port, keepalive=10)
        self._client.loop_start()

    def __enter__(self) -> MqttTap:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def on(self, suffix: str) -> list[tuple[float, bytes]]:
        return [(t, p) for t, topic, p, _ in list(self.messages) if topic.endswith(suffix)]

    def wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for MQTT {what}; got "
                    f"{[(m[1], m[2][:60]) for m in self.messages[-10:]]}"
                )
            time.sleep(0.02)


def tone_with_speechlike_bursts(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A loud, amplitude-modulated harmonic tone (passes the speech gate) written as 16-bit WAV."""
    t = np.arange(int(seconds * rate)) / rate
    voice = sum(np.sin(2 * np.pi * f * t) / k for k, f in enumerate((180, 360, 540, 720, 1100), start=1))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    sf.write(str(path), (0.25 * voice * envelope).astype(np.float32), rate, subtype="PCM_16")
    return path


def terminate_quietly(proc: VoxProc) -> None:
    """SIGTERM then kill; for finally blocks."""
    if proc.proc.poll() is None:
        proc.proc.send_signal(signal.SIGTERM)
        try:
            proc.proc.wait(3)
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
