"""``voxstream train``, ``eval`` and ``plot``.

Importing this module must not import TensorFlow: heavy imports live inside
the handlers.  ``eval`` runs the ``.tflite`` through
:class:`voxstream.inference.litert.Classifier` (LiteRT), so it measures what the
runtime runs.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from voxstream.errors import ConfigError
from voxstream.train.balance import MODES
from voxstream.train.splits import SYNTAX


def _label_map(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--label-map {pair!r}: expected EMOTION=LABEL (LABEL a product label or 'drop')")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", action="append", required=True, metavar="DIR", help="folder of audio files (repeatable)")
    p.add_argument(
        "--scheme", default="auto", help="file naming scheme: auto, tess, ravdess, crema-d, savee, emodb, nemo, korean"
    )
    p.add_argument(
        "--pattern", help="regex with named groups (?P<label>..) and optionally (?P<speaker>..) on the file stem"
    )
    p.add_argument(
        "--label-map",
        action="append",
        metavar="EMOTION=LABEL",
        help="override a label mapping, e.g. calm=drop, or for one corpus: nemo:surprised=ps",
    )
    p.add_argument(
        "--cache-dir", default="default", help="feature cache (default $VOXSTREAM_CACHE or ~/.cache/voxstream)"
    )
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    p.add_argument("--workers", type=int, default=2, help="feature processes (default 2)")
    p.add_argument("--seed", type=int, default=0)


def _scan(args) -> dict:
    return {"scheme": args.scheme, "pattern": args.pattern, "label_map": _label_map(args.label_map)}


def _arch_list() -> str:
    from voxstream.train.archs import ARCHS, DEFAULT_ARCH

    lines = ["architectures (--arch):"]
    for name in sorted(ARCHS):
        lines.append(f"  {name:<12} {ARCHS[name].summary}{'  [default]' if name == DEFAULT_ARCH else ''}")
    return "\n".join(lines)


EPILOG = (
    """
splits (--split, --evaluate): """
    + SYNTAX
    + """

examples:
  the shipped model and its card (models/voxstream.json):
    voxstream train --data DATA/tess --data DATA/ravdess --evaluate standard --out models --name voxstream
  the seed, for comparison (models/seed.json):
    voxstream train --arch seed --data DATA/tess --data DATA/ravdess --evaluate standard --out models --name seed
