"""Label churn: how often the smoothed label changes on continuous speech.

Usage (from the checkout, with the venv)::

    .venv/bin/python bench/churn.py [--minutes 10] [--seed 0] [--model voxstream] [--keep DIR]

Makes ``--minutes`` of continuous espeak-ng speech in a temp directory (never in
the repo): sentences built from a seeded word list, read in paragraphs of 6-10
sentences, each paragraph in one voice / speed / pitch of the demo clip's five;
each sentence is trimmed of espeak's own leading and trailing silence and
followed by a pause drawn uniformly from 0.25-1.25 s (every pause shorter than
the default ``smoother.silence_s`` of 1.5 s), over a faint white-noise floor
(``--noise-dbfs``, like a quiet room; ``--noise-dbfs off`` for digital silence).
The same seed gives the same audio (its sha256 is printed).

The audio then goes through the real pipeline, the command line a user runs::

    voxstream run --file X --fast --json --no-ws --no-mqtt --config config.toml --model voxstream

and every change of the smoothed ``label`` field between consecutive events is
counted (the first event is not a change).  Prints one JSON object:
``changes_per_min`` (changes per minute of audio) and a breakdown.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from voxstream.audio.demo import DEMO_SENTENCES, speak
from voxstream.audio.files import load_audio

REPO = Path(__file__).resolve().parent.parent
RATE = 16000
PAUSE_S = (0.25, 1.25)
"""Range of the pause after each sentence, seconds (all shorter than silence_s = 1.5 s)."""
VOICES = [(voice, wpm, pitch) for _, voice, wpm, pitch in DEMO_SENTENCES]

SUBJECTS = [
    "The old man",
    "My sister",
    "The driver",
    "Our neighbour",
    "The teacher",
    "A little boy",
    "The doctor",
    "Everyone here",
    "The captain",
    "Your friend",
    "The new manager",
    "She",
    "He",
]
VERBS = [
    "walked to",
    "looked at",
    "talked about",
    "waited near",
    "forgot",
    "painted",
    "cleaned",
    "asked about",
    "remembered",
    "found",
    "carried a box to",
    "drove past",
    "closed",
]
OBJECTS = [
    "the station",
    "the red house",
    "the garden",
    "the kitchen window",
    "the market",
    "the river",
    "the library",
    "the blue car",
    "the empty room",
    "the park",
    "the office",
    "the harbour",
    "the bakery on the corner",
]
TAILS = [
    "this morning",
    "after lunch",
    "yesterday",
    "before the rain started",
    "on Sunday",
    "last week",
    "in the evening",
    "without a word",
    "twice",
    "at half past nine",
    "again",
    "for a while",
    "with a smile",
]


def sentence(rng: random.Random) -> str:
    s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}"
    kind = rng.random()
    if kind < 0.15:
        return f"Did you know that {s[0].lower()}{s[1:]}?"
    if kind < 0.25:
        return f"{s}!"
    if kind < 0.45:
        return f"{s}, and then {rng.choice(SUBJECTS).lower()} {rng.choice(VERBS)} {rng.choice(OBJECTS)}."
    return f"{s}."


def trim(x: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    loud = np.nonzero(np.abs(x) > floor)[0]
    return x[loud[0] : loud[-1] + 1] if len(loud) else x[:0]


def make_audio(path: Path, minutes: float, seed: int, noise_dbfs: float | None) -> dict:
    rng = random.Random(seed)
    target = int(minutes * 60 * RATE)
    parts, total, n_sentences, pauses = [], 0, 0, []
    with tempfile.TemporaryDirectory(prefix="voxstream-churn-say-") as tmp:
        while total < target:
            voice, wpm, pitch = rng.choice(VOICES)
            for _ in range(rng.randint(6, 10)):
                wav = speak(sentence(rng), Path(tmp) / "s.wav", voice, wpm, pitch)
                speech = trim(load_audio(wav, RATE)) * np.float32(0.7)
                pause = rng.uniform(*PAUSE_S)
                parts += [speech, np.zeros(int(pause * RATE), dtype=np.float32)]
                total += len(parts[-2]) + len(parts[-1])
                n_sentences += 1
                pauses.append(pause)
                if total >= target:
                    break
    clip = np.concatenate(parts)[:target]
    if noise_dbfs is not None:
        noise = np.random.default_rng(seed).standard_normal(len(clip)).astype(np.float32)
        clip = clip + noise * np.float32(10 ** (noise_dbfs / 20))
    sf.write(str(path), clip, RATE, subtype="PCM_16")
    return {
        "audio_s": round(len(clip) / RATE, 2),
        "sentences": n_sentences,
        "pause_s": {
            "min": round(min(pauses), 2),
            "mean": round(float(np.mean(pauses)), 2),
            "max": round(max(pauses), 2),
        },
        "noise_dbfs": noise_dbfs,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
    }


def run_pipeline(path: Path, model: str, config: Path) -> list[dict]:
    cmd = [
        sys.executable,
        "-m",
        "voxstream",
        "run",
        "--file",
        str(path),
        "--fast",
        "--json",
        "--no-ws",
        "--no-mqtt",
        "--config",
        str(config),
        "--model",
        model,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def count(events: list[dict]) -> dict:
    labels = [e["label"] for e in events]
    audio_s = events[-1]["stream_time_s"] if events else 0.0
    changes = [(a, b) for a, b in zip(labels, labels[1:]) if a != b]
    kinds = collections.Counter("to_" + (b if b in ("uncertain", "silence") else "model_label") for _, b in changes)
    return {
        "events": len(events),
        "label_changes": len(changes),
        "changes_per_min": round(len(changes) / (audio_s / 60), 2) if audio_s else None,
        "changes_by_new_label": dict(sorted(kinds.items())),
        "event_share": {k: round(v / len(labels), 3) for k, v in collections.Counter(labels).most_common()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="voxstream", help="shipped model name or .tflite path")
    ap.add_argument("--config", type=Path, default=REPO / "config.toml")
    ap.add_argument("--noise-dbfs", default="-65", help="white-noise floor in dBFS, or 'off'")
    ap.add_argument("--keep", type=Path, help="write the audio here (a directory) instead of a temp dir")
    args = ap.parse_args(argv)
    noise = None if args.noise_dbfs == "off" else float(args.noise_dbfs)
    with tempfile.TemporaryDirectory(prefix="voxstream-churn-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        wav = folder / f"churn-{args.minutes:g}min-seed{args.seed}.wav"
        audio = make_audio(wav, args.minutes, args.seed, noise)
        result = {
            "model": args.model,
            "config": str(args.config),
            "audio": audio,
            **count(run_pipeline(wav, args.model, args.config)),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
