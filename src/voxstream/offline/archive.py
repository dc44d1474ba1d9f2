"""Archives: many files scored by the one clip score, in chunks, in one process or many.

A :class:`Job` (model + configuration) is what a worker needs; each worker
process (or Dask worker thread) builds its :class:`ArchiveScorer` once
(:func:`scorer_for`) and scores chunks of files with :func:`score_chunk`.  A
chunk's windows go through the card's normaliser file by file (``per-file``
sessions) and through the model in one batch (:mod:`voxstream.offline.batch`).
Every chunk reports the time of each stage (decode, features, gate,
normalise, model) and the worker's peak RSS, for ``bench/archive.py``.

:mod:`voxstream.offline.workers` runs the chunks on spawned processes,
:mod:`voxstream.offline.cluster` on a Dask cluster.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from voxstream.audio.files import iter_blocks
from voxstream.config import Config
from voxstream.errors import AudioError, VoxstreamError
from voxstream.offline.batch import BatchModel
from voxstream.offline.clips import ClipFrames, ClipRows, clip_frames, pool_clips, score_clips, stream_rows
from voxstream.offline.heap import peak_rss_mb

CHUNK_S = 10.0
"""Seconds of audio read at a time."""
CHUNK_WINDOWS = 64
"""Windows whose frames are computed at a time in a long file (16 s at a 0.25 s hop): a worker stays near
110 MB on a 1-hour file (240 windows: 190 MB, and slower, the arrays no longer fit in cache)."""
STAGES = ("decode", "features", "gate", "normalise", "model")


@dataclass(frozen=True)
class FileResult:
    file: str
    label: str
    confidence: float
    scores: dict[str, float]
    duration_s: float

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "label": self.label,
            "confidence": round(self.confidence, 4),
            "scores": {k: round(v, 4) for k, v in self.scores.items()},
            "duration_s": round(self.duration_s, 3),
        }


@dataclass(frozen=True)
class Job:
    """What a worker needs to score files: the resolved model path and the configuration."""

    model: str
    cfg: Config


@dataclass
class ChunkResult:
    """The outcome of one chunk, in the order of its files."""

    results: list[FileResult | None]
    errors: list[str | None]
    """One line per failed file (None where it succeeded)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Stage -> CPU-side wall seconds spent in it (see :data:`STAGES`)."""
    audio_s: float = 0.0
    cpu_s: float = 0.0
    """CPU seconds of the worker process on this chunk (unlike wall seconds, not inflated by other load)."""
    pid: int = 0
    peak_rss_mb: float = 0.0


@dataclass
class ArchiveStats:
    """Totals over the chunks of a run (``classify --stats``)."""

    files: int = 0
    failed: int = 0
    audio_s: float = 0.0
    cpu_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    peak_rss_mb: dict[int, float] = field(default_factory=dict)
    """Worker pid -> its peak RSS in MB."""

    def add(self, part: ChunkResult) -> None:
        self.files += len(part.results)
        self.failed += sum(e is not None for e in part.errors)
        self.audio_s += part.audio_s
        self.cpu_s += part.cpu_s
        for k, v in part.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v
        if part.pid:  # 0: a file whose worker died (no worker to report)
            self.peak_rss_mb[part.pid] = max(self.peak_rss_mb.get(part.pid, 0.0), part.peak_rss_mb)

    def write(self, path: Path, wall_s: float) -> None:
        """JSON: the totals, each stage's share of the summed stage time, wall seconds since the run began."""
        total = sum(self.seconds.values()) or 1.0
        data = {
            "files": self.files,
            "failed": self.failed,
            "workers": len(self.peak_rss_mb),
            "audio_s": round(self.audio_s, 3),
            "run_wall_s": round(wall_s, 3),
            "worker_cpu_s": round(self.cpu_s, 3),
            "stage_s": {k: round(v, 4) for k, v in self.seconds.items()},
            "stage_share": {k: round(v / total, 4) for k, v in self.seconds.items()},
            "peak_rss_mb": {str(k): round(v, 1) for k, v in sorted(self.peak_rss_mb.items())},
        }
        path.write_text(json.dumps(data, indent=2) + "\n")


