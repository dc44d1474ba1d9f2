"""``voxstream train``, ``eval`` and ``plot``.

Importing this module must not import TensorFlow (``voxstream run`` imports
every command module at start-up): heavy imports live inside the handlers.
``eval`` runs the ``.tflite`` through :class:`voxstream.stream.model.Classifier`,
not TensorFlow, so it measures what the runtime runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path

from voxstream.stream.errors import ConfigError

_LOGGER = logging.getLogger(__name__)


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
    p.add_argument("--scheme", default="auto", help="file naming scheme: auto, tess, ravdess, crema-d, savee, emodb")
    p.add_argument("--pattern", help="regex with named groups (?P<label>..) and optionally (?P<speaker>..) on the file stem")
    p.add_argument("--label-map", action="append", metavar="EMOTION=LABEL", help="override a label mapping, e.g. calm=drop")
    p.add_argument("--cache-dir", default="default", help="feature cache (default $VOXSTREAM_CACHE or ~/.cache/voxstream)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")
    p.add_argument("--workers", type=int, default=2, help="feature processes (default 2)")


def _split_args(p: argparse.ArgumentParser, choices: tuple[str, ...], default: str | None) -> None:
    p.add_argument("--split", choices=choices, default=default,
                   help=None if default else "what the shipped model trains on (seed default random; "
                                             "session_mlp: all only)")
    p.add_argument("--test-speakers", nargs="+", default=[], metavar="SPEAKER", help="held out with --split speaker")
    p.add_argument("--seed", type=int, default=0)


def _arch_list() -> str:
    from .models import ARCHS, DEFAULT_ARCH

    lines = ["architectures (--arch):"]
    for name in sorted(ARCHS):
        lines.append(f"  {name:<12} {ARCHS[name].summary}{'  [default]' if name == DEFAULT_ARCH else ''}")
    return "\n".join(lines)


EPILOG = """
examples:
  the shipped model, with its honest evaluation splits (card: models/voxstream.json):
    voxstream train --arch session_mlp --data DATA/tess --data DATA/ravdess --evaluate standard --out models --name voxstream
  the seed, for comparison (card: models/seed.json):
    voxstream train --arch seed --data DATA/tess --data DATA/ravdess --split all --evaluate tess/random \\
      --evaluate tess/speaker=YAF --evaluate tess/speaker=OAF --evaluate ravdess/lso=4 --out models --name seed
