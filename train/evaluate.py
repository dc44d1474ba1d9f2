"""Scoring a shipped ``.tflite`` on labelled folders (LiteRT only), and dataset figures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from voxstream.stream.card import LABELS
from voxstream.stream.model import Classifier

from . import plots
from voxstream.stream.audio_io import load_audio
from .datasets import scan_folders, speaker_keys
from .featurize import Windowing, featurize
from .fit import label_indices, make_splits
from .metrics import classification_metrics

_LOGGER = logging.getLogger(__name__)


def evaluate_model(model_path: str | Path, folders: list[str], split: str = "all", test_speakers: list[str] | None = None,
                   seed: int = 0, windowed: bool = False, scheme: str = "auto", pattern: str | None = None,
                   label_map: dict | None = None, cache_dir: str | None = "default", workers: int = 2) -> dict:
    """Metrics of a model (through :class:`Classifier`) on the clips of ``folders``.

    ``split`` picks the rows: ``all``, or the test side of ``random`` /
    ``speaker`` exactly as ``voxstream train`` cut it (same seed).  With
    ``windowed`` each clip is scored as the mean probability of its
    streaming windows (the card's window_s/hop_s), as the runtime sees it.
    """
    clf = Classifier.load(model_path)
    scan = scan_folders(folders, scheme=scheme, pattern=pattern, label_map=label_map)
    table = scan.table
    if table.empty:
        raise ValueError(f"{', '.join(map(str, folders))}: no labelled audio files found")
    rows = make_splits(table, split, test_speakers or [], seed=seed)[0]
    rows = rows.test if split != "all" else rows.train
    table = table.iloc[rows].reset_index(drop=True)
    windowing = Windowing(clf.card.window_s, clf.card.hop_s) if windowed else Windowing(None)
    feats = featurize(list(table["path"]), clf.card.features, windowing, cache_dir=cache_dir, workers=workers)
    probs = _session_probs(clf, feats.arrays, speaker_keys(table).tolist())
    y_true = label_indices(table["label"][feats.ok])
    y_pred = np.array([_card_to_product(clf.labels, p) for p in probs], dtype=np.int64)
    metrics = classification_metrics(y_true, y_pred, LABELS)
    metrics.update({"model": str(model_path), "split": split, "windowed": windowed,
                    "skipped_files": len(scan.skipped) + len(feats.errors)})
    return metrics


def _session_probs(clf: Classifier, arrays: list, speakers: list[str]) -> list[np.ndarray]:
    """Mean probability per clip; the card's normaliser runs as one session per speaker (clips in table
    order, every window counted as speech), as the streaming engine would hear that speaker."""
    from voxstream.stream.pipeline import make_normalizer

    sessions, probs = {}, []
    for arr, speaker in zip(arrays, speakers):
        if arr is not None:
            norm = sessions.setdefault(speaker, make_normalizer(clf.card))
            probs.append(np.mean([clf.predict(norm.step(v, True)) for v in arr], axis=0))
    return probs


def _card_to_product(card_labels: tuple[str, ...], probs: np.ndarray) -> int:
    """Index into LABELS of the model's top label (cards may order labels differently)."""
    return LABELS.index(card_labels[int(np.argmax(probs))])


def plot_dataset(folders: list[str], out: str | Path, scheme: str = "auto", pattern: str | None = None,
                 label_map: dict | None = None, sample_rate: int = 16000) -> list[Path]:
    """Emotion counts plus waveform and spectrogram of the first clip of each emotion."""
    scan = scan_folders(folders, scheme=scheme, pattern=pattern, label_map=label_map)
    if scan.table.empty:
        raise ValueError(f"{', '.join(map(str, folders))}: no labelled audio files found")
    out = Path(out)
    written = [plots.label_counts(scan.table, out / "emotion_counts.png")]
    for label, group in scan.table.groupby("label"):
        path = group["path"].iloc[0]
        samples = load_audio(path, sample_rate)
        written.append(plots.waveform_and_spectrogram(samples, sample_rate, out / f"clip_{label}.png",
                                                      f"{label}: {Path(path).name}"))
    return written
