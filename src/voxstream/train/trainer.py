"""The one training pipeline: data table -> rows -> splits -> fit -> LiteRT evaluation -> export -> card.

``voxstream train --arch ARCH --data DIR... [--split SPEC] [--evaluate SPEC...]``.
An architecture (:mod:`.archs`) is a plug-in: its pooling, whether it trains
on streaming windows or whole clips, its normalisation, augmentation copies
and Keras builder.  Every evaluation split is trained from scratch on its own
training side; its model is converted to ``.tflite`` and scored through LiteRT
by the protocols of :mod:`.protocols` (the one clip score of
:mod:`voxstream.offline.clips`).  The shipped model is fitted on the training
side of ``--split`` (default ``all``); with a held-out side its card also
records the shipped model's own ``holdout`` figures, which ``voxstream eval``
reproduces exactly.
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voxstream.config import GateConfig
from voxstream.engine.params import FeatureParams
from voxstream.inference.card import LABELS
from voxstream.inference.litert import LiteModel
from voxstream.train import plots
from voxstream.train.archs import Arch, get_arch
from voxstream.train.balance import corpus_shares, row_weights
from voxstream.train.datasets import label_indices, scan_folders, speaker_keys
from voxstream.train.live import LIVE, fold_card, live_description, run_live_protocols
from voxstream.train.protocols import PROTOCOLS, mean_over_folds, run_protocols
from voxstream.train.rows import DatasetRows, Windowing, dataset_rows, default_cache_dir
from voxstream.train.sessions import order, simulate, template, with_post
from voxstream.train.splits import Split, available, make_splits
from voxstream.train.variants import CONDITIONS
from voxstream.train.variants import check as check_variant

if TYPE_CHECKING:
    import pandas as pd

_LOGGER = logging.getLogger(__name__)


@dataclass
class Options:
    data: list[str]
    arch: str
    split: str = "all"
    evaluate: list[str] = field(default_factory=list)
    name: str = "voxstream"
    out: str = "models"
    epochs: int | None = None
    seed: int = 0
    window_s: float = 2.0
    hop_s: float = 0.25
    scan: dict = field(default_factory=dict)
    cache_dir: str | None = "default"
    workers: int = 2
    command: str = ""
    variants: tuple[str, ...] | None = None
    """Override of the architecture's training copies (``--variants``)."""
    train_hop: int | None = None
    gate: GateConfig = field(default_factory=GateConfig)
    """The speech gate of the training rows (the ``[gate]`` defaults); the card records it."""
    balance: str = "speakers"
    """Loss weights of the training rows (:mod:`.balance`): ``none``, ``speakers`` or ``speakers+labels``."""
    eval_data: list[str] = field(default_factory=list)
    """Folders whose clips are only ever tested, never trained on (``--eval-data``; e.g. nEMO for
    ``nemo-cross`` when the recipe does not train on it)."""
    save_folds: str | None = None
    """Folder to write every evaluation fold's ``.tflite`` and card into (``--save-folds``), so ``voxstream
    eval`` can score a fold model again (e.g. with another smoother) without retraining."""


@dataclass
class Data:
    table: pd.DataFrame
    y: np.ndarray
    speakers: np.ndarray
    params: FeatureParams
    train_rows: dict[str, DatasetRows]
    """Variant -> rows the architecture trains on (streaming windows, or whole clips)."""
    test_rows: dict[str, DatasetRows]
    """Condition (``orig`` and :data:`.variants.CONDITIONS`) -> streaming-window rows."""
    calm: np.ndarray | None = None
    """Per clip: its corpus word is *calm* (the ``calm-session`` protocol)."""
    mapped: dict = field(default_factory=dict)
    """Corpus -> emotion words that became another label or ``drop`` (:attr:`.datasets.Scan.mapped`)."""
    trainable: np.ndarray | None = None
    """Per clip: from ``--data`` (may be trained on), not from ``--eval-data``; None: all."""


