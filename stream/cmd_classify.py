"""``voxstream classify PATH...``: one label per audio file (folders are searched recursively).

A file is scored by the one clip score (:mod:`voxstream.stream.clips`), the
rule of the model card's evaluations: its streaming windows, each file a
session of its own (``per-file``), the mean over its speech windows.  Bad files are
reported on stderr by name and counted; the others still succeed.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .audio_io import find_audio_files, iter_blocks
from .cli_common import add_config_flags, config_from_args, load_classifier
from .errors import AudioError, VoxstreamError
from .clips import batched, score_clips, stream_rows
from .config import Config
from .stages import make_gate, make_normalizer, window_spec
from .model import Classifier

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    file: str
    label: str
    confidence: float
    scores: dict[str, float]
    duration_s: float

    def to_dict(self) -> dict:
        return {"file": self.file, "label": self.label, "confidence": round(self.confidence, 4),
                "scores": {k: round(v, 4) for k, v in self.scores.items()}, "duration_s": round(self.duration_s, 3)}


def register(sub) -> None:
    p = sub.add_parser("classify", help="label audio files (one result per file)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    add_config_flags(p)
    p.add_argument("--format", choices=("table", "json", "csv"), default="table",
                   help="json: one object per line; csv: header + one row per file; table: aligned text")
    p.set_defaults(func=cmd_classify)


CHUNK_S = 10.0
"""Seconds of audio read at a time by classify (bounds memory for long files)."""


def classify_file(path: Path, classifier: Classifier, cfg: Config | None = None) -> FileResult:
    """The file's label and scores by the one clip score, the file a session of its own."""
    card, cfg = classifier.card, cfg or Config()
    rate = card.features.sample_rate
    spec = window_spec(card, cfg)
    rows = stream_rows(iter_blocks(path, rate, int(CHUNK_S * rate)), card.features, spec, make_gate(card, cfg))
    if rows.samples == 0:
        raise AudioError(f"{path}: contains no audio samples; expected at least one frame")
    try:
        probs = score_clips([rows], lambda: make_normalizer(card), batched(classifier.predict))[0]
    except ValueError as exc:
        raise AudioError(f"{path}: too short for features ({exc})") from None
    labels = card.labels
    best = int(np.argmax(probs))
    return FileResult(str(path), labels[best], float(probs[best]),
                      {k: float(v) for k, v in zip(labels, probs)}, rows.samples / rate)


class _Writer:
    def __init__(self, fmt: str, labels: tuple[str, ...], out=None) -> None:
        self.fmt, self.labels, self.out = fmt, labels, out or sys.stdout
        self._csv = csv.writer(self.out) if fmt == "csv" else None
        if self._csv:
            self._csv.writerow(["file", "label", "confidence", *labels])
        elif fmt == "table":
            self.out.write(f"{'label':<10} {'conf':>5}  {'file'}\n")

    def write(self, r: FileResult) -> None:
        if self.fmt == "json":
            self.out.write(json.dumps(r.to_dict(), separators=(",", ":")) + "\n")
        elif self._csv:
            self._csv.writerow([r.file, r.label, f"{r.confidence:.4f}", *(f"{r.scores[k]:.4f}" for k in self.labels)])
        else:
            self.out.write(f"{r.label:<10} {r.confidence:5.2f}  {r.file}\n")
        self.out.flush()


def cmd_classify(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    classifier = load_classifier(cfg)
    files = find_audio_files(args.paths)
    if not files:
        raise AudioError(f"{' '.join(args.paths)}: no audio files found; expected files or folders with audio")
    writer = _Writer(args.format, classifier.card.labels)
    failed = 0
    for path in files:
        try:
            writer.write(classify_file(path, classifier, cfg))
        except VoxstreamError as exc:
            failed += 1
            print(f"voxstream: skipped: {exc}", file=sys.stderr)
    print(f"voxstream: classified {len(files) - failed} of {len(files)} files, {failed} failed", file=sys.stderr)
    return 0 if failed == 0 else 1
