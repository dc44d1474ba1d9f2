"""A calm speaker through the live path: each speaker's calm-session clips as one audio stream, run by the engine.

    .venv/bin/python scripts/calm_run.py --model FOLD.tflite --data DATA/ravdess --speakers 01 02 03 04

Per speaker the clips of the ``calm-session`` protocol (every neutral and calm clip plus one clip of each
other label, the protocol's seeded order) are joined with ``--gap`` seconds between them (digital silence, or
white noise at ``--gap-dbfs``, a microphone's floor) and streamed through ``voxstream.api.events_from_file``
(what ``voxstream run --file --fast`` runs). Each clip then gets two labels: ``vote``, the most frequent raw
label of the speech windows that end inside the clip or in the gap after it, and ``shown``, the smoothed label
of the last event before the next clip starts (what a user reads). Use a model that never heard these speakers
(e.g. one trained with ``--split lao:1`` for actors 01-04), and compare with ``voxstream eval --split lao:1
--protocol calm-session`` of the same model.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from voxstream.api import events_from_file
from voxstream.audio.files import load_audio
from voxstream.inference.card import LABELS
from voxstream.train.datasets import label_indices, scan_folders, speaker_keys
from voxstream.train.protocols import calm_sessions

RATE = 16000


async def _events(path: Path, model: str) -> list:
    return [e async for e in events_from_file(path, model=model)]


def run_speaker(
    paths: list[str], model: str, gap_s: float, gap_dbfs: float | None, seed: int
) -> list[tuple[str | None, str]]:
    """(vote, shown) of each clip of one joined session."""
    rng = np.random.default_rng(seed)
    audio, spans, t = [], [], 0
    for p in paths:
        x = load_audio(p, RATE)
        gap = np.zeros(int(gap_s * RATE), np.float32)
        if gap_dbfs is not None:  # white noise of that RMS level
            gap = (rng.standard_normal(len(gap)) * 10 ** (gap_dbfs / 20)).astype(np.float32)
        audio += [x, gap]
        spans.append((t / RATE, (t + len(x) + len(gap)) / RATE))
        t += len(x) + len(gap)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "session.wav"
        sf.write(wav, np.concatenate(audio), RATE, subtype="FLOAT")
        events = asyncio.run(_events(wav, model))
    out = []
    for start, end in spans:
        mine = [e for e in events if start < e.stream_time_s <= end]
        raw = [e.raw_label for e in mine if e.speech and e.raw_label]
        vote = collections.Counter(raw).most_common(1)[0][0] if raw else None
        out.append((vote, mine[-1].label if mine else "silence"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a .tflite with its card, or a shipped model's name")
    ap.add_argument("--data", required=True, help="the RAVDESS folder")
    ap.add_argument("--speakers", nargs="+", required=True, help="RAVDESS actors, e.g. 01 02 03 04")
    ap.add_argument("--gap", type=float, default=0.6, help="seconds between clips (default 0.6)")
    ap.add_argument(
        "--gap-dbfs", type=float, help="fill the gaps with white noise of this RMS level (default: digital silence)"
    )
    ap.add_argument("--seed", type=int, default=7, help="session seed (7: the protocols' seed in train and eval)")
    args = ap.parse_args()
    table = scan_folders([args.data]).table
    y, speakers = label_indices(table["label"]), speaker_keys(table).to_numpy()
    test = np.flatnonzero(np.isin(table["speaker"].astype(str), args.speakers))
    calm = (table["emotion"] == "calm").to_numpy()
    rows = []
    for session in calm_sessions(test, y, speakers, args.seed, calm):
        labels = run_speaker(list(table["path"].iloc[session]), args.model, args.gap, args.gap_dbfs, args.seed)
        for c, (vote, shown) in zip(session, labels):
            rows.append((LABELS[y[c]], table["emotion"].iloc[c], vote, shown))
    for name, k in (("vote", 2), ("shown", 3)):
        acc = np.mean([r[0] == r[k] for r in rows])
        neutral = [r for r in rows if r[0] == "neutral"]
        calm_rows = [r for r in rows if r[1] == "calm"]
        print(
            f"{name}: {len(rows)} clips, accuracy {acc:.3f}, neutral recall "
            f"{np.mean([r[k] == 'neutral' for r in neutral]):.3f}; calm clips read as "
            f"{dict(collections.Counter(r[k] for r in calm_rows).most_common())}"
        )


if __name__ == "__main__":
    main()
