"""Speech made on the spot with espeak-ng: the demo clip and the benchmark's audio.

No dataset needed: several sentences in different voices, speeds and pitches,
separated by pauses (so the speech gate and the "silence" label show too).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from voxstream.audio.files import load_audio
from voxstream.errors import AudioError

_LOGGER = logging.getLogger(__name__)

DEMO_SENTENCES = (
    ("I can't believe you did that again! This is completely unacceptable!", "en+m3", 190, 70),
    ("Oh, what a wonderful surprise, thank you so much, I love it.", "en+f3", 175, 80),
    ("The meeting is at three o'clock in the second floor conference room.", "en+m1", 150, 45),
    ("I'm sorry. I really miss her. Everything feels so empty now.", "en+f2", 110, 25),
    ("Wait, what was that noise? Is someone there? Please, hello?", "en+m7", 200, 90),
)
"""(text, espeak voice, words per minute, pitch 0-99)."""


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, path: str | Path, voice: str = "en", wpm: int = 160, pitch: int = 50) -> Path:
    """Synthesise ``text`` into a WAV file with espeak-ng."""
    if not espeak_available():
        raise AudioError("espeak-ng not found; expected it installed (apt-get install espeak-ng)")
    cmd = ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(path), text]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or not Path(path).is_file():
        raise AudioError(f"espeak-ng failed ({proc.stderr.strip() or proc.returncode}); expected a WAV file")
    return Path(path)


def make_speech_clip(
    path: str | Path, sample_rate: int = 16000, pause_s: float = 1.0, sentences=DEMO_SENTENCES, repeat: int = 1
) -> Path:
    """Several sentences with pauses between them, written as a mono WAV at ``sample_rate``."""
    parts = []
    gap = np.zeros(int(pause_s * sample_rate), dtype=np.float32)
    with tempfile.TemporaryDirectory(prefix="voxstream-say-") as tmp:
        for i, (text, voice, wpm, pitch) in enumerate(sentences):
            wav = speak(text, Path(tmp) / f"s{i}.wav", voice, wpm, pitch)
            parts += [load_audio(wav, sample_rate) * np.float32(0.7), gap]
    clip = np.concatenate([gap] + parts * repeat)
    sf.write(str(path), clip, sample_rate, subtype="PCM_16")
    _LOGGER.debug("speech clip %s: %.1f s", path, len(clip) / sample_rate)
    return Path(path)


def demo_clip(sample_rate: int = 16000) -> Path:
    """The demo clip, made once per machine in the temp directory."""
    path = Path(tempfile.gettempdir()) / f"voxstream-demo-{sample_rate}.wav"
    if not path.is_file():
        tmp = path.with_suffix(".tmp.wav")
        make_speech_clip(tmp, sample_rate)
        tmp.replace(path)
    return path
