"""``voxstream run``: stream a microphone or a file through the pipeline to the publishers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from voxstream.app import Publisher, RunStats, build_publishers, run_stream
from voxstream.audio.devices import input_devices
from voxstream.audio.sources import FileSource, MicSource
from voxstream.cli.common import add_config_flags, config_from_args
from voxstream.config import Config
from voxstream.held_signals import loop_stop_handlers
from voxstream.inference.litert import Classifier
from voxstream.publish.console import ConsolePrinter
from voxstream.stages import build_engine

_LOGGER = logging.getLogger(__name__)


def register(sub) -> None:
    p = sub.add_parser(
        "run",
        help="stream a microphone (or a file) to the console, WebSocket page and MQTT",
        description="Classify speech emotion live; one event per hop.",
    )
    add_config_flags(p)
    src = p.add_argument_group("source")
    src.add_argument("--device", help="input device: index or name substring (see `voxstream devices`)")
    src.add_argument("--file", metavar="PATH", help="stream this audio file instead of a microphone")
    src.add_argument("--fast", action="store_true", help="with --file: as fast as possible, not in real time")
    src.add_argument("--loop", action="store_true", help="with --file: repeat forever")
    src.add_argument("--demo", action="store_true", help="stream a demo clip made with espeak-ng, looping")
    src.add_argument("--demo-if-no-mic", action="store_true", help="use the demo clip when no input device exists")
    src.add_argument("--duration", type=float, metavar="S", help="stop after S seconds of audio")
    out = p.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON lines on stdout, one event per hop")
    out.add_argument("--node", help="node name in events and MQTT topics")
    out.add_argument("--window", type=float, metavar="S", help="analysis window in seconds (0 = model card)")
    out.add_argument("--hop", type=float, metavar="S", help="seconds between events (0 = model card)")
    out.add_argument("--ws-host")
    out.add_argument("--ws-port", type=int)
    out.add_argument("--no-ws", action="store_true", help="no WebSocket page")
    out.add_argument("--mqtt-host")
    out.add_argument("--mqtt-port", type=int)
    out.add_argument("--no-mqtt", action="store_true", help="no MQTT")
    p.set_defaults(func=cmd_run)


def make_source(args: argparse.Namespace, cfg: Config, rate: int, stats: RunStats):
    """File, demo clip or microphone, as the flags ask."""
    demo = args.demo or (args.demo_if_no_mic and not args.file and not args.device and not input_devices())
    if demo:
        from voxstream.audio.demo import demo_clip

        if not args.demo:
            print("voxstream: no input device found; streaming a demo clip (espeak-ng) instead", file=sys.stderr)
        path, realtime, loop = demo_clip(rate), True, True
    elif args.file:
        path, realtime, loop = args.file, not args.fast, args.loop
    else:
        return MicSource(cfg.audio, rate, stats)
    return FileSource.configured(path, rate, cfg.audio, realtime=realtime, loop=loop, stats=stats)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    classifier = Classifier.configured(cfg)
    engine = build_engine(classifier.card, classifier.predict, cfg)
    stats = RunStats(model=classifier.card.name, node=cfg.node.name)
    source = make_source(args, cfg, engine.spec.sample_rate, stats)
    publishers: list[Publisher] = [ConsolePrinter(json=args.json)]
    publishers += build_publishers(cfg, classifier.card, stats, engine.spec)
    _LOGGER.info(
        "model %s, window %.2f s, hop %.2f s, node %s",
        classifier.card.name,
        engine.spec.window_s,
        engine.spec.hop_s,
        cfg.node.name,
    )
    asyncio.run(_main(source, engine, publishers, stats, args.duration))
    _LOGGER.info(
        "stopped: %d events, %.1f s of audio, %d dropped blocks, %d overflows",
        stats.events,
        stats.audio_s,
        stats.dropped_blocks,
        stats.overflows,
    )
    return 0


async def _main(source, engine, publishers, stats, duration) -> None:
    """Run until the source ends, --duration, Ctrl-C or SIGTERM (publishers are flushed either way)."""
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(run_stream(source, engine, publishers, stats, duration))
    with loop_stop_handlers(loop, task.cancel):
        try:
            await task
        except asyncio.CancelledError:
            _LOGGER.info("interrupted")
