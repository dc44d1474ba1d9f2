"""``voxstream classify PATH...``: one label per audio file (folders are searched recursively).

A file is scored by the one clip score (:mod:`voxstream.offline.clips`), the
rule of the model card's evaluations: its streaming windows, each file a
session of its own (``per-file``), the mean over its speech windows.  Files
are scored in chunks on every core (``--workers``, worker processes) or on
a Dask cluster (``--scheduler``, :mod:`voxstream.offline.cluster`);
results are written as chunks finish, always in the order of the file list,
so the output is the same whatever runs it.  Bad files are reported on
stderr by name and counted; the others still succeed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from voxstream.audio.files import find_audio_files
from voxstream.cli.common import add_config_flags, config_from_args
from voxstream.config import Config
from voxstream.errors import AudioError, ConfigError
from voxstream.inference.calibration import OFF, read_baseline
from voxstream.inference.card import load_card
from voxstream.inference.litert import Classifier
from voxstream.offline.archive import ArchiveStats, Job, chunks, job_for, scorer_for
from voxstream.offline.output import Progress, ResultWriter, done_files, format_for
from voxstream.offline.workers import run_local

__all__ = ["cmd_classify", "register"]


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def register(sub) -> None:
    p = sub.add_parser("classify", help="label audio files (one result per file)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    add_config_flags(p)
    p.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default=None,
        help="json: one object per line; csv: header + one row per file; table: aligned text "
        "(default: from --out's extension, .csv or .jsonl/.json, else table)",
    )
    p.add_argument("--out", metavar="FILE", help="write the results to FILE (JSON lines or CSV) instead of stdout")
    p.add_argument("--resume", action="store_true", help="with --out: skip the files already in FILE, append the rest")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help=f"worker processes (default: every core, {default_workers()} here; 1: this process)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask cluster, e.g. tcp://HOST:8786 (pip install 'voxstream[dask]')",
    )
    p.add_argument(
        "--baseline",
        metavar="FILE",
        help="start every file's session from this speaker baseline (`voxstream calibrate`)",
    )
    p.add_argument(
        "--stats",
        metavar="FILE",
        help="write a JSON summary: wall and audio seconds, seconds per stage, peak RSS per worker",
    )
    p.set_defaults(func=cmd_classify)


def _chunk_results(args: argparse.Namespace, parts: list[list[str]], job: Job, workers: int):
    if args.scheduler:
        from voxstream.offline.cluster import run_dask

        return run_dask(parts, job, args.scheduler)
    return run_local(parts, job, workers)


def _todo(args: argparse.Namespace, fmt: str) -> tuple[list[str], int]:
    """The files to score (those already in ``--out`` left out with ``--resume``) and how many were left out."""
    files = [str(p) for p in find_audio_files(args.paths)]
    if not files:
        raise AudioError(f"{' '.join(args.paths)}: no audio files found; expected files or folders with audio")
    done = done_files(Path(args.out), fmt) if args.resume else set()
    todo = [f for f in files if f not in done]
    return todo, len(files) - len(todo)


def _check(args: argparse.Namespace) -> None:
    if args.resume and not args.out:
        raise ConfigError("--resume: needs --out FILE (the results to resume)")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers: expected a positive number of processes, got {args.workers}")


def _with_baseline(cfg: Config, baseline: str | None) -> Config:
    """Only ``--baseline`` starts classify's sessions from a baseline (never the one ``run`` finds by default)."""
    return cfg.replace("model", baseline=baseline or OFF)


def cmd_classify(args: argparse.Namespace) -> int:
    _check(args)
    job = job_for(_with_baseline(config_from_args(args), args.baseline))
    if args.baseline:  # a baseline asked for by name must fit: one line now, not a silent prior in every worker
        try:
            read_baseline(args.baseline, load_card(job.model)[0])
        except ValueError as exc:
            raise ConfigError(f"--baseline: {exc}") from None
    # a broken model stops here, with one line, before any work; run here, the scorer is the one this process
    # scores with (--workers 1) or its forked workers inherit (no model load each)
    labels = (Classifier.load(job.model) if args.scheduler else scorer_for(job)).card.labels
    fmt = format_for(args.format, args.out)
    todo, already = _todo(args, fmt)
    workers = args.workers or default_workers()
    progress, stats, t0 = Progress(len(todo), sys.stderr), ArchiveStats(), time.perf_counter()
    with ResultWriter(fmt, labels, args.out, append=args.resume) as writer:
        for part in _chunk_results(args, chunks(todo, workers), job, workers):
            for result, error in zip(part.results, part.errors):
                if error is not None:
                    progress.clear()
                    print(f"voxstream: skipped: {error}", file=sys.stderr)
                else:
                    writer.write(result)
            writer.flush()
            stats.add(part)
            progress.advance(len(part.results), part.audio_s)
    progress.close()
    if args.stats:
        stats.write(Path(args.stats), wall_s=time.perf_counter() - t0)
    resumed = f", {already} already in {args.out}" if args.resume else ""
    print(
        f"voxstream: classified {len(todo) - stats.failed} of {len(todo)} files, {stats.failed} failed{resumed} "
        f"({time.perf_counter() - t0:.1f} s)",
        file=sys.stderr,
    )
    return 0 if stats.failed == 0 else 1
