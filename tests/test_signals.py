"""SIGTERM and SIGINT at any moment of `voxstream run`: exit 0, no traceback, MQTT says offline.

A run that does not exit fails through ``signal_and_wait``'s time-out (10 s, far above the 0.8 s and 3 s
close bounds of the publishers), not through a timing assert.
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from engine_support import need_model
from fault_support import MqttTap, VoxProc, catches, tone_with_speechlike_bursts


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return tone_with_speechlike_bursts(tmp_path_factory.mktemp("sig") / "tone.wav", 6.0)


def _start(clip, broker, node: str) -> VoxProc:
    need_model()
    return VoxProc(
        "run",
        "--file",
        str(clip),
        "--loop",
        "--json",
        "--ws-port",
        "0",
        "--node",
        node,
        "--mqtt-host",
        broker.host,
        "--mqtt-port",
        str(broker.port),
    )


def _assert_clean_exit(proc: VoxProc) -> None:
    assert proc.proc.returncode == 0, (proc.proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert " ERROR " not in proc.stderr, proc.stderr[-3000:]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_startup_imports(signum, clip, mqtt_broker):
    """A signal while the command modules are still loading (handler just installed) exits 0 quietly."""
    with _start(clip, mqtt_broker, "sigboot") as proc:
        proc.wait_until(lambda: catches(proc.pid, signal.SIGTERM), 20, "SIGTERM handler")
        proc.signal_and_wait(signum)
        _assert_clean_exit(proc)
        assert proc.events() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_after_listeners_before_first_event(signum, clip, mqtt_broker):
    """A signal once the listeners are up but before the first window is full exits 0 quietly."""
    with _start(clip, mqtt_broker, "sigearly") as proc:
        proc.ws_port()
        proc.signal_and_wait(signum)
        _assert_clean_exit(proc)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_stream_with_mqtt_connected_publishes_offline(signum, clip, mqtt_broker):
    """Mid-stream with MQTT connected: exit 0, `offline` on the status topic, a clean MQTT disconnect."""
    node = f"sig{int(signum)}"
    with (
        MqttTap(mqtt_broker.host, mqtt_broker.port, (f"voxstream/{node}/#",)) as tap,
        _start(clip, mqtt_broker, node) as proc,
    ):
        proc.wait_events(3, 30)
        tap.wait(lambda: any(p == b"online" for _, p in tap.on("/status")), 10, "status online")
        online_at = time.monotonic()
        proc.signal_and_wait(signum)
        _assert_clean_exit(proc)
        tap.wait(lambda: any(t > online_at and p == b"offline" for t, p in tap.on("/status")), 5, "status offline")
        log = mqtt_broker.log_text()
        assert re.search(rf"Client voxstream-{node}-[0-9a-f]{{8}} disconnected\.", log), log[-2000:]
        assert not re.search(rf"Client voxstream-{node}-[0-9a-f]{{8}} closed its connection", log), (
            "unclean disconnect (last will)"
        )
        assert len(proc.events()) >= 3


@pytest.mark.slow
def test_signal_while_mqtt_connects_repeatedly(clip, mqtt_broker):
    """Signals that land while the MQTT connection is being set up never leave a traceback (8 tries, both signals)."""
    for i in range(8):
        signum = (signal.SIGTERM, signal.SIGINT)[i % 2]
        with _start(clip, mqtt_broker, f"race{i}") as proc:
            proc.ws_port()
            proc.signal_and_wait(signum)
            assert "Exception ignored" not in proc.stderr, proc.stderr[-3000:]
            _assert_clean_exit(proc)


def test_sigint_stops_a_run_started_with_sigint_ignored(clip, mqtt_broker):
    """A background job of a script inherits SIGINT ignored; voxstream still stops on it at start-up, as its
    event loop does later."""
    import subprocess

    from fault_support import ROOT, VOXSTREAM

    need_model()
    proc = subprocess.Popen(
        [
            *VOXSTREAM,
            "run",
            "--file",
            str(clip),
            "--loop",
            "--json",
            "--ws-port",
            "0",
            "--mqtt-host",
            mqtt_broker.host,
            "--mqtt-port",
            str(mqtt_broker.port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 20
        while not catches(proc.pid, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert catches(proc.pid, signal.SIGINT)  # its own handler, not the inherited SIG_IGN
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_signals_held_during_an_import_arrive_after_it():
    """Inside held_signals.held() a SIGINT is held back (an extension's initialisation is not interrupted half
    way), also while other threads run, and raises KeyboardInterrupt as soon as the block ends."""
    import os
    import threading

    from voxstream.held_signals import held

    before = signal.signal(signal.SIGINT, signal.default_int_handler)  # pytest may run as a background job
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # a process-directed signal may go to any thread
    other.start()
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with held():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
                reached.append("end of block")
        assert reached == ["end of block"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is as before
    finally:
        stop.set()
        other.join()
        signal.signal(signal.SIGINT, before)