"""


def register(subparsers) -> None:
    from .models import ARCHS, DEFAULT_ARCH

    t = subparsers.add_parser("train", help="train a model and write .tflite + card",
                              description=f"Train a model and write <out>/<name>.tflite + its card.\n\n{_arch_list()}",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _data_args(t)
    _split_args(t, ("random", "speaker", "lso", "all"), None)
    t.add_argument("--arch", default=DEFAULT_ARCH, choices=sorted(ARCHS),
                   help=f"model recipe (default {DEFAULT_ARCH}, the shipped model; list above)")
    t.add_argument("--folds", type=int, default=4, help="folds of speakers with --split lso")
    t.add_argument("--name", default="voxstream")
    t.add_argument("--out", default="models")
    t.add_argument("--epochs", type=int, help="default: the architecture's")
    t.add_argument("--evaluate", action="append", default=[], metavar="SPEC",
                   help="honest evaluation, each trained from scratch on its own training side (repeatable). "
                        "session_mlp: 'standard' (TESS random, OAF<->YAF, RAVDESS leave-actors-out 01-04/05-08/"
                        "09-12/13-16) or one of its keys (e.g. ravdess_lao); seed: CORPUS/SPLIT, e.g. tess/random, "
                        "tess/speaker=OAF, ravdess/lso=4")
    t.add_argument("--window-s", type=float, default=2.0, help="streaming window written into the card")
    t.add_argument("--hop-s", type=float, default=0.25, help="streaming hop written into the card")
    t.add_argument("--variant", choices=("auto", "float32", "dynamic", "int8"), default="auto",
                   help="TFLite variant to ship (seed; auto: float unless another is clearly better; "
                        "session_mlp ships float32)")
    t.set_defaults(func=cmd_train)

    e = subparsers.add_parser("eval", help="score a .tflite model on labelled audio (LiteRT, no TensorFlow)")
    _data_args(e)
    _split_args(e, ("all", "random", "speaker"), "all")
    e.add_argument("--model", default="models/voxstream.tflite")
    e.add_argument("--windows", action="store_true", help="average the card's streaming windows instead of one whole-clip vector")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.add_argument("--out", default=".", help="folder for the confusion-matrix PNG")
    e.set_defaults(func=cmd_eval)

    p = subparsers.add_parser("plot", help="figures of a dataset: counts, waveform and spectrogram per emotion")
    _data_args(p)
    p.add_argument("--out", required=True, help="folder for the PNG files")
    p.set_defaults(func=cmd_plot)


def _cache(args) -> str | None:
    return None if args.no_cache else args.cache_dir


def _command() -> str:
    return shlex.join(["voxstream"] + sys.argv[1:])


def cmd_train(args) -> int:
    from .models import get_arch

    if get_arch(args.arch).trainer == "quality":
        return _train_quality(args)
    from .pipeline import TrainOptions, train

    opts = TrainOptions(
        data=args.data, arch=args.arch, split=args.split or "random", test_speakers=args.test_speakers,
        folds=args.folds, name=args.name, out=args.out, epochs=args.epochs, seed=args.seed,
        evaluations=args.evaluate, scheme=args.scheme, pattern=args.pattern, label_map=_label_map(args.label_map),
        cache_dir=_cache(args), workers=args.workers, window_s=args.window_s, hop_s=args.hop_s,
        variant=args.variant, command=_command())
    try:
        path = train(opts)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    card = json.loads(path.with_suffix(".json").read_text())
    print(f"wrote {path} ({path.stat().st_size} bytes, {card['conversion']['shipped_variant']})")
    for r in card["metrics"]["split"]:
        print(f"  {r['split']}: accuracy {r['metrics']['accuracy']:.4f}, macro F1 {r['metrics']['macro_f1']:.4f}")
    if "split_mean" in card["metrics"]:
        m = card["metrics"]["split_mean"]
        print(f"  mean of folds: accuracy {m['accuracy_mean']:.4f} +- {m['accuracy_std']:.4f}, "
              f"macro F1 {m['macro_f1_mean']:.4f}")
    for ev in card["metrics"]["evaluations"]:
        for r in ev["splits"]:
            print(f"  {ev['spec']} {r['split']}: accuracy {r['metrics']['accuracy']:.4f}, macro F1 {r['metrics']['macro_f1']:.4f}")
        if "mean" in ev:
            print(f"  {ev['spec']} mean: accuracy {ev['mean']['accuracy_mean']:.4f} +- {ev['mean']['accuracy_std']:.4f}")
    return 0


def _train_quality(args) -> int:
    """``--arch session_mlp``: the streaming-window recipe of :mod:`.quality` (always fitted on all data)."""
    from .quality import Recipe, run

    if args.split not in (None, "all"):
        raise ConfigError(f"--split {args.split}: arch {args.arch} always ships a model fitted on all data; "
                          f"its honest splits come from --evaluate standard")
    if args.variant not in ("auto", "float32"):
        raise ConfigError(f"--variant {args.variant}: arch {args.arch} ships float32 only")
    if args.test_speakers or args.workers != 2:
        _LOGGER.info("--test-speakers/--workers are not used by arch %s", args.arch)
    recipe = Recipe(window_s=args.window_s, hop_s=args.hop_s, seed=args.seed,
                    **({"epochs": args.epochs} if args.epochs else {}))
    try:
        path = run(args.data, args.out, args.name, recipe, _cache(args), args.evaluate, _command(),
                   scheme=args.scheme, pattern=args.pattern, label_map=_label_map(args.label_map))
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    card = json.loads(path.with_suffix(".json").read_text())
    print(f"wrote {path} ({path.stat().st_size} bytes, float32, {card['training']['wall_seconds']:.0f} s)")
    for key, ev in card["evaluations"].items():
        for r in ev["splits"]:
            print(f"  {r['split']}: accuracy {r['metrics']['accuracy']:.4f}, macro F1 {r['metrics']['macro_f1']:.4f}")
        if "mean" in ev:
            print(f"  {key} mean: accuracy {ev['mean']['accuracy_mean']:.4f}, macro F1 {ev['mean']['macro_f1_mean']:.4f}")
    for goal in card.get("goals", {}).get("list", []):
        verdict = "reached" if goal["reached"] else f"not reached, gap {goal['gap']:.3f}"
        print(f"  goal {goal['goal']}: {goal['measured']:.3f} vs target {goal['target']:.3f} ({verdict})")
    return 0


def cmd_eval(args) -> int:
    from .evaluate import evaluate_model
    from .metrics import format_metrics
    from .plots import confusion

    try:
        metrics = evaluate_model(args.model, args.data, split=args.split, test_speakers=args.test_speakers,
                                 seed=args.seed, windowed=args.windows, scheme=args.scheme, pattern=args.pattern,
                                 label_map=_label_map(args.label_map), cache_dir=_cache(args), workers=args.workers)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    png = confusion(metrics, Path(args.out) / f"{Path(args.model).stem}_eval_confusion.png",
                    f"{Path(args.model).name} on {', '.join(args.data)}")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_metrics(metrics))
        print(f"\nconfusion matrix: {png}")
    return 0


def cmd_plot(args) -> int:
    from .evaluate import plot_dataset

    try:
        written = plot_dataset(args.data, args.out, scheme=args.scheme, pattern=args.pattern,
                               label_map=_label_map(args.label_map))
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    for path in written:
        print(path)
    return 0
