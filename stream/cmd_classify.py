"""``voxstream classify PATH...``: one label per audio file (folders are searched recursively).

Whole-file features are :func:`~voxstream.stream.features.window_features`
over the whole clip, exactly what training computes for a clip
(``voxstream.train.featurize.clip_features`` with ``window_s=None``), then the
card's normaliser as a one-window session, then the model.  Bad files are
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
from .cmd_run import add_config_flags, config_from_args, load_classifier
from .errors import AudioError, VoxstreamError
from .features import MfccFrames, window_features
from .model import Classifier
from .pipeline import make_normalizer

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


def classify_samples(samples: np.ndarray, classifier: Classifier, extractor: MfccFrames | None = None) -> np.ndarray:
    """Probabilities of one clip at the model rate (whole-clip features, as in training)."""
    card = classifier.card
    try:
        features = window_features(samples, card.features, extractor)
    except ValueError as exc:
        raise AudioError(f"too short for features ({exc})") from None
    return classifier.predict(make_normalizer(card).step(features, True))


class StreamingPool:
    """Whole-clip :func:`~voxstream.stream.features.pool` of a clip pushed in pieces, in bounded memory.

    Frames are computed as samples arrive (like IncrementalMfcc); their mean and
    variance, and those of the frame-to-frame differences, are merged chunk by
    chunk (Chan et al.), so an hour-long file needs no more memory than a minute.
    Equals ``window_features`` of the whole clip to float rounding.
    """

    def __init__(self, params, extractor: MfccFrames | None = None) -> None:
        self.params, self.extractor = params, extractor or MfccFrames(params)
        self.samples = 0
        self._tail = np.zeros(0, dtype=np.float64)
        self._last: np.ndarray | None = None  # last frame, for the difference across chunks
        self._stats = [[0, 0.0, 0.0], [0, 0.0, 0.0]]  # frames, diffs: [count, mean, M2]

    def push(self, samples: np.ndarray) -> None:
        self.samples += len(samples)
        buf = np.concatenate([self._tail, np.asarray(samples, dtype=np.float64)])
        frames = self.extractor.mfcc(self.extractor.frame(buf))
        self._tail = buf[len(frames) * self.params.hop_length:].copy()
        if len(frames):
            diffs = np.diff(frames if self._last is None else np.vstack([self._last, frames]), axis=0)
            self._last = frames[-1].copy()
            for acc, rows in zip(self._stats, (frames, diffs)):
                _merge(acc, rows)

    def features(self) -> np.ndarray:
        (n, mean, m2), (nd, _, dm2) = self._stats
        if n == 0:
            raise ValueError("no frames to pool: the audio is shorter than one FFT frame")
        pooling = self.params.pooling
        if pooling == "mean":
            return np.asarray(mean, dtype=np.float32)
        std = np.sqrt(m2 / n)
        if pooling == "mean_std":
            return np.concatenate([mean, std]).astype(np.float32)
        dstd = np.sqrt(dm2 / nd) if nd else np.zeros_like(mean)
        return np.concatenate([mean, std, dstd]).astype(np.float32)


def _merge(acc: list, rows: np.ndarray) -> None:
    """Fold rows into a running [count, mean, M2] (parallel variance formula)."""
    if len(rows) == 0:
        return
    n_b, mean_b = len(rows), rows.mean(axis=0)
    m2_b = ((rows - mean_b) ** 2).sum(axis=0)
    n_a, mean_a, m2_a = acc
    n = n_a + n_b
    delta = mean_b - mean_a
    acc[:] = [n, mean_a + delta * (n_b / n), m2_a + m2_b + delta * delta * (n_a * n_b / n)]


CHUNK_S = 10.0
"""Seconds of audio read and framed at a time by classify (bounds memory for long files)."""


def classify_file(path: Path, classifier: Classifier, extractor: MfccFrames | None = None) -> FileResult:
    """Stream the file through :class:`StreamingPool`: memory does not grow with its length."""
    card = classifier.card
    rate = card.features.sample_rate
    acc = StreamingPool(card.features, extractor)
    for block in iter_blocks(path, rate, int(CHUNK_S * rate)):
        acc.push(block)
    if acc.samples == 0:
        raise AudioError(f"{path}: contains no audio samples; expected at least one frame")
    try:
        features = acc.features()
    except ValueError as exc:
        raise AudioError(f"{path}: too short for features ({exc})") from None
    probs = classifier.predict(make_normalizer(card).step(features, True))
    labels = card.labels
    best = int(np.argmax(probs))
    return FileResult(str(path), labels[best], float(probs[best]),
                      {k: float(v) for k, v in zip(labels, probs)}, acc.samples / rate)


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
    extractor = MfccFrames(classifier.card.features)
    failed = 0
    for path in files:
        try:
            writer.write(classify_file(path, classifier, extractor))
        except VoxstreamError as exc:
            failed += 1
            print(f"voxstream: skipped: {exc}", file=sys.stderr)
    print(f"voxstream: classified {len(files) - failed} of {len(files)} files, {failed} failed", file=sys.stderr)
    return 0 if failed == 0 else 1
