"""Audio device faults with the PulseAudio virtual microphone: a vanishing device is retried and resumed;
bad --device."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from engine_support import ROOT, espeak_wav, need_model, run_cli
from fault_support import VoxProc, healthz

SCRIPT = ROOT / "scripts" / "virtual-mic.sh"


class VirtualMic:
    """scripts/virtual-mic.sh in a private directory; ``env`` points clients at it."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.env = {
            "HOME": str(workdir / "home"),
            "XDG_RUNTIME_DIR": str(workdir / "rt"),
            "PULSE_RUNTIME_PATH": str(workdir / "rt" / "pulse"),
        }

    def _script(self, cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(SCRIPT), cmd, str(self.dir)], capture_output=True, text=True, timeout=30)

    def start(self) -> None:
        proc = self._script("start")
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)

    def stop(self) -> None:
        self._script("stop")

    def play(self, wav: Path) -> subprocess.Popen:
        return subprocess.Popen(
            ["paplay", "--device=vsink", str(wav)],
            env=dict(os.environ, **self.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


@pytest.fixture
def mic():
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        pytest.skip("PulseAudio cannot start: pulseaudio/pulseaudio-utils not installed")
    vm = VirtualMic(Path(tempfile.mkdtemp(prefix="vxpa-")))  # short: the socket path must stay < 108 chars
    try:
        vm.start()
    except RuntimeError as exc:
        pytest.skip(f"PulseAudio cannot start: {exc.strip()[-300:]}")
    try:
        yield vm
    finally:
        vm.stop()
        shutil.rmtree(vm.dir, ignore_errors=True)


@pytest.mark.parametrize(
    "spec,why",
    [
        ("no-such-mic", "no input device name contains it"),
        ("l", "matches 2 devices"),
        ("e", "matches 2 devices"),
        ("99", "no input device has that index"),
    ],
)
def test_device_that_matches_nothing_or_several_lists_the_devices(spec, why, mic):
    """`--device` matching no device or several exits 2 with one line that lists the input devices."""
    need_model()
    proc = run_cli("run", "--device", spec, "--no-ws", "--no-mqtt", env=mic.env, timeout=60)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("voxstream: error:")]
    assert len(errors) == 1 and why in errors[0], proc.stderr
    assert "'pulse'" in errors[0] and "'default'" in errors[0] and spec in errors[0]
    assert "Traceback" not in proc.stderr


def _speech_after(proc: VoxProc, t: float) -> bool:
    return any(line.startswith("{") and '"speech":true' in line for when, line in list(proc.out) if when > t)


def _events_after(proc: VoxProc, t: float) -> bool:
    return any(line.startswith("{") for when, line in list(proc.out) if when > t)


def _reopens(port: int) -> int:
    try:
        return healthz(port, timeout=2)["reopens"]
    except OSError:  # a busy machine: ask again on the next poll
        return -1


@pytest.mark.slow
def test_device_disappears_and_comes_back(mic, tmp_path):
    """PulseAudio stopped mid-stream: voxstream keeps retrying (the reopen count in /healthz rises), and once the
    device is back events flow again and speech is classified; no traceback, clean exit."""
    need_model()
    speech = espeak_wav(tmp_path / "speech.wav", "I am so angry about this, it is really terrible! Stop it now.")
    env = dict(mic.env, VOXSTREAM_AUDIO_REOPEN_MAX_S="2.0")
    with VoxProc("run", "--device", "pulse", "--json", "--ws-port", "0", "--no-mqtt", env=env) as proc:
        port = proc.ws_port()
        proc.wait_events(2, 30)
        t_play = time.monotonic()
        mic.play(speech).wait(30)
        proc.wait_until(lambda: _speech_after(proc, t_play), 30, "speech before the fault")
        assert _reopens(port) == 0

        mic.stop()
        proc.wait_until(lambda: _reopens(port) >= 3, 60, "three reopen attempts while the device is gone")
        assert proc.proc.poll() is None, "voxstream died with the device"

        mic.start()
        t_back = time.monotonic()
        proc.wait_until(lambda: _events_after(proc, t_back), 60, "events after the device came back")
        t_play2 = time.monotonic()
        mic.play(speech).wait(30)
        proc.wait_until(lambda: _speech_after(proc, t_play2), 30, "speech after the device came back")
        assert healthz(port)["dropped_blocks"] == 0

        proc.signal_and_wait(signal.SIGTERM)  # fails after 10 s if the run does not exit
        assert proc.proc.returncode == 0
        assert "Traceback" not in proc.stderr