def load(opts: Options, arch: Arch, test_conditions: bool = True) -> Data:
    scan = scan_folders(list(opts.data) + list(opts.eval_data), **opts.scan)
    table = scan.table
    n_eval = len(scan_folders(opts.eval_data, **opts.scan).table) if opts.eval_data else 0
    if table.empty:
        raise ValueError(f"{', '.join(map(str, opts.data))}: no labelled audio files found")
    params = FeatureParams(pooling=arch.pooling, **arch.features)
    cache = default_cache_dir() if opts.cache_dir == "default" else opts.cache_dir
    paths = list(table["path"].astype(str))
    stream = Windowing(opts.window_s, opts.hop_s)

    def rows(variant: str, windowing: Windowing) -> DatasetRows:
        return dataset_rows(paths, params, windowing, variant, opts.gate, opts.seed, cache, opts.workers)

    test = {v: rows(v, stream) for v in (("orig",) + (CONDITIONS if test_conditions else ()))}
    train = {
        v: (test[v] if v in test and not arch.whole_clip else rows(v, Windowing(None) if arch.whole_clip else stream))
        for v in arch.variants
    }
    trainable = np.arange(len(table)) < len(table) - n_eval  # eval-only folders come last
    return Data(
        table,
        label_indices(table["label"]),
        speaker_keys(table).to_numpy(),
        params,
        train,
        test,
        (table["emotion"] == "calm").to_numpy(),
        scan.mapped,
        trainable,
    )


def trainable_side(data: Data, split: Split) -> Split:
    """The split without ``--eval-data`` clips on its training side."""
    if data.trainable is None or data.trainable[split.train].all():
        return split
    keep = data.trainable[split.train]
    corpora = data.table["corpus"].to_numpy()
    gone = sorted(set(corpora[split.train[~keep]]) - set(corpora[split.train[keep]]))
    name = split.name
    for corpus in gone:  # the split named its training corpora " + TESS + NEMO" (splits._others)
        name = name.replace(f" + {corpus.upper()}", "")
    if not keep.any():
        raise ValueError(f"{split.name}: no --data clips left to train on (its training side is only --eval-data)")
    return replace(
        split, name=f"{name} (no {', '.join(gone) or 'eval-only'} clips: --eval-data)", train=split.train[keep]
    )


def training_set(
    data: Data, arch: Arch, train: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, dict, np.ndarray]:
    """Normalised training rows of the clips ``train`` (every variant a set of new speakers), their labels,
    the card's normalisation dict and the clip of each row."""
    norm = template(data.test_rows["orig"], train, arch.normalization)
    xs, ys, clips = [], [], []
    for k, variant in enumerate(arch.variants):
        rows = data.train_rows[variant]
        if arch.whole_clip:
            x, clip = rows.x[rows.rows_of(train)], train
        else:
            x, clip = simulate(rows, order(train, data.speakers, seed + 101 * k), norm)
            x, clip = x[:: arch.train_hop], clip[:: arch.train_hop]
        xs.append(x)
        ys.append(data.y[clip])
        clips.append(clip)
    norm, x = with_post(norm, np.concatenate(xs))
    return x, np.concatenate(ys), norm, np.concatenate(clips)


def validation_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled stratified (fit, val) indices; at least one validation row per class present."""
    rng = np.random.default_rng(seed)
    fit, val = [], []
    for label in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == label))
        n = max(1, int(round(fraction * len(idx)))) if len(idx) > 1 else 0
        val.append(idx[:n])
        fit.append(idx[n:])
    return np.sort(np.concatenate(fit)), np.sort(np.concatenate(val))


def seed_everything(seed: int) -> None:
    """Same seed, same command -> same weights (Python, numpy and TF seeds, deterministic ops)."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()  # layer names restart too: the same bytes in one process as in a new one
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def fit(
    arch: Arch, x: np.ndarray, y: np.ndarray, seed: int, epochs: int | None, weights: np.ndarray | None = None
) -> tuple[Any, dict]:
    """A fresh seeded model of ``arch`` fitted on rows ``x`` (loss ``weights`` per row, default 1); returns
    (model, history per epoch)."""
    import keras

    from voxstream.train.archs import build_model

    seed_everything(seed)
    x = x.reshape((len(x),) + arch.input_shape(x.shape[1:])).astype(np.float32)
    onehot = keras.utils.to_categorical(y, len(LABELS))
    fit_idx, val_idx = validation_split(y, arch.val_fraction, seed) if arch.val_fraction else (np.arange(len(y)), None)
    model = build_model(arch.name, x.shape[1:], len(LABELS))
    val = (x[val_idx], onehot[val_idx]) if val_idx is not None else None
    hist = model.fit(
        x[fit_idx],
        onehot[fit_idx],
        validation_data=val,
        epochs=epochs or arch.epochs,
        sample_weight=None if weights is None else weights[fit_idx],
        batch_size=arch.batch_size,
        shuffle=True,
        verbose=0,
    )
    return model, {k: [round(float(v), 5) for v in vals] for k, vals in hist.history.items()}


