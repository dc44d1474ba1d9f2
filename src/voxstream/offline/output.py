"""Where ``voxstream classify`` writes: results as JSON lines, CSV or a table; resuming; a progress bar.

``--out FILE`` takes its format from ``--format`` or the extension (``.csv``;
``.jsonl``/``.json``/``.ndjson``).  ``--resume`` reads the files already in
``FILE`` (:func:`done_files`; a last line cut off by a killed run does not
count and is removed before appending) and appends the others.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from voxstream.errors import ConfigError
from voxstream.offline.archive import FileResult

if TYPE_CHECKING:
    from _csv import Writer as CsvWriter  # what csv.writer() returns (typeshed's name)

JSON_SUFFIXES = (".jsonl", ".json", ".ndjson")


def format_for(fmt: str | None, out: str | None) -> str:
    """The output format: ``--format`` if given, else from ``--out``'s extension, else ``table``."""
    if fmt:
        return fmt
    if out:
        suffix = Path(out).suffix.lower()
        if suffix == ".csv":
            return "csv"
        if suffix in JSON_SUFFIXES:
            return "json"
        raise ConfigError(
            f"--out {out}: cannot tell the format from the extension; "
            "expected .csv or .jsonl (or give --format json|csv)"
        )
    return "table"


def _complete_lines(path: Path) -> list[str]:
    """The lines of ``path`` that end with a newline (a cut-off last line is left out)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    return lines[:-1]


def done_files(path: Path, fmt: str) -> set[str]:
    """The files already classified in a previous ``--out`` file (empty if there is none)."""
    if fmt not in ("json", "csv"):
        raise ConfigError(f"--resume: needs JSON lines or CSV output, not {fmt}")
    if not path.is_file():
        return set()
    lines = _complete_lines(path)
    if fmt == "csv":
        rows = list(csv.reader(lines))
        return {row[0] for row in rows[1:] if row}
    done = set()
    for line in lines:
        try:
            done.add(json.loads(line)["file"])
        except (ValueError, KeyError, TypeError):
            continue
    return done


def _cut_partial_tail(path: Path) -> None:
    """Remove a last line without its newline (a run killed mid-write) so appending starts on a fresh line."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


class ResultWriter:
    """Writes :class:`FileResult` rows to stdout or ``--out`` in one format; a context manager."""

    def __init__(self, fmt: str, labels: tuple[str, ...], out: str | None = None, append: bool = False) -> None:
        self.fmt, self.labels = fmt, tuple(labels)
        self._path, self._append = (Path(out) if out else None), append
        self.out: TextIO = sys.stdout
        self._csv: CsvWriter | None = None

    def __enter__(self) -> ResultWriter:
        fresh = True
        if self._path is not None:
            if self._append and self._path.is_file():
                _cut_partial_tail(self._path)
                fresh = self._path.stat().st_size == 0
            self.out = open(self._path, "a" if self._append else "w", encoding="utf-8", newline="")
        if self.fmt == "csv":
            self._csv = csv.writer(self.out, lineterminator="\n")
            if fresh:
                self._csv.writerow(["file", "label", "confidence", *self.labels])
        elif self.fmt == "table" and fresh:
            self.out.write(f"{'label':<10} {'conf':>5}  {'file'}\n")
        return self

    def __exit__(self, *exc) -> None:
        self.out.flush()
        if self._path is not None:
            self.out.close()

    def write(self, r: FileResult) -> None:
        if self.fmt == "json":
            self.out.write(json.dumps(r.to_dict(), separators=(",", ":")) + "\n")
        elif self._csv:
            self._csv.writerow([r.file, r.label, f"{r.confidence:.4f}", *(f"{r.scores[k]:.4f}" for k in self.labels)])
        else:
            self.out.write(f"{r.label:<10} {r.confidence:5.2f}  {r.file}\n")

    def flush(self) -> None:
        self.out.flush()


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal (at most 10 times a second)."""

    WIDTH = 24

    def __init__(self, total: int, stream: TextIO, live: bool | None = None) -> None:
        self.total, self.stream = total, stream
        self.live = stream.isatty() if live is None else live
        self.done, self.audio_s, self._t0, self._drawn = 0, 0.0, time.perf_counter(), 0.0

    def advance(self, files: int, audio_s: float) -> None:
        self.done += files
        self.audio_s += audio_s
        now = time.perf_counter()
        if self.live and (now - self._drawn >= 0.1 or self.done >= self.total):
            self._drawn = now
            self.stream.write("\r" + self.line(now - self._t0))
            self.stream.flush()

    def line(self, elapsed: float) -> str:
        frac = self.done / self.total if self.total else 1.0
        n = int(round(frac * self.WIDTH))
        speed = self.audio_s / elapsed if elapsed > 0 else 0.0
        return (
            f"[{'#' * n}{'-' * (self.WIDTH - n)}] {self.done}/{self.total} files, "
            f"{self.audio_s / 60:.1f} min of audio, {speed:.0f}x real time"
        )

    def clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\r\033[K")

    def close(self) -> None:
        if self.live and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
