"""The ``voxstream`` command line: parses flags and hands over to one module per command.

Each command module has ``register(subparsers)``; modules are imported only
when listed here, and the training commands import TensorFlow only inside
their handlers, so ``voxstream run`` never loads it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys

from .errors import VoxstreamError

COMMANDS = [
    "voxstream.stream.cmd_run",       # run
    "voxstream.stream.cmd_devices",   # devices
    "voxstream.stream.cmd_classify",  # classify
    "voxstream.stream.cmd_bench",     # bench
    "voxstream.train.cli",            # train, eval, plot
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxstream", description="Real-time speech-emotion classifier for the edge.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def _terminate(signum, frame) -> None:
    """SIGTERM outside the event loop (start-up, shutdown): stop quietly, like Ctrl-C."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:  # a signal while the commands were still being imported
        return 0
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        return int(args.func(args) or 0)
    except VoxstreamError as exc:
        if args.debug:
            raise
        print(f"voxstream: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130 if args.debug else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
