"""The training recipe: data -> features -> splits -> fits -> metrics -> .tflite + card.

``--split`` decides what the written model is trained on: ``random`` and
``speaker`` ship the model of the training side (its card holds the held-out
metrics), ``lso`` reports k folds and then ships a model fitted on all data,
``all`` fits on all data.  Extra evaluations (``--evaluate tess/random``,
``tess/speaker=OAF``, ``ravdess/lso=4``) each train a fresh model on their
own training side only and are recorded in the card too.
"""

from __future__ import annotations

import logging
import platform
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from voxstream.stream.card import LABELS
from voxstream.stream.features import FeatureParams

from . import plots
from .datasets import scan_folders
from .export import CHOICE_RULE, choose_variant, compare_variants, write_model
from .featurize import Windowing, featurize
from .fit import Split, fit, label_indices, make_splits, predict
from .metrics import classification_metrics, mean_of
from .models import get_arch

_LOGGER = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    data: list[str]
    arch: str = "seed"
    split: str = "random"
    test_speakers: list[str] = field(default_factory=list)
    folds: int = 4
    name: str = "voxstream"
    out: str = "models"
    epochs: int | None = None
    seed: int = 0
    evaluations: list[str] = field(default_factory=list)
    scheme: str = "auto"
    pattern: str | None = None
    label_map: dict[str, str] | None = None
    cache_dir: str | None = "default"
    workers: int = 2
    window_s: float = 2.0
    hop_s: float = 0.25
    variant: str = "auto"
    command: str = ""


@dataclass
class Dataset:
    table: object  # pandas.DataFrame, failed clips removed
    x: np.ndarray  # (n, dim) pooled vectors
    y: np.ndarray  # class indices into LABELS
    skipped: list


def load_dataset(folders: list[str], params: FeatureParams, scheme: str = "auto", pattern: str | None = None,
                 label_map: dict | None = None, cache_dir: str | None = "default", workers: int = 2) -> Dataset:
    """Scan folders and compute whole-clip features; undecodable clips are dropped and listed."""
    scan = scan_folders(folders, scheme=scheme, pattern=pattern, label_map=label_map)
    if scan.table.empty:
        raise ValueError(f"{', '.join(map(str, folders))}: no labelled audio files found")
    feats = featurize(list(scan.table["path"]), params, Windowing(None), cache_dir=cache_dir, workers=workers)
    table = scan.table[feats.ok].reset_index(drop=True)
    skipped = scan.skipped + [(p, f"undecodable: {e}") for p, e in feats.errors]
    return Dataset(table, feats.clip_matrix(), label_indices(table["label"]), skipped)


def _subset(ds: Dataset, rows: np.ndarray) -> Dataset:
    return Dataset(ds.table.iloc[rows].reset_index(drop=True), ds.x[rows], ds.y[rows], [])


def evaluate_split(ds: Dataset, split: Split, arch: str, seed: int, epochs: int | None) -> dict:
    """Fit on the training side of ``split`` and score the test side (Keras)."""
    result = fit(arch, ds.x[split.train], ds.y[split.train], seed=seed, epochs=epochs)
    probs = predict(result.model, ds.x[split.test], arch)
    metrics = classification_metrics(ds.y[split.test], probs.argmax(1), LABELS)
    _LOGGER.info("%s: accuracy %.4f, macro F1 %.4f", split.name, metrics["accuracy"], metrics["macro_f1"])
    return {"split": split.name, "n_train": int(len(split.train)), "n_test": int(len(split.test)),
            "fit_seconds": round(result.seconds, 1), "metrics": metrics, "_fit": result}


def parse_evaluation(spec: str) -> tuple[str | None, str, list[str], int]:
    """``corpus/kind`` -> (corpus or None for all, split kind, test speakers, folds)."""
    m = re.fullmatch(r"(?P<corpus>[\w-]+)/(?P<kind>random|all|speaker=(?P<spk>[\w:+-]+)|lso=(?P<k>\d+))", spec)
    if not m:
        raise ValueError(f"--evaluate {spec!r}: expected CORPUS/random, CORPUS/speaker=S[+S2], CORPUS/lso=K "
                         f"(CORPUS a corpus name or 'all')")
    corpus = None if m["corpus"] == "all" else m["corpus"]
    kind = m["kind"].split("=")[0]
    return corpus, kind, (m["spk"] or "").split("+") if m["spk"] else [], int(m["k"] or 4)


