"""Bad audio files and bad config: a clear message naming the input, the rest of the work still done."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from engine_support import ROOT, need_model, run_cli

SR = 16000


def tone(seconds: float, rate: int = SR, channels: int = 1, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    # a room-noise floor at about -60 dBFS, as any microphone has: without it the log-mel of the empty bands
    # would be the quantisation noise of the container (16-bit vs 24-bit), not a property of the sound.
    # White noise of the same power spectral density at every rate, so the 0-8 kHz band holds the same sound.
    floor = np.random.default_rng(int(seconds * 1000) + rate).normal(0, 1e-3 * np.sqrt(rate / SR), len(t))
    x = (amp * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) + floor).astype(np.float32)
    return x if channels == 1 else np.stack([x * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)


def make_bad(kind: str, d: Path) -> Path:
    """One broken input file of the given kind."""
    d.mkdir(parents=True, exist_ok=True)
    if kind == "empty":
        (p := d / "empty.wav").write_bytes(b"")
    elif kind == "zero_frames":
        sf.write(str(p := d / "zero_frames.wav"), np.zeros(0, np.float32), SR)
    elif kind == "not_audio":
        (p := d / "not_audio.wav").write_bytes(np.random.default_rng(1).bytes(4000))
    elif kind == "text_as_flac":
        (p := d / "text_as_flac.flac").write_text("this is not audio\n" * 50)
    elif kind in ("truncated_wav", "truncated_flac"):
        ext = kind.split("_")[1]
        full = d / f"full.{ext}"
        sf.write(str(full), tone(3.0), SR)
        data = full.read_bytes()
        (p := d / f"{kind}.{ext}").write_bytes(data[: len(data) // 2])
        full.unlink()
    elif kind == "shorter_than_a_frame":
        sf.write(str(p := d / "shorter_than_a_frame.wav"), tone(0.01), SR)
    elif kind == "missing":
        p = d / "missing.wav"
    elif kind == "a_folder.wav":
        (p := d / "a_folder.wav").mkdir()
    else:
        raise AssertionError(kind)
    return p


BAD = [
    "empty",
    "zero_frames",
    "not_audio",
    "text_as_flac",
    "truncated_wav",
    "truncated_flac",
    "shorter_than_a_frame",
    "missing",
]


@pytest.mark.parametrize("kind", BAD)
def test_classify_names_a_bad_file_and_exits_1(kind, tmp_path):
    """classify reports a bad file in one stderr line naming it, counts it as failed, and exits 1 (partial failure)."""
    need_model()
    path = make_bad(kind, tmp_path)
    proc = run_cli("classify", str(path), "--format", "json", timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("voxstream: skipped:")]
    assert len(skipped) == 1 and str(path) in skipped[0], proc.stderr
    assert "classified 0 of 1 files, 1 failed" in proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("kind", [k for k in BAD if k != "shorter_than_a_frame"])  # that one streams (no event)
def test_run_refuses_a_bad_file_with_one_line_and_exit_2(kind, tmp_path):
    """`run --file BAD --fast` exits 2 with one error line naming the file (no traceback, no events)."""
    need_model()
    path = make_bad(kind, tmp_path)
    proc = run_cli("run", "--file", str(path), "--fast", "--json", "--no-ws", "--no-mqtt", timeout=60)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("voxstream: error:")]
    assert len(errors) == 1 and str(path) in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def _write_variant(d: Path, name: str, x: np.ndarray, rate: int, subtype: str) -> Path:
    p = d / name
    sf.write(str(p), x, rate, subtype=subtype)
    return p


def _variants(d: Path) -> dict[str, tuple[Path, float]]:
    """Unusual but valid files: name -> (path, duration in seconds)."""
    out = {}
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        out[subtype] = (_write_variant(d, f"{subtype.lower()}.wav", tone(2.6), SR, subtype), 2.6)
    for rate in (8000, 11025, 22050, 44100, 48000, 96000):
        out[f"{rate}Hz"] = (_write_variant(d, f"r{rate}.wav", tone(2.6, rate), rate, "PCM_16"), 2.6)
    for ch in (2, 3, 4, 6, 8):
        out[f"{ch}ch"] = (_write_variant(d, f"c{ch}.flac", tone(2.6, SR, ch), SR, "PCM_16"), 2.6)
    out["clipped"] = (_write_variant(d, "clipped.wav", np.clip(tone(2.6) * 20, -1, 1), SR, "PCM_16"), 2.6)
    bad = tone(2.6)
    bad[1000:3000], bad[5000:5100], bad[9000:9050] = np.nan, np.inf, -np.inf
    out["nan_inf"] = (_write_variant(d, "nan_inf.wav", bad, SR, "FLOAT"), 2.6)
    return out


def test_classify_accepts_every_format_rate_and_channel_count(tmp_path):
    """8/16/24/32-bit, float and double WAV, 8-96 kHz, 1-8 channels, clipped and NaN/Inf audio all classify."""
    need_model()
    variants = _variants(tmp_path)
    proc = run_cli("classify", str(tmp_path), "--format", "json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = {Path(r["file"]).name: r for r in map(json.loads, proc.stdout.splitlines())}
    assert len(results) == len(variants)
    for name, (path, seconds) in variants.items():
        r = results[path.name]
        assert r["duration_s"] == pytest.approx(seconds, abs=0.01), name
        assert np.isfinite(list(r["scores"].values())).all() and abs(sum(r["scores"].values()) - 1) < 0.01, name
    nan_warnings = [line for line in proc.stderr.splitlines() if "NaN/Inf" in line]
    assert len(nan_warnings) == 1 and "nan_inf.wav" in nan_warnings[0] and "2150" in nan_warnings[0]
    # the same tone gives (nearly) the same scores whatever the container, depth or rate
    ref = np.array(list(results["pcm_16.wav"]["scores"].values()))
    for name in ("pcm_24.wav", "float.wav", "double.wav", "pcm_32.wav"):  # rates: see the speech test below
        assert np.abs(np.array(list(results[name]["scores"].values())) - ref).max() < 0.05, name


def test_run_streams_every_variant_with_the_expected_event_count(tmp_path):
    """`run --file --fast` on each variant gives one event per hop after the first window (2.6 s: 3 events)."""
    need_model()
    for name, (path, seconds) in _variants(tmp_path).items():
        proc = run_cli("run", "--file", str(path), "--fast", "--json", "--no-ws", "--no-mqtt", timeout=60)
        assert proc.returncode == 0, (name, proc.stderr)
        events = [json.loads(line) for line in proc.stdout.splitlines()]
        assert len(events) == 1 + int((seconds - 2.0) / 0.25 + 1e-9), (name, len(events))
        assert all(np.isfinite(e["level_dbfs"]) and np.isfinite(e["confidence"]) for e in events), name


def test_folder_of_many_files_with_a_few_bad_ones(tmp_path):
    """300 good short files and 4 bad ones: 300 results, 4 named failures, summary counts them, exit 1."""
    need_model()
    good = tone(0.3, 8000)
    for i in range(300):
        sf.write(str(tmp_path / f"clip{i:03d}.wav"), good, 8000, subtype="PCM_16")
    bad = [make_bad(kind, tmp_path / "bad") for kind in ("empty", "not_audio", "truncated_wav", "zero_frames")]
    proc = run_cli("classify", str(tmp_path), "--format", "csv", timeout=120)
    assert proc.returncode == 1, proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[0].startswith("file,label,confidence") and len(rows) == 1 + 300
    skipped = [line for line in proc.stderr.splitlines() if line.startswith("voxstream: skipped:")]
    assert len(skipped) == 4 and all(any(str(b) in line for line in skipped) for b in bad), skipped
    assert "classified 300 of 304 files, 4 failed" in proc.stderr


@pytest.mark.slow
def test_hour_long_file_classifies_in_bounded_memory(tmp_path):
    """A 1-hour 8 kHz file classifies (streamed, not loaded) with peak RSS < 300 MB and valid scores."""
    need_model()
    rate, minute = 8000, tone(60.0, 8000)
    hour = tmp_path / "hour.wav"
    with sf.SoundFile(str(hour), "w", samplerate=rate, channels=1, subtype="PCM_16") as fh:
        for _ in range(60):
            fh.write(minute)
    one = tmp_path / "minute.wav"
    sf.write(str(one), minute, rate, subtype="PCM_16")
    # VmHWM of this process only (ru_maxrss would also count the parent's memory at fork time)
    code = (
        "import re, sys; from voxstream.cli.main import main; rc = main(sys.argv[1:]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print('MAXRSS_KB', hwm, file=sys.stderr); sys.exit(rc)"
    )
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-c", code, "classify", str(hour), str(one), "--format", "json", "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    peak_mb = int(proc.stderr.split("MAXRSS_KB")[1].split()[0]) / 1024
    assert peak_mb < 300, f"classify of a 1-hour file peaked at {peak_mb:.0f} MB"
    long_r, short_r = map(json.loads, proc.stdout.splitlines())
    assert long_r["duration_s"] == pytest.approx(3600, abs=0.01)
    for r in (long_r, short_r):
        assert np.isfinite(list(r["scores"].values())).all() and abs(sum(r["scores"].values()) - 1) < 0.01


# -- config ---------------------------------------------------------------------------------------------------
CONFIGS = {
    "unknown key": ("[audio]\nblock_size = 0.1\n", "audio.block_size"),
    "unknown section": ("[speaker]\nx = 1\n", "[speaker]"),
    "wrong type": ('[mqtt]\nport = "eighteen"\n', "mqtt.port"),
    "bool as int": ("[websocket]\nenabled = 1\n", "websocket.enabled"),
    "negative hop": ("[window]\nhop_s = -0.25\n", "window.hop_s"),
    "hop > window": ("[window]\nwindow_s = 1.0\nhop_s = 2.0\n", "window.hop_s"),
    "zero block": ("[audio]\nblock_s = 0\n", "audio.block_s"),
    "port too big": ("[websocket]\nport = 70000\n", "websocket.port"),
    "alpha out of range": ("[smoother]\nalpha = 1.5\n", "smoother.alpha"),
    "not toml": ("[audio\nblock_s = \n", "not valid TOML"),
    "section not a table": ("audio = 3\n", "[audio]"),
}


@pytest.mark.parametrize("case", list(CONFIGS))
def test_bad_config_is_one_line_naming_the_key(case, tmp_path):
    """A bad config file stops `run` with exit 2 and one line that names the offending key."""
    text, key = CONFIGS[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    proc = run_cli("run", "--config", str(cfg), "--file", str(tmp_path / "x.wav"), "--fast", timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("voxstream: error:") and key in lines[0], proc.stderr


@pytest.mark.parametrize("kind", ["directory", "binary", "missing"])
def test_unreadable_config_file_is_one_line(kind, tmp_path):
    """A config path that is a folder, binary junk or missing gives one line naming the file, exit 2."""
    cfg = tmp_path / "cfg.toml"
    if kind == "directory":
        cfg.mkdir()
    elif kind == "binary":
        cfg.write_bytes(b"\xff\xfe\x00garbage\x80")
    proc = run_cli("classify", str(tmp_path), "--config", str(cfg), timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(cfg) in lines[0], proc.stderr


@pytest.mark.parametrize(
    "var,value",
    [
        ("VOXSTREAM_MQTT_PORT", "abc"),
        ("VOXSTREAM_WINDOW_HOP_S", "-1"),
        ("VOXSTREAM_AUDIO_NOPE", "1"),
        ("VOXSTREAM_BOGUS_KEY", "1"),
    ],
)
def test_bad_environment_variable_is_one_line(var, value, tmp_path):
    """A bad VOXSTREAM_* variable gives one line naming it (or its key), exit 2."""
    proc = run_cli("run", "--file", str(tmp_path / "x.wav"), "--fast", env={var: value}, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    key = var[len("VOXSTREAM_") :].lower().replace("_", ".", 1)
    assert len(lines) == 1 and (var in lines[0] or key in lines[0]), (key, proc.stderr)


def test_speech_scores_do_not_depend_on_the_file_rate(tmp_path):
    """The same espeak-ng speech stored at 16, 44.1 and 48 kHz classifies with scores within 0.05.

    (Speech, not the tone above: for a tone whose upper bands hold only a noise floor, the resampler's
    anti-alias transition band near 8 kHz is all the level-free features see there.)"""
    need_model()
    import soxr

    from engine_support import espeak_wav

    src = espeak_wav(tmp_path / "src.wav", "I can't believe you did that, I am so angry with you.")
    x, sr = sf.read(str(src), dtype="float32")
    paths = []
    for rate in (16000, 44100, 48000):
        paths.append(tmp_path / f"s{rate}.wav")
        sf.write(str(paths[-1]), soxr.resample(x, sr, rate), rate, subtype="PCM_16")
    proc = run_cli("classify", *map(str, paths), "--format", "json", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 3
    ref = np.array(list(rows[0]["scores"].values()))
    for r in rows[1:]:
        assert r["label"] == rows[0]["label"] and np.abs(np.array(list(r["scores"].values())) - ref).max() < 0.05, r
