"""voxstream: real-time speech-emotion classification for the edge.

The command line is ``voxstream`` (:mod:`voxstream.cli`). For embedding voxstream in your own
assistant, three functions are the public Python API (:mod:`voxstream.api`)::

    import voxstream
    result = voxstream.classify_file("hello.wav")           # one label for a whole file
    async for event in voxstream.events_from_file("hello.wav"):   # the live events, from a file
        print(event.label, event.confidence)
    async for event in voxstream.events_from_device(0):     # ... or from a microphone

Importing this package loads nothing heavy: the API's modules (numpy, LiteRT) load on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.2.0"

__all__ = ["__version__", "classify_file", "events_from_device", "events_from_file"]


def __getattr__(name: str) -> Any:
    if name in ("classify_file", "events_from_file", "events_from_device"):
        from voxstream import api

        return getattr(api, name)
    raise AttributeError(f"module 'voxstream' has no attribute {name!r}")
