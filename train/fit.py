"""Splits of a dataset table and the deterministic fit of one model.

Splits return row indices into the table.  ``random`` is a stratified 80/20
split, ``speaker`` holds out named speakers, ``lso`` cuts the speakers into k
folds (leave-speakers-out cross-validation), ``all`` trains on everything.
Validation is always a shuffled, stratified slice of the training side (never
Keras' ``validation_split``, which takes the last rows of ordered data).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from voxstream.stream.card import LABELS

from .datasets import speaker_keys
from .models import build_model, get_arch

_LOGGER = logging.getLogger(__name__)
SPLITS = ("random", "speaker", "lso", "all")


@dataclass
class Split:
    """One train/test partition of the table (indices into it)."""

    name: str
    train: np.ndarray
    test: np.ndarray
    test_speakers: list[str] = field(default_factory=list)


def split_random(labels, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """Stratified shuffled split with a fixed seed."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=np.asarray(labels))
    return Split(f"random {1 - test_fraction:.0%}/{test_fraction:.0%} stratified, seed {seed}", np.sort(train), np.sort(test))


def _speaker_mask(table, speakers: list[str]) -> np.ndarray:
    keys = speaker_keys(table).to_numpy()
    raw = table["speaker"].astype(str).to_numpy()
    wanted = set(speakers)
    mask = np.array([k in wanted or r in wanted for k, r in zip(keys, raw)], dtype=bool)
    missing = [s for s in speakers if s not in set(keys) | set(raw)]
    if missing:
        raise ValueError(f"--test-speakers {' '.join(missing)}: not in the data (speakers: "
                         f"{', '.join(sorted(set(raw)))})")
    return mask


def split_speakers(table, test_speakers: list[str]) -> Split:
    """Hold out the named speakers (``OAF`` or ``tess:OAF``); train on the rest."""
    mask = _speaker_mask(table, test_speakers)
    if mask.all():
        raise ValueError("--test-speakers: every clip would be held out; nothing left to train on")
    train_spk = sorted(set(table["speaker"].astype(str)[~mask]))
    return Split(f"speakers: train {'+'.join(train_spk)} -> test {'+'.join(test_speakers)}",
                 np.flatnonzero(~mask), np.flatnonzero(mask), list(test_speakers))


def lso_folds(table, k: int, seed: int = 0) -> list[Split]:
    """Leave-speakers-out: speakers shuffled with ``seed`` and cut into ``k`` folds."""
    keys = speaker_keys(table)
    speakers = np.array(sorted(keys.unique()))
    if k < 2 or k > len(speakers):
        raise ValueError(f"--folds {k}: expected 2..{len(speakers)} (the number of speakers)")
    order = np.random.default_rng(seed).permutation(speakers)
    folds = []
    for i, chunk in enumerate(np.array_split(order, k)):
        held = sorted(str(s) for s in chunk)
        mask = keys.isin(held).to_numpy()
        folds.append(Split(f"lso fold {i + 1}/{k}: test {' '.join(held)}",
                           np.flatnonzero(~mask), np.flatnonzero(mask), held))
    return folds


def make_splits(table, kind: str, test_speakers: list[str] | None = None, folds: int = 4, seed: int = 0) -> list[Split]:
    """The splits of one ``--split`` choice (several for ``lso``)."""
    if kind == "random":
        return [split_random(table["label"], seed=seed)]
    if kind == "speaker":
        if not test_speakers:
            raise ValueError("--split speaker needs --test-speakers")
        return [split_speakers(table, test_speakers)]
    if kind == "lso":
        return lso_folds(table, folds, seed)
    if kind == "all":
        return [Split("all data (no held-out test)", np.arange(len(table)), np.array([], dtype=int))]
    raise ValueError(f"--split {kind!r}: expected one of {SPLITS}")


def seed_everything(seed: int) -> None:
    """Same seed, same command -> same weights (Python, numpy and TF seeds, deterministic ops)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def label_indices(labels) -> np.ndarray:
    return np.array([LABELS.index(lab) for lab in labels], dtype=np.int64)


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled stratified (train, val) indices of a training side."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    present = counts[counts > 0]
    n_val = max(int(round(fraction * len(y))), len(present))  # at least one per class (tiny data)
    stratify = y if present.min() >= 2 and n_val <= len(y) - len(present) else None
    fit_idx, val_idx = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
    return np.sort(fit_idx), np.sort(val_idx)


@dataclass
class FitResult:
    model: object
    history: dict
    val_index: np.ndarray
    """Indices (into the x given to :func:`fit`) used for validation."""
    seconds: float


def fit(arch_name: str, x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int | None = None,
        val_fraction: float = 0.1, verbose: int = 0) -> FitResult:
    """Train a fresh model of ``arch_name`` on pooled vectors ``x`` and class indices ``y``."""
    import keras

    arch = get_arch(arch_name)
    seed_everything(seed)
    x = x.reshape((len(x),) + arch.input_shape(x.shape[-1])).astype(np.float32)
    onehot = keras.utils.to_categorical(y, num_classes=len(LABELS))
    fit_idx, val_idx = validation_split(y, val_fraction, seed)
    model = build_model(arch_name, x.shape[1:], len(LABELS))
    if arch.adapt:
        arch.adapt(model, x[fit_idx])
    start = time.perf_counter()
    hist = model.fit(x[fit_idx], onehot[fit_idx], validation_data=(x[val_idx], onehot[val_idx]),
                     epochs=epochs or arch.epochs, batch_size=arch.batch_size, shuffle=True, verbose=verbose,
                     callbacks=arch.callbacks() if arch.callbacks else None)
    seconds = time.perf_counter() - start
    _LOGGER.info("fit %s: %d examples, %d epochs, %.1f s", arch_name, len(fit_idx), len(hist.history["loss"]), seconds)
    history = {k: [round(float(v), 5) for v in vals] for k, vals in hist.history.items()}
    return FitResult(model, history, val_idx, seconds)


def predict(model, x: np.ndarray, arch_name: str) -> np.ndarray:
    """Keras probabilities for pooled vectors (n, dim)."""
    arch = get_arch(arch_name)
    x = x.reshape((len(x),) + arch.input_shape(x.shape[-1])).astype(np.float32)
    return model.predict(x, batch_size=256, verbose=0)