def to_tflite(model, arch: Arch) -> bytes:
    from voxstream.train.archs import export_twin
    from voxstream.train.export import convert

    return convert(export_twin(model, arch.name))


def weigh(data: Data, clips: np.ndarray, y: np.ndarray, balance: str) -> np.ndarray | None:
    """Loss weights of training rows from clips ``clips`` (None: all 1)."""
    return None if balance == "none" else row_weights(balance, data.speakers[clips], y)


def evaluate_split(
    data: Data,
    arch: Arch,
    split,
    seed: int,
    epochs: int | None,
    balance: str = "none",
    fitted: dict | None = None,
    opts: Options | None = None,
    save_as: str | None = None,
) -> dict:
    """Fit on the split's training side, convert, and score its test side by every protocol (LiteRT), the
    live ones through the engine with the fold's own card.  ``fitted`` keeps each training side's model:
    splits with the same training side (``--eval-data`` folds) share one fit, which the same seed would
    reproduce anyway.  ``save_as``: write the fold model and its card as ``<opts.save_folds>/<save_as>``."""
    start = time.perf_counter()
    opts = opts or Options(data=[], arch=arch.name)
    key = split.train.tobytes()
    if fitted is None or key not in fitted:
        x, y, norm, clips = training_set(data, arch, split.train, seed)
        model, _ = fit(arch, x, y, seed, epochs, weigh(data, clips, y, balance))
        blob = to_tflite(model, arch)
        entry = (blob, norm, len(x), (1,) + arch.input_shape(x.shape[1:]))
        if fitted is not None:
            fitted[key] = entry
    blob, norm, n_rows, in_shape = fitted[key] if fitted is not None else entry
    lite = LiteModel(blob)
    protocols = run_protocols(
        data.test_rows, norm, lite.predict_rows, split.test, data.y, data.speakers, seed + 7, calm=data.calm
    )
    card = fold_card(data.params, opts.window_s, opts.hop_s, norm, opts.gate, in_shape)
    protocols.update(
        run_live_protocols(
            LIVE,
            card,
            lite.predict,
            list(data.table["path"].astype(str)),
            split.test,
            data.y,
            data.speakers,
            seed + 7,
            data.calm,
        )
    )
    if save_as and opts.save_folds:
        from voxstream.train.export import write_model

        write_model(
            opts.save_folds,
            save_as,
            blob,
            arch.name,
            data.params,
            in_shape,
            {"training": {"split": split.name, "test_speakers": list(split.test_speakers)}},
            window_s=opts.window_s,
            hop_s=opts.hop_s,
            normalization=norm,
            gate=opts.gate,
        )
    _LOGGER.info(
        "%s: live %.4f (during %.4f), stream %.4f, cold %.4f (%.0f s)",
        split.name,
        protocols["live"]["accuracy"],
        protocols["live"]["during_accuracy"],
        protocols["stream"]["accuracy"],
        protocols["cold"]["accuracy"],
        time.perf_counter() - start,
    )
    return {
        "split": split.name,
        "n_train_clips": int(len(split.train)),
        "n_test_clips": int(len(split.test)),
        "n_train_rows": int(n_rows),
        "seconds": round(time.perf_counter() - start, 1),
        "protocols": protocols,
    }


