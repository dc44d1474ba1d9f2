"""A real PulseAudio virtual microphone: speech played into a null sink is captured by
`voxstream run --device pulse`."""

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from engine_support import ROOT, VOXSTREAM, need_model, speech_with_pauses
from voxstream.audio.files import load_audio

SR = 16000
SCRIPT = ROOT / "scripts" / "virtual-mic.sh"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory):
    """A PulseAudio server with sink 'vsink' and source 'vmic' in a private runtime dir; yields its env."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
    d = tmp_path_factory.mktemp("pa")
    start = subprocess.run(["bash", str(SCRIPT), "start", str(d)], capture_output=True, text=True, timeout=30)
    if start.returncode != 0:
        pytest.skip(f"PulseAudio could not start here: {start.stderr.strip()[-300:]}")
    env = dict(
        os.environ, HOME=str(d / "home"), XDG_RUNTIME_DIR=str(d / "rt"), PULSE_RUNTIME_PATH=str(d / "rt" / "pulse")
    )
    warm = "import sounddevice as sd; sd.rec(8000, samplerate=16000, channels=1, device='pulse', blocking=True)"
    subprocess.run([sys.executable, "-c", warm], env=env, timeout=30, capture_output=True)
    yield env
    subprocess.run(["bash", str(SCRIPT), "stop", str(d)], capture_output=True, timeout=30)


RECORD = """
import asyncio, sys
import numpy as np, soundfile as sf
from voxstream.audio.sources import MicSource
from voxstream.config import load_config

async def main(path, seconds):
    cfg = load_config(None, {"audio": {"device": "pulse"}}, {})
    blocks, n = [], 0
    async with MicSource(cfg.audio, 16000) as mic:
        print("capturing", file=sys.stderr, flush=True)
        async for block in mic:
            blocks.append(block)
            n += len(block)
            if n >= seconds * 16000:
                break
    sf.write(path, np.concatenate(blocks), 16000, subtype="FLOAT")

asyncio.run(main(sys.argv[1], float(sys.argv[2])))
"""
"""The test's own tap: the runtime's microphone source, its blocks written to a WAV (voxstream writes no audio)."""


def _capturing(proc: subprocess.Popen, marker: str) -> tuple[threading.Event, list[str]]:
    """An event set when ``marker`` appears on the process's stderr, and the lines read so far."""
    seen, log = threading.Event(), []

    def read_stderr():
        for line in proc.stderr:
            log.append(line)
            if marker in line:
                seen.set()

    threading.Thread(target=read_stderr, daemon=True).start()
    return seen, log


def best_lag_correlation(played: np.ndarray, captured: np.ndarray) -> tuple[float, int]:
    """Normalised correlation of ``played`` with the part of ``captured`` at the best lag (lag >= 0)."""
    n = 1 << int(np.ceil(np.log2(len(played) + len(captured))))
    xc = np.fft.irfft(np.fft.rfft(captured, n) * np.conj(np.fft.rfft(played, n)), n)[: len(captured) - len(played)]
    lag = int(np.argmax(xc))
    seg = captured[lag : lag + len(played)]
    return float(np.dot(seg, played) / (np.linalg.norm(seg) * np.linalg.norm(played) + 1e-12)), lag


