"""Choose the smoother on inner folds: replay the live protocols' sessions through smoother settings.

Usage (fold models from ``voxstream train ... --evaluate lao-inner=N --save-folds DIR``)::

    .venv/bin/python scripts/live_tune.py --folds DIR --spec lao-inner=1 --data ../shared/data/tess \\
        --data ../shared/data/ravdess [--churn-audio churn.wav] [--grid default|wide] > tune.json

For each fold model of ``--spec`` the live sessions (``live``, ``live-episodes``, ``live-calm`` and
``live-zeros``, the code and seeds of :mod:`voxstream.train.live`) go once through the engine; each
hop's speech verdict and model scores are recorded, and every smoother setting of the grid is replayed
over them (the smoother is the engine's last stage and does not feed back, so a replay shows exactly
the labels the engine would show with that setting).  With ``--churn-audio`` (the WAV ``bench/churn.py
--keep DIR`` writes) each fold model also streams that audio and the label changes per minute are
counted for every setting.  Prints one JSON object: per setting, the mean over the folds of each figure.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from voxstream.audio.files import load_audio
from voxstream.config import Config, SmootherConfig
from voxstream.engine.smoother import Smoother
from voxstream.inference.card import LABELS
from voxstream.inference.litert import Classifier
from voxstream.train.datasets import label_indices, scan_folders, speaker_keys
from voxstream.train.live import Session, joined_sessions, live_config, outcomes, session_events, summarise
from voxstream.train.protocols import calm_sessions
from voxstream.train.sessions import order
from voxstream.train.splits import make_splits

PROTOCOLS = ("live", "live-episodes", "live-calm", "live-zeros")
GRIDS = {
    "one": {"alpha": [SmootherConfig().alpha]},
    "before": {"alpha": [0.35], "margin": [0.1], "dwell_s": [0.5], "fast_margin": [1.0], "uncertain_s": [1.0]},
    "default": {
        "alpha": [0.35, 0.5, 0.7],
        "dwell_s": [0.25, 0.5],
        "fast_margin": [1.0, 0.5, 0.3],
        "silence_s": [1.0, 1.5],
    },
    "steady": {
        "alpha": [0.5, 0.7, 1.0],
        "margin": [0.1, 0.2, 0.3],
        "dwell_s": [0.5, 1.0, 2.0],
        "fast_margin": [0.3, 0.4, 0.5, 0.6],
        "uncertain_s": [1.0, 3.0],
    },
    "wide": {
        "alpha": [0.2, 0.35, 0.5, 0.7, 1.0],
        "dwell_s": [0.0, 0.25, 0.5, 1.0],
        "fast_margin": [1.0, 0.6, 0.4, 0.25],
        "silence_s": [0.75, 1.0, 1.5],
        "margin": [0.05, 0.1, 0.2],
    },
}


@dataclass
class Hop:
    t: float
    probs: np.ndarray | None


@dataclass
class Shown:
    stream_time_s: float
    label: str


@dataclass
class Recorded:
    """One session as the engine heard it."""

    hops: list[Hop]
    session: Session
    truth: list[str]
    new: list[bool]
    calm: list[bool]


def record(clf: Classifier, samples: np.ndarray, cfg: Config, norm: dict | None = None) -> list[Hop]:
    scores: list[np.ndarray] = []

    def predict(x: np.ndarray) -> np.ndarray:
        p = clf.predict(x)
        scores.append(p)
        return p

    card = replace(clf.card, normalization={**clf.card.normalization, **norm}) if norm else clf.card
    events = session_events(card, predict, samples, cfg)
    it = iter(scores)
    return [Hop(e.stream_time_s, next(it) if e.speech else None) for e in events]


def replay(hops: list[Hop], setting: SmootherConfig) -> list[Shown]:
    sm = Smoother.from_config(LABELS, setting)
    return [Shown(h.t, sm.push(h.probs, h.t).label) for h in hops]


def sessions_of(
    protocol: str, clf: Classifier, table, test: np.ndarray, seed: int, cfg: Config, norm: dict | None = None
) -> list[Recorded]:
    y = label_indices(table["label"])
    speakers = speaker_keys(table).to_numpy()
    calm = (table["emotion"] == "calm").to_numpy()
    paths = list(table["path"].astype(str))
    rate = clf.card.features.sample_rate
    groups = (
        calm_sessions(test, y, speakers, seed, calm)
        if protocol.startswith("live-calm")
        else order(test, speakers, seed)
    )
    out = []
    for session in joined_sessions(protocol, groups, y, seed, lambda c: load_audio(paths[c], rate), rate):
        ordered = session.clips
        out.append(
            Recorded(
                record(clf, session.samples, cfg, norm),
                session,
                [LABELS[int(y[c])] for c in ordered],
                [i == 0 or y[ordered[i]] != y[ordered[i - 1]] for i in range(len(ordered))],
                [bool(calm[c]) for c in ordered],
            )
        )
    return out


def figures(recorded: list[Recorded], setting: SmootherConfig, rate: int) -> dict:
    shown, truth, new, calm = [], [], [], []
    for r in recorded:
        shown += outcomes(r.session, replay(r.hops, setting), r.truth, rate)  # type: ignore[arg-type]  # Shown has the two fields outcomes reads
        truth += r.truth
        new += r.new
        calm += r.calm
    m = summarise(np.array([LABELS.index(t) for t in truth]), shown, np.array(new))
    out = {
        k: m[k] for k in ("accuracy", "uar", "during_accuracy", "latency_median_s", "latency_p90_s", "arousal_accuracy")
    }
    ends = [o.end for o, c in zip(shown, calm) if c]
    neutral = [o.end for o, t in zip(shown, truth) if t == "neutral"]
    out["neutral_recall"] = round(neutral.count("neutral") / len(neutral), 4) if neutral else None
    out["calm_as_sad"] = round(ends.count("sad") / len(ends), 4) if ends else None
    return out


def churn(hops: list[Hop], setting: SmootherConfig) -> float:
    labels = [s.label for s in replay(hops, setting)]
    changes = sum(a != b for a, b in zip(labels, labels[1:]))
    return changes / (hops[-1].t / 60.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--folds", type=Path, required=True)
    ap.add_argument("--spec", required=True, help="the split whose fold models to use, e.g. lao-inner=1")
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--seed", type=int, default=0, help="the training seed (the live protocols use seed + 7)")
    ap.add_argument("--churn-audio", type=Path)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="default")
    ap.add_argument(
        "--norm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a key of the fold cards' normalization (e.g. memory_windows=1920): the runtime "
        "baseline differs from the one the model was trained with; for a first look only",
    )
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    args = ap.parse_args(argv)
    norm = {k: json.loads(v) if v[:1].isdigit() else v for k, v in (kv.split("=", 1) for kv in args.norm)}
    protocols = tuple(args.protocols.split(","))
    table = scan_folders(args.data).table
    splits = make_splits(table, args.spec, args.seed)
    cfg = live_config()
    grid = GRIDS[args.grid]
    settings = [replace(SmootherConfig(), **dict(zip(grid, values))) for values in itertools.product(*grid.values())]
    settings = [s for s in settings if s.margin <= s.fast_margin]
    per_fold: list[dict] = []
    for i, split in enumerate(splits):
        model = args.folds / f"{args.spec.replace('=', '')}_fold{i + 1}.tflite"
        clf = Classifier.load(model)
        rate = clf.card.features.sample_rate
        recorded = {p: sessions_of(p, clf, table, split.test, args.seed + 7, cfg, norm) for p in protocols}
        churn_hops = record(clf, load_audio(args.churn_audio, rate), cfg, norm) if args.churn_audio else None
        fold = {}
        for k, s in enumerate(settings):
            row = {p: figures(recorded[p], s, rate) for p in protocols}
            if churn_hops:
                row["churn_per_min"] = round(churn(churn_hops, s), 2)
            fold[k] = row
        per_fold.append(fold)
        print(f"fold {i + 1}: {split.name}", file=sys.stderr)
    out = []
    for k, s in enumerate(settings):
        rows = [f[k] for f in per_fold]
        mean = {p: {key: _mean([r[p][key] for r in rows]) for key in rows[0][p]} for p in protocols}
        if "churn_per_min" in rows[0]:
            mean["churn_per_min"] = _mean([r["churn_per_min"] for r in rows])
        out.append({"smoother": {f: getattr(s, f) for f in grid}, **mean})
    print(json.dumps({"spec": args.spec, "folds": len(splits), "grid": grid, "norm": norm, "results": out}))
    return 0


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 4) if values else None


if __name__ == "__main__":
    sys.exit(main())
