"""Issue 10 trial: MLP on the shipped 128 features vs MLP / LSTM on the level-free ``seq`` features.

Run (from the repository root; features are cached under ~/.cache/voxstream/experiments)::

    .venv/bin/python -m experiments.lstm_trial --data /work/shared/data/tess --data /work/shared/data/ravdess \\
        --configs mlp_old mlp_old+aug mlp_seq mlp_seq+aug lstm_seq lstm_seq+aug --out experiments/results/trial.json

Protocol (choices on inner folds only): RAVDESS actors 01-16 in 4 groups; outer fold ``--outer``
(1 = actors 01-04) is never loaded into any fit or score.  Inner folds: leave one of the other three
groups out; training = the other two groups (minus one validation actor for EarlyStopping) + all
of TESS (+ augmented copies with ``+aug``).  A clip's score is the mean probability of its speech
windows (all windows if none passes); each test speaker is streamed as one session through the
card's normaliser (``stream``), or every file alone (``cold``); ``gain-20``, ``gain+20``
(peak-normalised) and ``noise20`` (pink, 20 dB SNR) stream the same clips altered; ``calm`` streams
per speaker the neutral/calm clips plus one clip of each other emotion; ``cold_gain-20`` and
``cold_gain+20`` score every altered file alone (what ``classify`` does).

Speech flags: ``*_old`` uses the runtime's fixed -45 dBFS gate (as shipped); ``*_seq`` a level-free
flag (mean voiced fraction of the window's steps >= 0.15) standing in for the adaptive gate.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from voxstream.stream.card import LABELS
from voxstream.stream.normalize import Normalizer
from voxstream.train.datasets import scan_folders

from . import trial_data as T

_LOGGER = logging.getLogger("lstm_trial")
GROUPS = (("01", "02", "03", "04"), ("05", "06", "07", "08"), ("09", "10", "11", "12"), ("13", "14", "15", "16"))
CONDITIONS = ("stream", "cold", "calm", "gain-20", "gain+20", "noise20", "cold_gain-20", "cold_gain+20")
STOP_FROM_EPOCH = 6
"""EarlyStopping watches the validation actor only from this epoch (one actor's loss is noisy early on)."""


@dataclass(frozen=True)
class Config:
    name: str
    model: str  # "mlp" or "lstm"
    features: str  # "old" or "seq"
    aug: int = 0
    """Augmented ("mix") copies of every training clip."""
    baseline: str = "mean"
    center: str = "none"
    units: int = 64
    pooled_branch: bool = True
    epochs: int = 15
    prior_windows: float = 40.0
    early_stop: bool = True
    """EarlyStopping on the validation actor (else: fixed epochs, the validation actor still left out)."""
    every: int = 2
    """Training takes every ``every``-th 0.25 s window of the original clips (2: a 0.5 s hop)."""


def configs() -> dict[str, Config]:
    out = {}
    for model, feats in (("mlp", "old"), ("mlp", "seq"), ("lstm", "seq")):
        for aug in (0, 2):
            name = f"{model}_{feats}" + ("+aug" if aug else "")
            out[name] = Config(name, model, feats, aug)
    out["mlp_old_fixed20_all"] = Config("mlp_old_fixed20_all", "mlp", "old", epochs=20, early_stop=False, every=1)
    out["mlp_old_fixed20"] = Config("mlp_old_fixed20", "mlp", "old", epochs=20, early_stop=False)
    out["mlp_seq_fixed20"] = Config("mlp_seq_fixed20", "mlp", "seq", epochs=20, early_stop=False)
    out["lstm_seq_fixed20"] = Config("lstm_seq_fixed20", "lstm", "seq", epochs=20, early_stop=False)
    base = out["lstm_seq+aug"]
    for extra in (replace(base, name="lstm_seq+aug+median", baseline="median"),
                  replace(base, name="lstm48_seq+aug", units=48),
                  replace(base, name="lstm_seq+aug+prior10", prior_windows=10.0),
                  replace(base, name="lstm48_seq+aug+median", units=48, baseline="median"),
                  replace(base, name="lstm_seq+aug+cmn", center="window"),
                  replace(base, name="lstm96_seq+aug", units=96),
                  replace(base, name="lstm_seq+aug+nobranch", pooled_branch=False),
                  replace(out["mlp_seq+aug"], name="mlp_seq+aug+median", baseline="median")):
        out[extra.name] = extra
    return out


@dataclass
class Corpus:
    paths: list[str]
    y: np.ndarray
    speaker: np.ndarray
    corpus: np.ndarray
    rows: dict  # variant -> trial_data.Rows


def load(folders: list[str], aug: int) -> Corpus:
    table = scan_folders(folders).table
    paths = list(table["path"].astype(str))
    corpus = table["corpus"].to_numpy()
    allc, rav = np.arange(len(paths)), np.flatnonzero(corpus == "ravdess")
    rows = {"orig": T.compute(paths, allc, "orig", 0.25)}
    for v in ("gain-20", "gain+20", "noise20"):
        rows[v] = T.compute(paths, rav, v, 0.25)
    for k in range(aug):
        rows[f"aug{k}"] = T.compute(paths, allc, f"aug{k}", 0.5)
    y = np.array([LABELS.index(lab) for lab in table["label"]])
    return Corpus(paths, y, table["speaker"].astype(str).to_numpy(), corpus, rows)


def feats(rows: T.Rows, cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    return (rows.old, rows.gate) if cfg.features == "old" else (rows.seq, rows.rel_gate)


def norm_template(data: Corpus, train: np.ndarray, cfg: Config) -> dict:
    rows = data.rows["orig"]
    x, speech = feats(rows, cfg)
    idx = rows.index()
    sel = np.concatenate([np.arange(idx[c].start, idx[c].stop) for c in train])
    cols = (0, T.SEQ.n_mfcc - 1) if cfg.center == "window" else None  # the MFCC c1.. means only
    v = Normalizer(kind="none", center=cfg.center, center_columns=cols).centred(x[sel][speech[sel]])
    v = v.reshape(-1, v.shape[-1]).astype(np.float64)
    return Normalizer("session", v.mean(axis=0), v.std(axis=0), prior_windows=cfg.prior_windows,
                      baseline=cfg.baseline, center=cfg.center, center_columns=cols).to_dict()


def sessions(data: Corpus, variant: str, clips: np.ndarray, template: dict, cfg: Config, seed: int,
             cold: bool = False, every: int = 1):
    """Normalised rows of ``clips`` streamed per speaker (or per file): (x, clip per row, speech per row)."""
    rows = data.rows[variant]
    x_all, s_all = feats(rows, cfg)
    idx = rows.index()
    rng = np.random.default_rng(seed)
    if cold:
        groups = [[c] for c in clips]
    else:
        groups = [rng.permutation(clips[data.speaker[clips] == s]) for s in sorted(set(data.speaker[clips]))]
    xs, cs, ss = [], [], []
    for order in groups:
        sel = np.concatenate([np.arange(idx[c].start, idx[c].stop) for c in order])
        within = np.concatenate([np.arange(idx[c].stop - idx[c].start) for c in order])
        clip_of = np.concatenate([np.full(idx[c].stop - idx[c].start, c) for c in order])
        out = Normalizer.from_dict(template).run(x_all[sel], s_all[sel])
        keep = within % every == 0
        xs.append(out[keep]), cs.append(clip_of[keep]), ss.append(s_all[sel][keep])
    return np.concatenate(xs), np.concatenate(cs), np.concatenate(ss)


def model_input(x: np.ndarray, cfg: Config) -> np.ndarray:
    if cfg.features == "seq" and cfg.model == "mlp":  # the MLP's view: mean and std over the steps
        return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)
    return x


def build(cfg: Config, shape: tuple[int, ...]):
    import keras
    from keras import layers

    if cfg.model == "lstm":
        from voxstream.train.arch_lstm import LstmConfig, build as build_lstm

        return build_lstm(shape, len(LABELS), None, LstmConfig(units=cfg.units, pooled_branch=cfg.pooled_branch))
    inputs = keras.Input(shape=shape)  # session_mlp's graph (train/models.py), rebuilt here
    h = layers.GaussianNoise(0.1)(inputs)
    for units in (256, 128):
        h = layers.Dense(units, activation="relu", kernel_regularizer=keras.regularizers.l2(1e-4))(h)
        h = layers.Dropout(0.4)(h)
    model = keras.Model(inputs, layers.Dense(len(LABELS), activation="softmax")(h))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def training_set(data: Corpus, train: np.ndarray, template: dict, cfg: Config, seed: int):
    parts = [sessions(data, "orig", train, template, cfg, seed, every=cfg.every)]
    for k in range(cfg.aug):
        parts.append(sessions(data, f"aug{k}", train, template, cfg, seed + 101 * (k + 1)))
    x = np.concatenate([p[0] for p in parts])
    return x, data.y[np.concatenate([p[1] for p in parts])]


def clip_scores(probs: np.ndarray, clip_of: np.ndarray, speech: np.ndarray, clips: np.ndarray):
    out, unlabelled = np.zeros((len(clips), len(LABELS))), 0
    for i, c in enumerate(clips):
        mine = clip_of == c
        use = mine & speech
        unlabelled += int(not use.any())
        out[i] = probs[use if use.any() else mine].mean(axis=0)
    return out, unlabelled


def calm_clips(data: Corpus, test: np.ndarray, seed: int) -> np.ndarray:
    """Per test speaker: every neutral (incl. calm) clip plus one clip of each other emotion."""
    rng, neutral, out = np.random.default_rng(seed), LABELS.index("neutral"), []
    for s in sorted(set(data.speaker[test])):
        mine = test[data.speaker[test] == s]
        out += list(mine[data.y[mine] == neutral])
        out += [int(rng.choice(mine[data.y[mine] == k])) for k in range(len(LABELS)) if k != neutral]
    return np.array(sorted(out))


def fit_and_score(data: Corpus, train: np.ndarray, val: np.ndarray, test: np.ndarray, cfg: Config,
                  seed: int) -> dict:
    import keras

    start = time.perf_counter()
    template = norm_template(data, train, cfg)
    x, y = training_set(data, train, template, cfg, seed)
    x = model_input(x, cfg)
    axes = tuple(range(x.ndim - 1))
    mu, sd = x.mean(axis=axes), np.maximum(x.std(axis=axes), 1e-3)
    post = lambda v: ((model_input(v, cfg) - mu) / sd).astype(np.float32)  # noqa: E731
    xv, cv, _ = sessions(data, "orig", val, template, cfg, seed + 3)
    keras.utils.set_random_seed(seed)
    model = build(cfg, x.shape[1:])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=4, start_from_epoch=STOP_FROM_EPOCH,
                                         restore_best_weights=True)
    hist = model.fit(((x - mu) / sd).astype(np.float32), keras.utils.to_categorical(y, len(LABELS)),
                     validation_data=(post(xv), keras.utils.to_categorical(data.y[cv], len(LABELS))),
                     epochs=cfg.epochs, batch_size=256, shuffle=True, verbose=0,
                     callbacks=[stop] if cfg.early_stop else [])
    train_s = time.perf_counter() - start
    result = {"n_train_windows": int(len(x)), "epochs_run": len(hist.history["loss"]),
              "best_epoch": int(np.argmin(hist.history["val_loss"])) + 1, "train_seconds": round(train_s, 1)}
    predict = lambda v: model.predict(post(v), batch_size=1024, verbose=0)  # noqa: E731
    for cond in CONDITIONS:
        variant = cond.removeprefix("cold_") if cond.startswith(("gain", "noise", "cold_")) else "orig"
        clips = calm_clips(data, test, seed) if cond == "calm" else test
        xt, ct, st = sessions(data, variant, clips, template, cfg, seed + 7, cold=cond.startswith("cold"))
        scores, unlabelled = clip_scores(predict(xt), ct, st, clips)
        pred = scores.argmax(axis=1)
        result[cond] = round(float((pred == data.y[clips]).mean()), 4)
        result[f"{cond}_unlabelled"] = unlabelled
        if cond == "calm":
            neutral = data.y[clips] == LABELS.index("neutral")
            result["calm_neutral_recall"] = round(float((pred[neutral] == data.y[clips][neutral]).mean()), 4)
    _LOGGER.info("%s: %s", cfg.name, result)
    return result


