"""The ``voxstream`` command line: parses flags and hands over to one module per command.

Each command module has ``register(subparsers)``; only the module of the
command being run is imported, so ``voxstream run`` loads neither
``voxstream.train`` nor TensorFlow.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy loads: BLAS threads only fight over small matrices
from voxstream import __version__  # noqa: E402
from voxstream.errors import VoxstreamError  # noqa: E402
from voxstream.held_signals import held, install_stop_handlers  # noqa: E402

COMMANDS = {
    "run": "voxstream.cli.run",
    "calibrate": "voxstream.cli.calibrate",
    "devices": "voxstream.cli.devices",
    "classify": "voxstream.cli.classify",
    "bench": "voxstream.cli.bench",
    "config": "voxstream.cli.config",
    "fleet": "voxstream.cli.fleet",
    "train": "voxstream.train.cli",
    "eval": "voxstream.train.cli",
    "plot": "voxstream.train.cli",
}
"""Command name -> the module whose ``register(subparsers)`` adds it.  Only the module of the command
being run is imported (``voxstream run`` never imports ``voxstream.train``); help imports them all."""

EXTRAS = {"train": "train", "eval": "train", "plot": "train"}
"""Command name -> the optional extra (``pip install 'voxstream[<extra>]'``) whose libraries it imports."""
NEEDS = {
    "train": ("pandas", "sklearn", "matplotlib", "tensorflow"),
    "eval": ("pandas", "sklearn", "matplotlib"),
    "plot": ("pandas", "matplotlib", "librosa"),
}
"""The extra's libraries a command imports, looked for before it starts (not after minutes of features); one
imported later and missing is caught the same way."""


def _chosen(argv: list[str]) -> str | None:
    """The command named on the command line (the first word that is not an option), if known."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def _require(command: str) -> None:
    """Raise ModuleNotFoundError for the first library in ``NEEDS[command]`` that is not installed."""
    for name in NEEDS.get(command, ()):
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="voxstream", description="Real-time speech-emotion classifier for the edge.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="version", version=f"voxstream {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = _chosen(sys.argv[1:] if argv is None else argv)
    modules = [COMMANDS[chosen]] if chosen else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = None
    try:  # one handler for the whole run: a signal at any point (imports, set-up, the command) exits quietly
        install_stop_handlers()  # SIGTERM like Ctrl-C; SIGINT also when inherited as ignored
        with held():  # the command's modules load (C extensions initialise there); delivered, and caught here, after
            args = build_parser(argv).parse_args(argv)
        logging.basicConfig(
            level=logging.DEBUG if args.debug else logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        _require(args.command)
        return int(args.func(args) or 0)
    except VoxstreamError as exc:
        if args is not None and args.debug:
            raise
        print(f"voxstream: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        command = args.command if args is not None else _chosen(sys.argv[1:] if argv is None else argv)
        missing = (exc.name or "").partition(".")[0]
        if command not in EXTRAS or missing in ("", "voxstream") or (args is not None and args.debug):
            raise  # not a missing extra: a broken install, shown as it is
        print(
            f"voxstream: error: voxstream {command} needs the {EXTRAS[command]} extra ({missing} is not "
            f"installed): pip install 'voxstream[{EXTRAS[command]}]'",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        return 130 if args is not None and args.debug else 0
    except BrokenPipeError:  # `voxstream ... | head`: the reader left; stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
