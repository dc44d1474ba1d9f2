"""Figures as PNG files (matplotlib, Agg backend): curves, confusion matrices, dataset views."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import numpy as np

_LOGGER = logging.getLogger(__name__)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _plt().close(fig)
    return path


def training_curves(history: dict, path: str | Path, title: str = "") -> Path:
    """Accuracy and loss per epoch, training and validation side by side."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("accuracy", "loss")):
        for prefix, style in (("", "-"), ("val_", "--")):
            if prefix + key in history:
                ax.plot(
                    np.arange(1, len(history[prefix + key]) + 1),
                    history[prefix + key],
                    style,
                    label=(prefix or "train_").rstrip("_"),
                )
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, Path(path))


def confusion(metrics: dict, path: str | Path, title: str = "") -> Path:
    """Confusion matrix (rows true, columns predicted) with counts in the cells."""
    plt = _plt()
    cm = np.array(metrics["confusion"])
    labels = metrics["labels"]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(cm):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    heading = textwrap.fill(title, 60)
    ax.set_title(f"{heading}\naccuracy {metrics['accuracy']:.3f}, macro F1 {metrics['macro_f1']:.3f}", fontsize=9)
    return _save(fig, Path(path))


def label_counts(table, path: str | Path) -> Path:
    """Number of clips per emotion (and corpus)."""
    plt = _plt()
    counts = table.groupby(["label", "corpus"]).size().unstack(fill_value=0)
    fig, ax = plt.subplots(figsize=(7, 4))
    counts.plot.bar(stacked=True, ax=ax)
    ax.set_ylabel("clips")
    ax.set_title("clips per emotion")
    return _save(fig, Path(path))


def waveform_and_spectrogram(samples: np.ndarray, sample_rate: int, path: str | Path, title: str) -> Path:
    """Waveform above a log-magnitude spectrogram of one clip."""
    import librosa
    import librosa.display

    plt = _plt()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6))
    librosa.display.waveshow(samples, sr=sample_rate, ax=top)
    top.set_title(title)
    db = librosa.amplitude_to_db(np.abs(librosa.stft(samples)), ref=np.max)
    img = librosa.display.specshow(db, sr=sample_rate, x_axis="time", y_axis="hz", ax=bottom)
    fig.colorbar(img, ax=bottom, format="%+2.0f dB")
    return _save(fig, Path(path))