def sentences(played: np.ndarray) -> list[np.ndarray]:
    """The non-silent stretches of the played clip (its sentences), cut at pauses longer than 0.5 s."""
    loud = np.flatnonzero(np.abs(played) > 1e-4)
    cuts = np.flatnonzero(np.diff(loud) > SR // 2)
    starts, ends = np.r_[loud[0], loud[cuts + 1]], np.r_[loud[cuts], loud[-1]]
    return [played[a : b + 1] for a, b in zip(starts, ends)]


def test_devices_lists_the_virtual_mic(pulse):
    """`voxstream devices` lists the 'pulse' input with its default rate."""
    out = subprocess.run([*VOXSTREAM, "devices"], capture_output=True, text=True, env=pulse, timeout=60, cwd=ROOT)
    assert out.returncode == 0 and "pulse" in out.stdout and "Hz" in out.stdout


def test_unknown_device_lists_inputs(pulse):
    """--device with no match: exit 2 and one line that lists the input devices."""
    need_model()
    out = subprocess.run(
        [*VOXSTREAM, "run", "--device", "no-such-mic", "--duration", "1", "--no-ws", "--no-mqtt"],
        capture_output=True,
        text=True,
        env=pulse,
        timeout=60,
        cwd=ROOT,
    )
    err = [ln for ln in out.stderr.splitlines() if ln.startswith("voxstream: error:")]
    assert out.returncode == 2 and len(err) == 1 and "no-such-mic" in err[0] and "'pulse'" in err[0]


@pytest.mark.slow
def test_live_capture_detects_speech_and_matches_what_was_played(pulse, tmp_path):
    """Speech played into the sink is captured (each sentence correlates > 0.9 at its best lag), gated and labelled."""
    need_model()
    played_file = speech_with_pauses(tmp_path / "speech.wav")
    played = load_audio(played_file, SR)
    duration = len(played) / SR + 3.0
    rec = tmp_path / "captured.wav"
    proc = subprocess.Popen(
        [*VOXSTREAM, "run", "--device", "pulse", "--duration", f"{duration:.2f}", "--json", "--no-ws", "--no-mqtt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=pulse,
        cwd=ROOT,
    )
    tap = subprocess.Popen(
        [sys.executable, "-c", RECORD, str(rec), f"{duration:.2f}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=pulse,
        cwd=ROOT,
    )
    capturing, log = _capturing(proc, "capturing from")
    tapping, tap_log = _capturing(tap, "capturing")
    try:
        assert capturing.wait(30), "".join(log)
        assert tapping.wait(30), "".join(tap_log)
        time.sleep(0.3)
        subprocess.run(["paplay", "--device=vsink", str(played_file)], env=pulse, timeout=60, check=True)
        stdout, _ = proc.communicate(timeout=60)
        tap.wait(timeout=60)
    finally:
        proc.kill()
        tap.kill()
    assert tap.returncode == 0, "".join(tap_log)
    assert proc.returncode == 0, "".join(log)
    events = [json.loads(line) for line in stdout.splitlines()]
    speech = [e for e in events if e["speech"]]
    assert len(events) >= int((duration - 2.0) / 0.25) - 2
    assert speech and {e["label"] for e in speech} - {"uncertain", "silence"}, "no label for the speech"
    assert any(not e["speech"] for e in events) and any(e["label"] == "silence" for e in events)
    captured = load_audio(rec, SR)
    parts = sentences(played)
    assert len(parts) == 2
    for part in parts:  # each sentence on its own: a capture that starts late or skips a pause still matches
        corr, lag = best_lag_correlation(part, captured)
        assert corr > 0.9, f"correlation {corr:.3f} at lag {lag / SR:.2f} s"


@pytest.mark.slow
def test_device_loss_is_survived(pulse, tmp_path):
    """The sound server going away mid-run is logged, the device is reopened with backoff, the run completes."""
    need_model()
    d = os.path.dirname(pulse["XDG_RUNTIME_DIR"])
    # a fresh sound server sometimes delivers nothing to the first streams opened on it: cap the backoff at
    # 2 s so the retries that follow come quickly (the default cap, 10 s, made the test flaky under load)
    env = {**pulse, "VOXSTREAM_AUDIO_REOPEN_MAX_S": "2"}
    proc = subprocess.Popen(
        [*VOXSTREAM, "run", "--device", "pulse", "--duration", "8", "--json", "--no-ws", "--no-mqtt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        assert json.loads(proc.stdout.readline())["seq"] == 0  # running: 2 s of audio heard
        subprocess.run(["bash", str(SCRIPT), "stop", d], capture_output=True, timeout=30, check=True)
        time.sleep(1.5)
        subprocess.run(["bash", str(SCRIPT), "start", d], capture_output=True, timeout=30, check=True)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    events = [json.loads(line) for line in stdout.splitlines()]
    assert proc.returncode == 0 and "reopening in" in stderr, stderr[-1500:]
    assert events[-1]["stream_time_s"] == 8.0 and len(events) == 24
