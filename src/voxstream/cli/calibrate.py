"""``voxstream calibrate``: record a speaker baseline that ``voxstream run`` starts each session from.

The microphone (or a file) goes through the model card's features, speech gate
and normaliser, exactly as in ``run``, from the card's prior, until
``--seconds`` of speech windows were heard (or the file ends); the
normaliser's state is then written as a baseline file
(:mod:`voxstream.inference.calibration`).  Fewer than :data:`MIN_SPEECH_S`
seconds of speech are refused and nothing is written.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys

import numpy as np

from voxstream.audio.sources import FileSource, MicSource
from voxstream.cli.common import add_config_flags, config_from_args
from voxstream.engine.pipeline import Engine
from voxstream.errors import AudioError, ConfigError
from voxstream.inference.calibration import OFF, baseline_data, baseline_path, write_baseline
from voxstream.inference.litert import Classifier
from voxstream.stages import make_stages

MIN_SPEECH_S = 5.0
"""Least speech a baseline is made from, in seconds (fewer windows say little about a voice)."""
FILE_BLOCK_S = 1.0


def register(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="record ~20 s of your ordinary speech as the baseline `run` starts from",
        description="Stream the microphone (or a file) until --seconds of speech were heard and "
        "write the normaliser's state as this node's speaker baseline.",
    )
    add_config_flags(p)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--device", help="input device: index or name substring (see `voxstream devices`)")
    src.add_argument("--file", metavar="PATH", help="calibrate on this audio file instead of a microphone")
    p.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        metavar="S",
        help=f"seconds of speech to hear (default 20, at least {MIN_SPEECH_S:g})",
    )
    p.add_argument(
        "--out",
        metavar="PATH",
        help="baseline file (default: [model] baseline, else $XDG_STATE_HOME/voxstream/<node>.baseline.json)",
    )
    p.add_argument("--node", help="node name (names the default baseline file)")
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.seconds) and args.seconds >= MIN_SPEECH_S):
        raise ConfigError(f"--seconds: expected at least {MIN_SPEECH_S:g} seconds of speech, got {args.seconds:g}")
    cfg = config_from_args(args)
    out = args.out or baseline_path(cfg)
    if out is None:
        raise ConfigError('--out: needed when [model] baseline is "off"')
    classifier = Classifier.configured(cfg)
    card = classifier.card
    kind = card.normalization.get("kind", "none")
    if kind != "session":
        raise ConfigError(
            f"model {card.name}: normalisation {kind!r} keeps no session baseline, so calibration "
            f"changes nothing; nothing written"
        )
    uniform = np.full(len(card.labels), 1.0 / len(card.labels), dtype=np.float32)
    engine = Engine(make_stages(card, lambda x: uniform, cfg.replace("model", baseline=OFF)))  # from the prior
    need = max(1, math.ceil(args.seconds / engine.spec.hop_s - 1e-9))
    source: FileSource | MicSource
    if args.file:
        source = FileSource(
            args.file, engine.spec.sample_rate, int(FILE_BLOCK_S * engine.spec.sample_rate), realtime=False
        )
    else:
        source = MicSource(cfg.audio, engine.spec.sample_rate)
    hint = (
        None
        if args.file
        else (
            f"voxstream: listening; speak as you usually do until {args.seconds:g} s of "
            f"speech were heard (Ctrl-C stops early)"
        )
    )
    try:
        asyncio.run(_listen(source, engine, need, hint))
    except KeyboardInterrupt:  # stop early: the speech heard so far is used if it is enough
        pass
    heard_s = engine.stages.normalizer.speech_windows * engine.spec.hop_s
    if heard_s < MIN_SPEECH_S:
        raise AudioError(
            f"{args.file or 'microphone'}: heard only {heard_s:.1f} s of speech; a baseline needs at "
            f"least {MIN_SPEECH_S:g} s; nothing written"
        )
    path = write_baseline(out, baseline_data(card, cfg.node.name, engine.stages.normalizer))
    print(f"voxstream: wrote speaker baseline {path} from {heard_s:.1f} s of speech (model {card.name})")
    return 0


async def _listen(source, engine: Engine, need: int, hint: str | None) -> None:
    """Push blocks until ``need`` speech windows updated the normaliser or the source ends."""
    normalizer = engine.stages.normalizer
    async with source:
        if hint:
            print(hint, file=sys.stderr)
        async for block in source:
            for start in range(0, len(block), engine.spec.hop):  # hop by hop: stop at exactly ``need``
                engine.push(block[start : start + engine.spec.hop])
                if normalizer.speech_windows >= need:
                    return
    engine.finish()