def inner_folds(data: Corpus, outer: int):
    rav = data.corpus == "ravdess"
    tess = np.flatnonzero(data.corpus == "tess")
    inner = [g for i, g in enumerate(GROUPS) if i != outer - 1]
    for held in inner:
        train_groups = [a for g in inner if g != held for a in g]
        val_actor = train_groups[0]
        train = np.concatenate([np.flatnonzero(rav & np.isin(data.speaker, train_groups[1:])), tess])
        val = np.flatnonzero(rav & (data.speaker == val_actor))
        test = np.flatnonzero(rav & np.isin(data.speaker, held))
        yield f"{held[0]}-{held[-1]}", train, val, test


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--configs", nargs="+", default=["mlp_old", "mlp_seq", "lstm_seq", "mlp_old+aug",
                                                      "mlp_seq+aug", "lstm_seq+aug"])
    ap.add_argument("--outer", type=int, default=1, help="outer fold never looked at (1 = actors 01-04)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fixed-epochs", type=int, default=0, help="train every config this many epochs, no EarlyStopping")
    ap.add_argument("--aug-copies", type=int, default=None, help="override the augmented copies of +aug configs")
    ap.add_argument("--out", default="experiments/results/trial.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    known = configs()
    chosen = [known[c] for c in args.configs]
    if args.fixed_epochs:
        chosen = [replace(c, epochs=args.fixed_epochs, early_stop=False) for c in chosen]
    if args.aug_copies is not None:
        chosen = [replace(c, aug=args.aug_copies) if c.aug else c for c in chosen]
    data = load(args.data, max(c.aug for c in chosen))
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.is_file() else {}
    for cfg in chosen:
        folds = {name: fit_and_score(data, tr, va, te, cfg, args.seed) for name, tr, va, te in
                 inner_folds(data, args.outer)}
        keys = [k for k in next(iter(folds.values())) if isinstance(next(iter(folds.values()))[k], (int, float))]
        mean = {k: round(float(np.mean([f[k] for f in folds.values()])), 4) for k in keys}
        results[label(cfg, args.seed)] = {"config": cfg.__dict__, "outer": args.outer, "seed": args.seed,
                                          "folds": folds, "mean": mean}
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(results, indent=1))
        print(table_line(label(cfg, args.seed), mean), flush=True)


def label(cfg: Config, seed: int) -> str:
    """Result name: config, ``@Nep`` for fixed epochs, ``#seedN`` for a seed other than 0."""
    return cfg.name + (f"@{cfg.epochs}ep" if not cfg.early_stop else "") + (f"#seed{seed}" if seed else "")


def table_line(name: str, m: dict) -> str:
    cols = ["stream", "cold", "calm", "calm_neutral_recall", "gain-20", "gain+20", "noise20", "train_seconds"]
    return f"| {name} | " + " | ".join(f"{100 * m[c]:.1f}" if c != "train_seconds" else f"{m[c]:.0f}" for c in cols) + " |"


if __name__ == "__main__":
    main()
