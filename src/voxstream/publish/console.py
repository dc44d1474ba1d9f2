"""The console publisher: a live status line on a terminal, or JSON lines.

* ``json=True``: one ``EmotionEvent`` JSON object per hop per line, nothing
  else on stdout (logs go to stderr).
* On a terminal: one compact line rewritten in place with ``\\r`` (label,
  confidence bar, level meter, speech flag).
* Otherwise (a pipe or a service log): one plain line each time the label changes.

When the reader goes away (``voxstream run --json | head -3``) the printer
raises :class:`~voxstream.app.StopStream`: the run ends quietly and the
command exits 0, with no "Broken pipe" on stderr.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from voxstream.engine.events import EmotionEvent
from voxstream.errors import StopStream

BAR = 10
"""Characters in the confidence bar and the level meter."""


def _bar(fraction: float, width: int = BAR) -> str:
    n = max(0, min(width, int(round(fraction * width))))
    return "#" * n + "-" * (width - n)


def status_line(event: EmotionEvent) -> str:
    """``  12.50s  happy      0.82 [########--]  level [######----]  -23 dBFS  speech``."""
    level = (max(-60.0, min(0.0, event.level_dbfs)) + 60.0) / 60.0
    return (
        f"{event.stream_time_s:8.2f}s  {event.label:<10} {event.confidence:4.2f} [{_bar(event.confidence)}]"
        f"  level [{_bar(level)}] {event.level_dbfs:5.0f} dBFS  {'speech' if event.speech else '      '}"
    )


class ConsolePrinter:
    """Prints events to stdout; an async context manager like every publisher."""

    def __init__(self, json: bool = False, stream: TextIO | None = None, live: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.json = json
        self.live = (self.stream.isatty() if live is None else live) and not json
        self._last_label: str | None = None
        self._wrote_live = False

    async def __aenter__(self) -> ConsolePrinter:
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            if self._wrote_live:
                self.stream.write("\n")
            self.stream.flush()
        except BrokenPipeError:
            self._silence()

    async def publish(self, event: EmotionEvent) -> None:
        try:
            self._print(event)
        except BrokenPipeError:
            self._silence()
            raise StopStream("stdout was closed by its reader") from None
        self._last_label = event.label

    def _print(self, event: EmotionEvent) -> None:
        if self.json:
            self.stream.write(event.to_json() + "\n")
        elif self.live:
            self.stream.write("\r" + status_line(event) + "\x1b[K")
            self._wrote_live = True
        elif event.label != self._last_label:
            self.stream.write(status_line(event).rstrip() + "\n")
        else:
            return
        self.stream.flush()

    def _silence(self) -> None:
        """Point the closed stream at /dev/null, so the interpreter's last flush at exit does not fail again."""
        self._wrote_live = False
        try:
            fd = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test's StringIO)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, fd)
        finally:
            os.close(devnull)