class _TimedGate:
    """The gate, its time added to ``seconds["gate"]``."""

    def __init__(self, gate, seconds: dict[str, float]) -> None:
        self._gate, self._seconds = gate, seconds

    def windows(self, samples, window, hop):
        t0 = time.perf_counter()
        try:
            return self._gate.windows(samples, window, hop)
        finally:
            self._seconds["gate"] += time.perf_counter() - t0


def _timed_blocks(blocks: Iterable[np.ndarray], seconds: dict[str, float]) -> Iterator[np.ndarray]:
    it = iter(blocks)
    while True:
        t0 = time.perf_counter()
        try:
            block = next(it)
        except StopIteration:
            seconds["decode"] += time.perf_counter() - t0
            return
        seconds["decode"] += time.perf_counter() - t0
        yield block


class ArchiveScorer:
    """One process's model, gate and feature extractor, reused for every file it scores."""

    def __init__(self, job: Job) -> None:
        from voxstream.engine.frames import MfccFrames
        from voxstream.inference.calibration import configured_state
        from voxstream.inference.litert import Classifier
        from voxstream.stages import make_gate, make_normalizer, window_spec

        self.classifier = Classifier.load(job.model, num_threads=job.cfg.model.num_threads)
        self.card = self.classifier.card
        self.model = BatchModel(self.classifier, num_threads=job.cfg.model.num_threads)
        self.spec = window_spec(self.card, job.cfg)
        self.gate = make_gate(self.card, job.cfg)
        self.extractor = MfccFrames(self.card.features)
        state = configured_state(self.card, job.cfg)  # classify --baseline (otherwise "off": the prior)
        self._normalizer = lambda: make_normalizer(self.card, state)

    def rows(self, path: str, seconds: dict[str, float]) -> ClipRows | ClipFrames:
        """One file's window features and gate verdicts; :class:`AudioError` naming it if it has none.

        A file read in one block (up to :data:`CHUNK_S`) comes back as its frames, to be pooled with
        the chunk's other short files (:meth:`score`); a longer one is pooled part by part as it is read.
        """
        t0 = time.perf_counter()
        before = seconds["decode"] + seconds["gate"]
        rate = self.card.features.sample_rate
        blocks = _timed_blocks(iter_blocks(path, rate, int(CHUNK_S * rate)), seconds)
        gate = _TimedGate(self.gate, seconds)
        try:
            head = list(itertools.islice(blocks, 2))
            rows: ClipRows | ClipFrames
            if len(head) == 1:
                rows = clip_frames(head[0], self.card.features, self.spec, gate, self.extractor)
            else:
                rows = stream_rows(
                    itertools.chain(head, blocks),
                    self.card.features,
                    self.spec,
                    gate,
                    chunk_windows=CHUNK_WINDOWS,
                    extractor=self.extractor,
                )
        except ValueError as exc:
            raise AudioError(f"{path}: too short for features ({exc})") from None
        finally:
            seconds["features"] += time.perf_counter() - t0 - (seconds["decode"] + seconds["gate"] - before)
        if rows.samples == 0:
            raise AudioError(f"{path}: contains no audio samples; expected at least one frame")
        if isinstance(rows, ClipRows) and len(rows.x) == 0:
            raise AudioError(f"{path}: too short for features; expected at least one FFT frame of audio")
        return rows

    def _pool(
        self, clips: dict[int, ClipFrames], paths: list[str], errors: list[str | None], seconds: dict[str, float]
    ) -> dict[int, ClipRows]:
        """The short files' windows pooled together; if that fails, file by file (one bad file fails alone)."""
        t0 = time.perf_counter()
        try:
            try:
                return dict(zip(clips, pool_clips(list(clips.values()), self.card.features)))
            except Exception:  # find the file that fails
                out = {}
                for i, clip in clips.items():
                    try:
                        out[i] = pool_clips([clip], self.card.features)[0]
                    except Exception as exc:  # one bad file never stops the run
                        errors[i] = f"{paths[i]}: {type(exc).__name__}: {exc}"
                return out
        finally:
            seconds["features"] += time.perf_counter() - t0

    def score(self, paths: list[str]) -> ChunkResult:
        """Score files (each its own session); a bad file becomes one error line, never an exception."""
        seconds, cpu0 = dict.fromkeys(STAGES, 0.0), time.process_time()
        rows: dict[int, ClipRows] = {}
        short: dict[int, ClipFrames] = {}
        errors: list[str | None] = [None] * len(paths)
        for i, path in enumerate(paths):
            try:
                clip = self.rows(path, seconds)
                if isinstance(clip, ClipFrames):
                    short[i] = clip
                else:
                    rows[i] = clip
            except VoxstreamError as exc:
                errors[i] = str(exc)
            except Exception as exc:  # one bad file never stops the run (a decoder or numeric surprise)
                errors[i] = f"{path}: {type(exc).__name__}: {exc}"
        if short:
            rows.update(self._pool(short, paths, errors, seconds))
            rows = dict(sorted(rows.items()))
        results: list[FileResult | None] = [None] * len(paths)
        if rows:
            t0, before = time.perf_counter(), seconds["model"]
            probs = score_clips(list(rows.values()), self._normalizer, self._timed_model(seconds))
            seconds["normalise"] += time.perf_counter() - t0 - (seconds["model"] - before)
            for (i, clip), p in zip(rows.items(), probs):
                results[i] = self._result(paths[i], clip, p)
        audio_s = sum(c.samples for c in rows.values()) / self.card.features.sample_rate
        return ChunkResult(results, errors, seconds, audio_s, time.process_time() - cpu0, os.getpid(), peak_rss_mb())

    def _timed_model(self, seconds: dict[str, float]):
        def predict(x: np.ndarray) -> np.ndarray:
            t0 = time.perf_counter()
            try:
                return self.model(x)
            finally:
                seconds["model"] += time.perf_counter() - t0

        return predict

    def _result(self, path: str, clip: ClipRows, probs: np.ndarray) -> FileResult:
        labels = self.card.labels
        best = int(np.argmax(probs))
        return FileResult(
            str(path),
            labels[best],
            float(probs[best]),
            {k: float(v) for k, v in zip(labels, probs)},
            clip.samples / self.card.features.sample_rate,
        )


