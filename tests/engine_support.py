"""Helpers for the streaming-engine tests: the shipped model, speech made with espeak-ng, the CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "voxstream.tflite"
VOXSTREAM = [sys.executable, "-m", "voxstream.cli.main"]


def need_model() -> Path:
    if not MODEL.is_file() or not MODEL.with_suffix(".json").is_file():
        pytest.fail(f"{MODEL} or its card is missing: the shipped model is part of the repository")
    return MODEL


def need_espeak() -> None:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")


def espeak_wav(path: Path, text: str, voice: str = "en", wpm: int = 160) -> Path:
    need_espeak()
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text], check=True, timeout=60)
    return path


def speech_with_pauses(path: Path, rate: int = 16000) -> Path:
    """Two espeak sentences with 2.5 s of silence before, between and after (mono WAV at ``rate``)."""
    from voxstream.audio.files import load_audio

    a = load_audio(espeak_wav(path.with_name("a.wav"), "I am so angry about this, it is terrible!"), rate)
    b = load_audio(espeak_wav(path.with_name("b.wav"), "What a lovely day it is, I am very happy."), rate)
    gap = np.zeros(int(2.5 * rate), dtype=np.float32)
    sf.write(str(path), np.concatenate([gap, a * 0.7, gap, b * 0.7, gap]), rate, subtype="FLOAT")
    return path


def run_cli(*args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """``voxstream ARGS`` in a subprocess (stdout and stderr captured as text)."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*VOXSTREAM, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env)