def run_evaluation(ds: Dataset, spec: str, arch: str, seed: int, epochs: int | None, artifacts: Path) -> dict:
    """One ``--evaluate`` spec: per-split (per-fold) metrics and their mean, plus confusion PNGs."""
    corpus, kind, speakers, folds = parse_evaluation(spec)
    rows = np.flatnonzero(ds.table["corpus"] == corpus) if corpus else np.arange(len(ds.table))
    if len(rows) == 0:
        raise ValueError(f"--evaluate {spec}: no clips of corpus {corpus!r} in the data")
    sub = _subset(ds, rows)
    results = [evaluate_split(sub, s, arch, seed, epochs) for s in make_splits(sub.table, kind, speakers, folds, seed)]
    slug = re.sub(r"[^\w]+", "_", spec).strip("_")
    for i, r in enumerate(results):
        r.pop("_fit")
        plots.confusion(r["metrics"], artifacts / f"confusion_{slug}{f'_fold{i + 1}' if len(results) > 1 else ''}.png",
                        f"{spec}: {r['split']}")
    entry = {"spec": spec, "corpus": corpus or "all", "splits": results}
    if len(results) > 1:
        entry["mean"] = mean_of([r["metrics"] for r in results])
    return entry


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("tensorflow-cpu", "keras", "numpy", "librosa", "scikit-learn", "ai-edge-litert", "soundfile", "soxr"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def train(opts: TrainOptions) -> Path:
    """Run the whole recipe and write ``<out>/<name>.tflite`` + card; returns the model path."""
    from .models import export_twin

    arch = get_arch(opts.arch)
    params = FeatureParams(pooling=arch.pooling)
    ds = load_dataset(opts.data, params, opts.scheme, opts.pattern, opts.label_map, opts.cache_dir, opts.workers)
    artifacts = Path(opts.out) / f"{opts.name}_artifacts"
    splits = make_splits(ds.table, opts.split, opts.test_speakers, opts.folds, opts.seed)
    own = [] if opts.split == "all" else [evaluate_split(ds, s, opts.arch, opts.seed, opts.epochs) for s in splits]
    shipped = own[0]["_fit"] if opts.split in ("random", "speaker") else None
    train_rows = splits[0].train if shipped else np.arange(len(ds.table))
    holdout = splits[0].test if shipped else None
    for r in own:
        r.pop("_fit")
    if shipped is None:
        shipped = fit(opts.arch, ds.x, ds.y, seed=opts.seed, epochs=opts.epochs)
    if holdout is None:  # the validation slice: not trained on, only watched
        holdout = train_rows[shipped.val_index]
    evaluations = [run_evaluation(ds, spec, opts.arch, opts.seed, opts.epochs, artifacts) for spec in opts.evaluations]

    twin = export_twin(shipped.model, opts.arch)
    shape = arch.input_shape(ds.x.shape[1])
    xs = ds.x.reshape((len(ds.x),) + shape)
    rng = np.random.default_rng(opts.seed)
    representative = xs[rng.choice(train_rows, size=min(200, len(train_rows)), replace=False)]
    stats, blobs = compare_variants(twin, xs[holdout], ds.y[holdout], representative)
    chosen = choose_variant(stats, opts.variant)
    extra = _card_extra(opts, ds, splits, own, evaluations, shipped, stats, chosen, artifacts)
    plots.training_curves(shipped.history, artifacts / "curves.png", f"{opts.name}: {opts.arch}")
    for i, r in enumerate(own):
        plots.confusion(r["metrics"], artifacts / f"confusion_{opts.split}_{i + 1}.png", r["split"])
    return write_model(opts.out, opts.name, blobs[chosen], opts.arch, params, (1,) + shape, extra,
                       opts.window_s, opts.hop_s)


def _card_extra(opts, ds, splits, own, evaluations, shipped, stats, chosen, artifacts) -> dict:
    arch = get_arch(opts.arch)
    table = ds.table
    return {
        "description": arch.description,
        "training": {
            "data": [str(Path(d).resolve()) for d in opts.data],
            "clips": int(len(table)),
            "clips_per_corpus_and_label": {c: g.groupby("label").size().to_dict() for c, g in table.groupby("corpus")},
            "skipped_files": len(ds.skipped),
            "features": "one vector per clip: mean of the MFCC frames of the whole clip (voxstream.stream.features)",
            "split": opts.split if opts.split != "lso" else f"lso {opts.folds} folds, then fitted on all data",
            "shipped_model_trained_on": "training side of the split" if opts.split in ("random", "speaker") else "all data",
            "validation": "10% shuffled stratified slice of the training side (watched only, not used to select)",
            "epochs": len(shipped.history.get("loss", [])),
            "batch_size": arch.batch_size,
            "seed": opts.seed,
            "fit_seconds": round(shipped.seconds, 1),
            "history": shipped.history,
            "label_mapping": "RAVDESS calm->neutral, fearful->fear, surprised->ps; EmoDB boredom dropped",
        },
        "metrics": {"split": own, **({"split_mean": mean_of([r["metrics"] for r in own])} if len(own) > 1 else {}),
                    "evaluations": evaluations,
                    "note": "Keras predictions of models trained on each training side only"},
        "conversion": {"ops": "TFLITE_BUILTINS only", "variants": stats, "shipped_variant": chosen,
                       "rule": CHOICE_RULE if opts.variant == "auto" else f"chosen by --variant {opts.variant}",
                       "latency": f"LiteRT, 1 thread, batch 1, median of 300 calls on {platform.machine()}"},
        "artifacts": artifacts.name,
        "versions": versions(),
        "command": opts.command,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
