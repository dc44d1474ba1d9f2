"""``voxstream eval``: a shipped ``.tflite`` on labelled folders (LiteRT, no TensorFlow), and dataset figures.

The clips are scored exactly as ``voxstream train`` scores its evaluations
(:mod:`.protocols`, the one clip score of :mod:`voxstream.offline.clips`), so
``eval`` on a model's own held-out side reproduces its card's ``holdout``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from voxstream.audio.files import load_audio
from voxstream.config import GateConfig
from voxstream.inference.card import LABELS
from voxstream.inference.litert import Classifier
from voxstream.inference.shipped import resolve_model
from voxstream.offline.clips import batched
from voxstream.train import plots
from voxstream.train.datasets import label_indices, scan_folders, speaker_keys
from voxstream.train.live import LIVE, run_live_protocols
from voxstream.train.protocols import CONDITION, EXTRA, PROTOCOLS, run_protocol
from voxstream.train.rows import Windowing, dataset_rows, default_cache_dir
from voxstream.train.splits import make_splits

_LOGGER = logging.getLogger(__name__)


def evaluate_model(
    model_path: str | Path,
    folders: list[str],
    split: str = "all",
    protocols=("stream", "cold"),
    seed: int = 0,
    scan: dict | None = None,
    cache_dir: str | None = "default",
    workers: int = 2,
) -> dict:
    """Metrics of a model on the test side of ``split`` (``all``: every clip), per protocol."""
    known = PROTOCOLS + LIVE + EXTRA
    unknown = [p for p in protocols if p not in known]
    if unknown:
        raise ValueError(f"--protocol {' '.join(unknown)}: expected some of {', '.join(known)}")
    clf = Classifier.load(resolve_model(model_path))
    if tuple(clf.labels) != LABELS:
        raise ValueError(f"{model_path}: labels {clf.labels} are not the product labels {LABELS}")
    table = scan_folders(folders, **(scan or {})).table
    if table.empty:
        raise ValueError(f"{', '.join(map(str, folders))}: no labelled audio files found")
    splits = make_splits(table, split, seed)
    if len(splits) != 1:
        raise ValueError(f"split {split!r} has {len(splits)} folds: name one, e.g. {split}:1")
    test = splits[0].test if len(splits[0].test) else splits[0].train
    cache = default_cache_dir() if cache_dir == "default" else cache_dir
    paths = list(table["path"].astype(str))
    card = clf.card
    windowing = Windowing(card.window_s, card.hop_s)
    rows = {
        v: dataset_rows(paths, card.features, windowing, v, card.gate or GateConfig(), seed, cache, workers)
        for v in dict.fromkeys(CONDITION.get(p, "orig") for p in protocols if p not in LIVE)
    }
    y = label_indices(table["label"])
    speakers = speaker_keys(table).to_numpy()
    calm = (table["emotion"] == "calm").to_numpy()
    live = run_live_protocols(protocols, card, clf.predict, paths, test, y, speakers, seed + 7, calm)
    out = {
        "model": str(model_path),
        "split": split,
        "split_name": splits[0].name,
        "n_test_clips": int(len(test)),
        "protocols": {
            p: live[p]
            if p in LIVE
            else run_protocol(
                p,
                rows,
                card.normalization,
                batched(clf.predict),
                test,
                y,
                speakers,
                seed + 7,
                hop_s=card.hop_s,
                calm=calm,
            )
            for p in protocols
        },
    }
    return out


def plot_dataset(folders: list[str], out: str | Path, scan: dict | None = None, sample_rate: int = 16000) -> list[Path]:
    """Emotion counts plus waveform and spectrogram of the first clip of each emotion."""
    table = scan_folders(folders, **(scan or {})).table
    if table.empty:
        raise ValueError(f"{', '.join(map(str, folders))}: no labelled audio files found")
    out = Path(out)
    written = [plots.label_counts(table, out / "emotion_counts.png")]
    for label, group in table.groupby("label"):
        path = group["path"].iloc[0]
        samples = load_audio(path, sample_rate)
        written.append(
            plots.waveform_and_spectrogram(
                samples, sample_rate, out / f"clip_{label}.png", f"{label}: {Path(path).name}"
            )
        )
    return written