_LOCAL = threading.local()
_BUILT = [0]


def scorers_built() -> int:
    """How many scorers (model loads) this process has built: one per worker thread in a healthy run."""
    return _BUILT[0]


def scorer_for(job: Job) -> ArchiveScorer:
    """The calling thread's scorer for ``job``, built once (a Dask worker may run several threads)."""
    cache = getattr(_LOCAL, "scorers", None)
    if cache is None:
        cache = _LOCAL.scorers = {}
    key = (job.model, repr(job.cfg))
    if key not in cache:
        cache[key] = ArchiveScorer(job)
        _BUILT[0] += 1
    return cache[key]


def score_chunk(paths: list[str], job: Job) -> ChunkResult:
    """Score one chunk of files with this thread's (cached) scorer: the task every worker runs."""
    return scorer_for(job).score(paths)


def chunks(paths: list[str], workers: int, most: int = 16) -> list[list[str]]:
    """Files cut into chunks: about 8 per worker (load balance, progress), at most ``most`` files each (the
    others wait for the last chunk of a busy worker: 16 short files are about 0.05 s of work)."""
    size = max(1, min(most, -(-len(paths) // max(1, 8 * workers))))
    return [paths[i : i + size] for i in range(0, len(paths), size)]


def job_for(cfg: Config) -> Job:
    """The job of a configuration: its model resolved to a path (raises :class:`ModelError` if missing)."""
    from voxstream.inference.shipped import resolve_model

    return Job(str(Path(resolve_model(cfg.model.path)).resolve()), cfg)