def run_evaluations(data: Data, arch: Arch, opts: Options, artifacts: Path) -> dict:
    out: dict[str, dict] = {}
    fitted: dict = {}
    for spec, splits in available(data.table, opts.evaluate, opts.seed).items():
        results = [
            evaluate_split(
                data,
                arch,
                trainable_side(data, s),
                opts.seed,
                opts.epochs,
                opts.balance,
                fitted,
                opts,
                f"{spec.replace('=', '')}_fold{i + 1}",
            )
            for i, s in enumerate(splits)
        ]
        out[spec] = {"splits": results}
        if len(results) > 1:
            out[spec]["mean"] = mean_over_folds([r["protocols"] for r in results])
        for i, r in enumerate(results):
            plots.confusion(
                r["protocols"]["stream"],
                artifacts / f"confusion_{spec}{f'_fold{i + 1}' if len(results) > 1 else ''}.png",
                r["split"],
            )
    return out


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "keras", "numpy", "ai-edge-litert", "soundfile", "soxr", "audiomentations"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def train(opts: Options) -> Path:
    """Evaluate on the chosen splits, fit the shipped model, and write ``<out>/<name>.tflite`` + card."""
    from voxstream.train.export import write_model

    start = time.perf_counter()
    arch = get_arch(opts.arch)
    for key in ("variants", "train_hop"):
        if getattr(opts, key) is not None:
            arch = replace(arch, **{key: getattr(opts, key)})
    for v in arch.variants:
        check_variant(v)
    data = load(opts, arch)
    artifacts = Path(opts.out) / f"{opts.name}_artifacts"
    evaluations = run_evaluations(data, arch, opts, artifacts)
    shipped = make_splits(data.table, opts.split, opts.seed)
    if len(shipped) != 1:
        raise ValueError(
            f"--split {opts.split}: names {len(shipped)} folds; the shipped model needs one (e.g. {opts.split}:1)"
        )
    side = trainable_side(data, shipped[0])
    x, y, norm, clips = training_set(data, arch, side.train, opts.seed)
    weights = weigh(data, clips, y, opts.balance)
    model, history = fit(arch, x, y, opts.seed, opts.epochs, weights)
    blob = to_tflite(model, arch)
    lite = LiteModel(blob)
    predict = lite.predict_rows
    rng = np.random.default_rng(opts.seed)
    check = x[rng.choice(len(x), min(500, len(x)), replace=False)]
    keras_p = model.predict(check.reshape((len(check),) + arch.input_shape(check.shape[1:])), verbose=0)
    lite_p = predict(check)
    holdout = None
    if len(side.test):
        holdout = run_protocols(
            data.test_rows, norm, predict, side.test, data.y, data.speakers, opts.seed + 7, calm=data.calm
        )
        holdout.update(
            run_live_protocols(
                LIVE,
                fold_card(
                    data.params, opts.window_s, opts.hop_s, norm, opts.gate, (1,) + arch.input_shape(x.shape[1:])
                ),
                lite.predict,
                list(data.table["path"].astype(str)),
                side.test,
                data.y,
                data.speakers,
                opts.seed + 7,
                data.calm,
            )
        )
    plots.training_curves(history, artifacts / "curves.png", f"{opts.name}: {arch.name}")
    extra = {
        "description": arch.description,
        "training": {
            "arch": arch.name,
            "data": [str(Path(d)) for d in opts.data],
            "eval_data": [str(Path(d)) for d in opts.eval_data],
            "split": opts.split,
            "trained_on": side.name,
            "n_clips": int(len(side.train)),
            "n_rows": int(len(x)),
            "variants": list(arch.variants),
            "train_hop": arch.train_hop,
            "normalization_recipe": arch.normalization,
            "epochs": len(history.get("loss", [])),
            "batch_size": arch.batch_size,
            "seed": opts.seed,
            "history": history,
            "label_counts": {lab: int((data.y[side.train] == i).sum()) for i, lab in enumerate(LABELS)},
            "label_map": data.mapped,
            "balance": opts.balance,
            "corpora": corpus_shares(
                data.table["corpus"].to_numpy(),
                data.speakers,
                side.train,
                clips,
                np.ones(len(y), np.float32) if weights is None else weights,
            ),
        },
        "evaluation_protocol": {
            "clip_score": "voxstream.offline.clips: mean probability of the clip's speech "
            "windows (all windows if none), through the card's normaliser",
            "protocols": list(PROTOCOLS) + list(LIVE),
            "live": live_description(),
            "predictions": "LiteRT, the converted model of each split's own training side",
        },
        "evaluations": evaluations,
        "holdout": holdout
        and {"split": opts.split, "name": side.name, "n_test_clips": int(len(side.test)), "protocols": holdout},
        "tflite_check": {
            "bytes": len(blob),
            "latency_us_median": lite.latency_us(check[0]),
            "max_abs_diff_vs_keras": float(np.abs(lite_p - keras_p).max()),
            "argmax_agreement_vs_keras": float((lite_p.argmax(1) == keras_p.argmax(1)).mean()),
            "n_compared": int(len(check)),
            "machine": platform.machine(),
        },
        "reproduce": {
            "command": opts.command,
            "wall_seconds": round(time.perf_counter() - start, 1),
            "deterministic": "same command, data and versions -> the same .tflite bytes",
        },
        "artifacts": artifacts.name,
        "versions": versions(),
    }
    in_shape = (1,) + arch.input_shape(x.shape[1:])
    return write_model(
        opts.out,
        opts.name,
        blob,
        arch.name,
        data.params,
        in_shape,
        extra,
        window_s=opts.window_s,
        hop_s=opts.hop_s,
        normalization=norm,
        gate=opts.gate,
    )