"""
)


def register(subparsers) -> None:
    from voxstream.train.archs import ARCHS, DEFAULT_ARCH

    t = subparsers.add_parser(
        "train",
        help="train a model and write .tflite + card",
        description=f"Train a model and write <out>/<name>.tflite + its card.\n\n{_arch_list()}",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _data_args(t)
    t.add_argument(
        "--arch",
        default=DEFAULT_ARCH,
        choices=sorted(ARCHS),
        help=f"model recipe (default {DEFAULT_ARCH}, the shipped model; list above)",
    )
    t.add_argument(
        "--split",
        default="all",
        help="what the shipped model trains on: all (default) or the "
        "training side of one split, whose test side the card reports",
    )
    t.add_argument(
        "--evaluate",
        action="append",
        default=[],
        metavar="SPEC",
        help="honest evaluation, each split trained from scratch on its own training side (repeatable)",
    )
    t.add_argument("--name", default="voxstream")
    t.add_argument("--out", default="models")
    t.add_argument("--epochs", type=int, help="default: the architecture's")
    t.add_argument(
        "--variants",
        help="training copies, comma-separated (e.g. orig,aug1,aug2,speed0.9); default: the architecture's",
    )
    t.add_argument("--train-hop", type=int, help="keep every n-th training window (default: the architecture's)")
    t.add_argument(
        "--save-folds",
        metavar="DIR",
        default=None,
        help="also write every evaluation fold's .tflite and card into DIR (to re-score them with eval)",
    )
    t.add_argument(
        "--eval-data",
        action="append",
        default=[],
        metavar="DIR",
        help="folder whose clips are only tested, never trained on (repeatable; e.g. nEMO for nemo-cross)",
    )
    t.add_argument(
        "--balance",
        default="speakers",
        choices=MODES,
        help="loss weights: every training speaker the same (speakers, default), and also every label "
        "(speakers+labels) or every corpus (corpora), or every window 1 (none)",
    )
    t.add_argument("--window-s", type=float, default=2.0, help="streaming window written into the card")
    t.add_argument("--hop-s", type=float, default=0.25, help="streaming hop written into the card")
    t.set_defaults(func=cmd_train)

    e = subparsers.add_parser(
        "eval",
        help="score a .tflite model on labelled audio (LiteRT, no TensorFlow)",
        epilog="splits (--split): " + SYNTAX,
    )
    _data_args(e)
    e.add_argument("--split", default="all", help="score the test side of this split (all: every clip)")
    e.add_argument(
        "--protocol",
        action="append",
        metavar="NAME",
        help="live, live-episodes, live-calm (and each with -zeros: digital silence between clips), "
        "stream, calm-speaker, calm-session, cold, gain-20, gain+20, noise20, or calibrated (eval "
        "only: a baseline from 20 s of the speaker's neutral clips, then each other clip alone); "
        "repeatable; default live, stream and cold",
    )
    e.add_argument(
        "--model", default="voxstream", help="a shipped model (voxstream, session_mlp, seed) or a .tflite path"
    )
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--out", default=".", help="folder for the confusion-matrix PNG")
    e.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("plot", help="figures of a dataset: counts, waveform and spectrogram per emotion")
    _data_args(p)
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.set_defaults(func=cmd_plot)


def _cache(args) -> str | None:
    return None if args.no_cache else args.cache_dir


def cmd_train(args) -> int:
    from voxstream.train.trainer import Options, train

    opts = Options(
        data=args.data,
        arch=args.arch,
        split=args.split,
        evaluate=args.evaluate,
        name=args.name,
        out=args.out,
        epochs=args.epochs,
        seed=args.seed,
        window_s=args.window_s,
        hop_s=args.hop_s,
        scan=_scan(args),
        cache_dir=_cache(args),
        workers=args.workers,
        command=shlex.join(["voxstream"] + sys.argv[1:]),
        variants=tuple(v.strip() for v in args.variants.split(",")) if args.variants else None,
        train_hop=args.train_hop,
        balance=args.balance,
        eval_data=args.eval_data,
        save_folds=args.save_folds,
    )
    try:
        path = train(opts)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    card = json.loads(path.with_suffix(".json").read_text())
    print(f"wrote {path} ({path.stat().st_size} bytes, {card['reproduce']['wall_seconds']:.0f} s)")
    print(results_table(card))
    return 0


def results_table(card: dict) -> str:
    """One line per evaluation (fold mean when there are folds) and protocol: the card's figures."""
    lines = []

    def one(protocols: dict) -> dict:
        return {
            p: {"accuracy_mean": m["accuracy"], "uar_mean": m["uar"], "unlabelled": m["unlabelled"]}
            for p, m in protocols.items()
        }

    entries = [
        (spec, ev.get("mean") or one(ev["splits"][0]["protocols"])) for spec, ev in card.get("evaluations", {}).items()
    ]
    if card.get("holdout"):
        entries.append((f"holdout {card['holdout']['split']}", one(card["holdout"]["protocols"])))
    for spec, protocols in entries:
        cells = "  ".join(f"{p} {m['accuracy_mean']:.3f} (UAR {m['uar_mean']:.3f})" for p, m in protocols.items())
        lines.append(f"  {spec}: {cells}  (unlabelled {protocols['stream']['unlabelled']})")
    return "\n".join(lines)


def cmd_eval(args) -> int:
    from voxstream.train.evaluate import evaluate_model
    from voxstream.train.metrics import format_metrics
    from voxstream.train.plots import confusion

    try:
        result = evaluate_model(
            args.model,
            args.data,
            split=args.split,
            protocols=tuple(args.protocol or ("live", "stream", "cold")),
            seed=args.seed,
            scan=_scan(args),
            cache_dir=_cache(args),
            workers=args.workers,
        )
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['model']} on {result['split_name']} ({result['n_test_clips']} clips)")
    for name, metrics in result["protocols"].items():
        print(f"\n== {name} (unlabelled {metrics['unlabelled']})\n{format_metrics(metrics)}")
        if "during_accuracy" in metrics:
            print(live_line(metrics))
        png = confusion(
            metrics, Path(args.out) / f"{Path(args.model).stem}_eval_{name}.png", f"{Path(args.model).name}: {name}"
        )
        print(f"confusion matrix: {png}")
    return 0


def live_line(m: dict) -> str:
    """The figures a live protocol adds: during-utterance accuracy and latency."""

    def sec(v):
        return "-" if v is None else f"{v:.2f} s"

    return (
        f"during-utterance accuracy={m['during_accuracy']:.4f}  latency median {sec(m['latency_median_s'])}, "
        f"p90 {sec(m['latency_p90_s'])} ({m['latency_timed']} timed, {m['latency_never']} never right)"
    )


def cmd_plot(args) -> int:
    from voxstream.train.evaluate import plot_dataset

    try:
        written = plot_dataset(args.data, args.out, scan=_scan(args))
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    for path in written:
        print(path)
    return 0
